//! `LocalError`: what can fail in the embedded model, and how it maps onto [`LlmError`].

use thiserror::Error;

use crate::LlmError;

/// A failure of the embedded model.
#[derive(Debug, Error)]
pub(crate) enum LocalError {
    #[error("could not initialise llama.cpp: {0}")]
    Backend(String),
    #[error(
        "could not load the local model {path}: {reason} (fetch the default model with scripts/fetch-model.sh)"
    )]
    Load { path: String, reason: String },
    #[error("the local model's tokenizer could not be prepared for constrained decoding: {0}")]
    Tokenizer(String),
    #[error(
        "the prompt needs {prompt} tokens but the local model's context holds {context}; shorten the conversation or raise context_tokens"
    )]
    PromptTooLong { prompt: usize, context: u32 },
    #[error("local model failed while generating: {0}")]
    Generation(String),
    #[error("the local generation was cancelled")]
    Cancelled,
}

impl From<LocalError> for LlmError {
    fn from(e: LocalError) -> LlmError {
        match e {
            LocalError::Backend(_) | LocalError::Load { .. } | LocalError::Tokenizer(_) => {
                LlmError::Config(e.to_string())
            }
            LocalError::PromptTooLong { .. } => LlmError::BadRequest {
                status: 400,
                message: e.to_string(),
            },
            LocalError::Generation(_) => LlmError::InvalidResponse(e.to_string()),
            LocalError::Cancelled => LlmError::Cancelled,
        }
    }
}
