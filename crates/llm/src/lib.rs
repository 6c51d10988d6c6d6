//! LLM access for forage: the provider-neutral chat types, the `LlmProvider` trait, the
//! OpenAI-compatible chat-completions client (OpenAI, vLLM, llama.cpp server, Ollama, ...),
//! the Anthropic Messages client, and the prompt-level tool protocol for models without
//! native tool calling.

pub mod anthropic;
pub mod encoded_json;
pub mod encoded_list;
pub mod error;
pub mod local;
pub mod messages;
pub mod openai;
pub mod prompt_tools;
pub mod provider;
pub mod schema_prompt;
pub mod tool_list;
mod transport;

pub use anthropic::{AnthropicConfig, AnthropicProvider};
pub use encoded_json::EncodedJson;
pub use encoded_list::{AsSerialized, EncodedItems, EncodedList, ItemForm};
pub use error::LlmError;
pub use messages::{
    ChatMessage, ChatRequest, ChatResponse, Conversation, ResponseFormat, ToolCall, ToolSpec, Usage,
};
pub use openai::{OpenAiConfig, OpenAiProvider};
pub use prompt_tools::{PromptToolProtocol, ToolProtocol, with_tool_protocol};
pub use provider::LlmProvider;
pub use tool_list::ToolList;
