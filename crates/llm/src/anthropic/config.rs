//! `AnthropicConfig`: the key, where the Messages API is, and how patiently to talk to it.

use std::time::Duration;

use forage_api::Secret;

use super::DEFAULT_BASE_URL;
use crate::transport::settings::{config_debug, config_retries};

/// Settings of an [`AnthropicProvider`](super::AnthropicProvider).
#[derive(Clone)]
pub struct AnthropicConfig {
    /// `https://api.anthropic.com` by default; `/v1/messages` is appended (a base already
    /// ending in `/v1` gets only `/messages`).
    pub base_url: String,
    /// Sent as `x-api-key`.
    pub api_key: Secret,
    /// Bound on one attempt, from sending the request to the last byte of the answer.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for 429, 529 (overloaded), 5xx and connection failures.
    pub max_retries: u32,
    /// First retry delay; doubles each retry (with jitter), unless the server says `Retry-After`.
    pub initial_backoff: Duration,
    /// Ask for a server-sent-event stream (`stream: true`).
    pub stream: bool,
}

impl AnthropicConfig {
    /// Defaults for Anthropic's own API with `api_key`.
    pub fn new(api_key: Secret) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key,
            request_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            stream: true,
        }
    }
}

config_debug!(AnthropicConfig);
config_retries!(AnthropicConfig);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let config = AnthropicConfig::new(Secret::new("sk-ant-secret"));
        let text = format!("{config:?}");
        assert!(!text.contains("sk-ant-secret"), "{text}");
        assert!(text.contains("api.anthropic.com"));
    }
}
