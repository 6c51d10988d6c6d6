//! The spec's headers reach their server on every request, and never another server;
//! header values never show in errors.

mod common;

use common::*;
use forage_mcp::{McpClient, McpError};
use forage_testkit::mcp_fixture::{FIXTURE_TOKEN, start_fixture};
use serde_json::json;

#[tokio::test]
async fn headers_reach_only_their_server() {
    init_tracing();
    let first = start_fixture().await;
    let second = start_fixture().await;
    let a = connect(&with_headers(
        spec("a", &first.url),
        &[("Authorization", "Bearer secret-a"), ("X-Tenant", "acme")],
    ))
    .await;
    let b = connect(&spec("b", &second.url)).await;

    let seen = call(&a, "whoami", json!({})).await.structured.unwrap();
    assert_eq!(seen["authorization"], "Bearer secret-a");
    assert_eq!(seen["x-tenant"], "acme");
    assert!(
        seen.get("mcp-session-id").is_some(),
        "session id is sent: {seen}"
    );
    // The last request to the first server (whatever it was) carried them too.
    assert_eq!(first.last_header("x-tenant").as_deref(), Some("acme"));

    let seen = call(&b, "whoami", json!({})).await.structured.unwrap();
    assert!(seen.get("authorization").is_none(), "{seen}");
    assert!(seen.get("x-tenant").is_none(), "{seen}");
    assert!(
        !second
            .last_headers()
            .iter()
            .any(|(_, v)| v.contains("secret-a"))
    );
}

#[tokio::test]
async fn bearer_protected_server() {
    init_tracing();
    let fixture = start_fixture().await;
    let url = fixture.url_for("auth");
    let ok = connect(&with_headers(
        spec("crm", &url),
        &[("Authorization", &format!("Bearer {FIXTURE_TOKEN}"))],
    ))
    .await;
    assert_eq!(call(&ok, "echo", json!({"text": "in"})).await.text, "in");

    let wrong = with_headers(
        spec("crm", &url),
        &[("Authorization", "Bearer hunter2-wrong")],
    );
    let err = McpClient::connect(&wrong, http()).await.unwrap_err();
    assert!(
        matches!(err, McpError::Http { status, .. } if status == 401),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "MCP server 'crm' answered 401 Unauthorized to initialize"
    );
    assert!(!format!("{err} {err:?}").contains("hunter2"));
}
