//! HTTP plumbing shared by the remote providers (OpenAI-compatible, Anthropic): their clients,
//! retry backoff and the attempts loop, server-sent-event lines, sending and reading,
//! transport-error wording and redaction, `Debug` without keys, and response assembly.

pub(crate) mod backoff;
pub(crate) mod clients;
pub(crate) mod http;
pub(crate) mod reply;
pub(crate) mod retry;
pub(crate) mod settings;
pub(crate) mod sse;
