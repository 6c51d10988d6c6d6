//! The webhook dispatcher: leases due deliveries from the store, POSTs each signed
//! `task_run.status` payload through the network guard, and records the attempt: delivered on
//! 2xx, else retried with doubling waits (capped) until the delivery's maximum age.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use forage_api::run::format_timestamp;
use forage_store::{Delivery, DeliveryResult, Notice, Store};
use forage_tools::{GuardError, NetworkPolicy};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::signing::{SigningKeys, signature_header};

/// Deliveries leased at once.
const BATCH: usize = 32;
/// Deliveries attempted at the same time.
const CONCURRENCY: usize = 16;
/// How often due retries are looked for when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_secs(1);

/// When to try again.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt; doubles after each further one.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Give up once the run ended this long ago.
    pub max_age: Duration,
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts (1 → `initial`).
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// Delivers the store's webhook queue.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    keys: Arc<SigningKeys>,
    network: NetworkPolicy,
    http: reqwest::Client,
    policy: RetryPolicy,
    /// A leased delivery is handed out again after this (the attempt's time limit and more).
    lease: Duration,
}

/// Why an attempt failed, and whether trying again could help.
struct Failure {
    reason: String,
    permanent: bool,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<SigningKeys>,
        network: NetworkPolicy,
        policy: RetryPolicy,
        timeout: Duration,
    ) -> Result<Dispatcher, reqwest::Error> {
        let http = network
            .apply(reqwest::Client::builder())
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("forage-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Dispatcher {
            store,
            keys,
            network,
            http,
            policy,
            lease: timeout + Duration::from_secs(30),
        })
    }

    /// Runs until `stop`; deliveries in flight then are retried after their lease.
    pub fn spawn(self, stop: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            let this = Arc::new(self);
            let mut notices = this.store.notices();
            loop {
                let leased = tokio::select! {
                    _ = stop.cancelled() => return,
                    leased = this.store.lease_deliveries(this.lease, BATCH) => leased,
                };
                let batch = match leased {
                    Ok(batch) => batch,
                    Err(err) => {
                        tracing::error!(error = %err, "could not lease webhook deliveries");
                        Vec::new()
                    }
                };
                let full = batch.len() == BATCH;
                if !batch.is_empty() {
                    let work = futures::stream::iter(batch)
                        .map(|d| {
                            let this = this.clone();
                            async move { this.attempt(d).await }
                        })
                        .buffer_unordered(CONCURRENCY)
                        .collect::<Vec<()>>();
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = work => {}
                    }
                }
                if full {
                    continue;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(POLL) => {}
                    _ = queued(&mut notices) => {}
                }
            }
        })
    }

    async fn attempt(&self, delivery: Delivery) {
        let result = match self.post(&delivery).await {
            Ok(()) => {
                tracing::info!(delivery = %delivery.id, run_id = %delivery.run_id, attempts = delivery.attempts, "webhook delivered");
                DeliveryResult::Delivered
            }
            Err(failure) => self.after_failure(&delivery, failure),
        };
        if let Err(err) = self.store.record_delivery(&delivery.id, result).await {
            tracing::error!(delivery = %delivery.id, error = %err, "could not record a webhook attempt; it will be retried");
        }
    }

    fn after_failure(&self, delivery: &Delivery, failure: Failure) -> DeliveryResult {
        let now = Utc::now();
        let delay = self.policy.delay(delivery.attempts);
        let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::TimeDelta::MAX);
        let deadline = delivery.created_at
            + chrono::Duration::from_std(self.policy.max_age).unwrap_or(chrono::TimeDelta::MAX);
        if failure.permanent || next > deadline {
            tracing::warn!(delivery = %delivery.id, run_id = %delivery.run_id, attempts = delivery.attempts, reason = %failure.reason, "webhook delivery given up");
            DeliveryResult::GaveUp {
                error: failure.reason,
            }
        } else {
            tracing::info!(delivery = %delivery.id, run_id = %delivery.run_id, attempts = delivery.attempts, reason = %failure.reason, retry_in_secs = delay.as_secs(), "webhook delivery failed; will retry");
            DeliveryResult::RetryAt {
                at: next,
                error: failure.reason,
            }
        }
    }

    async fn post(&self, delivery: &Delivery) -> Result<(), Failure> {
        let permanent = |reason: String| Failure {
            reason,
            permanent: true,
        };
        let url = reqwest::Url::parse(&delivery.url)
            .map_err(|e| permanent(format!("the webhook URL is invalid: {e}")))?;
        self.network
            .check_url(&url)
            .map_err(|e| permanent(format!("the webhook URL is refused: {e}")))?;
        let run = match self.store.get_run(&delivery.run_id).await {
            Ok(Some(run)) => run,
            Ok(None) => return Err(permanent("the run no longer exists".into())),
            Err(err) => {
                return Err(Failure {
                    reason: format!("could not read the run: {err}"),
                    permanent: false,
                });
            }
        };
        let body = serde_json::to_vec(&json!({
            "timestamp": format_timestamp(&delivery.created_at),
            "type": "task_run.status",
            "data": run.to_task_run(),
        }))
        .map_err(|e| permanent(format!("could not encode the payload: {e}")))?;
        let timestamp = Utc::now().timestamp();
        let secret = self.keys.secret_for(&delivery.owner);
        let signature = signature_header(&secret, &delivery.id, timestamp, &body);
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| match guard_error(&e) {
                Some(guard) => permanent(format!("the webhook URL is refused: {guard}")),
                None => Failure {
                    reason: format!("the request failed: {}", error_chain(e)),
                    permanent: false,
                },
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure {
                reason: format!("the receiver answered {status}"),
                permanent: false,
            })
        }
    }
}

/// The guard's refusal inside a request error, if that is why it failed.
fn guard_error(err: &reqwest::Error) -> Option<GuardError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(guard) = e.downcast_ref::<GuardError>() {
            return Some(guard.clone());
        }
        source = e.source();
    }
    None
}

fn error_chain(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Returns when a delivery may have been enqueued.
async fn queued(notices: &mut tokio::sync::broadcast::Receiver<Notice>) {
    loop {
        match notices.recv().await {
            Ok(Notice::DeliveryQueued) | Err(RecvError::Lagged(_)) => return,
            Ok(_) => {}
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_initial_wait_and_is_capped() {
        let policy = RetryPolicy {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
        };
        let waits: Vec<u64> = (1..=6).map(|a| policy.delay(a).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(policy.delay(1000).as_secs(), 60);
    }
}
