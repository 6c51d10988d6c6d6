//! Store errors.

use crate::CapReached;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the run's lease was lost to another worker")]
    LeaseLost,
    #[error("run {0} already exists")]
    Duplicate(String),
    #[error("run {0} not found")]
    NotFound(String),
    #[error("secret storage: {0}")]
    Secrets(String),
    #[error("the database is closed")]
    Closed,
    #[error("not created: {0}")]
    CapReached(CapReached),
}
