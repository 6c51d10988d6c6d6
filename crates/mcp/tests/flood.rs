//! A server that streams forever cannot grow the client's memory: a flood of valid
//! notifications that never brings the reply ends at the call's timeout, and one endless SSE
//! line is refused once it passes the size limit. Memory is read from the process (one test in
//! this binary, so nothing else allocates meanwhile).

mod common;

use std::time::{Duration, Instant};

use common::*;
use forage_mcp::{Limits, McpClient, McpError};
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Resident memory of this process, in bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_streams_end_in_an_error_with_memory_bounded() {
    init_tracing();
    let fixture = start_fixture().await;
    let limits = Limits {
        max_response_bytes: 1024 * 1024,
        ..Limits::default()
    };

    // Warm up (allocator pools, the HTTP client) before the baseline.
    let flood =
        McpClient::connect_with_limits(&spec("flood", &fixture.url_for("flood")), http(), limits)
            .await
            .unwrap();
    let _ = flood
        .call_tool(
            "forever",
            args(json!({})),
            Duration::from_millis(200),
            CancellationToken::new(),
        )
        .await;
    let before_bytes = fixture.streamed_bytes();
    let baseline = rss_bytes();

    let started = Instant::now();
    let err = flood
        .call_tool(
            "forever",
            args(json!({})),
            Duration::from_secs(3),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let flooded = fixture.streamed_bytes() - before_bytes;
    let grown = rss_bytes().saturating_sub(baseline);
    println!(
        "flood: {} MB read, memory grew {} MB",
        flooded >> 20,
        grown >> 20
    );
    assert!(
        flooded > 32 << 20,
        "the flood was real: only {flooded} bytes were sent"
    );
    assert!(
        grown < 24 << 20,
        "memory grew by {grown} bytes while reading {flooded}"
    );

    let long =
        McpClient::connect_with_limits(&spec("long", &fixture.url_for("longline")), http(), limits)
            .await
            .unwrap();
    let before_bytes = fixture.streamed_bytes();
    let started = Instant::now();
    let err = long
        .call_tool(
            "forever",
            args(json!({})),
            Duration::from_secs(30),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, McpError::TooLarge { limit, .. } if limit == 1024 * 1024),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused at the limit, not at the timeout"
    );
    let grown = rss_bytes().saturating_sub(baseline);
    println!(
        "long line: refused after {} KB sent, memory grew {} MB",
        (fixture.streamed_bytes() - before_bytes) >> 10,
        grown >> 20
    );
    assert!(grown < 24 << 20, "memory grew by {grown} bytes");
}
