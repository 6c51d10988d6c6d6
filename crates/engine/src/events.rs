//! Where the engine reports what happens during a run (persisted and broadcast by the caller).

use async_trait::async_trait;
use forage_api::RunEvent;

/// Receives a run's events in order. The engine never stores anything itself.
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn emit(&self, events: Vec<RunEvent>);
}

/// Drops events (for callers that do not record them).
pub struct NullSink;

#[async_trait]
impl EventSink for NullSink {
    async fn emit(&self, _events: Vec<RunEvent>) {}
}
