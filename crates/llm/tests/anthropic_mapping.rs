//! The Anthropic provider against recorded Messages API responses (fixtures/anthropic/*)
//! replayed on loopback: the request forage sends (headers, system, alternation, tool_result
//! merging, tools, max_tokens) and the mapping of each reply, field by field.

mod replay;

use std::time::Duration;

use forage_api::Secret;
use forage_llm::{
    AnthropicConfig, AnthropicProvider, ChatMessage, ChatRequest, LlmError, LlmProvider,
    ResponseFormat, ToolCall, ToolSpec,
};
use replay::{Canned, Replay, fixture};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-ant-api03-test-key";

fn provider(server: &Replay, stream: bool) -> AnthropicProvider {
    AnthropicProvider::new(AnthropicConfig {
        base_url: server.base_url.clone(),
        request_timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(5),
        max_retries: 0,
        stream,
        ..AnthropicConfig::new(Secret::new(KEY))
    })
    .unwrap()
}

fn simple_request() -> ChatRequest {
    ChatRequest {
        model: "claude-sonnet-4-5".into(),
        messages: vec![
            ChatMessage::system("You are a research agent."),
            ChatMessage::user("Who started Rust?"),
        ]
        .into(),
        ..Default::default()
    }
}

/// A conversation with an earlier turn of two parallel calls and their results.
fn tool_request() -> ChatRequest {
    ChatRequest {
        model: "claude-sonnet-4-5".into(),
        messages: vec![
            ChatMessage::system("You are a research agent."),
            ChatMessage::user("When was Rust 1.0 released?"),
            ChatMessage::Assistant {
                content: Some("Searching.".into()),
                tool_calls: vec![
                    ToolCall {
                        id: "toolu_a".into(),
                        name: "web_search".into(),
                        arguments: r#"{"query":"rust 1.0"}"#.into(),
                    },
                    ToolCall {
                        id: "toolu_b".into(),
                        name: "web_fetch".into(),
                        arguments: r#"{"url":"https://blog.rust-lang.org/"}"#.into(),
                    },
                ],
            },
            ChatMessage::tool("toolu_a", "Rust 1.0 was released on 2015-05-15."),
            ChatMessage::tool("toolu_b", "The Rust blog."),
            ChatMessage::system("Answer now."),
            ChatMessage::user("Please answer."),
        ].into(),
        tools: vec![
            ToolSpec {
                name: "web_search".into(),
                description: "Search the web.".into(),
                parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}).into(),
            },
            ToolSpec {
                name: "web_fetch".into(),
                description: "Fetch a page.".into(),
                parameters: json!({"type": "object", "properties": {"url": {"type": "string"}}}).into(),
            },
        ].into(),
        response_format: Some(ResponseFormat {
            name: "forage_answer".into(),
            schema: json!({"type": "object", "properties": {"date": {"type": "string"}}, "required": ["date"]}).into(),
        }),
        max_output_tokens: Some(2048),
        temperature: Some(0.3),
    }
}

#[tokio::test]
async fn maps_a_text_reply_and_sends_the_documented_headers() {
    let server = Replay::start(vec![Canned::json(200, fixture("anthropic/text.json"))]).await;
    let response = provider(&server, false)
        .chat(&simple_request(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        response.content.as_deref(),
        Some("Rust was started by Graydon Hoare in 2006.")
    );
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.usage.input_tokens, 2095);
    assert_eq!(response.usage.output_tokens, 503);
    assert_eq!(response.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(response.model, "claude-sonnet-4-5-20250929");

    let sent = &server.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("authorization"), None);
    let body = &sent.body;
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["max_tokens"], 4096, "the default when none is asked");
    assert_eq!(body["system"], "You are a research agent.");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Who started Rust?"}]}])
    );
    for absent in ["stream", "tools", "temperature", "response_format"] {
        assert!(body.get(absent).is_none(), "{absent} sent: {body}");
    }
}

#[tokio::test]
async fn maps_two_parallel_tool_calls_and_sends_the_conversation_alternating() {
    let server = Replay::start(vec![Canned::json(200, fixture("anthropic/tool_use.json"))]).await;
    let response = provider(&server, false)
        .chat(&tool_request(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        response.content.as_deref(),
        Some("I'll search for both at once.")
    );
    assert_eq!(response.tool_calls.len(), 2);
    let (a, b) = (&response.tool_calls[0], &response.tool_calls[1]);
    assert_eq!(a.id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(a.name, "web_search");
    assert_eq!(
        a.parsed_arguments().unwrap(),
        json!({"query": "Rust language creator", "max_results": 5})
    );
    assert_eq!(b.id, "toolu_01B7Hk2mXqYvP3cRsT8nWd4e");
    assert_eq!(b.name, "web_fetch");
    assert_eq!(
        b.parsed_arguments().unwrap(),
        json!({"url": "https://www.rust-lang.org/"})
    );
    assert_eq!(response.finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(
        response.usage.input_tokens,
        1200 + 300 + 100,
        "cache tokens count as input"
    );
    assert_eq!(response.usage.output_tokens, 118);

    let body = &server.requests()[0].body;
    let system = body["system"].as_str().unwrap();
    assert!(
        system.starts_with("You are a research agent.\n\nAnswer now.\n\n"),
        "{system}"
    );
    assert!(
        system.contains("forage_answer") && system.contains("\"required\": [\n    \"date\"\n  ]"),
        "the answer schema is described in system: {system}"
    );
    assert_eq!(body["max_tokens"], 2048);
    assert!((body["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    assert_eq!(
        body["tools"][0],
        json!({"name": "web_search", "description": "Search the web.",
               "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}})
    );
    assert_eq!(body["tools"][1]["name"], "web_fetch");
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(
        messages[1]["content"],
        json!([
            {"type": "text", "text": "Searching."},
            {"type": "tool_use", "id": "toolu_a", "name": "web_search", "input": {"query": "rust 1.0"}},
            {"type": "tool_use", "id": "toolu_b", "name": "web_fetch", "input": {"url": "https://blog.rust-lang.org/"}}
        ])
    );
    assert_eq!(
        messages[2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "Rust 1.0 was released on 2015-05-15."},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": "The Rust blog."},
            {"type": "text", "text": "Please answer."}
        ]),
        "both results and the next user text in ONE user message, results first"
    );
}

#[tokio::test]
async fn folds_a_streamed_reply_with_text_and_input_json_deltas() {
    let server = Replay::start(vec![Canned::sse(fixture("anthropic/stream_tool_use.sse"))]).await;
    let response = provider(&server, true)
        .chat(&tool_request(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        response.content.as_deref(),
        Some("Okay, let's look that up on the web.")
    );
    assert_eq!(
        response.tool_calls,
        vec![ToolCall {
            id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
            name: "web_search".into(),
            arguments: r#"{"query": "Rust 1.0 release date"}"#.into(),
        }]
    );
    assert_eq!(response.usage.input_tokens, 472 + 28);
    assert_eq!(response.usage.output_tokens, 89);
    assert_eq!(response.finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(response.model, "claude-sonnet-4-5-20250929");
    let sent = &server.requests()[0];
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn shows_anthropics_error_body_for_a_400() {
    let server = Replay::start(vec![Canned::json(400, fixture("anthropic/error_400.json"))]).await;
    let err = provider(&server, true)
        .chat(&simple_request(), &CancellationToken::new())
        .await
        .unwrap_err();
    let LlmError::BadRequest { status, message } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*status, 400);
    assert!(
        message.contains("invalid_request_error: messages: roles must alternate"),
        "{message}"
    );
    assert_eq!(server.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn reports_an_overloaded_529() {
    let server = Replay::start(vec![Canned::json(
        529,
        fixture("anthropic/overloaded_529.json"),
    )])
    .await;
    let err = provider(&server, false)
        .chat(&simple_request(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Server { status: 529, message } if message.contains("overloaded_error: Overloaded")),
        "{err:?}"
    );
}

#[tokio::test]
async fn keeps_malformed_tool_arguments_as_text_and_sends_an_empty_input() {
    let server = Replay::start(vec![Canned::json(200, fixture("anthropic/text.json"))]).await;
    let mut request = tool_request();
    let mut messages = std::mem::take(&mut request.messages).into_items();
    if let ChatMessage::Assistant { tool_calls, .. } = &mut messages[2] {
        tool_calls[1].arguments = "{\"url\": \"https://x".into();
    }
    request.messages = messages.into();
    provider(&server, false)
        .chat(&request, &CancellationToken::new())
        .await
        .unwrap();
    let body = &server.requests()[0].body;
    let assistant = body["messages"][1]["content"].as_array().unwrap();
    let fetch = assistant
        .iter()
        .find(|b| b["id"] == "toolu_b")
        .expect("the call is still sent");
    assert_eq!(fetch["input"], json!({}));
    assert!(
        assistant
            .iter()
            .any(|b| b["type"] == "text" && b["text"].as_str().unwrap().contains("https://x")),
        "{assistant:?}"
    );
}
