//! Admission control: a per-key request rate, a per-key cap on unfinished runs and a cap on the
//! queue's length. A refusal is a 429 (this key) or 503 (the whole server) with `Retry-After`,
//! so the queue never grows without bound and one key cannot crowd out the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use forage_api::ApiError;
use forage_store::{CapReached, RunCaps};

use crate::auth::Owner;

/// How long a client is told to wait when a run cap is reached (runs take a while to finish).
const RUN_CAP_RETRY_SECS: u64 = 5;
/// Rate-limit state of keys idle this long is dropped.
const IDLE_BUCKET: Duration = Duration::from_secs(10 * 60);

/// The configured bounds; 0 means no bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Requests per key per minute (a bucket of this many, refilled evenly over a minute).
    pub requests_per_minute_per_key: u32,
    /// Queued, running and cancelling runs per key.
    pub max_active_runs_per_key: u64,
    /// Queued runs, all keys together.
    pub max_queued_runs: u64,
}

/// Shared by every handler (inside `AppState`).
pub struct Admission {
    limits: AdmissionLimits,
    /// Per owner: the bucket's tokens and when it was last filled. Locked for arithmetic only.
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    filled_at: Instant,
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Admission {
        Admission {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `owner`'s allowance: 429 with the seconds until the next one
    /// when it is spent.
    pub fn take_request(&self, owner: &Owner) -> Result<(), ApiError> {
        let per_minute = self.limits.requests_per_minute_per_key;
        if per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > 1024 {
            buckets.retain(|_, b| now.duration_since(b.filled_at) < IDLE_BUCKET);
        }
        let bucket = buckets.entry(owner.0.clone()).or_insert(Bucket {
            tokens: capacity,
            filled_at: now,
        });
        let elapsed = now.duration_since(bucket.filled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.filled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64;
        Err(rate_limited(per_minute, wait))
    }

    /// The caps new runs must stay within; the store checks them in the write that creates
    /// the runs, and a refusal comes back as [`refusal`].
    pub fn run_caps(&self) -> RunCaps {
        let bound = |max: u64| (max > 0).then_some(max);
        RunCaps {
            per_owner: bound(self.limits.max_active_runs_per_key),
            queued: bound(self.limits.max_queued_runs),
        }
    }
}

/// What a client is told when creating its runs would go past a cap: 429 past the key's cap,
/// 503 past the queue's.
pub fn refusal(cap: CapReached) -> ApiError {
    let mut err = match cap {
        CapReached::PerOwner { active, max } => ApiError::new(
            429,
            format!(
                "Too many requests: this API key has {active} unfinished runs and may have at most {max} \
                 (limits.max_active_runs_per_key); retry when some have finished"
            ),
        ),
        CapReached::Queue { queued, max } => {
            tracing::warn!(queued, limit = max, "run queue full; refusing new runs");
            ApiError::unavailable(format!(
                "Service unavailable: the run queue is full ({queued} runs waiting, at most {max}: \
                 limits.max_queued_runs); retry shortly"
            ))
        }
    };
    err.retry_after = Some(RUN_CAP_RETRY_SECS);
    err
}

fn rate_limited(per_minute: u32, wait_secs: u64) -> ApiError {
    let mut err = ApiError::new(
        429,
        format!(
            "Too many requests: this API key may make {per_minute} requests a minute \
             (limits.requests_per_minute_per_key); retry in {wait_secs} s"
        ),
    );
    err.retry_after = Some(wait_secs);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(per_minute: u32) -> Admission {
        Admission::new(AdmissionLimits {
            requests_per_minute_per_key: per_minute,
            ..AdmissionLimits::default()
        })
    }

    #[test]
    fn a_key_gets_its_burst_then_a_429_with_retry_after() {
        let admission = admission(3);
        let a = Owner("a".into());
        for _ in 0..3 {
            admission.take_request(&a).unwrap();
        }
        let err = admission.take_request(&a).unwrap_err();
        assert_eq!(err.status, 429);
        // One request every 20 s refills the bucket.
        assert!(
            matches!(err.retry_after, Some(1..=20)),
            "{:?}",
            err.retry_after
        );
        assert!(
            err.message.contains("requests_per_minute_per_key"),
            "{}",
            err.message
        );
    }

    #[test]
    fn keys_have_separate_allowances() {
        let admission = admission(1);
        admission.take_request(&Owner("a".into())).unwrap();
        assert!(admission.take_request(&Owner("a".into())).is_err());
        admission.take_request(&Owner("b".into())).unwrap();
    }

    #[test]
    fn zero_means_unlimited() {
        let admission = admission(0);
        for _ in 0..10_000 {
            admission.take_request(&Owner("a".into())).unwrap();
        }
    }

    #[test]
    fn the_bucket_refills_with_time() {
        let admission = admission(600); // ten a second
        let a = Owner("a".into());
        for _ in 0..600 {
            admission.take_request(&a).unwrap();
        }
        assert!(admission.take_request(&a).is_err());
        std::thread::sleep(Duration::from_millis(250));
        admission.take_request(&a).unwrap();
    }
}
