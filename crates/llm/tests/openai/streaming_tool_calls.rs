//! Streamed parallel tool calls are assembled by index (arguments split over chunks), and
//! the follow-up turn carries them back in the OpenAI wire format.

use forage_llm::{ChatMessage, ChatRequest, LlmProvider};
use forage_testkit::llm::FakeLlm;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::{provider, request, search_tool};

#[tokio::test]
async fn assembles_parallel_tool_calls_then_answers_from_results() {
    let fake = FakeLlm::start().await;
    let provider = provider(&fake);
    let cancel = CancellationToken::new();
    let mut req: ChatRequest = request(
        r#"Who created Rust? [[fake:call name=search args={"query": "rust creator", "limit": 3}]] [[fake:call name=fetch args={"query": "https://www.rust-lang.org/"}]]"#,
    );
    req.tools = vec![search_tool("web__search"), search_tool("fetch")].into();

    let first = provider.chat(&req, &cancel).await.expect("first turn");
    assert_eq!(first.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(first.content, None);
    assert_eq!(first.tool_calls.len(), 2);
    assert_eq!(first.tool_calls[0].name, "web__search");
    assert_eq!(
        first.tool_calls[0].parsed_arguments().unwrap(),
        json!({"query": "rust creator", "limit": 3})
    );
    assert_eq!(first.tool_calls[1].name, "fetch");
    assert_ne!(first.tool_calls[0].id, first.tool_calls[1].id);

    req.messages.push(ChatMessage::from(&first));
    for call in &first.tool_calls {
        req.messages.push(ChatMessage::tool(
            &call.id,
            format!("result of {}", call.name),
        ));
    }
    let second = provider.chat(&req, &cancel).await.expect("second turn");
    assert!(second.tool_calls.is_empty());
    assert_eq!(second.content.as_deref(), Some("Answer: result of fetch"));

    let sent = fake.requests();
    assert_eq!(sent[0]["tools"][0]["type"], "function");
    assert_eq!(sent[0]["tools"][0]["function"]["name"], "web__search");
    let assistant = &sent[1]["messages"][2];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["tool_calls"][0]["type"], "function");
    assert_eq!(
        assistant["tool_calls"][0]["id"],
        first.tool_calls[0].id.as_str()
    );
    assert_eq!(
        assistant["tool_calls"][0]["function"]["arguments"],
        first.tool_calls[0].arguments.as_str()
    );
    assert_eq!(sent[1]["messages"][3]["role"], "tool");
    assert_eq!(
        sent[1]["messages"][3]["tool_call_id"],
        first.tool_calls[0].id.as_str()
    );
}

#[tokio::test]
async fn calls_every_offered_tool_by_default_with_schema_arguments() {
    let fake = FakeLlm::start().await;
    let mut req = request("Find the population of Lyon.");
    req.tools = vec![search_tool("a__search"), search_tool("b__lookup")].into();
    let response = provider(&fake)
        .chat(&req, &CancellationToken::new())
        .await
        .expect("chat");
    let names: Vec<&str> = response
        .tool_calls
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["a__search", "b__lookup"]);
    for call in &response.tool_calls {
        assert_eq!(call.parsed_arguments().unwrap(), json!({"query": "test"}));
    }
}
