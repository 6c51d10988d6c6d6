//! Accumulates streamed chat-completion chunks (text deltas, tool-call deltas by index,
//! the final usage chunk) into one `ChatResponse`, within a byte bound.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::decode::{
    WireFunction, WireUsage, arguments_text, assemble, error_message, fallback_call_id,
};
use crate::{ChatResponse, LlmError, ToolCall, Usage};

#[derive(Deserialize)]
struct Chunk<'a> {
    /// Borrowed: every chunk names the model, which is kept once.
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Folds stream chunks into a response.
pub(crate) struct StreamAccumulator {
    content: String,
    calls: BTreeMap<u64, PartialCall>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    model: Option<String>,
    max_bytes: usize,
}

impl StreamAccumulator {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            content: String::new(),
            calls: BTreeMap::new(),
            usage: None,
            finish_reason: None,
            model: None,
            max_bytes,
        }
    }

    /// Applies one `data:` payload (JSON text, not `[DONE]`).
    pub(crate) fn apply(&mut self, data: &str) -> Result<(), LlmError> {
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            LlmError::InvalidResponse(format!("a stream chunk is not valid JSON: {e}"))
        })?;
        if let Some(error) = &chunk.error {
            return Err(LlmError::InvalidResponse(format!(
                "the server reported an error mid-stream: {}",
                error_message(error)
            )));
        }
        if let Some(model) = chunk.model.filter(|m| !m.is_empty())
            && self.model.as_deref() != Some(model.as_ref())
        {
            self.model = Some(model.into_owned());
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into());
        }
        // Only the first choice is asked for (n = 1); ignore any other.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
            let Some(delta) = choice.delta else { continue };
            if let Some(text) = delta.content {
                self.content.push_str(&text);
            }
            for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let index = call.index.unwrap_or(position as u64);
                let partial = self.calls.entry(index).or_default();
                if let Some(id) = call.id.filter(|id| !id.is_empty())
                    && partial.id.is_empty()
                {
                    partial.id = id;
                }
                if let Some(function) = call.function {
                    if let Some(name) = function.name.filter(|n| !n.is_empty())
                        && partial.name.is_empty()
                    {
                        partial.name = name;
                    }
                    partial
                        .arguments
                        .push_str(&arguments_text(function.arguments));
                }
            }
            self.check_size()?;
        }
        Ok(())
    }

    fn check_size(&self) -> Result<(), LlmError> {
        let size = self.content.len()
            + self
                .calls
                .values()
                .map(|c| c.arguments.len() + c.name.len() + c.id.len())
                .sum::<usize>();
        if size > self.max_bytes {
            return Err(LlmError::InvalidResponse(format!(
                "the streamed reply exceeds {} bytes",
                self.max_bytes
            )));
        }
        Ok(())
    }

    /// The assembled response.
    pub(crate) fn finish(self, requested_model: &str) -> Result<ChatResponse, LlmError> {
        let tool_calls = self
            .calls
            .into_values()
            .enumerate()
            .map(|(i, c)| ToolCall {
                id: if c.id.is_empty() {
                    fallback_call_id(i)
                } else {
                    c.id
                },
                name: c.name,
                arguments: c.arguments,
            })
            .collect();
        assemble(
            Some(self.content),
            tool_calls,
            self.usage,
            self.finish_reason,
            self.model,
            requested_model,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_text_and_tool_call_deltas() {
        let mut acc = StreamAccumulator::new(1024);
        for data in [
            r#"{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{\"q\""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6}}"#,
        ] {
            acc.apply(data).unwrap();
        }
        let r = acc.finish("req").unwrap();
        assert_eq!(r.model, "m");
        assert_eq!(r.content, None);
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(
            (r.tool_calls[0].id.as_str(), r.tool_calls[0].name.as_str()),
            ("a", "f")
        );
        assert_eq!(r.tool_calls[0].arguments, "{\"q\":1}");
        assert_eq!(r.tool_calls[1].arguments, "{}");
        assert_eq!(r.usage.output_tokens, 6);
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    }

    /// Escaped text is read whole; arguments sent as an object (Ollama) are kept as its JSON;
    /// `null` arguments add nothing.
    #[test]
    fn reads_escaped_text_and_arguments_in_any_form() {
        let mut acc = StreamAccumulator::new(1024);
        for data in [
            r#"{"choices":[{"index":0,"delta":{"content":"line\none \"q\" \u00e9"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"q\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"x\\ny\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":{"k":[1,2]}}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":null}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ] {
            acc.apply(data).unwrap();
        }
        let r = acc.finish("m").unwrap();
        assert_eq!(r.content.as_deref(), Some("line\none \"q\" é"));
        assert_eq!(r.tool_calls[0].arguments, r#"{"q":"x\ny"}"#);
        assert_eq!(
            serde_json::from_str::<Value>(&r.tool_calls[0].arguments).unwrap(),
            serde_json::json!({"q": "x\ny"})
        );
        assert_eq!(r.tool_calls[1].arguments, r#"{"k":[1,2]}"#);
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn bounds_the_reply() {
        let mut acc = StreamAccumulator::new(4);
        let err = acc
            .apply(r#"{"choices":[{"index":0,"delta":{"content":"too long"}}]}"#)
            .unwrap_err();
        assert!(matches!(err, LlmError::InvalidResponse(_)));
    }

    #[test]
    fn reports_errors_sent_in_the_stream() {
        let mut acc = StreamAccumulator::new(1024);
        let err = acc
            .apply(r#"{"error":{"message":"model crashed"}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("model crashed"));
    }
}
