//! Where the engine reports what happens during a run (persisted and broadcast by the caller),
//! and where it saves the run's checkpoints.

use async_trait::async_trait;
use forage_api::RunEvent;

/// Receives a run's events in order. The engine never stores anything itself.
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn emit(&self, events: Vec<RunEvent>);

    /// Saves the run's state (`version` grows; an older one never replaces a newer one) and
    /// appends `events`, both or neither, so a resumed run neither repeats nor loses them.
    /// `state` is the state's JSON text. Sinks that do not resume runs only emit the events.
    async fn checkpoint(
        &self,
        version: u64,
        state: Box<serde_json::value::RawValue>,
        events: Vec<RunEvent>,
    ) {
        let _ = (version, state);
        self.emit(events).await;
    }
}

/// Drops events (for callers that do not record them).
pub struct NullSink;

#[async_trait]
impl EventSink for NullSink {
    async fn emit(&self, _events: Vec<RunEvent>) {}
}
