//! The cancel token ends a request at once, mid-flight or before it starts.

use std::time::{Duration, Instant};

use forage_llm::{LlmError, LlmProvider};
use forage_testkit::llm::FakeLlm;
use tokio_util::sync::CancellationToken;

use crate::common::{provider, request};

#[tokio::test]
async fn cancels_a_request_in_flight() {
    let fake = FakeLlm::start().await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = provider(&fake)
        .chat(&request("Q [[fake:stall_ms=10000]]"), &cancel)
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancels_during_retry_backoff() {
    let fake = FakeLlm::start().await;
    let provider = forage_llm::OpenAiProvider::new(forage_llm::OpenAiConfig {
        initial_backoff: Duration::from_secs(30),
        ..crate::common::config(&fake)
    })
    .unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = provider
        .chat(&request("Q [[fake:fail=500 times=5]]"), &cancel)
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_cancelled_token_sends_nothing() {
    let fake = FakeLlm::start().await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = provider(&fake)
        .chat(&request("Q"), &cancel)
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Cancelled);
    assert!(fake.requests().is_empty());
}
