//! The fake's Anthropic Messages dialect: reads a `POST /v1/messages` body into the
//! OpenAI-shaped request the script understands, and renders its reply as an Anthropic
//! message (content blocks `text` / `tool_use`, `stop_reason`, `usage`), as the event
//! sequence of a streamed one, or as an Anthropic error body.
//!
//! Anthropic has no `response_format`: the answer schema is taken from the last
//! ```` ```json ```` block of `system` that holds a JSON object, which is how forage's
//! Anthropic provider asks for structured output.

use serde_json::{Map, Value, json};

use super::render::{Tokens, pieces};
use super::script::PlannedCall;

/// The request as an OpenAI chat-completions body (what `Conversation::from_body` reads).
pub fn to_openai_body(body: &Value) -> Value {
    let system = text_of(body.get("system"));
    let mut messages = Vec::new();
    if !system.is_empty() {
        messages.push(json!({ "role": "system", "content": system }));
    }
    for message in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let blocks = blocks_of(message.get("content"));
        match role {
            "assistant" => {
                let text = joined_text(&blocks);
                let calls: Vec<Value> = blocks
                    .iter()
                    .filter(|b| b["type"] == "tool_use")
                    .map(|b| {
                        json!({
                            "id": b["id"],
                            "type": "function",
                            "function": { "name": b["name"], "arguments": b["input"].to_string() },
                        })
                    })
                    .collect();
                let mut m = json!({ "role": "assistant", "content": text });
                if !calls.is_empty() {
                    m["tool_calls"] = Value::Array(calls);
                }
                messages.push(m);
            }
            _ => {
                for result in blocks.iter().filter(|b| b["type"] == "tool_result") {
                    messages.push(json!({
                        "role": "tool",
                        "tool_call_id": result["tool_use_id"],
                        "content": text_of(result.get("content")),
                    }));
                }
                let text = joined_text(&blocks);
                if !text.is_empty() {
                    messages.push(json!({ "role": role, "content": text }));
                }
            }
        }
    }
    let tools: Vec<Value> = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            json!({
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t["description"],
                    "parameters": t.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"})),
                },
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert(
        "model".into(),
        body.get("model").cloned().unwrap_or(Value::Null),
    );
    out.insert("messages".into(), Value::Array(messages));
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(schema) = schema_in(&system) {
        out.insert(
            "response_format".into(),
            json!({ "type": "json_schema", "json_schema": { "name": "answer", "schema": schema } }),
        );
    }
    out.insert(
        "stream".into(),
        json!(body.get("stream").and_then(Value::as_bool).unwrap_or(false)),
    );
    Value::Object(out)
}

/// Content as a list of blocks (a string is one text block).
fn blocks_of(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(s)) => vec![json!({ "type": "text", "text": s })],
        Some(Value::Array(blocks)) => blocks.clone(),
        _ => Vec::new(),
    }
}

/// The text blocks of a content list, joined.
fn joined_text(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Text of a `system` or `tool_result` content: a string or a list of text blocks.
fn text_of(content: Option<&Value>) -> String {
    joined_text(&blocks_of(content))
}

/// The last ```` ```json ```` block of `text` holding a JSON object.
fn schema_in(text: &str) -> Option<Value> {
    text.split("```json")
        .skip(1)
        .filter_map(|after| {
            let body = after.split("```").next()?;
            serde_json::from_str::<Value>(body.trim())
                .ok()
                .filter(Value::is_object)
        })
        .last()
}

/// What every rendering needs.
pub struct AnthropicReply<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub content: Option<&'a str>,
    pub calls: &'a [PlannedCall],
    pub tokens: Tokens,
}

impl AnthropicReply<'_> {
    fn stop_reason(&self) -> &'static str {
        if self.calls.is_empty() {
            "end_turn"
        } else {
            "tool_use"
        }
    }

    fn blocks(&self) -> Vec<Value> {
        let mut blocks = Vec::new();
        if let Some(text) = self.content {
            blocks.push(json!({ "type": "text", "text": text }));
        }
        for call in self.calls {
            blocks.push(json!({
                "type": "tool_use",
                "id": call_id(call),
                "name": call.name,
                "input": input_of(call),
            }));
        }
        blocks
    }

    /// The body of a non-streamed reply.
    pub fn message(&self) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks(),
            "stop_reason": self.stop_reason(),
            "stop_sequence": null,
            "usage": {
                "input_tokens": self.tokens.prompt,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": self.tokens.completion,
            },
        })
    }

    /// The SSE events of a streamed reply, each a complete `event: …\ndata: …\n\n`; the
    /// first is `message_start`, the last `message_stop`. Text and tool input are split over
    /// several deltas, as Anthropic does.
    pub fn stream_events(&self) -> Vec<String> {
        let mut events = vec![event(json!({
            "type": "message_start",
            "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": self.tokens.prompt, "output_tokens": 1 },
            },
        }))];
        events.push(event(json!({ "type": "ping" })));
        let mut index = 0;
        if let Some(text) = self.content {
            events.push(event(json!({
                "type": "content_block_start", "index": index,
                "content_block": { "type": "text", "text": "" },
            })));
            for piece in pieces(text, 16) {
                events.push(event(json!({
                    "type": "content_block_delta", "index": index,
                    "delta": { "type": "text_delta", "text": piece },
                })));
            }
            events.push(event(
                json!({ "type": "content_block_stop", "index": index }),
            ));
            index += 1;
        }
        for call in self.calls {
            events.push(event(json!({
                "type": "content_block_start", "index": index,
                "content_block": { "type": "tool_use", "id": call_id(call), "name": call.name, "input": {} },
            })));
            let input = input_of(call).to_string();
            let size = input.len().div_ceil(3).max(1);
            for piece in std::iter::once("").chain(pieces(&input, size)) {
                events.push(event(json!({
                    "type": "content_block_delta", "index": index,
                    "delta": { "type": "input_json_delta", "partial_json": piece },
                })));
            }
            events.push(event(
                json!({ "type": "content_block_stop", "index": index }),
            ));
            index += 1;
        }
        events.push(event(json!({
            "type": "message_delta",
            "delta": { "stop_reason": self.stop_reason(), "stop_sequence": null },
            "usage": { "output_tokens": self.tokens.completion },
        })));
        events.push(event(json!({ "type": "message_stop" })));
        events
    }
}

/// `event: TYPE\ndata: JSON\n\n`.
fn event(data: Value) -> String {
    let kind = data["type"].as_str().unwrap_or("message").to_owned();
    format!("event: {kind}\ndata: {data}\n\n")
}

fn call_id(call: &PlannedCall) -> String {
    format!("toolu_{}", call.id)
}

/// The call's arguments as the `input` object (`{}` unless they are one).
fn input_of(call: &PlannedCall) -> Value {
    serde_json::from_str::<Value>(&call.arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

/// An Anthropic error body.
pub fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({ "type": "error", "error": { "type": kind, "message": message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_blocks_tool_results_and_the_schema() {
        let body = json!({
            "model": "claude-test",
            "max_tokens": 100,
            "system": "Be brief.\n```json\n{\"type\": \"object\", \"required\": [\"a\"]}\n```",
            "messages": [
                {"role": "user", "content": "Q [[fake:no_tools]]"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "looking"},
                    {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "x"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "found"}]},
                    {"type": "text", "text": "now answer"}
                ]}
            ],
            "tools": [{"name": "search", "description": "d", "input_schema": {"type": "object"}}],
            "stream": true
        });
        let out = to_openai_body(&body);
        let messages = out["messages"].as_array().unwrap();
        assert_eq!(messages[0]["role"], "system");
        assert_eq!(
            messages[2]["tool_calls"][0]["function"]["arguments"],
            r#"{"q":"x"}"#
        );
        assert_eq!(messages[3]["role"], "tool");
        assert_eq!(messages[3]["content"], "found");
        assert_eq!(messages[4]["content"], "now answer");
        assert_eq!(out["tools"][0]["function"]["name"], "search");
        assert_eq!(
            out["response_format"]["json_schema"]["schema"]["required"][0],
            "a"
        );
        assert_eq!(out["stream"], true);
    }

    #[test]
    fn renders_messages_and_events() {
        let calls = vec![PlannedCall {
            id: "call_t0_0".into(),
            name: "search".into(),
            arguments: r#"{"q":"some query"}"#.into(),
        }];
        let reply = AnthropicReply {
            id: "msg_1",
            model: "m",
            content: None,
            calls: &calls,
            tokens: Tokens {
                prompt: 3,
                completion: 4,
            },
        };
        let message = reply.message();
        assert_eq!(message["stop_reason"], "tool_use");
        assert_eq!(message["content"][0]["input"]["q"], "some query");
        let events = reply.stream_events();
        assert!(events[0].starts_with("event: message_start\ndata: "));
        assert!(events.last().unwrap().contains("message_stop"));
        let deltas = events
            .iter()
            .filter(|e| e.contains("input_json_delta"))
            .count();
        assert!(deltas >= 3, "{events:?}");
    }
}
