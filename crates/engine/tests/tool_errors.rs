//! Tool failures are traced and shown to the model; they never fail the run.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use forage_api::{Tier, WarningKind};
use forage_engine::Budget;
use forage_mcp::Timeouts;
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::json;

fn schema() -> serde_json::Value {
    json!({"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]})
}

#[tokio::test]
async fn is_error_results_are_recorded_as_errors() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request(
        r#"[[fake:call name=fail args={"message": "no such customer"}]]"#,
        "pro",
        json_schema(schema()),
    );
    req.mcp_servers = Some(vec![mcp_server("fx", &fixture.url, &[])]);
    let (outcome, _) = h.run(req).await;
    let (output, _, _) = completed(outcome);
    let call = &output.mcp_tool_calls()[0];
    assert!(call.error.as_deref().unwrap().contains("no such customer"));
    assert!(call.content.is_none());
    // The model was told.
    // The first request after the call (pro plans first, so it is not always the second).
    let second = h
        .llm
        .requests()
        .into_iter()
        .find(|r| {
            r["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["role"] == "tool")
        })
        .expect("a request carries the tool result");
    let tool_msg = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .contains("no such customer")
    );
}

#[tokio::test]
async fn unreachable_server_becomes_a_warning_and_the_run_goes_on() {
    let fixture = start_fixture().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/mcp", closed.local_addr().unwrap());
    drop(closed);
    let h = Harness::start().await;
    let mut req = request(
        r#"[[fake:call name=echo args={"text": "x"}]]"#,
        "pro",
        json_schema(schema()),
    );
    req.mcp_servers = Some(vec![
        mcp_server("gone", &dead_url, &[]),
        mcp_server("fx", &fixture.url, &[]),
    ]);
    let (outcome, _) = h.run(req).await;
    let (output, warnings, _) = completed(outcome);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].kind, WarningKind::Warning);
    assert!(
        warnings[0]
            .message
            .contains("Error listing tools from MCP server gone"),
        "{}",
        warnings[0].message
    );
    assert_eq!(output.mcp_tool_calls().len(), 1);
    assert_eq!(output.mcp_tool_calls()[0].server_name, "fx");
}

#[tokio::test]
async fn server_refusing_the_headers_becomes_a_warning() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request("[[fake:no_tools]] go", "pro", json_schema(schema()));
    req.mcp_servers = Some(vec![mcp_server(
        "crm",
        &fixture.url_for("auth"),
        &[("Authorization", "Bearer wrong")],
    )]);
    let (outcome, _) = h.run(req).await;
    let (_, warnings, _) = completed(outcome);
    assert!(warnings[0].message.contains("crm"), "{warnings:?}");
    assert!(!warnings[0].message.contains("Bearer wrong"));
}

#[tokio::test]
async fn slow_tool_times_out_and_is_traced() {
    let fixture = start_fixture().await;
    let other = start_fixture().await;
    // The call timeout is overridden for the first fixture's host:port only.
    let mut server_timeouts = HashMap::new();
    server_timeouts.insert(
        fixture.addr.to_string(),
        Timeouts {
            call: Duration::from_millis(300),
            ..Timeouts::default()
        },
    );
    let h = Harness::with(HarnessOptions {
        server_timeouts,
        ..Default::default()
    })
    .await;
    let mut req = request(
        r#"[[fake:call name=fx__slow args={"ms": 5000}]] [[fake:call name=other__slow args={"ms": 600}]]"#,
        "pro",
        json_schema(schema()),
    );
    req.mcp_servers = Some(vec![
        mcp_server("fx", &fixture.url, &[]),
        mcp_server("other", &other.url, &[]),
    ]);
    let (outcome, _) = h.run(req).await;
    let (output, _, _) = completed(outcome);
    let error = output.mcp_tool_calls()[0].error.clone().unwrap();
    assert!(
        error.contains("did not finish tools/call within 300ms"),
        "{error}"
    );
    let on_other = &output.mcp_tool_calls()[1];
    assert_eq!(
        on_other.error.as_deref(),
        Some(""),
        "the other server keeps the default timeout: {on_other:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        fixture.cancellations() >= 1,
        "the server was told the call is cancelled"
    );
}

#[tokio::test]
async fn tool_call_budget_caps_calls_per_run() {
    let fixture = start_fixture().await;
    let mut budgets = HashMap::new();
    budgets.insert(
        "lite".to_owned(),
        Budget {
            max_tool_calls: 1,
            ..Budget::for_tier(Tier::Lite, false)
        },
    );
    let h = Harness::with(HarnessOptions {
        budgets,
        ..Default::default()
    })
    .await;
    let mut req = request(
        r#"[[fake:call name=echo args={"text": "1"}]] [[fake:call name=echo args={"text": "2"}]]"#,
        "lite",
        json_schema(schema()),
    );
    req.mcp_servers = Some(vec![mcp_server("fx", &fixture.url, &[])]);
    let (outcome, _) = h.run(req).await;
    let (output, warnings, _) = completed(outcome);
    assert_eq!(output.mcp_tool_calls().len(), 1);
    assert_eq!(fixture.calls("echo"), 1);
    assert!(
        warnings.iter().any(|w| w.message.contains("budget")),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn huge_output_is_truncated_for_the_model_with_its_full_size_kept() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request(
        r#"[[fake:call name=huge args={"bytes": 200000}]]"#,
        "pro",
        json_schema(schema()),
    );
    req.mcp_servers = Some(vec![mcp_server("fx", &fixture.url, &[])]);
    let (outcome, _) = h.run(req).await;
    let (output, _, _) = completed(outcome);
    let call = &output.mcp_tool_calls()[0];
    assert_eq!(call.truncated, Some(true));
    assert!(call.content_bytes.unwrap() >= 200_000);
    assert!(call.content.as_ref().unwrap().len() < 30_000);
    let tool_msg = h
        .llm
        .requests()
        .iter()
        .flat_map(|r| r["messages"].as_array().unwrap().clone())
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .contains("[output truncated")
    );
}
