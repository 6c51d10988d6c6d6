//! `OpenAiConfig`: where the OpenAI-compatible server is and how patiently to talk to it.

use std::time::Duration;

use forage_api::Secret;

use crate::transport::settings::{config_debug, config_retries};

/// Settings of an [`OpenAiProvider`](super::OpenAiProvider).
#[derive(Clone)]
pub struct OpenAiConfig {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1` (a trailing `/` is fine).
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<Secret>,
    /// Bound on one attempt, from sending the request to the last byte of the answer.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for 429, 5xx and connection failures.
    pub max_retries: u32,
    /// First retry delay; doubles each retry (with jitter), unless the server says `Retry-After`.
    pub initial_backoff: Duration,
    /// Ask for a server-sent-event stream (`stream: true`).
    pub stream: bool,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".to_owned(),
            api_key: None,
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            stream: true,
        }
    }
}

config_debug!(OpenAiConfig);
config_retries!(OpenAiConfig);

impl OpenAiConfig {
    /// Defaults for the server at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            ..Self::default()
        }
    }
}
