//! Create → result round trips, long-poll timeout, failures, auth and owner isolation, input echo.

mod common;

use serde_json::json;

const KEY_A: &str = "key-a";
const KEY_B: &str = "key-b";

#[tokio::test]
async fn json_output_round_trip() {
    let server = common::start(&[KEY_A]).await;
    let body = json!({
        "input": "What is the GDP of France in 2023?",
        "processor": "lite",
        "metadata": {"k": "v"},
        "task_spec": {"output_schema": {"type": "json", "json_schema": {
            "type": "object",
            "properties": {"gdp": {"type": "string"}},
            "required": ["gdp"],
            "additionalProperties": false
        }}}
    });
    let (status, run) = server.create(Some(KEY_A), &body).await;
    assert_eq!(status, 202, "{run}");
    assert_eq!(run["status"], "queued");
    assert_eq!(run["is_active"], true);
    let id = run["run_id"].as_str().unwrap();
    assert_eq!(run["interaction_id"], id);
    assert_eq!(run["metadata"]["k"], "v");

    let (status, result) = server
        .get(
            Some(KEY_A),
            &format!("/v1/tasks/runs/{id}/result?timeout=60"),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["run"]["status"], "completed");
    assert_eq!(result["run"]["is_active"], false);
    assert_eq!(result["output"]["type"], "json");
    assert!(result["output"]["content"]["gdp"].is_string(), "{result}");

    let (status, run) = server
        .get(Some(KEY_A), &format!("/v1/tasks/runs/{id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(run["status"], "completed");

    // Legacy paths and ignored beta flag serve the same run.
    let (status, _) = server
        .get(
            Some(KEY_A),
            &format!("/v1beta/tasks/runs/{id}/result?beta=true&timeout=1"),
        )
        .await;
    assert_eq!(status, 200);

    let (status, list) = server.get(Some(KEY_A), "/v1/tasks/runs?limit=10").await;
    assert_eq!(status, 200);
    assert_eq!(list["runs"][0]["run_id"], id);
    assert!(list["next_before"].is_null());
}

#[tokio::test]
async fn text_output_round_trip() {
    let server = common::start(&[]).await;
    let (status, run) = server
        .create(
            None,
            &json!({"input": "Say hello", "processor": "base",
                    "task_spec": {"output_schema": {"type": "text"}}}),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    let id = run["run_id"].as_str().unwrap();
    let (status, result) = server
        .get(None, &format!("/v1/tasks/runs/{id}/result"))
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["output"]["type"], "text");
    assert!(
        result["output"]["content"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[tokio::test]
async fn result_times_out_with_408_while_active() {
    let server = common::start(&[]).await;
    let (_, run) = server
        .create(
            None,
            &json!({"input": "slow [[fake:stall_ms=20000]]", "processor": "lite"}),
        )
        .await;
    let id = run["run_id"].as_str().unwrap();
    let started = std::time::Instant::now();
    let (status, body) = server
        .get(None, &format!("/v1/tasks/runs/{id}/result?timeout=1"))
        .await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(
        body["error"]["message"],
        "Request timed out; run still active"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn failed_run_is_404_with_its_message() {
    let server = common::start(&[]).await;
    let (_, run) = server
        .create(
            None,
            &json!({"input": "doomed [[fake:fail=400 times=50]]", "processor": "lite"}),
        )
        .await;
    let id = run["run_id"].as_str().unwrap();
    let (status, body) = server
        .get(None, &format!("/v1/tasks/runs/{id}/result?timeout=60"))
        .await;
    assert_eq!(status, 404, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Run failed: "), "{message}");
    let (_, run) = server.get(None, &format!("/v1/tasks/runs/{id}")).await;
    assert_eq!(run["status"], "failed");
    assert!(message.contains(run["error"]["message"].as_str().unwrap()));
}

#[tokio::test]
async fn auth_and_owner_isolation() {
    let server = common::start(&[KEY_A, KEY_B]).await;
    let body = json!({"input": "q", "processor": "lite"});
    let (status, err) = server.create(None, &body).await;
    assert_eq!(status, 401);
    assert_eq!(
        err["error"]["message"],
        "Unauthorized: invalid or missing credentials"
    );
    let (status, _) = server.create(Some("wrong"), &body).await;
    assert_eq!(status, 401);

    let (status, run) = server.create(Some(KEY_A), &body).await;
    assert_eq!(status, 202);
    let id = run["run_id"].as_str().unwrap();
    for path in ["", "/result?timeout=0", "/input", "/events"] {
        let (status, b) = server
            .get(Some(KEY_B), &format!("/v1/tasks/runs/{id}{path}"))
            .await;
        assert_eq!(status, 404, "{path}: {b}");
        assert_eq!(b["error"]["message"], "Run id not found");
    }
    let (status, unknown) = server
        .get(
            Some(KEY_B),
            "/v1/tasks/runs/trun_00000000000000000000000000000000",
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(unknown["error"]["message"], "Run id not found");
    let (_, list) = server.get(Some(KEY_B), "/v1/tasks/runs").await;
    assert_eq!(list["runs"], json!([]));
    let (status, _) = server
        .get(Some(KEY_A), &format!("/v1/tasks/runs/{id}"))
        .await;
    assert_eq!(status, 200);
    // Health needs no key.
    let (status, health) = server.get(None, "/healthz").await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
}

#[tokio::test]
async fn input_echo_redacts_header_values() {
    let server = common::start(&[]).await;
    let body = json!({
        "input": "q",
        "processor": "lite",
        "mcp_servers": [{"type": "url", "name": "crm", "url": "http://127.0.0.1:9/mcp",
                         "headers": {"Authorization": "Bearer sekrit-token"}}]
    });
    let (status, run) = server.create(None, &body).await;
    assert_eq!(status, 202, "{run}");
    let id = run["run_id"].as_str().unwrap();
    let (status, echo) = server
        .get(None, &format!("/v1/tasks/runs/{id}/input"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(echo["input"], "q");
    assert_eq!(
        echo["mcp_servers"][0]["headers"]["Authorization"],
        "[redacted]"
    );
    assert!(!echo.to_string().contains("sekrit"));
    // Nor does anything else the run shows.
    let (_, result) = server
        .get(None, &format!("/v1/tasks/runs/{id}/result?timeout=60"))
        .await;
    assert!(!result.to_string().contains("sekrit"), "{result}");
    let events = server
        .http
        .get(server.url(&format!("/v1/tasks/runs/{id}/events")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!events.contains("sekrit"));
}

#[tokio::test]
async fn previous_interaction_must_exist_and_is_continued() {
    let server = common::start(&[]).await;
    let (status, err) = server
        .create(
            None,
            &json!({"input": "q", "processor": "lite", "previous_interaction_id": "trun_nope"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("previous_interaction_id")
    );

    let (_, first) = server
        .create(None, &json!({"input": "q", "processor": "lite"}))
        .await;
    let first_id = first["run_id"].as_str().unwrap();
    let (status, _) = server
        .get(
            None,
            &format!("/v1/tasks/runs/{first_id}/result?timeout=60"),
        )
        .await;
    assert_eq!(status, 200);
    let (status, second) = server
        .create(None, &json!({"input": "and then?", "processor": "lite", "previous_interaction_id": first_id}))
        .await;
    assert_eq!(status, 202, "{second}");
    assert_eq!(second["interaction_id"], first_id);
    assert_ne!(second["run_id"], first_id);
}
