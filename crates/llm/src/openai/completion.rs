//! Decodes a non-streamed chat completion (`stream: false`).

use serde::Deserialize;
use serde_json::Value;

use super::decode::{
    WireFunction, WireUsage, arguments_text, assemble, error_message, fallback_call_id,
};
use crate::{ChatResponse, LlmError, ToolCall};

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: WireFunction,
}

/// Parses the body of a non-streamed reply.
pub(crate) fn parse(body: &[u8], requested_model: &str) -> Result<ChatResponse, LlmError> {
    let completion: Completion = serde_json::from_slice(body).map_err(|e| {
        LlmError::InvalidResponse(format!(
            "the body is not a chat completion ({e}); check that FORAGE_LLM_BASE_URL points at an OpenAI-compatible API (usually ending in /v1)"
        ))
    })?;
    if let Some(error) = &completion.error {
        return Err(LlmError::InvalidResponse(format!(
            "the server reported an error: {}",
            error_message(error)
        )));
    }
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::InvalidResponse("the completion has no choices".to_owned()))?;
    let message = choice.message.unwrap_or(Message {
        content: None,
        tool_calls: None,
    });
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: c
                .id
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| fallback_call_id(i)),
            name: c.function.name.unwrap_or_default(),
            arguments: arguments_text(c.function.arguments),
        })
        .collect();
    assemble(
        message.content,
        tool_calls,
        completion.usage.map(Into::into),
        choice.finish_reason,
        completion.model,
        requested_model,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_and_tool_calls() {
        let body = br#"{"model":"m1","choices":[{"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},
                          {"type":"function","function":{"name":"g","arguments":{"y":2}}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        let r = parse(body, "req").unwrap();
        assert_eq!(r.model, "m1");
        assert_eq!(r.content, None);
        assert_eq!(r.tool_calls[0].arguments, "{\"x\":1}");
        assert_eq!(r.tool_calls[1].id, "call_1");
        assert_eq!(r.tool_calls[1].arguments, "{\"y\":2}");
        assert_eq!(r.usage.input_tokens, 3);
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn refuses_empty_replies() {
        let body = br#"{"choices":[{"message":{"content":""},"finish_reason":"stop"}]}"#;
        assert!(matches!(
            parse(body, "m"),
            Err(LlmError::InvalidResponse(_))
        ));
    }
}
