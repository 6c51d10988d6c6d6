//! The HTTP side every provider shares: its client, building GET and JSON POST requests with the
//! key header, sending, reading at most [`MAX_BODY_BYTES`] of the answer, and turning failures
//! into [`SearchError`]s that never carry the API key.

use std::time::Duration;

use forage_api::Secret;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;
use url::Url;

use super::SearchError;

/// The largest answer read from a provider; a larger one fails the search.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The longest provider text quoted in an error.
const MAX_QUOTED_CHARS: usize = 300;

/// Where a provider wants its key: the header, and what goes before the key in it.
#[derive(Clone, Copy)]
pub struct KeyHeader {
    pub name: &'static str,
    pub prefix: &'static str,
}

impl KeyHeader {
    /// The key alone in header `name`.
    pub const fn named(name: &'static str) -> KeyHeader {
        KeyHeader { name, prefix: "" }
    }

    /// `Authorization: Bearer <key>`.
    pub const BEARER: KeyHeader = KeyHeader {
        name: "authorization",
        prefix: "Bearer ",
    };
}

/// One provider's HTTP client and credentials.
pub struct ProviderHttp {
    pub provider: &'static str,
    client: reqwest::Client,
    api_key: Option<Secret>,
}

/// A provider's answer, whatever its status.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ProviderHttp {
    /// A client with the given whole-request timeout, the forage user agent, and no redirects
    /// (a redirect could carry the key header to another host).
    pub fn new(
        provider: &'static str,
        timeout: Duration,
        api_key: Option<Secret>,
    ) -> Result<ProviderHttp, SearchError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "forage/",
                env!("CARGO_PKG_VERSION"),
                " (web search)"
            ))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                SearchError::Config(format!(
                    "cannot set up the HTTP client for the {provider} search provider: {}",
                    describe(e)
                ))
            })?;
        Ok(ProviderHttp {
            provider,
            client,
            api_key,
        })
    }

    /// `GET url` asking for JSON, with the key (if any) in `key`.
    pub fn get(&self, url: Url, key: KeyHeader) -> RequestBuilder {
        let request = self.client.get(url).header(ACCEPT, "application/json");
        self.with_key(request, key)
    }

    /// `POST url` of the JSON `body`, asking for JSON, with the key (if any) in `key`.
    pub fn post_json(&self, url: Url, body: &Value, key: KeyHeader) -> RequestBuilder {
        let request = self
            .client
            .post(url)
            .header(ACCEPT, "application/json")
            .json(body);
        self.with_key(request, key)
    }

    fn with_key(&self, request: RequestBuilder, key: KeyHeader) -> RequestBuilder {
        match self.key_header(key.prefix) {
            Some(value) => request.header(key.name, value),
            None => request,
        }
    }

    /// The API key as a header value marked sensitive (never logged by the HTTP stack), with
    /// `prefix` before it (`"Bearer "`), or `None` when no key is set.
    fn key_header(&self, prefix: &str) -> Option<HeaderValue> {
        let key = self.api_key.as_ref()?;
        // The key was checked to be visible ASCII when the provider was built.
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", key.expose())).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Sends `request` and reads the answer's body (at most [`MAX_BODY_BYTES`]).
    pub async fn fetch(&self, request: RequestBuilder) -> Result<Answer, SearchError> {
        let mut response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY_BYTES as u64)
        {
            return Err(self.too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.body_error(e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(self.too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The JSON of a successful answer, or the error a non-success answer stands for.
    pub fn json(&self, answer: Answer) -> Result<Value, SearchError> {
        if !answer.status.is_success() {
            return Err(self.status_error(&answer));
        }
        serde_json::from_slice(&answer.body).map_err(|e| {
            let reason = if answer.body.iter().all(u8::is_ascii_whitespace) {
                "the body is empty, not JSON".to_owned()
            } else if e.is_eof() {
                "the JSON ends early (the answer was cut short)".to_owned()
            } else if looks_like_html(&answer.body) {
                format!(
                    "an HTML page instead of JSON (is {} the API's address?)",
                    super::BASE_URL_ENV
                )
            } else {
                format!("the body is not valid JSON ({e})")
            };
            self.bad_response(reason)
        })
    }

    /// The error for a non-success answer: 401/403 → unauthorized, 429 → rate limited, others
    /// with the provider's own message where it gave one and advice on what to do.
    pub fn status_error(&self, answer: &Answer) -> SearchError {
        let provider = self.provider;
        let status = answer.status;
        match status.as_u16() {
            401 | 403 => return SearchError::Unauthorized { provider },
            429 => {
                return SearchError::RateLimited {
                    provider,
                    retry_after: retry_after(&answer.headers),
                };
            }
            _ => {}
        }
        let advice = match status.as_u16() {
            300..=399 => format!(
                "the API redirected to {}; set {} to the address it redirects to",
                location_origin(&answer.headers),
                super::BASE_URL_ENV
            ),
            404 | 405 => format!(
                "there is no {provider} search API at this address; check {}",
                super::BASE_URL_ENV
            ),
            402 | 432 | 433 => {
                "the account's plan or credits do not cover this search; check the provider account"
                    .to_owned()
            }
            400..=499 => "the provider rejected the search request".to_owned(),
            500..=599 => "the provider is failing; try again later".to_owned(),
            _ => "an unexpected answer".to_owned(),
        };
        let message = match self.quoted_message(&answer.body) {
            Some(said) => format!("{said} ({advice})"),
            None => advice,
        };
        SearchError::Status {
            provider,
            status: status.as_u16(),
            message,
        }
    }

    /// The `results` list of a provider's JSON answer; an answer without one is a bad response.
    pub fn results<'a>(&self, json: &'a Value) -> Result<&'a [Value], SearchError> {
        match json.get("results").and_then(Value::as_array) {
            Some(results) => Ok(results),
            None => Err(self.bad_response("it has no `results` list")),
        }
    }

    pub fn bad_response(&self, reason: impl Into<String>) -> SearchError {
        SearchError::BadResponse {
            provider: self.provider,
            reason: self.redact(&reason.into()),
        }
    }

    /// The provider's explanation in an error body (`{"error": {"detail": …}}`,
    /// `{"detail": {"error": …}}`, `{"error": "…"}`, `{"message": …}`, or short plain text),
    /// cut short and with the key removed.
    fn quoted_message(&self, body: &[u8]) -> Option<String> {
        let said = match serde_json::from_slice::<Value>(body) {
            Ok(json) => json_message(&json)?,
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
                if looks_like_html(line.as_bytes()) {
                    return None;
                }
                line.to_owned()
            }
        };
        let said = super::text::squeeze_whitespace(&said);
        (!said.is_empty())
            .then(|| self.redact(&super::text::truncate_chars(&said, MAX_QUOTED_CHARS)))
    }

    fn transport(&self, error: reqwest::Error) -> SearchError {
        let provider = self.provider;
        if error.is_timeout() {
            SearchError::Timeout { provider }
        } else {
            SearchError::Connect {
                provider,
                reason: self.redact(&describe(error)),
            }
        }
    }

    fn body_error(&self, error: reqwest::Error) -> SearchError {
        if error.is_timeout() {
            SearchError::Timeout {
                provider: self.provider,
            }
        } else {
            self.bad_response(format!("the answer was cut short ({})", describe(error)))
        }
    }

    fn too_large(&self) -> SearchError {
        self.bad_response(format!(
            "the answer is larger than {} MiB",
            MAX_BODY_BYTES / (1024 * 1024)
        ))
    }

    /// `text` with every occurrence of the API key replaced.
    fn redact(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) if !key.is_empty() => {
                text.replace(key.expose(), forage_api::secret::REDACTED)
            }
            _ => text.to_owned(),
        }
    }
}

/// `base` with `path` appended to its path (`https://host/prefix` + `/search`).
pub fn endpoint(base: &Url, path: &str) -> Result<Url, SearchError> {
    let text = format!("{}{path}", base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|e| {
        SearchError::Config(format!(
            "{} does not make a valid search URL with {path}: {e}",
            super::BASE_URL_ENV
        ))
    })
}

/// A reqwest error and its causes as one line, without the URL.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// `Retry-After` in seconds (the HTTP-date form is not read).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    text.parse::<u64>().ok().map(Duration::from_secs)
}

/// The origin a redirect points to (never its path or query, which may carry secrets).
fn location_origin(headers: &HeaderMap) -> String {
    headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Url::parse(v).ok())
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|| "another address".to_owned())
}

fn json_message(json: &Value) -> Option<String> {
    let pointers = [
        "/error/detail",
        "/error/message",
        "/detail/error",
        "/detail/message",
        "/detail",
        "/error",
        "/message",
    ];
    pointers
        .iter()
        .find_map(|p| json.pointer(p).and_then(Value::as_str))
        .map(str::to_owned)
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head = String::from_utf8_lossy(&body[start..body.len().min(start + 64)]).to_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<?xml")
}
