//! Per-run change signals over a real SQLite store: a notice wakes the watchers of its run and
//! no one else's; missed notices wake everyone; a run's signal goes when its last watcher does.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use forage_api::{InteractionId, RunEvent, RunId, RunStatus};
use forage_server::signals::RunSignals;
use forage_store::{NewRun, SecretCipher, SqliteStore, Store};
use serde_json::json;

fn store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::open_in_memory(SecretCipher::from_key(&[7u8; 32])).expect("store"))
}

async fn create(store: &dyn Store) -> RunId {
    let id = RunId::generate();
    store
        .create_run(NewRun {
            interaction_id: InteractionId::for_run(&id),
            id: id.clone(),
            owner: "owner".into(),
            processor: "core".parse().expect("processor"),
            request: serde_json::from_value(json!({"input": "q", "processor": "core"}))
                .expect("request"),
            warnings: Vec::new(),
            created_at: Utc::now(),
        })
        .await
        .expect("create run");
    id
}

const WAKE: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_status_change_wakes_the_runs_watcher_with_the_status() {
    let store = store();
    let run = create(store.as_ref()).await;
    let signals = RunSignals::new(store.as_ref());
    let mut watch = signals.watch(&run);
    store.cancel_run(&run).await.expect("cancel");
    let pulse = tokio::time::timeout(WAKE, watch.changed())
        .await
        .expect("the watcher is woken");
    assert_eq!(pulse.status, Some(RunStatus::Cancelled));
    assert_eq!(pulse.missed, 0);
}

#[tokio::test]
async fn appended_events_raise_the_pulses_sequence_number() {
    let store = store();
    let run = create(store.as_ref()).await;
    let signals = RunSignals::new(store.as_ref());
    let mut watch = signals.watch(&run);
    let seq = store
        .append_events(
            &run,
            &[RunEvent::Status {
                status: RunStatus::Running,
            }],
        )
        .await
        .expect("append");
    let pulse = tokio::time::timeout(WAKE, watch.changed())
        .await
        .expect("the watcher is woken");
    assert_eq!(pulse.events_seq, seq);
}

#[tokio::test]
async fn another_runs_changes_do_not_wake_a_watcher() {
    let store = store();
    let watched = create(store.as_ref()).await;
    let other = create(store.as_ref()).await;
    let signals = RunSignals::new(store.as_ref());
    let mut watch = signals.watch(&watched);
    // The routing task has started: a change to the other run reaches it and goes nowhere.
    store
        .cancel_run(&other)
        .await
        .expect("cancel the other run");
    store
        .append_events(
            &other,
            &[RunEvent::Status {
                status: RunStatus::Running,
            }],
        )
        .await
        .expect("append to the other run");
    assert!(
        tokio::time::timeout(QUIET, watch.changed()).await.is_err(),
        "a change to another run woke the watcher"
    );
    // The watched run's own change still gets through afterwards.
    store.cancel_run(&watched).await.expect("cancel");
    let pulse = tokio::time::timeout(WAKE, watch.changed())
        .await
        .expect("woken");
    assert_eq!(pulse.status, Some(RunStatus::Cancelled));
}

#[tokio::test]
async fn watchers_of_one_run_share_a_signal_that_goes_with_the_last() {
    let store = store();
    let run = create(store.as_ref()).await;
    let signals = RunSignals::new(store.as_ref());
    let mut first = signals.watch(&run);
    let mut second = signals.watch(&run);
    assert_eq!(signals.watched(), 1);
    store.cancel_run(&run).await.expect("cancel");
    for watch in [&mut first, &mut second] {
        let pulse = tokio::time::timeout(WAKE, watch.changed())
            .await
            .expect("every watcher of the run is woken");
        assert_eq!(pulse.status, Some(RunStatus::Cancelled));
    }
    drop(first);
    assert_eq!(signals.watched(), 1, "one watcher is left");
    drop(second);
    assert_eq!(signals.watched(), 0, "the run's signal is gone");
}

#[tokio::test]
async fn missed_notices_wake_every_watcher() {
    let store = store();
    let signals = RunSignals::new(store.as_ref());
    let runs = [create(store.as_ref()).await, create(store.as_ref()).await];
    let noisy = create(store.as_ref()).await;
    // Before the first watch, nothing reads the notices: more of them than the store keeps
    // for a slow reader make the routing task miss some once it starts.
    for _ in 0..1100 {
        store
            .append_events(
                &noisy,
                &[RunEvent::Status {
                    status: RunStatus::Running,
                }],
            )
            .await
            .expect("append");
    }
    let mut watches: Vec<_> = runs.iter().map(|run| signals.watch(run)).collect();
    for watch in &mut watches {
        let pulse = tokio::time::timeout(WAKE, watch.changed())
            .await
            .expect("every watcher is woken after missed notices");
        assert_eq!(pulse.missed, 1);
        assert_eq!(pulse.status, None, "nothing is known of what was missed");
    }
}
