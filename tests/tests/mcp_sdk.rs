//! MCP tool calling end to end: the official Python SDK, unchanged, runs json tasks against forage
//! with two MCP servers (FastMCP vault behind a bearer token, and the rmcp fixture) and reads
//! `output.mcp_tool_calls`; then the bearer token must appear nowhere: not in forage's log, not in
//! any API response (run, input echo, result, events), not in the data directory, not sent to the LLM.
//! Also: the client API key and the LLM API key never appear in the log.

mod common;

use std::time::Duration;

use common::{
    API_KEY, ForageServer, LLM_API_KEY, ServerOpts, VaultServer, contains_bytes, count_files,
    files_containing, run_python_sdk, unique_hex,
};
use forage_testkit::llm::FakeLlm;
use forage_testkit::mcp_fixture::start_fixture;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_sdk_calls_tools_on_two_mcp_servers_and_the_token_never_leaks() {
    let token = format!("vault-bearer-{}", unique_hex());
    let vault = VaultServer::start(&token);
    let fixture = start_fixture().await;
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;

    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("runs.json");
    run_python_sdk(
        &server,
        "mcp_tools.py",
        &[
            ("VAULT_URL", vault.url.clone()),
            ("VAULT_TOKEN", token.clone()),
            ("FIXTURE_URL", fixture.url.clone()),
            ("OUT_FILE", out_file.display().to_string()),
        ],
    )
    .await;
    assert!(
        fixture.calls("echo") >= 2,
        "the fixture's echo tool was really called"
    );

    let written: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let run_ids: Vec<String> = written["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(run_ids.len(), 3);

    // Every API response about these runs, read raw.
    let api = server.api();
    let mut leaks = Vec::new();
    for id in &run_ids {
        for path in [
            format!("/v1/tasks/runs/{id}"),
            format!("/v1/tasks/runs/{id}/input"),
            format!("/v1/tasks/runs/{id}/result?timeout=30"),
        ] {
            let reply = api.get(&path).await;
            assert_eq!(reply.status, StatusCode::OK, "GET {path}: {}", reply.text);
            if reply.text.contains(&token) {
                leaks.push(format!("GET {path}"));
            }
        }
        let input = api.get(&format!("/v1/tasks/runs/{id}/input")).await;
        let vault_server = input.body["mcp_servers"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "vault"))
            .unwrap_or_else(|| panic!("the input echo lists the vault server: {}", input.text));
        assert!(
            vault_server["headers"]["Authorization"].is_string(),
            "the input echo keeps the header name with a redacted value: {vault_server}"
        );
        let (status, events) = api
            .read_sse(
                &format!("/v1/tasks/runs/{id}/events"),
                Duration::from_secs(20),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "events of {id}");
        assert!(!events.is_empty(), "events of {id} replayed something");
        if events.contains(&token) {
            leaks.push(format!("GET /v1/tasks/runs/{id}/events"));
        }
    }

    // The log, the data directory (every file, as bytes), and what the LLM was sent.
    let log = server.log_bytes();
    if contains_bytes(&log, token.as_bytes()) {
        leaks.push("forage's stdout/stderr log".to_owned());
    }
    // The other secrets forage holds must not be logged either.
    for (what, secret) in [("client API key", API_KEY), ("LLM API key", LLM_API_KEY)] {
        if contains_bytes(&log, secret.as_bytes()) {
            leaks.push(format!("the {what} is in forage's log"));
        }
    }
    let files = files_containing(server.data_dir(), token.as_bytes());
    for file in &files {
        leaks.push(format!("data file {}", file.display()));
    }
    assert!(
        count_files(server.data_dir()) > 0,
        "the data dir holds the store"
    );
    // The scans can see what is there: the run ids are in the store and in the log.
    assert!(
        !files_containing(server.data_dir(), run_ids[0].as_bytes()).is_empty(),
        "the data-dir scan should find the run id {} (else it reads nothing useful)",
        run_ids[0]
    );
    assert!(
        contains_bytes(&log, run_ids[0].as_bytes()),
        "the captured log should mention the run id {}",
        run_ids[0]
    );
    let llm_traffic = serde_json::to_string(&llm.requests()).unwrap();
    if llm_traffic.contains(&token) {
        leaks.push("requests sent to the LLM".to_owned());
    }
    drop(vault);
    assert!(leaks.is_empty(), "the bearer token leaked into: {leaks:#?}");
}
