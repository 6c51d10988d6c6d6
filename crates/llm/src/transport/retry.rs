//! One chat call's life, the same for every remote provider: its tracing span, cancellation,
//! a timeout on each attempt, and retries with backoff for the failures worth retrying.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, debug, info_span, warn};

use super::backoff;
use crate::{ChatRequest, ChatResponse, LlmError};

/// A failed attempt, with the server's `Retry-After` when it sent one.
pub(crate) struct Failure {
    pub(crate) error: LlmError,
    pub(crate) retry_after: Option<Duration>,
}

impl From<LlmError> for Failure {
    fn from(error: LlmError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

/// How patiently to try: a bound on each attempt, retries after the first, first backoff.
pub(crate) struct Retries {
    pub(crate) request_timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
}

/// The span of one chat call to `provider` at `endpoint` (shown without credentials).
pub(crate) fn chat_span(
    provider: &'static str,
    endpoint: &str,
    request: &ChatRequest,
    stream: bool,
) -> Span {
    info_span!(
        "llm_chat",
        provider,
        endpoint = %endpoint,
        model = %request.model,
        stream,
        messages = request.messages.len(),
        tools = request.tools.len(),
    )
}

/// The outcome of `work`, or `Cancelled` as soon as `cancel` fires.
pub(crate) async fn unless_cancelled(
    cancel: &CancellationToken,
    work: impl Future<Output = Result<ChatResponse, LlmError>>,
) -> Result<ChatResponse, LlmError> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(LlmError::Cancelled),
        result = work => result,
    }
}

/// Runs `attempt` until it succeeds, fails in a way `is_retryable` refuses, or the retries are
/// spent; an attempt that outlasts `request_timeout` ends everything with `Timeout`.
pub(crate) async fn with_retries<F, Fut>(
    retries: &Retries,
    is_retryable: fn(&LlmError) -> bool,
    mut attempt: F,
) -> Result<ChatResponse, LlmError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<ChatResponse, Failure>>,
{
    let mut retry = 0;
    loop {
        let span = info_span!("llm_attempt", attempt = retry + 1);
        let outcome = tokio::time::timeout(retries.request_timeout, attempt())
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
                warn!(timeout = ?retries.request_timeout, "LLM request timed out");
                return Err(LlmError::Timeout);
            }
        };
        if !is_retryable(&failure.error) || retry >= retries.max_retries {
            return Err(failure.error);
        }
        let wait = backoff::delay(retries.initial_backoff, retry, failure.retry_after);
        warn!(error = %failure.error, wait_ms = wait.as_millis() as u64, "retrying LLM request");
        tokio::time::sleep(wait).await;
        retry += 1;
    }
}
