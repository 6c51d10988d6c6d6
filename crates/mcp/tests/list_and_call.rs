//! Lists the rmcp fixture's tools and calls the simple ones; checks content rendering.

mod common;

use common::*;
use forage_mcp::TransportKind;
use forage_testkit::mcp_fixture::{TOOL_NAMES, start_fixture};
use serde_json::json;

#[tokio::test]
async fn lists_tools_and_calls_echo_and_add() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;
    assert_eq!(client.transport(), TransportKind::StreamableHttp);
    assert_eq!(client.server_name(), "fixture");

    let tools = client.list_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, TOOL_NAMES);
    let echo = tools.iter().find(|t| t.name == "echo").unwrap();
    assert_eq!(echo.input_schema["properties"]["text"]["type"], "string");
    assert!(echo.description.as_deref().unwrap().contains("text"));
    let structured = tools.iter().find(|t| t.name == "structured").unwrap();
    assert!(structured.output_schema.is_some());

    let out = call(&client, "echo", json!({"text": "hello"})).await;
    assert_eq!(out.text, "hello");
    assert!(!out.is_error);
    assert_eq!(out.bytes, 5);

    let out = call(&client, "add", json!({"a": 2, "b": 40})).await;
    assert_eq!(out.text, "42");
    assert_eq!(fixture.calls("echo"), 1);
    assert_eq!(fixture.calls("add"), 1);
    client.close().await;
}

#[tokio::test]
async fn renders_structured_image_and_error_results() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;

    let out = call(&client, "structured", json!({})).await;
    assert_eq!(out.text, "the answer is 42 widgets");
    assert_eq!(
        out.structured,
        Some(json!({"answer": 42, "unit": "widgets"}))
    );

    let out = call(&client, "image", json!({})).await;
    assert!(out.text.starts_with("[image: image/png, "), "{}", out.text);
    assert!(out.text.ends_with(" bytes base64]"), "{}", out.text);

    let out = call(&client, "fail", json!({"message": "no such customer"})).await;
    assert!(out.is_error);
    assert_eq!(out.text, "no such customer");
}
