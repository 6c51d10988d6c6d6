//! Turning PostgreSQL and pool errors into `StoreError`s that say what went wrong.

use crate::StoreError;

/// A driver error, with the server's message when there is one.
pub(crate) fn from_pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!(
            "PostgreSQL: {} ({})",
            db.message(),
            db.code().code()
        )),
        None if e.is_closed() => StoreError::Database("the PostgreSQL connection closed".into()),
        None => StoreError::Database(format!("PostgreSQL: {e}")),
    }
}

/// No connection could be had from the pool.
pub(crate) fn from_pool(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => from_pg(e),
        deadpool_postgres::PoolError::Closed => StoreError::Closed,
        other => StoreError::Database(format!("cannot get a PostgreSQL connection: {other}")),
    }
}

pub(crate) fn encode_json(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("cannot encode {what} as JSON: {e}"))
}

pub(crate) fn corrupt_json(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("stored {what} is not valid JSON: {e}"))
}
