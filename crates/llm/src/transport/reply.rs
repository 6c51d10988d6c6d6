//! Final assembly of a `ChatResponse` from decoded parts, shared by every remote provider's
//! decoders, and bounded quoting of server text.

use crate::{ChatResponse, LlmError, ToolCall, Usage};

/// `text` cut to `max_chars` characters (an ellipsis marks the cut).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }

    #[test]
    fn refuses_empty_replies_and_falls_back_to_the_requested_model() {
        assert!(assemble(Some(String::new()), vec![], None, None, None, "m").is_err());
        let r = assemble(
            Some("x".into()),
            vec![],
            None,
            None,
            Some(String::new()),
            "m",
        )
        .unwrap();
        assert_eq!(r.model, "m");
    }
}
