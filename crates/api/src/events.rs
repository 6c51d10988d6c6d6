//! What happens during a run, as recorded in its event log (persisted, then streamed).

use serde::{Deserialize, Serialize};

use crate::output::McpToolCall;
use crate::run::{RunStatus, Warning};

/// The category of a progress message, as Parallel names them (`task_run.progress_msg.<kind>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressKind {
    Plan,
    Search,
    Result,
    ToolCall,
    ExecStatus,
    Extract,
}

/// One entry of a run's event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run changed status.
    Status { status: RunStatus },
    /// A human-readable progress line.
    Progress {
        progress: ProgressKind,
        message: String,
    },
    /// The agent started a tool call.
    ToolCallStarted {
        tool_call_id: String,
        server_name: String,
        tool_name: String,
        arguments: String,
    },
    /// A tool call ended, successfully or not (the full trace entry).
    ToolCallFinished { call: McpToolCall },
    /// One LLM turn ended.
    LlmTurn {
        turn: u32,
        input_tokens: u64,
        output_tokens: u64,
        duration_ms: u64,
        tool_calls: u32,
    },
    /// A non-fatal problem (an MCP server that could not be listed, a budget hit).
    Warning { warning: Warning },
}
