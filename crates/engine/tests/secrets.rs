//! MCP headers reach their own server only, and never the model, the events or the trace.

mod common;

use common::*;
use forage_testkit::mcp_fixture::{FIXTURE_TOKEN, start_fixture};
use serde_json::json;

#[tokio::test]
async fn headers_go_to_their_server_and_nowhere_else() {
    let authed = start_fixture().await;
    let other = start_fixture().await;
    let bearer = format!("Bearer {FIXTURE_TOKEN}");
    let h = Harness::start().await;
    let mut req = request(
        r#"[[fake:call name=crm__echo args={"text": "ping"}]] [[fake:call name=other__whoami args={}]]"#,
        "pro",
        json_schema(
            json!({"type": "object", "properties": {"r": {"type": "string"}}, "required": ["r"]}),
        ),
    );
    req.mcp_servers = Some(vec![
        mcp_server(
            "crm",
            &authed.url_for("auth"),
            &[("Authorization", &bearer)],
        ),
        mcp_server("other", &other.url, &[]),
    ]);
    let (outcome, sink) = h.run(req).await;
    let (output, warnings, _) = completed(outcome);
    assert!(warnings.is_empty(), "{warnings:?}");
    let calls = output.mcp_tool_calls();
    assert_eq!(calls.len(), 2);
    assert!(
        calls.iter().all(|c| c.error.as_deref() == Some("")),
        "{calls:?}"
    );
    // The authorised server got the header (its auth path refuses requests without it)...
    assert_eq!(
        authed.last_header("authorization").as_deref(),
        Some(bearer.as_str())
    );
    // ...and the other server did not: whoami reports what it received.
    assert!(!calls[1].content.as_deref().unwrap().contains(FIXTURE_TOKEN));
    assert_eq!(other.last_header("authorization"), None);

    let places = [
        (
            "LLM requests",
            serde_json::to_string(&h.llm.requests()).unwrap(),
        ),
        (
            "LLM request headers",
            format!("{:?}", h.llm.request_headers()),
        ),
        ("events", format!("{:?}", sink.all())),
        ("trace", serde_json::to_string(calls).unwrap()),
        ("output", serde_json::to_string(&output).unwrap()),
    ];
    for (place, text) in places {
        assert!(
            !text.contains(FIXTURE_TOKEN),
            "the header value leaked into {place}"
        );
    }
}
