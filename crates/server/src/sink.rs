//! The engine's event sink: appends a run's events to the store's log.

use std::sync::Arc;

use async_trait::async_trait;
use forage_api::{RunEvent, RunId};
use forage_engine::EventSink;
use forage_store::Store;

/// Appends to one run's event log; a failed append is logged, never fatal to the run.
pub struct StoreSink {
    pub store: Arc<dyn Store>,
    pub run_id: RunId,
}

#[async_trait]
impl EventSink for StoreSink {
    async fn emit(&self, events: Vec<RunEvent>) {
        if events.is_empty() {
            return;
        }
        if let Err(err) = self.store.append_events(&self.run_id, &events).await {
            tracing::warn!(run_id = %self.run_id, error = %err, "could not record run events");
        }
    }
}
