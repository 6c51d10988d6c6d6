//! A run's agent state: what the engine checkpoints after each LLM turn and each tool call, and
//! what a run resumes from after a crash, so that no finished tool call is sent twice.

use forage_api::{McpToolCall, TokenUsage, Warning};
use forage_llm::{ChatMessage, ToolCall};
use serde::{Deserialize, Serialize};

/// Everything the agent loop needs to carry on from where it stopped.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunState {
    /// The conversation so far (system prompt included).
    pub messages: Vec<ChatMessage>,
    /// Every finished MCP tool call, in the model's order.
    pub trace: Vec<McpToolCall>,
    /// Full texts the tools returned (citations are checked against them).
    pub sources: Vec<String>,
    pub warnings: Vec<Warning>,
    pub usage: TokenUsage,
    pub tool_calls_used: u32,
    /// LLM replies handled so far.
    pub turn: u32,
    pub repairs: u32,
    pub told_to_answer: bool,
    /// Whether the run's MCP servers were discovered and announced.
    pub discovered: bool,
    /// The tool calls of the last LLM reply while they run.
    pub batch: Option<Batch>,
    /// The model's accepted final answer (the run only has to be recorded).
    pub final_answer: Option<String>,
}

/// The tool calls of one LLM reply: those to make, those refused, and how far they got.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Batch {
    /// Calls to make, in the model's order.
    pub calls: Vec<ToolCall>,
    /// Calls refused because the tool-call budget is used up.
    pub refused: Vec<ToolCall>,
    /// Ids of the calls announced as started (`tool_call.started` events).
    pub started: Vec<String>,
    /// Calls that finished, in the order they finished.
    pub finished: Vec<CallOutcome>,
}

impl Batch {
    /// The calls that have no result yet.
    pub fn unfinished(&self) -> Vec<ToolCall> {
        self.calls
            .iter()
            .filter(|call| !self.finished.iter().any(|done| done.call_id == call.id))
            .cloned()
            .collect()
    }
}

/// What one tool call produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CallOutcome {
    pub call_id: String,
    /// The trace entry, when the call reached (or was meant for) an MCP server.
    pub trace: Option<McpToolCall>,
    /// The reply to the model for this call id.
    pub message: ChatMessage,
    /// The full text the tool returned (for citation checks), if it succeeded.
    pub source_text: Option<String>,
}
