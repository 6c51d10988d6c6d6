//! JSON-RPC errors and malformed replies become errors (never panics or hangs).

mod common;

use std::time::{Duration, Instant};

use common::*;
use forage_mcp::{McpClient, McpError};
use forage_testkit::mcp_fixture::start_fixture;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn json_rpc_error_carries_the_server_message() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("fixture", &fixture.url)).await;
    let err = client
        .call_tool(
            "no_such_tool",
            args(json!({})),
            Duration::from_secs(5),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    match &err {
        McpError::Rpc { message, .. } => assert!(message.contains("no_such_tool"), "{message}"),
        other => panic!("expected Rpc, got {other:?}"),
    }
    // Bad arguments also come back as the server's error.
    let err = client
        .call_tool(
            "add",
            args(json!({"a": "x"})),
            Duration::from_secs(5),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::Rpc { .. }), "{err:?}");
}

#[tokio::test]
async fn malformed_initialize_reply_is_an_error() {
    init_tracing();
    let fixture = start_fixture().await;
    let err = McpClient::connect(&spec("bad", &fixture.url_for("malformed-init")), http())
        .await
        .unwrap_err();
    println!("malformed init: {err}");
    assert!(matches!(err, McpError::Protocol { .. }), "{err:?}");
}

#[tokio::test]
async fn malformed_call_replies_are_errors() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("bad", &fixture.url_for("malformed"))).await;
    assert_eq!(client.list_tools().await.unwrap().len(), 4);
    for tool in ["not_json", "wrong_shape"] {
        let started = Instant::now();
        let err = client
            .call_tool(
                tool,
                args(json!({})),
                Duration::from_secs(5),
                CancellationToken::new(),
            )
            .await
            .unwrap_err();
        println!("{tool}: {err:?} after {:?}", started.elapsed());
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{tool} took {:?}",
            started.elapsed()
        );
        assert!(
            matches!(err, McpError::Protocol { .. } | McpError::Closed { .. }),
            "{tool}: {err:?}"
        );
    }
    // A reply to an unknown id is no reply: the call times out.
    let err = client
        .call_tool(
            "wrong_id",
            args(json!({})),
            Duration::from_millis(500),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, McpError::Timeout { .. } | McpError::Protocol { .. }),
        "{err:?}"
    );
}
