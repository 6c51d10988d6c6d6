//! `FORAGE_LLM_PROVIDER=anthropic` against the real binary: runs are served through Anthropic's
//! Messages API (the scripted fake's `/v1/messages`), MCP tool calls included, and the key is
//! sent only as Anthropic's `x-api-key` header.

mod common;

use common::{ForageServer, ServerOpts};
use forage_testkit::llm::FakeLlm;
use forage_testkit::mcp_fixture::start_fixture;
use reqwest::StatusCode;
use serde_json::json;

const ANTHROPIC_KEY: &str = "sk-ant-test-3f9d2c";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_with_a_tool_call_is_served_by_the_anthropic_provider() {
    let llm = FakeLlm::start().await;
    let fixture = start_fixture().await;
    let server = ForageServer::start(
        ServerOpts::new(&llm.base_url)
            .env("FORAGE_LLM_PROVIDER", "anthropic")
            .env("FORAGE_LLM_API_KEY", ANTHROPIC_KEY)
            .env("FORAGE_LLM_MODEL", "claude-sonnet-4-5"),
    )
    .await;
    let api = server.api();
    let run = api
        .create(&json!({
            "input": r#"Add them [[fake:call name=add args={"a": 20, "b": 22}]]"#,
            "processor": "core",
            "task_spec": {"output_schema": {"type": "json", "json_schema": {
                "type": "object", "properties": {"sum": {"type": "string"}}, "required": ["sum"]}}},
            "mcp_servers": [{"type": "url", "name": "calc", "url": fixture.url}]
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let result = api.result(&run_id, 60).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.text);
    let calls = result.body["output"]["mcp_tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["tool_name"], "add");
    assert!(calls[0]["content"].as_str().unwrap().contains("42"));
    assert_eq!(fixture.calls("add"), 1);
    // The model read the tool's result: the fake answers with it.
    assert!(
        result.body["output"]["content"]["sum"]
            .as_str()
            .unwrap()
            .contains("42"),
        "{}",
        result.text
    );

    // Every request was an Anthropic Messages request for the configured model, and the
    // tool result went back as a `tool_result` block.
    let requests = llm.requests();
    assert!(requests.len() >= 2, "{requests:?}");
    for request in &requests {
        assert_eq!(request["model"], "claude-sonnet-4-5");
        assert!(request["max_tokens"].as_u64().unwrap() > 0);
        assert!(request["system"].is_string() || request["system"].is_array());
    }
    let last = requests.last().unwrap();
    let blocks: Vec<String> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["type"].as_str().map(str::to_owned))
        .collect();
    assert!(
        blocks.iter().any(|t| t == "tool_use") && blocks.iter().any(|t| t == "tool_result"),
        "{blocks:?}"
    );
    let headers = llm.request_headers();
    assert!(headers.iter().all(|h| {
        h.iter()
            .any(|(name, value)| name == "x-api-key" && value == ANTHROPIC_KEY)
    }));
    assert!(!server.log().contains(ANTHROPIC_KEY));
}
