//! With no LLM configured, forage answers with its embedded model: a task calls the FastMCP vault
//! tool (bearer header) with the right argument and returns schema-valid JSON; a json task without
//! tools returns schema-valid content. Asserts structure and validity, not the tiny model's wisdom.

mod common;

use common::{ForageServer, ServerOpts, VaultServer};
use serde_json::{Value, json};

fn model_path() -> std::path::PathBuf {
    let path = forage_testkit::peers::repo_root().join("models/smollm2-135m-instruct-q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-model.sh first",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_model_calls_mcp_tools_and_answers_in_schema() {
    let vault = VaultServer::start("vault-token-local-model");
    let mut opts = ServerOpts::new("unused");
    opts.llm_base_url = None; // nothing configured: the embedded model answers
    let server = ForageServer::start(
        opts.env("FORAGE_LLM_MODEL_PATH", model_path().display())
            .env("FORAGE_WORKERS", 1),
    )
    .await;
    let log = server.log();
    assert!(log.contains("loading the embedded model"), "{log}");
    let api = server.api();

    // A task with the vault's tool: the model must call it, with the company named.
    let schema = json!({
        "type": "object",
        "properties": {"code": {"type": "string", "maxLength": 40}},
        "required": ["code"]
    });
    let run = api
        .create(&json!({
            "input": "Use the get_secret_code tool to look up the secret code of the company ACME.",
            "processor": "base",
            "task_spec": {"output_schema": {"type": "json", "json_schema": schema}},
            "mcp_servers": [{
                "type": "url", "name": "vault", "url": vault.url,
                "headers": {"Authorization": format!("Bearer {}", vault.token)}
            }]
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let result = api.result(&run_id, 600).await;
    assert_eq!(result.status, 200, "{}", result.body);
    let output = &result.body["output"];
    assert!(
        jsonschema::is_valid(&schema, &output["content"]),
        "{output}"
    );
    let calls = output["mcp_tool_calls"]
        .as_array()
        .expect("the model called a tool");
    let call = calls
        .iter()
        .find(|c| c["tool_name"] == "get_secret_code")
        .unwrap_or_else(|| panic!("no get_secret_code call: {calls:?}"));
    assert_eq!(call["server_name"], "vault");
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    let company = arguments["company"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(company.contains("acme"), "called with {arguments}");
    assert_eq!(
        call["error"], "",
        "the bearer header reached the vault: {call}"
    );
    assert!(
        call["content"].as_str().unwrap().starts_with("ACME-"),
        "{call}"
    );

    // A json task without tools: schema-valid content.
    let schema = json!({
        "type": "object",
        "properties": {
            "colour": {"type": "string", "enum": ["red", "green", "blue"]},
            "count": {"type": "integer", "minimum": 0, "maximum": 10}
        },
        "required": ["colour", "count"]
    });
    let run = api
        .create(&json!({
            "input": "Pick a primary colour and a small number.",
            "processor": "lite",
            "task_spec": {"output_schema": {"type": "json", "json_schema": schema}}
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let result = api.result(&run_id, 600).await;
    assert_eq!(result.status, 200, "{}", result.body);
    assert!(
        jsonschema::is_valid(&schema, &result.body["output"]["content"]),
        "{}",
        result.body
    );
}
