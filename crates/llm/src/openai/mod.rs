//! OpenAI-compatible chat completions (`POST {base_url}/chat/completions`), streaming or not.

mod client;
mod completion;
mod config;
mod decode;
mod http_error;
mod stream;
mod wire;

pub use client::OpenAiProvider;
pub use config::OpenAiConfig;
pub use wire::MessageForm;

/// Most bytes of answer (text plus tool-call arguments, or a whole non-streamed body) accepted.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
