//! Pieces shared by the streamed and non-streamed response decoders: usage, error objects,
//! tool-call argument normalisation, and the final assembly of a `ChatResponse`.

use serde::Deserialize;
use serde_json::Value;

use crate::{ChatResponse, LlmError, ToolCall, Usage};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens.unwrap_or(0),
            output_tokens: u.completion_tokens.unwrap_or(0),
        }
    }
}

/// The `function` object of a tool call (complete or a stream delta).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireFunction {
    #[serde(default)]
    pub name: Option<String>,
    /// A string normally; some servers (Ollama) send the arguments object itself.
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// Arguments as JSON text, whichever form the server used.
pub(crate) fn arguments_text(arguments: Option<Value>) -> String {
    match arguments {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

/// The message of an `{"error": ...}` object (OpenAI shape, or a bare string).
pub(crate) fn error_message(error: &Value) -> String {
    let text = match error {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o.get("message") {
            Some(Value::String(s)) => s.clone(),
            _ => error.to_string(),
        },
        other => other.to_string(),
    };
    truncate(&text, 500)
}

pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Assembles the response; a reply with neither text nor tool calls is refused.
pub(crate) fn assemble(
    content: Option<String>,
    tool_calls: Vec<ToolCall>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    model: Option<String>,
    requested_model: &str,
) -> Result<ChatResponse, LlmError> {
    let content = content.filter(|c| !c.is_empty());
    if content.is_none() && tool_calls.is_empty() {
        return Err(LlmError::InvalidResponse(format!(
            "the reply has neither text nor tool calls (finish_reason {})",
            finish_reason.as_deref().unwrap_or("missing")
        )));
    }
    Ok(ChatResponse {
        content,
        tool_calls,
        usage: usage.unwrap_or_default(),
        finish_reason,
        model: model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_owned()),
    })
}

/// A call id for servers that send none.
pub(crate) fn fallback_call_id(index: usize) -> String {
    format!("call_{index}")
}
