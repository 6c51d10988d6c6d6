//! Durable state of forage: runs, their requests and results, the event log, and the run queue.
//! `Store` is the contract; `sqlite` is the embedded implementation.

pub mod cipher;
pub mod error;
pub mod sqlite;
pub mod types;

pub use cipher::SecretCipher;
pub use error::StoreError;
pub use sqlite::SqliteStore;
pub use types::*;

use std::time::Duration;

use async_trait::async_trait;
use forage_api::{InteractionId, RunEvent, RunId, TaskOutput, TaskRunCreate};

/// Everything forage keeps. Implementations are cheap to share (`Arc<dyn Store>`).
///
/// Status changes record their `RunEvent::Status` event in the same transaction,
/// so the event log and the run never disagree.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a queued run with its request (MCP header values encrypted at rest).
    async fn create_run(&self, new: NewRun) -> Result<RunRecord, StoreError>;

    async fn get_run(&self, id: &RunId) -> Result<Option<RunRecord>, StoreError>;

    /// The request as created, with MCP header values decrypted (they serialize redacted).
    async fn get_request(&self, id: &RunId) -> Result<Option<TaskRunCreate>, StoreError>;

    /// The output of a completed run.
    async fn get_output(&self, id: &RunId) -> Result<Option<TaskOutput>, StoreError>;

    /// An owner's runs, newest first.
    async fn list_runs(&self, owner: &str, query: &ListQuery)
    -> Result<Vec<RunRecord>, StoreError>;

    /// The conversation of the latest completed run of an interaction that `owner` owns,
    /// to continue it (`previous_interaction_id`).
    async fn interaction_transcript(
        &self,
        owner: &str,
        interaction: &InteractionId,
    ) -> Result<Option<serde_json::Value>, StoreError>;

    /// Leases the oldest queued run, or a running run whose lease expired (its worker died),
    /// marks it running, and returns it with its request. `None` when there is nothing to do.
    async fn lease_next(
        &self,
        worker: &str,
        lease_for: Duration,
    ) -> Result<Option<LeasedRun>, StoreError>;

    /// Extends a lease. `false` when the lease was lost (expired and taken by another worker).
    async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<bool, StoreError>;

    /// Gives a leased run back to the queue (graceful shutdown before it finished).
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Records a run's end, if `lease` still holds it; returns the final record.
    /// `Err(StoreError::LeaseLost)` when another worker owns the run now.
    async fn finish(&self, lease: &Lease, outcome: RunOutcome) -> Result<RunRecord, StoreError>;

    /// Asks a run to stop: a queued run (or one whose worker is gone) becomes `cancelled` at once;
    /// a running one becomes `cancelling`, and its worker, told by `Notice::RunChanged`, stops it
    /// and finishes it as cancelled. A final run is returned unchanged.
    async fn cancel_run(&self, id: &RunId) -> Result<RunRecord, StoreError>;

    /// Appends events to a run's log; returns the sequence number of the last one.
    async fn append_events(&self, run: &RunId, events: &[RunEvent]) -> Result<u64, StoreError>;

    /// Events with sequence number greater than `after`, oldest first, at most `limit`.
    async fn events_after(
        &self,
        run: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError>;

    /// Changes that waiters (result long-polls, event streams, idle workers) wake on.
    fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice>;

    /// Counts of runs by status, for health and progress displays.
    async fn queue_depth(&self) -> Result<QueueDepth, StoreError>;
}
