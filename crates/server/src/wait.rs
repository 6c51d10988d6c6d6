//! Waiting for a run to reach a final status, woken by store notices (no polling).

use std::time::Duration;

use forage_api::RunId;
use forage_store::{Notice, RunRecord, Store, StoreError};
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::time::Instant;

/// The run once final, or its latest record when `timeout` passes first.
/// `Ok(None)` when the run does not exist.
pub async fn wait_until_final(
    store: &dyn Store,
    id: &RunId,
    timeout: Duration,
) -> Result<Option<RunRecord>, StoreError> {
    let deadline = Instant::now() + timeout;
    let mut notices = store.notices();
    loop {
        let Some(record) = store.get_run(id).await? else {
            return Ok(None);
        };
        if record.status.is_final() {
            return Ok(Some(record));
        }
        if tokio::time::timeout_at(deadline, changed(&mut notices, id))
            .await
            .is_err()
        {
            return Ok(Some(record));
        }
    }
}

/// Returns when `id` may have changed (a notice about it, or missed notices).
pub async fn changed(notices: &mut Receiver<Notice>, id: &RunId) {
    loop {
        match notices.recv().await {
            Ok(Notice::RunChanged { run_id, .. }) if &run_id == id => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            // The store is gone: nothing will change any more.
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
