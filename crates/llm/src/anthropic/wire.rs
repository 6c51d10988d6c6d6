//! Builds the Anthropic Messages request body from a provider-neutral `ChatRequest`: system
//! text at the top level, strictly alternating user/assistant turns of content blocks,
//! `tool_use` / `tool_result` blocks, tools with `input_schema`, and the answer schema (which
//! the stable API cannot enforce) described in the system text.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::DEFAULT_MAX_TOKENS;
use crate::schema_prompt::schema_instruction;
use crate::{ChatMessage, ChatRequest, ToolCall};

/// Text of the user turn sent when a conversation would otherwise not start with one.
const OPENING: &str = "Begin.";
/// Content of the `tool_result` sent for a call whose result the conversation lacks.
const MISSING_RESULT: &str = "(no result was recorded for this tool call)";

/// The JSON body of `POST /v1/messages`.
pub(crate) fn request_body(request: &ChatRequest, stream: bool) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert(
        "max_tokens".into(),
        json!(
            request
                .max_output_tokens
                .unwrap_or(DEFAULT_MAX_TOKENS)
                .max(1)
        ),
    );
    if let Some(system) = system_text(request) {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(messages(&request.messages)));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "description": t.description,
                    "input_schema": input_schema(&t.parameters),
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

/// Every system message, joined, plus the answer-format instruction.
fn system_text(request: &ChatRequest) -> Option<String> {
    let mut parts: Vec<String> = request
        .messages
        .iter()
        .filter_map(|m| match m {
            ChatMessage::System { content } if !content.trim().is_empty() => Some(content.clone()),
            _ => None,
        })
        .collect();
    if let Some(format) = &request.response_format {
        parts.push(schema_instruction(format));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Tool input schemas must be objects of `"type": "object"`.
fn input_schema(parameters: &Value) -> Value {
    match parameters {
        Value::Object(o) if o.contains_key("type") => parameters.clone(),
        Value::Object(o) => {
            let mut o = o.clone();
            o.insert("type".into(), json!("object"));
            Value::Object(o)
        }
        _ => json!({ "type": "object" }),
    }
}

/// One turn being built: a role and its content blocks.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
}

/// The conversation as alternating turns (system messages left out: they go to `system`).
fn messages(messages: &[ChatMessage]) -> Vec<Value> {
    let mut turns: Vec<Turn> = Vec::new();
    for message in messages {
        let (role, blocks) = match message {
            ChatMessage::System { .. } => continue,
            ChatMessage::User { content } => ("user", text_block(content).into_iter().collect()),
            ChatMessage::Assistant {
                content,
                tool_calls,
            } => (
                "assistant",
                assistant_blocks(content.as_deref(), tool_calls),
            ),
            ChatMessage::Tool {
                tool_call_id,
                content,
            } => ("user", vec![tool_result(tool_call_id, content)]),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == role => last.blocks.extend(blocks),
            _ => turns.push(Turn { role, blocks }),
        }
    }
    pair_tool_results(&mut turns);
    if turns.first().is_none_or(|t| t.role != "user") {
        turns.insert(
            0,
            Turn {
                role: "user",
                blocks: text_block(OPENING).into_iter().collect(),
            },
        );
    }
    turns
        .into_iter()
        .map(|t| json!({ "role": t.role, "content": t.blocks }))
        .collect()
}

/// Makes every user turn answer the `tool_use` blocks of the assistant turn before it, as the
/// API requires: results first, one per call (a missing one is marked as missing), and a result
/// with no call before it turned into text.
fn pair_tool_results(turns: &mut [Turn]) {
    let mut index = 0;
    while index < turns.len() {
        if turns[index].role != "user" {
            index += 1;
            continue;
        }
        let called: Vec<String> = match index.checked_sub(1).map(|i| &turns[i]) {
            Some(previous) => tool_use_ids(&previous.blocks),
            None => Vec::new(),
        };
        let blocks = std::mem::take(&mut turns[index].blocks);
        let mut results = Vec::new();
        let mut rest = Vec::new();
        let mut answered = HashSet::new();
        for block in blocks {
            let id = (block["type"] == "tool_result")
                .then(|| block["tool_use_id"].as_str().unwrap_or("").to_owned());
            match id {
                Some(id) if called.contains(&id) && answered.insert(id.clone()) => {
                    results.push(block)
                }
                Some(id) => rest.push(orphan_result_text(&id, &block)),
                None => rest.push(block),
            }
        }
        for id in &called {
            if !answered.contains(id) {
                results.push(json!({
                    "type": "tool_result",
                    "tool_use_id": id,
                    "content": MISSING_RESULT,
                    "is_error": true,
                }));
            }
        }
        results.extend(rest);
        turns[index].blocks = results;
        index += 1;
    }
    // An assistant turn that called tools and ends the conversation needs no results; one
    // followed by another assistant turn cannot happen (same-role turns are merged).
}

fn tool_use_ids(blocks: &[Value]) -> Vec<String> {
    blocks
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .filter_map(|b| b["id"].as_str().map(str::to_owned))
        .collect()
}

/// A tool result that answers no call of the turn before, as plain text.
fn orphan_result_text(id: &str, block: &Value) -> Value {
    let content = block["content"].as_str().unwrap_or("");
    json!({ "type": "text", "text": format!("Result of tool call {id}:\n{content}") })
}

/// A text block, or none for empty text (the API refuses empty text blocks).
fn text_block(text: &str) -> Option<Value> {
    (!text.trim().is_empty()).then(|| json!({ "type": "text", "text": text }))
}

fn assistant_blocks(content: Option<&str>, tool_calls: &[ToolCall]) -> Vec<Value> {
    let mut blocks: Vec<Value> = content.and_then(text_block).into_iter().collect();
    for call in tool_calls {
        let input = match call.parsed_arguments() {
            Ok(value @ Value::Object(_)) => value,
            _ => {
                // The model wrote arguments that are not a JSON object: the call goes out with
                // `{}` and what it wrote stays visible as text.
                blocks.push(json!({
                    "type": "text",
                    "text": format!(
                        "(the arguments of tool call {} to {} were not a JSON object: {})",
                        call.id, call.name, call.arguments
                    ),
                }));
                json!({})
            }
        };
        blocks.push(json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": input,
        }));
    }
    blocks
}

fn tool_result(tool_call_id: &str, content: &str) -> Value {
    let mut block = json!({ "type": "tool_result", "tool_use_id": tool_call_id });
    // Empty content is allowed only when left out.
    if !content.is_empty() {
        block["content"] = json!(content);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ResponseFormat, ToolSpec};

    fn call(id: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "search".into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn maps_system_tools_and_limits() {
        let request = ChatRequest {
            model: "claude".into(),
            messages: vec![
                ChatMessage::system("be brief"),
                ChatMessage::system("cite sources"),
                ChatMessage::user("hi"),
            ],
            tools: vec![ToolSpec {
                name: "search".into(),
                description: "web".into(),
                parameters: json!({"properties": {"q": {"type": "string"}}}),
            }],
            response_format: Some(ResponseFormat {
                name: "out".into(),
                schema: json!({"type": "object"}).into(),
            }),
            max_output_tokens: None,
            temperature: Some(0.2),
        };
        let body = request_body(&request, true);
        let system = body["system"].as_str().unwrap();
        assert!(
            system.starts_with("be brief\n\ncite sources\n\n"),
            "{system}"
        );
        assert!(system.contains("```json\n{\n  \"type\": \"object\"\n}\n```"));
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(body["stream"], true);
        assert_eq!(body["messages"].as_array().unwrap().len(), 1);
        assert!(body.get("response_format").is_none());
    }

    #[test]
    fn merges_tool_results_and_alternates() {
        let messages = vec![
            ChatMessage::user("q"),
            ChatMessage::Assistant {
                content: Some("looking".into()),
                tool_calls: vec![call("a", r#"{"q":"x"}"#), call("b", "not json")],
            },
            ChatMessage::tool("b", "rb"),
            ChatMessage::tool("a", ""),
            ChatMessage::user("answer now"),
        ];
        let out = messages_of(&messages);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1]["role"], "assistant");
        let assistant = out[1]["content"].as_array().unwrap();
        assert_eq!(assistant[0]["text"], "looking");
        assert_eq!(assistant[1]["input"], json!({"q": "x"}));
        assert!(assistant[2]["text"].as_str().unwrap().contains("not json"));
        assert_eq!(assistant[3]["input"], json!({}));
        let user = out[2]["content"].as_array().unwrap();
        assert_eq!(user.len(), 3);
        assert_eq!(user[0]["tool_use_id"], "b");
        assert_eq!(user[0]["content"], "rb");
        assert_eq!(user[1]["tool_use_id"], "a");
        assert!(user[1].get("content").is_none());
        assert_eq!(user[2]["text"], "answer now");
    }

    #[test]
    fn repairs_unpaired_calls_and_results() {
        let messages = vec![
            ChatMessage::assistant("hello"),
            ChatMessage::Assistant {
                content: None,
                tool_calls: vec![call("a", "{}")],
            },
            ChatMessage::tool("zzz", "stray"),
        ];
        let out = messages_of(&messages);
        assert_eq!(out[0]["content"][0]["text"], OPENING);
        assert_eq!(out[1]["role"], "assistant");
        assert_eq!(out[1]["content"].as_array().unwrap().len(), 2);
        let user = out[2]["content"].as_array().unwrap();
        assert_eq!(user[0]["tool_use_id"], "a");
        assert_eq!(user[0]["is_error"], true);
        assert!(user[1]["text"].as_str().unwrap().contains("stray"));
    }

    fn messages_of(messages: &[ChatMessage]) -> Vec<Value> {
        let request = ChatRequest {
            model: "m".into(),
            messages: messages.to_vec(),
            ..Default::default()
        };
        request_body(&request, false)["messages"]
            .as_array()
            .unwrap()
            .clone()
    }
}
