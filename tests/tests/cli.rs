//! The `forage` CLI as a client of a running server: `forage run … --json` prints the
//! TaskRunResult, `--schema FILE` gives json output matching the schema, a failing run exits
//! non-zero with the run's error on stderr, and `forage runs list` / `runs show ID` show runs.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{API_KEY, ForageServer, ScriptOutput, ServerOpts, bin, run_ids_in, run_program};
use forage_testkit::llm::FakeLlm;
use serde_json::{Value, json};

async fn forage(server: &ForageServer, args: &[&str]) -> ScriptOutput {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--server", &server.base_url, "--api-key", API_KEY]);
    run_program(&bin("forage"), &all, &[], Duration::from_secs(180)).await
}

fn parse_json(out: &ScriptOutput) -> Value {
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout of `forage run --json` is not one JSON document ({e}):\n{}",
            out.stdout
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_json_prints_the_task_run_result() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let out = forage(
        &server,
        &[
            "run",
            "heron-4410 Who wrote Dune? [[fake:no_tools]]",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "forage run failed: {}", out.stderr);
    let result = parse_json(&out);
    assert_eq!(result["run"]["status"], json!("completed"), "{result}");
    assert!(
        result["run"]["run_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("trun_")),
        "{result}"
    );
    let content = &result["output"]["content"];
    let text = match content {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    assert!(
        text.contains("heron-4410"),
        "the answer quotes the question: {result}"
    );

    // The same run through the API.
    let id = result["run"]["run_id"].as_str().unwrap();
    let api_run = server.api().run(id).await;
    assert_eq!(api_run.body["status"], json!("completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_with_schema_file_gives_matching_json() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "population": {"type": "integer", "minimum": 0},
            "landmarks": {"type": "array", "items": {"type": "string"}, "minItems": 1}
        },
        "required": ["city", "population", "landmarks"],
        "additionalProperties": false
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&schema).unwrap()).unwrap();
    let out = forage(
        &server,
        &[
            "run",
            "Describe Paris [[fake:no_tools]]",
            "--schema",
            path_str(&file),
            "--processor",
            "base",
            "--json",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "forage run --schema failed: {}",
        out.stderr
    );
    let result = parse_json(&out);
    assert_eq!(result["output"]["type"], json!("json"), "{result}");
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(
        validator.is_valid(&result["output"]["content"]),
        "content does not match the schema: {}",
        result["output"]["content"]
    );
    assert_eq!(result["run"]["processor"], json!("base"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_run_exits_non_zero_with_the_error_on_stderr() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"]
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.json");
    std::fs::write(&file, schema.to_string()).unwrap();
    let out = forage(
        &server,
        &[
            "run",
            "Never parses [[fake:no_tools]] [[fake:invalid_json times=99]]",
            "--schema",
            path_str(&file),
            "--json",
        ],
    )
    .await;
    assert!(
        !out.status.success(),
        "a failed run must exit non-zero; stdout: {}",
        out.stdout
    );
    assert!(
        !out.stderr.trim().is_empty(),
        "stderr must explain the failure"
    );

    // The one run on this server is the failed one; its error message is what stderr shows.
    let list = forage(&server, &["runs", "list"]).await;
    assert!(list.status.success(), "forage runs list: {}", list.stderr);
    let ids = run_ids_in(&list.stdout);
    assert_eq!(ids.len(), 1, "one run listed: {}", list.stdout);
    let run = server.api().run(&ids[0]).await;
    assert_eq!(run.body["status"], json!("failed"), "{}", run.text);
    let message = run.body["error"]["message"]
        .as_str()
        .expect("a failed run carries error.message");
    assert!(
        out.stderr.contains(message),
        "stderr should carry the run's error message {message:?}; got:\n{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_list_and_show() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let api = server.api();
    let mut ids = Vec::new();
    for i in 0..3 {
        let run = api
            .create(
                &json!({"input": format!("List me {i} [[fake:no_tools]]"), "processor": "lite"}),
            )
            .await;
        ids.push(run["run_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        api.wait_done(id, Duration::from_secs(60)).await;
    }
    let list = forage(&server, &["runs", "list"]).await;
    assert!(list.status.success(), "forage runs list: {}", list.stderr);
    for id in &ids {
        assert!(
            list.stdout.contains(id.as_str()),
            "{id} missing from:\n{}",
            list.stdout
        );
    }

    let show = forage(&server, &["runs", "show", &ids[1]]).await;
    assert!(show.status.success(), "forage runs show: {}", show.stderr);
    assert!(
        show.stdout.contains(ids[1].as_str()),
        "show names the run:\n{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("completed"),
        "show gives the status:\n{}",
        show.stdout
    );

    let missing = forage(
        &server,
        &["runs", "show", "trun_00000000000000000000000000000000"],
    )
    .await;
    assert!(
        !missing.status.success(),
        "showing an unknown run must fail"
    );
    assert!(
        missing.stderr.to_lowercase().contains("not found"),
        "stderr says not found: {}",
        missing.stderr
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}
