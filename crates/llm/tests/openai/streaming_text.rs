//! A streamed text answer is assembled from its deltas, with usage from the final chunk.

use forage_llm::LlmProvider;
use forage_testkit::llm::FakeLlm;
use tokio_util::sync::CancellationToken;

use crate::common::{provider, request};

#[tokio::test]
async fn streams_text_with_usage() {
    let fake = FakeLlm::start().await;
    let input = "Summarise the history of the Rust programming language in a few words.";
    let response = provider(&fake)
        .chat(&request(input), &CancellationToken::new())
        .await
        .expect("chat");

    assert_eq!(
        response.content.as_deref(),
        Some(&*format!("Answer: {input}"))
    );
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert_eq!(response.model, "test-model");
    assert!(response.usage.input_tokens > 0 && response.usage.output_tokens > 0);

    let sent = fake.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["stream"], true);
    assert_eq!(sent[0]["stream_options"]["include_usage"], true);
    assert_eq!(sent[0]["messages"][0]["role"], "system");
    assert_eq!(sent[0]["messages"][1]["content"], input);
    assert!(
        sent[0].get("tools").is_none(),
        "no tools key when none offered"
    );
}
