//! The official Python SDK (`parallel-web` from PyPI, unchanged) against the real forage binary:
//! each test starts forage + the fake LLM and runs one script from tests/sdk/python/, which
//! exits non-zero with a clear message on any mismatch.

mod common;

use common::{ForageServer, ServerOpts, run_python_sdk};
use forage_testkit::llm::FakeLlm;
use reqwest::StatusCode;
use serde_json::json;

async fn server(llm: &FakeLlm) -> ForageServer {
    ForageServer::start(ServerOpts::new(&llm.base_url)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn text_output_create_result_retrieve_and_input() {
    let llm = FakeLlm::start().await;
    let server = server(&llm).await;
    run_python_sdk(&server, "text_output.py", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_output_execute_returns_a_parsed_model() {
    let llm = FakeLlm::start().await;
    let server = server(&llm).await;
    run_python_sdk(&server, "json_output.py", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn result_with_api_timeout_on_a_stalled_run_is_408() {
    let llm = FakeLlm::start().await;
    let server = server(&llm).await;
    // The server itself answers 408 while the run is active (checked raw, beside the SDK).
    let api = server.api();
    let run = api
        .create(&json!({"input": "Stall [[fake:no_tools]] [[fake:stall_ms=60000]]", "processor": "lite"}))
        .await;
    let reply = api.result(run["run_id"].as_str().unwrap(), 1).await;
    assert_eq!(
        reply.status,
        StatusCode::REQUEST_TIMEOUT,
        "raw result?timeout=1: {}",
        reply.text
    );
    common::assert_error_shape(&reply, "408 body");
    run_python_sdk(&server, "result_timeout.py", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_map_to_the_sdk_exceptions() {
    let llm = FakeLlm::start().await;
    let server = server(&llm).await;
    run_python_sdk(&server, "errors.py", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_stream_starts_with_state_and_ends_final() {
    let llm = FakeLlm::start().await;
    let server = server(&llm).await;
    run_python_sdk(&server, "events.py", &[]).await;
}
