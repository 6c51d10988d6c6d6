//! Opens an MCP session: Streamable HTTP first, then the legacy HTTP+SSE transport when the
//! server answers the initialize POST like an old server (400, 404 or 405).

use std::{collections::HashMap, sync::Arc, time::Duration};

use reqwest::{
    StatusCode,
    header::{HeaderName, HeaderValue},
};
use rmcp::{
    RoleClient,
    model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion},
    service::{RunningService, serve_client},
    transport::{
        StreamableHttpClientTransport, common::client_side_sse::ExponentialBackoff,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use crate::{
    Limits, McpError, Phase, ServerSpec, TransportKind, classify,
    headers::header_map,
    legacy_sse::LegacySseTransport,
    route::{RouteCell, RouteRecorder},
};

/// A running rmcp client session (the handler is just our client description).
pub(crate) type Session = RunningService<RoleClient, ClientConfig>;

/// How many times a dropped response stream is resumed before the request fails.
const STREAM_RESUME_ATTEMPTS: usize = 2;

/// An initialised session and how it is reached.
pub(crate) struct Opened {
    pub session: Session,
    pub kind: TransportKind,
    /// Where direct `tools/call` requests go (Streamable HTTP only).
    pub route: Option<RouteCell>,
}

/// Connects and initialises within `spec.timeouts.connect`.
pub(crate) async fn open(
    spec: &ServerSpec,
    http: reqwest::Client,
    limits: Limits,
) -> Result<Opened, McpError> {
    let headers = header_map(spec)?;
    let after = spec.timeouts.connect;
    match tokio::time::timeout(after, handshake(spec, http, headers, limits)).await {
        Ok(result) => result,
        Err(_) => Err(McpError::Timeout {
            server: spec.name.clone(),
            phase: Phase::Initialize,
            after,
        }),
    }
}

async fn handshake(
    spec: &ServerSpec,
    http: reqwest::Client,
    headers: HashMap<HeaderName, HeaderValue>,
    limits: Limits,
) -> Result<Opened, McpError> {
    let route = RouteCell::default();
    let modern = streamable(spec, http.clone(), headers.clone(), limits, route.clone()).await;
    let error = match modern {
        Ok(session) => {
            return Ok(Opened {
                session,
                kind: TransportKind::StreamableHttp,
                route: Some(route),
            });
        }
        Err(error) => error,
    };
    let legacy_hint = matches!(
        &error,
        McpError::Http { status, .. } if matches!(
            *status,
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        )
    );
    if !legacy_hint {
        return Err(error);
    }
    tracing::debug!(server = %spec.name, %error, "initialize POST refused; trying the legacy SSE transport");
    match legacy(spec, http, headers, limits).await {
        Ok(session) => Ok(Opened {
            session,
            kind: TransportKind::LegacySse,
            route: None,
        }),
        Err(legacy_error) => {
            tracing::debug!(server = %spec.name, %legacy_error, "legacy SSE transport failed too");
            // The first answer is the more telling one unless the legacy GET got further.
            match legacy_error {
                McpError::Http { .. }
                | McpError::Protocol {
                    phase: Phase::Connect,
                    ..
                } => Err(error),
                other => Err(other),
            }
        }
    }
}

async fn streamable(
    spec: &ServerSpec,
    http: reqwest::Client,
    headers: HashMap<HeaderName, HeaderValue>,
    limits: Limits,
    route: RouteCell,
) -> Result<Session, McpError> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(spec.url.as_str())
        .custom_headers(headers)
        .max_json_response_size(limits.max_response_bytes)
        .max_sse_event_size(limits.max_response_bytes)
        .max_concurrent_requests(64)
        .session_recovery_timeout(spec.timeouts.connect)
        .reinit_on_expired_session(true);
    let mut backoff = ExponentialBackoff::default();
    backoff.max_times = Some(STREAM_RESUME_ATTEMPTS);
    backoff.base_duration = Duration::from_millis(200);
    backoff.max_delay = Some(Duration::from_secs(2));
    config.retry_config = Arc::new(backoff);
    let transport =
        StreamableHttpClientTransport::with_client(RouteRecorder { http, route }, config);
    serve_client(client_config(), transport)
        .await
        .map_err(|e| classify::init_error(&spec.name, e))
}

async fn legacy(
    spec: &ServerSpec,
    http: reqwest::Client,
    headers: HashMap<HeaderName, HeaderValue>,
    limits: Limits,
) -> Result<Session, McpError> {
    let transport = LegacySseTransport::open(http, &spec.url, headers, limits.max_response_bytes)
        .await
        .map_err(|e| e.to_mcp(&spec.name, Phase::Connect))?;
    serve_client(client_config(), transport)
        .await
        .map_err(|e| classify::init_error(&spec.name, e))
}

fn client_config() -> ClientConfig {
    // `initialize` names the newest version that still has the initialize handshake; the
    // server answers with the version it speaks (negotiation per the MCP lifecycle).
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("forage", env!("CARGO_PKG_VERSION")),
    )
    .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
}
