//! `McpClient`: one live session with one MCP server; cheap to clone, safe to share.
//!
//! No lock is held across I/O: each call talks to rmcp's `Peer` directly, so concurrent
//! calls to one server run concurrently. On an established Streamable HTTP session a
//! `tools/call` goes out as one direct POST (see `direct_call`), rmcp's path being the
//! fallback while a session is (re-)established.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::{
    RoleClient,
    model::{
        CallToolRequest, CallToolRequestParams, CancelledNotification, CancelledNotificationParam,
        ClientNotification, ClientRequest, ListToolsResult, NumberOrString, PaginatedRequestParams,
        ServerResult,
    },
    service::{Peer, PeerRequestOptions},
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    Limits, McpError, Phase, ServerSpec, ToolInfo, ToolOutput, TransportKind, classify,
    connect::{self, Session},
    direct_call::{DirectCall, DirectFailure},
    route::RouteCell,
    tools::filter_allowed,
};

/// How long a `notifications/cancelled` may take to go out before we give up on it.
const CANCEL_NOTICE_BOUND: Duration = Duration::from_secs(2);

/// A connected MCP server.
#[derive(Clone)]
pub struct McpClient {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    kind: TransportKind,
    peer: Peer<RoleClient>,
    allowed_tools: Option<Vec<String>>,
    list_timeout: Duration,
    limits: Limits,
    /// Held only to close it; never locked across I/O.
    session: Mutex<Option<Session>>,
    /// The HTTP client (with the network guard) direct calls go through.
    http: reqwest::Client,
    /// Where direct calls go; `None` on the legacy transport.
    route: Option<RouteCell>,
    /// Numbers the ids of direct calls (`forage-N`, apart from rmcp's numeric ids).
    next_direct_id: AtomicU64,
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient")
            .field("server", &self.inner.name)
            .field("transport", &self.inner.kind)
            .finish_non_exhaustive()
    }
}

impl McpClient {
    /// Connects and initialises (within `spec.timeouts.connect`), with the default [`Limits`].
    ///
    /// `http` should already carry the outbound network guard; the spec's headers are added
    /// to every request to this server and to no other.
    pub async fn connect(spec: &ServerSpec, http: reqwest::Client) -> Result<McpClient, McpError> {
        Self::connect_with_limits(spec, http, Limits::default()).await
    }

    /// [`McpClient::connect`] with explicit memory bounds.
    pub async fn connect_with_limits(
        spec: &ServerSpec,
        http: reqwest::Client,
        limits: Limits,
    ) -> Result<McpClient, McpError> {
        let span = tracing::info_span!("mcp_connect", server = %spec.name);
        let opened = connect::open(spec, http.clone(), limits)
            .instrument(span)
            .await?;
        let kind = opened.kind;
        tracing::info!(server = %spec.name, transport = ?kind, "MCP server connected");
        Ok(McpClient {
            inner: Arc::new(Inner {
                name: spec.name.clone(),
                kind,
                peer: opened.session.peer().clone(),
                allowed_tools: spec.allowed_tools.clone(),
                list_timeout: spec.timeouts.list,
                limits,
                session: Mutex::new(Some(opened.session)),
                http,
                route: opened.route,
                next_direct_id: AtomicU64::new(1),
            }),
        })
    }

    pub fn transport(&self) -> TransportKind {
        self.inner.kind
    }

    pub fn server_name(&self) -> &str {
        &self.inner.name
    }

    /// Every tool (following `nextCursor`, bounded by [`Limits`]), filtered by `allowed_tools`,
    /// within `timeouts.list`.
    pub async fn list_tools(&self) -> Result<Vec<ToolInfo>, McpError> {
        let after = self.inner.list_timeout;
        let span = tracing::debug_span!("mcp_list_tools", server = %self.inner.name);
        match tokio::time::timeout(after, self.list_all().instrument(span)).await {
            Ok(result) => result,
            Err(_) => Err(McpError::Timeout {
                server: self.inner.name.clone(),
                phase: Phase::List,
                after,
            }),
        }
    }

    async fn list_all(&self) -> Result<Vec<ToolInfo>, McpError> {
        let inner = &self.inner;
        let mut tools: Vec<ToolInfo> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen_cursors = std::collections::HashSet::new();
        for page in 0..inner.limits.max_list_pages {
            let result = match self.list_page_direct(cursor.as_deref()).await {
                Some(page) => page?,
                None => {
                    let params = cursor
                        .clone()
                        .map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
                    inner
                        .peer
                        .list_tools(params)
                        .await
                        .map_err(|e| classify::service_error(&inner.name, Phase::List, e))?
                }
            };
            tools.extend(result.tools.into_iter().map(ToolInfo::from));
            if tools.len() >= inner.limits.max_tools {
                tracing::warn!(server = %inner.name, limit = inner.limits.max_tools, "tool list truncated");
                tools.truncate(inner.limits.max_tools);
                break;
            }
            match result.next_cursor {
                Some(next) if !next.is_empty() => {
                    if !seen_cursors.insert(next.clone()) {
                        tracing::warn!(server = %inner.name, "tools/list cursor repeated; stopping");
                        break;
                    }
                    cursor = Some(next);
                }
                _ => break,
            }
            if page + 1 == inner.limits.max_list_pages {
                tracing::warn!(server = %inner.name, pages = page + 1, "tools/list page limit reached");
            }
        }
        Ok(filter_allowed(tools, inner.allowed_tools.as_deref()))
    }

    /// One page of `tools/list` as a direct POST on the session's route; `None` when there is
    /// no route (yet, or for this transport) or the session expired: rmcp then asks instead
    /// (re-initialising an expired session).
    async fn list_page_direct(
        &self,
        cursor: Option<&str>,
    ) -> Option<Result<ListToolsResult, McpError>> {
        let inner = &self.inner;
        let cell = inner.route.as_ref()?;
        let route = cell.get()?;
        let request_id = format!(
            "forage-{}",
            inner.next_direct_id.fetch_add(1, Ordering::Relaxed)
        );
        let list = DirectCall {
            http: &inner.http,
            route: &route,
            server: &inner.name,
            max_bytes: inner.limits.max_response_bytes,
            phase: Phase::List,
        };
        match list.list(&request_id, cursor).await {
            Ok(page) => Some(Ok(page)),
            Err(DirectFailure::Failed(error)) => Some(Err(error)),
            Err(DirectFailure::SessionExpired) => {
                tracing::info!("MCP session expired; re-initialising");
                cell.clear_if(&route);
                None
            }
        }
    }

    /// Calls one tool, bounded by `timeout`; on timeout or `cancel` the server is sent
    /// `notifications/cancelled`. A result with `isError: true` is `Ok` with `is_error` set.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<ToolOutput, McpError> {
        let inner = &self.inner;
        if let Some(allowed) = &inner.allowed_tools
            && !allowed.iter().any(|a| a == name)
        {
            return Err(McpError::NotAllowed {
                server: inner.name.clone(),
                tool: name.to_string(),
            });
        }
        let span = tracing::info_span!("mcp_call_tool", server = %inner.name, tool = %name);
        self.call_inner(name, arguments, timeout, cancel)
            .instrument(span)
            .await
    }

    async fn call_inner(
        &self,
        name: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<ToolOutput, McpError> {
        let deadline = tokio::time::Instant::now() + timeout;
        if let Some(cell) = &self.inner.route
            && let Some(route) = cell.get()
        {
            match self
                .call_direct(&route, name, &arguments, deadline, timeout, &cancel)
                .await
            {
                Ok(output) => return Ok(output),
                Err(DirectFailure::Failed(error)) => return Err(error),
                Err(DirectFailure::SessionExpired) => {
                    // rmcp re-initialises the session and sends the call again; later calls
                    // go direct once its new route is seen.
                    tracing::info!("MCP session expired; re-initialising");
                    cell.clear_if(&route);
                }
            }
        }
        self.call_via_rmcp(name, arguments, deadline, timeout, cancel)
            .await
    }

    /// One `tools/call` as a direct POST; abandoned (with `notifications/cancelled`) on
    /// timeout or cancellation.
    async fn call_direct(
        &self,
        route: &Arc<crate::route::Route>,
        name: &str,
        arguments: &serde_json::Map<String, serde_json::Value>,
        deadline: tokio::time::Instant,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<ToolOutput, DirectFailure> {
        let inner = &self.inner;
        let server = inner.name.as_str();
        let request_id = format!(
            "forage-{}",
            inner.next_direct_id.fetch_add(1, Ordering::Relaxed)
        );
        let call = DirectCall {
            http: &inner.http,
            route,
            server,
            max_bytes: inner.limits.max_response_bytes,
            phase: Phase::Call,
        };
        let (error, reason) = tokio::select! {
            biased;
            _ = cancel.cancelled() => (
                McpError::Cancelled { server: server.into(), phase: Phase::Call },
                "cancelled by the client",
            ),
            _ = tokio::time::sleep_until(deadline) => (
                McpError::Timeout { server: server.into(), phase: Phase::Call, after: timeout },
                "timeout",
            ),
            result = call.call(&request_id, name, arguments) => {
                let output = ToolOutput::from(result?);
                tracing::debug!(bytes = output.bytes, is_error = output.is_error, "tool call finished");
                return Ok(output);
            }
        };
        tracing::info!(%reason, "abandoning tool call; notifying the server");
        let notice = CancelledNotification::new(CancelledNotificationParam::new(
            Some(NumberOrString::String(request_id.into())),
            Some(reason.into()),
        ));
        let send = inner
            .peer
            .send_notification(ClientNotification::CancelledNotification(notice));
        match tokio::time::timeout(CANCEL_NOTICE_BOUND, send).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "could not send notifications/cancelled"),
            Err(_) => tracing::debug!("notifications/cancelled did not go out in time"),
        }
        Err(DirectFailure::Failed(error))
    }

    /// One `tools/call` through rmcp's session (the legacy transport, or while a Streamable
    /// HTTP session is being established or re-initialised).
    async fn call_via_rmcp(
        &self,
        name: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        deadline: tokio::time::Instant,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<ToolOutput, McpError> {
        let inner = &self.inner;
        let server = inner.name.as_str();
        let params = CallToolRequestParams::new(name.to_string()).with_arguments(arguments);
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let send = inner
            .peer
            .send_request_with_option(request, PeerRequestOptions::no_options());
        let mut handle = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(McpError::Cancelled { server: server.into(), phase: Phase::Call }),
            _ = tokio::time::sleep_until(deadline) => return Err(McpError::Timeout { server: server.into(), phase: Phase::Call, after: timeout }),
            sent = send => sent.map_err(|e| classify::service_error(server, Phase::Call, e))?,
        };
        enum Outcome<T> {
            Done(T),
            TimedOut,
            Cancelled,
        }
        let outcome = tokio::select! {
            biased;
            response = &mut handle.rx => Outcome::Done(response),
            _ = cancel.cancelled() => Outcome::Cancelled,
            _ = tokio::time::sleep_until(deadline) => Outcome::TimedOut,
        };
        let (error, reason) = match outcome {
            Outcome::Done(Ok(Ok(ServerResult::CallToolResult(result)))) => {
                let output = ToolOutput::from(result);
                tracing::debug!(
                    bytes = output.bytes,
                    is_error = output.is_error,
                    "tool call finished"
                );
                return Ok(output);
            }
            Outcome::Done(Ok(Ok(other))) => {
                return Err(McpError::Protocol {
                    server: server.into(),
                    phase: Phase::Call,
                    detail: format!("expected a tools/call result, got {}", result_kind(&other)),
                });
            }
            Outcome::Done(Ok(Err(e))) => {
                return Err(self.explain_closed(classify::service_error(server, Phase::Call, e)));
            }
            Outcome::Done(Err(_)) => {
                return Err(self.explain_closed(McpError::Closed {
                    server: server.into(),
                    phase: Phase::Call,
                    detail: "the transport closed".into(),
                }));
            }
            Outcome::TimedOut => (
                McpError::Timeout {
                    server: server.into(),
                    phase: Phase::Call,
                    after: timeout,
                },
                "timeout",
            ),
            Outcome::Cancelled => (
                McpError::Cancelled {
                    server: server.into(),
                    phase: Phase::Call,
                },
                "cancelled by the client",
            ),
        };
        tracing::info!(%reason, "abandoning tool call; notifying the server");
        match tokio::time::timeout(CANCEL_NOTICE_BOUND, handle.cancel(Some(reason.into()))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "could not send notifications/cancelled"),
            Err(_) => tracing::debug!("notifications/cancelled did not go out in time"),
        }
        Err(error)
    }

    /// A reply channel closed while the session lives on means that request's response
    /// stream ended early: the server dropped it, or sent a message over the size bound.
    fn explain_closed(&self, error: McpError) -> McpError {
        match error {
            McpError::Closed { server, phase, .. } if !self.inner.peer.is_transport_closed() => {
                McpError::Closed {
                    server,
                    phase,
                    detail: format!(
                        "the response stream ended without a reply (connection dropped, or a \
                         message over the {}-byte limit)",
                        self.inner.limits.max_response_bytes
                    ),
                }
            }
            other => other,
        }
    }

    /// Ends the session (the server is told, where its transport supports it).
    pub async fn close(&self) {
        let session = self
            .inner
            .session
            .lock()
            .map(|mut s| s.take())
            .unwrap_or(None);
        if let Some(mut session) = session {
            match session.close_with_timeout(Duration::from_secs(5)).await {
                Ok(_) => tracing::debug!(server = %self.inner.name, "MCP session closed"),
                Err(e) => {
                    tracing::debug!(server = %self.inner.name, error = %e, "MCP session close failed")
                }
            }
        }
    }
}

fn result_kind(result: &ServerResult) -> String {
    serde_json::to_value(result)
        .ok()
        .and_then(|v| {
            v.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(","))
        })
        .map(|keys| format!("a result with fields [{keys}]"))
        .unwrap_or_else(|| "another result".into())
}

// Others share one client across tasks: it must stay cheap to clone and thread-safe.
const _: fn() = || {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<McpClient>();
};
