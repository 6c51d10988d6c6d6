//! The legacy HTTP+SSE transport (MCP 2024-11-05) as an rmcp `Transport`: rmcp 3.11 has
//! only the Streamable HTTP client.
//!
//! A GET opens an event stream whose first `endpoint` event names the URL to POST
//! JSON-RPC messages to; every reply arrives on the event stream.

use std::{collections::HashMap, sync::Arc};

use futures::StreamExt;
use reqwest::{
    StatusCode,
    header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue},
};
use rmcp::{
    RoleClient,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::Transport,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{McpError, Phase, sse};

/// Queued server messages not yet taken by rmcp.
const INBOUND_QUEUE: usize = 256;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LegacySseError {
    #[error("HTTP {0}")]
    Http(StatusCode),
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    #[error("event stream closed")]
    Closed,
    #[error("an event was larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Protocol(String),
}

impl LegacySseError {
    pub(crate) fn to_mcp(&self, server: &str, phase: Phase) -> McpError {
        match self {
            LegacySseError::Http(status) => McpError::Http {
                server: server.into(),
                phase,
                status: *status,
            },
            LegacySseError::Request(e) => crate::classify::chain(server, phase, e),
            LegacySseError::Closed => McpError::Closed {
                server: server.into(),
                phase,
                detail: "the event stream ended".into(),
            },
            LegacySseError::TooLarge(limit) => McpError::TooLarge {
                server: server.into(),
                phase,
                limit: *limit,
            },
            LegacySseError::Protocol(detail) => McpError::Protocol {
                server: server.into(),
                phase,
                detail: detail.clone(),
            },
        }
    }
}

/// An open legacy SSE connection.
pub(crate) struct LegacySseTransport {
    http: reqwest::Client,
    post_url: Arc<url::Url>,
    headers: Arc<HashMap<HeaderName, HeaderValue>>,
    inbound: mpsc::Receiver<ServerJsonRpcMessage>,
    reader: CancellationToken,
}

impl LegacySseTransport {
    /// GETs the event stream and waits for the `endpoint` event.
    pub(crate) async fn open(
        http: reqwest::Client,
        url: &url::Url,
        headers: HashMap<HeaderName, HeaderValue>,
        max_event: usize,
    ) -> Result<Self, LegacySseError> {
        let mut request = http.get(url.as_str()).header(ACCEPT, "text/event-stream");
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(LegacySseError::Request)?;
        if !response.status().is_success() {
            return Err(LegacySseError::Http(response.status()));
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"));
        if !is_sse {
            return Err(LegacySseError::Protocol(
                "the GET did not answer with text/event-stream".into(),
            ));
        }
        let mut body = response.bytes_stream().boxed();
        let mut parser = sse::Parser::new(max_event);
        let endpoint = loop {
            if let Some(event) = parser.next_event() {
                if event.event == "endpoint" {
                    break event.data;
                }
                continue;
            }
            match body.next().await {
                Some(Ok(chunk)) => parser
                    .feed(&chunk)
                    .map_err(|_| LegacySseError::TooLarge(max_event))?,
                Some(Err(e)) => return Err(LegacySseError::Request(e)),
                None => return Err(LegacySseError::Closed),
            }
        };
        let post_url = url.join(endpoint.trim()).map_err(|_| {
            LegacySseError::Protocol("the endpoint event is not a valid URL".into())
        })?;
        // Headers are secrets for this server only: never POST them elsewhere.
        if post_url.origin() != url.origin() {
            return Err(LegacySseError::Protocol(
                "the endpoint event points to another origin".into(),
            ));
        }
        tracing::debug!(post_url = %post_url.path(), "legacy SSE endpoint received");

        let (tx, inbound) = mpsc::channel(INBOUND_QUEUE);
        let reader = CancellationToken::new();
        tokio::spawn(read_events(body, parser, tx, reader.clone(), max_event));
        Ok(Self {
            http,
            post_url: Arc::new(post_url),
            headers: Arc::new(headers),
            inbound,
            reader,
        })
    }
}

type ByteStream = futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>;

/// Forwards every `message` event to rmcp until the stream ends or the transport closes.
async fn read_events(
    mut body: ByteStream,
    mut parser: sse::Parser,
    tx: mpsc::Sender<ServerJsonRpcMessage>,
    stop: CancellationToken,
    max_event: usize,
) {
    loop {
        while let Some(event) = parser.next_event() {
            if event.event != "message" {
                continue;
            }
            match serde_json::from_str::<ServerJsonRpcMessage>(&event.data) {
                Ok(message) => {
                    if tx.send(message).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "legacy SSE: ignoring a malformed JSON-RPC message")
                }
            }
        }
        let chunk = tokio::select! {
            _ = stop.cancelled() => return,
            chunk = body.next() => chunk,
        };
        match chunk {
            Some(Ok(chunk)) => {
                if parser.feed(&chunk).is_err() {
                    tracing::warn!(limit = max_event, "legacy SSE: event too large, closing");
                    return;
                }
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "legacy SSE: event stream failed");
                return;
            }
            None => {
                tracing::debug!("legacy SSE: event stream ended");
                return;
            }
        }
    }
}

impl Transport<RoleClient> for LegacySseTransport {
    type Error = LegacySseError;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let http = self.http.clone();
        let url = self.post_url.clone();
        let headers = self.headers.clone();
        async move {
            let mut request = http.post(url.as_str()).json(&item);
            for (name, value) in headers.iter() {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(LegacySseError::Request)?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(LegacySseError::Http(status))
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.inbound.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.reader.cancel();
        self.inbound.close();
        Ok(())
    }
}

impl Drop for LegacySseTransport {
    fn drop(&mut self) {
        self.reader.cancel();
    }
}
