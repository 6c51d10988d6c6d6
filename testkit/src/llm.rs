//! Scripted LLM server (test double) speaking the OpenAI chat-completions and the Anthropic
//! Messages APIs.
//!
//! `POST /v1/chat/completions` (also `/chat/completions`) answers from the request alone,
//! steered by `[[fake:...]]` directives written in the messages (see [`directives`]), plus a
//! per-conversation request counter for `fail=STATUS times=N`. Streams OpenAI SSE chunks
//! when asked (`stream: true`). `POST /v1/messages` is the same script in Anthropic's format
//! (see [`anthropic`]; it wants `x-api-key`, `anthropic-version` and `max_tokens`, as
//! Anthropic does). `GET /v1/models` lists one model; `GET /_requests` returns every request
//! body received. Used in-process ([`FakeLlm::start`]) and by the `forage-fake-llm` binary.

pub mod anthropic;
pub mod conversation;
pub mod directives;
pub mod render;
pub mod schema;
pub mod script;

#[cfg(test)]
mod http_tests;

use axum::serve::ListenerExt;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use anthropic::AnthropicReply;
use conversation::Conversation;
use render::{Reply, Tokens, error_body};
use script::Plan;

/// Most requests remembered for [`FakeLlm::requests`] and `/_requests` (oldest dropped).
pub const MAX_RECORDED: usize = 10_000;
/// Most conversations whose request counts are remembered (all forgotten past it).
const MAX_CONVERSATIONS: usize = 100_000;
/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A running fake LLM server on an ephemeral loopback port; stops when dropped.
pub struct FakeLlm {
    /// `http://127.0.0.1:PORT/v1`, ready for an OpenAI client's base URL (and for forage's
    /// Anthropic provider, which then posts to `/v1/messages`).
    pub base_url: String,
    state: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeLlm {
    /// Starts the server on `127.0.0.1:0` in a background tokio task.
    pub async fn start() -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake LLM server on 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Shared::default());
        let task = tokio::spawn(serve_shared(listener, state.clone()));
        FakeLlm {
            base_url: format!("http://{addr}/v1"),
            state,
            task,
        }
    }

    /// Starts the server over HTTPS on `127.0.0.1:0` (HTTP/2 or HTTP/1.1 by ALPN, as hosted
    /// APIs answer), with a certificate for `localhost` from a new authority. Returns the
    /// server, whose base URL is `https://localhost:PORT/v1`, and the authority's PEM, which
    /// the client must trust.
    pub async fn start_https() -> anyhow::Result<(FakeLlm, String)> {
        FakeLlm::start_https_with_stream_limit(crate::tls::MANY_STREAMS).await
    }

    /// [`FakeLlm::start_https`], allowing `max_streams` concurrent requests per HTTP/2
    /// connection (hosted APIs allow 100 or a few hundred).
    pub async fn start_https_with_stream_limit(
        max_streams: u32,
    ) -> anyhow::Result<(FakeLlm, String)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let identity = crate::tls::TlsIdentity::localhost()?;
        let ca_pem = identity.ca_pem.clone();
        let state = Arc::new(Shared::default());
        let router = router(state.clone());
        let task = tokio::spawn(async move {
            crate::tls::serve(listener, router, &identity, max_streams).await
        });
        let llm = FakeLlm {
            base_url: format!("https://localhost:{}/v1", addr.port()),
            state,
            task,
        };
        Ok((llm, ca_pem))
    }

    /// Every chat request body received, in order (the last [`MAX_RECORDED`]).
    pub fn requests(&self) -> Vec<Value> {
        self.state.bodies()
    }

    /// The most requests a scripted stall (`[[fake:stall_ms=…]]`) held at once: how many calls
    /// a client had in flight together.
    pub fn most_stalled_at_once(&self) -> u64 {
        self.state.stalls.most.load(Ordering::SeqCst)
    }

    /// The HTTP version of every chat request, in order (`HTTP/1.1`, `HTTP/2.0`).
    pub fn request_versions(&self) -> Vec<String> {
        self.state.recorded(|r| r.version.clone())
    }

    /// The headers of every chat request, in order, names lower-case.
    pub fn request_headers(&self) -> Vec<Vec<(String, String)>> {
        self.state.recorded(|r| r.headers.clone())
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// TCP_NODELAY on each connection, so streamed chunks are not held back by Nagle's algorithm.
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// Serves the fake on `listener` until the task is dropped or the listener fails.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    axum::serve(
        listener.tap_io(no_delay),
        router(Arc::new(Shared::default())),
    )
    .await
}

async fn serve_shared(listener: TcpListener, state: Arc<Shared>) {
    if let Err(error) = axum::serve(listener.tap_io(no_delay), router(state)).await {
        tracing::error!(%error, "fake LLM server stopped");
    }
}

fn router(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/_requests", get(requests))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

struct Recorded {
    /// The body as received; read as JSON (or, when it is not, as a string) on request.
    body: Bytes,
    headers: Vec<(String, String)>,
    /// The HTTP version the request came over (`HTTP/1.1`, `HTTP/2.0`).
    version: String,
}

#[derive(Default)]
struct Shared {
    recorded: Mutex<VecDeque<Recorded>>,
    /// Requests seen per conversation (hash of the first user message).
    conversations: Mutex<HashMap<u64, u32>>,
    next_id: AtomicU64,
    stalls: Arc<Stalls>,
}

/// Requests held by a scripted stall: how many now, and the most at once.
#[derive(Default)]
struct Stalls {
    now: AtomicU64,
    most: AtomicU64,
}

impl Stalls {
    async fn wait(&self, stall: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(stall).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn record(&self, body: Bytes, headers: &HeaderMap, version: Version) {
        let headers = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut recorded = self.recorded.lock().expect("recorder lock");
        if recorded.len() >= MAX_RECORDED {
            recorded.pop_front();
        }
        recorded.push_back(Recorded {
            body,
            headers,
            version: format!("{version:?}"),
        });
    }

    /// Every recorded body as JSON (a body that is not JSON as a string), read outside the
    /// lock.
    fn bodies(&self) -> Vec<Value> {
        self.recorded(|r| r.body.clone())
            .iter()
            .map(|body| {
                serde_json::from_slice(body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
            })
            .collect()
    }

    fn recorded<T>(&self, f: impl Fn(&Recorded) -> T) -> Vec<T> {
        self.recorded
            .lock()
            .expect("recorder lock")
            .iter()
            .map(f)
            .collect()
    }

    /// How many requests this conversation sent before this one (and counts this one).
    fn count_request(&self, conversation: &str) -> u32 {
        let mut hasher = DefaultHasher::new();
        conversation.hash(&mut hasher);
        let key = hasher.finish();
        let mut map = self.conversations.lock().expect("counter lock");
        if map.len() >= MAX_CONVERSATIONS && !map.contains_key(&key) {
            map.clear();
        }
        let count = map.entry(key).or_insert(0);
        let prior = *count;
        *count = count.saturating_add(1);
        prior
    }
}

async fn models() -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{ "id": "fake-model", "object": "model", "created": 0, "owned_by": "forage-testkit" }],
    }))
    .into_response()
}

async fn requests(State(state): State<Arc<Shared>>) -> Response {
    axum::Json(Value::Array(state.bodies())).into_response()
}

/// Which API a request came in through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    OpenAi,
    Anthropic,
}

async fn chat(
    State(state): State<Arc<Shared>>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&state, &headers, version, &body, Dialect::OpenAi).await
}

async fn messages(
    State(state): State<Arc<Shared>>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&state, &headers, version, &body, Dialect::Anthropic).await
}

/// What Anthropic refuses before looking at the conversation.
fn anthropic_precheck(headers: &HeaderMap, body: &Value) -> Option<(u16, &'static str)> {
    if headers.get("x-api-key").is_none_or(|v| v.is_empty()) {
        return Some((401, "x-api-key header is required"));
    }
    if headers.get("anthropic-version").is_none() {
        return Some((400, "anthropic-version: header is required"));
    }
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return Some((400, "max_tokens: Field required"));
    }
    None
}

async fn respond(
    state: &Shared,
    headers: &HeaderMap,
    version: Version,
    body: &Bytes,
    dialect: Dialect,
) -> Response {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            state.record(body.clone(), headers, version);
            return error(dialect, 400, &format!("the request body is not JSON: {e}"));
        }
    };
    state.record(body.clone(), headers, version);
    let openai_body;
    let conversation = match dialect {
        Dialect::OpenAi => Conversation::from_body(&value),
        Dialect::Anthropic => {
            if let Some((status, message)) = anthropic_precheck(headers, &value) {
                return error(dialect, status, message);
            }
            openai_body = anthropic::to_openai_body(&value);
            Conversation::from_body(&openai_body)
        }
    };
    if conversation.messages.is_empty() {
        return error(dialect, 400, "'messages' must be a non-empty array");
    }
    let prior = state.count_request(conversation.first_user_text());
    let script = script::decide(&conversation, prior);
    let (content, calls) = match script.plan {
        Plan::Fail {
            status,
            attempt,
            times,
        } => {
            if let Some(stall) = script.stall {
                state.stalls.wait(stall).await;
            }
            let message = format!("scripted failure {attempt} of {times} (fake:fail={status})");
            return error(dialect, status, &message);
        }
        Plan::Reply {
            content,
            tool_calls,
        } => (content, tool_calls),
    };
    let serial = state.next_id.fetch_add(1, Ordering::Relaxed);
    let tokens = Tokens::estimate(body.len(), content.as_deref(), &calls);
    if dialect == Dialect::Anthropic {
        let id = format!("msg_fake_{serial}");
        let reply = AnthropicReply {
            id: &id,
            model: conversation.model,
            content: content.as_deref(),
            calls: &calls,
            tokens,
        };
        return if conversation.stream {
            stream(reply.stream_events(), script.stall, state.stalls.clone())
        } else {
            if let Some(stall) = script.stall {
                state.stalls.wait(stall).await;
            }
            axum::Json(reply.message()).into_response()
        };
    }
    let id = format!("chatcmpl-fake-{serial}");
    let reply = Reply {
        id: &id,
        created: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: conversation.model,
        content: content.as_deref(),
        calls: &calls,
        tokens,
    };
    if conversation.stream {
        stream(
            reply.stream_events(conversation.include_usage),
            script.stall,
            state.stalls.clone(),
        )
    } else {
        if let Some(stall) = script.stall {
            state.stalls.wait(stall).await;
        }
        axum::Json(reply.completion()).into_response()
    }
}

/// An SSE response: the first event at once (role chunk, `message_start`), then (after
/// `stall`) the rest.
fn stream(events: Vec<String>, stall: Option<Duration>, stalls: Arc<Stalls>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(8);
    tokio::spawn(async move {
        for (i, event) in events.into_iter().enumerate() {
            if i == 1
                && let Some(stall) = stall
            {
                stalls.wait(stall).await;
            }
            if tx.send(Ok(Bytes::from(event))).await.is_err() {
                return; // the client went away
            }
        }
    });
    let mut response = Body::from_stream(ReceiverStream::new(rx)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn error(dialect: Dialect, status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match dialect {
        Dialect::OpenAi => error_body(status, message),
        Dialect::Anthropic => anthropic::error_body(status, message),
    };
    let mut response = (code, axum::Json(body)).into_response();
    let asks_to_wait = match dialect {
        Dialect::OpenAi => status == 429,
        Dialect::Anthropic => matches!(status, 429 | 529),
    };
    if asks_to_wait {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
    }
    response
}
