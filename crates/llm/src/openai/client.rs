//! `OpenAiProvider`: sends chat requests to an OpenAI-compatible server, with per-attempt
//! timeouts, retries with backoff, cancellation, and bounded response reading.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Response, Url};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use super::http_error::status_error;
use super::stream::StreamAccumulator;
use super::{MAX_RESPONSE_BYTES, OpenAiConfig, completion, wire};
use crate::transport::backoff;
use crate::transport::http::{
    MAX_ERROR_BODY, read_capped, redact, retry_after, shown, strip_credentials_text,
    transport_error,
};
use crate::transport::sse::SseLines;
use crate::{ChatRequest, ChatResponse, LlmError, LlmProvider};

/// A client of one OpenAI-compatible chat-completions server.
#[derive(Clone)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    client: reqwest::Client,
    endpoint: Url,
    /// The endpoint without any user info, for messages and logs.
    shown_endpoint: String,
    shown_base: String,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("endpoint", &self.shown_endpoint)
            .field("api_key", &self.config.api_key)
            .field("stream", &self.config.stream)
            .field("request_timeout", &self.config.request_timeout)
            .field("max_retries", &self.config.max_retries)
            .finish_non_exhaustive()
    }
}

/// A failed attempt, with the server's `Retry-After` when it sent one.
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

impl OpenAiProvider {
    /// A provider with its own HTTP client (connect timeout from `config`).
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Self::with_client(config, client)
    }

    /// A provider that sends through `client` (its own timeouts apply in addition).
    pub fn with_client(config: OpenAiConfig, client: reqwest::Client) -> Result<Self, LlmError> {
        let base = config.base_url.trim().trim_end_matches('/');
        let endpoint = Url::parse(&format!("{base}/chat/completions")).map_err(|e| {
            LlmError::Config(format!(
                "the LLM base URL {:?} is not a URL ({e}); set FORAGE_LLM_BASE_URL to e.g. http://127.0.0.1:8000/v1",
                strip_credentials_text(base)
            ))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(LlmError::Config(format!(
                "the LLM base URL must be http or https, not {}",
                endpoint.scheme()
            )));
        }
        let shown_endpoint = shown(&endpoint);
        let shown_base = shown_endpoint
            .trim_end_matches("/chat/completions")
            .to_owned();
        Ok(Self {
            config,
            client,
            endpoint,
            shown_endpoint,
            shown_base,
        })
    }

    pub fn config(&self) -> &OpenAiConfig {
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
            if !failure.error.is_retryable() || retry >= self.config.max_retries {
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
        let mut builder = self.client.post(self.endpoint.clone()).json(body);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key.expose());
        }
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
                    self.config.api_key.as_ref(),
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
            completion::parse(&body, model)
        };
        result.map_err(|e| self.redacted(e).into())
    }

    /// Reads and folds a server-sent-event stream up to `data: [DONE]` or its end.
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
        'read: while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(&self.shown_endpoint, e))?
        {
            for data in lines.push(&chunk).map_err(too_long)? {
                if data.trim() == "[DONE]" {
                    break 'read;
                }
                acc.apply(&data)?;
            }
        }
        if let Some(data) = lines.finish()
            && data.trim() != "[DONE]"
        {
            acc.apply(&data)?;
        }
        acc.finish(model)
    }

    fn redacted(&self, error: LlmError) -> LlmError {
        match error {
            LlmError::InvalidResponse(m) => {
                LlmError::InvalidResponse(redact(&m, self.config.api_key.as_ref()))
            }
            other => other,
        }
    }
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    async fn chat(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        let span = info_span!(
            "llm_chat",
            provider = "openai",
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
        format!("openai-compatible {}", self.shown_base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_endpoint_and_hides_credentials() {
        let p =
            OpenAiProvider::new(OpenAiConfig::new("http://user:pw@127.0.0.1:8000/v1/")).unwrap();
        assert_eq!(p.endpoint.path(), "/v1/chat/completions");
        assert_eq!(p.describe(), "openai-compatible http://127.0.0.1:8000/v1");
        assert!(!format!("{p:?}").contains("pw@"));
    }

    #[test]
    fn refuses_bad_base_urls() {
        assert!(matches!(
            OpenAiProvider::new(OpenAiConfig::new("not a url")),
            Err(LlmError::Config(_))
        ));
        assert!(matches!(
            OpenAiProvider::new(OpenAiConfig::new("ftp://x/v1")),
            Err(LlmError::Config(_))
        ));
    }
}
