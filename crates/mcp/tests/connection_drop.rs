//! A server that drops the connection mid-call yields an error, not a hang.

mod common;

use std::time::{Duration, Instant};

use common::*;
use forage_mcp::McpError;
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn dropped_connection_is_an_error() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("dropper", &fixture.url_for("drop"))).await;
    let started = Instant::now();
    let err = client
        .call_tool(
            "forever",
            args(json!({})),
            Duration::from_secs(20),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    println!("dropped after {:?}: {err}", started.elapsed());
    assert!(
        !matches!(err, McpError::Timeout { .. }),
        "should fail before the timeout: {err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}
