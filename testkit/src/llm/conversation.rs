//! A tolerant reading of an OpenAI chat-completions request body: the parts the fake's
//! script looks at (messages, offered tools, response format, stream options).

use std::borrow::Cow;

use serde_json::Value;

use super::directives::{self, Directive};

/// One message, reduced to what the script needs; borrows the request body.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub role: &'a str,
    pub text: Cow<'a, str>,
    pub has_tool_calls: bool,
}

/// An offered tool.
#[derive(Debug, Clone)]
pub struct Tool<'a> {
    pub name: &'a str,
    pub parameters: Cow<'a, Value>,
}

/// The request as the script sees it; borrows the request body.
#[derive(Debug, Clone)]
pub struct Conversation<'a> {
    pub model: &'a str,
    pub messages: Vec<Message<'a>>,
    pub tools: Vec<Tool<'a>>,
    /// `response_format.json_schema.schema` when a JSON schema is asked for.
    pub schema: Option<&'a Value>,
    /// `response_format.type == "json_object"`.
    pub json_object: bool,
    pub stream: bool,
    pub include_usage: bool,
}

impl<'a> Conversation<'a> {
    pub fn from_body(body: &'a Value) -> Self {
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .map(|m| m.iter().map(message).collect())
            .unwrap_or_default();
        let tools = body
            .get("tools")
            .and_then(Value::as_array)
            .map(|t| t.iter().filter_map(tool).collect())
            .unwrap_or_default();
        let format = body.get("response_format");
        let format_type = format.and_then(|f| f.get("type")).and_then(Value::as_str);
        let schema = match format_type {
            Some("json_schema") => format
                .and_then(|f| f.get("json_schema"))
                .and_then(|j| j.get("schema")),
            _ => None,
        };
        Conversation {
            model: body
                .get("model")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .unwrap_or("fake-model"),
            messages,
            tools,
            schema,
            json_object: format_type == Some("json_object"),
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
            include_usage: body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// The first user message: the conversation's identity and the task input.
    pub fn first_user_text(&self) -> &str {
        self.messages
            .iter()
            .find(|m| m.role == "user")
            .map_or("", |m| &m.text)
    }

    /// The task input with the directives taken out.
    pub fn user_input(&self) -> String {
        directives::strip(self.first_user_text())
    }

    /// The most recent tool result.
    pub fn last_tool_result(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "tool")
            .map(|m| m.text.as_ref())
    }

    pub fn has_tool_results(&self) -> bool {
        self.messages.iter().any(|m| m.role == "tool")
    }

    /// Assistant messages that called tools: the 0-based index of the coming tool turn.
    pub fn tool_turns(&self) -> u32 {
        self.messages
            .iter()
            .filter(|m| m.role == "assistant" && m.has_tool_calls)
            .count() as u32
    }

    /// Assistant messages without tool calls: earlier final-answer attempts.
    pub fn answer_attempts(&self) -> u32 {
        self.messages
            .iter()
            .filter(|m| m.role == "assistant" && !m.has_tool_calls)
            .count() as u32
    }

    /// Directives of every non-assistant message; a message whose directives repeat an
    /// earlier message's exactly (the input quoted again, echoed by a tool) adds nothing.
    pub fn directives(&self) -> Vec<Directive> {
        let mut seen: Vec<Vec<&str>> = Vec::new();
        let mut out = Vec::new();
        for m in self.messages.iter().filter(|m| m.role != "assistant") {
            let raw = directives::raw_all(&m.text);
            if raw.is_empty() || seen.contains(&raw) {
                continue;
            }
            seen.push(raw);
            out.extend(directives::parse_all(&m.text));
        }
        out
    }
}

fn message(value: &Value) -> Message<'_> {
    Message {
        role: value.get("role").and_then(Value::as_str).unwrap_or(""),
        text: text_of(value.get("content")),
        has_tool_calls: value
            .get("tool_calls")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty()),
    }
}

/// Text of a `content` that is a string or an array of parts.
fn text_of(content: Option<&Value>) -> Cow<'_, str> {
    match content {
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(Value::Array(parts)) => Cow::Owned(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str).or(p.as_str()))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => Cow::Borrowed(""),
    }
}

fn tool(value: &Value) -> Option<Tool<'_>> {
    let function = value.get("function").unwrap_or(value);
    Some(Tool {
        name: function.get("name")?.as_str()?,
        parameters: function.get("parameters").map_or_else(
            || Cow::Owned(serde_json::json!({"type": "object"})),
            Cow::Borrowed,
        ),
    })
}
