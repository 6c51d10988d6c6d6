//! Numbered schema migrations, applied in order at open and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

use super::errors::from_sqlite;
use crate::StoreError;

/// Migration `i` (0-based) brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_groups_webhooks.sql"),
    include_str!("../../migrations/0003_checkpoints.sql"),
    include_str!("../../migrations/0004_compact_keys.sql"),
    include_str!("../../migrations/0005_checkpoint_batches.sql"),
    include_str!("../../migrations/0006_active_run_counts.sql"),
    include_str!("../../migrations/0007_checkpoint_batch_rows.sql"),
];

/// The schema version this build of forage writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database to [`SCHEMA_VERSION`] in one transaction; refuses a newer database.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Database(format!(
            "the database has schema version {found}, newer than this forage understands \
             (version {SCHEMA_VERSION}); it was written by a newer forage: upgrade forage, \
             or point it at another data directory"
        )));
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .map_err(from_sqlite)?;
    // Read again under the lock: another process may have migrated meanwhile.
    let found = user_version(&tx)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as u32 + 1;
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Database(format!(
                "schema migration to version {version} failed: {}",
                from_sqlite(e)
            ))
        })?;
        tx.pragma_update(None, "user_version", version)
            .map_err(from_sqlite)?;
        tracing::info!(version, "applied database schema migration");
    }
    tx.commit().map_err(from_sqlite)
}

fn user_version(conn: &Connection) -> Result<u32, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(from_sqlite)
}
