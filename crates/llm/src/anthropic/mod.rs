//! Anthropic Messages API (`POST {base_url}/v1/messages`), streaming or not.

mod client;
mod config;
mod errors;
mod response;
mod stream;
mod wire;

pub use client::AnthropicProvider;
pub use config::AnthropicConfig;

/// The API version every request names in `anthropic-version`.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Where Anthropic's API is.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// `max_tokens` when the request sets no `max_output_tokens` (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Most bytes of answer (text plus tool inputs, or a whole non-streamed body) accepted.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
