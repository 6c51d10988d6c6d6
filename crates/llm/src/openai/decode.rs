//! Pieces shared by the streamed and non-streamed response decoders: usage, error objects,
//! tool-call argument normalisation (the final assembly is `transport::reply`).

use serde::Deserialize;
use serde_json::Value;

use crate::Usage;
pub(crate) use crate::transport::reply::{assemble, truncate};

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

/// A call id for servers that send none.
pub(crate) fn fallback_call_id(index: usize) -> String {
    format!("call_{index}")
}
