//! A run's SSE stream: the current state, the event log replayed from the cursor, then live
//! events woken by store notices, until the final state (or the stream's time limit).

use std::sync::Arc;
use std::time::Duration;

use forage_api::{RunId, RunStatus};
use forage_store::{Notice, RunRecord, Store, StoreError};
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::event_frames::{Frame, error_frame, progress_frame, run_at_status, state_frame};

/// Parallel closes event streams after 570 s; clients reconnect.
pub const MAX_STREAM: Duration = Duration::from_secs(570);
/// Frames buffered ahead of a slow client.
const BUFFER: usize = 64;
/// Events read from the store at once.
const PAGE: usize = 256;

/// Starts producing the frames of `record`'s stream, resuming after event `after`.
pub fn spawn(
    store: Arc<dyn Store>,
    record: RunRecord,
    after: u64,
    closing: CancellationToken,
) -> mpsc::Receiver<Frame> {
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        let run_id = record.id.clone();
        if let Err(err) = produce(store, record, after, &tx, &closing).await {
            tracing::error!(%run_id, error = %err, "event stream failed");
            let _ = tx
                .send(error_frame(
                    "Internal error: could not read the run's events",
                ))
                .await;
        }
    });
    rx
}

/// The client went away.
struct Gone;

async fn send(tx: &mpsc::Sender<Frame>, frame: Frame) -> Result<(), Gone> {
    tx.send(frame).await.map_err(|_| Gone)
}

async fn produce(
    store: Arc<dyn Store>,
    record: RunRecord,
    mut cursor: u64,
    tx: &mpsc::Sender<Frame>,
    closing: &CancellationToken,
) -> Result<(), StoreError> {
    let deadline = Instant::now() + MAX_STREAM;
    let id = record.id.clone();
    let mut notices = store.notices();
    let first = final_state(store.as_ref(), &record, None).await?;
    if send(tx, first).await.is_err() {
        return Ok(());
    }
    let mut checked_final = false;
    loop {
        let page = store.events_after(&id, cursor, PAGE).await?;
        let full = page.len() == PAGE;
        for entry in page {
            cursor = entry.seq;
            let frame = match &entry.event {
                forage_api::RunEvent::Status { status } if status.is_final() => {
                    let current = store.get_run(&id).await?.unwrap_or_else(|| record.clone());
                    let frame = final_state(store.as_ref(), &current, Some(entry.seq)).await?;
                    let _ = send(tx, frame).await;
                    return Ok(());
                }
                forage_api::RunEvent::Status { status } => {
                    let run = run_at_status(&record.to_task_run(), *status, entry.at);
                    state_frame(Some(entry.seq), &run, None)
                }
                event => match progress_frame(entry.seq, &entry.at, event) {
                    Some(frame) => frame,
                    None => continue,
                },
            };
            if send(tx, frame).await.is_err() {
                return Ok(());
            }
        }
        if full {
            continue;
        }
        // Caught up. A final run whose log lacks its final status still ends the stream.
        if let Some(current) = store.get_run(&id).await?
            && current.status.is_final()
        {
            if checked_final {
                let frame = final_state(store.as_ref(), &current, None).await?;
                let _ = send(tx, frame).await;
                return Ok(());
            }
            checked_final = true;
            continue;
        }
        tokio::select! {
            _ = changed(&mut notices, &id) => {}
            _ = tx.closed() => return Ok(()),
            _ = closing.cancelled() => return Ok(()),
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
        }
    }
}

/// The run's state frame, with the output when it completed.
async fn final_state(
    store: &dyn Store,
    record: &RunRecord,
    seq: Option<u64>,
) -> Result<Frame, StoreError> {
    let output = if record.status == RunStatus::Completed {
        store.get_output(&record.id).await?
    } else {
        None
    };
    Ok(state_frame(seq, &record.to_task_run(), output.as_ref()))
}

/// Returns when the run's log or status may have changed.
async fn changed(notices: &mut Receiver<Notice>, id: &RunId) {
    loop {
        match notices.recv().await {
            Ok(Notice::EventsAppended { run_id, .. } | Notice::RunChanged { run_id, .. })
                if &run_id == id =>
            {
                return;
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
