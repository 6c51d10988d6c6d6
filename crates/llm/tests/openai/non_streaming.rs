//! With `stream = false` the request asks for a plain completion and the body is parsed.

use forage_llm::{LlmProvider, OpenAiProvider};
use forage_testkit::llm::FakeLlm;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::{config, request, search_tool};

fn non_streaming(fake: &FakeLlm) -> OpenAiProvider {
    OpenAiProvider::new(forage_llm::OpenAiConfig {
        stream: false,
        ..config(fake)
    })
    .unwrap()
}

#[tokio::test]
async fn parses_a_plain_completion() {
    let fake = FakeLlm::start().await;
    let response = non_streaming(&fake)
        .chat(&request("What is 2 + 2?"), &CancellationToken::new())
        .await
        .expect("chat");
    assert_eq!(response.content.as_deref(), Some("Answer: What is 2 + 2?"));
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert!(response.usage.input_tokens > 0);

    let sent = fake.requests();
    assert!(sent[0].get("stream").is_none());
    assert!(sent[0].get("stream_options").is_none());
}

#[tokio::test]
async fn parses_tool_calls_of_a_plain_completion() {
    let fake = FakeLlm::start().await;
    let mut req = request(r#"Q [[fake:call name=search args={"query":"x"}]]"#);
    req.tools = vec![search_tool("srv__search")].into();
    let response = non_streaming(&fake)
        .chat(&req, &CancellationToken::new())
        .await
        .expect("chat");
    assert_eq!(response.tool_calls.len(), 1);
    assert_eq!(response.tool_calls[0].name, "srv__search");
    assert_eq!(
        response.tool_calls[0].parsed_arguments().unwrap(),
        json!({"query": "x"})
    );
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
}
