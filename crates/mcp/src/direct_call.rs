//! Sends one `tools/call` (or one page of `tools/list`) as a single POST on an established
//! Streamable HTTP session and reads its reply (a JSON body or an SSE stream) in the calling
//! task, without a relay through rmcp's worker, and reads the result straight into its type
//! (rmcp reads each message into an untagged enum, which buffers the whole message first). A dropped stream is resumed with `Last-Event-ID`; an expired session is
//! reported so the caller can let rmcp re-initialise it.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use reqwest::{
    Response, StatusCode,
    header::{ACCEPT, CONTENT_TYPE, HeaderValue},
};
use rmcp::model::{CallToolResult, ErrorData, ListToolsResult};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, value::RawValue};

use crate::{McpError, Phase, classify, route::Route, sse};

const ACCEPT_BOTH: &str = "application/json, text/event-stream";
/// How many times a response stream that ends early is resumed.
const RESUME_ATTEMPTS: usize = 2;
/// Wait before resuming when the server named no `retry:`.
const DEFAULT_RESUME_DELAY: Duration = Duration::from_millis(200);
/// The longest `retry:` honoured.
const MAX_RESUME_DELAY: Duration = Duration::from_secs(2);
/// After the reply, the rest of a response stream is read (so that its connection can be
/// reused) for at most this long and this many bytes, then dropped.
const DRAIN_WITHIN: Duration = Duration::from_secs(1);
const DRAIN_AT_MOST: usize = 64 * 1024;

/// How a direct call ended when it did not produce a result or a final error.
pub(crate) enum DirectFailure {
    /// The server no longer knows the session (HTTP 404): rmcp must re-initialise it.
    SessionExpired,
    Failed(McpError),
}

impl From<McpError> for DirectFailure {
    fn from(error: McpError) -> Self {
        DirectFailure::Failed(error)
    }
}

/// One direct request, for one server.
pub(crate) struct DirectCall<'a> {
    pub http: &'a reqwest::Client,
    pub route: &'a Arc<Route>,
    pub server: &'a str,
    pub max_bytes: usize,
    /// What the request is (`Call` or `List`), for its errors.
    pub phase: Phase,
}

/// The request, serialised straight from borrowed parts.
#[derive(Serialize)]
struct Request<'a, P> {
    jsonrpc: &'static str,
    id: &'a str,
    method: &'static str,
    params: P,
}

#[derive(Serialize)]
struct CallParams<'a> {
    name: &'a str,
    arguments: &'a Map<String, Value>,
    #[serde(rename = "_meta")]
    meta: CallMeta<'a>,
}

#[derive(Serialize)]
struct CallMeta<'a> {
    #[serde(rename = "progressToken")]
    progress_token: &'a str,
}

#[derive(Serialize)]
struct ListParams<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<&'a str>,
}

/// A JSON-RPC message from the server, read only as far as routing it needs.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    method: Option<String>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorData>,
}

/// What one server message meant for the request.
pub(crate) enum Step<R> {
    Reply(Result<R, McpError>),
    /// A request from the server: this answer is posted back and the call goes on.
    Answer(String),
    Continue,
}

impl DirectCall<'_> {
    /// Sends `tools/call` with request id `request_id` (a JSON string) and waits for its reply.
    pub(crate) async fn call(
        &self,
        request_id: &str,
        name: &str,
        arguments: &Map<String, Value>,
    ) -> Result<CallToolResult, DirectFailure> {
        let params = CallParams {
            name,
            arguments,
            meta: CallMeta {
                progress_token: request_id,
            },
        };
        self.request(request_id, "tools/call", params).await
    }

    /// Asks for one page of `tools/list` (after `cursor`) and waits for it.
    pub(crate) async fn list(
        &self,
        request_id: &str,
        cursor: Option<&str>,
    ) -> Result<ListToolsResult, DirectFailure> {
        self.request(request_id, "tools/list", ListParams { cursor })
            .await
    }

    async fn request<P: Serialize, R: DeserializeOwned>(
        &self,
        request_id: &str,
        method: &'static str,
        params: P,
    ) -> Result<R, DirectFailure> {
        let request = Request {
            jsonrpc: "2.0",
            id: request_id,
            method,
            params,
        };
        let body = serde_json::to_vec(&request).map_err(|e| self.protocol(e.to_string()))?;
        let response = self
            .post(body)
            .await
            .map_err(|e| classify::chain(self.server, self.phase, &e))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND && self.route.session_id.is_some() {
            return Err(DirectFailure::SessionExpired);
        }
        let expected_id =
            serde_json::to_string(request_id).map_err(|e| self.protocol(e.to_string()))?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !status.is_success() {
            return Err(self
                .status_error(status, &content_type, response)
                .await
                .into());
        }
        if content_type.starts_with("text/event-stream") {
            return self
                .read_stream(response, &expected_id)
                .await
                .map_err(Into::into);
        }
        if content_type.starts_with("application/json") {
            let body = self.read_body(response).await?;
            return match self.step(&body, &expected_id) {
                Step::Reply(reply) => reply.map_err(Into::into),
                step => {
                    if let Step::Answer(answer) = step {
                        self.post_answer(answer);
                    }
                    Err(self
                        .protocol(format!("the JSON reply is not the {} response", self.phase))
                        .into())
                }
            };
        }
        Err(self
            .protocol(format!(
                "a {} answered {status} with content type '{content_type}', not JSON or an event stream",
                self.phase
            ))
            .into())
    }

    /// An HTTP error status, or the JSON-RPC error its body carries.
    async fn status_error(
        &self,
        status: StatusCode,
        content_type: &str,
        response: Response,
    ) -> McpError {
        if content_type.starts_with("application/json")
            && let Ok(body) = self.read_body(response).await
            && let Ok(Incoming {
                error: Some(error), ..
            }) = serde_json::from_slice::<Incoming>(&body)
        {
            return self.rpc(error);
        }
        self.http_error(status)
    }

    async fn post(&self, body: Vec<u8>) -> Result<Response, reqwest::Error> {
        let mut request = self
            .http
            .post(self.route.url.clone())
            .headers(self.route.headers.clone())
            .header(ACCEPT, ACCEPT_BOTH)
            .header(CONTENT_TYPE, "application/json");
        if let Some(session) = &self.route.session_id
            && let Ok(value) = HeaderValue::from_str(session)
        {
            request = request.header("mcp-session-id", value);
        }
        request.body(body).send().await
    }

    /// The body, refusing more than `max_bytes`.
    async fn read_body(&self, response: Response) -> Result<Vec<u8>, McpError> {
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(self.too_large());
        }
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| classify::chain(self.server, self.phase, &e))?;
            if body.len() + chunk.len() > self.max_bytes {
                return Err(self.too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Reads events until the reply arrives, resuming a stream that ends first.
    async fn read_stream<R: DeserializeOwned>(
        &self,
        response: Response,
        expected_id: &str,
    ) -> Result<R, McpError> {
        let mut parser = sse::Parser::new(self.max_bytes);
        let mut response = response;
        let mut resumes = 0;
        loop {
            let mut chunks = response.bytes_stream();
            let mut dropped = false;
            while let Some(chunk) = chunks.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(_) => {
                        dropped = true;
                        break;
                    }
                };
                parser.feed(&chunk).map_err(|_| self.too_large())?;
                while let Some(event) = parser.next_event() {
                    if event.event != "message" || event.data.is_empty() {
                        continue;
                    }
                    match self.step(event.data.as_bytes(), expected_id) {
                        Step::Reply(reply) => {
                            drain_in_background(chunks);
                            return reply;
                        }
                        Step::Answer(answer) => self.post_answer(answer),
                        Step::Continue => {}
                    }
                }
            }
            let ended = if dropped { "dropped" } else { "ended" };
            let Some(last_id) = parser.last_id().map(str::to_owned) else {
                return Err(self.closed(format!("the response stream {ended} without a reply")));
            };
            if resumes == RESUME_ATTEMPTS {
                return Err(self.closed(format!(
                    "the response stream {ended} without a reply, {RESUME_ATTEMPTS} times resumed"
                )));
            }
            resumes += 1;
            let delay = parser
                .retry_ms()
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_RESUME_DELAY)
                .min(MAX_RESUME_DELAY);
            tokio::time::sleep(delay).await;
            tracing::debug!(server = %self.server, resumes, phase = %self.phase, "resuming the response stream");
            parser = sse::Parser::new(self.max_bytes);
            response = self.resume(&last_id).await?;
        }
    }

    /// Re-opens the stream after `last_id` (a GET with `Last-Event-ID`).
    async fn resume(&self, last_id: &str) -> Result<Response, McpError> {
        let mut request = self
            .http
            .get(self.route.url.clone())
            .headers(self.route.headers.clone())
            .header(ACCEPT, "text/event-stream");
        if let Some(session) = &self.route.session_id
            && let Ok(value) = HeaderValue::from_str(session)
        {
            request = request.header("mcp-session-id", value);
        }
        if let Ok(value) = HeaderValue::from_str(last_id) {
            request = request.header("last-event-id", value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify::chain(self.server, self.phase, &e))?;
        if !response.status().is_success() {
            return Err(self.http_error(response.status()));
        }
        Ok(response)
    }

    /// Routes one message: the reply to this call ends it; anything else is passed over
    /// (progress and log notifications) or answered (a request from the server). No I/O.
    pub(crate) fn step<R: DeserializeOwned>(&self, message: &[u8], expected_id: &str) -> Step<R> {
        // serde would read `Incoming` from an array too (`["id", "method"]`), which is no
        // JSON-RPC message.
        if message.trim_ascii_start().first() != Some(&b'{') {
            return Step::Reply(Err(
                self.protocol("malformed JSON-RPC message: not a JSON object".into())
            ));
        }
        let incoming: Incoming = match serde_json::from_slice(message) {
            Ok(incoming) => incoming,
            Err(e) => {
                return Step::Reply(Err(
                    self.protocol(format!("malformed JSON-RPC message: {e}"))
                ));
            }
        };
        match (incoming.id, incoming.method) {
            (Some(id), Some(method)) => Step::Answer(answer_to(id, &method)),
            (_, Some(_)) => Step::Continue,
            (Some(id), None) if id.get() == expected_id => {
                Step::Reply(self.reply(incoming.result, incoming.error))
            }
            (Some(_), None) => Step::Continue,
            (None, None) => match incoming.error {
                // An error without an id answers the request that could not be read.
                Some(error) => Step::Reply(Err(self.rpc(error))),
                None => Step::Reply(Err(
                    self.protocol("a message with neither id nor method".into())
                )),
            },
        }
    }

    fn reply<R: DeserializeOwned>(
        &self,
        result: Option<&RawValue>,
        error: Option<ErrorData>,
    ) -> Result<R, McpError> {
        match (result, error) {
            (_, Some(error)) => Err(self.rpc(error)),
            (Some(result), None) => serde_json::from_str(result.get())
                .map_err(|e| self.protocol(format!("the {} result is malformed: {e}", self.phase))),
            (None, None) => Err(self.protocol("a response with neither result nor error".into())),
        }
    }

    /// Posts the answer to a server request without holding up the call.
    fn post_answer(&self, answer: String) {
        let http = self.http.clone();
        let route = self.route.clone();
        let server = self.server.to_owned();
        let phase = self.phase;
        tokio::spawn(async move {
            let direct = DirectCall {
                http: &http,
                route: &route,
                server: &server,
                max_bytes: 0,
                phase,
            };
            if let Err(e) = direct.post(answer.into_bytes()).await {
                tracing::debug!(server = %server, error = %classify::chain(&server, phase, &e), "could not answer a server request");
            }
        });
    }

    fn protocol(&self, detail: String) -> McpError {
        McpError::Protocol {
            server: self.server.into(),
            phase: self.phase,
            detail,
        }
    }

    fn closed(&self, detail: String) -> McpError {
        McpError::Closed {
            server: self.server.into(),
            phase: self.phase,
            detail,
        }
    }

    fn too_large(&self) -> McpError {
        McpError::TooLarge {
            server: self.server.into(),
            phase: self.phase,
            limit: self.max_bytes,
        }
    }

    fn http_error(&self, status: StatusCode) -> McpError {
        McpError::Http {
            server: self.server.into(),
            phase: self.phase,
            status,
        }
    }

    fn rpc(&self, error: ErrorData) -> McpError {
        McpError::Rpc {
            server: self.server.into(),
            phase: self.phase,
            code: error.code.0,
            message: error.message.into_owned(),
        }
    }
}

/// forage offers the server no capabilities, so a request from it gets `ping`'s empty result
/// or "method not found". The id is echoed as sent (it is JSON already); the method name is
/// JSON-escaped into the message.
fn answer_to(id: &RawValue, method: &str) -> String {
    let id = id.get();
    if method == "ping" {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#)
    } else {
        let message = Value::String(format!("forage does not offer {method}"));
        format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"message":{message}}}}}"#)
    }
}

/// Reads what is left of a response stream after its reply, off the caller's path: a stream
/// read to its end hands its connection back to the pool; one that goes on is dropped.
fn drain_in_background(
    mut chunks: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + Unpin + 'static,
) {
    tokio::spawn(async move {
        let mut read = 0;
        let _ = tokio::time::timeout(DRAIN_WITHIN, async {
            while let Some(Ok(chunk)) = chunks.next().await {
                read += chunk.len();
                if read > DRAIN_AT_MOST {
                    break;
                }
            }
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str, method: &str) -> Value {
        let id = RawValue::from_string(id.to_owned()).unwrap();
        serde_json::from_str(&answer_to(&id, method)).unwrap()
    }

    /// Found by fuzzing (`mcp_message`): a method name with a quote or a non-ASCII letter was
    /// escaped the Rust way (`\'`, `\u{e9}`), which is not JSON.
    #[test]
    fn answers_are_json_whatever_the_method_name() {
        for method in ["it's", "caf\u{e9}", "a\nb", "\"", "\\"] {
            let value = answer(r#"{"k": [1]}"#, method);
            assert_eq!(value["id"], serde_json::json!({"k": [1]}));
            assert_eq!(
                value["error"]["message"],
                format!("forage does not offer {method}")
            );
        }
        assert_eq!(answer("7", "ping")["result"], serde_json::json!({}));
    }
}
