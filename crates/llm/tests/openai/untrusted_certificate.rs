//! An HTTPS server whose certificate cannot be verified fails at once (no retry), with an error
//! that names the certificate problem and how to trust a private authority.

use forage_llm::{LlmError, LlmProvider};
use forage_testkit::llm::FakeLlm;
use tokio_util::sync::CancellationToken;

use crate::common::{provider, request};

#[tokio::test]
async fn a_certificate_from_an_unknown_authority_is_not_retried() {
    // The fake's authority is new: no trust store holds it.
    let (fake, _authority) = FakeLlm::start_https().await.expect("https fake");
    let err = provider(&fake)
        .chat(&request("Q"), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Config(_)), "{err:?}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("SSL_CERT_FILE"), "{text}");
    assert!(text.contains(&fake.base_url), "{text}");
    assert!(fake.requests().is_empty(), "no request got through");
}
