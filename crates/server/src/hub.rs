//! One producer per watched run: a feed keyed by run id, created by its first watcher and
//! dropped with its last, whose task reads the run's new events from the store each time the
//! run's signal says its log grew, and fans them out to every watcher over a bounded broadcast.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use forage_api::{RunEvent, RunId, RunStatus, TaskOutput};
use forage_store::{EventRecord, RunRecord, Store};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::signals::{RunSignals, RunWatch};

/// Items buffered per feed for slow watchers (beyond this they lag and catch up from the store).
const CAPACITY: usize = 16;
/// Events read from the store at once.
const PAGE: usize = 256;

/// One fanned-out log entry; a final status carries the run as it ended (and its output).
#[derive(Debug)]
pub struct FeedItem {
    pub event: EventRecord,
    pub ended: Option<(RunRecord, Option<TaskOutput>)>,
}

/// The live feeds, by run.
pub struct Hub {
    feeds: Mutex<Feeds>,
    signals: Arc<RunSignals>,
    /// Store reads the producers made (for tests and metrics).
    reads: AtomicU64,
}

/// Feeds by run; entries of ended feeds are swept out once the map has doubled since the last
/// sweep (not on every new feed, which would cost a pass over every feed each time).
#[derive(Default)]
struct Feeds {
    by_run: HashMap<RunId, Weak<Feed>>,
    sweep_at: usize,
}

/// A run's feed; its producer stops when the last watcher drops it.
pub struct Feed {
    tx: broadcast::Sender<Arc<FeedItem>>,
    /// The furthest a watcher has read on its own: the producer need not read before it.
    hint: AtomicU64,
    stop: CancellationToken,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Feed {
    /// A watcher has read the log up to `seq` itself.
    pub fn read_up_to(&self, seq: u64) {
        self.hint.fetch_max(seq, Ordering::SeqCst);
    }
}

/// A watcher's handle: keeps the feed alive and receives its items.
pub struct Subscription {
    pub feed: Arc<Feed>,
    pub rx: broadcast::Receiver<Arc<FeedItem>>,
}

impl Hub {
    /// A hub whose producers learn of new events from `signals`.
    pub fn new(signals: Arc<RunSignals>) -> Hub {
        Hub {
            feeds: Mutex::default(),
            signals,
            reads: AtomicU64::new(0),
        }
    }

    /// Joins the run's feed, starting its producer if this is the first watcher.
    pub fn subscribe(self: &Arc<Self>, store: &Arc<dyn Store>, run: &RunId) -> Subscription {
        // Watch the run before the feed exists, so no append is missed.
        let watch = self.signals.watch(run);
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(feed) = feeds.by_run.get(run).and_then(Weak::upgrade) {
            let rx = feed.tx.subscribe();
            return Subscription { feed, rx };
        }
        let (tx, rx) = broadcast::channel(CAPACITY);
        let feed = Arc::new(Feed {
            tx,
            hint: AtomicU64::new(0),
            stop: CancellationToken::new(),
        });
        if feeds.by_run.len() >= feeds.sweep_at {
            feeds.by_run.retain(|_, weak| weak.strong_count() > 0);
            feeds.sweep_at = (feeds.by_run.len() * 2).max(64);
        }
        feeds.by_run.insert(run.clone(), Arc::downgrade(&feed));
        drop(feeds);
        tokio::spawn(produce(
            self.clone(),
            store.clone(),
            run.clone(),
            Arc::downgrade(&feed),
            feed.stop.clone(),
            watch,
        ));
        Subscription { feed, rx }
    }

    /// Feeds alive now.
    pub fn live_feeds(&self) -> usize {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds
            .by_run
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Store reads made by all producers so far.
    pub fn producer_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

async fn produce(
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    run: RunId,
    feed: Weak<Feed>,
    stop: CancellationToken,
    mut watch: RunWatch,
) {
    let mut cursor = 0u64;
    let mut missed = 0;
    loop {
        // Wait for the log to grow past the cursor (or for missed notices: read anyway).
        tokio::select! {
            _ = stop.cancelled() => return,
            pulse = watch.changed() => {
                if pulse.events_seq <= cursor && pulse.missed == missed {
                    continue;
                }
                missed = pulse.missed;
            }
        }
        let Some(live) = feed.upgrade() else { return };
        cursor = cursor.max(live.hint.load(Ordering::SeqCst));
        let tx = live.tx.clone();
        drop(live);
        loop {
            hub.reads.fetch_add(1, Ordering::Relaxed);
            let page = match store.events_after(&run, cursor, PAGE).await {
                Ok(page) => page,
                Err(err) => {
                    tracing::warn!(run_id = %run, error = %err, "event feed could not read the log; watchers catch up themselves");
                    break;
                }
            };
            let full = page.len() == PAGE;
            for event in page {
                cursor = event.seq;
                let ended = match &event.event {
                    RunEvent::Status { status } if status.is_final() => {
                        ended(store.as_ref(), &run, *status).await
                    }
                    _ => None,
                };
                // No watcher right now is fine: the feed is about to go.
                let _ = tx.send(Arc::new(FeedItem { event, ended }));
            }
            if !full {
                break;
            }
        }
    }
}

/// The run as it ended, read once for every watcher.
async fn ended(
    store: &dyn Store,
    run: &RunId,
    status: RunStatus,
) -> Option<(RunRecord, Option<TaskOutput>)> {
    let record = store.get_run(run).await.ok().flatten()?;
    let output = if status == RunStatus::Completed {
        store.get_output(run).await.ok().flatten()
    } else {
        None
    };
    Some((record, output))
}
