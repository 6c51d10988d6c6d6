//! Copies the write-ahead log back into the database file on a thread of its own, so that the
//! writer never stalls on a checkpoint (the copy and its fsync): the writer only counts its
//! commits, and this thread checkpoints every few dozen of them, or twice a second.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::connection::open_checkpointer;
use crate::StoreError;

/// Commits between checkpoints (each adds a few pages to the log).
const COMMITS_PER_CHECKPOINT: u64 = 64;
/// Checkpoint at least this often while anything was committed.
const MAX_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Default)]
struct State {
    commits: u64,
    stopping: bool,
}

/// What the writer and the checkpoint thread share.
#[derive(Default)]
pub(crate) struct Commits {
    state: Mutex<State>,
    wake: Condvar,
}

impl Commits {
    /// The writer committed a transaction.
    pub(crate) fn committed(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.commits += 1;
        if state.commits >= COMMITS_PER_CHECKPOINT {
            self.wake.notify_one();
        }
    }
}

/// The checkpoint thread; stopping it (on drop) closes its connection.
pub(crate) struct WalCheckpointer {
    commits: Arc<Commits>,
    thread: Option<JoinHandle<()>>,
}

impl WalCheckpointer {
    pub(crate) fn start(path: &Path) -> Result<WalCheckpointer, StoreError> {
        let conn = open_checkpointer(path)?;
        let commits = Arc::new(Commits::default());
        let shared = commits.clone();
        let thread = std::thread::Builder::new()
            .name("forage-sqlite-ckpt".into())
            .spawn(move || run(conn, &shared))
            .map_err(|e| {
                StoreError::Database(format!("cannot start the database checkpoint thread: {e}"))
            })?;
        Ok(WalCheckpointer {
            commits,
            thread: Some(thread),
        })
    }

    /// Where the writer reports its commits.
    pub(crate) fn commits(&self) -> Arc<Commits> {
        self.commits.clone()
    }
}

impl Drop for WalCheckpointer {
    fn drop(&mut self) {
        {
            let mut state = self.commits.state.lock().unwrap_or_else(|p| p.into_inner());
            state.stopping = true;
        }
        self.commits.wake.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the database checkpoint thread panicked");
        }
    }
}

fn run(conn: Connection, commits: &Commits) {
    let mut state = commits.state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if state.stopping {
            return;
        }
        if state.commits < COMMITS_PER_CHECKPOINT {
            state = commits
                .wake
                .wait_timeout(state, MAX_INTERVAL)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            if state.stopping || state.commits == 0 {
                continue;
            }
        }
        state.commits = 0;
        drop(state);
        checkpoint(&conn);
        state = commits.state.lock().unwrap_or_else(|p| p.into_inner());
    }
}

/// Copies what it can without waiting for readers or the writer (`PASSIVE`).
fn checkpoint(conn: &Connection) {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match done {
        Ok((logged, copied)) => tracing::trace!(logged, copied, "WAL checkpoint"),
        Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed; the next one retries"),
    }
}
