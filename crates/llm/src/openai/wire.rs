//! Builds the OpenAI chat-completions request body from a provider-neutral `ChatRequest`.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::encoded_list::{EncodedItems, ItemForm};
use crate::tool_list::ToolWire;
use crate::{ChatMessage, ChatRequest, ToolCall, ToolSpec};

/// The JSON body of `POST /chat/completions`, borrowing the request: it is encoded straight
/// to bytes, with no JSON tree of the conversation in between.
#[derive(Serialize)]
pub(crate) struct RequestBody<'a> {
    model: &'a str,
    /// The texts of messages that an earlier request sent are copied (see
    /// [`Conversation`](crate::Conversation)).
    messages: EncodedItems<'a, ChatMessage, MessageForm>,
    /// The run's tools, encoded on its first request (see [`ToolList`](crate::ToolList)).
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Format<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

/// A message as the wire sends it (public for [`MessageForm`], in this private module).
#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<Function<'a, CallFunction<'a>>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

/// `{"id"?, "type": "function", "function": …}`: a tool call (with its id) or a tool.
#[derive(Serialize)]
pub struct Function<'a, T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    r#type: &'static str,
    function: T,
}

#[derive(Serialize)]
pub struct CallFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ToolFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a RawValue,
}

#[derive(Serialize)]
struct Format<'a> {
    r#type: &'static str,
    json_schema: FormatSchema<'a>,
}

#[derive(Serialize)]
struct FormatSchema<'a> {
    name: &'a str,
    schema: &'a RawValue,
    strict: bool,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// The body for `request` (asking for an event stream when `stream`).
pub(crate) fn request_body(request: &ChatRequest, stream: bool) -> RequestBody<'_> {
    RequestBody {
        model: &request.model,
        messages: request.messages.encoded(),
        tools: (!request.tools.is_empty()).then(|| request.tools.encoded(ToolWire::OpenAi, tool)),
        response_format: request.response_format.as_ref().map(|format| Format {
            r#type: "json_schema",
            json_schema: FormatSchema {
                name: &format.name,
                schema: format.schema.encoded(),
                strict: false,
            },
        }),
        max_tokens: request.max_output_tokens,
        temperature: request.temperature,
        stream: stream.then_some(true),
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    }
}

/// A conversation's messages as the OpenAI wire sends them.
pub struct MessageForm;

impl ItemForm<ChatMessage> for MessageForm {
    type Form<'a> = Message<'a>;

    fn form(item: &ChatMessage) -> Message<'_> {
        message(item)
    }
}

fn message(message: &ChatMessage) -> Message<'_> {
    match message {
        ChatMessage::System { content } => Message::System { content },
        ChatMessage::User { content } => Message::User { content },
        ChatMessage::Assistant {
            content,
            tool_calls,
        } => Message::Assistant {
            content: content.as_deref(),
            tool_calls: tool_calls.iter().map(call).collect(),
        },
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => Message::Tool {
            tool_call_id,
            content,
        },
    }
}

fn call(call: &ToolCall) -> Function<'_, CallFunction<'_>> {
    Function {
        id: Some(&call.id),
        r#type: "function",
        function: CallFunction {
            name: &call.name,
            arguments: &call.arguments,
        },
    }
}

fn tool(spec: &ToolSpec) -> Function<'_, ToolFunction<'_>> {
    Function {
        id: None,
        r#type: "function",
        function: ToolFunction {
            name: &spec.name,
            description: &spec.description,
            parameters: spec.parameters.encoded(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::ResponseFormat;

    /// The body for `request` as it goes out.
    fn request_body(request: &ChatRequest, stream: bool) -> Value {
        crate::transport::http::sent_json(&super::request_body(request, stream))
    }

    #[test]
    fn produces_the_openai_wire_format() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::system("s"),
                ChatMessage::user("u"),
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                    }],
                },
                ChatMessage::tool("c1", "r"),
            ]
            .into(),
            tools: vec![ToolSpec {
                name: "f".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}).into(),
            }]
            .into(),
            response_format: Some(ResponseFormat {
                name: "out".into(),
                schema: json!({"type": "object"}).into(),
            }),
            max_output_tokens: Some(100),
            temperature: Some(0.5),
        };
        let body = request_body(&request, true);
        assert_eq!(body["messages"][2]["tool_calls"][0]["type"], "function");
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(body["messages"][3]["tool_call_id"], "c1");
        assert_eq!(body["tools"][0]["function"]["name"], "f");
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], false);
        assert_eq!(body["max_tokens"], 100);
        assert_eq!(body["stream_options"]["include_usage"], true);
    }

    #[test]
    fn omits_empty_tools_and_stream_fields() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::user("u")].into(),
            ..Default::default()
        };
        let body = request_body(&request, false);
        assert!(body.get("tools").is_none());
        assert!(body.get("stream").is_none());
        assert!(body.get("response_format").is_none());
    }

    #[test]
    fn the_whole_body_is_the_openai_wire_format() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::system("s"),
                ChatMessage::user("u"),
                ChatMessage::Assistant {
                    content: Some("looking".into()),
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "f".into(),
                        arguments: r#"{"q":1}"#.into(),
                    }],
                },
                ChatMessage::tool("c1", "r"),
                ChatMessage::Assistant {
                    content: Some("done".into()),
                    tool_calls: Vec::new(),
                },
            ]
            .into(),
            tools: vec![ToolSpec {
                name: "f".into(),
                description: "d".into(),
                parameters: json!({"type": "object", "properties": {"q": {"type": "integer"}}})
                    .into(),
            }]
            .into(),
            response_format: Some(ResponseFormat {
                name: "out".into(),
                schema: json!({"type": "object"}).into(),
            }),
            max_output_tokens: Some(100),
            temperature: Some(0.5),
        };
        let body = request_body(&request, true);
        assert_eq!(
            body,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": "u"},
                    {"role": "assistant", "content": "looking", "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"q\":1}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "c1", "content": "r"},
                    {"role": "assistant", "content": "done"}
                ],
                "tools": [{"type": "function", "function": {
                    "name": "f", "description": "d",
                    "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}}
                }}],
                "response_format": {"type": "json_schema", "json_schema": {
                    "name": "out", "schema": {"type": "object"}, "strict": false
                }},
                "max_tokens": 100,
                "temperature": 0.5,
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
        // The run's next request sends the tools and messages encoded by the first, unchanged,
        // and the message added since.
        let mut next = request.clone();
        next.messages.push(ChatMessage::user("more"));
        let next_body = request_body(&next, true);
        assert_eq!(next_body["tools"], body["tools"]);
        let mut grown = body["messages"].as_array().unwrap().clone();
        grown.push(json!({"role": "user", "content": "more"}));
        assert_eq!(next_body["messages"], Value::Array(grown));
    }
}
