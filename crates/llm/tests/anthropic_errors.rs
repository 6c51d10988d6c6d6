//! The Anthropic provider's failures on loopback: a 401 that names the setting, 429 / 529 /
//! mid-stream overload retried until success, `retry-after` honoured, cancellation and
//! timeouts prompt, and the key never in an error or a Debug print.

mod replay;

use std::time::{Duration, Instant};

use forage_api::Secret;
use forage_llm::{
    AnthropicConfig, AnthropicProvider, ChatMessage, ChatRequest, LlmError, LlmProvider,
};
use replay::{Canned, Replay, fixture};
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-ant-api03-very-secret";

fn config(server: &Replay) -> AnthropicConfig {
    AnthropicConfig {
        base_url: server.base_url.clone(),
        request_timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(5),
        max_retries: 3,
        stream: false,
        ..AnthropicConfig::new(Secret::new(KEY))
    }
}

fn provider(server: &Replay) -> AnthropicProvider {
    AnthropicProvider::new(config(server)).unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "claude-sonnet-4-5".into(),
        messages: vec![ChatMessage::user("Q")].into(),
        ..Default::default()
    }
}

fn ok() -> Canned {
    Canned::json(200, fixture("anthropic/text.json"))
}

#[tokio::test]
async fn unauthorized_names_the_key_setting_and_is_not_retried() {
    let server = Replay::start(vec![Canned::json(401, fixture("anthropic/error_401.json"))]).await;
    let err = provider(&server)
        .chat(&request(), &CancellationToken::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, LlmError::BadRequest { status: 401, .. }),
        "{err:?}"
    );
    assert!(text.contains("401 Unauthorized"), "{text}");
    assert!(
        text.contains("authentication_error: invalid x-api-key"),
        "{text}"
    );
    assert!(text.contains("FORAGE_LLM_API_KEY"), "{text}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn rate_limits_and_overload_are_retried_until_success() {
    let server = Replay::start(vec![
        Canned::json(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        )
        .header("retry-after", "0"),
        Canned::json(529, fixture("anthropic/overloaded_529.json")),
        Canned::json(503, "upstream unavailable"),
        ok(),
    ])
    .await;
    let response = provider(&server)
        .chat(&request(), &CancellationToken::new())
        .await
        .unwrap();
    assert!(response.content.unwrap().contains("Graydon"));
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn an_overloaded_error_event_mid_stream_is_retried() {
    let server = Replay::start(vec![
        Canned::sse(fixture("anthropic/stream_overloaded.sse")),
        Canned::sse(fixture("anthropic/stream_tool_use.sse")),
    ])
    .await;
    let provider = AnthropicProvider::new(AnthropicConfig {
        stream: true,
        ..config(&server)
    })
    .unwrap();
    let response = provider
        .chat(&request(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(response.tool_calls.len(), 1);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_is_an_error() {
    let full = String::from_utf8(fixture("anthropic/stream_tool_use.sse")).unwrap();
    let cut = full
        .split("event: message_delta")
        .next()
        .unwrap()
        .to_owned();
    let server = Replay::start(vec![Canned::sse(cut)]).await;
    let provider = AnthropicProvider::new(AnthropicConfig {
        stream: true,
        max_retries: 1,
        ..config(&server)
    })
    .unwrap();
    let err = provider
        .chat(&request(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("message_stop"), "{err}");
    assert_eq!(server.requests().len(), 2, "retried once");
}

#[tokio::test]
async fn honours_retry_after() {
    let server = Replay::start(vec![
        Canned::json(529, fixture("anthropic/overloaded_529.json")).header("retry-after", "1"),
        ok(),
    ])
    .await;
    let started = Instant::now();
    provider(&server)
        .chat(&request(), &CancellationToken::new())
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let server = Replay::start(vec![Canned::json(
        529,
        fixture("anthropic/overloaded_529.json"),
    )])
    .await;
    let err = provider(&server)
        .chat(&request(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlmError::Server { status: 529, .. }),
        "{err:?}"
    );
    assert_eq!(
        server.requests().len(),
        4,
        "the first attempt and 3 retries"
    );
}

#[tokio::test]
async fn cancellation_returns_promptly() {
    let server = Replay::start(vec![ok().delay(Duration::from_secs(20))]).await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = provider(&server)
        .chat(&request(), &cancel)
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stalled_answer_times_out() {
    let server = Replay::start(vec![ok().delay(Duration::from_secs(20))]).await;
    let provider = AnthropicProvider::new(AnthropicConfig {
        request_timeout: Duration::from_millis(300),
        ..config(&server)
    })
    .unwrap();
    let started = Instant::now();
    let err = provider
        .chat(&request(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_key_never_appears_in_errors_or_debug() {
    let echo = format!(
        r#"{{"type":"error","error":{{"type":"invalid_request_error","message":"bad key {KEY}"}}}}"#
    );
    for status in [400, 401, 403, 404, 500] {
        let server = Replay::start(vec![Canned::json(status, echo.clone())]).await;
        let provider = AnthropicProvider::new(AnthropicConfig {
            max_retries: 0,
            ..config(&server)
        })
        .unwrap();
        let err = provider
            .chat(&request(), &CancellationToken::new())
            .await
            .unwrap_err();
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(KEY), "{status}: {text}");
            assert!(text.contains("bad key"), "{status}: {text}");
        }
        assert!(!format!("{provider:?}").contains(KEY));
        assert!(!provider.describe().contains(KEY));
        assert!(!format!("{:?}", provider.config()).contains(KEY));
    }
}
