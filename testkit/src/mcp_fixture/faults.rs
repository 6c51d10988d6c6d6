//! Hand-written misbehaving MCP endpoints (not rmcp: rmcp will not misbehave on purpose).
//! Each speaks just enough Streamable HTTP to get through `initialize` and `tools/list`.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

use super::FixtureState;

#[derive(Clone, Copy)]
enum Fault {
    MalformedInit,
    Malformed,
    Endless,
    Drop,
    /// `tools/call` answered by progress notifications as fast as they can be sent, forever.
    Flood,
    /// `tools/call` answered by one SSE line that never ends.
    LongLine,
    /// `tools/list` offers 300 tools, one with a huge schema and one with a huge description.
    Crowded,
}

/// Tools `/crowded/mcp` lists.
pub const CROWDED_TOOLS: usize = 300;

pub(super) fn router(state: Arc<FixtureState>) -> Router {
    let route = |fault: Fault| {
        let st = state.clone();
        post(move |headers: HeaderMap, body: Bytes| answer(st.clone(), fault, headers, body))
            .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
            .delete(|| async { StatusCode::METHOD_NOT_ALLOWED })
    };
    Router::new()
        .route("/malformed-init/mcp", route(Fault::MalformedInit))
        .route("/malformed/mcp", route(Fault::Malformed))
        .route("/endless/mcp", route(Fault::Endless))
        .route("/drop/mcp", route(Fault::Drop))
        .route("/flood/mcp", route(Fault::Flood))
        .route("/longline/mcp", route(Fault::LongLine))
        .route("/crowded/mcp", route(Fault::Crowded))
        .with_state(())
}

fn json_reply(value: Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::HeaderName::from_static("mcp-session-id"),
                "fault-session",
            ),
        ],
        value.to_string(),
    )
        .into_response()
}

fn raw_json(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn answer(
    state: Arc<FixtureState>,
    fault: Fault,
    _headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let method = message.get("method").and_then(Value::as_str).unwrap_or("");
    let Some(id) = message.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response(); // a notification
    };
    match method {
        "initialize" => {
            if matches!(fault, Fault::MalformedInit) {
                return raw_json("{\"jsonrpc\": \"2.0\", this is not json");
            }
            let version = message
                .pointer("/params/protocolVersion")
                .cloned()
                .unwrap_or(json!("2025-06-18"));
            json_reply(json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": version,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "forage-fault-fixture", "version": "0"}
            }}))
        }
        "tools/list" if matches!(fault, Fault::Crowded) => {
            json_reply(json!({"jsonrpc": "2.0", "id": id, "result": {"tools": crowded_tools()}}))
        }
        "tools/list" => json_reply(json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
            {"name": "not_json", "inputSchema": {"type": "object"}},
            {"name": "wrong_shape", "inputSchema": {"type": "object"}},
            {"name": "wrong_id", "inputSchema": {"type": "object"}},
            {"name": "forever", "inputSchema": {"type": "object"}}
        ]}})),
        "tools/call" => {
            let tool = message
                .pointer("/params/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            state.note_call(tool);
            match fault {
                Fault::Endless => endless(),
                Fault::Drop => dropping(),
                Fault::Flood => flood(state.clone()),
                Fault::LongLine => long_line(state.clone()),
                Fault::Crowded => json_reply(json!({"jsonrpc": "2.0", "id": id, "result": {
                    "content": [{"type": "text", "text": tool}]}})),
                _ => match tool {
                    "not_json" => raw_json("<html>definitely not json-rpc</html>"),
                    "wrong_id" => json_reply(
                        json!({"jsonrpc": "2.0", "id": 987654321, "result": {"content": []}}),
                    ),
                    _ => json_reply(
                        json!({"jsonrpc": "2.0", "id": id, "result": {"content": "not a list", "isError": "maybe"}}),
                    ),
                },
            }
        }
        "ping" => json_reply(json!({"jsonrpc": "2.0", "id": id, "result": {}})),
        _ => json_reply(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}}),
        ),
    }
}

fn sse(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Keep-alive comments every 50 ms, never a reply.
fn endless() -> Response {
    let ticks = stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((
            Ok::<_, Infallible>(Bytes::from_static(b": keep-alive\n\n")),
            (),
        ))
    });
    sse(Body::from_stream(ticks))
}

/// One comment, then the connection is cut (an error ends the body mid-response).
fn dropping() -> Response {
    let first =
        stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b": working\n\n")) });
    let cut = stream::once(async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fixture drops the connection",
        ))
    });
    sse(Body::from_stream(first.chain(cut)))
}

/// Progress notifications, 64 KiB of them per chunk, as fast as the client reads; never a
/// reply. Every byte sent is counted.
fn flood(state: Arc<FixtureState>) -> Response {
    let event = format!(
        "data: {}\n\n",
        json!({"jsonrpc": "2.0", "method": "notifications/progress",
               "params": {"progressToken": "flood", "progress": 1, "message": "x".repeat(200)}})
    );
    let chunk = Bytes::from(event.repeat(64 * 1024 / event.len()));
    let ticks = stream::repeat(()).map(move |()| {
        state.add_streamed(chunk.len());
        Ok::<_, Infallible>(chunk.clone())
    });
    sse(Body::from_stream(ticks))
}

/// `data: ` and then `x` forever, without a line end.
fn long_line(state: Arc<FixtureState>) -> Response {
    let head = stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"data: ")) });
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let body = stream::repeat(()).map(move |()| {
        state.add_streamed(chunk.len());
        Ok::<_, Infallible>(chunk.clone())
    });
    sse(Body::from_stream(head.chain(body)))
}

/// [`CROWDED_TOOLS`] tools: `t001` has a 100 KB input schema, `t002` a 5,000-character
/// description.
fn crowded_tools() -> Vec<Value> {
    (0..CROWDED_TOOLS)
        .map(|i| {
            let name = format!("t{i:03}");
            let mut schema = json!({"type": "object", "properties": {"q": {"type": "string"}}});
            let mut description = format!("Tool number {i}");
            if i == 1 {
                schema["properties"]["q"]["description"] = json!("s".repeat(100_000));
            }
            if i == 2 {
                description = "d".repeat(5_000);
            }
            json!({"name": name, "description": description, "inputSchema": schema})
        })
        .collect()
}
