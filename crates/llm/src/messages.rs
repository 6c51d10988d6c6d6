//! Provider-neutral chat types: messages, tools, tool calls, usage, requests and responses.
//!
//! The serde form of these types is forage's storage format (conversations are persisted to
//! be continued); each provider produces its own wire format from them.

use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage {
    System {
        content: String,
    },
    User {
        content: String,
    },
    Assistant {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: String,
    },
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self::System {
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::User {
            content: content.into(),
        }
    }

    /// An assistant message with text only.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::Assistant {
            content: Some(content.into()),
            tool_calls: Vec::new(),
        }
    }

    /// The result of the tool call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self::Tool {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
        }
    }
}

impl From<&ChatResponse> for ChatMessage {
    /// The assistant message that records a response in the conversation.
    fn from(response: &ChatResponse) -> Self {
        Self::Assistant {
            content: response.content.clone(),
            tool_calls: response.tool_calls.clone(),
        }
    }
}

/// A tool the model may call; `parameters` is a JSON Schema for its arguments object, encoded
/// once for all the requests that offer the tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: crate::EncodedJson,
}

/// A tool call as the model produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// Raw JSON text of the arguments, exactly as the model produced it (may be invalid).
    pub arguments: String,
}

impl ToolCall {
    /// The arguments parsed as JSON (empty text counts as `{}`).
    pub fn parsed_arguments(&self) -> Result<serde_json::Value, serde_json::Error> {
        if self.arguments.trim().is_empty() {
            return Ok(serde_json::Value::Object(Default::default()));
        }
        serde_json::from_str(&self.arguments)
    }
}

/// Tokens consumed by one or more requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        *self = *self + other;
    }
}

/// Asks the model for JSON text matching `schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    pub name: String,
    /// Encoded once and shared: runs that answer in the same shape share one schema.
    pub schema: crate::EncodedJson,
}

/// A conversation: its messages, each kept with its text on the OpenAI wire (which OpenAI,
/// vLLM, llama.cpp's server and Ollama all speak) once a request has sent it, so that later
/// turns copy it instead of encoding the whole conversation again. The run's first request
/// keeps nothing: a run waiting on the model's first answer holds no texts.
pub type Conversation = crate::EncodedList<ChatMessage, crate::openai::MessageForm>;

/// One chat turn to send to a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Conversation,
    #[serde(default)]
    pub tools: crate::ToolList,
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
}

/// The model's answer to one [`ChatRequest`]: text, tool calls, or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub finish_reason: Option<String>,
    /// The model that answered, as the server names it (falls back to the requested one).
    pub model: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_the_storage_format() {
        let messages = vec![
            ChatMessage::system("be brief"),
            ChatMessage::user("hi"),
            ChatMessage::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "search".into(),
                    arguments: "{\"q\":1}".into(),
                }],
            },
            ChatMessage::tool("c1", "result"),
            ChatMessage::assistant("done"),
        ];
        let text = serde_json::to_string(&messages).unwrap();
        assert!(text.contains("\"role\":\"assistant\""));
        let back: Vec<ChatMessage> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, messages);
    }

    #[test]
    fn usage_adds_up() {
        let mut u = Usage {
            input_tokens: 1,
            output_tokens: 2,
        };
        u += Usage {
            input_tokens: 10,
            output_tokens: 20,
        };
        assert_eq!(u.total(), 33);
    }
}
