//! Graceful shutdown: runs still in flight after the grace period go back to the queue.

mod common;

use forage_api::{RunId, RunStatus};
use serde_json::json;

#[tokio::test]
async fn shutdown_releases_in_flight_runs() {
    let mut server = common::start(&[]).await;
    let (_, run) = server
        .create(
            None,
            &json!({"input": "long [[fake:stall_ms=30000]]", "processor": "lite"}),
        )
        .await;
    let id = run["run_id"].as_str().unwrap().to_owned();
    common::wait_for_status(&server.store, &id, "running").await;
    let started = std::time::Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let record = server
        .store
        .get_run(&RunId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.status,
        RunStatus::Queued,
        "released back to the queue"
    );
    // A new server on the same data picks it up again.
}

#[tokio::test]
async fn shutdown_lets_short_runs_finish() {
    let mut server = common::start_with(&[], |c| c.shutdown_grace_secs = 20).await;
    let (_, run) = server
        .create(
            None,
            &json!({"input": "short [[fake:stall_ms=500]]", "processor": "lite"}),
        )
        .await;
    let id = run["run_id"].as_str().unwrap().to_owned();
    common::wait_for_status(&server.store, &id, "running").await;
    server.shutdown().await;
    let record = server
        .store
        .get_run(&RunId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, RunStatus::Completed);
}
