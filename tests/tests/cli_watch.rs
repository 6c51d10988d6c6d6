//! `forage runs watch ID` against the real binary: the live timeline of a run with two MCP tool
//! calls lists both calls (start and end) and the final status, then prints the answer; a finished
//! run is replayed; a failed run exits non-zero; an unknown id fails with "not found".

mod common;

use std::time::Duration;

use common::{API_KEY, ForageServer, ScriptOutput, ServerOpts, bin, run_program};
use forage_testkit::llm::FakeLlm;
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::{Value, json};

async fn forage(server: &ForageServer, args: &[&str]) -> ScriptOutput {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--server", &server.base_url, "--api-key", API_KEY]);
    run_program(&bin("forage"), &all, &[], Duration::from_secs(120)).await
}

fn assert_timeline(out: &ScriptOutput, id: &str) {
    let err = &out.stderr;
    for needle in [
        "→ tool call fx.echo",
        "← tool call fx.echo returned in",
        "→ tool call fx.add",
        "← tool call fx.add returned in",
        "LLM turn 1:",
        "tokens in",
        "status: completed",
    ] {
        assert!(
            err.contains(needle),
            "the timeline shows {needle:?}:\n{err}"
        );
    }
    assert!(
        err.contains(&format!("run {id} completed")),
        "a closing line names the run and its status:\n{err}"
    );
    let start = err.find("→ tool call fx.echo").unwrap();
    let end = err.find("← tool call fx.echo").unwrap();
    let done = err.find("status: completed").unwrap();
    assert!(start < end && end < done, "events are in order:\n{err}");
    assert!(!out.stdout.trim().is_empty(), "the answer is printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_shows_both_tool_calls_live_and_replayed() {
    let llm = FakeLlm::start().await;
    let fixture = start_fixture().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let run: Value = server
        .api()
        .create(&json!({
            "input": r#"Two tools. [[fake:delay_ms=800]] [[fake:call name=echo args={"text": "one"}]] [[fake:call name=add args={"a": 1, "b": 2}]]"#,
            "processor": "base",
            "mcp_servers": [{"type": "url", "name": "fx", "url": fixture.url}],
        }))
        .await;
    let id = run["run_id"].as_str().unwrap().to_owned();

    let live = forage(&server, &["runs", "watch", &id]).await;
    assert!(live.status.success(), "watch failed: {}", live.stderr);
    assert_timeline(&live, &id);
    assert_eq!(fixture.calls("echo"), 1);
    assert_eq!(fixture.calls("add"), 1);

    // The run is over: watching it again replays the same timeline.
    let replay = forage(&server, &["runs", "watch", &id]).await;
    assert!(
        replay.status.success(),
        "watch (replay) failed: {}",
        replay.stderr
    );
    assert_timeline(&replay, &id);
    assert_eq!(live.stdout, replay.stdout, "the same answer");

    // `forage run` draws its timeline with the same renderer.
    let direct = forage(&server, &["run", "Again. [[fake:no_tools]]"]).await;
    assert!(direct.status.success(), "run failed: {}", direct.stderr);
    assert!(direct.stderr.contains("LLM turn 1:"), "{}", direct.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_of_a_failed_run_exits_non_zero() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let run: Value = server
        .api()
        .create(&json!({"input": "Doomed. [[fake:fail=400 times=50]]", "processor": "lite"}))
        .await;
    let id = run["run_id"].as_str().unwrap().to_owned();
    let out = forage(&server, &["runs", "watch", &id]).await;
    assert!(
        !out.status.success(),
        "a failed run exits non-zero: {}",
        out.stderr
    );
    assert!(out.stderr.contains("status: failed"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("error: run {id}")),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_of_an_unknown_run_fails_with_not_found() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    let out = forage(
        &server,
        &["runs", "watch", "trun_00000000000000000000000000000000"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        out.stderr.to_lowercase().contains("not found"),
        "stderr says not found: {}",
        out.stderr
    );
}
