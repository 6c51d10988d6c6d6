//! Task groups against the real binary: the official Python SDK's `task_group` calls, and
//! 2,000 runs added in two requests with counts kept (not scanned) and checked.

mod common;

use std::time::{Duration, Instant};

use common::{ForageServer, ServerOpts, run_python_sdk};
use forage_testkit::llm::FakeLlm;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_sdk_task_group_calls() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    run_python_sdk(&server, "task_groups.py", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_runs_in_two_requests() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let api = server.api();
    let group = api.post_json("/v1/tasks/groups", &json!({})).await;
    assert_eq!(group.status, StatusCode::OK, "{}", group.text);
    let id = group.body["taskgroup_id"].as_str().unwrap().to_owned();
    let batch = |from: usize| {
        json!({
            "inputs": (from..from + 1000)
                .map(|i| json!({"input": format!("Item {i} [[fake:no_tools]]"), "processor": "lite"}))
                .collect::<Vec<_>>(),
            "default_task_spec": {"output_schema": {"type": "text"}},
        })
    };
    let started = Instant::now();
    for from in [0, 1000] {
        let reply = api
            .post_json(&format!("/v1/tasks/groups/{id}/runs"), &batch(from))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            common::tail(&reply.text, 2000)
        );
        assert_eq!(reply.body["run_ids"].as_array().unwrap().len(), 1000);
    }
    let add_time = started.elapsed();
    let reply = api.get(&format!("/v1beta/tasks/groups/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let status = &reply.body["status"];
    assert_eq!(status["num_task_runs"], 2000);
    let counts = status["task_run_status_counts"].as_object().unwrap();
    let total: u64 = counts.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 2000, "{counts:?}");
    // Retrieving the group stays fast with thousands of members.
    let t = Instant::now();
    for _ in 0..20 {
        assert_eq!(
            api.get(&format!("/v1/tasks/groups/{id}")).await.status,
            StatusCode::OK
        );
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "20 retrieves took {:?}",
        t.elapsed()
    );
    eprintln!("added 2000 runs in {add_time:?}");

    // A bad item is a 422 naming its index; nothing of that request is added.
    let bad = api
        .post_json(
            &format!("/v1/tasks/groups/{id}/runs"),
            &json!({"inputs": [{"input": "ok", "processor": "lite"}, {"input": "x", "processor": "nope"}]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert!(bad.text.contains("inputs"), "{}", bad.text);
    let after = api.get(&format!("/v1/tasks/groups/{id}")).await;
    assert_eq!(after.body["status"]["num_task_runs"], 2000);
    let other = common::Api::new(&server.base_url, Some("someone-else"));
    let _ = other;
    let missing = api.get("/v1/tasks/groups/tgrp_missing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    common::assert_error_shape(&missing, "group 404");
}
