//! Putting the server together: store, engine, workers, HTTP listener; and stopping it gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use forage_engine::{Engine, ProcessorTable, ToolEnv};
use forage_store::{PostgresStore, SecretCipher, SqliteStore, Store, StoreError};
use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::config::{Config, ConfigError};
use crate::llm_setup::build_processors;
use crate::routes::router;
use crate::secret_key::load_cipher;
use crate::state::AppState;
use crate::webhooks::{Dispatcher, RetryPolicy, SigningKeys};
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
    dispatcher: Dispatcher,
    /// Held while serving from a SQLite data directory: one `forage serve` per directory.
    data_lock: Option<std::fs::File>,
}

impl Server {
    /// Opens the store (PostgreSQL when `database_url` is set, else SQLite under `config.data`),
    /// builds the engine from the LLM settings, binds the listener.
    pub async fn start(config: &Config) -> Result<Server, ServerError> {
        check_listen(config)?;
        let processors = build_processors(config)?;
        let (store, cipher) = open_store(config).await?;
        let data_lock = if config.database_url.is_none() {
            let lock = lock_data_dir(config)?;
            // This process alone works on the data directory, so leases still held there were
            // held by a process that is gone: its runs resume now, not when the leases expire.
            let freed = store.expire_leases().await?;
            if freed > 0 {
                tracing::info!(
                    runs = freed,
                    "resuming runs left running by the previous process"
                );
            }
            Some(lock)
        } else {
            None
        };
        let signing = Arc::new(SigningKeys::new(cipher));
        let mut server = Self::with_parts(config, store, processors).await?;
        server.set_signing_keys(signing, config)?;
        server.data_lock = data_lock;
        Ok(server)
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
        let web = crate::web_setup::build_web(config, &network)?;
        let engine = Engine::new(
            processors,
            ToolEnv {
                mcp_http,
                network,
                mcp_timeouts: config.mcp.to_timeouts(),
                mcp_server_timeouts: config.mcp.server_timeouts(),
                web,
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
        let state = AppState::new(store, auth, config.request_limits())
            .with_admission(config.limits.to_admission_limits());
        let dispatcher = dispatcher(config, &state)?;
        Ok(Server {
            dispatcher,
            listener,
            state,
            engine: Arc::new(engine),
            workers: WorkerSettings {
                workers: config.workers,
                lease: config.lease(),
                node,
            },
            grace: config.shutdown_grace(),
            data_lock: None,
        })
    }

    /// Signs webhooks (and answers `GET /v1/forage/webhook-secret`) with `keys`.
    pub fn set_signing_keys(
        &mut self,
        keys: Arc<SigningKeys>,
        config: &Config,
    ) -> Result<(), ServerError> {
        self.state.signing = keys;
        self.dispatcher = dispatcher(config, &self.state)?;
        Ok(())
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
            dispatcher,
            data_lock: _data_lock,
        } = self;
        let pool = WorkerPool::start(
            state.store.clone(),
            engine,
            state.signals.clone(),
            state.idle_workers.clone(),
            &workers,
        );
        let stop_dispatch = tokio_util::sync::CancellationToken::new();
        let dispatch = dispatcher.spawn(stop_dispatch.clone());
        let closing = state.closing.clone();
        let stop_accepting = tokio_util::sync::CancellationToken::new();
        let app = router(state);
        let stop = stop_accepting.clone();
        let mut http = tokio::spawn(async move {
            // TCP_NODELAY: small writes (SSE frames, short JSON) leave at once, not after a delayed ACK.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app.into_make_service())
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        tokio::select! {
            () = shutdown => {}
            finished = &mut http => {
                // The listener failed on its own: stop the workers too.
                stop_dispatch.cancel();
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
        stop_dispatch.cancel();
        let _ = dispatch.await;
        closing.cancel();
        if tokio::time::timeout(HTTP_DRAIN, &mut http).await.is_err() {
            tracing::warn!("HTTP connections still open after shutdown; closing them");
            http.abort();
        }
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// The webhook dispatcher over the state's store and signing keys.
fn dispatcher(config: &Config, state: &AppState) -> Result<Dispatcher, ServerError> {
    let w = &config.webhooks;
    Dispatcher::new(
        state.store.clone(),
        state.signing.clone(),
        config.network.to_policy()?,
        RetryPolicy {
            initial: Duration::from_secs(w.initial_retry_secs),
            max: Duration::from_secs(w.max_retry_secs),
            max_age: Duration::from_secs(w.max_age_secs),
        },
        Duration::from_secs(w.timeout_secs),
    )
    .map_err(|e| ServerError::Http(e.to_string()))
}

/// Opens the configured store, bringing its schema up to date, and returns it with the secret
/// key: PostgreSQL when `database_url` is set (every node on it must share the key), else
/// SQLite under `data`.
pub async fn open_store(config: &Config) -> Result<(Arc<dyn Store>, SecretCipher), ServerError> {
    if let Some(url) = &config.database_url {
        let cipher = shared_cipher(config)?;
        let store = PostgresStore::connect(url.expose(), cipher.clone()).await?;
        return Ok((Arc::new(store), cipher));
    }
    std::fs::create_dir_all(&config.data).map_err(|source| ServerError::Io {
        context: format!("cannot create the data directory {}", config.data.display()),
        source,
    })?;
    let cipher = load_cipher(config)?;
    let (path, key) = (config.database_path(), cipher.clone());
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path, key))
        .await
        .map_err(|e| ServerError::Io {
            context: "cannot open the SQLite store".into(),
            source: std::io::Error::other(e.to_string()),
        })??;
    Ok((Arc::new(store), cipher))
}

/// Takes the data directory's lock (`serve.lock`), or says which directory is in use.
fn lock_data_dir(config: &Config) -> Result<std::fs::File, ServerError> {
    let path = config.data.join("serve.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServerError::Io {
            context: format!("cannot open the lock file {}", path.display()),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::Io {
            context: format!(
                "another `forage serve` is using the data directory {}",
                config.data.display()
            ),
            source: std::io::Error::other(
                "stop it first, or give this server its own --data directory (several nodes share work through PostgreSQL: set FORAGE_DATABASE_URL)",
            ),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ServerError::Io {
            context: format!("cannot lock {}", path.display()),
            source,
        }),
    }
}

/// The secret key of a node on a shared database: it must be given (not generated per node),
/// because a run created on one node is executed by another, which must open its secrets.
pub fn shared_cipher(config: &Config) -> Result<SecretCipher, ConfigError> {
    if config.secret_key.is_none() && config.secret_key_file.is_none() {
        return Err(ConfigError::invalid(
            "secret_key",
            "with database_url (FORAGE_DATABASE_URL) set, every forage node on that database must \
             use the same secret key: set FORAGE_SECRET_KEY to the same base64 key on each node \
             (generate one with `head -c 32 /dev/urandom | base64`), or point secret_key_file at \
             a key file every node shares",
        ));
    }
    load_cipher(config)
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
