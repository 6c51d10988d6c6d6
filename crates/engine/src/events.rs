//! Where the engine reports what happens during a run (persisted and broadcast by the caller),
//! and where it saves the run's checkpoints.

use async_trait::async_trait;
use forage_api::RunEvent;
use serde_json::value::RawValue;

/// Receives a run's events in order. The engine never stores anything itself.
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn emit(&self, events: Vec<RunEvent>);

    /// Saves part of the run's checkpoint (`version` grows; an older one never replaces a newer
    /// one) and appends `events`, both or neither, so a resumed run neither repeats nor loses
    /// them. Sinks that do not resume runs only emit the events.
    async fn checkpoint(&self, version: u64, part: SavedPart, events: Vec<RunEvent>) {
        let _ = (version, part);
        self.emit(events).await;
    }
}

/// What one checkpoint saves, as JSON text.
#[derive(Clone, Debug)]
pub enum SavedPart {
    /// The run's whole state ([`crate::run_state::SavedState`]); it replaces the saved state
    /// and any batch saved after it.
    State(Box<RawValue>),
    /// The batch of tool calls in progress ([`crate::run_state::SavedBatch`]), saved as each
    /// call finishes; it replaces the saved state's batch, so the conversation is not written
    /// again with every call.
    Batch(Box<RawValue>),
}

/// Drops events (for callers that do not record them).
pub struct NullSink;

#[async_trait]
impl EventSink for NullSink {
    async fn emit(&self, _events: Vec<RunEvent>) {}
}
