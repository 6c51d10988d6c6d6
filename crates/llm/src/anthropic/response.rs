//! Decodes a non-streamed Messages API reply (`stream: false`): content blocks, usage, the
//! stop reason and the model, plus the `Usage` mapping the stream decoder shares.

use serde::Deserialize;
use serde_json::Value;

use super::errors::stream_error;
use crate::transport::reply::assemble;
use crate::{ChatResponse, LlmError, ToolCall, Usage};

/// Separator between text blocks of one reply.
pub(crate) const TEXT_BLOCK_SEPARATOR: &str = "\n";

/// `usage` of a message (or the running totals of a `message_delta`).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Input counts every token read, from the cache or not.
    pub(crate) fn input(&self) -> Option<u64> {
        let parts = [
            self.input_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_input_tokens,
        ];
        parts.iter().any(Option::is_some).then(|| {
            parts
                .iter()
                .flatten()
                .fold(0u64, |a, b| a.saturating_add(*b))
        })
    }
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.input().unwrap_or(0),
            output_tokens: u.output_tokens.unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

/// Parses the body of a non-streamed reply.
pub(crate) fn parse(body: &[u8], requested_model: &str) -> Result<ChatResponse, LlmError> {
    let message: Message = serde_json::from_slice(body).map_err(|e| {
        LlmError::InvalidResponse(format!(
            "the body is not an Anthropic message ({e}); check that FORAGE_LLM_BASE_URL points at the Anthropic API (e.g. https://api.anthropic.com)"
        ))
    })?;
    if message.kind.as_deref() == Some("error") || message.error.is_some() {
        return Err(stream_error(message.error.as_ref().unwrap_or(&Value::Null)));
    }
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for block in &message.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(text) = block.get("text").and_then(Value::as_str)
                    && !text.is_empty()
                {
                    texts.push(text);
                }
            }
            Some("tool_use") => tool_calls.push(tool_call(block, tool_calls.len())),
            // thinking, redacted_thinking, server tool blocks: not part of the answer.
            _ => {}
        }
    }
    let content = (!texts.is_empty()).then(|| texts.join(TEXT_BLOCK_SEPARATOR));
    assemble(
        content,
        tool_calls,
        message.usage.map(Into::into),
        message.stop_reason,
        message.model,
        requested_model,
    )
}

fn tool_call(block: &Value, index: usize) -> ToolCall {
    let text = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or("");
    ToolCall {
        id: fallback_id(text("id"), index),
        name: text("name").to_owned(),
        arguments: input_text(block.get("input")),
    }
}

/// The `input` object as JSON text (`{}` when absent).
pub(crate) fn input_text(input: Option<&Value>) -> String {
    match input {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(value) => value.to_string(),
    }
}

/// `id`, or a made-up one for the `index`th call when the server sent none.
pub(crate) fn fallback_id(id: &str, index: usize) -> String {
    if id.is_empty() {
        format!("toolu_{index}")
    } else {
        id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_tool_use_and_cached_usage() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
            "content":[{"type":"thinking","thinking":"hmm","signature":"s"},
                       {"type":"text","text":"Let me look."},
                       {"type":"tool_use","id":"toolu_a","name":"search","input":{"q":"rust"}},
                       {"type":"tool_use","name":"fetch"}],
            "stop_reason":"tool_use","stop_sequence":null,
            "usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":2,"output_tokens":7}}"#;
        let r = parse(body, "req").unwrap();
        assert_eq!(r.content.as_deref(), Some("Let me look."));
        assert_eq!(r.tool_calls[0].arguments, r#"{"q":"rust"}"#);
        assert_eq!(r.tool_calls[1].id, "toolu_1");
        assert_eq!(r.tool_calls[1].arguments, "{}");
        assert_eq!(r.usage.input_tokens, 17);
        assert_eq!(r.usage.output_tokens, 7);
        assert_eq!(r.finish_reason.as_deref(), Some("tool_use"));
        assert_eq!(r.model, "claude-x");
    }

    #[test]
    fn refuses_other_bodies() {
        assert!(matches!(
            parse(b"<html>", "m"),
            Err(LlmError::InvalidResponse(_))
        ));
        let err = parse(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            "m",
        )
        .unwrap_err();
        assert!(matches!(err, LlmError::Server { status: 529, .. }));
        assert!(parse(br#"{"type":"message","content":[]}"#, "m").is_err());
    }
}
