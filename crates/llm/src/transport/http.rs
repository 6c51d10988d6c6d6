//! Pieces of one HTTP exchange with an LLM server that do not depend on its API: `Retry-After`,
//! transport-error wording, bounded body reading, and keeping keys and URL credentials out of
//! messages.

use std::time::Duration;

use forage_api::Secret;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Response, Url};

use crate::LlmError;

/// Most bytes of an error body read.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// `Retry-After` in seconds (HTTP dates are ignored: the backoff applies instead).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = value.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The error for a request that got no (complete) answer.
pub(crate) fn transport_error(endpoint: &str, error: reqwest::Error) -> LlmError {
    let error = error.without_url();
    let cause = error_chain(&error);
    if error.is_connect() {
        LlmError::Connect(format!(
            "could not connect to the LLM server at {endpoint}: {cause}; check FORAGE_LLM_BASE_URL and that the server is running"
        ))
    } else if error.is_body() || error.is_decode() {
        LlmError::Connect(format!(
            "the connection to the LLM server at {endpoint} broke mid-answer: {cause}"
        ))
    } else if error.is_builder() {
        LlmError::Config(format!("cannot build a request to {endpoint}: {cause}"))
    } else {
        LlmError::Connect(format!(
            "the request to the LLM server at {endpoint} failed: {cause}"
        ))
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `text` with the API key (if it appears) replaced.
pub(crate) fn redact(text: &str, api_key: Option<&Secret>) -> String {
    match api_key {
        Some(key) if key.expose().len() >= 4 => {
            text.replace(key.expose(), forage_api::secret::REDACTED)
        }
        _ => text.to_owned(),
    }
}

/// Reads the body, stopping once `max` bytes are held (the rest is dropped).
pub(crate) async fn read_capped(
    response: &mut Response,
    max: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = max.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    Ok(body)
}

/// `url` without user name or password.
pub(crate) fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// `text` unless it may hold credentials (`user:pass@host`).
pub(crate) fn strip_credentials_text(text: &str) -> &str {
    if text.contains('@') {
        "(a URL with credentials)"
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_retry_after_seconds_only() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn redacts_the_key_and_hides_url_credentials() {
        let key = Secret::new("sk-secret");
        assert!(!redact("bad key sk-secret", Some(&key)).contains("sk-secret"));
        let url = Url::parse("http://u:p@127.0.0.1/v1").unwrap();
        assert_eq!(shown(&url), "http://127.0.0.1/v1");
        assert_eq!(
            strip_credentials_text("http://u:p@h"),
            "(a URL with credentials)"
        );
    }
}
