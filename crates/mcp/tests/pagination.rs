//! `tools/list` follows `nextCursor`; `allowed_tools` filters the list and the calls.

mod common;

use common::*;
use forage_mcp::McpError;
use forage_testkit::mcp_fixture::{TOOL_NAMES, start_fixture};
use serde_json::json;

#[tokio::test]
async fn follows_next_cursor() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("paged", &fixture.url_for("paged"))).await;
    let names: Vec<String> = client
        .list_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, TOOL_NAMES);
}

#[tokio::test]
async fn allowed_tools_filter() {
    init_tracing();
    let fixture = start_fixture().await;
    let mut s = spec("paged", &fixture.url_for("paged"));
    s.allowed_tools = Some(vec!["add".into(), "whoami".into(), "not-there".into()]);
    let client = connect(&s).await;
    let names: Vec<String> = client
        .list_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["add", "whoami"]);

    assert_eq!(
        call(&client, "add", json!({"a": 1, "b": 1})).await.text,
        "2"
    );
    let err = client
        .call_tool(
            "echo",
            args(json!({"text": "x"})),
            std::time::Duration::from_secs(5),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::NotAllowed { .. }), "{err:?}");
    assert_eq!(fixture.calls("echo"), 0);
}
