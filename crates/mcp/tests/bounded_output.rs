//! Memory is bounded: an oversized response is an error, an endless stream times out.

mod common;

use std::time::{Duration, Instant};

use common::*;
use forage_mcp::{Limits, McpClient, McpError};
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn large_output_within_the_cap_is_whole() {
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;
    let out = call(&client, "huge", json!({"bytes": 2_000_000})).await;
    assert_eq!(out.bytes, 2_000_000);
    assert_eq!(out.text.len(), 2_000_000);
}

#[tokio::test]
async fn output_over_the_cap_is_an_error() {
    init_tracing();
    let fixture = start_fixture().await;
    let limits = Limits {
        max_response_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let client = McpClient::connect_with_limits(&spec("fixture", &fixture.url), http(), limits)
        .await
        .unwrap();
    let err = client
        .call_tool(
            "huge",
            args(json!({"bytes": 3_000_000})),
            Duration::from_secs(10),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    println!("over the cap: {err:?}");
    assert!(
        matches!(
            err,
            McpError::TooLarge { .. } | McpError::Closed { .. } | McpError::Protocol { .. }
        ),
        "{err:?}"
    );
    // Small calls still work afterwards.
    assert_eq!(
        call(&client, "echo", json!({"text": "ok"})).await.text,
        "ok"
    );
}

#[tokio::test]
async fn endless_stream_is_stopped_by_the_timeout() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("endless", &fixture.url_for("endless"))).await;
    let started = Instant::now();
    let err = client
        .call_tool(
            "forever",
            args(json!({})),
            Duration::from_millis(500),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
