//! Waiting for a run to reach a final status, woken by the run's change signal (no polling).

use std::time::Duration;

use forage_api::RunId;
use forage_store::{RunRecord, Store, StoreError};
use tokio::time::Instant;

use crate::signals::RunSignals;

/// The run once final, or its latest record when `timeout` passes first. `known` is the run's
/// record as just read by the caller, if it has one (saves reading it again).
/// `Ok(None)` when the run does not exist.
pub async fn wait_until_final(
    store: &dyn Store,
    signals: &RunSignals,
    id: &RunId,
    known: Option<RunRecord>,
    timeout: Duration,
) -> Result<Option<RunRecord>, StoreError> {
    if let Some(record) = &known
        && record.status.is_final()
    {
        return Ok(known);
    }
    let deadline = Instant::now() + timeout;
    // Watch before reading: a change after the read wakes the watch.
    let mut watch = signals.watch(id);
    loop {
        let Some(record) = store.get_run(id).await? else {
            return Ok(None);
        };
        if record.status.is_final() {
            return Ok(Some(record));
        }
        if tokio::time::timeout_at(deadline, watch.changed())
            .await
            .is_err()
        {
            return Ok(Some(record));
        }
    }
}
