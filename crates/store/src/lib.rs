//! Durable state of forage: runs, their requests and results, the event log, and the run queue.
//! `Store` is the contract; `sqlite` is the embedded implementation.

pub mod cipher;
pub mod error;
mod leased;
mod outcome;
pub mod postgres;
mod secrets;
pub mod sqlite;
pub mod types;

pub use cipher::SecretCipher;
pub use error::StoreError;
pub use postgres::PostgresStore;
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
    /// Inserts a queued run with its request (MCP header values encrypted at rest), if the
    /// owner's unfinished runs and the queue stay within `caps`; else `Err(CapReached)`, and
    /// nothing is created. The caps are checked in the write that inserts the run: exactly on
    /// SQLite (one writer), and on PostgreSQL against what was committed when the create ran.
    async fn create_run_within(&self, new: NewRun, caps: RunCaps) -> Result<RunRecord, StoreError>;

    /// [`Store::create_run_within`] with no caps.
    async fn create_run(&self, new: NewRun) -> Result<RunRecord, StoreError> {
        self.create_run_within(new, RunCaps::NONE).await
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<RunRecord>, StoreError>;

    /// The request as created, with MCP header values decrypted (they serialize redacted).
    async fn get_request(&self, id: &RunId) -> Result<Option<TaskRunCreate>, StoreError>;

    /// The output of a completed run.
    async fn get_output(&self, id: &RunId) -> Result<Option<TaskOutput>, StoreError>;

    /// A run's record and, when it completed, its output: in one read where the store can.
    async fn get_run_with_output(
        &self,
        id: &RunId,
    ) -> Result<Option<(RunRecord, Option<TaskOutput>)>, StoreError> {
        let Some(record) = self.get_run(id).await? else {
            return Ok(None);
        };
        let output = if record.status == forage_api::RunStatus::Completed {
            self.get_output(id).await?
        } else {
            None
        };
        Ok(Some((record, output)))
    }

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

    /// Creates a run as `create_run_within` does and, where the store can, leases it to `worker` in the
    /// same write when no other run is queued ahead of it (queue order holds): the hand-off to
    /// an idle worker then costs no second write. Returns the run as created (queued) and the
    /// leased run, or `None` when it was left queued (and announced with `Notice::RunQueued`);
    /// a store that cannot do both at once always leaves it queued.
    async fn create_run_leased(
        &self,
        new: NewRun,
        caps: RunCaps,
        _worker: &str,
        _lease_for: Duration,
    ) -> Result<(RunRecord, Option<LeasedRun>), StoreError> {
        Ok((self.create_run_within(new, caps).await?, None))
    }

    /// Extends a lease. `false` when the lease was lost (expired and taken by another worker).
    async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<bool, StoreError>;

    /// Gives a leased run back to the queue (graceful shutdown before it finished).
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Ends every lease at once, so that idle workers take the runs over now rather than when
    /// the leases would have expired. Only for a store no other live process works on (SQLite
    /// at start-up, its data directory locked): the process that held the leases is gone.
    /// Returns how many runs it freed.
    async fn expire_leases(&self) -> Result<u64, StoreError>;

    /// Records a run's end, if `lease` still holds it; returns the final record.
    /// `Err(StoreError::LeaseLost)` when another worker owns the run now.
    async fn finish(&self, lease: &Lease, outcome: RunOutcome) -> Result<RunRecord, StoreError>;

    /// Asks a run to stop: a queued run (or one whose worker is gone) becomes `cancelled` at once;
    /// a running one becomes `cancelling`, and its worker, told by `Notice::RunChanged`, stops it
    /// and finishes it as cancelled. A final run is returned unchanged.
    async fn cancel_run(&self, id: &RunId) -> Result<RunRecord, StoreError>;

    /// Saves part of the checkpoint of a leased run (its state, or its batch of tool calls in
    /// progress) as `version`, and appends `events` to its log, in one transaction, so that a
    /// resumed run neither repeats nor loses what the events announce. A part whose version is
    /// not above the stored one is ignored (the events are still appended).
    /// `Err(StoreError::LeaseLost)` when another worker owns the run now. Returns the sequence
    /// number of the last event.
    async fn save_checkpoint(
        &self,
        lease: &Lease,
        version: u64,
        part: CheckpointPart,
        events: Vec<RunEvent>,
    ) -> Result<u64, StoreError>;

    /// Appends events to a run's log; returns the sequence number of the last one.
    async fn append_events(&self, run: &RunId, events: &[RunEvent]) -> Result<u64, StoreError>;

    /// Appends events after every write asked of this store before, and before every write
    /// asked after, but may return before they are durable; a failure is logged. For progress
    /// reports, whose loss in a crash costs nothing: the run resumes from its last checkpoint.
    /// Stores without a write queue append them before returning.
    async fn append_events_queued(&self, run: &RunId, events: &[RunEvent]) {
        if let Err(err) = self.append_events(run, events).await {
            tracing::warn!(run_id = %run, error = %err, "could not record run events");
        }
    }

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

    // ---- Task groups -------------------------------------------------------------------------
    //
    // Every status change of a member run (its creation as `queued`, lease to `running`, release
    // to `queued`, `cancelling`, and its end) happens in one transaction with: the group's count
    // for the old status decremented and for the new one incremented, `modified_at` set, and one
    // `GroupEventRecord` appended to the group's log (seq = previous + 1), after which
    // `Notice::GroupChanged` is sent. A re-lease of an expired running run changes no status and
    // appends no group event. After the commit, `Notice::GroupChanged` carries the group's
    // new `last_event_seq` (one notice per group per command is enough: `add_group_runs` may send
    // only the last).
    //
    // The group and delivery methods have default bodies that fail with
    // `StoreError::Database("… not supported by this store")` only so that a store under
    // construction compiles; every real store overrides all of them (the suite checks).

    /// Creates an empty group. `Err(Duplicate)` when the id exists.
    async fn create_group(&self, _new: NewGroup) -> Result<GroupRecord, StoreError> {
        Err(unsupported("create_group"))
    }

    /// A group with its counts (no scan of its runs).
    async fn get_group(&self, _id: &str) -> Result<Option<GroupRecord>, StoreError> {
        Err(unsupported("get_group"))
    }

    /// Queues `runs` (each as `create_run` would, with `taskgroup_id = id`, in the given order)
    /// in one transaction: all or none. `num_runs` and the `queued` count grow by `runs.len()`
    /// and one `queued` group event per run is appended. Returns the group afterwards.
    /// `Err(NotFound)` when the group does not exist; `Err(Duplicate)` when a run id exists.
    /// The caller gives each run the group's owner. `Err(CapReached)` when adding them all
    /// would go past `caps`.
    async fn add_group_runs(
        &self,
        _id: &str,
        _runs: Vec<NewRun>,
        _caps: RunCaps,
    ) -> Result<GroupRecord, StoreError> {
        Err(unsupported("add_group_runs"))
    }

    /// The group's events with seq greater than `after`, oldest first, at most `limit`.
    async fn group_events_after(
        &self,
        _id: &str,
        _after: u64,
        _limit: usize,
    ) -> Result<Vec<GroupEventRecord>, StoreError> {
        Err(unsupported("group_events_after"))
    }

    /// Members of the group in the order they were added, with cursor greater than
    /// `query.after`, optionally of one status, at most `query.limit`.
    async fn group_runs(
        &self,
        _id: &str,
        _query: &GroupRunsQuery,
    ) -> Result<Vec<GroupRun>, StoreError> {
        Err(unsupported("group_runs"))
    }

    // ---- Webhook deliveries ------------------------------------------------------------------
    //
    // A run created with `request.webhook` whose `event_types` is absent, empty, or contains
    // `"task_run.status"` gets one delivery enqueued in the same transaction as its end (any
    // change to completed, failed or cancelled: `finish`, `cancel_run`, the abandoned-cancellation
    // sweep): state `Pending`, `attempts` 0, id `whevent_` + 32 hex chars, `url` the webhook's,
    // `created_at` = `next_attempt_at` = the end time; after the commit
    // `Notice::DeliveryQueued` is sent (dispatchers also poll).

    /// Leases up to `limit` pending deliveries due now (`next_attempt_at <= now`), earliest due
    /// first: each gets `attempts + 1` and `next_attempt_at = now + lease_for`, so it is not
    /// handed out again until then unless `record_delivery` says otherwise (a dispatcher that
    /// dies mid-attempt means the delivery is retried: at-least-once).
    async fn lease_deliveries(
        &self,
        _lease_for: Duration,
        _limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        Err(unsupported("lease_deliveries"))
    }

    /// Records an attempt: `Delivered` → state delivered, no next attempt; `RetryAt` → pending,
    /// due at `at`, `last_error` set; `GaveUp` → failed, no next attempt, `last_error` set.
    /// `Err(NotFound)` for an unknown id.
    async fn record_delivery(&self, _id: &str, _result: DeliveryResult) -> Result<(), StoreError> {
        Err(unsupported("record_delivery"))
    }

    /// A run's deliveries, oldest first.
    async fn run_deliveries(&self, _run: &RunId) -> Result<Vec<DeliveryRecord>, StoreError> {
        Err(unsupported("run_deliveries"))
    }
}

/// The error of a trait method a store does not implement yet.
fn unsupported(method: &str) -> StoreError {
    StoreError::Database(format!("{method} is not supported by this store"))
}
