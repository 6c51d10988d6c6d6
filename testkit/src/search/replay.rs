//! A loopback server that answers every request with one canned reply (a recorded provider
//! response, an error status, a huge or cut-short body, a stall) and records what it was asked.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use futures::StreamExt;

use super::loopback::{self, Loopback, decode_params, header_pairs};

/// What the server answers every request with.
#[derive(Clone, Debug)]
pub struct CannedReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering at all.
    pub delay: Duration,
    /// Send the body in 64 KiB chunks without a `Content-Length`.
    pub chunked: bool,
    /// After the body, keep the connection open and send nothing more (the answer never ends).
    pub stall_after_body: bool,
}

impl CannedReply {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> CannedReply {
        CannedReply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
            chunked: false,
            stall_after_body: false,
        }
    }

    /// `status` with a body of another content type.
    pub fn with_type(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> CannedReply {
        CannedReply {
            headers: vec![("content-type".into(), content_type.into())],
            ..CannedReply::json(status, body)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> CannedReply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> CannedReply {
        self.delay = delay;
        self
    }

    pub fn chunked(mut self) -> CannedReply {
        self.chunked = true;
        self
    }

    pub fn stall_after_body(mut self) -> CannedReply {
        self.stall_after_body = true;
        self.chunked = true;
        self
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The URL's query parameters, decoded.
    pub params: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        loopback::header(&self.headers, name)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        loopback::param(&self.params, name)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// The canned-reply server on `127.0.0.1`, on a free port; stops when dropped.
pub struct Replay {
    server: Loopback,
    state: Arc<Shared>,
}

struct Shared {
    reply: CannedReply,
    recorded: Mutex<Vec<RecordedRequest>>,
}

impl Replay {
    pub async fn start(reply: CannedReply) -> Replay {
        let state = Arc::new(Shared {
            reply,
            recorded: Mutex::new(Vec::new()),
        });
        let router = Router::new().fallback(answer).with_state(state.clone());
        Replay {
            server: Loopback::serve(router, "replay server").await,
            state,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.recorded.lock().expect("recorder lock").clone()
    }
}

async fn answer(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .recorded
        .lock()
        .expect("recorder lock")
        .push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            params: decode_params(raw_query.as_deref().unwrap_or_default()),
            headers: header_pairs(&headers),
            body: body.to_vec(),
        });
    let reply = &state.reply;
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let body = if reply.chunked {
        let chunks: Vec<Result<Bytes, Infallible>> = reply
            .body
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let stream = futures::stream::iter(chunks);
        if reply.stall_after_body {
            Body::from_stream(stream.chain(futures::stream::pending()))
        } else {
            Body::from_stream(stream)
        }
    } else {
        Body::from(reply.body.clone())
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
