//! A call past its timeout, or cancelled by the caller, returns at once and the server is
//! sent `notifications/cancelled`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use forage_mcp::McpError;
use forage_testkit::mcp_fixture::{FixtureHandle, start_fixture};
use serde_json::json;
use tokio_util::sync::CancellationToken;

async fn wait_for(fixture: &FixtureHandle, what: impl Fn(&FixtureHandle) -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while !what(fixture) {
        assert!(
            Instant::now() < until,
            "the server never saw the cancellation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn timeout_sends_cancelled() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;
    let started = Instant::now();
    let err = client
        .call_tool(
            "slow",
            args(json!({"ms": 10_000})),
            Duration::from_millis(300),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, McpError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("'fixture'") && err.to_string().contains("tools/call"),
        "{err}"
    );
    wait_for(&fixture, |f| {
        f.cancellations() >= 1 && f.slow_cancelled() >= 1
    })
    .await;
    // The session is still usable.
    assert_eq!(
        call(&client, "echo", json!({"text": "after"})).await.text,
        "after"
    );
}

#[tokio::test]
async fn cancel_token_sends_cancelled() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = client
        .call_tool(
            "slow",
            args(json!({"ms": 10_000})),
            Duration::from_secs(30),
            cancel,
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(err, McpError::Cancelled { .. }), "{err:?}");
    wait_for(&fixture, |f| {
        f.cancellations() >= 1 && f.slow_cancelled() >= 1
    })
    .await;
}

#[tokio::test]
async fn already_cancelled_token_sends_nothing() {
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = client
        .call_tool(
            "echo",
            args(json!({"text": "x"})),
            Duration::from_secs(5),
            cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::Cancelled { .. }), "{err:?}");
    assert_eq!(fixture.calls("echo"), 0);
}
