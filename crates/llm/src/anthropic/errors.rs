//! Turns Anthropic's error answers (`{"type":"error","error":{"type","message"}}`, as an HTTP
//! status or a stream `error` event) into actionable `LlmError`s, with any echo of the key
//! removed, and says which of them are worth retrying.

use std::time::Duration;

use forage_api::Secret;
use reqwest::StatusCode;
use serde_json::Value;

use crate::LlmError;
use crate::transport::http::redact;
use crate::transport::reply::truncate;

/// Anthropic's status for "overloaded".
pub(crate) const OVERLOADED: u16 = 529;

/// The error for a non-2xx answer from `endpoint`.
pub(crate) fn status_error(
    endpoint: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    api_key: &Secret,
) -> LlmError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return LlmError::RateLimited { retry_after };
    }
    let detail = redact(&server_detail(body), Some(api_key));
    let code = status.as_u16();
    let reason = match code {
        OVERLOADED => "Overloaded",
        _ => status.canonical_reason().unwrap_or(""),
    };
    let hint = match code {
        401 | 403 => "; check FORAGE_LLM_API_KEY (an Anthropic API key)",
        404 => "; check FORAGE_LLM_MODEL (e.g. claude-sonnet-4-5) and FORAGE_LLM_BASE_URL",
        413 => "; the conversation is too large for this API",
        OVERLOADED => "; Anthropic's API is temporarily overloaded",
        _ => "",
    };
    let message = format!(
        "Anthropic API at {endpoint} answered {code} {reason}{}{hint}",
        if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        }
    );
    if code >= 500 {
        LlmError::Server {
            status: code,
            message,
        }
    } else {
        LlmError::BadRequest {
            status: code,
            message,
        }
    }
}

/// The error for an `error` event inside a stream (`error` is its `error` object).
pub(crate) fn stream_error(error: &Value) -> LlmError {
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("");
    let message = format!(
        "Anthropic reported an error mid-answer: {}",
        error_detail(error)
    );
    let status = match kind {
        "overloaded_error" => OVERLOADED,
        "rate_limit_error" => return LlmError::RateLimited { retry_after: None },
        "invalid_request_error" => {
            return LlmError::BadRequest {
                status: 400,
                message,
            };
        }
        _ => 500,
    };
    LlmError::Server { status, message }
}

/// Whether trying the same request again may succeed: rate limits, connection failures, and
/// every 5xx (529 "overloaded" included).
pub(crate) fn is_retryable(error: &LlmError) -> bool {
    match error {
        LlmError::Server { status, .. } => *status >= 500,
        other => other.is_retryable(),
    }
}

/// `type: message` of an Anthropic error body, else the body's text.
fn server_detail(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body)
        && let Some(error) = value.get("error")
    {
        return error_detail(error);
    }
    truncate(String::from_utf8_lossy(body).trim(), 500)
}

fn error_detail(error: &Value) -> String {
    let text = match (
        error.get("type").and_then(Value::as_str),
        error.get("message").and_then(Value::as_str),
    ) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (None, Some(message)) => message.to_owned(),
        _ => match error {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    };
    truncate(&text, 500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_names_the_setting_and_hides_the_key() {
        let key = Secret::new("sk-ant-very-secret");
        let body = br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-very-secret"}}"#;
        let err = status_error("u", StatusCode::UNAUTHORIZED, None, body, &key);
        let text = err.to_string();
        assert!(text.contains("401 Unauthorized"), "{text}");
        assert!(text.contains("authentication_error"), "{text}");
        assert!(text.contains("FORAGE_LLM_API_KEY"), "{text}");
        assert!(!text.contains("sk-ant-very-secret"), "{text}");
        assert!(!is_retryable(&err));
    }

    #[test]
    fn overloaded_is_a_retryable_server_error() {
        let key = Secret::new("k");
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let err = status_error("u", StatusCode::from_u16(529).unwrap(), None, body, &key);
        assert!(matches!(err, LlmError::Server { status: 529, .. }));
        assert!(err.to_string().contains("529 Overloaded"), "{err}");
        assert!(is_retryable(&err));
        assert!(is_retryable(&stream_error(
            &serde_json::json!({"type": "overloaded_error", "message": "Overloaded"})
        )));
        assert!(!is_retryable(&stream_error(
            &serde_json::json!({"type": "invalid_request_error", "message": "x"})
        )));
    }
}
