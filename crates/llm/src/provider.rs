//! The `LlmProvider` trait every model backend implements.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::{ChatRequest, ChatResponse, LlmError};

/// A chat model behind some API. Implementations retry transient failures themselves and
/// return promptly with [`LlmError::Cancelled`] once `cancel` fires.
#[async_trait]
pub trait LlmProvider: Send + Sync + 'static {
    async fn chat(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError>;

    /// A one-line description for logs and status pages (never contains secrets).
    fn describe(&self) -> String;
}

#[async_trait]
impl<T: LlmProvider + ?Sized> LlmProvider for Arc<T> {
    async fn chat(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        (**self).chat(request, cancel).await
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}
