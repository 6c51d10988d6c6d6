//! Run lifecycle: LLM failures, retries, deadlines, cancellation and continuing an interaction.

mod common;

use std::time::Duration;

use common::*;
use forage_api::OutputSchema;
use forage_engine::EngineOutcome;
use tokio_util::sync::CancellationToken;

fn text() -> OutputSchema {
    OutputSchema::Text { description: None }
}

#[tokio::test]
async fn transient_llm_errors_are_retried() {
    let h = Harness::start().await;
    let (outcome, _) = h
        .run(request("hi [[fake:fail=503 times=2]]", "lite", text()))
        .await;
    completed(outcome);
    assert_eq!(h.llm.requests().len(), 3);
}

#[tokio::test]
async fn a_rejected_llm_request_fails_the_run_with_the_reason() {
    let h = Harness::start().await;
    let (outcome, _) = h
        .run(request("hi [[fake:fail=400 times=5]]", "lite", text()))
        .await;
    let EngineOutcome::Failed { message, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(message.contains("LLM request failed"), "{message}");
    assert!(message.contains("400"), "{message}");
    assert_eq!(h.llm.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn a_stalled_llm_times_out() {
    let h = Harness::with(HarnessOptions {
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let (outcome, _) = h
        .run(request("hi [[fake:stall_ms=10000]]", "lite", text()))
        .await;
    let EngineOutcome::Failed { message, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        message.to_lowercase().contains("timed out") || message.to_lowercase().contains("timeout"),
        "{message}"
    );
}

#[tokio::test]
async fn cancellation_stops_the_run() {
    let h = Harness::start().await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let started = std::time::Instant::now();
    let (outcome, _) = h
        .run_with(
            request("hi [[fake:stall_ms=10000]]", "lite", text()),
            None,
            cancel,
        )
        .await;
    assert!(
        matches!(outcome, EngineOutcome::Cancelled { .. }),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_continued_interaction_carries_the_earlier_conversation() {
    let h = Harness::start().await;
    let (first, _) = h
        .run(request("My company is ACME-ZETA.", "lite", text()))
        .await;
    let EngineOutcome::Completed { transcript, .. } = first else {
        panic!("{first:?}")
    };
    let (second, _) = h
        .run_with(
            request("What is my company?", "lite", text()),
            Some(transcript),
            CancellationToken::new(),
        )
        .await;
    completed(second);
    let last = h.llm.requests().last().unwrap().clone();
    let texts: Vec<String> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].to_string())
        .collect();
    assert!(texts.iter().any(|t| t.contains("ACME-ZETA")), "{texts:?}");
    assert!(texts.last().unwrap().contains("What is my company?"));
    assert_eq!(
        last["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "system")
            .count(),
        1
    );
}
