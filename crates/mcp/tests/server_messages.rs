//! While a tool runs, the server may report progress and send requests of its own on the
//! call's response stream: the client answers them and still gets the tool's result.

mod common;

use common::*;
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::json;

#[tokio::test]
async fn progress_and_a_ping_during_a_call_are_handled() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;
    for _ in 0..3 {
        let out = call(&client, "ping_client", json!({})).await;
        assert!(!out.is_error, "{}", out.text);
        assert_eq!(out.text, "the client answered the ping");
    }
    // The session is still sound for ordinary calls afterwards.
    assert_eq!(
        call(&client, "echo", json!({"text": "after"})).await.text,
        "after"
    );
    assert_eq!(fixture.calls("ping_client"), 3);
    client.close().await;
}

#[tokio::test]
async fn concurrent_calls_each_get_their_own_reply() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;
    let calls = (0..20).map(|i| {
        let client = client.clone();
        async move {
            let text = format!("reply-{i}");
            let tool = if i % 4 == 0 { "ping_client" } else { "echo" };
            let out = call(&client, tool, json!({"text": text})).await;
            (i, tool, out.text)
        }
    });
    for (i, tool, text) in futures::future::join_all(calls).await {
        match tool {
            "echo" => assert_eq!(text, format!("reply-{i}")),
            _ => assert_eq!(text, "the client answered the ping"),
        }
    }
    client.close().await;
}
