//! 4xx answers other than 429 fail at once, with a message naming the server and the fix.

use forage_api::Secret;
use forage_llm::{LlmError, LlmProvider, OpenAiConfig, OpenAiProvider};
use forage_testkit::llm::FakeLlm;
use tokio_util::sync::CancellationToken;

use crate::common::{config, provider, request};

#[tokio::test]
async fn bad_request_is_not_retried() {
    let fake = FakeLlm::start().await;
    let err = provider(&fake)
        .chat(
            &request("Q [[fake:fail=400 times=1]]"),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlmError::BadRequest { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn unauthorized_says_which_setting_to_fix_without_the_key() {
    let fake = FakeLlm::start().await;
    let provider = OpenAiProvider::new(OpenAiConfig {
        api_key: Some(Secret::new("sk-top-secret-123")),
        ..config(&fake)
    })
    .unwrap();
    let err = provider
        .chat(&request("Q [[fake:fail=401]]"), &CancellationToken::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LlmError::BadRequest { status: 401, .. }));
    assert!(text.contains("answered 401 Unauthorized"), "{text}");
    assert!(text.contains("FORAGE_LLM_API_KEY"), "{text}");
    assert!(text.contains(&fake.base_url), "{text}");
    assert!(!text.contains("sk-top-secret-123"), "{text}");
    assert!(!format!("{err:?}").contains("sk-top-secret-123"));
    assert_eq!(fake.requests().len(), 1);
}
