//! Cancelling runs against the real binary: a queued run ends cancelled at once, a running one
//! goes through `cancelling` to `cancelled` (its LLM call stopped), a final run is 409, and the
//! result of a cancelled run is 404.

mod common;

use std::time::{Duration, Instant};

use common::{ForageServer, ServerOpts, sse_data};
use forage_testkit::llm::FakeLlm;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_running_queued_and_final_runs() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url).env("FORAGE_WORKERS", 1)).await;
    let api = server.api();
    let running = api
        .create(&json!({"input": "Stall [[fake:no_tools]] [[fake:stall_ms=20000]]", "processor": "lite"}))
        .await;
    let running_id = running["run_id"].as_str().unwrap().to_owned();
    // With one worker, the second run stays queued behind the stalled one.
    let queued = api
        .create(&json!({"input": "Wait [[fake:no_tools]]", "processor": "lite"}))
        .await;
    let queued_id = queued["run_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.run(&running_id).await.body["status"] != "running" {
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let reply = api
        .post_json(&format!("/v1/tasks/runs/{queued_id}/cancel"), &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["status"], "cancelled");

    let started = Instant::now();
    let reply = api
        .post_json(
            &format!("/v1beta/tasks/runs/{running_id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.body["status"] == "cancelling" || reply.body["status"] == "cancelled",
        "{}",
        reply.text
    );
    let done = api.wait_done(&running_id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "cancelled");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the stalled LLM call was stopped, not waited out"
    );

    let result = api.result(&running_id, 1).await;
    assert_eq!(result.status, StatusCode::NOT_FOUND, "{}", result.text);
    assert!(result.text.contains("cancelled"), "{}", result.text);
    common::assert_error_shape(&result, "cancelled result");

    let again = api
        .post_json(&format!("/v1/tasks/runs/{running_id}/cancel"), &json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    common::assert_error_shape(&again, "409");
    let unknown = api
        .post_json(
            "/v1/tasks/runs/trun_00000000000000000000000000000000/cancel",
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);

    let (_, text) = api
        .read_sse(
            &format!("/v1/tasks/runs/{running_id}/events"),
            Duration::from_secs(10),
        )
        .await;
    let statuses: Vec<String> = sse_data(&text)
        .iter()
        .filter(|d| d["type"] == "task_run.state")
        .map(|d| d["run"]["status"].as_str().unwrap().to_owned())
        .collect();
    let tail: Vec<&str> = statuses.iter().map(String::as_str).collect();
    assert!(
        tail.ends_with(&["running", "cancelling", "cancelled"]),
        "status sequence: {tail:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_watchers_get_the_same_stream() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let api = server.api();
    let run = api
        .create(&json!({"input": "Stream [[fake:no_tools]] [[fake:delay_ms=1500]]", "processor": "pro", "enable_events": true}))
        .await;
    let id = run["run_id"].as_str().unwrap().to_owned();
    let mut watchers = Vec::new();
    for _ in 0..50 {
        let api = server.api();
        let path = format!("/v1/tasks/runs/{id}/events");
        watchers.push(tokio::spawn(async move {
            api.read_sse(&path, Duration::from_secs(30)).await
        }));
    }
    let mut streams = Vec::new();
    for w in watchers {
        let (status, text) = w.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("id:") || l.starts_with("data:"))
            .map(|l| {
                // Drop the live first state frame's timestamps: compare the log entries.
                l.to_owned()
            })
            .filter(|l| l.starts_with("id:"))
            .collect();
        streams.push(ids);
    }
    let first = &streams[0];
    assert!(!first.is_empty());
    for s in &streams {
        assert_eq!(s, first, "every watcher gets the same entries");
    }
    let last = sse_data(
        &api.read_sse(
            &format!("/v1/tasks/runs/{id}/events"),
            Duration::from_secs(10),
        )
        .await
        .1,
    );
    assert_eq!(last.last().unwrap()["run"]["status"], "completed");
}
