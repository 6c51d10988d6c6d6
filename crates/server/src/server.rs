//! Putting the server together: store, engine, workers, HTTP listener; and stopping it gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use forage_engine::{Engine, ProcessorTable, ToolEnv};
use forage_store::{SqliteStore, Store, StoreError};
use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::config::{Config, ConfigError};
use crate::llm_setup::build_processors;
use crate::routes::router;
use crate::secret_key::load_cipher;
use crate::state::AppState;
use crate::worker::{WorkerPool, WorkerSettings};

/// Time open HTTP connections get to end once runs are drained.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// The server could not start or failed while serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the run store: {0}")]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client for MCP servers: {0}")]
    Http(String),
}

/// A bound, not yet serving, server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    engine: Arc<Engine>,
    workers: WorkerSettings,
    grace: Duration,
}

impl Server {
    /// Opens the SQLite store under `config.data`, builds the engine from the LLM settings,
    /// binds the listener.
    pub async fn start(config: &Config) -> Result<Server, ServerError> {
        check_listen(config)?;
        if config.database_url.is_some() {
            return Err(ConfigError::invalid(
                "database_url",
                "PostgreSQL is not available in this version of forage; unset it to use SQLite under the data directory",
            )
            .into());
        }
        let processors = build_processors(config)?;
        std::fs::create_dir_all(&config.data).map_err(|source| ServerError::Io {
            context: format!("cannot create the data directory {}", config.data.display()),
            source,
        })?;
        let cipher = load_cipher(config)?;
        let store = SqliteStore::open(&config.database_path(), cipher)?;
        Self::with_parts(config, Arc::new(store), processors).await
    }

    /// A server over a given store and processor table (tests, embedding).
    pub async fn with_parts(
        config: &Config,
        store: Arc<dyn Store>,
        processors: ProcessorTable,
    ) -> Result<Server, ServerError> {
        check_listen(config)?;
        let network = config.network.to_policy()?;
        let mcp_http = network
            .apply(reqwest::Client::builder())
            .connect_timeout(Duration::from_secs(config.mcp.connect_timeout_secs.max(1)))
            .build()
            .map_err(|e| ServerError::Http(e.to_string()))?;
        let engine = Engine::new(
            processors,
            ToolEnv {
                mcp_http,
                network,
                mcp_timeouts: config.mcp.to_timeouts(),
                mcp_server_timeouts: config.mcp.server_timeouts(),
            },
        );
        let auth = Auth::new(&config.api_keys);
        if auth.is_off() {
            tracing::warn!(
                "authentication is off: no API keys are configured (set FORAGE_API_KEYS); serving on loopback only"
            );
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Io {
                    context: format!("cannot listen on {}", config.listen),
                    source,
                })?;
        let node = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Ok(Server {
            listener,
            state: AppState::new(store, auth, config.request_limits()),
            engine: Arc::new(engine),
            workers: WorkerSettings {
                workers: config.workers,
                lease: config.lease(),
                node,
            },
            grace: config.shutdown_grace(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting connections, gives runs in
    /// flight the grace period, cancels and re-queues the rest, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Server {
            listener,
            state,
            engine,
            workers,
            grace,
        } = self;
        let pool = WorkerPool::start(state.store.clone(), engine, &workers);
        let closing = state.closing.clone();
        let stop_accepting = tokio_util::sync::CancellationToken::new();
        let app = router(state);
        let stop = stop_accepting.clone();
        let mut http = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        tokio::select! {
            () = shutdown => {}
            finished = &mut http => {
                // The listener failed on its own: stop the workers too.
                pool.shutdown(grace).await;
                return match finished {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(source)) => Err(ServerError::Io { context: "the HTTP server failed".into(), source }),
                    Err(join) => Err(ServerError::Io { context: "the HTTP server stopped".into(), source: std::io::Error::other(join.to_string()) }),
                };
            }
        }
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: no new connections, draining runs"
        );
        stop_accepting.cancel();
        pool.shutdown(grace).await;
        closing.cancel();
        if tokio::time::timeout(HTTP_DRAIN, &mut http).await.is_err() {
            tracing::warn!("HTTP connections still open after shutdown; closing them");
            http.abort();
        }
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// Without API keys the server only listens on loopback.
fn check_listen(config: &Config) -> Result<(), ConfigError> {
    let keys = config.api_keys.iter().any(|k| !k.is_empty());
    if !keys && !config.listen.ip().is_loopback() {
        return Err(ConfigError::invalid(
            "listen",
            format!(
                "{} is not a loopback address and no API keys are configured: set FORAGE_API_KEYS (or api_keys in the config file) to serve on other addresses",
                config.listen
            ),
        ));
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
