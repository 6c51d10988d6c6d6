//! `LlmError`: what can go wrong talking to a model, worded so a person can act on it.

use std::time::Duration;

use thiserror::Error;

/// A failed chat request. Messages name the server and the likely fix, never a secret.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum LlmError {
    #[error(
        "the LLM server did not finish answering within the request timeout; it may be overloaded, or the timeout too short for this model"
    )]
    Timeout,
    #[error("the LLM server kept rate-limiting requests (429 Too Many Requests){}", fmt_retry_after(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// The server failed (5xx, or a failure reported inside a stream). Retried.
    #[error("{message}")]
    Server { status: u16, message: String },
    /// The server refused the request (4xx other than 429). Not retried.
    #[error("{message}")]
    BadRequest { status: u16, message: String },
    /// The server could not be reached or the connection broke.
    #[error("{0}")]
    Connect(String),
    /// The server answered with something that is not a usable chat completion.
    #[error("the LLM server sent an unusable response: {0}")]
    InvalidResponse(String),
    #[error("the LLM request was cancelled")]
    Cancelled,
    /// The provider's configuration cannot work (bad base URL, ...).
    #[error("invalid LLM configuration: {0}")]
    Config(String),
}

fn fmt_retry_after(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!("; it asked to retry after {} s", d.as_secs()),
        None => String::new(),
    }
}

impl LlmError {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::RateLimited { .. } | LlmError::Connect(_) => true,
            // 529: "overloaded", which proxies in front of Anthropic pass on.
            LlmError::Server { status, .. } => matches!(status, 500 | 502 | 503 | 504 | 529),
            _ => false,
        }
    }

    /// The HTTP status the server answered with, when the error came from one.
    pub fn status(&self) -> Option<u16> {
        match self {
            LlmError::RateLimited { .. } => Some(429),
            LlmError::Server { status, .. } | LlmError::BadRequest { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_errors_are_the_transient_ones() {
        assert!(LlmError::RateLimited { retry_after: None }.is_retryable());
        assert!(LlmError::Connect("x".into()).is_retryable());
        assert!(
            LlmError::Server {
                status: 503,
                message: "x".into()
            }
            .is_retryable()
        );
        assert!(
            LlmError::Server {
                status: 529,
                message: "overloaded".into()
            }
            .is_retryable()
        );
        assert!(
            !LlmError::Server {
                status: 501,
                message: "not implemented".into()
            }
            .is_retryable()
        );
        assert!(
            !LlmError::BadRequest {
                status: 400,
                message: "x".into()
            }
            .is_retryable()
        );
        assert!(!LlmError::Timeout.is_retryable());
        assert!(!LlmError::Cancelled.is_retryable());
    }

    #[test]
    fn rate_limit_message_mentions_the_wait() {
        let e = LlmError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        };
        assert!(e.to_string().contains("7 s"));
    }
}
