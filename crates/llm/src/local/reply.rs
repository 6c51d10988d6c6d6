//! Turns the generated text into a [`ChatResponse`]: `{"tool", "arguments"}` becomes one tool
//! call, `{"final": ...}` the content (JSON text, or the string itself for a text answer).
//! Text that does not parse (budget spent mid-reply) is returned as content, for the engine
//! to validate and repair.

use serde_json::Value;

use super::generate::Finish;
use super::schema::{AnswerShape, StepShape};
use crate::{ChatResponse, ToolCall, Usage};

/// The response for `text`, generated under `shape`.
pub(crate) fn response(
    text: &str,
    finish: &Finish,
    shape: &StepShape,
    usage: Usage,
    model: &str,
) -> ChatResponse {
    let mut out = ChatResponse {
        usage,
        model: model.to_string(),
        ..ChatResponse::default()
    };
    let stop = match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::GrammarError(_) => "stop",
    };
    if !shape.is_constrained() {
        out.content = Some(text.trim().to_string());
        out.finish_reason = Some(stop.into());
        return out;
    }
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(mut map)) => {
            if let (Some(Value::String(name)), Some(arguments)) =
                (map.get("tool").cloned(), map.get("arguments"))
                && shape.tools.iter().any(|(n, _)| n == &name)
            {
                out.tool_calls.push(ToolCall {
                    id: format!("call_{}", uuid::Uuid::new_v4().simple()),
                    name,
                    arguments: arguments.to_string(),
                });
                out.finish_reason = Some("tool_calls".into());
                return out;
            }
            if let Some(answer) = map.remove("final") {
                out.content = Some(match (&shape.answer, answer) {
                    (AnswerShape::Text, Value::String(s)) => s,
                    (_, v) => v.to_string(),
                });
                out.finish_reason = Some(stop.into());
                return out;
            }
            out.content = Some(Value::Object(map).to_string());
        }
        _ => out.content = Some(text.trim().to_string()),
    }
    out.finish_reason = Some(stop.into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(answer: AnswerShape) -> StepShape {
        StepShape {
            tools: vec![("lookup".into(), json!({"type": "object"}))],
            answer,
        }
    }

    #[test]
    fn tool_branch_becomes_a_tool_call() {
        let r = response(
            r#"{"tool": "lookup", "arguments": {"q": "x"}}"#,
            &Finish::Stop,
            &shape(AnswerShape::Text),
            Usage::default(),
            "m",
        );
        assert!(r.content.is_none());
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!(r.tool_calls[0].name, "lookup");
        assert!(r.tool_calls[0].id.starts_with("call_"));
        assert_eq!(
            r.tool_calls[0].parsed_arguments().unwrap(),
            json!({"q": "x"})
        );
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn final_branch_becomes_content() {
        let json_shape = shape(AnswerShape::Json(json!({"type": "object"})));
        let r = response(
            r#"{"final": {"a": 1}}"#,
            &Finish::Stop,
            &json_shape,
            Usage::default(),
            "m",
        );
        assert_eq!(r.content.as_deref(), Some(r#"{"a":1}"#));
        let r = response(
            r#"{"final": "plain words"}"#,
            &Finish::Stop,
            &shape(AnswerShape::Text),
            Usage::default(),
            "m",
        );
        assert_eq!(r.content.as_deref(), Some("plain words"));
    }

    #[test]
    fn truncated_text_is_returned_as_content() {
        let r = response(
            r#"{"final": {"a"#,
            &Finish::Length,
            &shape(AnswerShape::Text),
            Usage::default(),
            "m",
        );
        assert_eq!(r.content.as_deref(), Some(r#"{"final": {"a"#));
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
    }
}
