//! The behavioural suite of the `Store` contract, generic over the implementation so every
//! store (SQLite, PostgreSQL) runs the same cases. Each case takes a fresh, empty store.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use forage_api::{
    ErrorObject, InteractionId, ProgressKind, RunEvent, RunId, RunStatus, TaskOutput,
    TaskRunCreate, TokenUsage, Warning, WarningKind,
};
use forage_store::{
    CapReached, CheckpointPart, Lease, LeasedRun, ListQuery, NewRun, Notice, QueueDepth, RunCaps,
    RunOutcome, RunRecord, SecretCipher, Store, StoreError,
};
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::broadcast;

/// A header value that must never be stored in clear.
pub const HEADER_SECRET: &str = "Bearer sk-forage-test-3f9c2a7d51e8";
const LONG: Duration = Duration::from_secs(60);

/// The same key every time, so a reopened store reads what an earlier one sealed.
pub fn cipher() -> SecretCipher {
    SecretCipher::from_key(&[7u8; 32])
}

pub fn request(with_headers: bool) -> TaskRunCreate {
    let mut body = json!({
        "input": "What is the GDP of France?",
        "processor": "core",
        "metadata": {"customer": "acme", "priority": 2},
    });
    if with_headers {
        body["mcp_servers"] = json!([{
            "type": "url",
            "name": "crm",
            "url": "https://mcp.example.com/mcp",
            "headers": {"Authorization": HEADER_SECRET, "X-Tenant": "tenant-secret-88"}
        }]);
    }
    serde_json::from_value(body).expect("valid request")
}

pub fn new_run(owner: &str) -> NewRun {
    new_run_in(owner, None)
}

/// A run continuing `interaction` (or starting its own).
pub fn new_run_in(owner: &str, interaction: Option<&InteractionId>) -> NewRun {
    let id = RunId::generate();
    NewRun {
        interaction_id: interaction
            .cloned()
            .unwrap_or_else(|| InteractionId::for_run(&id)),
        id,
        owner: owner.to_owned(),
        processor: "core".parse().expect("processor"),
        request: request(false),
        warnings: Vec::new(),
        created_at: Utc::now(),
    }
}

pub fn output(answer: &str) -> TaskOutput {
    TaskOutput::Json {
        content: json!({"answer": answer}),
        basis: Vec::new(),
        mcp_tool_calls: None,
        output_schema: None,
        beta_fields: None,
    }
}

pub fn completed(answer: &str) -> RunOutcome {
    RunOutcome::Completed {
        output: Box::new(output(answer)),
        warnings: Vec::new(),
        usage: TokenUsage {
            input_tokens: 100,
            output_tokens: 20,
            llm_calls: 2,
        },
        transcript: json!([{"role": "assistant", "content": answer}]),
        events: Vec::new(),
    }
}

fn progress(message: impl Into<String>) -> RunEvent {
    RunEvent::Progress {
        progress: ProgressKind::Plan,
        message: message.into(),
    }
}

async fn lease(store: &Arc<dyn Store>, worker: &str) -> LeasedRun {
    store
        .lease_next(worker, LONG)
        .await
        .expect("lease_next")
        .expect("a run to lease")
}

/// Ends a lease now, as a worker that stopped heartbeating would leave it once its time ran out.
/// (A short lease with a sleep would race the store's own latency on a loaded machine.)
async fn expire(store: &Arc<dyn Store>, lease: &Lease) {
    assert!(
        store
            .heartbeat(lease, Duration::ZERO)
            .await
            .expect("heartbeat"),
        "the lease is held until it is expired"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

async fn all_events(store: &Arc<dyn Store>, run: &RunId) -> Vec<RunEvent> {
    let records = store.events_after(run, 0, 10_000).await.expect("events");
    records.into_iter().map(|r| r.event).collect()
}

/// The sequence numbers of a run's events, in order.
async fn event_numbers(store: &Arc<dyn Store>, run: &RunId) -> Vec<u64> {
    let records = store.events_after(run, 0, 10_000).await.expect("events");
    records.iter().map(|r| r.seq).collect()
}

fn status(status: RunStatus) -> RunEvent {
    RunEvent::Status { status }
}

/// Waits for a notice that `want` accepts, skipping others.
async fn expect_notice(
    rx: &mut broadcast::Receiver<Notice>,
    want: impl Fn(&Notice) -> bool,
) -> Notice {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Ok(notice)) if want(&notice) => return notice,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("notice channel closed"),
            Err(_) => panic!("no matching notice within 5 s"),
        }
    }
}

/// A created run reads back as created, in the `TaskRun` wire shape.
pub async fn create_get_round_trip(store: Arc<dyn Store>) {
    let mut new = new_run("owner-a");
    new.warnings = vec![Warning::new(
        WarningKind::InputValidationWarning,
        "input is short",
    )];
    let created = store.create_run(new.clone()).await.expect("create");
    assert_eq!(created.id, new.id);
    assert_eq!(created.status, RunStatus::Queued);
    assert_eq!(created.attempts, 0);
    assert_eq!(created.usage, TokenUsage::default());
    assert_eq!(
        created.created_at.timestamp_micros(),
        new.created_at.timestamp_micros()
    );

    let got = store.get_run(&new.id).await.expect("get").expect("stored");
    assert_eq!(got, created);

    let wire = serde_json::to_value(got.to_task_run()).expect("wire");
    assert_eq!(wire["run_id"], new.id.as_str());
    assert_eq!(wire["interaction_id"], new.id.as_str());
    assert_eq!(wire["status"], "queued");
    assert_eq!(wire["is_active"], true);
    assert_eq!(wire["processor"], "core");
    assert_eq!(wire["metadata"], json!({"customer": "acme", "priority": 2}));
    assert_eq!(wire["warnings"][0]["type"], "input_validation_warning");
    assert_eq!(wire["error"], json!(null));
    let created_at = wire["created_at"].as_str().expect("timestamp");
    assert!(
        created_at.ends_with('Z') && created_at.len() == 27,
        "{created_at}"
    );

    assert_eq!(
        all_events(&store, &new.id).await,
        [status(RunStatus::Queued)]
    );
    assert_eq!(store.get_output(&new.id).await.expect("output"), None);
    assert_eq!(store.get_run(&RunId::generate()).await.expect("get"), None);
    assert!(
        store
            .get_request(&RunId::generate())
            .await
            .expect("get")
            .is_none()
    );

    let again = store.create_run(new).await.expect_err("duplicate id");
    assert!(matches!(again, StoreError::Duplicate(_)), "{again}");
}

/// The stored request echoes with headers redacted; the leased request carries them in clear.
pub async fn request_headers_redacted_in_echo_clear_when_leased(store: Arc<dyn Store>) {
    let mut new = new_run("owner-a");
    new.request = request(true);
    store.create_run(new.clone()).await.expect("create");

    let stored = store
        .get_request(&new.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(stored, new.request, "header values come back decrypted");
    let echo = stored.to_echo().to_string();
    assert!(!echo.contains(HEADER_SECRET), "{echo}");
    assert_eq!(
        stored.to_echo()["mcp_servers"][0]["headers"]["Authorization"],
        "[redacted]"
    );

    let leased = lease(&store, "w1").await;
    let servers = leased.request.mcp_servers.as_ref().expect("servers");
    let headers = servers[0].headers.as_ref().expect("headers");
    assert_eq!(headers["Authorization"].expose(), HEADER_SECRET);
    assert_eq!(headers["X-Tenant"].expose(), "tenant-secret-88");

    // A request without headers round-trips too.
    let plain = new_run("owner-a");
    store.create_run(plain.clone()).await.expect("create");
    assert_eq!(
        store.get_request(&plain.id).await.expect("get"),
        Some(plain.request)
    );
}

/// Runs are leased oldest first, and marked running.
pub async fn lease_order_is_fifo(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for _ in 0..5 {
        let run = store.create_run(new_run("owner-a")).await.expect("create");
        ids.push(run.id);
    }
    assert_eq!(
        store.queue_depth().await.expect("depth"),
        QueueDepth {
            queued: 5,
            running: 0
        }
    );
    let mut leased = Vec::new();
    for _ in 0..5 {
        let run = lease(&store, "w1").await;
        assert_eq!(run.record.status, RunStatus::Running);
        assert_eq!(run.record.attempts, 1);
        leased.push(run.record.id);
    }
    assert_eq!(leased, ids);
    assert!(store.lease_next("w1", LONG).await.expect("lease").is_none());
    assert_eq!(
        store.queue_depth().await.expect("depth"),
        QueueDepth {
            queued: 0,
            running: 5
        }
    );
    assert_eq!(
        all_events(&store, &ids[0]).await,
        [status(RunStatus::Queued), status(RunStatus::Running)]
    );
    let stored = store.get_run(&ids[0]).await.expect("get").expect("run");
    assert_eq!(stored.status, RunStatus::Running);
}

/// Eight workers leasing from 200 queued runs lease every run exactly once.
pub async fn concurrent_workers_never_share_a_run(store: Arc<dyn Store>) {
    let mut created = BTreeSet::new();
    for _ in 0..200 {
        created.insert(
            store
                .create_run(new_run("owner-a"))
                .await
                .expect("create")
                .id,
        );
    }
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let store = Arc::clone(&store);
        workers.spawn(async move {
            let mut mine = Vec::new();
            while let Some(run) = store
                .lease_next(&format!("w{w}"), LONG)
                .await
                .expect("lease")
            {
                mine.push(run.record.id);
            }
            mine
        });
    }
    let mut leased = Vec::new();
    while let Some(mine) = workers.join_next().await {
        leased.extend(mine.expect("worker"));
    }
    assert_eq!(leased.len(), 200, "every run leased exactly once");
    let unique: BTreeSet<_> = leased.into_iter().collect();
    assert_eq!(unique, created);
}

/// A lease that expired is taken by the next worker; the first worker's lease is then lost.
pub async fn expired_lease_is_leased_again(store: Arc<dyn Store>) {
    let run = store.create_run(new_run("owner-a")).await.expect("create");
    let first = lease(&store, "w1").await;
    assert!(
        store.lease_next("w2", LONG).await.expect("lease").is_none(),
        "not expired yet"
    );
    expire(&store, &first.lease).await;

    let second = lease(&store, "w2").await;
    assert_eq!(second.record.id, run.id);
    assert_eq!(second.record.attempts, 2);
    assert_eq!(second.record.status, RunStatus::Running);
    assert_ne!(second.lease.token, first.lease.token);
    assert_eq!(
        all_events(&store, &run.id).await,
        [
            status(RunStatus::Queued),
            status(RunStatus::Running),
            RunEvent::Progress {
                progress: ProgressKind::ExecStatus,
                message: "resumed after worker restart".into()
            }
        ]
    );
    // Creating and each lease took the log's next sequence number, and appends go on from it.
    assert_eq!(event_numbers(&store, &run.id).await, [1, 2, 3]);
    assert_eq!(
        store
            .append_events(&run.id, &[progress("after the leases")])
            .await
            .expect("append"),
        4
    );

    let lost = store
        .finish(&first.lease, completed("stale"))
        .await
        .expect_err("old lease");
    assert!(matches!(lost, StoreError::LeaseLost), "{lost}");
    assert!(
        !store
            .heartbeat(&first.lease, LONG)
            .await
            .expect("heartbeat")
    );
    let lost = store.release(&first.lease).await.expect_err("old lease");
    assert!(matches!(lost, StoreError::LeaseLost), "{lost}");

    let done = store
        .finish(&second.lease, completed("fresh"))
        .await
        .expect("finish");
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(
        store.get_output(&run.id).await.expect("output"),
        Some(output("fresh"))
    );
}

/// Heartbeats keep a lease alive past its first expiry.
pub async fn heartbeat_keeps_the_lease(store: Arc<dyn Store>) {
    store.create_run(new_run("owner-a")).await.expect("create");
    let lease_for = Duration::from_millis(1000);
    let run = store
        .lease_next("w1", lease_for)
        .await
        .expect("lease")
        .expect("run");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            store
                .heartbeat(&run.lease, lease_for)
                .await
                .expect("heartbeat")
        );
        assert!(
            store
                .lease_next("w2", lease_for)
                .await
                .expect("lease")
                .is_none()
        );
    }
    let done = store
        .finish(&run.lease, completed("ok"))
        .await
        .expect("finish");
    assert_eq!(done.attempts, 1);
    // A finished run's lease extends nothing.
    assert!(
        !store
            .heartbeat(&run.lease, lease_for)
            .await
            .expect("heartbeat")
    );
}

/// Releasing puts the run back at the head of the queue.
pub async fn release_requeues(store: Arc<dyn Store>) {
    let run = store.create_run(new_run("owner-a")).await.expect("create");
    let later = store.create_run(new_run("owner-a")).await.expect("create");
    let first = lease(&store, "w1").await;
    assert_eq!(first.record.id, run.id);
    store.release(&first.lease).await.expect("release");

    let stored = store.get_run(&run.id).await.expect("get").expect("run");
    assert_eq!(stored.status, RunStatus::Queued);
    assert_eq!(
        store.queue_depth().await.expect("depth"),
        QueueDepth {
            queued: 2,
            running: 0
        }
    );
    assert!(
        !store
            .heartbeat(&first.lease, LONG)
            .await
            .expect("heartbeat")
    );
    let lost = store
        .finish(&first.lease, completed("x"))
        .await
        .expect_err("released");
    assert!(matches!(lost, StoreError::LeaseLost), "{lost}");

    let again = lease(&store, "w2").await;
    assert_eq!(again.record.id, run.id, "a released run keeps its place");
    assert_eq!(again.record.attempts, 2);
    assert_eq!(
        all_events(&store, &run.id).await,
        [
            status(RunStatus::Queued),
            status(RunStatus::Running),
            status(RunStatus::Queued),
            status(RunStatus::Running)
        ]
    );
    assert_eq!(lease(&store, "w2").await.record.id, later.id);
}

/// A run leased again comes with its checkpoint: the last state saved and the batch saved after
/// it. A newer state drops that batch; a part older than the stored one changes nothing, though
/// its events are kept; a worker that lost the lease saves nothing.
pub async fn checkpoints_come_back_with_the_run(store: Arc<dyn Store>) {
    let raw = |text: &str| RawValue::from_string(text.to_owned()).expect("JSON");
    let save = |lease: forage_store::Lease, version: u64, part: CheckpointPart, note: &str| {
        let (store, note) = (store.clone(), note.to_owned());
        async move {
            store
                .save_checkpoint(&lease, version, part, vec![progress(note)])
                .await
        }
    };
    let run = store.create_run(new_run("owner-a")).await.expect("create");
    let first = lease(&store, "w1").await;
    assert!(first.checkpoint.is_none());
    let state = CheckpointPart::State(raw(r#"{"turn":1,"messages":["a"]}"#));
    save(first.lease.clone(), 1, state, "replied")
        .await
        .expect("save the state");
    let batch = CheckpointPart::Batch(raw(r#"{"batch":{"finished":["c1","c2"]}}"#));
    save(first.lease.clone(), 3, batch, "call 2")
        .await
        .expect("save a batch");
    let older = CheckpointPart::Batch(raw(r#"{"batch":{"finished":["c1"]}}"#));
    save(first.lease.clone(), 2, older, "call 1")
        .await
        .expect("save an older batch");
    let older_state = CheckpointPart::State(raw(r#"{"turn":0}"#));
    save(first.lease.clone(), 2, older_state, "turn 0")
        .await
        .expect("save a state older than the batch");
    store.release(&first.lease).await.expect("release");

    let second = lease(&store, "w2").await;
    assert_eq!(second.record.id, run.id);
    let checkpoint = second.checkpoint.expect("the checkpoint");
    assert_eq!(checkpoint.version, 3);
    assert_eq!(checkpoint.state.get(), r#"{"turn":1,"messages":["a"]}"#);
    assert_eq!(
        checkpoint.batch.as_ref().map(|b| b.get()),
        Some(r#"{"batch":{"finished":["c1","c2"]}}"#)
    );
    let notes = || async {
        all_events(&store, &run.id)
            .await
            .into_iter()
            .filter_map(|event| match event {
                RunEvent::Progress { message, .. } => Some(message),
                _ => None,
            })
            .collect::<Vec<String>>()
    };
    assert_eq!(notes().await, ["replied", "call 2", "call 1", "turn 0"]);

    let lost = save(
        first.lease.clone(),
        9,
        CheckpointPart::State(raw(r#"{"turn":9}"#)),
        "stale",
    )
    .await
    .expect_err("the first worker's lease is gone");
    assert!(matches!(lost, StoreError::LeaseLost), "{lost}");
    save(
        second.lease.clone(),
        4,
        CheckpointPart::State(raw(r#"{"turn":2}"#)),
        "replied again",
    )
    .await
    .expect("save a newer state");
    store.release(&second.lease).await.expect("release");
    let third = lease(&store, "w3").await;
    let checkpoint = third.checkpoint.expect("the checkpoint");
    assert_eq!(checkpoint.version, 4);
    assert_eq!(checkpoint.state.get(), r#"{"turn":2}"#);
    assert!(
        checkpoint.batch.is_none(),
        "the newer state drops the batch"
    );
    assert_eq!(
        notes().await,
        ["replied", "call 2", "call 1", "turn 0", "replied again"],
        "the save refused for a lost lease appended nothing"
    );
    let numbers = event_numbers(&store, &run.id).await;
    assert_eq!(
        numbers,
        (1..=numbers.len() as u64).collect::<Vec<_>>(),
        "the saves took the log's next sequence numbers, and the refused one took none"
    );
}

/// Finishing stores the output, usage, warnings and the final status event together.
pub async fn finish_stores_the_result(store: Arc<dyn Store>) {
    let early = Warning::new(WarningKind::SpecValidationWarning, "schema is loose");
    let late = Warning::new(WarningKind::Warning, "an MCP server could not be listed");
    let mut new = new_run("owner-a");
    new.warnings = vec![early.clone()];
    store.create_run(new.clone()).await.expect("create");
    let run = lease(&store, "w1").await;
    store
        .append_events(&run.record.id, &[progress("planning")])
        .await
        .expect("append");

    let usage = TokenUsage {
        input_tokens: 1234,
        output_tokens: 56,
        llm_calls: 3,
    };
    let outcome = RunOutcome::Completed {
        output: Box::new(output("3.1 trillion")),
        warnings: vec![early.clone(), late.clone()],
        usage,
        transcript: json!([{"role": "user", "content": "q"}]),
        events: vec![progress("answered")],
    };
    let done = store.finish(&run.lease, outcome).await.expect("finish");
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.usage, usage);
    assert_eq!(done.warnings, [early, late]);
    assert!(done.modified_at >= done.created_at);
    assert!(!done.to_task_run().is_active);
    assert_eq!(
        store.get_run(&new.id).await.expect("get"),
        Some(done.clone())
    );
    assert_eq!(
        store.get_output(&new.id).await.expect("output"),
        Some(output("3.1 trillion"))
    );
    assert_eq!(
        store.get_run_with_output(&new.id).await.expect("get both"),
        Some((done, Some(output("3.1 trillion"))))
    );
    assert_eq!(
        store
            .get_run_with_output(&RunId::generate())
            .await
            .expect("get both"),
        None
    );
    let events = all_events(&store, &new.id).await;
    // The outcome's own events come just before the final status, in the same write.
    assert_eq!(
        events[events.len() - 2..],
        [progress("answered"), status(RunStatus::Completed)]
    );
    assert_eq!(events.len(), 5);
    assert_eq!(
        store.queue_depth().await.expect("depth"),
        QueueDepth::default()
    );
    let twice = store
        .finish(&run.lease, completed("again"))
        .await
        .expect_err("finished");
    assert!(matches!(twice, StoreError::LeaseLost), "{twice}");

    // A failed run keeps its error and has no output.
    let failing = store.create_run(new_run("owner-a")).await.expect("create");
    let run = lease(&store, "w1").await;
    let error = ErrorObject::new("the model gave up");
    let outcome = RunOutcome::Failed {
        error: error.clone(),
        warnings: Vec::new(),
        usage: TokenUsage::default(),
    };
    let failed = store.finish(&run.lease, outcome).await.expect("finish");
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.error, Some(error));
    assert_eq!(store.get_output(&failing.id).await.expect("output"), None);
    assert_eq!(
        store
            .get_run_with_output(&failing.id)
            .await
            .expect("get both"),
        Some((failed.clone(), None))
    );
    let wire = serde_json::to_value(failed.to_task_run()).expect("wire");
    assert_eq!(wire["error"]["message"], "the model gave up");
    assert_eq!(wire["status"], "failed");
}

/// Queued events keep their place among the writes asked before and after them, and one that
/// cannot be recorded (its run does not exist) costs nothing to the others.
pub async fn queued_events_keep_their_place_among_writes(store: Arc<dyn Store>) {
    let created = store.create_run(new_run("owner-a")).await.expect("create");
    let run = lease(&store, "w1").await;
    store
        .append_events_queued(&created.id, &[progress("one")])
        .await;
    store
        .append_events_queued(&RunId::generate(), &[progress("lost")])
        .await;
    store
        .append_events_queued(&created.id, &[progress("two")])
        .await;
    store
        .finish(&run.lease, completed("done"))
        .await
        .expect("finish");
    assert_eq!(
        all_events(&store, &created.id).await,
        [
            status(RunStatus::Queued),
            status(RunStatus::Running),
            progress("one"),
            progress("two"),
            status(RunStatus::Completed),
        ]
    );
}

/// Concurrent appends to one run get consecutive, distinct sequence numbers.
pub async fn concurrent_appends_get_consecutive_seqs(store: Arc<dyn Store>) {
    let run = store.create_run(new_run("owner-a")).await.expect("create");
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..10 {
        let (store, id) = (Arc::clone(&store), run.id.clone());
        tasks.spawn(async move {
            let mut lasts = Vec::new();
            for b in 0..20 {
                let batch: Vec<_> = (0..3).map(|i| progress(format!("{t}-{b}-{i}"))).collect();
                lasts.push(store.append_events(&id, &batch).await.expect("append"));
            }
            lasts
        });
    }
    let mut lasts = HashSet::new();
    while let Some(done) = tasks.join_next().await {
        for last in done.expect("task") {
            assert!(lasts.insert(last), "seq {last} returned twice");
        }
    }
    let records = store
        .events_after(&run.id, 0, 10_000)
        .await
        .expect("events");
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=601).collect::<Vec<u64>>());
    // Each batch landed contiguously, in order.
    for last in lasts {
        let batch = &records[(last - 3) as usize..last as usize];
        let names: Vec<_> = batch
            .iter()
            .map(|r| match &r.event {
                RunEvent::Progress { message, .. } => {
                    message.rsplit_once('-').expect("name").0.to_owned()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert!(names.iter().all(|n| *n == names[0]), "{names:?}");
    }
    let missing = store
        .append_events(&RunId::generate(), &[progress("x")])
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(store.append_events(&run.id, &[]).await.expect("empty"), 601);
}

/// `events_after` pages through the log.
pub async fn events_after_pages(store: Arc<dyn Store>) {
    let run = store.create_run(new_run("owner-a")).await.expect("create");
    let events: Vec<_> = (1..=25).map(|i| progress(format!("step {i}"))).collect();
    assert_eq!(
        store.append_events(&run.id, &events).await.expect("append"),
        26
    );
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page = store.events_after(&run.id, after, 10).await.expect("page");
        let Some(last) = page.last() else { break };
        after = last.seq;
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 6]);
    let all: Vec<_> = pages.into_iter().flatten().collect();
    assert!(all.iter().all(|r| r.run_id == run.id));
    assert_eq!(all[0].event, status(RunStatus::Queued));
    assert_eq!(all[1].event, progress("step 1"));
    assert_eq!(all[25].event, progress("step 25"));
    // One append of many events keeps their order and numbers them one by one.
    for (i, record) in all.iter().enumerate().skip(1) {
        assert_eq!(record.seq, i as u64 + 1);
        assert_eq!(record.event, progress(format!("step {i}")));
    }
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(
        store
            .events_after(&run.id, 26, 10)
            .await
            .expect("page")
            .is_empty()
    );
    assert!(
        store
            .events_after(&run.id, 0, 0)
            .await
            .expect("page")
            .is_empty()
    );
    assert!(
        store
            .events_after(&RunId::generate(), 0, 10)
            .await
            .expect("page")
            .is_empty()
    );
}

/// `list_runs`: newest first, keyset pages, status filter, one owner's runs only.
pub async fn list_runs_pages_filters_and_isolates(store: Arc<dyn Store>) {
    let mut mine = Vec::new();
    for _ in 0..7 {
        mine.push(
            store
                .create_run(new_run("owner-a"))
                .await
                .expect("create")
                .id,
        );
    }
    let mut theirs = Vec::new();
    for _ in 0..3 {
        theirs.push(
            store
                .create_run(new_run("owner-b"))
                .await
                .expect("create")
                .id,
        );
    }
    let newest_first: Vec<_> = mine.iter().rev().cloned().collect();
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();

    let all = store
        .list_runs("owner-a", &ListQuery::default())
        .await
        .expect("list");
    assert_eq!(ids(all), newest_first);

    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let query = ListQuery {
            status: None,
            before: before.clone(),
            limit: 3,
        };
        let page = ids(store.list_runs("owner-a", &query).await.expect("page"));
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, newest_first);

    // The two oldest of owner-a run; one of them completes.
    let first = lease(&store, "w1").await;
    let second = lease(&store, "w1").await;
    store
        .finish(&first.lease, completed("done"))
        .await
        .expect("finish");
    let by = |status| ListQuery {
        status: Some(status),
        before: None,
        limit: 50,
    };
    let completed_runs = ids(store
        .list_runs("owner-a", &by(RunStatus::Completed))
        .await
        .expect("list"));
    assert_eq!(completed_runs, [mine[0].clone()]);
    let running = ids(store
        .list_runs("owner-a", &by(RunStatus::Running))
        .await
        .expect("list"));
    assert_eq!(running, [second.record.id]);
    let queued = ids(store
        .list_runs("owner-a", &by(RunStatus::Queued))
        .await
        .expect("list"));
    assert_eq!(queued, newest_first[..5]);
    let query = ListQuery {
        status: Some(RunStatus::Queued),
        before: Some(mine[4].clone()),
        limit: 50,
    };
    let queued_before = ids(store.list_runs("owner-a", &query).await.expect("list"));
    assert_eq!(queued_before, [mine[3].clone(), mine[2].clone()]);

    // Owners see only their own runs, even through another owner's cursor.
    let other = ids(store
        .list_runs("owner-b", &ListQuery::default())
        .await
        .expect("list"));
    assert_eq!(other, theirs.iter().rev().cloned().collect::<Vec<_>>());
    let query = ListQuery {
        status: None,
        before: Some(mine[6].clone()),
        limit: 50,
    };
    assert!(
        store
            .list_runs("owner-b", &query)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_runs("nobody", &ListQuery::default())
            .await
            .expect("list")
            .is_empty()
    );
    let none = ListQuery {
        status: None,
        before: None,
        limit: 0,
    };
    assert!(
        store
            .list_runs("owner-a", &none)
            .await
            .expect("list")
            .is_empty()
    );
}

/// The transcript to continue is the latest completed run of the interaction, of that owner.
pub async fn interaction_transcript_is_latest_completed_of_owner(store: Arc<dyn Store>) {
    let first = store.create_run(new_run("owner-a")).await.expect("create");
    let interaction = first.interaction_id.clone();
    assert_eq!(
        store
            .interaction_transcript("owner-a", &interaction)
            .await
            .expect("t"),
        None
    );

    let finish_next = |outcome: RunOutcome| {
        let store = Arc::clone(&store);
        async move {
            let run = lease(&store, "w1").await;
            store.finish(&run.lease, outcome).await.expect("finish")
        }
    };
    finish_next(completed("one")).await;
    let transcript = |answer: &str| json!([{"role": "assistant", "content": answer}]);
    assert_eq!(
        store
            .interaction_transcript("owner-a", &interaction)
            .await
            .expect("t"),
        Some(transcript("one"))
    );

    store
        .create_run(new_run_in("owner-a", Some(&interaction)))
        .await
        .expect("create");
    finish_next(completed("two")).await;
    // A later run of the interaction that failed does not replace the transcript.
    store
        .create_run(new_run_in("owner-a", Some(&interaction)))
        .await
        .expect("create");
    finish_next(RunOutcome::Failed {
        error: ErrorObject::new("boom"),
        warnings: Vec::new(),
        usage: TokenUsage::default(),
    })
    .await;
    // Nor does one still queued, nor another owner's run with the same interaction id.
    store
        .create_run(new_run_in("owner-b", Some(&interaction)))
        .await
        .expect("create");
    finish_next(completed("theirs")).await;
    store
        .create_run(new_run_in("owner-a", Some(&interaction)))
        .await
        .expect("create");

    assert_eq!(
        store
            .interaction_transcript("owner-a", &interaction)
            .await
            .expect("t"),
        Some(transcript("two"))
    );
    assert_eq!(
        store
            .interaction_transcript("owner-b", &interaction)
            .await
            .expect("t"),
        Some(transcript("theirs"))
    );
    assert_eq!(
        store
            .interaction_transcript("owner-a", &InteractionId::new("unknown"))
            .await
            .expect("t"),
        None
    );
}

/// Creating, leasing, appending and finishing each tell the waiters.
pub async fn notices_are_sent(store: Arc<dyn Store>) {
    let mut rx = store.notices();
    let run = store.create_run(new_run("owner-a")).await.expect("create");
    expect_notice(&mut rx, |n| *n == Notice::RunQueued).await;

    let leased = lease(&store, "w1").await;
    let id = run.id.clone();
    expect_notice(&mut rx, |n| {
        *n == Notice::RunChanged {
            run_id: id.clone(),
            status: RunStatus::Running,
        }
    })
    .await;

    let seq = store
        .append_events(&run.id, &[progress("a"), progress("b")])
        .await
        .expect("append");
    expect_notice(&mut rx, |n| {
        *n == Notice::EventsAppended {
            run_id: id.clone(),
            seq,
        }
    })
    .await;

    store
        .finish(&leased.lease, completed("ok"))
        .await
        .expect("finish");
    expect_notice(&mut rx, |n| {
        *n == Notice::RunChanged {
            run_id: id.clone(),
            status: RunStatus::Completed,
        }
    })
    .await;
    expect_notice(&mut rx, |n| {
        matches!(n, Notice::EventsAppended { run_id, seq: s } if *run_id == id && *s == seq + 1)
    })
    .await;
}

/// 2,000 concurrent creates all complete (group commit); prints the rate.
pub async fn many_concurrent_creates_complete(store: Arc<dyn Store>) {
    const RUNS: usize = 2_000;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..RUNS {
        let store = Arc::clone(&store);
        tasks.spawn(async move { store.create_run(new_run("owner-a")).await.map(|r| r.id) });
    }
    let mut ids = HashSet::new();
    while let Some(done) = tasks.join_next().await {
        ids.insert(done.expect("task").expect("create"));
    }
    let elapsed = started.elapsed();
    assert_eq!(ids.len(), RUNS);
    assert_eq!(
        store.queue_depth().await.expect("depth").queued,
        RUNS as u64
    );
    eprintln!(
        "{RUNS} concurrent create_run calls in {elapsed:?}: {:.0} runs/s",
        RUNS as f64 / elapsed.as_secs_f64()
    );
}

/// Many lookups at once, far more than the store has read connections, each get their own run
/// and its output back, while the runs are being written.
pub async fn many_concurrent_lookups_each_get_their_own_run(store: Arc<dyn Store>) {
    const RUNS: usize = 200;
    let mut ids = Vec::new();
    for _ in 0..RUNS {
        ids.push(
            store
                .create_run(new_run("owner-a"))
                .await
                .expect("create")
                .id,
        );
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in ids.iter().cloned().enumerate() {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            if i % 2 == 0 {
                // Half the lookups race a write to the run they read.
                store
                    .append_events(
                        &id,
                        &[RunEvent::Status {
                            status: RunStatus::Queued,
                        }],
                    )
                    .await
                    .expect("append");
            }
            let mut found = Vec::new();
            for _ in 0..10 {
                let record = store.get_run(&id).await.expect("get").expect("exists");
                found.push(record.id);
                assert_eq!(store.get_output(&id).await.expect("output"), None);
            }
            (id, found)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (id, found) = done.expect("task");
        assert!(
            found.iter().all(|f| f == &id),
            "a lookup of {id} answered {found:?}"
        );
    }
}

/// Everything written survives closing and reopening the store.
pub async fn durable_across_reopen<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let store = open().await;
    let mut done_run = new_run("owner-a");
    done_run.request = request(true);
    store.create_run(done_run.clone()).await.expect("create");
    let waiting = store.create_run(new_run("owner-a")).await.expect("create");
    let run = lease(&store, "w1").await;
    store
        .append_events(&run.record.id, &[progress("working")])
        .await
        .expect("append");
    let finished = store
        .finish(&run.lease, completed("kept"))
        .await
        .expect("finish");
    drop(store);

    let store = open().await;
    assert_eq!(
        store.get_run(&done_run.id).await.expect("get"),
        Some(finished)
    );
    assert_eq!(
        store.get_output(&done_run.id).await.expect("output"),
        Some(output("kept"))
    );
    assert_eq!(
        store.get_request(&done_run.id).await.expect("request"),
        Some(done_run.request.clone())
    );
    assert_eq!(
        all_events(&store, &done_run.id).await,
        [
            status(RunStatus::Queued),
            status(RunStatus::Running),
            progress("working"),
            status(RunStatus::Completed)
        ]
    );
    assert_eq!(
        store
            .interaction_transcript("owner-a", &done_run.interaction_id)
            .await
            .expect("t"),
        Some(json!([{"role": "assistant", "content": "kept"}]))
    );
    assert_eq!(
        store.get_run(&waiting.id).await.expect("get"),
        Some(waiting.clone())
    );
    assert_eq!(lease(&store, "w2").await.record.id, waiting.id);
    // Sequences continue where they stopped.
    assert_eq!(
        store
            .append_events(&done_run.id, &[progress("late")])
            .await
            .expect("append"),
        5
    );
}

/// Commands that fail (duplicate ids, lost leases, unknown runs) fail alone: the commands
/// committed beside them still succeed, and the failed ones leave nothing behind.
pub async fn a_failing_command_does_not_fail_its_batch_mates(store: Arc<dyn Store>) {
    let existing = store.create_run(new_run("owner-a")).await.expect("create");
    let stale = store
        .lease_next("w0", LONG)
        .await
        .expect("lease")
        .expect("run");
    store.release(&stale.lease).await.expect("release");

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let store = Arc::clone(&store);
        let (existing, stale) = (existing.clone(), stale.lease.clone());
        tasks.spawn(async move {
            match i % 3 {
                0 => {
                    let mut dup = new_run("intruder");
                    dup.id = existing.id.clone();
                    matches!(store.create_run(dup).await, Err(StoreError::Duplicate(_)))
                }
                1 => matches!(
                    store.finish(&stale, completed("stale")).await,
                    Err(StoreError::LeaseLost)
                ),
                _ => store.create_run(new_run("owner-a")).await.is_ok(),
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        assert!(done.expect("task"), "every command got its own answer");
    }
    assert_eq!(store.queue_depth().await.expect("depth").queued, 101);
    let kept = store
        .get_run(&existing.id)
        .await
        .expect("get")
        .expect("run");
    assert_eq!(
        kept.owner, "owner-a",
        "a duplicate did not overwrite the run"
    );
    assert_eq!(kept.status, RunStatus::Queued);
    assert_eq!(kept.attempts, 1);
    assert!(
        store
            .list_runs("intruder", &ListQuery::default())
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(store.get_output(&existing.id).await.expect("output"), None);
}

/// A queued run is cancelled at once and never leased.
pub async fn cancelling_a_queued_run_is_immediate(store: Arc<dyn Store>) {
    let run = store.create_run(new_run("owner-a")).await.expect("create");
    let cancelled = store.cancel_run(&run.id).await.expect("cancel");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(!cancelled.status.is_active());
    assert!(store.lease_next("w", LONG).await.expect("lease").is_none());
    assert_eq!(
        all_events(&store, &run.id).await,
        [status(RunStatus::Queued), status(RunStatus::Cancelled)]
    );
    // Cancelling again, or a final run, changes nothing.
    let again = store.cancel_run(&run.id).await.expect("cancel again");
    assert_eq!(again.status, RunStatus::Cancelled);
    assert_eq!(all_events(&store, &run.id).await.len(), 2);
    let missing = store
        .cancel_run(&RunId::generate())
        .await
        .expect_err("unknown run");
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");
}

/// Creates within caps: a create that would go past the owner's unfinished runs (queued,
/// running or cancelling) or the queue's length is refused with what was counted, and
/// creates nothing; the counts follow the runs' states.
pub async fn creates_stay_within_their_caps(store: Arc<dyn Store>) {
    let per_owner = RunCaps {
        per_owner: Some(4),
        queued: None,
    };
    let queue = RunCaps {
        per_owner: None,
        queued: Some(5),
    };
    let refused = |store: &Arc<dyn Store>, owner: &'static str, caps: RunCaps| {
        let store = store.clone();
        async move {
            let new = new_run(owner);
            let id = new.id.clone();
            let err = store
                .create_run_within(new, caps)
                .await
                .expect_err("past the cap");
            assert!(
                store.get_run(&id).await.expect("get").is_none(),
                "a refused run was created"
            );
            match err {
                StoreError::CapReached(cap) => cap,
                other => panic!("expected CapReached, got {other}"),
            }
        }
    };
    let mut ids = Vec::new();
    for _ in 0..4 {
        let run = store.create_run_within(new_run("owner-a"), per_owner);
        ids.push(run.await.expect("within the cap").id);
    }
    let owner_full = CapReached::PerOwner { active: 4, max: 4 };
    assert_eq!(refused(&store, "owner-a", per_owner).await, owner_full);
    // The worker's hand-off path and a group weigh the same caps.
    let leased = store
        .create_run_leased(new_run("owner-a"), per_owner, "w-idle", LONG)
        .await
        .expect_err("past the cap");
    assert!(
        matches!(leased, StoreError::CapReached(cap) if cap == owner_full),
        "{leased}"
    );
    // Another owner has its own allowance.
    store
        .create_run_within(new_run("owner-b"), per_owner)
        .await
        .expect("owner-b");
    let full_queue = CapReached::Queue { queued: 5, max: 5 };
    assert_eq!(refused(&store, "owner-c", queue).await, full_queue);

    // A running run still counts for its owner, not for the queue.
    let first = lease(&store, "w1").await;
    assert_eq!(first.record.id, ids[0]);
    assert_eq!(refused(&store, "owner-a", per_owner).await, owner_full);
    store
        .create_run_within(new_run("owner-c"), queue)
        .await
        .expect("the queue has room again");
    // So does a cancelling one.
    let second = lease(&store, "w1").await;
    store.cancel_run(&second.record.id).await.expect("cancel");
    assert_eq!(refused(&store, "owner-a", per_owner).await, owner_full);

    // Ended runs free their places.
    store
        .finish(&first.lease, completed("ok"))
        .await
        .expect("finish");
    store.cancel_run(&ids[3]).await.expect("cancel queued");
    let group = store
        .create_group(new_group("owner-a"))
        .await
        .expect("group");
    let batch = vec![new_run("owner-a"), new_run("owner-a"), new_run("owner-a")];
    let first_of_batch = batch[0].id.clone();
    let err = store
        .add_group_runs(&group.id, batch, per_owner)
        .await
        .expect_err("three more are past the cap");
    assert!(
        matches!(
            err,
            StoreError::CapReached(CapReached::PerOwner { active: 2, max: 4 })
        ),
        "{err}"
    );
    assert!(store.get_run(&first_of_batch).await.expect("get").is_none());
    let group = store
        .add_group_runs(
            &group.id,
            vec![new_run("owner-a"), new_run("owner-a")],
            per_owner,
        )
        .await
        .expect("two fit");
    assert_eq!(group.num_runs, 2);
    assert_eq!(refused(&store, "owner-a", per_owner).await, owner_full);
}

/// What admission counts, as a create refused by a cap of zero reports it: the owner's unfinished
/// runs.
async fn active_runs_of(store: &Arc<dyn Store>, owner: &str) -> u64 {
    let none_allowed = RunCaps {
        per_owner: Some(0),
        queued: None,
    };
    match store.create_run_within(new_run(owner), none_allowed).await {
        Err(StoreError::CapReached(CapReached::PerOwner { active, .. })) => active,
        other => panic!("expected the owner's cap to refuse, got {other:?}"),
    }
}

/// The runs waiting and the runs running, as the queue depth reports them.
async fn depth(store: &Arc<dyn Store>) -> (u64, u64) {
    let depth = store.queue_depth().await.expect("queue depth");
    (depth.queued, depth.running)
}

/// The counts admission weighs follow every change of a run's status, and a refused create
/// changes none: creating (alone, handed to a worker, in a group), leasing, releasing, an
/// expired lease leased again, cancelling (queued and running), an abandoned cancellation, and
/// each end.
pub async fn admission_counts_follow_every_status_change(store: Arc<dyn Store>) {
    assert_eq!(active_runs_of(&store, "owner-a").await, 0);
    assert_eq!(depth(&store).await, (0, 0));

    let expiring = store.create_run(new_run("owner-a")).await.expect("create");
    assert_eq!(depth(&store).await, (1, 0));
    let dying = lease(&store, "w1").await;
    assert_eq!(depth(&store).await, (0, 1));
    expire(&store, &dying.lease).await;
    let again = lease(&store, "w2").await;
    assert_eq!(
        again.record.id, expiring.id,
        "the expired lease is leased again"
    );
    assert_eq!(active_runs_of(&store, "owner-a").await, 1);
    assert_eq!(depth(&store).await, (0, 1));
    store
        .finish(&again.lease, completed("ok"))
        .await
        .expect("finish");
    assert_eq!(active_runs_of(&store, "owner-a").await, 0);
    assert_eq!(depth(&store).await, (0, 0));

    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            store
                .create_run(new_run("owner-a"))
                .await
                .expect("create")
                .id,
        );
    }
    store.create_run(new_run("owner-b")).await.expect("create");
    assert_eq!(active_runs_of(&store, "owner-a").await, 3);
    assert_eq!(active_runs_of(&store, "owner-b").await, 1);
    assert_eq!(depth(&store).await, (4, 0));

    let first = lease(&store, "w1").await;
    assert_eq!(depth(&store).await, (3, 1));
    store.release(&first.lease).await.expect("release");
    assert_eq!(depth(&store).await, (4, 0));
    let first = lease(&store, "w1").await;
    assert_eq!(first.record.id, ids[0]);
    let failed = RunOutcome::Failed {
        error: ErrorObject::new("the model refused"),
        warnings: Vec::new(),
        usage: TokenUsage::default(),
    };
    store.finish(&first.lease, failed).await.expect("fail");
    assert_eq!(active_runs_of(&store, "owner-a").await, 2);
    assert_eq!(depth(&store).await, (3, 0));

    store.cancel_run(&ids[2]).await.expect("cancel queued");
    assert_eq!(active_runs_of(&store, "owner-a").await, 1);
    assert_eq!(depth(&store).await, (2, 0));

    // A cancelling run is unfinished: it counts for its owner, neither queued nor running. (Its
    // lease must still hold when it is cancelled, or the cancel ends it at once.)
    let second = lease(&store, "w1").await;
    assert_eq!(second.record.id, ids[1]);
    assert_eq!(
        store
            .cancel_run(&ids[1])
            .await
            .expect("cancel running")
            .status,
        RunStatus::Cancelling
    );
    assert_eq!(active_runs_of(&store, "owner-a").await, 1);
    assert_eq!(depth(&store).await, (1, 0));
    // Its worker dies; once the lease expires, the next lease ends it cancelled.
    expire(&store, &second.lease).await;
    let mut owner_b = None;
    for _ in 0..3 {
        owner_b = store.lease_next("w2", LONG).await.expect("lease");
        if owner_b.is_some() {
            break;
        }
    }
    let owner_b = owner_b.expect("owner-b's run is leased");
    assert_eq!(owner_b.record.owner, "owner-b");
    let abandoned = store.get_run(&ids[1]).await.expect("get").expect("run");
    assert_eq!(abandoned.status, RunStatus::Cancelled);
    assert_eq!(active_runs_of(&store, "owner-a").await, 0);
    assert_eq!(active_runs_of(&store, "owner-b").await, 1);
    assert_eq!(depth(&store).await, (0, 1));
    let cancelled = RunOutcome::Cancelled {
        warnings: Vec::new(),
        usage: TokenUsage::default(),
    };
    store.cancel_run(&owner_b.record.id).await.expect("cancel");
    store
        .finish(&owner_b.lease, cancelled)
        .await
        .expect("cancelled by its worker");
    assert_eq!(active_runs_of(&store, "owner-b").await, 0);
    assert_eq!(depth(&store).await, (0, 0));

    let (_, handed) = store
        .create_run_leased(new_run("owner-a"), RunCaps::NONE, "w-idle", LONG)
        .await
        .expect("create for an idle worker");
    // A store that does not lease at creation leaves the run queued.
    let handed_running = u64::from(handed.is_some());
    let group = store
        .create_group(new_group("owner-a"))
        .await
        .expect("group");
    store
        .add_group_runs(
            &group.id,
            vec![new_run("owner-a"), new_run("owner-a")],
            RunCaps::NONE,
        )
        .await
        .expect("members");
    assert_eq!(active_runs_of(&store, "owner-a").await, 3);
    assert_eq!(depth(&store).await, (3 - handed_running, handed_running));
}

/// Creates made at the same time cannot together go past a cap: exactly as many as fit are
/// created. (A store with one writer: PostgreSQL counts what was committed, see `admit`.)
pub async fn concurrent_creates_cannot_overshoot_a_cap(store: Arc<dyn Store>) {
    let caps = RunCaps {
        per_owner: Some(5),
        queued: None,
    };
    let creates = (0..40).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.create_run_within(new_run("owner-a"), caps).await })
    });
    let mut created = 0;
    for create in creates {
        match create.await.expect("task") {
            Ok(_) => created += 1,
            Err(StoreError::CapReached(CapReached::PerOwner { max: 5, .. })) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(created, 5);
    let listed = store
        .list_runs("owner-a", &ListQuery::default())
        .await
        .expect("list");
    assert_eq!(listed.len(), 5);
}

/// A running run becomes cancelling; its worker keeps the lease and finishes it as cancelled.
pub async fn cancelling_a_running_run_goes_through_its_worker(store: Arc<dyn Store>) {
    let run = store.create_run(new_run("owner-a")).await.expect("create");
    let mut notices = store.notices();
    let leased = lease(&store, "w1").await;
    let cancelling = store.cancel_run(&run.id).await.expect("cancel");
    assert_eq!(cancelling.status, RunStatus::Cancelling);
    assert!(cancelling.status.is_active());
    expect_notice(&mut notices, |n| {
        *n == Notice::RunChanged {
            run_id: run.id.clone(),
            status: RunStatus::Cancelling,
        }
    })
    .await;
    assert!(
        store
            .heartbeat(&leased.lease, LONG)
            .await
            .expect("heartbeat")
    );
    let done = store
        .finish(
            &leased.lease,
            RunOutcome::Cancelled {
                warnings: Vec::new(),
                usage: TokenUsage::default(),
            },
        )
        .await
        .expect("finish");
    assert_eq!(done.status, RunStatus::Cancelled);
    assert_eq!(
        all_events(&store, &run.id).await,
        [
            status(RunStatus::Queued),
            status(RunStatus::Running),
            status(RunStatus::Cancelling),
            status(RunStatus::Cancelled)
        ]
    );
}

/// A run left cancelling by a dead worker ends cancelled once the lease expires.
pub async fn abandoned_cancellation_ends_cancelled(store: Arc<dyn Store>) {
    let run = store.create_run(new_run("owner-a")).await.expect("create");
    let leased = lease(&store, "w1").await;
    assert_eq!(
        store.cancel_run(&run.id).await.expect("cancel").status,
        RunStatus::Cancelling
    );
    expire(&store, &leased.lease).await;
    assert!(store.lease_next("w2", LONG).await.expect("lease").is_none());
    let record = store.get_run(&run.id).await.expect("get").expect("run");
    assert_eq!(record.status, RunStatus::Cancelled);
}

// ---- Task groups ---------------------------------------------------------------------------

fn new_group(owner: &str) -> forage_store::NewGroup {
    forage_store::NewGroup {
        id: format!("tgrp_{}", uuid::Uuid::new_v4().simple()),
        owner: owner.to_owned(),
        metadata: Some(
            serde_json::from_value(json!({"batch": "north", "n": 3})).expect("metadata"),
        ),
        created_at: Utc::now(),
    }
}

fn counts(group: &forage_store::GroupRecord) -> Vec<(String, u64)> {
    group
        .status_counts
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut v: Vec<_> = list.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
    v.sort();
    v
}

/// A group's counts follow its members' status changes, its log records each change in order,
/// and its members page in the order they were added.
pub async fn groups_count_members_and_log_changes(store: Arc<dyn Store>) {
    let created = store
        .create_group(new_group("owner-a"))
        .await
        .expect("create group");
    assert_eq!(created.num_runs, 0);
    assert!(created.status_counts.is_empty());
    assert!(!created.is_active());
    assert_eq!(created.last_event_seq, 0);
    assert_eq!(
        store.get_group(&created.id).await.expect("get"),
        Some(created.clone())
    );
    let dup = forage_store::NewGroup {
        id: created.id.clone(),
        ..new_group("owner-a")
    };
    assert!(matches!(
        store.create_group(dup).await,
        Err(StoreError::Duplicate(_))
    ));

    let mut notices = store.notices();
    let runs: Vec<NewRun> = (0..3).map(|_| new_run("owner-a")).collect();
    let ids: Vec<RunId> = runs.iter().map(|r| r.id.clone()).collect();
    let group = store
        .add_group_runs(&created.id, runs, RunCaps::NONE)
        .await
        .expect("add runs");
    assert_eq!(group.num_runs, 3);
    assert_eq!(counts(&group), pairs(&[("queued", 3)]));
    assert!(group.is_active());
    assert_eq!(group.last_event_seq, 3);
    expect_notice(&mut notices, |n| *n == Notice::RunQueued).await;
    expect_notice(&mut notices, |n| {
        *n == Notice::GroupChanged {
            group_id: created.id.clone(),
            seq: 3,
        }
    })
    .await;
    for id in &ids {
        let run = store.get_run(id).await.expect("get").expect("run");
        assert_eq!(run.taskgroup_id.as_deref(), Some(created.id.as_str()));
        assert_eq!(
            run.to_task_run().taskgroup_id.as_deref(),
            Some(created.id.as_str())
        );
    }

    let leased = lease(&store, "w1").await;
    assert_eq!(leased.lease.run_id, ids[0]);
    store
        .finish(&leased.lease, completed("done"))
        .await
        .expect("finish");
    let _running = lease(&store, "w1").await;
    store.cancel_run(&ids[2]).await.expect("cancel");
    let group = store
        .get_group(&created.id)
        .await
        .expect("get")
        .expect("group");
    assert_eq!(
        counts(&group),
        pairs(&[("completed", 1), ("running", 1), ("cancelled", 1)])
    );
    assert_eq!(group.num_runs, 3);
    assert!(group.is_active());
    assert!(group.modified_at >= created.modified_at);

    let log = store
        .group_events_after(&created.id, 0, 100)
        .await
        .expect("group events");
    let seen: Vec<(u64, RunId, RunStatus)> = log
        .iter()
        .map(|e| (e.seq, e.run_id.clone(), e.status))
        .collect();
    assert_eq!(
        seen,
        [
            (1, ids[0].clone(), RunStatus::Queued),
            (2, ids[1].clone(), RunStatus::Queued),
            (3, ids[2].clone(), RunStatus::Queued),
            (4, ids[0].clone(), RunStatus::Running),
            (5, ids[0].clone(), RunStatus::Completed),
            (6, ids[1].clone(), RunStatus::Running),
            (7, ids[2].clone(), RunStatus::Cancelled),
        ]
    );
    assert_eq!(group.last_event_seq, 7);
    let tail = store
        .group_events_after(&created.id, 5, 1)
        .await
        .expect("page");
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].seq, 6);

    let all = store
        .group_runs(
            &created.id,
            &forage_store::GroupRunsQuery {
                after: 0,
                status: None,
                limit: 100,
            },
        )
        .await
        .expect("group runs");
    let order: Vec<RunId> = all.iter().map(|m| m.record.id.clone()).collect();
    assert_eq!(order, ids);
    assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor));
    let rest = store
        .group_runs(
            &created.id,
            &forage_store::GroupRunsQuery {
                after: all[0].cursor,
                status: None,
                limit: 1,
            },
        )
        .await
        .expect("page");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].record.id, ids[1]);
    let done = store
        .group_runs(
            &created.id,
            &forage_store::GroupRunsQuery {
                after: 0,
                status: Some(RunStatus::Completed),
                limit: 100,
            },
        )
        .await
        .expect("filtered");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].record.id, ids[0]);
}

/// Adding runs is all or none; a missing group is NotFound.
pub async fn adding_group_runs_is_atomic(store: Arc<dyn Store>) {
    let missing = store
        .add_group_runs("tgrp_missing", vec![new_run("owner-a")], RunCaps::NONE)
        .await
        .expect_err("no such group");
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");
    assert!(
        store
            .get_group("tgrp_missing")
            .await
            .expect("get")
            .is_none()
    );

    let group = store
        .create_group(new_group("owner-a"))
        .await
        .expect("create");
    let existing = store.create_run(new_run("owner-a")).await.expect("create");
    let mut clash = new_run("owner-a");
    clash.id = existing.id.clone();
    let batch = vec![new_run("owner-a"), clash];
    let first = batch[0].id.clone();
    assert!(
        store
            .add_group_runs(&group.id, batch, RunCaps::NONE)
            .await
            .is_err()
    );
    assert!(store.get_run(&first).await.expect("get").is_none());
    let after = store
        .get_group(&group.id)
        .await
        .expect("get")
        .expect("group");
    assert_eq!(after.num_runs, 0);
    assert!(after.status_counts.is_empty());
    assert_eq!(after.last_event_seq, 0);

    let many: Vec<NewRun> = (0..1000).map(|_| new_run("owner-a")).collect();
    let big = store
        .add_group_runs(&group.id, many, RunCaps::NONE)
        .await
        .expect("1000");
    assert_eq!(big.num_runs, 1000);
    assert_eq!(counts(&big), pairs(&[("queued", 1000)]));
}

// ---- Webhook deliveries --------------------------------------------------------------------

fn with_webhook(owner: &str, event_types: Option<Vec<&str>>) -> NewRun {
    let mut new = new_run(owner);
    new.request.webhook = Some(forage_api::Webhook {
        url: "https://hooks.example.com/forage".into(),
        event_types: event_types.map(|t| t.into_iter().map(str::to_owned).collect()),
        secret: None,
    });
    new
}

/// A run with a webhook gets one pending delivery at its end, leased when due, not handed out
/// again while leased, retried when told, and done when delivered.
pub async fn webhook_delivery_is_enqueued_leased_and_recorded(store: Arc<dyn Store>) {
    let plain = store.create_run(new_run("owner-a")).await.expect("create");
    let hooked = store
        .create_run(with_webhook("owner-a", None))
        .await
        .expect("create");
    assert!(
        store
            .lease_deliveries(LONG, 10)
            .await
            .expect("lease")
            .is_empty()
    );
    let mut notices = store.notices();
    let first = lease(&store, "w1").await;
    store
        .finish(&first.lease, completed("a"))
        .await
        .expect("finish");
    let second = lease(&store, "w1").await;
    let end = store
        .finish(&second.lease, completed("b"))
        .await
        .expect("finish");
    assert_eq!(first.lease.run_id, plain.id);
    assert!(
        store
            .run_deliveries(&plain.id)
            .await
            .expect("list")
            .is_empty()
    );
    expect_notice(&mut notices, |n| *n == Notice::DeliveryQueued).await;

    let listed = store.run_deliveries(&hooked.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    let pending = &listed[0];
    assert!(pending.id.starts_with("whevent_"), "{}", pending.id);
    assert_eq!(pending.state, forage_store::DeliveryState::Pending);
    assert_eq!(pending.attempts, 0);
    assert_eq!(pending.url, "https://hooks.example.com/forage");
    assert_eq!(pending.created_at, end.modified_at);

    let leased = store
        .lease_deliveries(Duration::from_millis(1000), 10)
        .await
        .expect("lease");
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].id, pending.id);
    assert_eq!(leased[0].run_id, hooked.id);
    assert_eq!(leased[0].owner, "owner-a");
    assert_eq!(leased[0].attempts, 1);
    assert_eq!(leased[0].created_at, pending.created_at);
    // Leased: not handed out again until the lease ends.
    assert!(
        store
            .lease_deliveries(LONG, 10)
            .await
            .expect("lease")
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = store.lease_deliveries(LONG, 10).await.expect("lease");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);

    store
        .record_delivery(
            &pending.id,
            forage_store::DeliveryResult::RetryAt {
                at: Utc::now() - chrono::Duration::seconds(1),
                error: "receiver answered 500".into(),
            },
        )
        .await
        .expect("record retry");
    let record = &store.run_deliveries(&hooked.id).await.expect("list")[0];
    assert_eq!(record.state, forage_store::DeliveryState::Pending);
    assert_eq!(record.last_error.as_deref(), Some("receiver answered 500"));
    let third = store.lease_deliveries(LONG, 10).await.expect("lease");
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].attempts, 3);
    store
        .record_delivery(&pending.id, forage_store::DeliveryResult::Delivered)
        .await
        .expect("record delivered");
    let record = &store.run_deliveries(&hooked.id).await.expect("list")[0];
    assert_eq!(record.state, forage_store::DeliveryState::Delivered);
    assert_eq!(record.next_attempt_at, None);
    assert_eq!(record.attempts, 3);
    assert!(
        store
            .lease_deliveries(Duration::ZERO, 10)
            .await
            .expect("lease")
            .is_empty()
    );
    let unknown = store
        .record_delivery("whevent_nope", forage_store::DeliveryResult::Delivered)
        .await
        .expect_err("unknown");
    assert!(matches!(unknown, StoreError::NotFound(_)), "{unknown}");
}

/// Cancelled and failed runs announce their end too; a given-up delivery is failed with its
/// reason; a webhook for other event types enqueues nothing.
pub async fn webhook_delivery_for_every_end_and_give_up(store: Arc<dyn Store>) {
    let queued = store
        .create_run(with_webhook("owner-a", Some(vec!["task_run.status"])))
        .await
        .expect("create");
    store.cancel_run(&queued.id).await.expect("cancel");
    let listed = store.run_deliveries(&queued.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    store
        .record_delivery(
            &listed[0].id,
            forage_store::DeliveryResult::GaveUp {
                error: "refused by the network policy".into(),
            },
        )
        .await
        .expect("give up");
    let record = &store.run_deliveries(&queued.id).await.expect("list")[0];
    assert_eq!(record.state, forage_store::DeliveryState::Failed);
    assert_eq!(
        record.last_error.as_deref(),
        Some("refused by the network policy")
    );
    assert_eq!(record.next_attempt_at, None);

    let failing = store
        .create_run(with_webhook("owner-b", Some(vec![])))
        .await
        .expect("create");
    let leased = lease(&store, "w").await;
    assert_eq!(leased.lease.run_id, failing.id);
    store
        .finish(
            &leased.lease,
            RunOutcome::Failed {
                error: ErrorObject::new("boom"),
                warnings: Vec::new(),
                usage: TokenUsage::default(),
            },
        )
        .await
        .expect("finish");
    let due = store.lease_deliveries(LONG, 10).await.expect("lease");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].run_id, failing.id);
    assert_eq!(due[0].owner, "owner-b");

    let other = store
        .create_run(with_webhook("owner-a", Some(vec!["task_run.progress"])))
        .await
        .expect("create");
    store.cancel_run(&other.id).await.expect("cancel");
    assert!(
        store
            .run_deliveries(&other.id)
            .await
            .expect("list")
            .is_empty()
    );
}
