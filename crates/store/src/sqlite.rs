//! The embedded SQLite store: one writer thread with group commit, a pool of read-only
//! connections, and a broadcast channel of notices.

pub(crate) mod codec;
mod connection;
mod deliveries;
mod errors;
mod groups;
mod pool;
mod reads;
mod schema;
mod wal_checkpoint;
use crate::secrets;
mod writer;
mod writes;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use forage_api::{
    InteractionId, RunEvent, RunId, RunStatus, TaskOutput, TaskRunCreate, TokenUsage,
};
use rusqlite::Connection;
use tokio::sync::broadcast;

pub use schema::SCHEMA_VERSION;

use codec::{to_json, truncate};
use connection::Location;
use pool::ReadPool;
use wal_checkpoint::WalCheckpointer;
use writer::Writer;
use writes::PreparedRun;

use crate::outcome::PreparedOutcome;
use crate::{
    CheckpointPart, Delivery, DeliveryRecord, DeliveryResult, EventRecord, GroupEventRecord,
    GroupRecord, GroupRun, GroupRunsQuery, Lease, LeasedRun, ListQuery, NewGroup, NewRun, Notice,
    QueueDepth, RunCaps, RunOutcome, RunRecord, SecretCipher, Store, StoreError,
};

/// Read-only connections per database file.
const READERS: usize = 4;
/// Notices kept for slow receivers (they lag beyond this, which they handle).
const NOTICE_CAPACITY: usize = 1024;

/// forage's embedded store: one SQLite file in WAL mode.
pub struct SqliteStore {
    // Field order is drop order: the readers close first, then the writer, then the checkpoint
    // thread, whose connection is the last one and checkpoints the WAL as it closes.
    reads: Option<Arc<ReadPool>>,
    writer: Writer,
    /// Held to keep its thread running, and to stop it with the store.
    _checkpointer: Option<WalCheckpointer>,
    notices: broadcast::Sender<Notice>,
    cipher: SecretCipher,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("in_memory", &self.reads.is_none())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `path` and brings its
    /// schema up to date. Refuses a database written by a newer forage.
    ///
    /// Blocks while it opens the file and migrates: call it at startup (or in `spawn_blocking`).
    pub fn open(path: &Path, cipher: SecretCipher) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Database(format!(
                    "cannot create the data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let location = Location::File(path.to_path_buf());
        let mut conn = connection::open_writer(&location)?;
        schema::migrate(&mut conn)?;
        let reads = ReadPool::open(path.to_path_buf(), READERS)?;
        let checkpointer = WalCheckpointer::start(path)?;
        tracing::info!(path = %path.display(), "opened the SQLite store");
        Self::start(conn, Some(reads), Some(checkpointer), cipher)
    }

    /// A private database in memory, gone when the store is dropped (tests, `forage run`).
    pub fn open_in_memory(cipher: SecretCipher) -> Result<SqliteStore, StoreError> {
        let mut conn = connection::open_writer(&Location::Memory)?;
        schema::migrate(&mut conn)?;
        Self::start(conn, None, None, cipher)
    }

    fn start(
        conn: Connection,
        reads: Option<Arc<ReadPool>>,
        checkpointer: Option<WalCheckpointer>,
        cipher: SecretCipher,
    ) -> Result<SqliteStore, StoreError> {
        let (notices, _) = broadcast::channel(NOTICE_CAPACITY);
        let commits = checkpointer.as_ref().map(WalCheckpointer::commits);
        let writer = Writer::start(conn, notices.clone(), commits)?;
        Ok(SqliteStore {
            reads,
            writer,
            _checkpointer: checkpointer,
            notices,
            cipher,
        })
    }

    /// Runs a read query on a read-only connection (or the writer's, in memory).
    async fn read<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.reads {
            Some(pool) => pool.read(op).await,
            None => self.writer.read(op).await,
        }
    }

    /// Like `read`, for a lookup by key or a count over an index: runs on the calling thread
    /// when a connection is idle.
    async fn read_short<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.reads {
            Some(pool) => pool.read_short(op).await,
            None => self.writer.read(op).await,
        }
    }
}

impl SqliteStore {
    /// Encodes a new run for the writer (secrets sealed, JSON columns, webhook URL).
    fn prepare_run(&self, new: NewRun) -> Result<PreparedRun, StoreError> {
        let (request, secrets_sealed) = secrets::seal_request(&self.cipher, &new.request)?;
        let created_at = truncate(new.created_at);
        let webhook_url = new
            .request
            .webhook
            .as_ref()
            .filter(|w| {
                w.event_types
                    .as_ref()
                    .is_none_or(|t| t.is_empty() || t.iter().any(|t| t == "task_run.status"))
            })
            .map(|w| w.url.clone());
        Ok(PreparedRun {
            webhook_url,
            metadata: new
                .request
                .metadata
                .as_ref()
                .map(|m| to_json("metadata", m))
                .transpose()?,
            warnings: to_json("warnings", &new.warnings)?,
            request,
            secrets_sealed,
            record: RunRecord {
                id: new.id,
                interaction_id: new.interaction_id,
                owner: new.owner,
                processor: new.processor.to_string(),
                status: RunStatus::Queued,
                created_at,
                modified_at: created_at,
                metadata: new.request.metadata,
                error: None,
                warnings: new.warnings,
                taskgroup_id: None,
                usage: TokenUsage::default(),
                attempts: 0,
            },
        })
    }
}

fn micros_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_run_within(&self, new: NewRun, caps: RunCaps) -> Result<RunRecord, StoreError> {
        let prepared = self.prepare_run(new)?;
        self.writer
            .write(move |conn| writes::create_run(conn, &prepared, caps))
            .await
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<RunRecord>, StoreError> {
        let id = id.clone();
        self.read_short(move |conn| reads::get_run(conn, &id)).await
    }

    async fn get_request(&self, id: &RunId) -> Result<Option<TaskRunCreate>, StoreError> {
        let id = id.clone();
        let stored = self.read(move |conn| reads::get_request(conn, &id)).await?;
        stored
            .map(|s| secrets::open_request(&self.cipher, &s.request, s.secrets_sealed.as_deref()))
            .transpose()
    }

    async fn get_output(&self, id: &RunId) -> Result<Option<TaskOutput>, StoreError> {
        let id = id.clone();
        self.read_short(move |conn| reads::get_output(conn, &id))
            .await
    }

    async fn get_run_with_output(
        &self,
        id: &RunId,
    ) -> Result<Option<(RunRecord, Option<TaskOutput>)>, StoreError> {
        let id = id.clone();
        self.read_short(move |conn| {
            let Some(record) = reads::get_run(conn, &id)? else {
                return Ok(None);
            };
            let output = if record.status == forage_api::RunStatus::Completed {
                reads::get_output(conn, &id)?
            } else {
                None
            };
            Ok(Some((record, output)))
        })
        .await
    }

    async fn list_runs(
        &self,
        owner: &str,
        query: &ListQuery,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let (owner, query) = (owner.to_owned(), query.clone());
        self.read(move |conn| reads::list_runs(conn, &owner, &query))
            .await
    }

    async fn interaction_transcript(
        &self,
        owner: &str,
        interaction: &InteractionId,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let (owner, interaction) = (owner.to_owned(), interaction.clone());
        self.read(move |conn| reads::interaction_transcript(conn, &owner, &interaction))
            .await
    }

    async fn lease_next(
        &self,
        worker: &str,
        lease_for: Duration,
    ) -> Result<Option<LeasedRun>, StoreError> {
        let lease_for = micros_of(lease_for);
        loop {
            let worker = worker.to_owned();
            let Some(row) = self
                .writer
                .write(move |conn| writes::lease_next(conn, &worker, lease_for))
                .await?
            else {
                return Ok(None);
            };
            if let Some(leased) = row.open_or_fail(&self.cipher, self).await? {
                return Ok(Some(leased));
            }
        }
    }

    async fn create_run_leased(
        &self,
        new: NewRun,
        caps: RunCaps,
        worker: &str,
        lease_for: Duration,
    ) -> Result<(RunRecord, Option<LeasedRun>), StoreError> {
        let prepared = self.prepare_run(new)?;
        let worker = worker.to_owned();
        let lease_for = micros_of(lease_for);
        let (record, row) = self
            .writer
            .write(move |conn| writes::create_run_leased(conn, &prepared, caps, &worker, lease_for))
            .await?;
        let leased = match row {
            Some(row) => row.open_or_fail(&self.cipher, self).await?,
            None => None,
        };
        Ok((record, leased))
    }

    async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<bool, StoreError> {
        let lease = lease.clone();
        let lease_for = micros_of(lease_for);
        self.writer
            .write(move |conn| writes::heartbeat(conn, &lease, lease_for))
            .await
    }

    async fn expire_leases(&self) -> Result<u64, StoreError> {
        self.writer.write(writes::expire_leases).await
    }

    /// `Err(StoreError::LeaseLost)` when the lease no longer holds the run.
    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.writer
            .write(move |conn| writes::release(conn, &lease))
            .await
    }

    async fn finish(&self, lease: &Lease, outcome: RunOutcome) -> Result<RunRecord, StoreError> {
        let lease = lease.clone();
        let outcome = PreparedOutcome::new(outcome)?;
        self.writer
            .write(move |conn| writes::finish(conn, &lease, &outcome))
            .await
    }

    async fn cancel_run(&self, id: &RunId) -> Result<RunRecord, StoreError> {
        let id = id.clone();
        self.writer
            .write(move |conn| writes::cancel_run(conn, &id))
            .await
    }

    async fn save_checkpoint(
        &self,
        lease: &Lease,
        version: u64,
        part: CheckpointPart,
        events: Vec<RunEvent>,
    ) -> Result<u64, StoreError> {
        let lease = lease.clone();
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        self.writer
            .write(move |conn| writes::save_checkpoint(conn, &lease, version, &part, &events))
            .await
    }

    async fn append_events(&self, run: &RunId, events: &[RunEvent]) -> Result<u64, StoreError> {
        let (run, events) = (run.clone(), events.to_vec());
        self.writer
            .write(move |conn| writes::append_events(conn, &run, &events))
            .await
    }

    async fn append_events_queued(&self, run: &RunId, events: &[RunEvent]) {
        let (run, events) = (run.clone(), events.to_vec());
        let queued = self
            .writer
            .submit(move |conn| {
                let appended = writes::append_events(conn, &run, &events);
                if let Err(err) = &appended {
                    tracing::warn!(run_id = %run, error = %err, "could not record run events");
                }
                appended.map(|(_, notices)| ((), notices))
            })
            .await;
        if let Err(err) = queued {
            tracing::warn!(error = %err, "could not queue run events");
        }
    }

    async fn events_after(
        &self,
        run: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let run = run.clone();
        self.read(move |conn| reads::events_after(conn, &run, after, limit))
            .await
    }

    fn notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        self.read(reads::queue_depth).await
    }

    async fn create_group(&self, new: NewGroup) -> Result<GroupRecord, StoreError> {
        let metadata = new
            .metadata
            .as_ref()
            .map(|m| to_json("metadata", m))
            .transpose()?;
        let at = truncate(new.created_at).timestamp_micros();
        self.writer
            .write(move |conn| {
                groups::create_group(conn, &new.id, &new.owner, metadata.as_deref(), at)
            })
            .await
    }

    async fn get_group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        let id = id.to_owned();
        self.read(move |conn| groups::get_group(conn, &id)).await
    }

    async fn add_group_runs(
        &self,
        id: &str,
        runs: Vec<NewRun>,
        caps: RunCaps,
    ) -> Result<GroupRecord, StoreError> {
        let prepared = runs
            .into_iter()
            .map(|r| {
                let mut run = self.prepare_run(r)?;
                run.record.taskgroup_id = Some(id.to_owned());
                Ok(run)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let id = id.to_owned();
        self.writer
            .write(move |conn| groups::add_runs(conn, &id, &prepared, caps))
            .await
    }

    async fn group_events_after(
        &self,
        id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<GroupEventRecord>, StoreError> {
        let id = id.to_owned();
        self.read(move |conn| groups::events_after(conn, &id, after, limit))
            .await
    }

    async fn group_runs(
        &self,
        id: &str,
        query: &GroupRunsQuery,
    ) -> Result<Vec<GroupRun>, StoreError> {
        let (id, query) = (id.to_owned(), query.clone());
        self.read(move |conn| groups::group_runs(conn, &id, &query))
            .await
    }

    async fn lease_deliveries(
        &self,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let lease_for = micros_of(lease_for);
        self.writer
            .write(move |conn| {
                deliveries::lease(conn, codec::now().timestamp_micros(), lease_for, limit)
            })
            .await
    }

    async fn record_delivery(&self, id: &str, result: DeliveryResult) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.writer
            .write(move |conn| deliveries::record(conn, &id, &result))
            .await
    }

    async fn run_deliveries(&self, run: &RunId) -> Result<Vec<DeliveryRecord>, StoreError> {
        let run = run.clone();
        self.read(move |conn| deliveries::for_run(conn, &run)).await
    }
}
