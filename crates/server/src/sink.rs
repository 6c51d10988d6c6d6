//! The engine's event sink: appends a run's events to the store's log, and saves the run's
//! checkpoints with them under the worker's lease.

use std::sync::Arc;

use async_trait::async_trait;
use forage_api::RunEvent;
use forage_engine::{EventSink, SavedPart};
use forage_store::{CheckpointPart, Lease, Store};

/// Records one leased run's events and checkpoints; a failed write is logged, never fatal to
/// the run (a lost lease is noticed by the heartbeat, which stops the run).
pub struct StoreSink {
    pub store: Arc<dyn Store>,
    pub lease: Lease,
}

#[async_trait]
impl EventSink for StoreSink {
    async fn emit(&self, events: Vec<RunEvent>) {
        if events.is_empty() {
            return;
        }
        // Events carry no state to resume from: the run goes on without waiting for their
        // write, which stays in order with the run's checkpoints and its end.
        self.store
            .append_events_queued(&self.lease.run_id, &events)
            .await;
    }

    async fn checkpoint(&self, version: u64, part: SavedPart, events: Vec<RunEvent>) {
        let part = match part {
            SavedPart::State(state) => CheckpointPart::State(state),
            SavedPart::Batch(batch) => CheckpointPart::Batch(batch),
        };
        if let Err(err) = self
            .store
            .save_checkpoint(&self.lease, version, part, events)
            .await
        {
            tracing::warn!(run_id = %self.lease.run_id, error = %err, "could not save the run's checkpoint");
        }
    }
}
