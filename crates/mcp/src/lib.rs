//! forage-mcp: the MCP client forage uses to discover and call tools on remote MCP servers.
//!
//! Built on the official `rmcp` SDK: Streamable HTTP first (with session handling and
//! transparent re-initialisation), falling back to the legacy HTTP+SSE transport for old
//! servers. Per-server headers are secrets and never show in logs, errors or `Debug`.

mod classify;
mod client;
mod connect;
mod direct_call;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod legacy_sse;
mod render;
mod route;
mod spec;
mod sse;
mod tools;

pub use client::McpClient;
pub use error::{McpError, Phase};
pub use render::ToolOutput;
pub use spec::{Limits, ServerSpec, Timeouts, TransportKind};
pub use tools::ToolInfo;
