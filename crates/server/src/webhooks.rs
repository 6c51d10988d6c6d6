//! Webhooks: the per-key signing secret, Standard Webhooks signatures, and the dispatcher that
//! delivers the durable queue of `task_run.status` announcements with exponential backoff.

mod dispatch;
mod signing;

pub use dispatch::{Dispatcher, RetryPolicy};
pub use signing::{SigningKeys, sign, signature_header};
