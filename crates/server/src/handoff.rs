//! Idle workers waiting for a run: a new run is leased to one of them in the write that creates
//! it and handed over directly, instead of being announced to the pool and leased in a second
//! write. The run comes with a watch on its changes, begun before the run existed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use forage_store::{LeasedRun, NewRun, RunCaps, RunRecord, Store, StoreError};
use tokio::sync::oneshot;

use crate::signals::{RunSignals, RunWatch};

/// The workers that found the queue empty and wait, most recently idle last.
#[derive(Default)]
pub struct IdleWorkers {
    waiting: Mutex<Vec<Waiting>>,
}

struct Waiting {
    ticket: u64,
    worker: String,
    lease: Duration,
    reply: oneshot::Sender<Box<HandedRun>>,
}

/// A worker's place among the idle ones, and where its run arrives.
pub struct IdleTicket {
    ticket: u64,
    /// Boxed: every idle worker holds this channel, which would otherwise reserve a whole run.
    pub run: oneshot::Receiver<Box<HandedRun>>,
}

/// A run handed to a worker at its creation.
pub struct HandedRun {
    pub run: LeasedRun,
    /// Watching the run since before it was written: no change to it (a cancel) came before
    /// the watch, so the worker need not read the run's status to catch one.
    pub watch: RunWatch,
}

/// An idle worker taken for one new run: lease the run to `worker` for `lease`, then `give` it.
pub struct Handoff {
    pub worker: String,
    pub lease: Duration,
    reply: oneshot::Sender<Box<HandedRun>>,
}

impl IdleWorkers {
    /// Registers `worker` as idle until it withdraws or is taken.
    pub fn wait(&self, worker: &str, lease: Duration) -> IdleTicket {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let ticket = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reply, run) = oneshot::channel();
        self.lock().push(Waiting {
            ticket,
            worker: worker.to_owned(),
            lease,
            reply,
        });
        IdleTicket { ticket, run }
    }

    /// The most recently idle worker (its task is the likeliest to be warm), if any.
    pub fn take(&self) -> Option<Handoff> {
        let mut waiting = self.lock();
        while let Some(w) = waiting.pop() {
            // A worker that stopped dropped its receiver: skip it.
            if !w.reply.is_closed() {
                return Some(Handoff {
                    worker: w.worker,
                    lease: w.lease,
                    reply: w.reply,
                });
            }
        }
        None
    }

    /// Leaves the idle workers. `false` when the worker was taken meanwhile: a run (or word that
    /// there is none) is then on its way on the ticket's receiver, and must be awaited.
    pub fn withdraw(&self, ticket: &IdleTicket) -> bool {
        let mut waiting = self.lock();
        match waiting.iter().position(|w| w.ticket == ticket.ticket) {
            Some(at) => {
                waiting.remove(at);
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        // The list holds no invariant a panic could break halfway.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Handoff {
    /// Creates the run, leased to this worker when nothing is queued ahead of it, and hands it
    /// over with a watch on it from `signals`. Runs to the end on its own task: a client that
    /// goes away meanwhile must not leave the run leased to a worker that never hears of it.
    /// Without the lease (a run is queued ahead), the worker hears there is no run and the
    /// queue's notice wakes a worker.
    pub async fn create(
        self,
        store: Arc<dyn Store>,
        signals: &RunSignals,
        new: NewRun,
        caps: RunCaps,
    ) -> Result<RunRecord, StoreError> {
        let watch = signals.watch(&new.id);
        tokio::spawn(async move {
            let (record, leased) = store
                .create_run_leased(new, caps, &self.worker, self.lease)
                .await?;
            if let Some(run) = leased {
                self.give(HandedRun { run, watch }, store.as_ref()).await;
            }
            Ok(record)
        })
        .await
        .map_err(|e| StoreError::Database(format!("creating the run stopped: {e}")))?
    }

    /// Hands the run to the worker. A worker that stopped meanwhile cannot take it: the run goes
    /// back to the queue.
    async fn give(self, handed: HandedRun, store: &dyn Store) {
        if let Err(handed) = self.reply.send(Box::new(handed))
            && let Err(err) = store.release(&handed.run.lease).await
        {
            tracing::warn!(run_id = %handed.run.lease.run_id, error = %err, "could not put a handed-over run back in the queue; its lease will expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_recently_idle_worker_is_taken_first() {
        let idle = IdleWorkers::default();
        let _a = idle.wait("w-a", Duration::from_secs(30));
        let _b = idle.wait("w-b", Duration::from_secs(30));
        assert_eq!(idle.take().expect("b").worker, "w-b");
        assert_eq!(idle.take().expect("a").worker, "w-a");
        assert!(idle.take().is_none());
    }

    #[test]
    fn a_withdrawn_worker_is_not_taken() {
        let idle = IdleWorkers::default();
        let ticket = idle.wait("w-a", Duration::from_secs(30));
        assert!(idle.withdraw(&ticket));
        assert!(idle.take().is_none());
    }

    #[test]
    fn a_worker_taken_before_it_withdraws_learns_it_must_wait_for_the_run() {
        let idle = IdleWorkers::default();
        let mut ticket = idle.wait("w-a", Duration::from_secs(30));
        let handoff = idle.take().expect("taken");
        assert!(!idle.withdraw(&ticket), "already taken");
        // No run came of it (the create failed): the worker hears so instead of waiting forever.
        drop(handoff);
        assert!(ticket.run.try_recv().is_err());
    }

    fn store() -> Arc<dyn Store> {
        let cipher = forage_store::SecretCipher::from_key(&[3; 32]);
        Arc::new(forage_store::SqliteStore::open_in_memory(cipher).expect("store"))
    }

    fn new_run() -> NewRun {
        let id = forage_api::RunId::generate();
        NewRun {
            interaction_id: forage_api::InteractionId::for_run(&id),
            id,
            owner: "owner".into(),
            processor: "lite".parse().expect("processor"),
            request: serde_json::from_value(serde_json::json!({"input": "q", "processor": "lite"}))
                .expect("request"),
            warnings: Vec::new(),
            created_at: chrono::Utc::now(),
        }
    }

    #[tokio::test]
    async fn the_taken_worker_receives_the_run_it_was_created_for() {
        let store = store();
        let idle = IdleWorkers::default();
        let ticket = idle.wait("w-a", Duration::from_secs(30));
        let new = new_run();
        let id = new.id.clone();
        let signals = RunSignals::new(store.as_ref());
        let record = idle
            .take()
            .expect("taken")
            .create(store, &signals, new, RunCaps::NONE)
            .await;
        assert_eq!(record.expect("created").id, id);
        let handed = ticket.run.await.expect("handed over");
        assert_eq!(handed.run.record.id, id);
        assert_eq!(handed.run.lease.run_id, id);
    }

    /// The request that created the run went away mid-write: the worker still gets the run.
    #[tokio::test]
    async fn a_creating_request_that_goes_away_does_not_strand_the_run() {
        let store = store();
        let idle = IdleWorkers::default();
        let ticket = idle.wait("w-a", Duration::from_secs(30));
        let new = new_run();
        let id = new.id.clone();
        let signals = RunSignals::new(store.as_ref());
        let creating = idle
            .take()
            .expect("taken")
            .create(store, &signals, new, RunCaps::NONE);
        // Polled once (the write starts), then dropped as a disconnected client's handler is.
        let _ = tokio::time::timeout(Duration::ZERO, creating).await;
        let handed = ticket.run.await.expect("handed over all the same");
        assert_eq!(handed.run.record.id, id);
    }

    /// A run handed to a worker that stopped meanwhile is not lost: it is queued again.
    #[tokio::test]
    async fn a_run_for_a_worker_that_stopped_goes_back_to_the_queue() {
        let store = store();
        let idle = IdleWorkers::default();
        let ticket = idle.wait("w-a", Duration::from_secs(30));
        let handoff = idle.take().expect("taken");
        drop(ticket);
        let new = new_run();
        let id = new.id.clone();
        let signals = RunSignals::new(store.as_ref());
        handoff
            .create(store.clone(), &signals, new, RunCaps::NONE)
            .await
            .expect("created");
        let run = store.get_run(&id).await.expect("get").expect("run");
        assert_eq!(run.status, forage_api::RunStatus::Queued);
        let again = store
            .lease_next("w-b", Duration::from_secs(30))
            .await
            .expect("lease")
            .expect("queued again");
        assert_eq!(again.record.id, id);
    }

    /// A cancel that comes after the run is written but before its worker looks wakes the
    /// watch handed over with the run.
    #[tokio::test]
    async fn the_handed_watch_sees_a_cancel_sent_before_the_worker_looks() {
        let store = store();
        let signals = RunSignals::new(store.as_ref());
        let idle = IdleWorkers::default();
        let ticket = idle.wait("w-a", Duration::from_secs(30));
        let new = new_run();
        let id = new.id.clone();
        idle.take()
            .expect("taken")
            .create(store.clone(), &signals, new, RunCaps::NONE)
            .await
            .expect("created");
        let cancelled = store.cancel_run(&id).await.expect("cancel");
        assert_eq!(cancelled.status, forage_api::RunStatus::Cancelling);
        let mut handed = ticket.run.await.expect("handed over");
        // The watch saw the run start too; the cancel comes after.
        let cancel_seen = async {
            while handed.watch.changed().await.status != Some(forage_api::RunStatus::Cancelling) {}
        };
        tokio::time::timeout(Duration::from_secs(5), cancel_seen)
            .await
            .expect("the watch wakes for the cancel");
    }

    #[test]
    fn a_worker_that_stopped_is_skipped() {
        let idle = IdleWorkers::default();
        let _live = idle.wait("w-live", Duration::from_secs(30));
        drop(idle.wait("w-gone", Duration::from_secs(30)));
        assert_eq!(idle.take().expect("live").worker, "w-live");
    }
}
