//! Calls to one server run concurrently: no lock is held across I/O.

mod common;

use std::time::{Duration, Instant};

use common::*;
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::json;

#[tokio::test]
async fn ten_slow_calls_overlap() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;
    call(&client, "echo", json!({"text": "warm"})).await;
    let started = Instant::now();
    let calls = (0..10).map(|_| {
        let client = client.clone();
        async move { call(&client, "slow", json!({"ms": 200})).await }
    });
    let outputs = futures::future::join_all(calls).await;
    let elapsed = started.elapsed();
    assert!(outputs.iter().all(|o| o.text == "slept 200 ms"));
    assert!(
        elapsed < Duration::from_secs(1),
        "10 x 200 ms took {elapsed:?}"
    );
}
