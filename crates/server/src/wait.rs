//! Waiting for a run to reach a final status, woken by the run's change signal (no polling).

use std::time::Duration;

use forage_api::{RunId, TaskOutput};
use forage_store::{RunRecord, Store, StoreError};
use tokio::time::Instant;

use crate::signals::RunWatch;

/// A run's record, with its output when it was read with it.
pub type Waited = (RunRecord, Option<TaskOutput>);

/// The run once final, or its latest record when `timeout` passes first. `known` is the run's
/// record read after `watch` was made, so any change since that read wakes the watch: a run
/// that is already final costs no read here. A completed run read here comes with its output.
/// `Ok(None)` when the run no longer exists.
pub async fn wait_until_final(
    store: &dyn Store,
    mut watch: RunWatch,
    id: &RunId,
    known: RunRecord,
    timeout: Duration,
) -> Result<Option<Waited>, StoreError> {
    let deadline = Instant::now() + timeout;
    let mut latest = (known, None);
    loop {
        if latest.0.status.is_final() {
            return Ok(Some(latest));
        }
        if tokio::time::timeout_at(deadline, watch.changed())
            .await
            .is_err()
        {
            return Ok(Some(latest));
        }
        match store.get_run_with_output(id).await? {
            Some(read) => latest = read,
            None => return Ok(None),
        }
    }
}
