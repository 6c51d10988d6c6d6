//! `McpError`: every way talking to an MCP server can fail, naming the server and the phase.
//!
//! Messages never carry header values: nothing here is built from a request's headers.

use std::{fmt, time::Duration};

/// What the client was doing when something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Initialize,
    List,
    Call,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Initialize => "initialize",
            Phase::List => "tools/list",
            Phase::Call => "tools/call",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The server could not be reached (DNS, TCP, TLS, refused by the network guard).
    #[error("could not connect to MCP server '{server}' during {phase}: {detail}")]
    Connect {
        server: String,
        phase: Phase,
        detail: String,
    },
    /// The server answered with an HTTP error status.
    #[error("MCP server '{server}' answered {status} to {phase}")]
    Http {
        server: String,
        phase: Phase,
        status: reqwest::StatusCode,
    },
    /// The phase did not finish in time.
    #[error("MCP server '{server}' did not finish {phase} within {after:?}")]
    Timeout {
        server: String,
        phase: Phase,
        after: Duration,
    },
    /// The server broke the protocol (malformed JSON-RPC, unexpected reply, bad stream).
    #[error("MCP server '{server}' broke the protocol during {phase}: {detail}")]
    Protocol {
        server: String,
        phase: Phase,
        detail: String,
    },
    /// The server answered the request with a JSON-RPC error.
    #[error("MCP server '{server}' returned error {code} to {phase}: {message}")]
    Rpc {
        server: String,
        phase: Phase,
        code: i32,
        message: String,
    },
    /// A response was larger than the configured bound.
    #[error("MCP server '{server}' sent a response larger than {limit} bytes during {phase}")]
    TooLarge {
        server: String,
        phase: Phase,
        limit: usize,
    },
    /// The caller cancelled the request.
    #[error("call to MCP server '{server}' was cancelled during {phase}")]
    Cancelled { server: String, phase: Phase },
    /// The connection is gone (server dropped it, or the client was closed).
    #[error("connection to MCP server '{server}' closed during {phase}: {detail}")]
    Closed {
        server: String,
        phase: Phase,
        detail: String,
    },
    /// The tool is not in the server's `allowed_tools`.
    #[error("tool '{tool}' is not allowed on MCP server '{server}'")]
    NotAllowed { server: String, tool: String },
    /// The task's server description is unusable (bad header name or value, bad URL).
    #[error("MCP server '{server}' is misconfigured: {detail}")]
    Config { server: String, detail: String },
}

impl McpError {
    /// The server label this error is about.
    pub fn server(&self) -> &str {
        match self {
            McpError::Connect { server, .. }
            | McpError::Http { server, .. }
            | McpError::Timeout { server, .. }
            | McpError::Protocol { server, .. }
            | McpError::Rpc { server, .. }
            | McpError::TooLarge { server, .. }
            | McpError::Cancelled { server, .. }
            | McpError::Closed { server, .. }
            | McpError::NotAllowed { server, .. }
            | McpError::Config { server, .. } => server,
        }
    }

    /// True for failures a retry on a fresh connection may cure.
    pub fn is_transient(&self) -> bool {
        match self {
            McpError::Connect { .. } | McpError::Timeout { .. } | McpError::Closed { .. } => true,
            McpError::Http { status, .. } => {
                status.is_server_error() || *status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }
}
