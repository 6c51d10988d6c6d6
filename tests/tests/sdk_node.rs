//! The official npm SDK (`parallel-web`, unchanged, on Node 20) against the real forage binary:
//! each test starts forage + the fake LLM and runs one script from tests/sdk/node/.

mod common;

use common::{ForageServer, ServerOpts, run_node_sdk};
use forage_testkit::llm::FakeLlm;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn text_output_create_result_retrieve_and_input() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    run_node_sdk(&server, "text_output.cjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_output_matches_the_schema() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    run_node_sdk(&server, "json_output.cjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_408_404_401_403() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(ServerOpts::new(&llm.base_url)).await;
    run_node_sdk(&server, "errors.cjs").await;
}
