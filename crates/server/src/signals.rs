//! Per-run change signals: one task reads the store's notices and wakes only the watchers of
//! the run a notice is about (result long-polls, event feeds, cancel watchers), so a notice
//! costs one map lookup instead of waking every watcher of every run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use forage_api::{RunId, RunStatus};
use forage_store::{Notice, Store};
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::sync::watch;

/// What is known of a run's latest changes; watchers read the store for the details.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pulse {
    /// The status of the latest status change, if one was seen.
    pub status: Option<RunStatus>,
    /// The highest event sequence number seen appended to the run's log.
    pub events_seq: u64,
    /// Grows when notices were missed: anything may have changed, read the store again.
    pub missed: u64,
}

/// The signals of every watched run, by run.
pub struct RunSignals {
    runs: Arc<Registry>,
    /// The store's notices, taken by the routing task when the first watcher arrives (it needs
    /// a runtime to run on); subscribed at construction so that nothing is missed before.
    pending: Mutex<Option<Receiver<Notice>>>,
}

#[derive(Default)]
struct Registry {
    signals: Mutex<HashMap<RunId, Weak<Signal>>>,
}

/// One run's signal; removed from the registry when its last watcher is dropped.
struct Signal {
    run: RunId,
    tx: watch::Sender<Pulse>,
    registry: Weak<Registry>,
}

impl Drop for Signal {
    fn drop(&mut self) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let mut signals = lock(&registry.signals);
        // A new watcher may have put a fresh signal in this one's place meanwhile.
        if signals
            .get(&self.run)
            .is_some_and(|weak| weak.strong_count() == 0)
        {
            signals.remove(&self.run);
        }
    }
}

/// A watcher's view of one run's signal.
pub struct RunWatch {
    _signal: Arc<Signal>,
    rx: watch::Receiver<Pulse>,
}

impl RunWatch {
    /// The pulse as it is now.
    pub fn now(&self) -> Pulse {
        *self.rx.borrow()
    }

    /// Waits for the next change and returns the pulse as it is then. Never returns once the
    /// store is gone (nothing will change any more).
    pub async fn changed(&mut self) -> Pulse {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        *self.rx.borrow_and_update()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl RunSignals {
    pub fn new(store: &dyn Store) -> RunSignals {
        RunSignals {
            runs: Arc::default(),
            pending: Mutex::new(Some(store.notices())),
        }
    }

    /// Starts watching `run`: changes from now on wake the returned watch.
    pub fn watch(&self, run: &RunId) -> RunWatch {
        if let Some(notices) = lock(&self.pending).take() {
            tokio::spawn(route(Arc::downgrade(&self.runs), notices));
        }
        let mut signals = lock(&self.runs.signals);
        let signal = match signals.get(run).and_then(Weak::upgrade) {
            Some(signal) => signal,
            None => {
                let signal = Arc::new(Signal {
                    run: run.clone(),
                    tx: watch::Sender::new(Pulse::default()),
                    registry: Arc::downgrade(&self.runs),
                });
                signals.insert(run.clone(), Arc::downgrade(&signal));
                signal
            }
        };
        drop(signals);
        let rx = signal.tx.subscribe();
        RunWatch {
            _signal: signal,
            rx,
        }
    }

    /// Runs watched now.
    pub fn watched(&self) -> usize {
        lock(&self.runs.signals).len()
    }
}

/// Routes each notice to its run's signal; after missed notices, wakes every signal.
async fn route(registry: Weak<Registry>, mut notices: Receiver<Notice>) {
    loop {
        let notice = notices.recv().await;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let (run, change): (RunId, &dyn Fn(&mut Pulse)) = match notice {
            Ok(Notice::RunChanged { run_id, status }) => {
                (run_id, &move |p: &mut Pulse| p.status = Some(status))
            }
            Ok(Notice::EventsAppended { run_id, seq }) => (run_id, &move |p: &mut Pulse| {
                p.events_seq = p.events_seq.max(seq)
            }),
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => {
                let signals: Vec<Arc<Signal>> = lock(&registry.signals)
                    .values()
                    .filter_map(Weak::upgrade)
                    .collect();
                for signal in signals {
                    signal.tx.send_modify(|p| p.missed += 1);
                }
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let signal = lock(&registry.signals).get(&run).and_then(Weak::upgrade);
        if let Some(signal) = signal {
            signal.tx.send_modify(change);
        }
    }
}
