//! Helpers shared by forage-mcp's integration tests.
#![allow(dead_code)]

pub mod peer;

use std::time::Duration;

use forage_api::Secret;
use forage_mcp::{McpClient, ServerSpec, Timeouts};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn spec(name: &str, url: &str) -> ServerSpec {
    ServerSpec {
        name: name.into(),
        url: url.parse().expect("fixture URL"),
        headers: vec![],
        allowed_tools: None,
        timeouts: Timeouts::default(),
    }
}

pub fn with_headers(mut spec: ServerSpec, headers: &[(&str, &str)]) -> ServerSpec {
    spec.headers = headers
        .iter()
        .map(|(n, v)| (n.to_string(), Secret::new(*v)))
        .collect();
    spec
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

pub async fn connect(spec: &ServerSpec) -> McpClient {
    McpClient::connect(spec, http())
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", spec.url))
}

pub fn args(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("arguments must be an object, got {other}"),
    }
}

pub async fn call(client: &McpClient, tool: &str, arguments: Value) -> forage_mcp::ToolOutput {
    client
        .call_tool(
            tool,
            args(arguments),
            Duration::from_secs(10),
            CancellationToken::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("call {tool}: {e}"))
}
