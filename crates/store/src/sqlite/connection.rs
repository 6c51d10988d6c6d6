//! Opens SQLite connections with forage's settings: WAL, `synchronous=NORMAL`, busy timeout, foreign keys.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use super::errors::from_sqlite;
use crate::StoreError;

/// How long a connection waits for a lock held by another process before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// Where the database lives.
#[derive(Clone, Debug)]
pub(crate) enum Location {
    File(std::path::PathBuf),
    /// A private in-memory database (one connection: reads go through the writer).
    Memory,
}

/// The one connection that writes. Switches the file to WAL mode.
pub(crate) fn open_writer(location: &Location) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match location {
        Location::File(path) => {
            Connection::open_with_flags(path, flags).map_err(|e| with_path(path, e))?
        }
        Location::Memory => Connection::open_in_memory().map_err(from_sqlite)?,
    };
    configure(&conn).map_err(|e| match location {
        Location::File(path) => with_path(path, e),
        Location::Memory => from_sqlite(e),
    })?;
    if let Location::File(path) = location {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| with_path(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "cannot switch {} to WAL mode (got '{mode}'): the file system may not support shared memory",
                path.display()
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(from_sqlite)?;
    if let Location::File(_) = location {
        // Checkpoints run on their own thread (`wal_checkpoint`), not in the writer's commits.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(from_sqlite)?;
    }
    Ok(conn)
}

/// The connection that copies the WAL back into the database file (file databases only).
pub(crate) fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| with_path(path, e))?;
    configure(&conn).map_err(|e| with_path(path, e))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| with_path(path, e))?;
    Ok(conn)
}

/// A read-only connection for the read pool (file databases only).
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| with_path(path, e))?;
    configure(&conn).map_err(|e| with_path(path, e))?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Keep each cached statement's plan: otherwise a new value bound to a range constraint
    // (the lease expiry) makes SQLite prepare the statement again on every step.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // Statement journals (of savepoints: the writer's commands run again in one each after a
    // batch-mate failed) live in memory, not in a temporary file written page by page.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

fn with_path(path: &Path, err: rusqlite::Error) -> StoreError {
    match from_sqlite(err) {
        StoreError::Database(m) => StoreError::Database(format!("{}: {m}", path.display())),
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("{}: {m}", path.display())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_logs_ahead_and_syncs_at_checkpoints() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = open_writer(&Location::File(dir.path().join("forage.db"))).expect("open");
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |row| {
                row.get::<_, rusqlite::types::Value>(0)
            })
            .map(|value| match value {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(text) => text,
                other => format!("{other:?}"),
            })
            .expect("pragma")
        };
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("synchronous"), "1", "NORMAL: fsync at checkpoints");
        assert_eq!(
            pragma("wal_autocheckpoint"),
            "0",
            "checkpoints run on their own thread"
        );
        assert_eq!(pragma("foreign_keys"), "1");
    }
}
