//! The text side of the prompt-level tool protocol: the system-prompt section that describes
//! the tools and the reply format, and the rewriting of a conversation's tool calls and tool
//! results into plain text messages.

use std::collections::HashMap;

use serde_json::Value;

use crate::schema_prompt::schema_instruction;
use crate::{ChatMessage, ChatRequest, ToolCall, ToolList, ToolSpec};

/// Opens one tool-call block.
pub const CALL_OPEN: &str = "<tool_call>";
/// Closes one tool-call block.
pub const CALL_CLOSE: &str = "</tool_call>";

/// The system-prompt section that offers `tools` and says exactly how to call them.
pub fn tool_instructions(tools: &[ToolSpec]) -> String {
    let mut text = format!(
        "# Tools\n\n\
         You can call the tools listed below. To call a tool, write a block in exactly this \
         form, with the arguments as a JSON object that matches the tool's parameters schema:\n\n\
         {CALL_OPEN}\n{{\"name\": \"TOOL_NAME\", \"arguments\": {{\"PARAMETER\": \"VALUE\"}}}}\n{CALL_CLOSE}\n\n\
         Write one block per call; to call several tools at once, write several blocks. After \
         your calls, stop: the results come back in the next user message, one \
         <tool_result id=\"…\" name=\"…\">…</tool_result> block per call. Never write tool \
         results yourself. When you need no more tools, reply with your final answer and no \
         {CALL_OPEN} block.\n\n## Available tools\n"
    );
    for tool in tools {
        let schema =
            serde_json::to_string(&tool.parameters).unwrap_or_else(|_| tool.parameters.to_string());
        text.push_str(&format!(
            "\n### {}\n{}\nParameters (JSON Schema): {schema}\n",
            tool.name,
            tool.description.trim()
        ));
    }
    text
}

/// `call` written the way the model is asked to write calls.
pub(crate) fn call_block(call: &ToolCall) -> String {
    let arguments = match call.parsed_arguments() {
        Ok(value) => value,
        Err(_) => Value::String(call.arguments.clone()),
    };
    format!(
        "{CALL_OPEN}\n{{\"name\": {}, \"arguments\": {arguments}}}\n{CALL_CLOSE}",
        Value::String(call.name.clone())
    )
}

/// A tool result as user text.
fn result_block(id: &str, name: &str, content: &str) -> String {
    format!(
        "<tool_result id=\"{}\" name=\"{}\">\n{content}\n</tool_result>",
        attribute(id),
        attribute(name)
    )
}

fn attribute(text: &str) -> String {
    text.replace('"', "&quot;")
}

/// `request` with tools in the prompt and every tool call and result in text.
pub(crate) fn rewrite(request: &ChatRequest) -> ChatRequest {
    let names: HashMap<&str, &str> = request
        .messages
        .iter()
        .filter_map(|m| match m {
            ChatMessage::Assistant { tool_calls, .. } => Some(tool_calls),
            _ => None,
        })
        .flatten()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let mut messages: Vec<ChatMessage> = Vec::with_capacity(request.messages.len() + 1);
    // Whether the last message written holds tool results (later ones join it).
    let mut last_holds_results = false;
    for message in &request.messages {
        let (message, holds_results) = match message {
            ChatMessage::Assistant {
                content,
                tool_calls,
            } if !tool_calls.is_empty() => {
                let mut parts: Vec<String> = content
                    .iter()
                    .filter(|c| !c.trim().is_empty())
                    .cloned()
                    .collect();
                parts.extend(tool_calls.iter().map(call_block));
                (ChatMessage::assistant(parts.join("\n")), false)
            }
            ChatMessage::Tool {
                tool_call_id,
                content,
            } => {
                let name = names.get(tool_call_id.as_str()).copied().unwrap_or("");
                (
                    ChatMessage::user(result_block(tool_call_id, name, content)),
                    true,
                )
            }
            other => (other.clone(), false),
        };
        let joins = last_holds_results || holds_results;
        match (messages.last_mut(), &message) {
            (Some(ChatMessage::User { content: last }), ChatMessage::User { content }) if joins => {
                last.push_str("\n\n");
                last.push_str(content);
                last_holds_results = true;
            }
            _ => {
                messages.push(message);
                last_holds_results = holds_results;
            }
        }
    }
    let mut section = String::new();
    if !request.tools.is_empty() {
        section.push_str(&tool_instructions(&request.tools));
    }
    // A server that enforces `response_format` would forbid the call blocks: with tools on
    // offer the answer schema is asked for in words instead.
    let response_format = match (&request.response_format, request.tools.is_empty()) {
        (Some(format), false) => {
            section.push_str("\n\n");
            section.push_str(&schema_instruction(format));
            None
        }
        (format, _) => format.clone(),
    };
    if !section.is_empty() {
        match messages
            .iter_mut()
            .find(|m| matches!(m, ChatMessage::System { .. }))
        {
            Some(ChatMessage::System { content }) => {
                content.push_str("\n\n");
                content.push_str(&section);
            }
            _ => messages.insert(0, ChatMessage::system(section)),
        }
    }
    ChatRequest {
        model: request.model.clone(),
        messages: messages.into(),
        tools: ToolList::default(),
        response_format,
        max_output_tokens: request.max_output_tokens,
        temperature: request.temperature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResponseFormat;
    use serde_json::json;

    fn spec() -> ToolSpec {
        ToolSpec {
            name: "search".into(),
            description: "Search the web.".into(),
            parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}}).into(),
        }
    }

    #[test]
    fn describes_tools_and_rewrites_the_history() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::user("q"),
                ChatMessage::Assistant {
                    content: Some("Let me look.".into()),
                    tool_calls: vec![
                        ToolCall {
                            id: "a".into(),
                            name: "search".into(),
                            arguments: r#"{"q":"x"}"#.into(),
                        },
                        ToolCall {
                            id: "b".into(),
                            name: "search".into(),
                            arguments: "oops".into(),
                        },
                    ],
                },
                ChatMessage::tool("a", "ra"),
                ChatMessage::tool("b", "rb"),
                ChatMessage::user("answer now"),
            ]
            .into(),
            tools: vec![spec()].into(),
            response_format: Some(ResponseFormat {
                name: "out".into(),
                schema: json!({"type": "object"}).into(),
            }),
            ..Default::default()
        };
        let out = rewrite(&request);
        assert!(out.tools.is_empty());
        assert!(out.response_format.is_none());
        assert_eq!(out.messages.len(), 4);
        let ChatMessage::System { content } = &out.messages[0] else {
            panic!("{:?}", out.messages[0]);
        };
        assert!(content.contains("### search\nSearch the web."), "{content}");
        assert!(content.contains("```json"), "{content}");
        assert_eq!(
            out.messages[2],
            ChatMessage::assistant(
                "Let me look.\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\":\"x\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"search\", \"arguments\": \"oops\"}\n</tool_call>"
            )
        );
        assert_eq!(
            out.messages[3],
            ChatMessage::user(
                "<tool_result id=\"a\" name=\"search\">\nra\n</tool_result>\n\n<tool_result id=\"b\" name=\"search\">\nrb\n</tool_result>\n\nanswer now"
            )
        );
    }

    #[test]
    fn keeps_the_response_format_when_no_tools_are_offered() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::system("s"),
                ChatMessage::user("q"),
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "a".into(),
                        name: "search".into(),
                        arguments: "{}".into(),
                    }],
                },
                ChatMessage::tool("a", "r"),
            ]
            .into(),
            response_format: Some(ResponseFormat {
                name: "out".into(),
                schema: json!({"type": "object"}).into(),
            }),
            ..Default::default()
        };
        let out = rewrite(&request);
        assert!(out.response_format.is_some());
        assert_eq!(out.messages[0], ChatMessage::system("s"));
        assert!(
            matches!(&out.messages[3], ChatMessage::User { content } if content.contains("name=\"search\""))
        );
    }
}
