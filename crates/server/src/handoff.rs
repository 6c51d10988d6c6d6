//! Idle workers waiting for a run: a new run is leased to one of them in the write that creates
//! it and handed over directly, instead of being announced to the pool and leased in a second
//! write.

use std::sync::Mutex;
use std::time::Duration;

use forage_store::{LeasedRun, Store};
use tokio::sync::oneshot;

/// The workers that found the queue empty and wait, most recently idle last.
#[derive(Default)]
pub struct IdleWorkers {
    waiting: Mutex<Vec<Waiting>>,
}

struct Waiting {
    ticket: u64,
    worker: String,
    lease: Duration,
    reply: oneshot::Sender<LeasedRun>,
}

/// A worker's place among the idle ones, and where its run arrives.
pub struct IdleTicket {
    ticket: u64,
    pub run: oneshot::Receiver<LeasedRun>,
}

/// An idle worker taken for one new run: lease the run to `worker` for `lease`, then `give` it.
pub struct Handoff {
    pub worker: String,
    pub lease: Duration,
    reply: oneshot::Sender<LeasedRun>,
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
    /// Hands the run to the worker. A worker that stopped meanwhile cannot take it: the run goes
    /// back to the queue.
    pub async fn give(self, run: LeasedRun, store: &dyn Store) {
        if let Err(run) = self.reply.send(run)
            && let Err(err) = store.release(&run.lease).await
        {
            tracing::warn!(run_id = %run.lease.run_id, error = %err, "could not put a handed-over run back in the queue; its lease will expire");
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

    /// A run handed to a worker that stopped meanwhile is not lost: it is queued again.
    #[tokio::test]
    async fn a_run_for_a_worker_that_stopped_goes_back_to_the_queue() {
        use forage_api::{InteractionId, RunId, RunStatus};
        use forage_store::{NewRun, SecretCipher, SqliteStore};

        let store = SqliteStore::open_in_memory(SecretCipher::from_key(&[3; 32])).expect("store");
        let idle = IdleWorkers::default();
        let ticket = idle.wait("w-a", Duration::from_secs(30));
        let handoff = idle.take().expect("taken");
        let id = RunId::generate();
        let new = NewRun {
            interaction_id: InteractionId::for_run(&id),
            id: id.clone(),
            owner: "owner".into(),
            processor: "lite".parse().expect("processor"),
            request: serde_json::from_value(serde_json::json!({"input": "q", "processor": "lite"}))
                .expect("request"),
            warnings: Vec::new(),
            created_at: chrono::Utc::now(),
        };
        let (_, leased) = store
            .create_run_leased(new, &handoff.worker, handoff.lease)
            .await
            .expect("create");
        drop(ticket);
        handoff.give(leased.expect("leased"), &store).await;
        let run = store.get_run(&id).await.expect("get").expect("run");
        assert_eq!(run.status, RunStatus::Queued);
        let again = store
            .lease_next("w-b", Duration::from_secs(30))
            .await
            .expect("lease")
            .expect("queued again");
        assert_eq!(again.record.id, id);
    }

    #[test]
    fn a_worker_that_stopped_is_skipped() {
        let idle = IdleWorkers::default();
        let _live = idle.wait("w-live", Duration::from_secs(30));
        drop(idle.wait("w-gone", Duration::from_secs(30)));
        assert_eq!(idle.take().expect("live").worker, "w-live");
    }
}
