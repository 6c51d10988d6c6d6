//! The API key goes out as `Authorization: Bearer …` and nowhere else.

use forage_api::Secret;
use forage_llm::{LlmProvider, OpenAiConfig, OpenAiProvider};
use forage_testkit::llm::FakeLlm;
use tokio_util::sync::CancellationToken;

use crate::common::{config, provider, request};

fn authorization(fake: &FakeLlm) -> Option<String> {
    fake.request_headers()
        .last()
        .expect("a request")
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn sends_the_key_as_a_bearer_token() {
    let fake = FakeLlm::start().await;
    let provider = OpenAiProvider::new(OpenAiConfig {
        api_key: Some(Secret::new("sk-test-key")),
        ..config(&fake)
    })
    .unwrap();
    provider
        .chat(&request("Q"), &CancellationToken::new())
        .await
        .expect("chat");
    assert_eq!(authorization(&fake).as_deref(), Some("Bearer sk-test-key"));
    assert!(!provider.describe().contains("sk-test-key"));
    assert!(!format!("{provider:?}").contains("sk-test-key"));
    assert_eq!(
        provider.describe(),
        format!("openai-compatible {}", fake.base_url)
    );
}

#[tokio::test]
async fn sends_no_authorization_without_a_key() {
    let fake = FakeLlm::start().await;
    provider(&fake)
        .chat(&request("Q"), &CancellationToken::new())
        .await
        .expect("chat");
    assert_eq!(authorization(&fake), None);
}
