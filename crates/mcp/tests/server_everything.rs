//! Against `@modelcontextprotocol/server-everything` (npm) over Streamable HTTP.

mod common;

use std::time::Duration;

use common::{peer::PeerProcess, *};
use forage_testkit::peers;
use serde_json::json;
use tokio_util::sync::CancellationToken;

async fn everything() -> PeerProcess {
    let port = peer::free_port();
    let entry = peers::node_dir()
        .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(entry)
        .arg("streamableHttp")
        .env("PORT", port.to_string());
    peer::start(command, port, "listening on port").await
}

#[tokio::test]
async fn lists_and_calls_the_everything_server() {
    init_tracing();
    let server = everything().await;
    let client = connect(&spec(
        "everything",
        &format!("http://127.0.0.1:{}/mcp", server.port),
    ))
    .await;
    let tools = client.list_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    for expected in [
        "echo",
        "get-sum",
        "trigger-long-running-operation",
        "get-structured-content",
        "get-tiny-image",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(tools.iter().all(|t| t.input_schema.is_object()));

    let out = call(&client, "echo", json!({"message": "hi"})).await;
    assert_eq!(out.text, "Echo: hi");

    let out = call(&client, "get-sum", json!({"a": 2, "b": 3})).await;
    assert_eq!(out.text, "The sum of 2 and 3 is 5.");

    let out = client
        .call_tool(
            "trigger-long-running-operation",
            args(json!({"duration": 1, "steps": 4})),
            Duration::from_secs(20),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(
        out.text.contains("Long running operation completed"),
        "{}",
        out.text
    );

    let out = call(
        &client,
        "get-structured-content",
        json!({"location": "Chicago"}),
    )
    .await;
    let structured = out.structured.expect("structuredContent");
    assert!(structured.get("temperature").is_some(), "{structured}");
    assert!(out.text.contains("temperature"), "{}", out.text);

    let out = call(&client, "get-tiny-image", json!({})).await;
    let lines: Vec<&str> = out.text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.text);
    assert_eq!(lines[0], "Here's the image you requested:");
    assert!(
        lines[1].starts_with("[image: image/png, ") && lines[1].ends_with(" bytes base64]"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "The image above is the MCP logo.");
    client.close().await;
}
