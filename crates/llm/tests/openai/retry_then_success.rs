//! 429 and 5xx answers and refused connections are retried with backoff; when retries run
//! out the last error is reported.

use std::time::Duration;

use forage_llm::{LlmError, LlmProvider, OpenAiConfig, OpenAiProvider};
use forage_testkit::llm::FakeLlm;
use tokio_util::sync::CancellationToken;

use crate::common::{provider, request};

#[tokio::test]
async fn retries_rate_limits_then_succeeds() {
    let fake = FakeLlm::start().await;
    let response = provider(&fake)
        .chat(
            &request("Q [[fake:fail=429 times=2]]"),
            &CancellationToken::new(),
        )
        .await
        .expect("third attempt succeeds");
    assert_eq!(response.content.as_deref(), Some("Answer: Q"));
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn retries_server_errors_then_succeeds() {
    let fake = FakeLlm::start().await;
    for status in [500, 502, 503, 504] {
        let input = format!("Q{status} [[fake:fail={status} times=3]]");
        let response = provider(&fake)
            .chat(&request(&input), &CancellationToken::new())
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert!(response.content.is_some());
    }
    assert_eq!(fake.requests().len(), 16);
}

#[tokio::test]
async fn reports_the_last_error_when_retries_run_out() {
    let fake = FakeLlm::start().await;
    let provider = OpenAiProvider::new(OpenAiConfig {
        max_retries: 1,
        ..crate::common::config(&fake)
    })
    .unwrap();
    let cancel = CancellationToken::new();

    let err = provider
        .chat(&request("A [[fake:fail=503 times=5]]"), &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlmError::Server { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("scripted failure 2 of 5"), "{err}");
    assert!(err.to_string().contains(&fake.base_url), "{err}");

    let err = provider
        .chat(&request("B [[fake:fail=429 times=5]]"), &cancel)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LlmError::RateLimited {
            retry_after: Some(Duration::ZERO)
        }
    );
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn retries_refused_connections_then_reports_them() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let provider = OpenAiProvider::new(OpenAiConfig {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        max_retries: 2,
        initial_backoff: Duration::from_millis(5),
        ..OpenAiConfig::default()
    })
    .unwrap();
    let err = provider
        .chat(&request("Q"), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Connect(_)), "{err:?}");
    assert!(err.to_string().contains("FORAGE_LLM_BASE_URL"), "{err}");
}
