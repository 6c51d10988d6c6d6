//! The testkit fake LLM's Anthropic endpoint (`POST /v1/messages`) driven through the real
//! `AnthropicProvider`, streamed and not: a tool-call turn, then a schema-valid answer; scripted
//! overload retried; Anthropic's required headers checked.

use std::time::Duration;

use forage_api::Secret;
use forage_llm::{
    AnthropicConfig, AnthropicProvider, ChatMessage, ChatRequest, LlmError, LlmProvider,
    ResponseFormat, ToolSpec,
};
use forage_testkit::llm::FakeLlm;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn provider(fake: &FakeLlm, stream: bool) -> AnthropicProvider {
    AnthropicProvider::new(AnthropicConfig {
        base_url: fake.base_url.clone(),
        request_timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(5),
        stream,
        ..AnthropicConfig::new(Secret::new("sk-ant-fake"))
    })
    .unwrap()
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {"founder": {"type": "string"}, "year": {"type": "integer", "minimum": 2000}},
        "required": ["founder", "year"],
        "additionalProperties": false
    })
}

fn request(input: &str) -> ChatRequest {
    ChatRequest {
        model: "claude-sonnet-4-5".into(),
        messages: vec![
            ChatMessage::system("You are a research agent."),
            ChatMessage::user(input),
        ].into(),
        tools: vec![ToolSpec {
            name: "web_search".into(),
            description: "Search the web.".into(),
            parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}).into(),
        }].into(),
        response_format: Some(ResponseFormat {
            name: "forage_answer".into(),
            schema: schema().into(),
        }),
        max_output_tokens: Some(1024),
        temperature: None,
    }
}

async fn tool_turn_then_answer(stream: bool) {
    let fake = FakeLlm::start().await;
    let provider = provider(&fake, stream);
    let cancel = CancellationToken::new();
    let mut request =
        request(r#"Who founded Rust? [[fake:call name=web_search args={"query":"rust founder"}]]"#);

    let first = provider.chat(&request, &cancel).await.unwrap();
    assert_eq!(first.content, None);
    assert_eq!(first.finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(first.tool_calls.len(), 1);
    assert_eq!(first.tool_calls[0].name, "web_search");
    assert!(first.tool_calls[0].id.starts_with("toolu_"));
    assert_eq!(
        first.tool_calls[0].parsed_arguments().unwrap(),
        json!({"query": "rust founder"})
    );
    assert!(first.usage.input_tokens > 0 && first.usage.output_tokens > 0);
    assert_eq!(first.model, "claude-sonnet-4-5");

    request.messages.push(ChatMessage::from(&first));
    request.messages.push(ChatMessage::tool(
        &first.tool_calls[0].id,
        "Graydon Hoare started Rust in 2006.",
    ));
    let second = provider.chat(&request, &cancel).await.unwrap();
    assert!(second.tool_calls.is_empty());
    assert_eq!(second.finish_reason.as_deref(), Some("end_turn"));
    let answer: Value = serde_json::from_str(second.content.as_deref().unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema()).unwrap();
    assert!(validator.is_valid(&answer), "{answer}");
    assert!(
        answer["founder"].as_str().unwrap().contains("Graydon"),
        "the answer quotes the tool result: {answer}"
    );

    let sent = fake.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["messages"][2]["content"][0]["type"], "tool_result");
    let headers = &fake.request_headers()[1];
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "anthropic-version" && v == "2023-06-01")
    );
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "x-api-key" && v == "sk-ant-fake")
    );
}

#[tokio::test]
async fn streamed_tool_turn_then_schema_valid_answer() {
    tool_turn_then_answer(true).await;
}

#[tokio::test]
async fn non_streamed_tool_turn_then_schema_valid_answer() {
    tool_turn_then_answer(false).await;
}

#[tokio::test]
async fn scripted_overload_is_retried() {
    let fake = FakeLlm::start().await;
    let response = provider(&fake, true)
        .chat(
            &request("Q [[fake:fail=529 times=2]] [[fake:no_tools]]"),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(response.content.is_some());
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn the_fake_refuses_what_anthropic_refuses() {
    let fake = FakeLlm::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/messages", fake.base_url);
    let body =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let no_key = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    let error: Value = no_key.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "authentication_error");
    let no_version = http
        .post(&url)
        .header("x-api-key", "k")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), 400);

    let err = provider(&fake, false)
        .chat(
            &request("Q [[fake:fail=401 times=9]]"),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlmError::BadRequest { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("FORAGE_LLM_API_KEY"), "{err}");
}
