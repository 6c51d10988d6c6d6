//! Delay before a retry: exponential backoff with jitter, or the server's `Retry-After`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

/// Longest computed backoff.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest `Retry-After` honoured; longer asks are shortened to this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Delay before retry number `retry` (0 = the first retry).
pub(crate) fn delay(initial: Duration, retry: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(MAX_RETRY_AFTER);
    }
    let base = initial
        .checked_mul(2u32.saturating_pow(retry.min(20)))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF);
    // "Equal jitter": half fixed, half random, so concurrent clients spread out.
    let half = base / 2;
    half + half.mul_f64(unit_random())
}

/// A number in [0, 1), good enough for jitter (not for anything secret).
fn unit_random() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_cap() {
        let initial = Duration::from_millis(100);
        for retry in 0..4 {
            let d = delay(initial, retry, None);
            let base = initial * 2u32.pow(retry);
            assert!(d >= base / 2 && d <= base, "retry {retry}: {d:?}");
        }
        assert!(delay(initial, 40, None) <= MAX_BACKOFF);
    }

    #[test]
    fn honours_retry_after_with_a_cap() {
        let initial = Duration::from_millis(100);
        assert_eq!(delay(initial, 0, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(
            delay(initial, 0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            delay(initial, 0, Some(Duration::from_secs(3600))),
            MAX_RETRY_AFTER
        );
    }
}
