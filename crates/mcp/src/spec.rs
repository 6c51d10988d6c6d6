//! What a caller tells the client about one MCP server: address, headers, tool filter, bounds.

use std::{fmt, time::Duration};

use forage_api::Secret;

/// Time bounds for the phases of talking to one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connect plus the whole initialize handshake (both transports, when falling back).
    pub connect: Duration,
    /// One `list_tools` call, all pages together.
    pub list: Duration,
    /// Default for one tool call (the engine passes its own to `call_tool`).
    pub call: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            list: Duration::from_secs(15),
            call: Duration::from_secs(60),
        }
    }
}

/// Memory bounds on what one server may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single response (a JSON body or one SSE event); larger is an error.
    pub max_response_bytes: usize,
    /// At most this many `tools/list` pages are followed.
    pub max_list_pages: usize,
    /// At most this many tools are accepted from one server.
    pub max_tools: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_response_bytes: 16 * 1024 * 1024,
            max_list_pages: 100,
            max_tools: 1_000,
        }
    }
}

/// One remote MCP server as supplied with a task.
#[derive(Clone)]
pub struct ServerSpec {
    /// The label the task gave this server (used in errors and logs).
    pub name: String,
    pub url: url::Url,
    /// Sent on every request to this server, and only to it.
    pub headers: Vec<(String, Secret)>,
    /// When set, only these tools are exposed.
    pub allowed_tools: Option<Vec<String>>,
    pub timeouts: Timeouts,
}

impl fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ServerSpec")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("header_names", &header_names)
            .field("allowed_tools", &self.allowed_tools)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// Which MCP transport a connection ended up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The current transport (MCP 2025-03-26 and later).
    StreamableHttp,
    /// The HTTP+SSE transport of MCP 2024-11-05.
    LegacySse,
}
