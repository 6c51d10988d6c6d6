//! A small pool of read-only connections, used from `spawn_blocking` (or, for short point
//! reads, on the calling thread); WAL lets them read while the writer writes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::connection::open_reader;
use crate::StoreError;

/// Read-only connections to one database file.
pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(crate) fn open(path: PathBuf, size: usize) -> Result<Arc<ReadPool>, StoreError> {
        let idle = (0..size)
            .map(|_| open_reader(&path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(ReadPool {
            path,
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(size)),
        }))
    }

    /// Runs `op` on an idle connection on a blocking thread.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let result = op(&conn);
            pool.put(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Database(format!("a database read stopped unexpectedly: {e}")))?
    }

    /// Runs a short read (a lookup by key, a count over an index) at once on the calling thread
    /// when a connection is idle: handing it to a blocking thread and back costs more CPU than
    /// the read itself.
    /// Otherwise waits for a connection like [`ReadPool::read`].
    pub(crate) async fn read_short<T, F>(self: &Arc<Self>, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            return self.read(op).await;
        };
        let conn = self.take()?;
        let result = op(&conn);
        self.put(conn);
        result
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            // A read that panicked took its connection with it: open a replacement.
            None => open_reader(&self.path),
        }
    }

    fn put(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }
}
