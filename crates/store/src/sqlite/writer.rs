//! The writer thread: owns the one write connection and commits whatever commands are waiting
//! in a single transaction (group commit), so that one command's failure does not fail its
//! batch-mates: should one fail, the transaction is rolled back and the others run again, each
//! inside its own savepoint.

use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::errors::{duplicate, from_sqlite};
use super::wal_checkpoint::Commits;
use crate::{Notice, StoreError};

/// Commands waiting for the writer, at most (callers wait for room beyond this).
const QUEUE_CAPACITY: usize = 4096;
/// Commands committed in one transaction, at most.
const MAX_BATCH: usize = 512;

/// What a write command produces: its answer and the notices to send once it is committed.
pub(crate) type WriteResult<T> = Result<(T, Vec<Notice>), StoreError>;

/// A write command, type-erased so the writer can batch commands of every kind.
trait WriteJob: Send {
    /// Runs the command on the open transaction; `false` when it failed. Runs again (its
    /// answer replaced) when a later command of its batch fails and the batch is rolled back.
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch is committed (`failure`: the batch was not).
    fn deliver(self: Box<Self>, failure: Option<&StoreError>, notices: &broadcast::Sender<Notice>);
}

struct Job<T, F> {
    op: F,
    result: Option<WriteResult<T>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> WriteResult<T> + Send,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        let result = (self.op)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn deliver(self: Box<Self>, failure: Option<&StoreError>, notices: &broadcast::Sender<Notice>) {
        let answer = match (self.result, failure) {
            (Some(Err(err)), _) => Err(err),
            (_, Some(failure)) => Err(duplicate(failure)),
            (Some(Ok((value, sent))), None) => {
                for notice in sent {
                    // No receiver is fine: nobody is waiting.
                    let _ = notices.send(notice);
                }
                Ok(value)
            }
            (None, None) => Err(StoreError::Database("the command was not run".into())),
        };
        // The caller may have given up waiting; its loss.
        let _ = self.reply.send(answer);
    }
}

/// A read run on the writer's connection (in-memory databases, which have no read pool).
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

enum Command {
    Write(Box<dyn WriteJob>),
    Read(ReadJob),
}

/// Handle to the writer thread. Dropping it lets the thread finish its batch and close the database.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread; it reports each commit to `commits` (file databases).
    pub(crate) fn start(
        conn: Connection,
        notices: broadcast::Sender<Notice>,
        commits: Option<Arc<Commits>>,
    ) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("forage-sqlite-writer".into())
            .spawn(move || run(conn, rx, notices, commits))
            .map_err(|e| {
                StoreError::Database(format!("cannot start the database writer thread: {e}"))
            })?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Runs `op` in the next group-committed transaction; answers after the commit.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> WriteResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            op,
            result: None,
            reply,
        };
        self.send(Command::Write(Box::new(job))).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `op` for the next group-committed transaction, after every command queued
    /// before; returns once it is queued, not committed (its result goes nowhere: `op` reports
    /// its own failure).
    pub(crate) async fn submit<F>(&self, op: F) -> Result<(), StoreError>
    where
        F: FnMut(&Connection) -> WriteResult<()> + Send + 'static,
    {
        let (reply, _) = oneshot::channel();
        let job = Job {
            op,
            result: None,
            reply,
        };
        self.send(Command::Write(Box::new(job))).await
    }

    /// Runs `op` on the writer's connection, outside any transaction.
    pub(crate) async fn read<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = reply.send(op(conn));
        });
        self.send(Command::Read(job)).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn send(&self, command: Command) -> Result<(), StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
        tx.send(command).await.map_err(|_| StoreError::Closed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its current batch; joining makes sure the
        // database is closed (WAL checkpointed) when the store is gone.
        self.tx.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the database writer thread panicked");
        }
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Command>,
    notices: broadcast::Sender<Notice>,
    commits: Option<Arc<Commits>>,
) {
    let mut writes: Vec<Box<dyn WriteJob>> = Vec::with_capacity(MAX_BATCH);
    let mut reads: Vec<ReadJob> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(command) = next.take() {
            match command {
                Command::Write(job) => writes.push(job),
                Command::Read(job) => reads.push(job),
            }
            taken += 1;
            if taken < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !writes.is_empty() {
            commit_batch(&conn, &mut writes, &notices);
            if let Some(commits) = &commits {
                commits.committed();
            }
        }
        for read in reads.drain(..) {
            read(&conn);
        }
    }
    tracing::debug!("database writer stopped");
}

/// Applies every job in one transaction, then answers each.
fn commit_batch(
    conn: &Connection,
    jobs: &mut Vec<Box<dyn WriteJob>>,
    notices: &broadcast::Sender<Notice>,
) {
    let failure = apply_all(conn, jobs).err();
    tracing::trace!(commands = jobs.len(), ok = failure.is_none(), "write batch");
    if let Some(err) = &failure {
        tracing::error!(error = %err, commands = jobs.len(), "database write batch failed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    for job in jobs.drain(..) {
        job.deliver(failure.as_ref(), notices);
    }
}

fn apply_all(conn: &Connection, jobs: &mut [Box<dyn WriteJob>]) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    // Every command runs without a savepoint first: a savepoint costs a copy of every page its
    // command changes, and commands seldom fail.
    control(conn, "BEGIN IMMEDIATE")?;
    let Some(failed) = jobs.iter_mut().position(|job| !job.apply(conn)) else {
        return control(conn, "COMMIT");
    };
    // One failed: the transaction is rolled back whole, and the others (those before it again)
    // run each inside a savepoint, so that another failure undoes only its own command.
    control(conn, "ROLLBACK")?;
    if jobs.len() == 1 {
        return Ok(());
    }
    control(conn, "BEGIN IMMEDIATE")?;
    for (index, job) in jobs.iter_mut().enumerate() {
        if index == failed {
            continue;
        }
        control(conn, "SAVEPOINT command")?;
        if !job.apply(conn) {
            control(conn, "ROLLBACK TO command")?;
        }
        control(conn, "RELEASE command")?;
    }
    control(conn, "COMMIT")
}

/// Runs one of the statements that frame a batch and its commands, prepared once: they run for
/// every command, and parsing them each time was wasted work.
fn control(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(from_sqlite)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn insert(conn: &Connection, value: i64) -> Result<(), StoreError> {
        conn.execute("INSERT INTO t (x) VALUES (?1)", [value])
            .map(drop)
            .map_err(from_sqlite)
    }

    /// A command that writes `value`, then fails.
    fn insert_then_fail(conn: &Connection, value: i64) -> WriteResult<()> {
        insert(conn, value)?;
        Err(StoreError::Database("refused".into()))
    }

    /// The values in `t`, in order, comma-separated.
    async fn stored(writer: &Writer) -> String {
        writer
            .read(|conn| {
                conn.query_row(
                    "SELECT group_concat(x) FROM (SELECT x FROM t ORDER BY x)",
                    [],
                    |row| row.get::<_, String>(0),
                )
                .map_err(from_sqlite)
            })
            .await
            .unwrap()
    }

    fn refused(result: Result<(), StoreError>) -> bool {
        matches!(result, Err(StoreError::Database(m)) if m == "refused")
    }

    #[tokio::test]
    async fn a_failed_command_leaves_nothing_behind_and_fails_none_of_its_batch_mates() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let (notices, _) = broadcast::channel(16);
        let writer = Writer::start(conn, notices, None).unwrap();
        for round in 0..2 {
            // The first command holds the writer while the next four queue, to be committed
            // together (with it, when the writer takes all five at once): a failing one first,
            // then one among others (which fails in its savepoint, on the second pass).
            let holding = writer.write(move |conn| {
                std::thread::sleep(Duration::from_millis(100));
                insert(conn, 10 * round).map(|()| ((), Vec::new()))
            });
            let failing_first = writer.write(move |conn| insert_then_fail(conn, 10 * round + 1));
            let passing =
                writer.write(move |conn| insert(conn, 10 * round + 2).map(|()| ((), Vec::new())));
            let failing_later = writer.write(move |conn| insert_then_fail(conn, 10 * round + 3));
            let passing_last =
                writer.write(move |conn| insert(conn, 10 * round + 4).map(|()| ((), Vec::new())));
            let (holding, failing_first, passing, failing_later, passing_last) =
                tokio::join!(holding, failing_first, passing, failing_later, passing_last);
            assert!(
                holding.is_ok() && passing.is_ok() && passing_last.is_ok(),
                "{holding:?} {passing:?} {passing_last:?}"
            );
            assert!(refused(failing_first) && refused(failing_later));
        }
        // A failing command alone in its batch.
        assert!(refused(
            writer.write(|conn| insert_then_fail(conn, 99)).await
        ));
        let stored = stored(&writer).await;
        assert_eq!(stored, "0,2,4,10,12,14");
    }

    #[tokio::test]
    async fn a_command_run_again_after_a_later_failure_is_written_once_and_answers_from_its_last_run()
     {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let (notices, _) = broadcast::channel(16);
        let writer = Writer::start(conn, notices, None).unwrap();
        // The first command holds the writer while the next three queue (sent once it runs),
        // to be committed together.
        let (started, holds) = oneshot::channel();
        let mut started = Some(started);
        let holding = writer.write(move |conn| {
            if let Some(started) = started.take() {
                let _ = started.send(());
            }
            std::thread::sleep(Duration::from_millis(100));
            insert(conn, 0).map(|()| ((), Vec::new()))
        });
        let mut runs = 0;
        let counted = writer.write(move |conn| {
            runs += 1;
            insert(conn, 1).map(|()| (runs, Vec::new()))
        });
        let failing = writer.write(|conn| insert_then_fail(conn, 2));
        let after = writer.write(|conn| insert(conn, 3).map(|()| ((), Vec::new())));
        let queued_behind = async {
            holds.await.unwrap();
            tokio::join!(counted, failing, after)
        };
        let (holding, (counted, failing, after)) = tokio::join!(holding, queued_behind);
        assert!(holding.is_ok() && after.is_ok(), "{holding:?} {after:?}");
        assert!(refused(failing));
        // Run once, and again after the failure rolled its first run back.
        assert_eq!(counted.unwrap(), 2);
        let stored = stored(&writer).await;
        assert_eq!(stored, "0,1,3");
    }
}
