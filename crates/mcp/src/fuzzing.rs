//! Entry points for the fuzz targets in `fuzz/`: they reach the code that reads what MCP
//! servers send (SSE streams, JSON-RPC messages, `tools/call` results) without any I/O.
//! Not part of forage's API; nothing else should call them.

use std::sync::{Arc, OnceLock};

use rmcp::model::{CallToolResult, ServerJsonRpcMessage};

use crate::{
    ToolOutput,
    direct_call::{DirectCall, Step},
    route::Route,
    sse,
};

/// What an SSE parser made of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseOutcome {
    /// The events dispatched, as `(event, data, id)`.
    pub events: Vec<(String, String, Option<String>)>,
    /// A chunk was refused as too large (the parser was not fed after it).
    pub refused: bool,
    pub last_id: Option<String>,
    pub retry_ms: Option<u64>,
}

/// Feeds `chunks` in order to a parser bounded at `max_event` bytes, taking the events out
/// after each chunk, and stops at the first chunk it refuses.
pub fn sse_events<'a>(max_event: usize, chunks: impl IntoIterator<Item = &'a [u8]>) -> SseOutcome {
    let mut parser = sse::Parser::new(max_event);
    let mut events = Vec::new();
    let mut refused = false;
    for chunk in chunks {
        refused = parser.feed(chunk).is_err();
        while let Some(event) = parser.next_event() {
            events.push((event.event, event.data, event.id));
        }
        if refused {
            break;
        }
    }
    SseOutcome {
        events,
        refused,
        last_id: parser.last_id().map(str::to_owned),
        retry_ms: parser.retry_ms(),
    }
}

/// What a direct `tools/call` made of one message from the server.
#[derive(Debug)]
pub enum Routed {
    /// The call's reply: the rendered result, or the error it ends with (as a message).
    Reply(Result<ToolOutput, String>),
    /// A request from the server, and the JSON-RPC answer forage posts back.
    Answer(String),
    /// Passed over (a notification, a reply to another request).
    Continue,
}

/// Routes `message` as a direct `tools/call` with request id `expected_id` (JSON text, e.g.
/// `"\"7\""`) does: nothing is sent anywhere.
pub fn route_server_message(message: &[u8], expected_id: &str) -> Routed {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    static ROUTE: OnceLock<Arc<Route>> = OnceLock::new();
    let call = DirectCall {
        http: HTTP.get_or_init(reqwest::Client::new),
        route: ROUTE.get_or_init(|| {
            Arc::new(Route {
                uri: Arc::from("http://127.0.0.1/mcp"),
                url: reqwest::Url::parse("http://127.0.0.1/mcp").expect("a valid URL"),
                session_id: None,
                headers: reqwest::header::HeaderMap::new(),
            })
        }),
        server: "fuzz",
        max_bytes: usize::MAX,
        phase: crate::Phase::Call,
    };
    match call.step::<CallToolResult>(message, expected_id) {
        Step::Reply(reply) => Routed::Reply(reply.map(ToolOutput::from).map_err(|e| e.to_string())),
        Step::Answer(answer) => Routed::Answer(answer),
        Step::Continue => Routed::Continue,
    }
}

/// Parses a `tools/call` result and renders it for the model; `None` when it does not parse.
pub fn render_call_result(result: &[u8]) -> Option<ToolOutput> {
    serde_json::from_slice::<CallToolResult>(result)
        .ok()
        .map(ToolOutput::from)
}

/// Parses a message as the legacy SSE transport does before handing it to rmcp.
pub fn parse_server_message(data: &str) -> bool {
    serde_json::from_str::<ServerJsonRpcMessage>(data).is_ok()
}
