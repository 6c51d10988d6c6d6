//! A run's agent state: what the engine checkpoints after each LLM turn and each tool call, and
//! what a run resumes from after a crash, so that no finished tool call is sent twice.

use forage_api::{McpToolCall, TokenUsage, Warning};
use forage_llm::{ChatMessage, ToolCall};
use serde::{Deserialize, Serialize};

use crate::sources::Source;

/// Everything the agent loop needs to carry on from where it stopped.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunState {
    /// The conversation so far (system prompt included).
    pub messages: Vec<ChatMessage>,
    /// Every finished MCP tool call, in the model's order.
    pub trace: Vec<McpToolCall>,
    /// What the run read: tool outputs, pages and search results (citations are checked
    /// against them).
    #[serde(default, deserialize_with = "crate::sources::deserialize_sources")]
    pub sources: Vec<Source>,
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
    /// Whether the research plan was asked for (processors that plan first).
    #[serde(default)]
    pub planned: bool,
    /// Whether the model was asked to check its answer against its sources.
    #[serde(default)]
    pub self_checked: bool,
    /// The acceptable answer given before the self-check; it stands if the checked one fails.
    #[serde(default)]
    pub draft_answer: Option<String>,
    /// URLs `web_fetch` read (the page budget counts them, across a restart too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetched_pages: Vec<String>,
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
    /// What the call read (for citation checks): an MCP tool's full output, a fetched page,
    /// search results. Older checkpoints hold a tool's output as a plain string.
    #[serde(
        default,
        alias = "source_text",
        deserialize_with = "crate::run_state::deserialize_read"
    )]
    pub read: Vec<Source>,
    /// What to tell watchers when the call finishes (built-in tools, which have no trace entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl CallOutcome {
    /// Whether the tool answered: an MCP server replied (with a result or a tool error), or a
    /// built-in tool read something. A call cut short, refused or failed on the way did not.
    pub fn answered(&self) -> bool {
        self.trace
            .as_ref()
            .is_some_and(|trace| trace.content_bytes.is_some())
            || !self.read.is_empty()
    }
}

/// `read` of a call outcome: a list of sources, or (older checkpoints) one tool output or null.
pub fn deserialize_read<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Source>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Nothing(()),
        Text(String),
        #[serde(deserialize_with = "crate::sources::deserialize_sources")]
        List(Vec<Source>),
    }
    Ok(match Stored::deserialize(deserializer)? {
        Stored::Nothing(()) => Vec::new(),
        Stored::Text(text) => vec![Source::tool_output(text)],
        Stored::List(list) => list,
    })
}
