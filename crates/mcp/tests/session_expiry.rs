//! An expired session (HTTP 404 to a known `Mcp-Session-Id`) is re-initialised once,
//! transparently, and the request repeated.

mod common;

use common::*;
use forage_testkit::mcp_fixture::{EXPIRE_AFTER, start_fixture};
use serde_json::json;

#[tokio::test]
async fn reinitialises_transparently() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("expiring", &fixture.url_for("expire"))).await;
    for i in 0..(EXPIRE_AFTER * 2 + 2) {
        let text = format!("n{i}");
        assert_eq!(
            call(&client, "echo", json!({"text": text})).await.text,
            text
        );
    }
    assert!(fixture.expired_answers() >= 1, "the session never expired");
    assert!(fixture.initializations() >= 2, "no re-initialisation");
    assert_eq!(
        fixture.calls("echo"),
        EXPIRE_AFTER * 2 + 2,
        "each call ran exactly once"
    );
}

#[tokio::test]
async fn a_tool_list_after_the_session_expired_reinitialises_and_lists_every_tool() {
    init_tracing();
    let fixture = start_fixture().await;
    let client = connect(&spec("expiring", &fixture.url_for("expire"))).await;
    let first = client.list_tools().await.expect("tools listed");
    assert!(!first.is_empty());
    for _ in 0..(EXPIRE_AFTER * 2 + 2) {
        let listed = client.list_tools().await.expect("tools listed");
        let names: Vec<_> = listed.iter().map(|t| t.name.as_str()).collect();
        let expected: Vec<_> = first.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, expected);
    }
    assert!(fixture.expired_answers() >= 1, "the session never expired");
    assert!(fixture.initializations() >= 2, "no re-initialisation");
    // Calls go on working on the new session.
    assert_eq!(
        call(&client, "echo", json!({"text": "after"})).await.text,
        "after"
    );
}
