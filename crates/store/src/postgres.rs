//! The PostgreSQL store, for several forage nodes serving one workload: a connection pool,
//! migrations under an advisory lock, a `FOR UPDATE SKIP LOCKED` queue with leases, and
//! notices carried between nodes by `LISTEN`/`NOTIFY`.

mod codec;
mod deliveries;
mod errors;
mod groups;
mod listen;
mod notify;
mod reads;
mod schema;
use crate::secrets;
mod writes;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use forage_api::{
    InteractionId, RunEvent, RunId, RunStatus, TaskOutput, TaskRunCreate, TokenUsage,
};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

pub use schema::SCHEMA_VERSION;

use crate::leased::LeasedRow;
use crate::outcome::PreparedOutcome;
use codec::{to_json, truncate};
use errors::{from_pg, from_pool};
use writes::PreparedRun;

use crate::{
    CheckpointPart, Delivery, DeliveryRecord, DeliveryResult, EventRecord, GroupEventRecord,
    GroupRecord, GroupRun, GroupRunsQuery, Lease, LeasedRun, ListQuery, NewGroup, NewRun, Notice,
    QueueDepth, RunCaps, RunOutcome, RunRecord, SecretCipher, Store, StoreError,
};

/// Connections per store (per node).
const POOL_SIZE: usize = 16;
/// How long a command waits for a free connection before it fails.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// Connecting gives up after this long unless the URL says otherwise (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Notices kept for slow receivers (they lag beyond this, which they handle).
const NOTICE_CAPACITY: usize = 4096;

/// forage's store on a PostgreSQL database shared by any number of nodes.
pub struct PostgresStore {
    pool: Pool,
    notices: broadcast::Sender<Notice>,
    cipher: SecretCipher,
    /// Tags this store's `NOTIFY` payloads, so its listener skips what it already sent.
    origin: String,
    listener: JoinHandle<()>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Parses a `postgres://` URL (or key=value string) without echoing it (it may hold a password).
fn parse_url(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
        StoreError::Database(format!(
            "the database URL is not a valid PostgreSQL URL ({e}); expected \
             postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.keepalives_idle(Duration::from_secs(30));
    if config.get_application_name().is_none() {
        config.application_name("forage");
    }
    Ok(config)
}

impl PostgresStore {
    /// Connects to the database at `url`, brings its schema up to date (one node at a time),
    /// and starts listening for other nodes' notices. Refuses a database of a newer forage.
    ///
    /// Every node on one database must use the same `cipher` key (`FORAGE_SECRET_KEY`):
    /// a run created on one node is executed by another, which must open its sealed headers.
    pub async fn connect(url: &str, cipher: SecretCipher) -> Result<PostgresStore, StoreError> {
        let config = parse_url(url)?;
        let version = schema::migrate(&config).await?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Database(format!("cannot build the connection pool: {e}")))?;
        let (notices, _) = broadcast::channel(NOTICE_CAPACITY);
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let (ready_tx, ready) = oneshot::channel();
        let listener = listen::spawn(config, origin.clone(), notices.clone(), ready_tx);
        if tokio::time::timeout(CONNECT_TIMEOUT, ready).await.is_err() {
            listener.abort();
            return Err(StoreError::Database(
                "cannot listen for notices on PostgreSQL (LISTEN did not succeed in time)".into(),
            ));
        }
        tracing::info!(schema_version = version, "opened the PostgreSQL store");
        Ok(PostgresStore {
            pool,
            notices,
            cipher,
            origin,
            listener,
        })
    }

    /// Applies pending migrations to the database at `url` and returns its schema version,
    /// without starting a store (`forage migrate`).
    pub async fn migrate(url: &str) -> Result<u32, StoreError> {
        schema::migrate(&parse_url(url)?).await
    }

    /// Connects to the database at `url` and reads its schema version without migrating
    /// (0: forage never ran on it) (`forage doctor`).
    pub async fn inspect(url: &str) -> Result<u32, StoreError> {
        schema::inspect(&parse_url(url)?).await
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        let client = self.client().await?;
        schema::version(&client).await
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(from_pool)
    }

    /// Sends `notices` with the transaction (`NOTIFY` is delivered on commit), commits, then
    /// tells this node's receivers.
    async fn commit(
        &self,
        tx: deadpool_postgres::Transaction<'_>,
        notices: Vec<Notice>,
    ) -> Result<(), StoreError> {
        if !notices.is_empty() {
            let payloads: Vec<String> = notices
                .iter()
                .map(|n| notify::encode(&self.origin, n))
                .collect();
            let stmt = tx
                .prepare_cached("SELECT pg_notify($1, p) FROM unnest($2::TEXT[]) AS p")
                .await
                .map_err(from_pg)?;
            tx.execute(&stmt, &[&notify::CHANNEL, &payloads])
                .await
                .map_err(from_pg)?;
        }
        tx.commit().await.map_err(from_pg)?;
        for notice in notices {
            let _ = self.notices.send(notice);
        }
        Ok(())
    }
}

impl PostgresStore {
    /// Encodes a new run (secrets sealed, JSON columns, webhook URL).
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

/// Runs one write command in a transaction and commits it with its notices.
macro_rules! write {
    ($self:ident, |$tx:ident| $body:expr) => {{
        let mut client = $self.client().await?;
        let $tx = client.transaction().await.map_err(from_pg)?;
        let (value, notices) = $body.await?;
        $self.commit($tx, notices).await?;
        Ok(value)
    }};
}

fn micros_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_run_within(&self, new: NewRun, caps: RunCaps) -> Result<RunRecord, StoreError> {
        let prepared = self.prepare_run(new)?;
        write!(self, |tx| writes::create_run(&tx, prepared, caps))
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<RunRecord>, StoreError> {
        reads::get_run(&self.client().await?, id).await
    }

    async fn get_request(&self, id: &RunId) -> Result<Option<TaskRunCreate>, StoreError> {
        let stored = reads::get_request(&self.client().await?, id).await?;
        stored
            .map(|s| secrets::open_request(&self.cipher, &s.request, s.secrets_sealed.as_deref()))
            .transpose()
    }

    async fn get_output(&self, id: &RunId) -> Result<Option<TaskOutput>, StoreError> {
        reads::get_output(&self.client().await?, id).await
    }

    async fn list_runs(
        &self,
        owner: &str,
        query: &ListQuery,
    ) -> Result<Vec<RunRecord>, StoreError> {
        reads::list_runs(&self.client().await?, owner, query).await
    }

    async fn interaction_transcript(
        &self,
        owner: &str,
        interaction: &InteractionId,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        reads::interaction_transcript(&self.client().await?, owner, interaction).await
    }

    async fn lease_next(
        &self,
        worker: &str,
        lease_for: Duration,
    ) -> Result<Option<LeasedRun>, StoreError> {
        let lease_for = micros_of(lease_for);
        loop {
            let leased: Option<LeasedRow> =
                write!(self, |tx| writes::lease_next(&tx, worker, lease_for))?;
            let Some(row) = leased else {
                return Ok(None);
            };
            if let Some(run) = row.open_or_fail(&self.cipher, self).await? {
                return Ok(Some(run));
            }
        }
    }

    async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE runs SET lease_expires_at = $3 WHERE id = $1 AND lease_token = $2",
            )
            .await
            .map_err(from_pg)?;
        let until = codec::now_us().saturating_add(micros_of(lease_for));
        let changed = client
            .execute(&stmt, &[&lease.run_id.as_str(), &lease.token, &until])
            .await
            .map_err(from_pg)?;
        Ok(changed == 1)
    }

    async fn expire_leases(&self) -> Result<u64, StoreError> {
        write!(self, |tx| writes::expire_leases(&tx))
    }

    /// `Err(StoreError::LeaseLost)` when the lease no longer holds the run.
    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        write!(self, |tx| writes::release(&tx, lease))
    }

    async fn finish(&self, lease: &Lease, outcome: RunOutcome) -> Result<RunRecord, StoreError> {
        let outcome = PreparedOutcome::new(outcome)?;
        write!(self, |tx| writes::finish(&tx, lease, outcome))
    }

    async fn cancel_run(&self, id: &RunId) -> Result<RunRecord, StoreError> {
        write!(self, |tx| writes::cancel_run(&tx, id))
    }

    async fn save_checkpoint(
        &self,
        lease: &Lease,
        version: u64,
        part: CheckpointPart,
        events: Vec<RunEvent>,
    ) -> Result<u64, StoreError> {
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        write!(self, |tx| writes::save_checkpoint(
            &tx, lease, version, &part, &events
        ))
    }

    async fn append_events(&self, run: &RunId, events: &[RunEvent]) -> Result<u64, StoreError> {
        write!(self, |tx| writes::append_events(&tx, run, events))
    }

    async fn events_after(
        &self,
        run: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        reads::events_after(&self.client().await?, run, after, limit).await
    }

    fn notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        reads::queue_depth(&self.client().await?).await
    }

    async fn create_group(&self, new: NewGroup) -> Result<GroupRecord, StoreError> {
        let metadata = new
            .metadata
            .as_ref()
            .map(|m| to_json("metadata", m))
            .transpose()?;
        let at = truncate(new.created_at).timestamp_micros();
        write!(self, |tx| groups::create_group(
            &tx, &new.id, &new.owner, metadata, at
        ))
    }

    async fn get_group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        groups::get_group(&self.client().await?, id).await
    }

    async fn add_group_runs(
        &self,
        id: &str,
        runs: Vec<NewRun>,
        caps: RunCaps,
    ) -> Result<GroupRecord, StoreError> {
        let prepared = runs
            .into_iter()
            .map(|r| self.prepare_run(r))
            .collect::<Result<Vec<_>, _>>()?;
        write!(self, |tx| groups::add_runs(&tx, id, prepared, caps))
    }

    async fn group_events_after(
        &self,
        id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<GroupEventRecord>, StoreError> {
        groups::events_after(&self.client().await?, id, after, limit).await
    }

    async fn group_runs(
        &self,
        id: &str,
        query: &GroupRunsQuery,
    ) -> Result<Vec<GroupRun>, StoreError> {
        groups::group_runs(&self.client().await?, id, query).await
    }

    async fn lease_deliveries(
        &self,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let client = self.client().await?;
        deliveries::lease(&client, codec::now_us(), micros_of(lease_for), limit).await
    }

    async fn record_delivery(&self, id: &str, result: DeliveryResult) -> Result<(), StoreError> {
        deliveries::record(&self.client().await?, id, result).await
    }

    async fn run_deliveries(&self, run: &RunId) -> Result<Vec<DeliveryRecord>, StoreError> {
        deliveries::for_run(&self.client().await?, run).await
    }
}
