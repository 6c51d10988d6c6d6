//! MCP fixture servers written with rmcp, for tests and benchmarks: a well-behaved tool
//! server plus fault modes (auth, pagination, session expiry, malformed replies, endless
//! streams, dropped connections), each on its own path of one loopback port.
//!
//! | path | behaviour |
//! |---|---|
//! | `/mcp` | all tools, one page |
//! | `/paged/mcp` | same tools, `tools/list` pages of 2 |
//! | `/auth/mcp` | requires `Authorization: Bearer <token>` (401 otherwise) |
//! | `/expire/mcp` | answers 404 to a session id after [`EXPIRE_AFTER`] requests with it |
//! | `/malformed-init/mcp` | `initialize` answered with a body that is not JSON |
//! | `/malformed/mcp` | `tools/call` `not_json` / `wrong_shape` answered with garbage |
//! | `/endless/mcp` | `tools/call` answered by an SSE stream of keep-alive comments, forever |
//! | `/drop/mcp` | `tools/call` answered by an SSE stream whose connection drops |
//! | `/flood/mcp` | `tools/call` answered by progress notifications as fast as possible, forever |
//! | `/longline/mcp` | `tools/call` answered by one SSE line that never ends |
//! | `/crowded/mcp` | `tools/list` offers [`CROWDED_TOOLS`] tools, one with a 100 KB schema |
//! | `/lean/mcp` | all tools, stateless, each reply a plain JSON body, nothing recorded: the server's own cost kept small for benchmarks |

mod faults;
mod observe;
mod tools;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::Router;
use axum::serve::ListenerExt;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio_util::sync::CancellationToken;

pub use faults::CROWDED_TOOLS;
pub use tools::{HOSTILE_OUTPUT, TOOL_NAMES};

/// Requests one session id may make on `/expire/mcp` before it is answered 404.
pub const EXPIRE_AFTER: usize = 4;
/// The bearer token `/auth/mcp` accepts.
pub const FIXTURE_TOKEN: &str = "fixture-token";

/// What the fixture saw; shared by every path.
#[derive(Default)]
pub struct FixtureState {
    calls: Mutex<HashMap<String, usize>>,
    /// When each `counter(key)` call arrived, per key.
    counters: Mutex<HashMap<String, Vec<std::time::SystemTime>>>,
    cancellations: AtomicUsize,
    slow_cancelled: AtomicUsize,
    initializations: AtomicUsize,
    expired_answers: AtomicUsize,
    last_headers: Mutex<Vec<(String, String)>>,
    session_requests: Mutex<HashMap<String, usize>>,
    /// Bytes the flooding fault modes have sent.
    streamed_bytes: std::sync::atomic::AtomicU64,
}

impl FixtureState {
    fn add_streamed(&self, bytes: usize) {
        self.streamed_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn note_call(&self, tool: &str) {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(tool.to_string())
            .or_default() += 1;
    }
}

/// A running fixture; stops when dropped.
pub struct FixtureHandle {
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub addr: SocketAddr,
    state: Arc<FixtureState>,
    shutdown: CancellationToken,
}

impl FixtureHandle {
    /// The URL of a fault mode, e.g. `url_for("paged")` → `http://127.0.0.1:PORT/paged/mcp`.
    pub fn url_for(&self, mode: &str) -> String {
        format!("{}/{mode}/mcp", self.base)
    }

    /// `tools/call` requests received for `tool`, on every path.
    pub fn calls(&self, tool: &str) -> usize {
        self.state
            .calls
            .lock()
            .unwrap()
            .get(tool)
            .copied()
            .unwrap_or(0)
    }

    /// `tools/call` requests received, all tools together.
    pub fn total_calls(&self) -> usize {
        self.state.calls.lock().unwrap().values().sum()
    }

    /// Bytes sent by `/flood/mcp` and `/longline/mcp` so far.
    pub fn streamed_bytes(&self) -> u64 {
        self.state.streamed_bytes.load(Ordering::Relaxed)
    }

    /// `notifications/cancelled` messages received.
    pub fn cancellations(&self) -> usize {
        self.state.cancellations.load(Ordering::SeqCst)
    }

    /// `slow` calls that noticed their cancellation before finishing.
    pub fn slow_cancelled(&self) -> usize {
        self.state.slow_cancelled.load(Ordering::SeqCst)
    }

    /// `initialize` requests received.
    pub fn initializations(&self) -> usize {
        self.state.initializations.load(Ordering::SeqCst)
    }

    /// 404s given for expired sessions on `/expire/mcp`.
    pub fn expired_answers(&self) -> usize {
        self.state.expired_answers.load(Ordering::SeqCst)
    }

    /// The headers (lower-case names) of the last HTTP request, on any path.
    pub fn last_headers(&self) -> Vec<(String, String)> {
        self.state.last_headers.lock().unwrap().clone()
    }

    /// The last value of a header, if the last request carried it.
    pub fn last_header(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        self.last_headers()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// How often `counter(key)` was called with `key`.
    pub fn counter(&self, key: &str) -> usize {
        self.counter_calls(key).len()
    }

    /// When each `counter(key)` call with `key` arrived, oldest first.
    pub fn counter_calls(&self, key: &str) -> Vec<std::time::SystemTime> {
        self.state
            .counters
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    /// Stops the server (also done on drop).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for FixtureHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the fixture on `127.0.0.1:0`.
pub async fn start_fixture() -> FixtureHandle {
    start_fixture_on(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the MCP fixture on loopback")
}

/// Starts the fixture on `addr`.
pub async fn start_fixture_on(addr: SocketAddr) -> std::io::Result<FixtureHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(FixtureState::default());
    let shutdown = CancellationToken::new();
    let app = router(state.clone(), shutdown.clone());
    let stop = shutdown.clone();
    // TCP_NODELAY, as any production server sets it: no Nagle delay on small SSE writes.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "MCP fixture stopped");
        }
    });
    let base = format!("http://{addr}");
    Ok(FixtureHandle {
        url: format!("{base}/mcp"),
        base,
        addr,
        state,
        shutdown,
    })
}

fn router(state: Arc<FixtureState>, shutdown: CancellationToken) -> Router {
    let rmcp_service = |page_size: Option<usize>| {
        let st = state.clone();
        let config = StreamableHttpServerConfig::default()
            .with_cancellation_token(shutdown.child_token())
            .with_sse_keep_alive(None);
        StreamableHttpService::new(
            move || Ok(tools::FixtureServer::new(st.clone(), page_size)),
            Arc::new(LocalSessionManager::default()),
            config,
        )
    };
    let plain = Router::new()
        .nest_service("/mcp", rmcp_service(None))
        .nest_service("/paged/mcp", rmcp_service(Some(2)));
    let auth = Router::new()
        .nest_service("/auth/mcp", rmcp_service(None))
        .layer(axum::middleware::from_fn(observe::require_bearer));
    let expire = Router::new()
        .nest_service("/expire/mcp", rmcp_service(None))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::expire_sessions,
        ));
    // Outside the recording layer: it reads and parses every body, which a benchmark would
    // count as the client's time.
    let lean = Router::new().nest_service("/lean/mcp", {
        let st = state.clone();
        let config = StreamableHttpServerConfig::default()
            .with_cancellation_token(shutdown.child_token())
            .with_sse_keep_alive(None)
            .with_legacy_session_mode(false)
            .with_json_response(true);
        StreamableHttpService::new(
            move || Ok(tools::FixtureServer::new(st.clone(), None)),
            Arc::new(LocalSessionManager::default()),
            config,
        )
    });
    Router::new()
        .merge(plain)
        .merge(auth)
        .merge(expire)
        .merge(faults::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state, observe::record))
        .merge(lean)
}
