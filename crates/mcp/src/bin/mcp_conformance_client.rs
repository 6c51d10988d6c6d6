//! `forage-mcp-conformance-client`: the client side of the MCP conformance suite
//! (`@modelcontextprotocol/conformance client`). Takes the server URL as its last argument,
//! reads `MCP_CONFORMANCE_SCENARIO`, connects with `McpClient` and does what the scenario
//! needs: connect, list the tools, call each one with arguments made from its schema.

use std::{process::ExitCode, time::Duration};

use forage_mcp::{McpClient, ServerSpec, Timeouts};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().skip(1).last() else {
        eprintln!("usage: forage-mcp-conformance-client <server-url>");
        return ExitCode::from(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    match run(&url, &scenario).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scenario {scenario:?} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, scenario: &str) -> Result<(), Box<dyn std::error::Error>> {
    let spec = ServerSpec {
        name: "conformance".into(),
        url: url.parse()?,
        headers: vec![],
        allowed_tools: None,
        timeouts: Timeouts::default(),
    };
    let http = reqwest::Client::builder().no_proxy().build()?;
    let client = McpClient::connect(&spec, http).await?;
    eprintln!(
        "connected over {:?} for scenario {scenario:?}",
        client.transport()
    );
    let tools = client.list_tools().await?;
    if scenario != "initialize" {
        for tool in &tools {
            let arguments = arguments_for(&tool.input_schema);
            let output = client
                .call_tool(
                    &tool.name,
                    arguments,
                    Duration::from_secs(20),
                    CancellationToken::new(),
                )
                .await?;
            eprintln!(
                "{} -> is_error={} {}",
                tool.name, output.is_error, output.text
            );
        }
    }
    client.close().await;
    Ok(())
}

/// Plausible arguments for an object schema: every required property gets a value of its type.
fn arguments_for(schema: &Value) -> Map<String, Value> {
    let mut args = Map::new();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return args;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| properties.keys().map(String::as_str).collect());
    for (i, name) in required.iter().enumerate() {
        let kind = properties
            .get(*name)
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("string");
        let value = match kind {
            "number" | "integer" => json!(i as i64 + 2),
            "boolean" => json!(true),
            "array" => json!([]),
            "object" => json!({}),
            _ => json!("test"),
        };
        args.insert(name.to_string(), value);
    }
    args
}
