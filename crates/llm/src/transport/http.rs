//! Pieces of one HTTP exchange with an LLM server that do not depend on its API: the endpoint,
//! sending, `Retry-After`, transport-error wording, bounded body reading, and keeping keys and
//! URL credentials out of messages.

use std::time::Duration;

use forage_api::Secret;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode, Url};

use super::retry::Failure;
use crate::LlmError;

/// Most bytes of an error body read.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// Where a provider sends its requests, and how to name it without credentials.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) url: Url,
    /// `url` without any user info, for messages and logs.
    pub(crate) shown: String,
    /// `shown` without the API path: the base URL.
    pub(crate) shown_base: String,
}

impl Endpoint {
    /// `base` (trimmed, no trailing `/`) with `path` appended, http or https only; errors name the
    /// setting as `what` ("the LLM base URL") and suggest `example` for FORAGE_LLM_BASE_URL.
    pub(crate) fn new(base: &str, path: &str, what: &str, example: &str) -> Result<Self, LlmError> {
        let url = Url::parse(&format!("{base}{path}")).map_err(|e| {
            LlmError::Config(format!(
                "{what} {:?} is not a URL ({e}); set FORAGE_LLM_BASE_URL to {example}",
                strip_credentials_text(base)
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(LlmError::Config(format!(
                "{what} must be http or https, not {}",
                url.scheme()
            )));
        }
        let shown = shown(&url);
        let shown_base = shown.trim_end_matches(path).to_owned();
        Ok(Self {
            url,
            shown,
            shown_base,
        })
    }
}

/// An HTTP client with `connect_timeout`.
pub(crate) fn client(connect_timeout: Duration) -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))
}

/// A request body encoded once, for every attempt to share.
pub(crate) fn json_body(body: &impl serde::Serialize) -> bytes::Bytes {
    // Plain data with text keys: encoding cannot fail.
    bytes::Bytes::from(serde_json::to_vec(body).unwrap_or_default())
}

/// The JSON a body goes out as (for tests of the providers' wire formats).
#[cfg(test)]
pub(crate) fn sent_json(body: &impl serde::Serialize) -> serde_json::Value {
    serde_json::from_slice(&json_body(body)).expect("a request body is JSON")
}

/// Sends `request` to `endpoint` (asking for an event stream when `stream`). A non-2xx answer
/// fails with `status_error`'s verdict on its status, `Retry-After` and first
/// [`MAX_ERROR_BODY`] bytes.
pub(crate) async fn send(
    request: RequestBuilder,
    stream: bool,
    endpoint: &str,
    status_error: impl FnOnce(StatusCode, Option<Duration>, &[u8]) -> LlmError,
) -> Result<Response, Failure> {
    let request = if stream {
        request.header(ACCEPT, "text/event-stream")
    } else {
        request
    };
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(endpoint, e))?;
    let status = response.status();
    if !status.is_success() {
        let wait = retry_after(response.headers());
        let body = read_capped(&mut response, MAX_ERROR_BODY)
            .await
            .unwrap_or_default();
        return Err(Failure {
            error: status_error(status, wait, &body),
            retry_after: wait,
        });
    }
    Ok(response)
}

/// A successful answer, as far as [`read_body_or_stream`] reads it.
pub(crate) enum Body {
    /// An event stream, still to be read.
    Stream(Response),
    /// A whole body, within the bound given.
    Whole(Vec<u8>),
}

/// Leaves an event stream (so its content type says, or `stream_requested` when it names none)
/// to the caller, and reads any other body whole, refusing one over `max` bytes.
pub(crate) async fn read_body_or_stream(
    mut response: Response,
    stream_requested: bool,
    max: usize,
    endpoint: &str,
) -> Result<Body, LlmError> {
    let is_stream = match response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) => ct.to_ascii_lowercase().starts_with("text/event-stream"),
        None => stream_requested,
    };
    if is_stream {
        return Ok(Body::Stream(response));
    }
    let body = read_capped(&mut response, max + 1)
        .await
        .map_err(|e| transport_error(endpoint, e))?;
    if body.len() > max {
        return Err(LlmError::InvalidResponse(format!(
            "the reply exceeds {max} bytes"
        )));
    }
    Ok(Body::Whole(body))
}

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
    if error.is_connect() && cause.contains("certificate") {
        // Not transient: retrying cannot help until the certificate is trusted.
        LlmError::Config(format!(
            "the LLM server at {endpoint} presented a certificate forage cannot verify: {cause}; \
             if the server is right, add its certificate authority to the system's trust store, \
             or name a PEM file of trusted authorities with SSL_CERT_FILE"
        ))
    } else if error.is_connect() {
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

/// `error` with the API key taken out of the server text it may quote.
pub(crate) fn redact_error(error: LlmError, api_key: Option<&Secret>) -> LlmError {
    match error {
        LlmError::InvalidResponse(m) => LlmError::InvalidResponse(redact(&m, api_key)),
        LlmError::Server { status, message } => LlmError::Server {
            status,
            message: redact(&message, api_key),
        },
        LlmError::BadRequest { status, message } => LlmError::BadRequest {
            status,
            message: redact(&message, api_key),
        },
        other => other,
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
