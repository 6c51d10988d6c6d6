//! `AnthropicProvider`: sends chat requests to Anthropic's Messages API, with per-attempt
//! timeouts, retries with backoff (429, 529, 5xx, `retry-after` honoured), cancellation, and
//! bounded response reading.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Response;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::errors::{is_retryable, status_error};
use super::stream::{Progress, StreamAccumulator};
use super::{ANTHROPIC_VERSION, AnthropicConfig, MAX_RESPONSE_BYTES, response, wire};
use crate::transport::clients::Clients;
use crate::transport::http::{Body, Endpoint, json_body, read_body_or_stream, redact_error, send};
use crate::transport::retry::{Failure, chat_span, unless_cancelled, with_retries};
use crate::transport::settings::provider_debug;
use crate::transport::sse::read_events;
use crate::{ChatRequest, ChatResponse, LlmError, LlmProvider};

/// A client of the Anthropic Messages API.
#[derive(Clone)]
pub struct AnthropicProvider {
    config: AnthropicConfig,
    clients: Arc<Clients>,
    endpoint: Endpoint,
    key_header: HeaderValue,
}

provider_debug!(AnthropicProvider);

impl AnthropicProvider {
    /// A provider with its own HTTP clients, one more for every 100 calls in flight (connect
    /// timeout from `config`).
    pub fn new(config: AnthropicConfig) -> Result<Self, LlmError> {
        let clients = Clients::growing(config.connect_timeout)?;
        Self::with_clients(config, clients)
    }

    /// A provider that sends through `client` alone (its own timeouts apply in addition).
    pub fn with_client(config: AnthropicConfig, client: reqwest::Client) -> Result<Self, LlmError> {
        Self::with_clients(config, Clients::single(client))
    }

    fn with_clients(config: AnthropicConfig, clients: Clients) -> Result<Self, LlmError> {
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
        let endpoint = Endpoint::new(
            base,
            path,
            "the Anthropic base URL",
            "e.g. https://api.anthropic.com, or leave it unset",
        )?;
        Ok(Self {
            config,
            clients: Arc::new(clients),
            endpoint,
            key_header,
        })
    }

    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }

    /// All attempts of one request.
    async fn run(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        // Only the encoded body is kept while the model answers (each attempt shares it).
        let body = json_body(&wire::request_body(request, self.config.stream));
        let attempt = || self.attempt(&body, &request.model);
        with_retries(&self.config.retries(), is_retryable, attempt).await
    }

    /// One HTTP exchange.
    async fn attempt(&self, body: &Bytes, model: &str) -> Result<ChatResponse, Failure> {
        // Counted against its client until the answer is read.
        let lease = self.clients.lease();
        let builder = lease
            .client()
            .post(self.endpoint.url.clone())
            .header("x-api-key", self.key_header.clone())
            .header("anthropic-version", ANTHROPIC_VERSION)
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        let (endpoint, key) = (self.endpoint.shown.as_str(), &self.config.api_key);
        let on_status = |status, wait, body: &[u8]| status_error(endpoint, status, wait, body, key);
        let response = send(builder, self.config.stream, endpoint, on_status).await?;
        let body = read_body_or_stream(response, self.config.stream, MAX_RESPONSE_BYTES, endpoint);
        let result = match body.await? {
            Body::Stream(response) => self.read_stream(response, model).await,
            Body::Whole(body) => response::parse(&body, model),
        };
        result.map_err(|e| redact_error(e, Some(key)).into())
    }

    /// Reads and folds the event stream up to `message_stop`.
    async fn read_stream(
        &self,
        mut response: Response,
        model: &str,
    ) -> Result<ChatResponse, LlmError> {
        let mut acc = StreamAccumulator::new(MAX_RESPONSE_BYTES);
        let done = read_events(
            &mut response,
            MAX_RESPONSE_BYTES,
            &self.endpoint.shown,
            |data| Ok(acc.apply(data)? == Progress::Done),
        )
        .await?;
        if !done {
            return Err(LlmError::Connect(format!(
                "the connection to the Anthropic API at {} ended before the answer did (no message_stop event)",
                self.endpoint.shown
            )));
        }
        acc.finish(model)
    }
}

#[async_trait]
impl LlmProvider for AnthropicProvider {
    async fn chat(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        let span = chat_span(
            "anthropic",
            &self.endpoint.shown,
            request,
            self.config.stream,
        );
        unless_cancelled(cancel, self.run(request).instrument(span)).await
    }

    fn describe(&self) -> String {
        format!("anthropic {}", self.endpoint.shown_base)
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
        assert_eq!(
            p.endpoint.url.as_str(),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(p.describe(), "anthropic https://api.anthropic.com");
        let p = AnthropicProvider::new(config("http://user:pw@127.0.0.1:9/v1/")).unwrap();
        assert_eq!(p.endpoint.url.path(), "/v1/messages");
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
