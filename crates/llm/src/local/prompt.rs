//! Renders a conversation into the model's prompt: the tools and the reply format are
//! described in the system message (small models have no native tool calling), tool calls
//! and results become ordinary turns, and the model's chat template formats the whole
//! (llama.cpp's built-in templates, falling back to ChatML).

use std::collections::HashMap;

use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use serde_json::Value;

use super::schema::{AnswerShape, StepShape};
use crate::{ChatMessage, ChatRequest};

/// One rendered turn: role and text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Turn {
    pub role: &'static str,
    pub content: String,
}

/// The turns of `request`, with the reply instructions merged into the system message.
pub(crate) fn turns(request: &ChatRequest, shape: &StepShape) -> Vec<Turn> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    let mut tool_names: HashMap<&str, &str> = HashMap::new();
    for message in &request.messages {
        match message {
            ChatMessage::System { content } => system.push(content.clone()),
            ChatMessage::User { content } => push(&mut turns, "user", content.clone()),
            ChatMessage::Assistant {
                content,
                tool_calls,
            } => {
                let mut parts = Vec::new();
                if let Some(text) = content.as_deref().filter(|t| !t.trim().is_empty()) {
                    parts.push(render_answer(text, shape));
                }
                for call in tool_calls {
                    tool_names.insert(&call.id, &call.name);
                    let arguments = call
                        .parsed_arguments()
                        .unwrap_or_else(|_| Value::String(call.arguments.clone()));
                    parts.push(spaced(
                        &serde_json::json!({"tool": call.name, "arguments": arguments}),
                    ));
                }
                push(&mut turns, "assistant", parts.join("\n"));
            }
            ChatMessage::Tool {
                tool_call_id,
                content,
            } => {
                let name = tool_names
                    .get(tool_call_id.as_str())
                    .copied()
                    .unwrap_or("tool");
                push(
                    &mut turns,
                    "user",
                    format!("Result of the tool call {name}:\n{content}"),
                );
            }
        }
    }
    if shape.is_constrained() {
        system.push(instructions(request, shape));
    }
    let mut out = Vec::with_capacity(turns.len() + 1);
    if !system.is_empty() {
        out.push(Turn {
            role: "system",
            content: system.join("\n\n"),
        });
    }
    out.extend(turns);
    out
}

/// Appends to the previous turn when it has the same role (tool results after a user turn).
fn push(turns: &mut Vec<Turn>, role: &'static str, content: String) {
    match turns.last_mut() {
        Some(last) if last.role == role => {
            last.content.push_str("\n\n");
            last.content.push_str(&content);
        }
        _ => turns.push(Turn { role, content }),
    }
}

/// A past answer as the model would have written it under this step's grammar.
fn render_answer(text: &str, shape: &StepShape) -> String {
    let value = match (&shape.answer, serde_json::from_str::<Value>(text)) {
        (AnswerShape::Json(_), Ok(v)) => v,
        _ => Value::String(text.to_string()),
    };
    if shape.is_constrained() {
        spaced(&serde_json::json!({ "final": value }))
    } else {
        text.to_string()
    }
}

/// JSON text with the separators the grammar enforces (`", "` and `": "`).
pub(crate) fn spaced(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), spaced(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(spaced).collect();
            format!("[{}]", items.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// How to reply: the tools with their argument schemas and the final answer's schema.
fn instructions(request: &ChatRequest, shape: &StepShape) -> String {
    let mut text = String::new();
    if !request.tools.is_empty() {
        text.push_str("You can call these tools:\n");
        for tool in &request.tools {
            let args = shape
                .tools
                .iter()
                .find(|(n, _)| n == &tool.name)
                .map(|(_, s)| s.to_string())
                .unwrap_or_default();
            let description = tool.description.trim();
            text.push_str(&format!(
                "- {}: {description} Arguments: {args}\n",
                tool.name
            ));
        }
        text.push('\n');
    }
    text.push_str("Reply with one JSON object and nothing else.\n");
    if !request.tools.is_empty() {
        text.push_str(
            "To call a tool: {\"tool\": \"<tool name>\", \"arguments\": {<arguments>}}\n",
        );
    }
    match &shape.answer {
        AnswerShape::Json(schema) => text.push_str(&format!(
            "To give the final answer: {{\"final\": <answer>}} where <answer> follows this JSON Schema: {schema}"
        )),
        AnswerShape::Text => {
            text.push_str("To give the final answer: {\"final\": \"<answer text>\"}")
        }
    }
    text
}

/// The prompt text for `turns`, ending where the assistant's reply begins.
pub(crate) fn render(model: &LlamaModel, turns: &[Turn]) -> String {
    match with_model_template(model, turns) {
        Ok(prompt) => prompt,
        Err(reason) => {
            tracing::debug!(%reason, "using ChatML: the model's chat template is unusable");
            chatml(turns)
        }
    }
}

fn with_model_template(model: &LlamaModel, turns: &[Turn]) -> Result<String, String> {
    let template = model.chat_template(None).map_err(|e| e.to_string())?;
    let messages = turns
        .iter()
        .map(|t| LlamaChatMessage::new(t.role.to_string(), t.content.replace('\0', "")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let prompt = model
        .apply_chat_template(&template, &messages, true)
        .map_err(|e| e.to_string())?;
    if prompt.trim().is_empty() {
        return Err("the template rendered nothing".into());
    }
    Ok(prompt)
}

/// ChatML, the format of most small instruct models (SmolLM2, Qwen).
pub(crate) fn chatml(turns: &[Turn]) -> String {
    let mut out = String::new();
    for t in turns {
        out.push_str(&format!(
            "<|im_start|>{}\n{}<|im_end|>\n",
            t.role, t.content
        ));
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ResponseFormat, ToolCall, ToolSpec};
    use serde_json::json;

    fn request() -> ChatRequest {
        ChatRequest {
            messages: vec![
                ChatMessage::system("Be exact."),
                ChatMessage::user("What is ACME's code?"),
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "get_secret_code".into(),
                        arguments: "{\"company\":\"ACME\"}".into(),
                    }],
                },
                ChatMessage::tool("c1", "1234"),
            ]
            .into(),
            tools: vec![ToolSpec {
                name: "get_secret_code".into(),
                description: "Looks up a company's secret code.".into(),
                parameters:
                    json!({"type": "object", "properties": {"company": {"type": "string"}}}).into(),
            }]
            .into(),
            response_format: Some(ResponseFormat {
                name: "answer".into(),
                schema: json!({"type": "object"}).into(),
            }),
            ..ChatRequest::default()
        }
    }

    #[test]
    fn conversation_becomes_turns_with_instructions() {
        let r = request();
        let shape = StepShape::from_request(&r.tools, r.response_format.as_ref());
        let turns = turns(&r, &shape);
        let roles: Vec<_> = turns.iter().map(|t| t.role).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert!(turns[0].content.starts_with("Be exact."));
        assert!(turns[0].content.contains("- get_secret_code: Looks up"));
        assert!(turns[0].content.contains("{\"final\": <answer>}"));
        assert_eq!(
            turns[2].content,
            r#"{"tool": "get_secret_code", "arguments": {"company": "ACME"}}"#
        );
        assert_eq!(
            turns[3].content,
            "Result of the tool call get_secret_code:\n1234"
        );
    }

    #[test]
    fn chatml_ends_with_the_assistant_header() {
        let p = chatml(&[Turn {
            role: "user",
            content: "hi".into(),
        }]);
        assert_eq!(p, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    }
}
