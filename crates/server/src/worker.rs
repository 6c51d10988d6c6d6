//! The worker pool: leases queued runs from the store, executes them with the engine while
//! heartbeating the lease, records the outcome; drains on shutdown (release = back to queued).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use forage_api::{InteractionId, Processor};
use forage_engine::{Engine, Resume, RunJob};
use forage_store::{LeasedRun, Notice, Store};
use futures::FutureExt;
use tokio::sync::Notify;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::handoff::{HandedRun, IdleWorkers};
use crate::outcome::{panic_text, panicked, to_run_outcome};
use crate::signals::{RunSignals, RunWatch};
use crate::sink::StoreSink;

/// How the pool runs.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub workers: usize,
    pub lease: Duration,
    /// Prefix of worker ids (one per node).
    pub node: String,
}

/// Running workers and the two signals that stop them.
pub struct WorkerPool {
    tasks: JoinSet<()>,
    /// Stop leasing new runs.
    stop: CancellationToken,
    /// Cancel the runs in flight.
    abort: CancellationToken,
}

/// One run's execution by a worker.
type Execution<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

struct Worker {
    id: String,
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    lease: Duration,
    stop: CancellationToken,
    abort: CancellationToken,
    /// Wakes one idle worker per queued run (not all of them).
    queued: Arc<Notify>,
    /// Tells a running run's cancel watcher that its run changed.
    signals: Arc<RunSignals>,
    /// Where an idle worker waits for a run handed over at its creation.
    idle: Arc<IdleWorkers>,
}

impl WorkerPool {
    pub fn start(
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        signals: Arc<RunSignals>,
        idle: Arc<IdleWorkers>,
        settings: &WorkerSettings,
    ) -> WorkerPool {
        let stop = CancellationToken::new();
        let abort = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let queued = Arc::new(Notify::new());
        tasks.spawn(forward_queued(
            store.notices(),
            queued.clone(),
            stop.clone(),
        ));
        for n in 0..settings.workers.max(1) {
            let worker = Worker {
                id: format!("{}-w{n}", settings.node),
                store: store.clone(),
                engine: engine.clone(),
                lease: settings.lease,
                stop: stop.clone(),
                abort: abort.clone(),
                queued: queued.clone(),
                signals: signals.clone(),
                idle: idle.clone(),
            };
            tasks.spawn(worker.run());
        }
        WorkerPool { tasks, stop, abort }
    }

    /// Stops leasing, waits up to `grace` for runs in flight, then cancels them; their leases
    /// are released (the runs go back to the queue).
    pub async fn shutdown(mut self, grace: Duration) {
        self.stop.cancel();
        let drained = tokio::time::timeout(grace, join_all(&mut self.tasks)).await;
        if drained.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "runs still in flight after the grace period; cancelling and re-queueing them"
            );
            self.abort.cancel();
            if tokio::time::timeout(Duration::from_secs(15), join_all(&mut self.tasks))
                .await
                .is_err()
            {
                tracing::error!(
                    "workers did not stop after cancellation; their leases will expire"
                );
                self.tasks.abort_all();
            }
        }
    }
}

async fn join_all(tasks: &mut JoinSet<()>) {
    while tasks.join_next().await.is_some() {}
}

impl Worker {
    async fn run(self) {
        let tick = (self.lease / 3).max(Duration::from_millis(100));
        let mut backoff = Duration::from_millis(100);
        while !self.stop.is_cancelled() {
            // A leased run goes straight into its boxed execution: this loop's state (what an
            // idle worker holds) has no room for a run.
            let leased = self
                .store
                .lease_next(&self.id, self.lease)
                .await
                .map(|leased| leased.map(|run| self.execute_in_span(run, None)));
            match leased {
                Ok(Some(execution)) => {
                    backoff = Duration::from_millis(100);
                    // More runs may be waiting (one notice can stand for several): pass the
                    // wake-up on to one more idle worker, which goes back to sleep if not.
                    self.queued.notify_one();
                    execution.await;
                    continue;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(worker = %self.id, error = %err, "could not lease a run");
                    tokio::select! {
                        _ = self.stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(tick);
                    continue;
                }
            }
            if let Some(execution) = self.wait_idle(tick).await {
                execution.await;
            }
        }
    }

    /// Waits, idle, for a run handed over at its creation, a queued-run notice, the tick, or
    /// the pool's stop. A run handed over while the worker was leaving is still taken.
    async fn wait_idle(&self, tick: Duration) -> Option<Execution<'_>> {
        let mut ticket = self.idle.wait(&self.id, self.lease);
        let notified = tokio::select! {
            run = &mut ticket.run => return run.ok().map(|handed| self.execute_handed(*handed)),
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(tick) => false,
            _ = self.queued.notified() => true,
        };
        if self.idle.withdraw(&ticket) {
            return None;
        }
        // Taken for a new run just as something else woke it: the run is on its way, and a
        // queued-run wake-up this worker will not act on goes to another idle worker.
        if notified {
            self.queued.notify_one();
        }
        let handed = ticket.run.await.ok()?;
        Some(self.execute_handed(*handed))
    }

    /// The execution of a run handed over at its creation, with the watch begun before it.
    fn execute_handed(&self, handed: HandedRun) -> Execution<'_> {
        self.execute_in_span(handed.run, Some(handed.watch))
    }

    /// The run's execution, boxed: allocated while the run runs, not held by an idle worker.
    /// `watch` is a watch on the run begun before the run was written, if there is one.
    fn execute_in_span(&self, leased: LeasedRun, watch: Option<RunWatch>) -> Execution<'_> {
        let span = tracing::info_span!("run", run_id = %leased.record.id, processor = %leased.record.processor, attempt = leased.record.attempts);
        Box::pin(self.execute(leased, watch).instrument(span))
    }

    async fn execute(&self, leased: LeasedRun, watch: Option<RunWatch>) {
        let LeasedRun {
            lease,
            record,
            request,
            checkpoint,
        } = leased;
        let run_id = record.id.clone();
        let Ok(processor) = record.processor.parse::<Processor>() else {
            self.finish(&lease, panicked("unknown processor in the stored run"))
                .await;
            return;
        };
        let previous_transcript = match &request.previous_interaction_id {
            Some(previous) => match self
                .store
                .interaction_transcript(&record.owner, &InteractionId::new(previous.clone()))
                .await
            {
                Ok(t) => t,
                Err(err) => {
                    tracing::warn!(%run_id, error = %err, "could not load the previous interaction");
                    None
                }
            },
            None => None,
        };
        let job = RunJob {
            run_id: run_id.clone(),
            processor,
            request,
            previous_transcript,
            resume: checkpoint.map(|c| Resume {
                version: c.version,
                state: c.state,
                batch: c.batch,
            }),
        };
        let sink = Arc::new(StoreSink {
            store: self.store.clone(),
            lease: lease.clone(),
        });
        let cancel = self.abort.child_token();
        let lost = Arc::new(AtomicBool::new(false));
        let cancel_requested = Arc::new(AtomicBool::new(false));
        // A watch begun only now may have missed a cancel: the store is read once to catch it.
        let (watch, read_store_first) = match watch {
            Some(watch) => (watch, false),
            None => (self.signals.watch(&run_id), true),
        };
        let watch = tokio::spawn(watch_for_cancel(
            self.store.clone(),
            watch,
            read_store_first,
            run_id.clone(),
            cancel.clone(),
            cancel_requested.clone(),
        ));
        let heartbeat = tokio::spawn(heartbeat(
            self.store.clone(),
            lease.clone(),
            self.lease,
            cancel.clone(),
            lost.clone(),
        ));
        tracing::info!(%run_id, worker = %self.id, "run started");
        let result = AssertUnwindSafe(self.engine.execute(job, sink, cancel.clone()))
            .catch_unwind()
            .await;
        heartbeat.abort();
        watch.abort();
        if lost.load(Ordering::SeqCst) {
            tracing::warn!(%run_id, "lease lost while running; another worker owns the run now, dropping this result");
            return;
        }
        let outcome = match result {
            Ok(outcome) if cancel_requested.load(Ordering::SeqCst) => {
                tracing::info!(%run_id, "run cancelled on request");
                match outcome {
                    forage_engine::EngineOutcome::Cancelled { warnings, usage }
                    | forage_engine::EngineOutcome::Failed {
                        warnings, usage, ..
                    }
                    | forage_engine::EngineOutcome::Completed {
                        warnings, usage, ..
                    } => forage_store::RunOutcome::Cancelled { warnings, usage },
                }
            }
            Ok(outcome) => {
                if self.abort.is_cancelled()
                    && matches!(outcome, forage_engine::EngineOutcome::Cancelled { .. })
                {
                    match self.store.release(&lease).await {
                        Ok(()) => tracing::info!(%run_id, "run released back to the queue"),
                        Err(err) => {
                            tracing::error!(%run_id, error = %err, "could not release the run; its lease will expire")
                        }
                    }
                    return;
                }
                to_run_outcome(outcome)
            }
            Err(payload) => {
                let what = panic_text(payload.as_ref());
                tracing::error!(%run_id, panic = %what, "run panicked");
                panicked(&what)
            }
        };
        self.finish(&lease, outcome).await;
    }

    async fn finish(&self, lease: &forage_store::Lease, outcome: forage_store::RunOutcome) {
        let run_id = &lease.run_id;
        match self.store.finish(lease, outcome).await {
            Ok(record) => tracing::info!(%run_id, status = record.status.as_str(), "run finished"),
            Err(forage_store::StoreError::LeaseLost) => {
                tracing::warn!(%run_id, "lease lost before the result was recorded; dropping it")
            }
            Err(err) => {
                tracing::error!(%run_id, error = %err, "could not record the run's outcome")
            }
        }
    }
}

/// Extends the lease every third of its length; on loss, cancels the run.
async fn heartbeat(
    store: Arc<dyn Store>,
    lease: forage_store::Lease,
    lease_for: Duration,
    cancel: CancellationToken,
    lost: Arc<AtomicBool>,
) {
    let every = (lease_for / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        match store.heartbeat(&lease, lease_for).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                cancel.cancel();
                return;
            }
            Err(err) => {
                tracing::warn!(run_id = %lease.run_id, error = %err, "lease heartbeat failed");
            }
        }
    }
}

/// Cancels the run's token once its owner asked to cancel it (its signal reports the status
/// `cancelling`; also checked in the store after missed notices, and at start when
/// `read_store_first`: the watch may have begun after the cancel).
async fn watch_for_cancel(
    store: Arc<dyn Store>,
    mut watch: RunWatch,
    read_store_first: bool,
    run_id: forage_api::RunId,
    cancel: CancellationToken,
    requested: Arc<AtomicBool>,
) {
    let mut check_store = read_store_first;
    let mut missed = 0;
    loop {
        if check_store
            && let Ok(Some(run)) = store.get_run(&run_id).await
            && run.status == forage_api::RunStatus::Cancelling
        {
            break;
        }
        let pulse = watch.changed().await;
        if pulse.status == Some(forage_api::RunStatus::Cancelling) {
            break;
        }
        check_store = pulse.missed != missed;
        missed = pulse.missed;
    }
    requested.store(true, Ordering::SeqCst);
    cancel.cancel();
}

/// Turns the store's "a run was queued" notices into wake-ups of one idle worker each; after
/// missed notices, every idle worker looks.
async fn forward_queued(
    mut notices: Receiver<Notice>,
    queued: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let notice = tokio::select! {
            _ = stop.cancelled() => return,
            notice = notices.recv() => notice,
        };
        match notice {
            Ok(Notice::RunQueued) => queued.notify_one(),
            Err(RecvError::Lagged(_)) => {
                queued.notify_waiters();
                queued.notify_one();
            }
            Ok(_) => {}
            Err(RecvError::Closed) => return,
        }
    }
}
