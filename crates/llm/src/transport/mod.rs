//! HTTP plumbing shared by the remote providers (OpenAI-compatible, Anthropic): retry backoff,
//! server-sent-event lines, transport-error wording and redaction, and response assembly.

pub(crate) mod backoff;
pub(crate) mod http;
pub(crate) mod reply;
pub(crate) mod sse;
