//! `RouteRecorder`: the HTTP client rmcp's Streamable HTTP transport talks through. It passes
//! every request on unchanged and remembers where the session's requests go (session id and
//! the headers rmcp sends after initialisation), so `tools/call` can be sent directly.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::transport::streamable_http_client::SseError;
use rmcp::{
    model::{ClientJsonRpcMessage, ClientRequest, ProtocolVersion},
    transport::streamable_http_client::{
        StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use sse_stream::Sse;

/// Where a session's requests go, as rmcp last sent them.
#[derive(Clone)]
pub(crate) struct Route {
    pub uri: Arc<str>,
    /// `uri`, parsed once for every direct call.
    pub url: reqwest::Url,
    /// `Mcp-Session-Id`; `None` for a stateless server.
    pub session_id: Option<Arc<str>>,
    /// The task's headers for this server plus `mcp-protocol-version`.
    pub headers: reqwest::header::HeaderMap,
}

/// The latest [`Route`]; the lock guards a pointer swap only, never I/O.
#[derive(Clone, Default)]
pub(crate) struct RouteCell(Arc<Mutex<Option<Arc<Route>>>>);

impl RouteCell {
    pub(crate) fn get(&self) -> Option<Arc<Route>> {
        self.0.lock().ok().and_then(|route| route.clone())
    }

    /// Forgets the route (the session expired): the next direct call waits for rmcp to
    /// establish a new one.
    pub(crate) fn clear_if(&self, stale: &Arc<Route>) {
        if let Ok(mut route) = self.0.lock()
            && route.as_ref().is_some_and(|r| Arc::ptr_eq(r, stale))
        {
            *route = None;
        }
    }

    fn record(
        &self,
        uri: &Arc<str>,
        session_id: &Option<Arc<str>>,
        custom_headers: &HashMap<HeaderName, HeaderValue>,
    ) {
        let unchanged = self.get().is_some_and(|r| {
            r.session_id == *session_id
                && r.uri == *uri
                && r.headers.len() == custom_headers.len()
                && custom_headers
                    .iter()
                    .all(|(name, value)| r.headers.get(name) == Some(value))
        });
        if unchanged {
            return;
        }
        // rmcp sent its request to this URI, so it parses; if it did not, no call goes direct.
        let Ok(url) = reqwest::Url::parse(uri) else {
            return;
        };
        let route = Route {
            uri: uri.clone(),
            url,
            session_id: session_id.clone(),
            headers: custom_headers
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        };
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(Arc::new(route));
        }
    }
}

/// reqwest, with the route of each post-initialisation request remembered.
#[derive(Clone)]
pub(crate) struct RouteRecorder {
    pub http: reqwest::Client,
    pub route: RouteCell,
}

/// Only requests sent after the handshake, on a protocol version whose requests need no
/// per-request headers, describe a route a direct `tools/call` may reuse.
fn describes_route(
    message: &ClientJsonRpcMessage,
    custom_headers: &HashMap<HeaderName, HeaderValue>,
) -> bool {
    let after_handshake = match message {
        ClientJsonRpcMessage::Request(request) => {
            !matches!(request.request, ClientRequest::InitializeRequest(_))
        }
        ClientJsonRpcMessage::Notification(_) => true,
        _ => false,
    };
    // Looked up by `HeaderName`: its hash is not a `str`'s.
    let version = custom_headers
        .get(&HeaderName::from_static("mcp-protocol-version"))
        .and_then(|v| v.to_str().ok());
    after_handshake && version.is_some_and(|v| v < ProtocolVersion::STANDARD_HEADERS.as_str())
}

impl StreamableHttpClient for RouteRecorder {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        if describes_route(&message, &custom_headers) {
            self.route.record(&uri, &session_id, &custom_headers);
        }
        self.http
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        if let Some(route) = self.route.get() {
            self.route.clear_if(&route);
        }
        self.http
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.http
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
