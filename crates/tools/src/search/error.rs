//! Why a search failed, worded for the operator: what happened and what to do about it.
//! No variant ever holds the API key (provider texts quoted in errors are redacted first).

use std::time::Duration;

/// Why a search failed, or why a provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The configuration cannot work; the text names the setting to fix.
    #[error("{0}")]
    Config(String),
    /// The request cannot be sent as it is (an empty query).
    #[error("{0}")]
    InvalidRequest(String),
    /// 401/403 (or the provider's own invalid-key answer).
    #[error("the search provider ({provider}) refused the API key (check FORAGE_SEARCH_API_KEY)")]
    Unauthorized { provider: &'static str },
    /// 429.
    #[error("the search provider ({provider}) is rate limiting forage (HTTP 429){}; search less often or raise the plan's limits", retry_hint(.retry_after))]
    RateLimited {
        provider: &'static str,
        retry_after: Option<Duration>,
    },
    /// Any other non-success status; `message` is the provider's own explanation where it gave
    /// one, and what to do.
    #[error("the search provider ({provider}) answered HTTP {status}: {message}")]
    Status {
        provider: &'static str,
        status: u16,
        message: String,
    },
    /// No complete answer within the configured timeout.
    #[error(
        "the search provider ({provider}) did not answer within the web search timeout; try again later or raise the timeout"
    )]
    Timeout { provider: &'static str },
    /// The provider could not be reached (DNS, refused connection, TLS).
    #[error(
        "cannot reach the search provider ({provider}): {reason}; check FORAGE_SEARCH_BASE_URL and the network"
    )]
    Connect {
        provider: &'static str,
        reason: String,
    },
    /// An answer that is not the provider's documented JSON (not JSON, cut short, too large).
    #[error("the search provider ({provider}) sent an answer forage cannot read: {reason}")]
    BadResponse {
        provider: &'static str,
        reason: String,
    },
}

impl SearchError {
    /// The provider's name, for errors that come from a provider.
    pub fn provider(&self) -> Option<&'static str> {
        match self {
            Self::Config(_) | Self::InvalidRequest(_) => None,
            Self::Unauthorized { provider }
            | Self::RateLimited { provider, .. }
            | Self::Status { provider, .. }
            | Self::Timeout { provider }
            | Self::Connect { provider, .. }
            | Self::BadResponse { provider, .. } => Some(provider),
        }
    }
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("; retry after {}s", wait.as_secs()),
        None => String::new(),
    }
}
