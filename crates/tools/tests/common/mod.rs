//! Shared pieces of the network guard's tests: a tiny HTTP server on a loopback address that
//! counts the connections it accepts and answers every request with a set reply (a page or a
//! redirect), a guarded client that resolves through the DNS double, and the guard's error
//! found inside a request error.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forage_testkit::dns::DnsDouble;
use forage_tools::{GuardError, NetworkPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the server answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this body.
    Page(String),
    /// 302 to this location.
    Redirect(String),
}

/// An HTTP/1.1 server that closes each connection after one reply, so every request of a
/// client opens (and resolves) anew.
pub struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Listens on `ip:port` (`port` 0 for any).
    pub async fn start(ip: &str, port: u16, reply: Reply) -> Server {
        let ip: IpAddr = ip.parse().unwrap();
        let listener = TcpListener::bind((ip, port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(reply));
        let task = tokio::spawn({
            let connections = connections.clone();
            let reply = reply.clone();
            async move {
                loop {
                    let Ok((mut stream, _)) = listener.accept().await else {
                        continue;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let reply = reply.lock().unwrap().clone();
                    tokio::spawn(async move {
                        let mut request = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        let head = match &reply {
                            Reply::Page(body) => format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            ),
                            Reply::Redirect(location) => format!(
                                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            ),
                        };
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    });
                }
            }
        });
        Server {
            addr,
            connections,
            reply,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far (each carries one request).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn set_reply(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client guarded by `policy` that resolves names through `dns`.
pub fn client(policy: &NetworkPolicy, dns: &DnsDouble) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10));
    policy
        .apply_with_name_servers(builder, &[dns.addr()])
        .build()
        .unwrap()
}

/// The guard's refusal inside a request error, if that is why it failed.
pub fn guard_error(err: &reqwest::Error) -> Option<GuardError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(guard) = e.downcast_ref::<GuardError>() {
            return Some(guard.clone());
        }
        source = e.source();
    }
    None
}

/// The (host, address, kind) of a refusal, looking through a refused redirect.
pub fn refusal(err: &reqwest::Error) -> (String, IpAddr, &'static str) {
    match guard_error(err) {
        Some(GuardError::Refused { host, addr, kind }) => (host, addr, kind),
        Some(GuardError::Redirect { reason, .. }) => match *reason {
            GuardError::Refused { host, addr, kind } => (host, addr, kind),
            other => panic!("not a refusal: {other:?}"),
        },
        other => panic!("not a guard refusal: {other:?} in {err:?}"),
    }
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}
