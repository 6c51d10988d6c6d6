//! A run's SSE stream: the current state, the event log replayed from the cursor, then live
//! events from the run's shared feed (`hub`), until the final state (or the stream's time limit).

use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::Event;
use forage_api::RunStatus;
use forage_store::{EventRecord, RunRecord, Store, StoreError};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::event_frames::{
    Frame, error_frame, progress_frame, run_at_status, sse_event, state_frame,
};
use crate::hub::{Hub, Subscription};

/// Parallel closes event streams after 570 s; clients reconnect.
pub const MAX_STREAM: Duration = Duration::from_secs(570);
/// Frames buffered ahead of a slow client.
const BUFFER: usize = 64;
/// Events read from the store at once.
const PAGE: usize = 256;

/// Starts producing the frames of `record`'s stream, encoded as SSE events, resuming after event
/// `after`. Live events come from the run's shared feed in `hub` (one store read per change for
/// all watchers).
pub fn spawn(
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    record: RunRecord,
    after: u64,
    closing: CancellationToken,
) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        let run_id = record.id.clone();
        if let Err(err) = produce(hub, store, record, after, &tx, &closing).await {
            tracing::error!(%run_id, error = %err, "event stream failed");
            let _ = send(
                &tx,
                error_frame("Internal error: could not read the run's events"),
            )
            .await;
        }
    });
    rx
}

/// The client went away.
struct Gone;

/// Sends the frame encoded: the channel's slots then hold a buffer each, not a frame's JSON.
async fn send(tx: &mpsc::Sender<Event>, frame: Frame) -> Result<(), Gone> {
    tx.send(sse_event(frame)).await.map_err(|_| Gone)
}

/// What to do after an entry.
enum Step {
    Go,
    End,
}

async fn produce(
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    record: RunRecord,
    mut cursor: u64,
    tx: &mpsc::Sender<Event>,
    closing: &CancellationToken,
) -> Result<(), StoreError> {
    let deadline = Instant::now() + MAX_STREAM;
    let id = record.id.clone();
    // Join the feed first: whatever is appended from now on reaches us through it.
    let Subscription { feed, mut rx } = hub.subscribe(&store, &id);
    let first = final_state(store.as_ref(), &record, None).await?;
    if send(tx, first).await.is_err() {
        return Ok(());
    }
    if let Step::End = catch_up(&store, &record, &mut cursor, tx).await? {
        return Ok(());
    }
    feed.read_up_to(cursor);
    // A final run whose log lacks its final status still ends the stream.
    if let Some(current) = store.get_run(&id).await?
        && current.status.is_final()
    {
        if let Step::End = catch_up(&store, &record, &mut cursor, tx).await? {
            return Ok(());
        }
        let frame = final_state(store.as_ref(), &current, None).await?;
        let _ = send(tx, frame).await;
        return Ok(());
    }
    loop {
        let item = tokio::select! {
            item = rx.recv() => item,
            _ = tx.closed() => return Ok(()),
            _ = closing.cancelled() => return Ok(()),
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
        };
        match item {
            Ok(item) => {
                let seq = item.event.seq;
                if seq <= cursor {
                    continue;
                }
                if seq > cursor + 1 {
                    // Entries the feed read before we joined: read them ourselves.
                    if let Step::End = catch_up(&store, &record, &mut cursor, tx).await? {
                        return Ok(());
                    }
                    continue;
                }
                cursor = seq;
                let step = match &item.ended {
                    Some((current, output)) => {
                        let frame = state_frame(Some(seq), &current.to_task_run(), output.as_ref());
                        let _ = send(tx, frame).await;
                        Step::End
                    }
                    None => entry(&store, &record, &item.event, tx).await?,
                };
                if let Step::End = step {
                    return Ok(());
                }
            }
            Err(RecvError::Lagged(_)) => {
                if let Step::End = catch_up(&store, &record, &mut cursor, tx).await? {
                    return Ok(());
                }
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

/// Sends the log from `cursor` to its current end, read from the store.
async fn catch_up(
    store: &Arc<dyn Store>,
    record: &RunRecord,
    cursor: &mut u64,
    tx: &mpsc::Sender<Event>,
) -> Result<Step, StoreError> {
    loop {
        let page = store.events_after(&record.id, *cursor, PAGE).await?;
        let full = page.len() == PAGE;
        for event in page {
            *cursor = event.seq;
            if let Step::End = entry(store, record, &event, tx).await? {
                return Ok(Step::End);
            }
        }
        if !full {
            return Ok(Step::Go);
        }
    }
}

/// Sends one log entry's frame; a final status ends the stream with the run as it ended.
async fn entry(
    store: &Arc<dyn Store>,
    record: &RunRecord,
    entry: &EventRecord,
    tx: &mpsc::Sender<Event>,
) -> Result<Step, StoreError> {
    let frame = match &entry.event {
        forage_api::RunEvent::Status { status } if status.is_final() => {
            let current = store
                .get_run(&record.id)
                .await?
                .unwrap_or_else(|| record.clone());
            let frame = final_state(store.as_ref(), &current, Some(entry.seq)).await?;
            let _ = send(tx, frame).await;
            return Ok(Step::End);
        }
        forage_api::RunEvent::Status { status } => {
            let run = run_at_status(&record.to_task_run(), *status, entry.at);
            state_frame(Some(entry.seq), &run, None)
        }
        event => match progress_frame(entry.seq, &entry.at, event) {
            Some(frame) => frame,
            None => return Ok(Step::Go),
        },
    };
    Ok(match send(tx, frame).await {
        Ok(()) => Step::Go,
        Err(Gone) => Step::End,
    })
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
