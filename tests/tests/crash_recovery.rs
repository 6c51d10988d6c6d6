//! No accepted run is ever lost: runs in flight when forage is SIGKILLed, or SIGTERMed, are
//! all completed (with schema-valid results) after a restart on the same data directory.

mod common;

use std::time::{Duration, Instant};

use common::{Api, ForageServer, ServerOpts};
use forage_testkit::llm::FakeLlm;
use reqwest::StatusCode;
use serde_json::{Value, json};

const GRACE_SECS: u64 = 10;

fn json_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "idx": {"type": "integer"},
            "summary": {"type": "string", "minLength": 1},
            "tags": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["idx", "summary"],
        "additionalProperties": false
    })
}

struct Created {
    run_id: String,
    json: bool,
}

/// Creates `n` runs, alternating json and text output, each LLM turn taking `delay_ms`.
async fn create_runs(api: &Api, n: usize, delay_ms: u64) -> Vec<Created> {
    let mut runs = Vec::new();
    for i in 0..n {
        let json_output = i % 2 == 0;
        let mut body = json!({
            "input": format!("Crash test run {i} [[fake:no_tools]] [[fake:delay_ms={delay_ms}]]"),
            "processor": "lite",
            "metadata": {"idx": i as u64},
        });
        body["task_spec"] = if json_output {
            json!({"output_schema": {"type": "json", "json_schema": json_schema()}})
        } else {
            json!({"output_schema": {"type": "text"}})
        };
        let run = api.create(&body).await;
        runs.push(Created {
            run_id: run["run_id"].as_str().expect("run_id").to_owned(),
            json: json_output,
        });
    }
    runs
}

/// Counts of each status among `runs`.
async fn statuses(api: &Api, runs: &[Created]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for run in runs {
        let reply = api.run(&run.run_id).await;
        let status = if reply.status == StatusCode::OK {
            reply.body["status"].as_str().unwrap_or("?").to_owned()
        } else {
            format!("http {}", reply.status)
        };
        *counts.entry(status).or_insert(0) += 1;
    }
    counts
}

/// Polls until at least one run is running and (when `want_completed`) one completed.
async fn wait_mixed(api: &Api, runs: &[Created], want_completed: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = statuses(api, runs).await;
        let running = counts.get("running").copied().unwrap_or(0);
        let completed = counts.get("completed").copied().unwrap_or(0);
        if running > 0 && (completed > 0 || !want_completed) {
            println!("state before the stop: {counts:?}");
            return;
        }
        if Instant::now() > deadline
            || counts.get("queued").copied().unwrap_or(0) == 0 && running == 0
        {
            println!("state before the stop (not mixed, carrying on): {counts:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every run exists, ends `completed`, and its result is valid for its output type.
async fn assert_all_complete(api: &Api, runs: &[Created]) {
    // None missing, straight after the restart.
    for run in runs {
        let reply = api.run(&run.run_id).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "run {} lost after the restart: {}",
            run.run_id,
            reply.text
        );
    }
    let validator = jsonschema::validator_for(&json_schema()).expect("the test schema compiles");
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut problems = Vec::new();
    for run in runs {
        let result = loop {
            let reply = api.result(&run.run_id, 20).await;
            if reply.status == StatusCode::REQUEST_TIMEOUT && Instant::now() < deadline {
                continue;
            }
            break reply;
        };
        if result.status != StatusCode::OK {
            let state = api.run(&run.run_id).await;
            problems.push(format!(
                "{}: result answered {} {}; run: {}",
                run.run_id, result.status, result.text, state.text
            ));
            continue;
        }
        let body = &result.body;
        if body["run"]["status"] != json!("completed") {
            problems.push(format!("{}: status {}", run.run_id, body["run"]["status"]));
        }
        let output = &body["output"];
        if run.json {
            if output["type"] != json!("json") {
                problems.push(format!("{}: expected json output: {output}", run.run_id));
            } else if !validator.is_valid(&output["content"]) {
                problems.push(format!(
                    "{}: content does not match the schema: {}",
                    run.run_id, output["content"]
                ));
            }
        } else if output["type"] != json!("text") || !non_empty_text(&output["content"]) {
            problems.push(format!(
                "{}: expected non-empty text output: {output}",
                run.run_id
            ));
        }
    }
    let counts = statuses(api, runs).await;
    println!("final state: {counts:?}");
    assert!(
        problems.is_empty(),
        "{} of {} runs did not complete correctly:\n{}",
        problems.len(),
        runs.len(),
        problems.join("\n")
    );
    assert_eq!(
        counts.get("completed").copied(),
        Some(runs.len()),
        "all completed: {counts:?}"
    );
}

fn non_empty_text(v: &Value) -> bool {
    v.as_str().is_some_and(|c| !c.trim().is_empty())
}

fn opts(llm: &FakeLlm) -> ServerOpts {
    ServerOpts::new(&llm.base_url)
        .env("FORAGE_WORKERS", 4)
        .env("FORAGE_LEASE_SECS", 3)
        .env("FORAGE_SHUTDOWN_GRACE_SECS", GRACE_SECS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_flight_loses_no_run() {
    let llm = FakeLlm::start().await;
    let mut server = ForageServer::start(opts(&llm)).await;
    let runs = create_runs(&server.api(), 40, 700).await;
    wait_mixed(&server.api(), &runs, true).await;

    server.kill_9();
    server.restart().await;
    assert_all_complete(&server.api(), &runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_exits_zero_within_grace_and_runs_complete_after_restart() {
    let llm = FakeLlm::start().await;
    let mut server = ForageServer::start(opts(&llm)).await;
    let runs = create_runs(&server.api(), 16, 1500).await;
    wait_mixed(&server.api(), &runs, false).await;

    let stopped = server.terminate(Duration::from_secs(GRACE_SECS + 10));
    let (status, took) = stopped.unwrap_or_else(|| {
        panic!(
            "forage did not exit within {} s of SIGTERM (grace {GRACE_SECS} s);\n{}",
            GRACE_SECS + 10,
            common::tail(&server.log(), 4000)
        )
    });
    println!("exited {status} after {took:?}");
    assert!(
        status.success(),
        "forage should exit 0 on SIGTERM, got {status};\n{}",
        common::tail(&server.log(), 4000)
    );

    server.restart().await;
    assert_all_complete(&server.api(), &runs).await;
}
