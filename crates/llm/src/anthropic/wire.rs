//! Builds the Anthropic Messages request body from a provider-neutral `ChatRequest`: system
//! text at the top level, strictly alternating user/assistant turns of content blocks,
//! `tool_use` / `tool_result` blocks, tools with `input_schema`, and the answer schema (which
//! the stable API cannot enforce) described in the system text.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::DEFAULT_MAX_TOKENS;
use crate::schema_prompt::schema_instruction;
use crate::tool_list::ToolWire;
use crate::{ChatMessage, ChatRequest, EncodedJson, ToolCall, ToolSpec};

/// Text of the user turn sent when a conversation would otherwise not start with one.
const OPENING: &str = "Begin.";
/// Content of the `tool_result` sent for a call whose result the conversation lacks.
const MISSING_RESULT: &str = "(no result was recorded for this tool call)";

/// The JSON body of `POST /v1/messages`, borrowing the request where it can: it is encoded
/// straight to bytes, with no JSON tree of the conversation in between.
#[derive(Serialize)]
pub(crate) struct RequestBody<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Turn<'a>>,
    /// The run's tools, encoded on its first request (see [`ToolList`](crate::ToolList)).
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
}

/// One turn: a role and its content blocks.
#[derive(Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: Cow<'a, str>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        /// Left out when empty (empty content is allowed only when left out).
        #[serde(skip_serializing_if = "str::is_empty")]
        content: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: InputSchema<'a>,
}

/// A tool's schema as sent: its encoded text when it is already an object schema, or a copy
/// made one.
#[derive(Serialize)]
#[serde(untagged)]
enum InputSchema<'a> {
    AsGiven(&'a RawValue),
    Completed(Value),
}

/// The body for `request` (asking for an event stream when `stream`).
pub(crate) fn request_body(request: &ChatRequest, stream: bool) -> RequestBody<'_> {
    RequestBody {
        model: &request.model,
        max_tokens: request
            .max_output_tokens
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .max(1),
        system: system_text(request),
        messages: messages(&request.messages),
        tools: (!request.tools.is_empty())
            .then(|| request.tools.encoded(ToolWire::Anthropic, tool)),
        temperature: request.temperature,
        stream: stream.then_some(true),
    }
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

fn tool(spec: &ToolSpec) -> Tool<'_> {
    Tool {
        name: &spec.name,
        description: &spec.description,
        input_schema: input_schema(&spec.parameters),
    }
}

/// Tool input schemas must be objects of `"type": "object"`.
fn input_schema(parameters: &EncodedJson) -> InputSchema<'_> {
    match parameters.value() {
        Value::Object(o) if o.contains_key("type") => InputSchema::AsGiven(parameters.encoded()),
        Value::Object(o) => {
            let mut o = o.clone();
            o.insert("type".into(), json!("object"));
            InputSchema::Completed(Value::Object(o))
        }
        _ => InputSchema::Completed(json!({ "type": "object" })),
    }
}

/// The conversation as alternating turns (system messages left out: they go to `system`).
fn messages(messages: &[ChatMessage]) -> Vec<Turn<'_>> {
    let mut turns: Vec<Turn<'_>> = Vec::new();
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
            } => (
                "user",
                vec![Block::ToolResult {
                    tool_use_id: tool_call_id,
                    content,
                    is_error: false,
                }],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => turns.push(Turn {
                role,
                content: blocks,
            }),
        }
    }
    pair_tool_results(&mut turns);
    if turns.first().is_none_or(|t| t.role != "user") {
        turns.insert(
            0,
            Turn {
                role: "user",
                content: text_block(OPENING).into_iter().collect(),
            },
        );
    }
    turns
}

/// Makes every user turn answer the `tool_use` blocks of the assistant turn before it, as the
/// API requires: results first, one per call (a missing one is marked as missing), and a result
/// with no call before it turned into text.
fn pair_tool_results(turns: &mut [Turn<'_>]) {
    for index in 0..turns.len() {
        if turns[index].role != "user" {
            continue;
        }
        let called: Vec<&str> = match index.checked_sub(1).map(|i| &turns[i]) {
            Some(previous) => tool_use_ids(&previous.content),
            None => Vec::new(),
        };
        let blocks = std::mem::take(&mut turns[index].content);
        let mut results = Vec::new();
        let mut rest = Vec::new();
        let mut answered = HashSet::new();
        for block in blocks {
            match block {
                Block::ToolResult {
                    tool_use_id,
                    content,
                    ..
                } if !(called.contains(&tool_use_id) && answered.insert(tool_use_id)) => {
                    rest.push(orphan_result_text(tool_use_id, content))
                }
                block @ Block::ToolResult { .. } => results.push(block),
                other => rest.push(other),
            }
        }
        for id in called {
            if !answered.contains(id) {
                results.push(Block::ToolResult {
                    tool_use_id: id,
                    content: MISSING_RESULT,
                    is_error: true,
                });
            }
        }
        results.extend(rest);
        turns[index].content = results;
    }
    // An assistant turn that called tools and ends the conversation needs no results; one
    // followed by another assistant turn cannot happen (same-role turns are merged).
}

fn tool_use_ids<'a>(blocks: &[Block<'a>]) -> Vec<&'a str> {
    blocks
        .iter()
        .filter_map(|block| match block {
            Block::ToolUse { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// A tool result that answers no call of the turn before, as plain text.
fn orphan_result_text<'a>(id: &str, content: &str) -> Block<'a> {
    Block::Text {
        text: Cow::Owned(format!("Result of tool call {id}:\n{content}")),
    }
}

/// A text block, or none for empty text (the API refuses empty text blocks).
fn text_block(text: &str) -> Option<Block<'_>> {
    (!text.trim().is_empty()).then_some(Block::Text {
        text: Cow::Borrowed(text),
    })
}

fn assistant_blocks<'a>(content: Option<&'a str>, tool_calls: &'a [ToolCall]) -> Vec<Block<'a>> {
    let mut blocks: Vec<Block<'a>> = content.and_then(text_block).into_iter().collect();
    for call in tool_calls {
        let input = match call.parsed_arguments() {
            Ok(value @ Value::Object(_)) => value,
            _ => {
                // The model wrote arguments that are not a JSON object: the call goes out with
                // `{}` and what it wrote stays visible as text.
                blocks.push(Block::Text {
                    text: Cow::Owned(format!(
                        "(the arguments of tool call {} to {} were not a JSON object: {})",
                        call.id, call.name, call.arguments
                    )),
                });
                json!({})
            }
        };
        blocks.push(Block::ToolUse {
            id: &call.id,
            name: &call.name,
            input,
        });
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResponseFormat;

    /// The body for `request` as it goes out.
    fn request_body(request: &ChatRequest, stream: bool) -> Value {
        crate::transport::http::sent_json(&super::request_body(request, stream))
    }

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
            ]
            .into(),
            tools: vec![ToolSpec {
                name: "search".into(),
                description: "web".into(),
                parameters: json!({"properties": {"q": {"type": "string"}}}).into(),
            }]
            .into(),
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
            messages: messages.to_vec().into(),
            ..Default::default()
        };
        request_body(&request, false)["messages"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn the_whole_body_is_the_anthropic_wire_format() {
        let request = ChatRequest {
            model: "claude".into(),
            messages: vec![
                ChatMessage::system("be brief"),
                ChatMessage::user("q"),
                ChatMessage::Assistant {
                    content: Some("looking".into()),
                    tool_calls: vec![call("a", r#"{"q":"x"}"#), call("b", "{}")],
                },
                ChatMessage::tool("a", "ra"),
                ChatMessage::tool("zzz", "stray"),
                ChatMessage::tool("c", ""),
            ]
            .into(),
            tools: vec![ToolSpec {
                name: "search".into(),
                description: "web".into(),
                parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}})
                    .into(),
            }]
            .into(),
            response_format: None,
            max_output_tokens: Some(100),
            temperature: Some(0.5),
        };
        let body = request_body(&request, true);
        assert_eq!(
            body,
            json!({
                "model": "claude",
                "max_tokens": 100,
                "system": "be brief",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "q"}]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "looking"},
                        {"type": "tool_use", "id": "a", "name": "search", "input": {"q": "x"}},
                        {"type": "tool_use", "id": "b", "name": "search", "input": {}}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "a", "content": "ra"},
                        {"type": "tool_result", "tool_use_id": "b",
                         "content": MISSING_RESULT, "is_error": true},
                        {"type": "text", "text": "Result of tool call zzz:\nstray"},
                        {"type": "text", "text": "Result of tool call c:\n"}
                    ]}
                ],
                "tools": [{"name": "search", "description": "web",
                           "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
                "temperature": 0.5,
                "stream": true
            })
        );
    }
}
