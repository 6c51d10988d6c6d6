//! LLM access for forage: the provider-neutral chat types, the `LlmProvider` trait and the
//! OpenAI-compatible chat-completions client (OpenAI, vLLM, llama.cpp server, Ollama, ...).

pub mod error;
pub mod local;
pub mod messages;
pub mod openai;
pub mod provider;

pub use error::LlmError;
pub use messages::{
    ChatMessage, ChatRequest, ChatResponse, ResponseFormat, ToolCall, ToolSpec, Usage,
};
pub use openai::{OpenAiConfig, OpenAiProvider};
pub use provider::LlmProvider;
