//! The embedded SQLite store.

/// Placeholder until the implementation lands.
pub struct SqliteStore;
