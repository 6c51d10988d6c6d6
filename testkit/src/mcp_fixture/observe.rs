//! Middleware of the MCP fixture: records headers and JSON-RPC methods, checks the bearer
//! token, expires sessions.

use std::sync::{Arc, atomic::Ordering};

use axum::{
    body::Body,
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{EXPIRE_AFTER, FIXTURE_TOKEN, FixtureState};

/// Largest request body the fixture reads.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Records headers, counts `initialize` and `notifications/cancelled`.
pub(super) async fn record(
    State(state): State<Arc<FixtureState>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    *state.last_headers.lock().unwrap() = headers;
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    for method in methods(&bytes) {
        match method.as_str() {
            "notifications/cancelled" => {
                state.cancellations.fetch_add(1, Ordering::SeqCst);
            }
            "initialize" => {
                state.initializations.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn methods(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return vec![];
    };
    let items = match value {
        serde_json::Value::Array(items) => items,
        single => vec![single],
    };
    items
        .iter()
        .filter_map(|m| m.get("method").and_then(|m| m.as_str()).map(str::to_owned))
        .collect()
}

/// 401 unless `Authorization: Bearer FIXTURE_TOKEN`.
pub(super) async fn require_bearer(request: Request, next: Next) -> Response {
    let ok = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {FIXTURE_TOKEN}"));
    if ok {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response()
    }
}

/// 404 to a session id once it has made `EXPIRE_AFTER` requests.
pub(super) async fn expire_sessions(
    State(state): State<Arc<FixtureState>>,
    request: Request,
    next: Next,
) -> Response {
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(session) = session {
        let seen = {
            let mut map = state.session_requests.lock().unwrap();
            let count = map.entry(session).or_default();
            *count += 1;
            *count
        };
        if seen > EXPIRE_AFTER {
            state.expired_answers.fetch_add(1, Ordering::SeqCst);
            return (StatusCode::NOT_FOUND, "session expired").into_response();
        }
    }
    next.run(request).await
}
