//! The agent calls the run's MCP tools, concurrently when asked for several at once, and traces each call.

mod common;

use common::*;
use forage_api::{RunEvent, TaskOutput};
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::{Value, json};

fn answer_schema() -> Value {
    json!({"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]})
}

#[tokio::test]
async fn parallel_calls_are_traced_in_order_with_events() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request(
        r#"Use the tools [[fake:call name=echo args={"text": "hello"}]] [[fake:call name=add args={"a": 2, "b": 3}]]"#,
        "pro",
        json_schema(answer_schema()),
    );
    req.mcp_servers = Some(vec![mcp_server("fixture", &fixture.url, &[])]);
    let (outcome, sink) = h.run(req).await;
    let (output, warnings, _) = completed(outcome);
    assert!(warnings.is_empty(), "{warnings:?}");
    let TaskOutput::Json {
        content,
        mcp_tool_calls,
        ..
    } = output
    else {
        panic!()
    };
    let calls = mcp_tool_calls.expect("calls are traced");
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].server_name.as_str(), calls[0].tool_name.as_str()),
        ("fixture", "echo")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].arguments).unwrap(),
        json!({"text": "hello"})
    );
    assert!(calls[0].content.as_deref().unwrap().contains("hello"));
    assert_eq!(calls[0].error.as_deref(), Some(""));
    assert_eq!(calls[1].tool_name, "add");
    assert!(calls[1].content.as_deref().unwrap().contains('5'));
    assert!(
        calls
            .iter()
            .all(|c| c.duration_ms.is_some() && c.started_at.is_some())
    );
    assert_eq!(fixture.calls("echo"), 1);
    assert_eq!(fixture.calls("add"), 1);
    // The model saw the tool results: the fake answers with the latest one (add → 5).
    assert!(
        content["result"].as_str().unwrap().contains('5'),
        "{content}"
    );

    let events = sink.all();
    let started: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ToolCallStarted { tool_name, .. } => Some(tool_name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["echo", "add"]);
    let finished = events
        .iter()
        .filter(|e| matches!(e, RunEvent::ToolCallFinished { .. }))
        .count();
    assert_eq!(finished, 2);
}

#[tokio::test]
async fn calls_in_one_turn_overlap_in_time() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request(
        r#"[[fake:call name=slow args={"ms": 400}]] [[fake:call name=slow args={"ms": 400}]] [[fake:call name=slow args={"ms": 400}]]"#,
        "pro",
        json_schema(answer_schema()),
    );
    req.mcp_servers = Some(vec![mcp_server("fixture", &fixture.url, &[])]);
    let (outcome, sink) = h.run(req).await;
    let (output, _, _) = completed(outcome);
    let calls = output.mcp_tool_calls().to_vec();
    assert_eq!(calls.len(), 3);
    // Each start is reported when the call starts, not when the batch ends.
    let kinds: Vec<&str> = sink
        .all()
        .iter()
        .filter_map(|e| match e {
            RunEvent::ToolCallStarted { .. } => Some("start"),
            RunEvent::ToolCallFinished { .. } => Some("end"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["start", "start", "start", "end", "end", "end"]);
    // Each call started before the first one ended: they ran concurrently.
    let start = |c: &forage_api::McpToolCall| {
        chrono::DateTime::parse_from_rfc3339(c.started_at.as_deref().unwrap()).unwrap()
    };
    let first_end =
        start(&calls[0]) + chrono::Duration::milliseconds(calls[0].duration_ms.unwrap() as i64);
    for c in &calls[1..] {
        assert!(
            start(c) < first_end,
            "calls ran one after another: {calls:?}"
        );
    }
}

#[tokio::test]
async fn tools_are_listed_once_per_run_and_names_map_back() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request(
        r#"[[fake:call name=echo args={"text": "a"}]] [[fake:call name=echo args={"text": "b"} turn=1]]"#,
        "pro",
        json_schema(answer_schema()),
    );
    req.mcp_servers = Some(vec![
        mcp_server("first", &fixture.url, &[]),
        mcp_server("second.server", &fixture.url_for("paged"), &[]),
    ]);
    let (outcome, _) = h.run(req).await;
    let (output, _, _) = completed(outcome);
    assert_eq!(output.mcp_tool_calls().len(), 2);
    assert_eq!(
        fixture.initializations(),
        2,
        "one session per server per run"
    );
    // The first request that offers tools (pro plans first, with none).
    let first = first_offering_tools(&h.llm.requests());
    let offered: Vec<String> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(offered.contains(&"first__echo".to_owned()), "{offered:?}");
    assert!(
        offered.contains(&"second_server__echo".to_owned()),
        "{offered:?}"
    );
    let unique: std::collections::HashSet<_> = offered.iter().collect();
    assert_eq!(unique.len(), offered.len());
    // The tool's schema was passed on as the server gave it.
    let echo = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "first__echo")
        .unwrap();
    assert_eq!(echo["function"]["parameters"]["required"], json!(["text"]));
    // Each turn after a tool call is offered the same tools again.
    let offering: Vec<Value> = h
        .llm
        .requests()
        .into_iter()
        .filter(|r| r.get("tools").is_some())
        .collect();
    assert!(offering.len() >= 3, "{offering:?}");
    assert!(offering.iter().all(|r| r["tools"] == first["tools"]));
}

#[tokio::test]
async fn allowed_tools_limits_what_the_model_sees() {
    let fixture = start_fixture().await;
    let h = Harness::start().await;
    let mut req = request("[[fake:no_tools]] hi", "pro", json_schema(answer_schema()));
    let mut server = mcp_server("fx", &fixture.url, &[]);
    server.allowed_tools = Some(vec!["add".into()]);
    req.mcp_servers = Some(vec![server]);
    let (outcome, _) = h.run(req).await;
    completed(outcome);
    let offering = first_offering_tools(&h.llm.requests());
    let offered = offering["tools"].as_array().unwrap().clone();
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0]["function"]["name"], "fx__add");
}
