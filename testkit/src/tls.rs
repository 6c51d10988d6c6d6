//! Serves a test double over HTTPS, as hosted APIs are served: a fresh certificate authority
//! and a `localhost` certificate signed by it, HTTP/2 and HTTP/1.1 offered by ALPN, and a limit on
//! concurrent HTTP/2 streams per connection, as servers set. Clients trust the authority by its
//! PEM (for forage: `SSL_CERT_FILE`).

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Concurrent HTTP/2 streams one client connection may open, unless told otherwise: as many as
/// a benchmark opens.
pub const MANY_STREAMS: u32 = 100_000;

/// A server identity: the authority's certificate (PEM) and the server's TLS configuration.
pub struct TlsIdentity {
    /// The certificate authority, in PEM: what a client must trust.
    pub ca_pem: String,
    config: Arc<ServerConfig>,
}

impl TlsIdentity {
    /// A new authority and a certificate for `localhost` and `127.0.0.1` signed by it.
    pub fn localhost() -> anyhow::Result<TlsIdentity> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?
            .signed_by(&key, &ca)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let chain = vec![
            CertificateDer::from(cert.der().to_vec()),
            CertificateDer::from(ca.as_ref().der().to_vec()),
        ];
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .context("TLS protocol versions")?
                .with_no_client_auth()
                .with_single_cert(chain, key_der)
                .context("the server certificate")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            ca_pem: ca.as_ref().pem(),
            config: Arc::new(config),
        })
    }
}

/// Serves `router` over TLS on `listener` until the task is dropped or the listener fails,
/// allowing `max_streams` concurrent HTTP/2 streams per connection. A connection whose handshake
/// fails is dropped; the others go on.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    identity: &TlsIdentity,
    max_streams: u32,
) {
    let acceptor = TlsAcceptor::from(identity.config.clone());
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(error) => {
                tracing::error!(%error, "TLS test server stopped accepting");
                return;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(max_streams);
            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
        });
    }
}
