//! Generation slots: long-lived threads, at most one per concurrent generation, each owning its
//! llama.cpp context (created on that thread from the shared model) and the list of tokens
//! whose KV entries the context holds. A request waits for a free slot, then takes the idle one
//! whose cache shares the longest prefix with its prompt, so that the next turn of a run
//! evaluates only what is new. A generation that panics leaves its slot starting afresh; a slot
//! whose thread is gone is replaced by a new one.

use std::cmp::Reverse;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use super::error::LocalError;
use super::generate::{Generation, Job, SlotContext, common_prefix};

/// What a slot thread runs its jobs on: the slot's context.
pub(crate) trait Worker {
    fn run(
        &mut self,
        job: Job,
        cancel: &CancellationToken,
        started: Instant,
    ) -> Result<Generation, LocalError>;
    /// The tokens whose KV entries are cached, in order.
    fn cached(&self) -> &[LlamaToken];
    /// Forgets everything (after a panic left the state unknown).
    fn reset(&mut self);
}

impl Worker for SlotContext<'_> {
    fn run(
        &mut self,
        job: Job,
        cancel: &CancellationToken,
        started: Instant,
    ) -> Result<Generation, LocalError> {
        SlotContext::run(self, job, cancel, started)
    }

    fn cached(&self) -> &[LlamaToken] {
        SlotContext::cached(self)
    }

    fn reset(&mut self) {
        SlotContext::reset(self)
    }
}

/// Starts the thread of a new slot.
type Starter = dyn Fn(SlotThread) -> std::io::Result<()> + Send + Sync;

/// The generation slots of one model, and the bound on how many generations run at once.
pub(crate) struct Slots {
    pool: Arc<Pool>,
    permits: Arc<Semaphore>,
    /// Generations running now.
    running: Arc<AtomicUsize>,
    /// Slot threads alive.
    live: Arc<AtomicUsize>,
    max_slots: usize,
    /// The threads one generation uses when it runs alone.
    threads: usize,
    next_id: AtomicUsize,
    start: Box<Starter>,
}

/// The idle slots. A busy slot is in none of them: it comes back when its job is done.
struct Pool {
    idle: Mutex<Vec<Idle>>,
}

/// An idle slot: its queue of work and what its cache holds.
struct Idle {
    queue: mpsc::Sender<Work>,
    cached: Vec<LlamaToken>,
}

/// One job for a slot thread, with what the slot gives back when it is done.
pub(crate) struct Work {
    job: Job,
    cancel: CancellationToken,
    started: Instant,
    reply: oneshot::Sender<Result<Generation, LocalError>>,
    pool: Arc<Pool>,
    /// The slot's own queue, returned to the pool with it.
    queue: mpsc::Sender<Work>,
    /// Released once the slot is idle again, so the next request finds it.
    permit: OwnedSemaphorePermit,
    running: Running,
}

/// What the thread of a new slot gets: its id, its queue of work and its place in the count of
/// live slots.
pub(crate) struct SlotThread {
    id: usize,
    jobs: mpsc::Receiver<Work>,
    _live: Live,
}

impl SlotThread {
    pub(crate) fn id(&self) -> usize {
        self.id
    }

    /// Runs the slot's jobs on `worker` until the provider is dropped.
    pub(crate) fn serve<W: Worker>(self, worker: &mut W) {
        while let Ok(work) = self.jobs.recv() {
            let Work {
                job,
                cancel,
                started,
                reply,
                pool,
                queue,
                permit,
                running,
            } = work;
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                worker.run(job, &cancel, started)
            }))
            .unwrap_or_else(|payload| {
                worker.reset();
                let message = panic_message(payload.as_ref());
                tracing::error!(slot = self.id, %message, "local generation panicked; the slot starts afresh");
                Err(LocalError::Generation(format!(
                    "the generation failed unexpectedly: {message}"
                )))
            });
            drop(running);
            let cached = worker.cached().to_vec();
            lock(&pool.idle).push(Idle { queue, cached });
            drop(pool);
            drop(permit);
            // The caller may be gone (it gave up); the slot serves the next one all the same.
            let _ = reply.send(result);
        }
        tracing::debug!(slot = self.id, "generation slot stopped");
    }
}

impl Slots {
    /// Slots that run generations on `model`: at most `max_slots` at once, sharing `threads`.
    pub(crate) fn for_model(model: Arc<LlamaModel>, max_slots: usize, threads: usize) -> Slots {
        let context_lock = Arc::new(Mutex::new(()));
        let start = move |slot: SlotThread| {
            let model = model.clone();
            let context_lock = context_lock.clone();
            std::thread::Builder::new()
                .name(format!("forage-llm-slot-{}", slot.id()))
                .spawn(move || {
                    let mut context = SlotContext::new(slot.id(), &model, &context_lock);
                    slot.serve(&mut context);
                })
                .map(|_| ())
        };
        Slots::new(max_slots, threads, Box::new(start))
    }

    fn new(max_slots: usize, threads: usize, start: Box<Starter>) -> Slots {
        let max_slots = max_slots.max(1);
        Slots {
            pool: Arc::new(Pool {
                idle: Mutex::new(Vec::new()),
            }),
            permits: Arc::new(Semaphore::new(max_slots)),
            running: Arc::new(AtomicUsize::new(0)),
            live: Arc::new(AtomicUsize::new(0)),
            max_slots,
            threads: threads.max(1),
            next_id: AtomicUsize::new(0),
            start,
        }
    }

    /// Waits for a free slot; `None` when the slots were shut down.
    pub(crate) async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Runs `job` on the idle slot whose cache shares the longest prefix with its prompt.
    /// Dropping the future does not stop the generation: cancel `cancel` for that.
    pub(crate) async fn run(
        &self,
        permit: OwnedSemaphorePermit,
        mut job: Job,
        cancel: CancellationToken,
        started: Instant,
    ) -> Result<Generation, LocalError> {
        let running = Running::start(&self.running);
        // Generations running at once share the threads rather than oversubscribe the cores.
        job.threads = (self.threads / running.count).max(1);
        let slot = self.take(&job.prompt, job.prompt_cache)?;
        let (reply, answer) = oneshot::channel();
        let work = Work {
            job,
            cancel,
            started,
            reply,
            pool: self.pool.clone(),
            queue: slot.queue.clone(),
            permit,
            running,
        };
        if let Err(mpsc::SendError(mut work)) = slot.queue.send(work) {
            // That slot's thread is gone: a new slot takes the job.
            drop(slot);
            let fresh = self.spawn(Live::join(&self.live))?;
            work.queue = fresh.queue.clone();
            fresh.queue.send(work).map_err(|_| stopped())?;
        }
        answer.await.map_err(|_| stopped())?
    }

    /// Removes from the pool the slot for `prompt`. An idle slot that loses no more of its
    /// cache than the prompt reuses (the next turn of its run, or an empty slot) is taken, the
    /// one sharing the longest prefix first. Otherwise a new slot starts while fewer than
    /// `max_slots` exist, so that other runs keep their caches; failing that, the idle slot
    /// sharing the longest prefix (among equals, the one holding least) is taken.
    fn take(&self, prompt: &[LlamaToken], prompt_cache: bool) -> Result<Idle, LocalError> {
        let mut idle = lock(&self.pool.idle);
        let shared_with = |slot: &Idle| {
            if prompt_cache {
                common_prefix(&slot.cached, prompt)
            } else {
                0
            }
        };
        // The best idle slot; with `worth_only`, among those losing no more than is reused.
        let pick = |worth_only: bool| {
            idle.iter()
                .enumerate()
                .map(|(i, slot)| (i, shared_with(slot), slot.cached.len()))
                .filter(|&(_, shared, held)| !worth_only || 2 * shared >= held)
                .max_by_key(|&(_, shared, held)| (shared, Reverse(held)))
                .map(|(i, _, _)| i)
        };
        let may_start = self.live.load(Ordering::SeqCst) < self.max_slots;
        let chosen = pick(true).or_else(|| if may_start { None } else { pick(false) });
        match chosen {
            Some(i) => Ok(idle.swap_remove(i)),
            None => {
                let live = Live::join(&self.live);
                drop(idle);
                self.spawn(live)
            }
        }
    }

    fn spawn(&self, live: Live) -> Result<Idle, LocalError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (queue, jobs) = mpsc::channel();
        (self.start)(SlotThread {
            id,
            jobs,
            _live: live,
        })
        .map_err(|e| LocalError::Generation(format!("could not start a generation thread: {e}")))?;
        tracing::debug!(slot = id, "generation slot started");
        Ok(Idle {
            queue,
            cached: Vec::new(),
        })
    }
}

fn stopped() -> LocalError {
    LocalError::Generation("the generation thread stopped unexpectedly".into())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Counts a generation as running until dropped.
struct Running {
    counter: Arc<AtomicUsize>,
    /// Generations running when this one started, itself included.
    count: usize,
}

impl Running {
    fn start(counter: &Arc<AtomicUsize>) -> Running {
        let count = counter.fetch_add(1, Ordering::SeqCst) + 1;
        Running {
            counter: counter.clone(),
            count,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a slot thread as alive until dropped (when the thread stops serving).
struct Live(Arc<AtomicUsize>);

impl Live {
    fn join(counter: &Arc<AtomicUsize>) -> Live {
        counter.fetch_add(1, Ordering::SeqCst);
        Live(counter.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::local::generate::{Finish, GenerationStats};

    /// Stands in for a slot's context: "caches" each prompt and answers which slot ran it.
    struct Fake {
        id: usize,
        cached: Vec<LlamaToken>,
        /// Makes `cached` panic once (outside the guarded generation: the thread dies).
        die: Arc<AtomicBool>,
    }

    impl Worker for Fake {
        fn run(
            &mut self,
            job: Job,
            _cancel: &CancellationToken,
            _started: Instant,
        ) -> Result<Generation, LocalError> {
            if job.max_output_tokens == 0 {
                panic!("boom");
            }
            let reused = common_prefix(&self.cached, &job.prompt);
            self.cached = job.prompt;
            Ok(Generation {
                text: format!("slot {}", self.id),
                finish: Finish::Stop,
                stats: GenerationStats {
                    cached_prompt_tokens: reused,
                    threads: job.threads,
                    ..GenerationStats::default()
                },
            })
        }

        fn cached(&self) -> &[LlamaToken] {
            if self.die.swap(false, Ordering::SeqCst) {
                panic!("slot thread dies");
            }
            &self.cached
        }

        fn reset(&mut self) {
            self.cached.clear();
        }
    }

    fn slots(max: usize, die: Arc<AtomicBool>) -> Slots {
        let start = move |slot: SlotThread| {
            let die = die.clone();
            std::thread::Builder::new()
                .spawn(move || {
                    let mut fake = Fake {
                        id: slot.id(),
                        cached: Vec::new(),
                        die,
                    };
                    slot.serve(&mut fake);
                })
                .map(|_| ())
        };
        Slots::new(max, 4, Box::new(start))
    }

    fn job(prompt: &[i32], max_output_tokens: u32) -> Job {
        Job {
            prompt: prompt.iter().map(|&t| LlamaToken(t)).collect(),
            matcher: None,
            max_output_tokens,
            temperature: None,
            threads: 0,
            context_tokens: 64,
            prompt_cache: true,
        }
    }

    async fn run(slots: &Slots, job: Job) -> Result<Generation, LocalError> {
        let permit = slots.acquire().await.expect("permit");
        slots
            .run(permit, job, CancellationToken::new(), Instant::now())
            .await
    }

    #[tokio::test]
    async fn a_request_goes_to_the_slot_holding_its_prefix() {
        let slots = slots(2, Arc::default());
        let a = run(&slots, job(&[1, 2, 3], 1)).await.unwrap();
        let b = run(&slots, job(&[7, 8], 1)).await.unwrap();
        assert_ne!(a.text, b.text, "an unrelated prompt starts a second slot");
        let a2 = run(&slots, job(&[1, 2, 3, 4], 1)).await.unwrap();
        assert_eq!(a2.text, a.text);
        assert_eq!(a2.stats.cached_prompt_tokens, 3);
        let b2 = run(&slots, job(&[7, 8, 9], 1)).await.unwrap();
        assert_eq!(b2.text, b.text);
        assert_eq!(b2.stats.cached_prompt_tokens, 2);
        // Both slots exist: an unrelated prompt takes one of them (the one holding least).
        let c = run(&slots, job(&[5], 1)).await.unwrap();
        assert_eq!(c.text, b.text);
        assert_eq!(c.stats.cached_prompt_tokens, 0);
        assert_eq!(slots.live.load(Ordering::SeqCst), 2);
        assert_eq!(
            c.stats.threads, 4,
            "a generation alone gets all the threads"
        );
    }

    #[tokio::test]
    async fn a_small_overlap_starts_a_new_slot_while_one_may_start() {
        let slots = slots(2, Arc::default());
        let a = run(&slots, job(&[1, 2, 3, 4, 5, 6, 7, 8], 1))
            .await
            .unwrap();
        // Taking the first slot would cost its run most of its cache.
        let b = run(&slots, job(&[1, 2, 9], 1)).await.unwrap();
        assert_ne!(a.text, b.text);
        assert_eq!(b.stats.cached_prompt_tokens, 0);
        // A slot losing no more than is reused is taken.
        let c = run(&slots, job(&[1, 2, 3, 7], 1)).await.unwrap();
        assert_eq!(
            (c.text.as_str(), c.stats.cached_prompt_tokens),
            (b.text.as_str(), 2)
        );
        let d = run(&slots, job(&[1, 2, 3, 4, 5, 7], 1)).await.unwrap();
        assert_eq!(
            (d.text.as_str(), d.stats.cached_prompt_tokens),
            (a.text.as_str(), 5)
        );
        // Every slot started and none worth taking: the longest prefix, then the least held.
        let e = run(&slots, job(&[1, 6], 1)).await.unwrap();
        assert_eq!(
            (e.text.as_str(), e.stats.cached_prompt_tokens),
            (b.text.as_str(), 1)
        );
        assert_eq!(slots.live.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn without_the_cache_the_prefix_does_not_choose() {
        let slots = slots(1, Arc::default());
        run(&slots, job(&[1, 2, 3], 1)).await.unwrap();
        let mut second = job(&[1, 2, 3, 4], 1);
        second.prompt_cache = false;
        // The slot is taken all the same; the worker is told not to reuse (here: it ignores it).
        assert!(run(&slots, second).await.is_ok());
        assert_eq!(slots.live.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_panicking_generation_fails_and_its_slot_starts_afresh() {
        let slots = slots(1, Arc::default());
        run(&slots, job(&[1, 2, 3], 1)).await.unwrap();
        let err = run(&slots, job(&[1, 2, 3, 4], 0)).await.unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        let next = run(&slots, job(&[1, 2, 3, 4], 1)).await.unwrap();
        assert_eq!(
            next.stats.cached_prompt_tokens, 0,
            "the cache was forgotten"
        );
        assert_eq!(next.text, "slot 0");
    }

    #[tokio::test]
    async fn a_slot_whose_thread_died_is_replaced() {
        let die = Arc::new(AtomicBool::new(false));
        let slots = slots(1, die.clone());
        run(&slots, job(&[1, 2], 1)).await.unwrap();
        die.store(true, Ordering::SeqCst);
        let err = run(&slots, job(&[1, 2, 3], 1)).await.unwrap_err();
        assert!(err.to_string().contains("stopped unexpectedly"), "{err}");
        let next = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            run(&slots, job(&[1, 2, 3], 1)),
        )
        .await
        .expect("no hang")
        .unwrap();
        assert_eq!(next.text, "slot 1");
        // The dead thread leaves the count when its unwinding ends, which may trail the reply.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while slots.live.load(Ordering::SeqCst) != 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(slots.live.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_thread_that_never_started_serving_is_replaced() {
        let started = Arc::new(AtomicUsize::new(0));
        let counter = started.clone();
        // The first slot's thread is gone before its first job arrives.
        let start = move |slot: SlotThread| {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                drop(slot);
                return Ok(());
            }
            std::thread::Builder::new()
                .spawn(move || {
                    let mut fake = Fake {
                        id: slot.id(),
                        cached: Vec::new(),
                        die: Arc::default(),
                    };
                    slot.serve(&mut fake);
                })
                .map(|_| ())
        };
        let slots = Slots::new(1, 1, Box::new(start));
        let out = run(&slots, job(&[1], 1)).await.unwrap();
        assert_eq!(out.text, "slot 1");
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }
}
