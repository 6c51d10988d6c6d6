//! Against FastMCP (PyPI `fastmcp`, testkit/python/vault_server.py): bearer header over
//! Streamable HTTP, a wrong bearer, and the legacy SSE transport.

mod common;

use std::time::Duration;

use common::{peer::PeerProcess, *};
use forage_mcp::{McpClient, McpError, TransportKind};
use forage_testkit::peers;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "vault-token-4711";

async fn vault(transport: &str) -> PeerProcess {
    let port = peer::free_port();
    let mut command = tokio::process::Command::new(peers::python());
    command.arg(peers::python_fixture("vault_server.py")).args([
        "--port",
        &port.to_string(),
        "--transport",
        transport,
        "--token",
        TOKEN,
    ]);
    peer::start(command, port, "vault_server ready").await
}

#[tokio::test]
async fn streamable_http_with_the_right_bearer() {
    init_tracing();
    let server = vault("http").await;
    let url = format!("http://127.0.0.1:{}/mcp", server.port);
    let client = connect(&with_headers(
        spec("vault", &url),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    ))
    .await;
    assert_eq!(client.transport(), TransportKind::StreamableHttp);
    let tools = client.list_tools().await.unwrap();
    let tool = tools
        .iter()
        .find(|t| t.name == "get_secret_code")
        .expect("tool listed");
    assert_eq!(tool.input_schema["properties"]["company"]["type"], "string");
    let out = call(&client, "get_secret_code", json!({"company": "ACME"})).await;
    assert!(!out.is_error);
    assert_eq!(out.text, "ACME-2842");
    client.close().await;
}

#[tokio::test]
async fn wrong_bearer_is_an_error_the_client_sees() {
    init_tracing();
    let server = vault("http").await;
    let url = format!("http://127.0.0.1:{}/mcp", server.port);
    let client = connect(&with_headers(
        spec("vault", &url),
        &[("Authorization", "Bearer nope-123")],
    ))
    .await;
    let result = client
        .call_tool(
            "get_secret_code",
            args(json!({"company": "ACME"})),
            Duration::from_secs(10),
            CancellationToken::new(),
        )
        .await;
    match result {
        Ok(out) => {
            assert!(out.is_error, "{out:?}");
            assert!(out.text.contains("unauthorized"), "{}", out.text);
        }
        Err(e) => {
            assert!(matches!(e, McpError::Rpc { .. }), "{e:?}");
            assert!(!e.to_string().contains("nope-123"));
        }
    }
}

#[tokio::test]
async fn legacy_sse_transport() {
    init_tracing();
    let server = vault("sse").await;
    let url = format!("http://127.0.0.1:{}/sse", server.port);
    let client = McpClient::connect(
        &with_headers(
            spec("vault", &url),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        ),
        http(),
    )
    .await
    .expect("connect falls back to legacy SSE");
    assert_eq!(client.transport(), TransportKind::LegacySse);
    let names: Vec<String> = client
        .list_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["get_secret_code"]);
    let out = call(&client, "get_secret_code", json!({"company": "Initech"})).await;
    assert_eq!(
        out.text,
        "INITECH-".to_string() + &out.text["INITECH-".len()..]
    );
    assert!(!out.is_error);

    // Concurrent calls over the one event stream.
    let calls = (0..5).map(|i| {
        let client = client.clone();
        async move {
            call(
                &client,
                "get_secret_code",
                json!({"company": format!("c{i}")}),
            )
            .await
        }
    });
    for out in futures::future::join_all(calls).await {
        assert!(out.text.starts_with('C'), "{}", out.text);
    }

    // The wrong bearer over SSE is an error too.
    let wrong = connect(&with_headers(
        spec("vault", &url),
        &[("Authorization", "Bearer wrong")],
    ))
    .await;
    let out = wrong
        .call_tool(
            "get_secret_code",
            args(json!({"company": "ACME"})),
            Duration::from_secs(10),
            CancellationToken::new(),
        )
        .await;
    assert!(
        matches!(&out, Ok(o) if o.is_error) || matches!(&out, Err(McpError::Rpc { .. })),
        "{out:?}"
    );
    client.close().await;
}
