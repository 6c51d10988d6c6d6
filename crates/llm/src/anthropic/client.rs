//! `AnthropicProvider`: sends chat requests to Anthropic's Messages API, with per-attempt
//! timeouts, retries with backoff (429, 529, 5xx, `retry-after` honoured), cancellation, and
//! bounded response reading.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{Response, Url};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use super::errors::{is_retryable, status_error};
use super::stream::{Progress, StreamAccumulator};
use super::{ANTHROPIC_VERSION, AnthropicConfig, MAX_RESPONSE_BYTES, response, wire};
use crate::transport::backoff;
use crate::transport::http::{
    MAX_ERROR_BODY, read_capped, redact, retry_after, shown, strip_credentials_text,
    transport_error,
};
use crate::transport::sse::SseLines;
use crate::{ChatRequest, ChatResponse, LlmError, LlmProvider};

/// A client of the Anthropic Messages API.
#[derive(Clone)]
pub struct AnthropicProvider {
    config: AnthropicConfig,
    client: reqwest::Client,
    endpoint: Url,
    key_header: HeaderValue,
    /// The endpoint without any user info, for messages and logs.
    shown_endpoint: String,
    shown_base: String,
}

impl std::fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("endpoint", &self.shown_endpoint)
            .field("api_key", &self.config.api_key)
            .field("stream", &self.config.stream)
            .field("request_timeout", &self.config.request_timeout)
            .field("max_retries", &self.config.max_retries)
            .finish_non_exhaustive()
    }
}

/// A failed attempt, with the server's `retry-after` when it sent one.
struct Failure {
    error: LlmError,
    retry_after: Option<Duration>,
}

impl From<LlmError> for Failure {
    fn from(error: LlmError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

impl AnthropicProvider {
    /// A provider with its own HTTP client (connect timeout from `config`).
    pub fn new(config: AnthropicConfig) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Self::with_client(config, client)
    }

    /// A provider that sends through `client` (its own timeouts apply in addition).
    pub fn with_client(config: AnthropicConfig, client: reqwest::Client) -> Result<Self, LlmError> {
        let key = config.api_key.expose().trim();
        if key.is_empty() {
            return Err(LlmError::Config(
                "the Anthropic provider needs an API key; set FORAGE_LLM_API_KEY".to_owned(),
            ));
        }
        let mut key_header = HeaderValue::from_str(key).map_err(|_| {
            LlmError::Config(
                "the Anthropic API key holds characters that cannot go in an HTTP header; check FORAGE_LLM_API_KEY"
                    .to_owned(),
            )
        })?;
        key_header.set_sensitive(true);
        let base = config.base_url.trim().trim_end_matches('/');
        let path = if base.ends_with("/v1") {
            "/messages"
        } else {
            "/v1/messages"
        };
        let endpoint = Url::parse(&format!("{base}{path}")).map_err(|e| {
            LlmError::Config(format!(
                "the Anthropic base URL {:?} is not a URL ({e}); set FORAGE_LLM_BASE_URL to e.g. https://api.anthropic.com, or leave it unset",
                strip_credentials_text(base)
            ))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(LlmError::Config(format!(
                "the Anthropic base URL must be http or https, not {}",
                endpoint.scheme()
            )));
        }
        let shown_endpoint = shown(&endpoint);
        let shown_base = shown_endpoint.trim_end_matches(path).to_owned();
        Ok(Self {
            config,
            client,
            endpoint,
            key_header,
            shown_endpoint,
            shown_base,
        })
    }

    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }

    /// All attempts of one request.
    async fn run(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = wire::request_body(request, self.config.stream);
        let mut retry = 0;
        loop {
            let span = info_span!("llm_attempt", attempt = retry + 1);
            let outcome = tokio::time::timeout(
                self.config.request_timeout,
                self.attempt(&body, &request.model),
            )
            .instrument(span)
            .await;
            let failure = match outcome {
                Ok(Ok(response)) => {
                    debug!(
                        input_tokens = response.usage.input_tokens,
                        output_tokens = response.usage.output_tokens,
                        tool_calls = response.tool_calls.len(),
                        finish_reason = response.finish_reason.as_deref().unwrap_or(""),
                        "LLM answered"
                    );
                    return Ok(response);
                }
                Ok(Err(failure)) => failure,
                Err(_) => {
                    warn!(timeout = ?self.config.request_timeout, "LLM request timed out");
                    return Err(LlmError::Timeout);
                }
            };
            if !is_retryable(&failure.error) || retry >= self.config.max_retries {
                return Err(failure.error);
            }
            let wait = backoff::delay(self.config.initial_backoff, retry, failure.retry_after);
            warn!(error = %failure.error, wait_ms = wait.as_millis() as u64, "retrying LLM request");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// One HTTP exchange.
    async fn attempt(&self, body: &Value, model: &str) -> Result<ChatResponse, Failure> {
        let mut builder = self
            .client
            .post(self.endpoint.clone())
            .header("x-api-key", self.key_header.clone())
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(body);
        if self.config.stream {
            builder = builder.header(ACCEPT, "text/event-stream");
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| transport_error(&self.shown_endpoint, e))?;
        let status = response.status();
        if !status.is_success() {
            let wait = retry_after(response.headers());
            let body = read_capped(&mut response, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            return Err(Failure {
                error: status_error(
                    &self.shown_endpoint,
                    status,
                    wait,
                    &body,
                    &self.config.api_key,
                ),
                retry_after: wait,
            });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        let is_stream = match &content_type {
            Some(ct) => ct.starts_with("text/event-stream"),
            None => self.config.stream,
        };
        let result = if is_stream {
            self.read_stream(&mut response, model).await
        } else {
            let body = read_capped(&mut response, MAX_RESPONSE_BYTES + 1)
                .await
                .map_err(|e| transport_error(&self.shown_endpoint, e))?;
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(LlmError::InvalidResponse(format!(
                    "the reply exceeds {MAX_RESPONSE_BYTES} bytes"
                ))
                .into());
            }
            response::parse(&body, model)
        };
        result.map_err(|e| self.redacted(e).into())
    }

    /// Reads and folds the event stream up to `message_stop`.
    async fn read_stream(
        &self,
        response: &mut Response,
        model: &str,
    ) -> Result<ChatResponse, LlmError> {
        let mut lines = SseLines::new(MAX_RESPONSE_BYTES);
        let mut acc = StreamAccumulator::new(MAX_RESPONSE_BYTES);
        let too_long = |_| {
            LlmError::InvalidResponse(format!("a stream line exceeds {MAX_RESPONSE_BYTES} bytes"))
        };
        let mut done = false;
        'read: while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(&self.shown_endpoint, e))?
        {
            for data in lines.push(&chunk).map_err(too_long)? {
                if acc.apply(&data)? == Progress::Done {
                    done = true;
                    break 'read;
                }
            }
        }
        if !done && let Some(data) = lines.finish() {
            done = acc.apply(&data)? == Progress::Done;
        }
        if !done {
            return Err(LlmError::Connect(format!(
                "the connection to the Anthropic API at {} ended before the answer did (no message_stop event)",
                self.shown_endpoint
            )));
        }
        acc.finish(model)
    }

    fn redacted(&self, error: LlmError) -> LlmError {
        let key = Some(&self.config.api_key);
        match error {
            LlmError::InvalidResponse(m) => LlmError::InvalidResponse(redact(&m, key)),
            LlmError::Server { status, message } => LlmError::Server {
                status,
                message: redact(&message, key),
            },
            LlmError::BadRequest { status, message } => LlmError::BadRequest {
                status,
                message: redact(&message, key),
            },
            other => other,
        }
    }
}

#[async_trait]
impl LlmProvider for AnthropicProvider {
    async fn chat(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        let span = info_span!(
            "llm_chat",
            provider = "anthropic",
            endpoint = %self.shown_endpoint,
            model = %request.model,
            stream = self.config.stream,
            messages = request.messages.len(),
            tools = request.tools.len(),
        );
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(LlmError::Cancelled),
            result = self.run(request).instrument(span) => result,
        }
    }

    fn describe(&self) -> String {
        format!("anthropic {}", self.shown_base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forage_api::Secret;

    fn config(base_url: &str) -> AnthropicConfig {
        AnthropicConfig {
            base_url: base_url.into(),
            ..AnthropicConfig::new(Secret::new("sk-ant-test"))
        }
    }

    #[test]
    fn builds_the_endpoint_and_hides_credentials_and_key() {
        let p = AnthropicProvider::new(AnthropicConfig::new(Secret::new("sk-ant-test"))).unwrap();
        assert_eq!(p.endpoint.as_str(), "https://api.anthropic.com/v1/messages");
        assert_eq!(p.describe(), "anthropic https://api.anthropic.com");
        let p = AnthropicProvider::new(config("http://user:pw@127.0.0.1:9/v1/")).unwrap();
        assert_eq!(p.endpoint.path(), "/v1/messages");
        assert_eq!(p.describe(), "anthropic http://127.0.0.1:9/v1");
        let debug = format!("{p:?}");
        assert!(
            !debug.contains("pw@") && !debug.contains("sk-ant-test"),
            "{debug}"
        );
    }

    #[test]
    fn refuses_bad_configs() {
        for bad in ["not a url", "ftp://x"] {
            assert!(matches!(
                AnthropicProvider::new(config(bad)),
                Err(LlmError::Config(_))
            ));
        }
        let err = AnthropicProvider::new(AnthropicConfig::new(Secret::new(" "))).unwrap_err();
        assert!(err.to_string().contains("FORAGE_LLM_API_KEY"), "{err}");
        let err =
            AnthropicProvider::new(AnthropicConfig::new(Secret::new("bad\nkey"))).unwrap_err();
        assert!(!err.to_string().contains("bad\nkey"));
    }
}
