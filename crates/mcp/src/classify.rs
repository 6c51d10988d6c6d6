//! Maps rmcp's and reqwest's errors onto `McpError`, by walking the error's source chain.
//!
//! Only types and status codes are inspected; no request data (headers) ever reaches the
//! messages built here.

use std::error::Error as StdError;

use reqwest::StatusCode;
use rmcp::{
    ServiceError,
    model::ErrorData,
    service::ClientInitializeError,
    transport::streamable_http_client::{StreamableHttpError, StreamableHttpProtocolError},
};

use crate::{McpError, Phase, legacy_sse::LegacySseError};

type HttpError = StreamableHttpError<reqwest::Error>;

/// A request-phase error from rmcp's service layer.
pub(crate) fn service_error(server: &str, phase: Phase, err: ServiceError) -> McpError {
    match err {
        ServiceError::McpError(data) => rpc(server, phase, data),
        ServiceError::TransportSend(dynamic) => chain(server, phase, &dynamic),
        ServiceError::TransportClosed => McpError::Closed {
            server: server.into(),
            phase,
            detail: "the transport closed".into(),
        },
        ServiceError::Cancelled { .. } => McpError::Cancelled {
            server: server.into(),
            phase,
        },
        ServiceError::Timeout { timeout } => McpError::Timeout {
            server: server.into(),
            phase,
            after: timeout,
        },
        other => McpError::Protocol {
            server: server.into(),
            phase,
            detail: other.to_string(),
        },
    }
}

/// An initialize-phase error from rmcp's client lifecycle.
pub(crate) fn init_error(server: &str, err: ClientInitializeError) -> McpError {
    let phase = Phase::Initialize;
    match err {
        ClientInitializeError::JsonRpcError(data) => rpc(server, phase, data),
        ClientInitializeError::TransportError { error, .. } => chain(server, phase, &error),
        ClientInitializeError::ConnectionClosed(detail) => McpError::Closed {
            server: server.into(),
            phase,
            detail,
        },
        ClientInitializeError::Cancelled => McpError::Cancelled {
            server: server.into(),
            phase,
        },
        other => McpError::Protocol {
            server: server.into(),
            phase,
            detail: other.to_string(),
        },
    }
}

fn rpc(server: &str, phase: Phase, data: ErrorData) -> McpError {
    McpError::Rpc {
        server: server.into(),
        phase,
        code: data.code.0,
        message: data.message.into_owned(),
    }
}

/// Classifies any error by the most specific known type in its source chain.
pub(crate) fn chain(server: &str, phase: Phase, err: &(dyn StdError + 'static)) -> McpError {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = known(server, phase, e) {
            return found;
        }
        current = e.source();
    }
    fallback(server, phase, err)
}

fn known(server: &str, phase: Phase, e: &(dyn StdError + 'static)) -> Option<McpError> {
    if let Some(http) = e.downcast_ref::<HttpError>() {
        return streamable(server, phase, http);
    }
    if let Some(legacy) = e.downcast_ref::<LegacySseError>() {
        return Some(legacy.to_mcp(server, phase));
    }
    if let Some(req) = e.downcast_ref::<reqwest::Error>() {
        return Some(reqwest_error(server, phase, req));
    }
    if e.downcast_ref::<StreamableHttpProtocolError>().is_some() {
        return Some(protocol(server, phase, e.to_string()));
    }
    None
}

fn streamable(server: &str, phase: Phase, e: &HttpError) -> Option<McpError> {
    let s = || server.to_string();
    Some(match e {
        HttpError::Client(req) => reqwest_error(server, phase, req),
        HttpError::HttpStatus(status) => McpError::Http {
            server: s(),
            phase,
            status: StatusCode::from_u16(status.status).unwrap_or(StatusCode::BAD_GATEWAY),
        },
        HttpError::AuthRequired(_) => http(server, phase, StatusCode::UNAUTHORIZED),
        HttpError::InsufficientScope(_) => http(server, phase, StatusCode::FORBIDDEN),
        HttpError::SessionExpired => http(server, phase, StatusCode::NOT_FOUND),
        HttpError::ResponseBodyTooLarge { max_size } => McpError::TooLarge {
            server: s(),
            phase,
            limit: *max_size,
        },
        HttpError::UnexpectedServerResponse(text) => match leading_status(text) {
            Some(status) => http(server, phase, status),
            None => protocol(server, phase, text.to_string()),
        },
        HttpError::UnexpectedEndOfStream | HttpError::TransportChannelClosed => McpError::Closed {
            server: s(),
            phase,
            detail: e.to_string(),
        },
        HttpError::Io(_) => McpError::Closed {
            server: s(),
            phase,
            detail: e.to_string(),
        },
        HttpError::Sse(_) if mentions_too_large(e) => McpError::TooLarge {
            server: s(),
            phase,
            limit: 0,
        },
        // Transport-level wrappers whose cause is deeper in the chain.
        HttpError::Sse(_) => return None,
        other => protocol(server, phase, other.to_string()),
    })
}

fn reqwest_error(server: &str, phase: Phase, e: &reqwest::Error) -> McpError {
    if let Some(status) = e.status() {
        return http(server, phase, status);
    }
    // reqwest's Display may include the URL; it never includes header values.
    let detail = without_url(e);
    if e.is_connect() || (e.is_request() && !e.is_body()) {
        McpError::Connect {
            server: server.into(),
            phase,
            detail,
        }
    } else if e.is_body() || e.is_decode() {
        McpError::Closed {
            server: server.into(),
            phase,
            detail,
        }
    } else {
        McpError::Connect {
            server: server.into(),
            phase,
            detail,
        }
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut parts = vec![];
    let mut current: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = current {
        let text = if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            // Print reqwest's own kind without the URL.
            let mut r2 = String::new();
            if r.is_connect() {
                r2.push_str("connection failed");
            } else if r.is_timeout() {
                r2.push_str("timed out");
            } else if r.is_body() {
                r2.push_str("response body failed");
            } else if r.is_decode() {
                r2.push_str("could not decode response");
            } else {
                r2.push_str("request failed");
            }
            r2
        } else {
            c.to_string()
        };
        if !parts.contains(&text) {
            parts.push(text);
        }
        current = c.source();
    }
    parts.join(": ")
}

fn fallback(server: &str, phase: Phase, err: &(dyn StdError + 'static)) -> McpError {
    let mut text = String::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(c) = current {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c.to_string());
        current = c.source();
    }
    if text.contains("too large") || text.contains("exceeded the maximum size") {
        return McpError::TooLarge {
            server: server.into(),
            phase,
            limit: 0,
        };
    }
    protocol(server, phase, text)
}

fn mentions_too_large(e: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = current {
        let text = c.to_string();
        if text.contains("too large") || text.contains("exceeded the maximum size") {
            return true;
        }
        current = c.source();
    }
    false
}

/// rmcp reports unexpected 4xx as `"HTTP 404 Not Found: <body>"`.
fn leading_status(text: &str) -> Option<StatusCode> {
    let rest = text.strip_prefix("HTTP ")?;
    let code = rest.get(..3)?;
    StatusCode::from_bytes(code.as_bytes()).ok()
}

fn http(server: &str, phase: Phase, status: StatusCode) -> McpError {
    McpError::Http {
        server: server.into(),
        phase,
        status,
    }
}

fn protocol(server: &str, phase: Phase, detail: String) -> McpError {
    McpError::Protocol {
        server: server.into(),
        phase,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_from_rmcp_text() {
        assert_eq!(
            leading_status("HTTP 405 Method Not Allowed: x"),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(leading_status("nope"), None);
    }

    #[test]
    fn unexpected_404_becomes_http_error() {
        let e: HttpError =
            StreamableHttpError::UnexpectedServerResponse("HTTP 404 Not Found: gone".into());
        let err = chain("crm", Phase::Initialize, &e);
        assert_eq!(
            err.to_string(),
            "MCP server 'crm' answered 404 Not Found to initialize"
        );
    }
}
