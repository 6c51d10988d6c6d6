//! The prompt-level tool protocol over the real OpenAI-compatible provider, against a loopback
//! server whose model "has no tools": replies carry `<tool_call>` blocks in their text.

mod replay;

use std::time::Duration;

use forage_llm::{
    ChatMessage, ChatRequest, ChatResponse, LlmProvider, OpenAiConfig, OpenAiProvider,
    PromptToolProtocol, ResponseFormat, ToolList, ToolSpec,
};
use replay::{Canned, Replay};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// An OpenAI chat completion whose message text is `content`.
fn completion(content: &str) -> Canned {
    Canned::json(
        200,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "qwen-local",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
        })
        .to_string(),
    )
}

fn wrapped(server: &Replay) -> PromptToolProtocol<OpenAiProvider> {
    PromptToolProtocol::new(
        OpenAiProvider::new(OpenAiConfig {
            base_url: format!("{}/v1", server.base_url),
            stream: false,
            request_timeout: Duration::from_secs(10),
            ..OpenAiConfig::default()
        })
        .unwrap(),
    )
}

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "web_search".into(),
            description: "Search the web for pages.".into(),
            parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}).into(),
        },
        ToolSpec {
            name: "web_fetch".into(),
            description: "Fetch one page as text.".into(),
            parameters: json!({"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}).into(),
        },
    ]
}

fn first_request() -> ChatRequest {
    ChatRequest {
        model: "qwen-local".into(),
        messages: vec![
            ChatMessage::system("You are a research agent."),
            ChatMessage::user("When was Rust 1.0 released?"),
        ]
        .into(),
        tools: tools().into(),
        response_format: Some(ResponseFormat {
            name: "forage_answer".into(),
            schema: json!({"type": "object", "required": ["date"]}).into(),
        }),
        max_output_tokens: Some(512),
        temperature: None,
    }
}

const REPLY: &str = r#"Let me look this up.
<tool_call>
{"name": "web_search", "arguments": {"query": "Rust 1.0 release date"}}
</tool_call>
<tool_call>
{"name": "web_fetch", "arguments": {"url": "https://blog.rust-lang.org/2015/05/15/Rust-1.0.html"}}
</tool_call>
<tool_call>
{"name": "web_fetch", "arguments": {"url": oops}}
</tool_call>"#;

async fn first_turn(server: &Replay) -> ChatResponse {
    wrapped(server)
        .chat(&first_request(), &CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test]
async fn parses_calls_from_text_and_keeps_malformed_blocks_as_text() {
    let server = Replay::start(vec![completion(REPLY)]).await;
    let response = first_turn(&server).await;
    assert_eq!(response.tool_calls.len(), 2);
    assert_eq!(response.tool_calls[0].name, "web_search");
    assert_eq!(
        response.tool_calls[0].parsed_arguments().unwrap(),
        json!({"query": "Rust 1.0 release date"})
    );
    assert_eq!(response.tool_calls[1].name, "web_fetch");
    assert_eq!(
        response.tool_calls[1].parsed_arguments().unwrap()["url"],
        "https://blog.rust-lang.org/2015/05/15/Rust-1.0.html"
    );
    assert_ne!(response.tool_calls[0].id, response.tool_calls[1].id);
    let content = response.content.as_deref().unwrap();
    assert!(content.starts_with("Let me look this up."), "{content}");
    assert!(
        content.contains(r#"{"url": oops}"#),
        "the malformed block stays: {content}"
    );
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(response.usage.input_tokens, 50);

    let body = &server.requests()[0].body;
    assert!(body.get("tools").is_none(), "no native tools: {body}");
    assert!(
        body.get("response_format").is_none(),
        "an enforced schema would forbid call blocks"
    );
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("You are a research agent.\n\n# Tools"),
        "{system}"
    );
    for needed in [
        "<tool_call>",
        "### web_search\nSearch the web for pages.",
        r#""required":["url"]"#,
        "forage_answer",
    ] {
        assert!(system.contains(needed), "{needed} missing from: {system}");
    }
}

#[tokio::test]
async fn the_next_request_carries_calls_and_results_as_text() {
    let server = Replay::start(vec![
        completion(REPLY),
        completion(r#"{"date": "2015-05-15"}"#),
    ])
    .await;
    let first = first_turn(&server).await;
    let mut request = first_request();
    request.messages.push(ChatMessage::from(&first));
    for (i, call) in first.tool_calls.iter().enumerate() {
        request
            .messages
            .push(ChatMessage::tool(&call.id, format!("result {i}")));
    }
    let second = wrapped(&server)
        .chat(&request, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(second.content.as_deref(), Some(r#"{"date": "2015-05-15"}"#));
    assert!(second.tool_calls.is_empty());

    let body = &server.requests()[1].body;
    assert!(body.get("tools").is_none());
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert!(messages[2].get("tool_calls").is_none());
    let assistant = messages[2]["content"].as_str().unwrap();
    assert!(
        assistant
            .contains(r#"{"name": "web_search", "arguments": {"query":"Rust 1.0 release date"}}"#),
        "{assistant}"
    );
    assert_eq!(
        assistant.matches("<tool_call>").count(),
        3,
        "two calls and the kept malformed block: {assistant}"
    );
    let results = messages[3]["content"].as_str().unwrap();
    let (a, b) = (&first.tool_calls[0], &first.tool_calls[1]);
    assert!(
        results.contains(&format!(
            "<tool_result id=\"{}\" name=\"web_search\">\nresult 0\n</tool_result>",
            a.id
        )),
        "{results}"
    );
    assert!(results.contains(&format!("<tool_result id=\"{}\" name=\"web_fetch\">", b.id)));
}

#[tokio::test]
async fn a_request_without_tools_passes_through_unchanged() {
    let server = Replay::start(vec![completion(
        "plain answer <tool_call>{\"name\": \"x\"}</tool_call>",
    )])
    .await;
    let request = ChatRequest {
        tools: ToolList::default(),
        ..first_request()
    };
    let response = wrapped(&server)
        .chat(&request, &CancellationToken::new())
        .await
        .unwrap();
    assert!(
        response.tool_calls.is_empty(),
        "no tools offered: nothing parsed"
    );
    let body = &server.requests()[0].body;
    assert_eq!(body["messages"][0]["content"], "You are a research agent.");
    assert_eq!(body["response_format"]["type"], "json_schema");
}

#[tokio::test]
async fn describes_itself_through_the_inner_provider() {
    let server = Replay::start(vec![completion("x")]).await;
    let described = wrapped(&server).describe();
    assert!(
        described.starts_with("openai-compatible http://127.0.0.1:"),
        "{described}"
    );
    assert!(described.ends_with("(prompt tool protocol)"));
}
