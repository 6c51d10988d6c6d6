//! Turns SQLite failures into `StoreError`s whose message says what a person can do about them.

use rusqlite::ErrorCode;

use crate::StoreError;

/// Maps a rusqlite error to a store error with an actionable message.
pub(crate) fn from_sqlite(err: rusqlite::Error) -> StoreError {
    let rusqlite::Error::SqliteFailure(failure, detail) = &err else {
        return match err {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(err.to_string()),
            other => StoreError::Database(other.to_string()),
        };
    };
    let detail = detail.clone().unwrap_or_else(|| failure.to_string());
    match failure.code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Database(format!(
            "database is locked by another process (is another forage using the same data directory?): {detail}"
        )),
        ErrorCode::DiskFull => StoreError::Database(format!(
            "disk full: free space on the volume that holds the database ({detail})"
        )),
        ErrorCode::ReadOnly => StoreError::Database(format!(
            "the database is read-only: check the permissions of the database file and its directory ({detail})"
        )),
        ErrorCode::PermissionDenied => StoreError::Database(format!(
            "permission denied on the database file: check its owner and mode ({detail})"
        )),
        ErrorCode::CannotOpen => StoreError::Database(format!(
            "cannot open the database file: check that its directory exists and is writable ({detail})"
        )),
        ErrorCode::SystemIoFailure => StoreError::Database(format!(
            "I/O error on the database file: check the disk and the file system ({detail})"
        )),
        ErrorCode::NotADatabase => StoreError::Corrupt(format!(
            "the file is not a forage SQLite database ({detail})"
        )),
        ErrorCode::DatabaseCorrupt => StoreError::Corrupt(format!(
            "the database file is damaged; restore it from a backup ({detail})"
        )),
        _ => StoreError::Database(detail),
    }
}

/// `true` when the error is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::ConstraintViolation
                && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

/// The error of an insert keyed by `id`: `Duplicate` when the id exists.
pub(crate) fn insert_error(id: &str, err: rusqlite::Error) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::Duplicate(id.to_owned())
    } else {
        from_sqlite(err)
    }
}

/// A copy of an error, for handing one batch failure to every command of the batch.
pub(crate) fn duplicate(err: &StoreError) -> StoreError {
    match err {
        StoreError::Database(m) => StoreError::Database(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::LeaseLost => StoreError::LeaseLost,
        StoreError::Duplicate(m) => StoreError::Duplicate(m.clone()),
        StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
        StoreError::Secrets(m) => StoreError::Secrets(m.clone()),
        StoreError::Closed => StoreError::Closed,
        StoreError::CapReached(cap) => StoreError::CapReached(*cap),
    }
}

/// A JSON column that does not parse back.
pub(crate) fn corrupt_json(what: &str, err: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what} is not valid JSON: {err}"))
}

/// A value that cannot be written as JSON (should not happen with forage's own types).
pub(crate) fn encode_json(what: &str, err: serde_json::Error) -> StoreError {
    StoreError::Database(format!("cannot encode {what} as JSON: {err}"))
}
