//! Reads tool calls out of a model's reply text written in the prompt-level protocol:
//! `<tool_call>{"name": …, "arguments": {…}}</tool_call>` blocks become `ToolCall`s, text
//! around them stays the reply's content, and a block that cannot be read stays text.

use serde_json::{Map, Value};

use super::render::{CALL_CLOSE, CALL_OPEN};
use crate::ToolCall;

/// A reply split into its text and its tool calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedReply {
    /// Text outside the call blocks (and any malformed block), trimmed; `None` when empty.
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

/// Splits `text`, the reply of assistant turn `turn` (0-based), into text and calls. Call
/// ids are `call_{turn}_{n}`: the same for the same reply, unique within a conversation.
pub fn parse_reply(text: &str, turn: usize) -> ParsedReply {
    let mut content = String::new();
    let mut calls: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(CALL_OPEN) {
        content.push_str(&rest[..start]);
        let after = &rest[start + CALL_OPEN.len()..];
        match after.find(CALL_CLOSE) {
            Some(end) => {
                match calls_in(&after[..end]) {
                    Some(found) => calls.extend(found),
                    None => content
                        .push_str(&rest[start..start + CALL_OPEN.len() + end + CALL_CLOSE.len()]),
                }
                rest = &after[end + CALL_CLOSE.len()..];
            }
            None => {
                // An unclosed block (the model stopped early): its first JSON value, if any.
                let body = after.trim_start();
                let body_start = after.len() - body.len();
                let mut values = serde_json::Deserializer::from_str(body).into_iter::<Value>();
                match values.next().and_then(Result::ok).and_then(calls_of) {
                    Some(found) => {
                        calls.extend(found);
                        rest = &after[body_start + values.byte_offset()..];
                    }
                    None => {
                        content.push_str(&rest[start..]);
                        rest = "";
                    }
                }
            }
        }
    }
    content.push_str(rest);
    let content = content.trim();
    ParsedReply {
        content: (!content.is_empty()).then(|| content.to_owned()),
        tool_calls: calls
            .into_iter()
            .enumerate()
            .map(|(n, (name, arguments))| ToolCall {
                id: format!("call_{turn}_{n}"),
                name,
                arguments,
            })
            .collect(),
    }
}

/// The calls of one block's text (a call object, or an array of them), `None` if malformed.
fn calls_in(block: &str) -> Option<Vec<(String, String)>> {
    let text = strip_fence(block.trim());
    calls_of(serde_json::from_str(text).ok()?)
}

fn calls_of(value: Value) -> Option<Vec<(String, String)>> {
    match value {
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::Object(object) => call_of(object),
                _ => None,
            })
            .collect(),
        Value::Object(object) => Some(vec![call_of(object)?]),
        _ => None,
    }
}

/// `(name, arguments as JSON text)` of `{"name": …, "arguments": {…}}` (`parameters` and
/// `input` accepted for `arguments`; arguments given as JSON text are read).
fn call_of(mut object: Map<String, Value>) -> Option<(String, String)> {
    let name = match object.remove("name")? {
        Value::String(name) if !name.trim().is_empty() => name.trim().to_owned(),
        _ => return None,
    };
    let arguments = ["arguments", "parameters", "input"]
        .iter()
        .find_map(|key| object.remove(*key))
        .unwrap_or_else(|| Value::Object(Map::new()));
    let arguments = match arguments {
        Value::String(text) if text.trim().is_empty() => Value::Object(Map::new()),
        Value::String(text) => serde_json::from_str(&text).ok()?,
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    arguments.is_object().then(|| (name, arguments.to_string()))
}

/// `text` without a surrounding Markdown code fence.
fn strip_fence(text: &str) -> &str {
    let Some(inner) = text.strip_prefix("```") else {
        return text;
    };
    let inner = inner.strip_suffix("```").unwrap_or(inner);
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    inner.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_several_calls_and_keeps_the_text() {
        let reply = "I'll search.\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"rust\"}}\n</tool_call>\n<tool_call>```json\n{\"name\":\"fetch\",\"arguments\":\"{\\\"url\\\":\\\"https://x\\\"}\"}```</tool_call> then more";
        let r = parse_reply(reply, 2);
        assert_eq!(r.content.as_deref(), Some("I'll search.\n\n then more"));
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].id, "call_2_0");
        assert_eq!(r.tool_calls[0].name, "search");
        assert_eq!(r.tool_calls[0].arguments, r#"{"q":"rust"}"#);
        assert_eq!(r.tool_calls[1].id, "call_2_1");
        assert_eq!(r.tool_calls[1].arguments, r#"{"url":"https://x"}"#);
    }

    #[test]
    fn malformed_blocks_stay_text() {
        for bad in [
            "<tool_call>{not json}</tool_call>",
            "<tool_call>{\"arguments\": {}}</tool_call>",
            "<tool_call>{\"name\": \"x\", \"arguments\": [1]}</tool_call>",
            "<tool_call>[]</tool_call>",
            "<tool_call> just words",
        ] {
            let r = parse_reply(bad, 0);
            assert!(r.tool_calls.is_empty(), "{bad}");
            assert_eq!(r.content.as_deref(), Some(bad.trim()), "{bad}");
        }
    }

    #[test]
    fn reads_unclosed_and_array_blocks() {
        let r = parse_reply("<tool_call>{\"name\": \"a\"} trailing", 0);
        assert_eq!(r.tool_calls[0].arguments, "{}");
        assert_eq!(r.content.as_deref(), Some("trailing"));
        let r = parse_reply(
            "<tool_call>[{\"name\": \"a\"}, {\"name\": \"b\", \"parameters\": {\"x\": 1}}]</tool_call>",
            1,
        );
        assert_eq!(r.content, None);
        assert_eq!(r.tool_calls[1].name, "b");
        assert_eq!(r.tool_calls[1].arguments, r#"{"x":1}"#);
        assert_eq!(parse_reply("", 0), ParsedReply::default());
    }
}
