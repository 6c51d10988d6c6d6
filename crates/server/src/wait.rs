//! Waiting for a run to reach a final status, woken by the run's change signal (no polling).

use std::time::Duration;

use forage_api::{RunId, RunStatus, TaskOutput};
use forage_store::{RunRecord, Store, StoreError};
use tokio::time::Instant;

use crate::signals::{Pulse, RunWatch};

/// A run's record, with its output when it was read with it.
pub type Waited = (RunRecord, Option<TaskOutput>);

/// The run once final, or its latest record when `timeout` passes first. `known` is the run's
/// record read after `watch` was made, so any change since that read wakes the watch: a run
/// that is already final costs no read here. The run is read again only when its signal says
/// it ended (or that notices were missed), not for each event it logs; a completed run read
/// here comes with its output. `Ok(None)` when the run no longer exists.
pub async fn wait_until_final(
    store: &dyn Store,
    mut watch: RunWatch,
    id: &RunId,
    known: RunRecord,
    timeout: Duration,
) -> Result<Option<Waited>, StoreError> {
    let deadline = Instant::now() + timeout;
    let mut latest = (known, None);
    let mut missed = watch.now().missed;
    // Whether the run's status changed since `latest` was read (a change not worth a read then).
    let mut stale = false;
    loop {
        if latest.0.status.is_final() {
            return Ok(Some(latest));
        }
        let Ok(pulse) = tokio::time::timeout_at(deadline, watch.changed()).await else {
            if stale && let Some(read) = store.get_run_with_output(id).await? {
                latest = read;
            }
            return Ok(Some(latest));
        };
        if !worth_reading(&pulse, missed) {
            stale |= pulse.status.is_some_and(|status| status != latest.0.status);
            continue;
        }
        missed = pulse.missed;
        stale = false;
        match store.get_run_with_output(id).await? {
            Some(read) => latest = read,
            None => return Ok(None),
        }
    }
}

/// Whether a pulse calls for reading the run again: its status became final, or notices were
/// missed (anything may have changed). Events the run logs do not.
fn worth_reading(pulse: &Pulse, missed: u64) -> bool {
    pulse.missed != missed || pulse.status.is_some_and(RunStatus::is_final)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulse(status: Option<RunStatus>, events_seq: u64, missed: u64) -> Pulse {
        Pulse {
            status,
            events_seq,
            missed,
        }
    }

    #[test]
    fn a_final_status_is_read() {
        for status in [
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ] {
            assert!(worth_reading(&pulse(Some(status), 7, 0), 0), "{status:?}");
        }
    }

    #[test]
    fn events_and_active_statuses_are_not_read() {
        assert!(!worth_reading(&pulse(None, 7, 0), 0));
        for status in [RunStatus::Queued, RunStatus::Running, RunStatus::Cancelling] {
            assert!(!worth_reading(&pulse(Some(status), 7, 2), 2), "{status:?}");
        }
    }

    #[test]
    fn missed_notices_are_read() {
        assert!(worth_reading(&pulse(Some(RunStatus::Running), 7, 3), 2));
    }
}
