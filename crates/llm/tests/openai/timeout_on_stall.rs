//! A stalled server ends the attempt at `request_timeout` (the bound covers the streamed
//! body too); a slow-but-in-time server still answers.

use std::time::{Duration, Instant};

use forage_llm::{LlmError, LlmProvider, OpenAiConfig, OpenAiProvider};
use forage_testkit::llm::FakeLlm;
use tokio_util::sync::CancellationToken;

use crate::common::{config, request};

fn impatient(fake: &FakeLlm, stream: bool) -> OpenAiProvider {
    OpenAiProvider::new(OpenAiConfig {
        request_timeout: Duration::from_millis(300),
        stream,
        ..config(fake)
    })
    .unwrap()
}

#[tokio::test]
async fn times_out_a_stalled_stream() {
    // The fake sends headers and the first chunk at once, then stalls mid-stream.
    let fake = FakeLlm::start().await;
    let started = Instant::now();
    let err = impatient(&fake, true)
        .chat(
            &request("Q [[fake:stall_ms=10000]]"),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.requests().len(), 1, "timeouts are not retried");
}

#[tokio::test]
async fn times_out_a_stalled_plain_completion() {
    let fake = FakeLlm::start().await;
    let started = Instant::now();
    let err = impatient(&fake, false)
        .chat(
            &request("Q [[fake:stall_ms=10000]]"),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn waits_for_a_slow_but_timely_answer() {
    let fake = FakeLlm::start().await;
    let provider = OpenAiProvider::new(OpenAiConfig {
        request_timeout: Duration::from_secs(5),
        ..config(&fake)
    })
    .unwrap();
    let started = Instant::now();
    let response = provider
        .chat(
            &request("Q [[fake:delay_ms=200]]"),
            &CancellationToken::new(),
        )
        .await
        .expect("slow answer");
    assert_eq!(response.content.as_deref(), Some("Answer: Q"));
    assert!(started.elapsed() >= Duration::from_millis(200));
}
