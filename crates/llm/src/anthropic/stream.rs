//! Folds the Messages API's server-sent events (`message_start`, `content_block_start`,
//! `content_block_delta` with `text_delta` / `input_json_delta`, `content_block_stop`,
//! `message_delta`, `message_stop`, `ping`, `error`) into one `ChatResponse`, within a byte
//! bound.

use std::collections::BTreeMap;

use serde_json::Value;

use super::errors::stream_error;
use super::response::{TEXT_BLOCK_SEPARATOR, WireUsage, fallback_id, input_text};
use crate::transport::reply::assemble;
use crate::{ChatResponse, LlmError, ToolCall, Usage};

/// One content block being received.
enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        /// The `input` of `content_block_start` (normally `{}`).
        start_input: Option<Value>,
        /// The concatenated `partial_json` deltas.
        json: String,
    },
    /// Thinking and other blocks that are not part of the answer.
    Other,
}

/// Whether the stream said it was over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    More,
    /// `message_stop` arrived.
    Done,
}

/// Folds stream events into a response.
pub(crate) struct StreamAccumulator {
    blocks: BTreeMap<u64, Block>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    stop_reason: Option<String>,
    model: Option<String>,
    size: usize,
    max_bytes: usize,
}

impl StreamAccumulator {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            blocks: BTreeMap::new(),
            input_tokens: None,
            output_tokens: None,
            stop_reason: None,
            model: None,
            size: 0,
            max_bytes,
        }
    }

    /// Applies one `data:` payload (one event's JSON).
    pub(crate) fn apply(&mut self, data: &str) -> Result<Progress, LlmError> {
        if data.trim().is_empty() {
            return Ok(Progress::More);
        }
        let event: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::InvalidResponse(format!("a stream event is not valid JSON: {e}"))
        })?;
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        match event.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let message = event.get("message").unwrap_or(&Value::Null);
                if let Some(model) = message.get("model").and_then(Value::as_str) {
                    self.model = Some(model.to_owned());
                }
                self.take_usage(message.get("usage"));
            }
            "content_block_start" => {
                let block = event.get("content_block").unwrap_or(&Value::Null);
                let text = |key: &str| {
                    block
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                let new = match block.get("type").and_then(Value::as_str) {
                    Some("text") => Block::Text(text("text")),
                    Some("tool_use") => Block::ToolUse {
                        id: text("id"),
                        name: text("name"),
                        start_input: block.get("input").cloned(),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.grow(match &new {
                    Block::Text(t) => t.len(),
                    Block::ToolUse { id, name, .. } => id.len() + name.len(),
                    Block::Other => 0,
                })?;
                self.blocks.insert(index, new);
            }
            "content_block_delta" => {
                let delta = event.get("delta").unwrap_or(&Value::Null);
                let piece = |key: &str| delta.get(key).and_then(Value::as_str).unwrap_or("");
                let added = match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        // A text delta for a block never started starts it.
                        let block = self
                            .blocks
                            .entry(index)
                            .or_insert_with(|| Block::Text(String::new()));
                        match block {
                            Block::Text(text) => {
                                text.push_str(piece("text"));
                                piece("text").len()
                            }
                            _ => 0,
                        }
                    }
                    Some("input_json_delta") => match self.blocks.get_mut(&index) {
                        Some(Block::ToolUse { json, .. }) => {
                            json.push_str(piece("partial_json"));
                            piece("partial_json").len()
                        }
                        _ => {
                            return Err(LlmError::InvalidResponse(format!(
                                "an input_json_delta arrived for block {index}, which is not a tool_use block"
                            )));
                        }
                    },
                    // thinking_delta, signature_delta, citations_delta, ...
                    _ => 0,
                };
                self.grow(added)?;
            }
            "message_delta" => {
                if let Some(reason) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                self.take_usage(event.get("usage"));
            }
            "message_stop" => return Ok(Progress::Done),
            "error" => {
                return Err(stream_error(event.get("error").unwrap_or(&Value::Null)));
            }
            // ping, content_block_stop, and event types added later.
            _ => {}
        }
        Ok(Progress::More)
    }

    /// Usage counts are running totals: a later event's value replaces an earlier one.
    fn take_usage(&mut self, usage: Option<&Value>) {
        let Some(usage) = usage.and_then(|u| serde_json::from_value::<WireUsage>(u.clone()).ok())
        else {
            return;
        };
        if let Some(input) = usage.input() {
            self.input_tokens = Some(input);
        }
        if let Some(output) = usage.output_tokens {
            self.output_tokens = Some(output);
        }
    }

    fn grow(&mut self, bytes: usize) -> Result<(), LlmError> {
        self.size = self.size.saturating_add(bytes);
        if self.size > self.max_bytes {
            return Err(LlmError::InvalidResponse(format!(
                "the streamed reply exceeds {} bytes",
                self.max_bytes
            )));
        }
        Ok(())
    }

    /// The assembled response.
    pub(crate) fn finish(self, requested_model: &str) -> Result<ChatResponse, LlmError> {
        let mut texts = Vec::new();
        let mut tool_calls = Vec::new();
        for block in self.blocks.into_values() {
            match block {
                Block::Text(text) if !text.is_empty() => texts.push(text),
                Block::ToolUse {
                    id,
                    name,
                    start_input,
                    json,
                } => {
                    let arguments = if json.trim().is_empty() {
                        input_text(start_input.as_ref())
                    } else {
                        json
                    };
                    tool_calls.push(ToolCall {
                        id: fallback_id(&id, tool_calls.len()),
                        name,
                        arguments,
                    });
                }
                _ => {}
            }
        }
        let content = (!texts.is_empty()).then(|| texts.join(TEXT_BLOCK_SEPARATOR));
        let usage = (self.input_tokens.is_some() || self.output_tokens.is_some()).then(|| Usage {
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
        });
        assemble(
            content,
            tool_calls,
            usage,
            self.stop_reason,
            self.model,
            requested_model,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_text_and_tool_input_deltas() {
        let mut acc = StreamAccumulator::new(1024);
        let events = [
            r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"usage":{"input_tokens":20,"cache_read_input_tokens":5,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"search","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"q\": \"ru"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"st\"}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_2","name":"now","input":{}}}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}"#,
        ];
        for e in events {
            assert_eq!(acc.apply(e).unwrap(), Progress::More);
        }
        assert_eq!(
            acc.apply(r#"{"type":"message_stop"}"#).unwrap(),
            Progress::Done
        );
        let r = acc.finish("req").unwrap();
        assert_eq!(r.content.as_deref(), Some("Hello"));
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].arguments, r#"{"q": "rust"}"#);
        assert_eq!(r.tool_calls[1].arguments, "{}");
        assert_eq!(r.usage.input_tokens, 25);
        assert_eq!(r.usage.output_tokens, 42);
        assert_eq!(r.finish_reason.as_deref(), Some("tool_use"));
        assert_eq!(r.model, "claude-x");
    }

    #[test]
    fn reports_error_events_and_bounds_the_reply() {
        let mut acc = StreamAccumulator::new(1024);
        let err = acc
            .apply(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
            .unwrap_err();
        assert!(matches!(err, LlmError::Server { status: 529, .. }));

        let mut acc = StreamAccumulator::new(4);
        acc.apply(
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        )
        .unwrap();
        let err = acc
            .apply(r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"too long"}}"#)
            .unwrap_err();
        assert!(matches!(err, LlmError::InvalidResponse(_)));
        assert!(StreamAccumulator::new(4).apply("{not json").is_err());
    }
}
