//! Renders the fake's replies in the OpenAI wire format: a chat completion, the SSE chunk
//! sequence of a streamed one, and OpenAI-style error bodies.

use serde_json::{Value, json};

use super::script::PlannedCall;

/// Token counts reported for a reply.
#[derive(Debug, Clone, Copy)]
pub struct Tokens {
    pub prompt: u64,
    pub completion: u64,
}

impl Tokens {
    /// About four characters a token.
    pub fn estimate(request_chars: usize, content: Option<&str>, calls: &[PlannedCall]) -> Self {
        let reply_chars = content.map_or(0, str::len)
            + calls
                .iter()
                .map(|c| c.name.len() + c.arguments.len())
                .sum::<usize>();
        Tokens {
            prompt: (request_chars as u64 / 4).max(1),
            completion: (reply_chars as u64 / 4).max(1),
        }
    }

    fn json(self) -> Value {
        json!({
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
        })
    }
}

/// What every rendering needs.
pub struct Reply<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub content: Option<&'a str>,
    pub calls: &'a [PlannedCall],
    pub tokens: Tokens,
}

impl Reply<'_> {
    fn finish_reason(&self) -> &'static str {
        if self.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }
    }

    /// The body of a non-streamed completion.
    pub fn completion(&self) -> Value {
        let mut message = json!({ "role": "assistant", "content": self.content });
        if !self.calls.is_empty() {
            message["tool_calls"] = self
                .calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": { "name": c.name, "arguments": c.arguments },
                    })
                })
                .collect();
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": self.finish_reason(),
            }],
            "usage": self.tokens.json(),
        })
    }

    /// The SSE events of a streamed completion, each a complete `data: ...\n\n`; the first
    /// is the role chunk, the last `data: [DONE]`. Text and tool-call arguments are split
    /// over several chunks, as real servers do.
    pub fn stream_events(&self, include_usage: bool) -> Vec<String> {
        let mut chunks = vec![self.chunk(json!({"role": "assistant", "content": ""}), None)];
        if let Some(content) = self.content {
            for piece in pieces(content, 16) {
                chunks.push(self.chunk(json!({ "content": piece }), None));
            }
        }
        for (index, call) in self.calls.iter().enumerate() {
            chunks.push(self.chunk(
                json!({"tool_calls": [{
                    "index": index,
                    "id": call.id,
                    "type": "function",
                    "function": { "name": call.name, "arguments": "" },
                }]}),
                None,
            ));
            let size = call.arguments.len().div_ceil(3).max(1);
            for piece in pieces(&call.arguments, size) {
                chunks.push(self.chunk(
                    json!({"tool_calls": [{ "index": index, "function": { "arguments": piece } }]}),
                    None,
                ));
            }
        }
        chunks.push(self.chunk(json!({}), Some(self.finish_reason())));
        let mut events: Vec<String> = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        if include_usage {
            let usage = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self.tokens.json(),
            });
            events.push(format!("data: {usage}\n\n"));
        }
        events.push("data: [DONE]\n\n".to_owned());
        events
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        })
    }
}

/// `text` cut into pieces of about `size` bytes, on character boundaries.
pub(super) fn pieces(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + size).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

/// An OpenAI-style error body.
pub fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        429 => "rate_limit_exceeded",
        401 | 403 => "authentication_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    json!({ "error": { "message": message, "type": kind, "param": null, "code": null } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_respect_char_boundaries() {
        let text = "héllo wörld ünïcode";
        let joined: String = pieces(text, 3).concat();
        assert_eq!(joined, text);
        assert!(pieces("", 3).is_empty());
    }

    #[test]
    fn streams_tool_calls_in_several_chunks() {
        let calls = vec![PlannedCall {
            id: "c".into(),
            name: "f".into(),
            arguments: r#"{"q":"some query"}"#.into(),
        }];
        let reply = Reply {
            id: "x",
            created: 0,
            model: "m",
            content: None,
            calls: &calls,
            tokens: Tokens {
                prompt: 1,
                completion: 1,
            },
        };
        let events = reply.stream_events(true);
        let arg_chunks = events
            .iter()
            .filter(|e| e.contains("\"arguments\"") && !e.contains("\"name\""))
            .count();
        assert!(arg_chunks >= 2, "{events:?}");
        assert!(events[events.len() - 2].contains("\"usage\""));
        assert_eq!(events.last().unwrap(), "data: [DONE]\n\n");
    }
}
