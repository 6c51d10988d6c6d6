//! Renders the fake's replies in the OpenAI wire format: a chat completion, the SSE chunk
//! sequence of a streamed one, and OpenAI-style error bodies.

use serde::Serialize;
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
        let mut events = vec![self.event(Delta {
            role: Some("assistant"),
            content: Some(""),
            ..Delta::default()
        })];
        if let Some(content) = self.content {
            for piece in pieces(content, 16) {
                events.push(self.event(Delta {
                    content: Some(piece),
                    ..Delta::default()
                }));
            }
        }
        for (index, call) in self.calls.iter().enumerate() {
            events.push(self.event(Delta::call(CallDelta {
                index,
                id: Some(&call.id),
                kind: Some("function"),
                function: FunctionDelta {
                    name: Some(&call.name),
                    arguments: "",
                },
            })));
            let size = call.arguments.len().div_ceil(3).max(1);
            for piece in pieces(&call.arguments, size) {
                events.push(self.event(Delta::call(CallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments: piece,
                    },
                })));
            }
        }
        events.push(self.event_ending(Delta::default(), Some(self.finish_reason())));
        if include_usage {
            events.push(sse_event(&Chunk {
                choices: &[],
                usage: Some(UsageOut::of(self.tokens)),
                ..self.chunk_head()
            }));
        }
        events.push("data: [DONE]\n\n".to_owned());
        events
    }

    /// The event of a chunk carrying `delta`, with no finish reason.
    fn event(&self, delta: Delta<'_>) -> String {
        self.event_ending(delta, None)
    }

    /// The event of a chunk carrying `delta` and `finish_reason`.
    fn event_ending(&self, delta: Delta<'_>, finish_reason: Option<&str>) -> String {
        sse_event(&Chunk {
            choices: &[Choice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }],
            ..self.chunk_head()
        })
    }

    /// The fields every chunk repeats; no choices, no usage.
    fn chunk_head(&self) -> Chunk<'_> {
        Chunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model,
            choices: &[],
            usage: None,
        }
    }
}

/// `data: <chunk as JSON>\n\n`.
fn sse_event(chunk: &Chunk<'_>) -> String {
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut out, chunk).expect("a chunk encodes");
    out.extend_from_slice(b"\n\n");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// One streamed chunk (`chat.completion.chunk`), encoded from borrowed parts: the fake
/// renders tens of them per reply.
#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [Choice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOut>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    delta: Delta<'a>,
    /// Always `null`.
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[CallDelta<'a>; 1]>,
}

impl<'a> Delta<'a> {
    fn call(call: CallDelta<'a>) -> Self {
        Delta {
            tool_calls: Some([call]),
            ..Delta::default()
        }
    }
}

#[derive(Serialize)]
struct CallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

impl UsageOut {
    fn of(tokens: Tokens) -> Self {
        UsageOut {
            prompt_tokens: tokens.prompt,
            completion_tokens: tokens.completion,
            total_tokens: tokens.prompt + tokens.completion,
        }
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
    fn stream_chunks_have_the_openai_shape() {
        let calls = vec![PlannedCall {
            id: "c1".into(),
            name: "f".into(),
            arguments: r#"{"q":1}"#.into(),
        }];
        let reply = Reply {
            id: "x",
            created: 7,
            model: "m",
            content: Some("hi"),
            calls: &calls,
            tokens: Tokens {
                prompt: 3,
                completion: 4,
            },
        };
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "x", "object": "chat.completion.chunk", "created": 7, "model": "m",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        };
        let call = |function: Value, head: bool| {
            let mut call = json!({"index": 0, "function": function});
            if head {
                call["id"] = json!("c1");
                call["type"] = json!("function");
            }
            json!({"tool_calls": [call]})
        };
        let mut expected = vec![
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": "hi"}), Value::Null),
            chunk(
                call(json!({"name": "f", "arguments": ""}), true),
                Value::Null,
            ),
        ];
        for piece in pieces(r#"{"q":1}"#, 3) {
            expected.push(chunk(call(json!({"arguments": piece}), false), Value::Null));
        }
        expected.push(chunk(json!({}), json!("tool_calls")));
        expected.push(
            json!({"id": "x", "object": "chat.completion.chunk", "created": 7,
            "model": "m", "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}),
        );
        let events = reply.stream_events(true);
        let (done, chunks) = events.split_last().unwrap();
        assert_eq!(done, "data: [DONE]\n\n");
        let parsed: Vec<Value> = chunks
            .iter()
            .map(|e| {
                let data = e
                    .strip_prefix("data: ")
                    .unwrap()
                    .strip_suffix("\n\n")
                    .unwrap();
                serde_json::from_str(data).unwrap()
            })
            .collect();
        assert_eq!(parsed, expected);
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
