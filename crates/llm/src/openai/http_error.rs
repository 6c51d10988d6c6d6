//! Turns error statuses of an OpenAI-compatible server into actionable `LlmError`s, with any
//! echo of the API key removed (transport errors: `transport::http`).

use std::time::Duration;

use forage_api::Secret;
use reqwest::StatusCode;

use super::decode::{error_message, truncate};
use crate::LlmError;
use crate::transport::http::redact;

/// The error for a non-2xx answer from `endpoint`.
pub(crate) fn status_error(
    endpoint: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    api_key: Option<&Secret>,
) -> LlmError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return LlmError::RateLimited { retry_after };
    }
    let detail = redact(&server_detail(body), api_key);
    let reason = status.canonical_reason().unwrap_or("");
    let hint = match status.as_u16() {
        401 | 403 => "; check FORAGE_LLM_API_KEY",
        404 => "; check FORAGE_LLM_BASE_URL (usually ends in /v1) and FORAGE_LLM_MODEL",
        413 => "; the conversation is too large for this server",
        400 | 422 => "; the model or server may not support tools or structured output",
        _ => "",
    };
    let message = format!(
        "LLM server at {endpoint} answered {} {reason}{}{hint}",
        status.as_u16(),
        if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        }
    );
    let status = status.as_u16();
    if status >= 500 {
        LlmError::Server { status, message }
    } else {
        LlmError::BadRequest { status, message }
    }
}

/// The server's own explanation: `error.message` of an OpenAI-style body, else the text.
fn server_detail(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(error) = value.get("error").or_else(|| value.get("detail"))
    {
        return error_message(error);
    }
    truncate(String::from_utf8_lossy(body).trim(), 500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_names_the_setting_and_hides_the_key() {
        let key = Secret::new("sk-very-secret");
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-very-secret","type":"invalid_request_error"}}"#;
        let err = status_error(
            "http://x/v1/chat/completions",
            StatusCode::UNAUTHORIZED,
            None,
            body,
            Some(&key),
        );
        let text = err.to_string();
        assert!(text.contains("answered 401 Unauthorized"), "{text}");
        assert!(text.contains("FORAGE_LLM_API_KEY"), "{text}");
        assert!(!text.contains("sk-very-secret"), "{text}");
        assert!(matches!(err, LlmError::BadRequest { status: 401, .. }));
    }

    #[test]
    fn classifies_statuses() {
        let e = status_error("u", StatusCode::BAD_GATEWAY, None, b"oops", None);
        assert!(matches!(e, LlmError::Server { status: 502, .. }));
        assert!(e.to_string().contains("oops"));
        let e = status_error(
            "u",
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(1)),
            b"",
            None,
        );
        assert_eq!(
            e,
            LlmError::RateLimited {
                retry_after: Some(Duration::from_secs(1))
            }
        );
    }
}
