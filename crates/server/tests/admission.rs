//! Abuse limits and isolation between API keys: per-key request rate and unfinished-run caps
//! (429 with `Retry-After`), a bounded queue (503 with `Retry-After`), nothing created by a
//! refused request, and no key able to see or touch another key's runs, groups or secrets.

mod common;

use reqwest::Response;
use serde_json::{Value, json};

const KEY_A: &str = "key-a";
const KEY_B: &str = "key-b";

/// A run that stays active until cancelled (the scripted LLM stalls).
fn stalled() -> Value {
    json!({"input": "hold [[fake:stall_ms=60000]]", "processor": "lite"})
}

async fn send(
    server: &common::TestServer,
    method: reqwest::Method,
    key: &str,
    path: &str,
    body: Option<&Value>,
) -> Response {
    let mut request = server
        .http
        .request(method, server.url(path))
        .header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

fn retry_after(response: &Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("{} without Retry-After", response.status()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn run_count(server: &common::TestServer, key: &str) -> usize {
    let (status, list) = server.get(Some(key), "/v1/tasks/runs?limit=100").await;
    assert_eq!(status, 200, "{list}");
    list["runs"].as_array().unwrap().len()
}

#[tokio::test]
async fn request_rate_is_limited_per_key() {
    let server = common::start_with(&[KEY_A, KEY_B], |c| {
        c.limits.requests_per_minute_per_key = 4;
    })
    .await;
    for _ in 0..4 {
        let r = send(&server, reqwest::Method::GET, KEY_A, "/v1/tasks/runs", None).await;
        assert_eq!(r.status(), 200);
    }
    let refused = send(&server, reqwest::Method::GET, KEY_A, "/v1/tasks/runs", None).await;
    assert_eq!(refused.status(), 429);
    // One request every 15 s refills the allowance.
    assert!((1..=15).contains(&retry_after(&refused)));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("requests_per_minute_per_key"), "{message}");

    // A refused create creates nothing.
    let refused = send(
        &server,
        reqwest::Method::POST,
        KEY_A,
        "/v1/tasks/runs",
        Some(&json!({"input": "q", "processor": "lite"})),
    )
    .await;
    assert_eq!(refused.status(), 429);
    assert_eq!(server.store.queue_depth().await.unwrap().queued, 0);

    // The other key is not slowed down by the first.
    for _ in 0..4 {
        let r = send(&server, reqwest::Method::GET, KEY_B, "/v1/tasks/runs", None).await;
        assert_eq!(r.status(), 200);
    }
    // Health is not an API request of any key.
    let (status, _) = server.get(None, "/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unfinished_runs_are_capped_per_key() {
    let server = common::start_with(&[KEY_A, KEY_B], |c| {
        c.limits.max_active_runs_per_key = 2;
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, run) = server.create(Some(KEY_A), &stalled()).await;
        assert_eq!(status, 202, "{run}");
        ids.push(run["run_id"].as_str().unwrap().to_owned());
    }
    let refused = send(
        &server,
        reqwest::Method::POST,
        KEY_A,
        "/v1/tasks/runs",
        Some(&stalled()),
    )
    .await;
    assert_eq!(refused.status(), 429);
    assert!(retry_after(&refused) >= 1);
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("max_active_runs_per_key"), "{message}");
    assert_eq!(
        run_count(&server, KEY_A).await,
        2,
        "the refused run was not created"
    );

    // A group cannot slip past the cap either: the whole batch is refused, nothing is added.
    let (status, group) = {
        let r = send(
            &server,
            reqwest::Method::POST,
            KEY_A,
            "/v1/tasks/groups",
            Some(&json!({})),
        )
        .await;
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{group}");
    let group_id = group["taskgroup_id"].as_str().unwrap();
    let refused = send(
        &server,
        reqwest::Method::POST,
        KEY_A,
        &format!("/v1/tasks/groups/{group_id}/runs"),
        Some(&json!({"inputs": [{"input": "x", "processor": "lite"}]})),
    )
    .await;
    assert_eq!(refused.status(), 429);
    let (_, group) = server
        .get(Some(KEY_A), &format!("/v1/tasks/groups/{group_id}"))
        .await;
    assert_eq!(group["status"]["num_task_runs"], 0, "{group}");

    // Another key has its own allowance.
    let (status, _) = server.create(Some(KEY_B), &stalled()).await;
    assert_eq!(status, 202);

    // When one of the key's runs ends, it may create again.
    let r = send(
        &server,
        reqwest::Method::POST,
        KEY_A,
        &format!("/v1/tasks/runs/{}/cancel", ids[0]),
        None,
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    common::wait_for_status(&server.store, &ids[0], "cancelled").await;
    let (status, run) = server.create(Some(KEY_A), &stalled()).await;
    assert_eq!(status, 202, "{run}");
}

/// Many creates at once cannot together go past the cap: exactly as many runs as it allows
/// are created, and every other create is refused.
#[tokio::test]
async fn creates_at_the_same_time_cannot_overshoot_the_cap() {
    let server = common::start_with(&[KEY_A], |c| {
        c.limits.max_active_runs_per_key = 3;
    })
    .await;
    let server = std::sync::Arc::new(server);
    let creates: Vec<_> = (0..24)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                send(
                    &server,
                    reqwest::Method::POST,
                    KEY_A,
                    "/v1/tasks/runs",
                    Some(&stalled()),
                )
                .await
                .status()
                .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for create in creates {
        statuses.push(create.await.unwrap());
    }
    let created = statuses.iter().filter(|s| **s == 202).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((created, refused), (3, 21), "{statuses:?}");
    assert_eq!(run_count(&server, KEY_A).await, 3);
}

#[tokio::test]
async fn a_full_queue_answers_503_and_loses_nothing() {
    let server = common::start_with(&[KEY_A], |c| {
        c.workers = 1;
        c.limits.max_queued_runs = 2;
    })
    .await;
    let (status, first) = server.create(Some(KEY_A), &stalled()).await;
    assert_eq!(status, 202);
    common::wait_for_status(&server.store, first["run_id"].as_str().unwrap(), "running").await;
    for _ in 0..2 {
        let (status, run) = server.create(Some(KEY_A), &stalled()).await;
        assert_eq!(status, 202, "{run}");
    }
    let refused = send(
        &server,
        reqwest::Method::POST,
        KEY_A,
        "/v1/tasks/runs",
        Some(&stalled()),
    )
    .await;
    assert_eq!(refused.status(), 503);
    assert!(retry_after(&refused) >= 1);
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("queue is full"), "{message}");
    let depth = server.store.queue_depth().await.unwrap();
    assert_eq!((depth.queued, depth.running), (2, 1));
    assert_eq!(run_count(&server, KEY_A).await, 3);
    // Reading is never refused for a full queue.
    let (status, _) = server.get(Some(KEY_A), "/v1/tasks/runs").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn one_key_cannot_reach_another_keys_runs_groups_or_secrets() {
    let server = common::start(&[KEY_A, KEY_B]).await;
    let (status, run) = server
        .create(Some(KEY_A), &json!({"input": "q", "processor": "lite"}))
        .await;
    assert_eq!(status, 202);
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let (status, result) = server
        .get(
            Some(KEY_A),
            &format!("/v1/tasks/runs/{run_id}/result?timeout=60"),
        )
        .await;
    assert_eq!(status, 200, "{result}");

    // Cancelling another key's run: not found, and the run is untouched.
    let r = send(
        &server,
        reqwest::Method::POST,
        KEY_B,
        &format!("/v1/tasks/runs/{run_id}/cancel"),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    let (_, run) = server
        .get(Some(KEY_A), &format!("/v1/tasks/runs/{run_id}"))
        .await;
    assert_eq!(run["status"], "completed");

    // Continuing another key's interaction: refused as unknown.
    let (status, err) = server
        .create(
            Some(KEY_B),
            &json!({"input": "and then?", "processor": "lite",
                    "previous_interaction_id": run["interaction_id"]}),
        )
        .await;
    assert_eq!(status, 422, "{err}");

    // Groups: another key's group, its runs, events and additions are all not found.
    let r = send(
        &server,
        reqwest::Method::POST,
        KEY_A,
        "/v1/tasks/groups",
        Some(&json!({})),
    )
    .await;
    let group: Value = r.json().await.unwrap();
    let group_id = group["taskgroup_id"].as_str().unwrap().to_owned();
    let r = send(
        &server,
        reqwest::Method::POST,
        KEY_A,
        &format!("/v1/tasks/groups/{group_id}/runs"),
        Some(&json!({"inputs": [{"input": "x", "processor": "lite"}]})),
    )
    .await;
    let added: Value = r.json().await.unwrap();
    let member = added["run_ids"][0].as_str().unwrap().to_owned();
    for path in [
        format!("/v1/tasks/groups/{group_id}"),
        format!("/v1/tasks/groups/{group_id}/runs"),
        format!("/v1/tasks/groups/{group_id}/events"),
        format!("/v1/tasks/groups/{group_id}/runs/{member}"),
        format!("/v1/tasks/runs/{member}"),
    ] {
        let r = send(&server, reqwest::Method::GET, KEY_B, &path, None).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = send(
        &server,
        reqwest::Method::POST,
        KEY_B,
        &format!("/v1/tasks/groups/{group_id}/runs"),
        Some(&json!({"inputs": [{"input": "intruder", "processor": "lite"}]})),
    )
    .await;
    assert_eq!(r.status(), 404);
    let (_, group) = server
        .get(Some(KEY_A), &format!("/v1/tasks/groups/{group_id}"))
        .await;
    assert_eq!(group["status"]["num_task_runs"], 1, "{group}");
    assert_eq!(run_count(&server, KEY_B).await, 0);

    // Webhook signing secrets differ per key.
    let secret = |key| {
        let server = &server;
        async move {
            let (status, body) = server.get(Some(key), "/v1/forage/webhook-secret").await;
            assert_eq!(status, 200);
            body["secret"].as_str().unwrap().to_owned()
        }
    };
    assert_ne!(secret(KEY_A).await, secret(KEY_B).await);
}
