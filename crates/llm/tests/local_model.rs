//! The embedded local model with the real default GGUF (SmolLM2-135M-Instruct): constrained
//! decoding yields a valid tool call or a schema-valid answer, cancellation stops generation
//! promptly, and requests beyond `max_concurrent` queue and all finish. These tests assert
//! structure and validity, not wisdom. They need the model: run `scripts/fetch-model.sh`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use forage_llm::local::{DEFAULT_MODEL_FILE, Decoding, LocalConfig, LocalProvider};
use forage_llm::{ChatMessage, ChatRequest, LlmError, LlmProvider, ResponseFormat, ToolSpec};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn model_path() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(DEFAULT_MODEL_FILE);
    assert!(
        path.is_file(),
        "the local model is missing at {}: run scripts/fetch-model.sh",
        path.display()
    );
    path
}

/// The tests of this file take turns: generations running side by side on a small machine
/// oversubscribe its cores (llama.cpp threads spin-wait), which makes every timing meaningless.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One provider shared by the tests of this file (the model is loaded once).
fn provider() -> LocalProvider {
    static PROVIDER: OnceLock<LocalProvider> = OnceLock::new();
    PROVIDER
        .get_or_init(|| LocalProvider::load(LocalConfig::new(model_path())).expect("load model"))
        .clone()
}

fn validate(schema: &Value, instance: &Value) {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{instance} violates {schema}: {errors:?}"
    );
}

fn secret_code_tool() -> ToolSpec {
    ToolSpec {
        name: "get_secret_code".into(),
        description: "Returns the secret code of a company.".into(),
        parameters: json!({
            "type": "object",
            "properties": {"company": {"type": "string", "description": "The company's name"}},
            "required": ["company"],
        }),
    }
}

#[tokio::test]
async fn offered_tool_is_called_with_schema_valid_arguments() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let tool = secret_code_tool();
    let request = ChatRequest {
        model: "local".into(),
        messages: vec![
            ChatMessage::system("You are a helpful assistant. Use the tools to find facts."),
            ChatMessage::user("What is the secret code of ACME? Call get_secret_code."),
        ],
        tools: vec![tool.clone()],
        max_output_tokens: Some(48),
        ..ChatRequest::default()
    };
    let response = provider()
        .chat(&request, &CancellationToken::new())
        .await
        .expect("chat");
    assert_eq!(response.tool_calls.len(), 1, "{response:?}");
    let call = &response.tool_calls[0];
    assert_eq!(call.name, "get_secret_code");
    assert!(call.id.starts_with("call_"));
    let arguments = call.parsed_arguments().expect("arguments are JSON");
    validate(&tool.parameters, &arguments);
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
    assert!(response.usage.input_tokens > 0 && response.usage.output_tokens > 0);
}

#[tokio::test]
async fn answer_follows_the_response_format() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 24},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "color": {"type": "string", "enum": ["red", "green", "blue"]},
        },
        "required": ["name", "age", "color"],
        "additionalProperties": false,
    });
    let request = ChatRequest {
        model: "local".into(),
        messages: vec![ChatMessage::user(
            "Describe Alice, who is 30 years old and likes green.",
        )],
        response_format: Some(ResponseFormat {
            name: "person".into(),
            schema: schema.clone(),
        }),
        max_output_tokens: Some(64),
        ..ChatRequest::default()
    };
    let response = provider()
        .chat(&request, &CancellationToken::new())
        .await
        .expect("chat");
    assert!(response.tool_calls.is_empty(), "{response:?}");
    let content = response.content.expect("content");
    let value: Value = serde_json::from_str(&content).expect("content is JSON");
    validate(&schema, &value);
}

#[tokio::test]
async fn cancellation_stops_a_long_generation_promptly() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The grammar forces a long answer (at least 400 numbers), so only cancellation ends it early.
    let request = ChatRequest {
        model: "local".into(),
        messages: vec![ChatMessage::user("Count from 1 to 1000.")],
        response_format: Some(ResponseFormat {
            name: "numbers".into(),
            schema: json!({
                "type": "object",
                "properties": {"n": {"type": "array", "items": {"type": "integer"}, "minItems": 400}},
                "required": ["n"],
            }),
        }),
        max_output_tokens: Some(2000),
        ..ChatRequest::default()
    };
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let provider = provider();
    let task = tokio::spawn(async move { provider.chat(&request, &cancel).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let cancelled_at = Instant::now();
    trigger.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("chat returns after cancellation")
        .expect("task");
    assert_eq!(result, Err(LlmError::Cancelled));
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(1),
        "took {:?} to stop",
        cancelled_at.elapsed()
    );
}

#[tokio::test]
async fn requests_beyond_max_concurrent_queue_and_all_finish() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let config = LocalConfig {
        max_concurrent: 1,
        threads: Some(2),
        ..LocalConfig::new(model_path())
    };
    let provider = LocalProvider::load(config).expect("load model");
    let request = ChatRequest {
        model: "local".into(),
        messages: vec![ChatMessage::user("Name a fruit.")],
        response_format: Some(ResponseFormat {
            name: "fruit".into(),
            schema: json!({
                "type": "object",
                "properties": {"fruit": {"type": "string", "maxLength": 16}},
                "required": ["fruit"],
                "additionalProperties": false,
            }),
        }),
        max_output_tokens: Some(24),
        ..ChatRequest::default()
    };
    let cancel = CancellationToken::new();
    let runs = (0..3).map(|_| provider.chat_with_stats(&request, &cancel, Decoding::Constrained));
    let results = futures::future::join_all(runs).await;
    for result in results {
        let (response, stats) = result.expect("every queued request finishes");
        assert!(response.content.is_some(), "{response:?}");
        // One at a time: each generation had the configured threads to itself.
        assert_eq!(stats.threads, 2);
    }
}

#[tokio::test]
async fn schemas_the_grammar_cannot_handle_degrade_instead_of_failing() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let request = ChatRequest {
        model: "local".into(),
        messages: vec![ChatMessage::user("Look up ACME.")],
        tools: vec![ToolSpec {
            name: "lookup".into(),
            description: "Looks a company up.".into(),
            // A reference to nowhere: this sub-schema cannot compile and is loosened.
            parameters: json!({
                "type": "object",
                "properties": {"company": {"$ref": "#/$defs/missing"}},
            }),
        }],
        response_format: Some(ResponseFormat {
            name: "odd".into(),
            // Keywords and formats the grammar library does not implement are ignored.
            schema: json!({
                "type": "object",
                "properties": {"when": {"type": "string", "format": "x-unknown-format"}},
                "if": {"required": ["when"]},
                "then": {"minProperties": 1},
                "x-vendor": true,
            }),
        }),
        max_output_tokens: Some(32),
        ..ChatRequest::default()
    };
    let response = provider()
        .chat(&request, &CancellationToken::new())
        .await
        .expect("a reply despite the schemas");
    assert!(
        !response.tool_calls.is_empty() || response.content.is_some(),
        "{response:?}"
    );
}
