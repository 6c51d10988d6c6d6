//! `OpenAiProvider`: sends chat requests to an OpenAI-compatible server, with per-attempt
//! timeouts, retries with backoff, cancellation, and bounded response reading.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Response;
use reqwest::header::CONTENT_TYPE;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::http_error::status_error;
use super::stream::StreamAccumulator;
use super::{MAX_RESPONSE_BYTES, OpenAiConfig, completion, wire};
use crate::transport::clients::Clients;
use crate::transport::http::{Body, Endpoint, json_body, read_body_or_stream, redact_error, send};
use crate::transport::retry::{Failure, chat_span, unless_cancelled, with_retries};
use crate::transport::settings::provider_debug;
use crate::transport::sse::read_events;
use crate::{ChatRequest, ChatResponse, LlmError, LlmProvider};

/// A client of one OpenAI-compatible chat-completions server.
#[derive(Clone)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    clients: Arc<Clients>,
    endpoint: Endpoint,
}

provider_debug!(OpenAiProvider);

impl OpenAiProvider {
    /// A provider with its own HTTP clients, one more for every 100 calls in flight (connect
    /// timeout from `config`).
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let clients = Clients::growing(config.connect_timeout)?;
        Self::with_clients(config, clients)
    }

    /// A provider that sends through `client` alone (its own timeouts apply in addition).
    pub fn with_client(config: OpenAiConfig, client: reqwest::Client) -> Result<Self, LlmError> {
        Self::with_clients(config, Clients::single(client))
    }

    fn with_clients(config: OpenAiConfig, clients: Clients) -> Result<Self, LlmError> {
        let endpoint = Endpoint::new(
            config.base_url.trim().trim_end_matches('/'),
            "/chat/completions",
            "the LLM base URL",
            "e.g. http://127.0.0.1:8000/v1",
        )?;
        Ok(Self {
            config,
            clients: Arc::new(clients),
            endpoint,
        })
    }

    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// All attempts of one request.
    async fn run(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        // Only the encoded body is kept while the model answers (each attempt shares it).
        let body = json_body(&wire::request_body(request, self.config.stream));
        let attempt = || self.attempt(&body, &request.model);
        with_retries(&self.config.retries(), LlmError::is_retryable, attempt).await
    }

    /// One HTTP exchange.
    async fn attempt(&self, body: &Bytes, model: &str) -> Result<ChatResponse, Failure> {
        // Counted against its client until the answer is read.
        let lease = self.clients.lease();
        let mut builder = lease
            .client()
            .post(self.endpoint.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key.expose());
        }
        let (endpoint, key) = (self.endpoint.shown.as_str(), self.config.api_key.as_ref());
        let on_status = |status, wait, body: &[u8]| status_error(endpoint, status, wait, body, key);
        let response = send(builder, self.config.stream, endpoint, on_status).await?;
        let body = read_body_or_stream(response, self.config.stream, MAX_RESPONSE_BYTES, endpoint);
        let result = match body.await? {
            Body::Stream(response) => self.read_stream(response, model).await,
            Body::Whole(body) => completion::parse(&body, model),
        };
        result.map_err(|e| redact_error(e, key).into())
    }

    /// Reads and folds a server-sent-event stream up to `data: [DONE]` or its end.
    async fn read_stream(
        &self,
        mut response: Response,
        model: &str,
    ) -> Result<ChatResponse, LlmError> {
        let mut acc = StreamAccumulator::new(MAX_RESPONSE_BYTES);
        read_events(
            &mut response,
            MAX_RESPONSE_BYTES,
            &self.endpoint.shown,
            |data| {
                let done = data.trim() == "[DONE]";
                if !done {
                    acc.apply(data)?;
                }
                Ok(done)
            },
        )
        .await?;
        acc.finish(model)
    }
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    async fn chat(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        let span = chat_span("openai", &self.endpoint.shown, request, self.config.stream);
        unless_cancelled(cancel, self.run(request).instrument(span)).await
    }

    fn describe(&self) -> String {
        format!("openai-compatible {}", self.endpoint.shown_base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_endpoint_and_hides_credentials() {
        let p =
            OpenAiProvider::new(OpenAiConfig::new("http://user:pw@127.0.0.1:8000/v1/")).unwrap();
        assert_eq!(p.endpoint.url.path(), "/v1/chat/completions");
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
