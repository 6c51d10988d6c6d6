//! Shared helpers: a provider pointed at a fake server, and simple requests.

use std::time::Duration;

use forage_llm::{ChatMessage, ChatRequest, OpenAiConfig, OpenAiProvider, ToolSpec};
use forage_testkit::llm::FakeLlm;
use serde_json::json;

/// A config for `fake` with quick retries.
pub fn config(fake: &FakeLlm) -> OpenAiConfig {
    OpenAiConfig {
        base_url: fake.base_url.clone(),
        request_timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(10),
        ..OpenAiConfig::default()
    }
}

pub fn provider(fake: &FakeLlm) -> OpenAiProvider {
    OpenAiProvider::new(config(fake)).expect("provider")
}

/// A one-message request.
pub fn request(input: &str) -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        messages: vec![
            ChatMessage::system("You are a research agent."),
            ChatMessage::user(input),
        ]
        .into(),
        ..ChatRequest::default()
    }
}

/// A tool taking one required string `query`.
pub fn search_tool(name: &str) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: "Search the web".into(),
        parameters: json!({
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["query"]
        })
        .into(),
    }
}
