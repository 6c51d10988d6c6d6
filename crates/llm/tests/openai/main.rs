//! Integration tests of `OpenAiProvider` against the scripted fake LLM server (loopback only).
//! One module per behaviour.

mod auth_header;
mod cancellation;
mod common;
mod no_retry_on_400;
mod non_streaming;
mod response_format;
mod retry_then_success;
mod streaming_text;
mod streaming_tool_calls;
mod timeout_on_stall;
mod untrusted_certificate;
