//! Numbered schema migrations for PostgreSQL, applied at start under an advisory lock so that
//! several nodes starting at once migrate one after another; recorded in `forage_schema`.

use tokio_postgres::{Client, Config, NoTls};

use super::errors::from_pg;
use crate::StoreError;

/// Migration `i` (0-based) brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_initial.sql"),
    include_str!("../../migrations/postgres/0002_groups_webhooks.sql"),
    include_str!("../../migrations/postgres/0003_checkpoints.sql"),
    include_str!("../../migrations/postgres/0004_checkpoint_batches.sql"),
];

/// The schema version this build of forage writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The advisory lock key that serialises migrations ("forage" in ASCII).
const MIGRATION_LOCK: i64 = 0x666f_7261_6765;

/// A single connection (not from the pool), driven in the background until the client drops.
pub(crate) async fn connect_one(config: &Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(from_pg)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Brings the database to [`SCHEMA_VERSION`]; refuses a newer database. Returns the version.
///
/// Runs on its own connection: the session advisory lock dies with it, whatever happens.
pub(crate) async fn migrate(config: &Config) -> Result<u32, StoreError> {
    let mut client = connect_one(config).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(from_pg)?;
    let result = migrate_locked(&mut client).await;
    // Dropping the client ends the session and with it the lock; unlock early when it is healthy.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result
}

async fn migrate_locked(client: &mut Client) -> Result<u32, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS forage_schema (\
             version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(from_pg)?;
    let found = version(client).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Database(format!(
            "the database has schema version {found}, newer than this forage understands \
             (version {SCHEMA_VERSION}); it was written by a newer forage: upgrade forage, \
             or point it at another database"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i32 + 1;
        let tx = client.transaction().await.map_err(from_pg)?;
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Database(format!(
                "schema migration to version {version} failed: {}",
                from_pg(e)
            ))
        })?;
        tx.execute(
            "INSERT INTO forage_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(from_pg)?;
        tx.commit().await.map_err(from_pg)?;
        tracing::info!(version, "applied PostgreSQL schema migration");
    }
    version(client).await
}

/// Connects and reads the schema version without changing anything (0: never migrated).
pub(crate) async fn inspect(config: &Config) -> Result<u32, StoreError> {
    let client = connect_one(config).await?;
    let row = client
        .query_one("SELECT to_regclass('forage_schema') IS NOT NULL", &[])
        .await
        .map_err(from_pg)?;
    if !row.try_get::<_, bool>(0).map_err(from_pg)? {
        return Ok(0);
    }
    version(&client).await
}

/// The schema version recorded in the database (0 when none was applied).
pub(crate) async fn version(client: &Client) -> Result<u32, StoreError> {
    let row = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM forage_schema", &[])
        .await
        .map_err(from_pg)?;
    let version: i32 = row.try_get(0).map_err(from_pg)?;
    u32::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("schema version {version} is negative")))
}
