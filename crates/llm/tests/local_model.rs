//! The embedded local model with the real default GGUF (SmolLM2-135M-Instruct): constrained
//! decoding yields a valid tool call or a schema-valid answer, cancellation stops generation
//! promptly, requests beyond `max_concurrent` queue and all finish, and the prompt cache reuses
//! an earlier turn without changing greedy output. These tests assert structure and validity,
//! not wisdom. They need the model: run `scripts/fetch-model.sh`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use forage_llm::local::{
    DEFAULT_MODEL_FILE, Decoding, GenerationStats, LocalConfig, LocalProvider,
};
use forage_llm::{
    ChatMessage, ChatRequest, ChatResponse, LlmError, LlmProvider, ResponseFormat, ToolSpec,
};
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
        })
        .into(),
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
        ]
        .into(),
        tools: vec![tool.clone()].into(),
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
        )]
        .into(),
        response_format: Some(ResponseFormat {
            name: "person".into(),
            schema: schema.clone().into(),
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

/// A request whose grammar forces a long answer (at least 400 numbers), so only cancellation
/// ends it early.
fn counting_request() -> ChatRequest {
    ChatRequest {
        model: "local".into(),
        messages: vec![ChatMessage::user("Count from 1 to 1000.")].into(),
        response_format: Some(ResponseFormat {
            name: "numbers".into(),
            schema: json!({
                "type": "object",
                "properties": {"n": {"type": "array", "items": {"type": "integer"}, "minItems": 400}},
                "required": ["n"],
            }).into(),
        }),
        max_output_tokens: Some(2000),
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn cancellation_stops_a_long_generation_promptly() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let request = counting_request();
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
    // Cancelled (not a finished answer): the forced 400-number answer was cut short. How fast
    // it stops depends on the machine's load; the 10 s bound above only rules out a hang.
    assert_eq!(
        result,
        Err(LlmError::Cancelled),
        "stopped after {:?}",
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
        messages: vec![ChatMessage::user("Name a fruit.")].into(),
        response_format: Some(ResponseFormat {
            name: "fruit".into(),
            schema: json!({
                "type": "object",
                "properties": {"fruit": {"type": "string", "maxLength": 16}},
                "required": ["fruit"],
                "additionalProperties": false,
            })
            .into(),
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
        messages: vec![ChatMessage::user("Look up ACME.")].into(),
        tools: vec![ToolSpec {
            name: "lookup".into(),
            description: "Looks a company up.".into(),
            // A reference to nowhere: this sub-schema cannot compile and is loosened.
            parameters: json!({
                "type": "object",
                "properties": {"company": {"$ref": "#/$defs/missing"}},
            })
            .into(),
        }]
        .into(),
        response_format: Some(ResponseFormat {
            name: "odd".into(),
            // Keywords and formats the grammar library does not implement are ignored.
            schema: json!({
                "type": "object",
                "properties": {"when": {"type": "string", "format": "x-unknown-format"}},
                "if": {"required": ["when"]},
                "then": {"minProperties": 1},
                "x-vendor": true,
            })
            .into(),
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

/// A provider of its own (one slot, so every request meets the previous one's cache), with the
/// prompt cache on or off.
fn fresh_provider(prompt_cache: bool) -> LocalProvider {
    let config = LocalConfig {
        max_concurrent: 1,
        prompt_cache,
        ..LocalConfig::new(model_path())
    };
    LocalProvider::load(config).expect("load model")
}

/// One provider without the prompt cache, shared: what every request must answer.
fn uncached() -> LocalProvider {
    static PROVIDER: OnceLock<LocalProvider> = OnceLock::new();
    PROVIDER.get_or_init(|| fresh_provider(false)).clone()
}

/// The first turn of a run: find a fact with a tool.
fn first_turn() -> ChatRequest {
    ChatRequest {
        model: "local".into(),
        messages: vec![
            ChatMessage::system("You are a helpful assistant. Use the tools to find facts."),
            ChatMessage::user("What is the secret code of ACME? Call get_secret_code."),
        ]
        .into(),
        tools: vec![secret_code_tool()].into(),
        max_output_tokens: Some(48),
        ..ChatRequest::default()
    }
}

/// The next turn: the previous request's messages, the reply and the tool's result.
fn next_turn(previous: &ChatRequest, reply: &ChatResponse) -> ChatRequest {
    let mut messages = previous.messages.clone();
    messages.push(ChatMessage::Assistant {
        content: reply.content.clone(),
        tool_calls: reply.tool_calls.clone(),
    });
    if reply.tool_calls.is_empty() {
        messages.push(ChatMessage::user("Call get_secret_code now."));
    }
    for call in &reply.tool_calls {
        messages.push(ChatMessage::tool(
            call.id.clone(),
            "The secret code of ACME is 7391. It was last changed in March.",
        ));
    }
    ChatRequest {
        messages,
        max_output_tokens: Some(32),
        ..previous.clone()
    }
}

/// What a reply says, without the generated call ids.
fn said(response: &ChatResponse) -> (Option<String>, Vec<(String, String)>) {
    let calls = response
        .tool_calls
        .iter()
        .map(|c| (c.name.clone(), c.arguments.clone()))
        .collect();
    (response.content.clone(), calls)
}

async fn ask(provider: &LocalProvider, request: &ChatRequest) -> (ChatResponse, GenerationStats) {
    provider
        .chat_with_stats(request, &CancellationToken::new(), Decoding::Constrained)
        .await
        .expect("chat")
}

#[tokio::test]
async fn the_next_turn_evaluates_only_what_is_new() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let provider = fresh_provider(true);
    let first = first_turn();
    let (reply, stats1) = ask(&provider, &first).await;
    assert_eq!(stats1.cached_prompt_tokens, 0, "{stats1:?}");
    let (_, stats2) = ask(&provider, &next_turn(&first, &reply)).await;
    assert!(stats2.cached_prompt_tokens > 0, "{stats2:?}");
    assert!(
        stats2.evaluated_prompt_tokens() < stats2.prompt_tokens,
        "{stats2:?}"
    );
    // The whole first prompt was reused.
    assert!(
        stats2.cached_prompt_tokens >= stats1.prompt_tokens,
        "{stats1:?} {stats2:?}"
    );
}

#[tokio::test]
async fn greedy_output_is_the_same_with_and_without_the_cache() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let provider = fresh_provider(true);
    let first = first_turn();
    let (reply, _) = ask(&provider, &first).await;
    let (reply_uncached, _) = ask(&uncached(), &first).await;
    assert_eq!(said(&reply), said(&reply_uncached));
    let second = next_turn(&first, &reply);
    let (with_cache, stats) = ask(&provider, &second).await;
    assert!(stats.cached_prompt_tokens > 0, "{stats:?}");
    let (without, stats_uncached) = ask(&uncached(), &second).await;
    assert_eq!(stats_uncached.cached_prompt_tokens, 0);
    assert_eq!(said(&with_cache), said(&without));
    assert_eq!(stats.output_tokens, stats_uncached.output_tokens);
}

#[tokio::test]
async fn an_unrelated_prompt_after_a_run_answers_as_without_the_cache() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let provider = fresh_provider(true);
    let first = first_turn();
    let (reply, _) = ask(&provider, &first).await;
    let (_, second) = ask(&provider, &next_turn(&first, &reply)).await;
    let unrelated = ChatRequest {
        model: "local".into(),
        messages: vec![ChatMessage::user(
            "Describe Alice, who is 30 years old and likes green.",
        )].into(),
        response_format: Some(ResponseFormat {
            name: "person".into(),
            schema: json!({
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": 24}, "age": {"type": "integer"}},
                "required": ["name", "age"],
            }).into(),
        }),
        max_output_tokens: Some(32),
        ..ChatRequest::default()
    };
    let (answer, stats) = ask(&provider, &unrelated).await;
    // At most the chat template's opening is shared; the rest of the cache was dropped.
    assert!(
        stats.cached_prompt_tokens < second.prompt_tokens / 4,
        "{stats:?}"
    );
    assert!(stats.evaluated_prompt_tokens() > 0);
    let (expected, _) = ask(&uncached(), &unrelated).await;
    assert_eq!(said(&answer), said(&expected));
    assert!(answer.content.is_some(), "{answer:?}");
}

#[tokio::test]
async fn after_a_cancelled_generation_the_cache_still_answers_correctly() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let provider = fresh_provider(true);
    let first = first_turn();
    let (reply, _) = ask(&provider, &first).await;
    // A long answer, cancelled mid-way.
    let counting = counting_request();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let long = {
        let provider = provider.clone();
        let counting = counting.clone();
        tokio::spawn(async move {
            provider
                .chat_with_stats(&counting, &cancel, Decoding::Constrained)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    trigger.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), long)
        .await
        .expect("chat returns after cancellation")
        .expect("task");
    assert_eq!(result.err(), Some(LlmError::Cancelled));

    // The same prompt again (cached up to wherever the cancelled one stopped), briefly.
    let short_count = ChatRequest {
        max_output_tokens: Some(12),
        ..counting
    };
    let (again, stats) = ask(&provider, &short_count).await;
    assert!(stats.cached_prompt_tokens > 0, "{stats:?}");
    let (expected, _) = ask(&uncached(), &short_count).await;
    assert_eq!(said(&again), said(&expected));

    // And the run goes on with its next turn.
    let second = next_turn(&first, &reply);
    let (with_cache, _) = ask(&provider, &second).await;
    let (without, _) = ask(&uncached(), &second).await;
    assert_eq!(said(&with_cache), said(&without));
}

#[tokio::test]
async fn a_context_outgrown_by_the_output_budget_keeps_the_cache() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let provider = fresh_provider(true);
    let first = first_turn();
    let (reply, stats1) = ask(&provider, &first).await;
    // The same request with room for more output than the first context holds: a bigger one
    // is made, with the cached entries copied over. The tool call ends the reply early anyway.
    let roomy = ChatRequest {
        max_output_tokens: Some(1100),
        ..first.clone()
    };
    let (again, stats) = ask(&provider, &roomy).await;
    assert_eq!(
        stats.cached_prompt_tokens,
        stats1.prompt_tokens - 1,
        "{stats:?}"
    );
    assert_eq!(said(&again), said(&reply));
    let (expected, _) = ask(&uncached(), &roomy).await;
    assert_eq!(said(&again), said(&expected));
}

#[tokio::test]
async fn concurrent_runs_keep_their_own_slots_and_answers() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let config = LocalConfig {
        max_concurrent: 2,
        threads: Some(2),
        ..LocalConfig::new(model_path())
    };
    let provider = LocalProvider::load(config).expect("load model");
    let first = first_turn();
    let (reply, _) = ask(&provider, &first).await;
    let second = next_turn(&first, &reply);
    let other = ChatRequest {
        model: "local".into(),
        messages: vec![ChatMessage::user("Name a fruit.")].into(),
        response_format: Some(ResponseFormat {
            name: "fruit".into(),
            schema: json!({
                "type": "object",
                "properties": {"fruit": {"type": "string", "maxLength": 16}},
                "required": ["fruit"],
                "additionalProperties": false,
            })
            .into(),
        }),
        max_output_tokens: Some(24),
        ..ChatRequest::default()
    };
    // Side by side (sharing the threads): the run's next turn finds its slot, the unrelated
    // request gets a slot of its own.
    let ((turn, turn_stats), (fruit, fruit_stats)) =
        tokio::join!(ask(&provider, &second), ask(&provider, &other));
    assert!(turn_stats.cached_prompt_tokens > 0, "{turn_stats:?}");
    assert!(fruit_stats.cached_prompt_tokens < 8, "{fruit_stats:?}");
    assert_eq!(said(&turn), said(&ask(&uncached(), &second).await.0));
    assert_eq!(said(&fruit), said(&ask(&uncached(), &other).await.0));
}
