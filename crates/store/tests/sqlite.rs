//! Runs the `Store` behavioural suite against `SqliteStore` (a fresh database file per case),
//! plus the SQLite-only checks: secrets at rest, migrations, schema versions, in-memory mode.

mod suite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use forage_store::sqlite::SCHEMA_VERSION;
use forage_store::{RunCaps, SqliteStore, Store, StoreError};
use tempfile::TempDir;

/// A store on a new database file; keep the directory alive as long as the store.
fn fresh() -> (TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&db_path(&dir));
    (dir, store)
}

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("data").join("forage.db")
}

fn open(path: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(path, suite::cipher()).expect("open store"))
}

macro_rules! suite_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (_dir, store) = fresh();
                suite::$case(store).await;
            }
        )*

        /// The same cases on an in-memory database.
        mod in_memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let store = SqliteStore::open_in_memory(suite::cipher()).expect("open");
                    suite::$case(Arc::new(store)).await;
                }
            )*
        }
    };
}

suite_cases!(
    create_get_round_trip,
    request_headers_redacted_in_echo_clear_when_leased,
    lease_order_is_fifo,
    concurrent_workers_never_share_a_run,
    expired_lease_is_leased_again,
    heartbeat_keeps_the_lease,
    release_requeues,
    checkpoints_come_back_with_the_run,
    finish_stores_the_result,
    queued_events_keep_their_place_among_writes,
    concurrent_appends_get_consecutive_seqs,
    events_after_pages,
    list_runs_pages_filters_and_isolates,
    interaction_transcript_is_latest_completed_of_owner,
    notices_are_sent,
    many_concurrent_creates_complete,
    many_concurrent_lookups_each_get_their_own_run,
    a_failing_command_does_not_fail_its_batch_mates,
    cancelling_a_queued_run_is_immediate,
    creates_stay_within_their_caps,
    admission_counts_follow_every_status_change,
    concurrent_creates_cannot_overshoot_a_cap,
    cancelling_a_running_run_goes_through_its_worker,
    abandoned_cancellation_ends_cancelled,
    groups_count_members_and_log_changes,
    adding_group_runs_is_atomic,
    webhook_delivery_is_enqueued_leased_and_recorded,
    webhook_delivery_for_every_end_and_give_up,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durable_across_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = db_path(&dir);
    suite::durable_across_reopen(|| {
        let path = path.clone();
        async move { open(&path) }
    })
    .await;
}

/// While the store runs, committed pages are copied from the write-ahead log into the database
/// file (by the checkpoint thread; the writer itself never checkpoints).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_is_copied_into_the_database_file_while_the_store_runs() {
    let (dir, store) = fresh();
    let path = db_path(&dir);
    let size = || std::fs::metadata(&path).expect("database file").len();
    let before = size();
    // More commits than one checkpoint waits for; each create is its own commit here.
    for _ in 0..200 {
        store
            .create_run(suite::new_run("owner-a"))
            .await
            .expect("create");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {before} bytes: nothing was checkpointed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // What was copied is readable by a fresh connection after the store closes.
    drop(store);
    let reopened = open(&path);
    assert_eq!(
        reopened.queue_depth().await.expect("depth").queued,
        200,
        "every run survives"
    );
}

/// Every byte of every file in `dir` (database, WAL, shared memory), concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else {
            bytes.extend(std::fs::read(&path).expect("read file"));
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn header_values_never_reach_the_database_files() {
    let (dir, store) = fresh();
    let mut new = suite::new_run("owner-a");
    new.request = suite::request(true);
    store.create_run(new.clone()).await.expect("create");
    let leased = store
        .lease_next("w1", std::time::Duration::from_secs(60))
        .await
        .expect("lease")
        .expect("run");
    store
        .finish(&leased.lease, suite::completed("ok"))
        .await
        .expect("finish");

    let check = |phase: &str| {
        let bytes = all_bytes(dir.path());
        assert!(
            contains(&bytes, new.id.as_str()),
            "{phase}: the scan sees the database"
        );
        assert!(
            contains(&bytes, "[redacted]"),
            "{phase}: the redacted request is stored"
        );
        for secret in [suite::HEADER_SECRET, "sk-forage-test", "tenant-secret-88"] {
            assert!(
                !contains(&bytes, secret),
                "{phase}: '{secret}' is in the database files"
            );
        }
    };
    // While open (recent pages in the WAL), then closed (checkpointed into the main file).
    check("open");
    drop(store);
    check("closed");

    // The sealed values open only with the same key.
    let other_key = SqliteStore::open(
        &db_path(&dir),
        forage_store::SecretCipher::from_key(&[9; 32]),
    )
    .expect("open");
    let err = other_key.get_request(&new.id).await.expect_err("wrong key");
    assert!(matches!(err, StoreError::Secrets(_)), "{err}");
    assert!(err.to_string().contains("secret key differs"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_whose_secrets_cannot_be_opened_fails_instead_of_looping() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&db_path(&dir), suite::cipher()).expect("open");
    let mut new = suite::new_run("owner-a");
    new.request = suite::request(true);
    store.create_run(new.clone()).await.expect("create");
    drop(store);

    let other_key = SqliteStore::open(
        &db_path(&dir),
        forage_store::SecretCipher::from_key(&[9; 32]),
    )
    .expect("open");
    let leased = other_key
        .lease_next("w", std::time::Duration::from_secs(30))
        .await
        .expect("lease does not error");
    assert!(leased.is_none(), "the unreadable run is not handed out");
    let record = other_key.get_run(&new.id).await.unwrap().unwrap();
    assert_eq!(record.status, forage_api::RunStatus::Failed);
    let message = record.error.unwrap().message;
    assert!(message.contains("secret key differs"), "{message}");
}

fn user_version(path: &Path) -> u32 {
    let conn = rusqlite::Connection::open(path).expect("open raw");
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_on_an_existing_database_are_idempotent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = db_path(&dir);
    let run = suite::new_run("owner-a");
    {
        let store = open(&path);
        store.create_run(run.clone()).await.expect("create");
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    for _ in 0..3 {
        let store = open(&path);
        assert!(store.get_run(&run.id).await.expect("get").is_some());
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let conn = rusqlite::Connection::open(&path).expect("open raw");
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = db_path(&dir);
    drop(open(&path));
    {
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set version");
    }
    let err = SqliteStore::open(&path, suite::cipher()).expect_err("newer schema");
    let message = err.to_string();
    assert!(message.contains("newer"), "{message}");
    assert!(
        message.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{message}"
    );
    assert_eq!(user_version(&path), SCHEMA_VERSION + 1, "left untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_that_is_not_a_database_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("forage.db");
    std::fs::write(&path, vec![b'x'; 4096]).expect("write");
    let err = SqliteStore::open(&path, suite::cipher()).expect_err("garbage");
    assert!(
        err.to_string().contains("not a forage SQLite database"),
        "{err}"
    );
}

/// A run created for an idle worker is leased to it in the same write: it starts running with
/// its request, no worker is woken for it, and nobody else can lease it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_created_for_an_idle_worker_is_leased_to_it() {
    use forage_api::{RunEvent, RunStatus};
    use forage_store::Notice;

    let (_dir, store) = fresh();
    let mut notices = store.notices();
    let mut new = suite::new_run("owner-a");
    new.request.metadata =
        Some(serde_json::from_value(serde_json::json!({"team": "north", "n": 2})).unwrap());
    new.warnings = vec![forage_api::Warning::new(
        forage_api::WarningKind::InputValidationWarning,
        "input is short",
    )];
    let request = new.request.clone();
    let id = new.id.clone();
    let lease_for = std::time::Duration::from_secs(30);
    let (record, leased) = store
        .create_run_leased(new, RunCaps::NONE, "w-idle", lease_for)
        .await
        .expect("create");
    assert_eq!(record.status, RunStatus::Queued, "the run as created");
    let leased = leased.expect("leased at creation");
    assert_eq!(leased.lease.run_id, id);
    assert_eq!(leased.record.status, RunStatus::Running);
    assert_eq!(leased.record.attempts, 1);
    assert_eq!(
        Some(&leased.record),
        store.get_run(&id).await.expect("get").as_ref(),
        "the leased run is the run as stored, field for field"
    );
    assert_eq!(leased.request, request);
    assert!(leased.checkpoint.is_none());

    let events: Vec<_> = store
        .events_after(&id, 0, 10)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        [
            RunEvent::Status {
                status: RunStatus::Queued
            },
            RunEvent::Status {
                status: RunStatus::Running
            }
        ]
    );
    while let Ok(notice) = notices.try_recv() {
        assert!(
            !matches!(notice, Notice::RunQueued),
            "no worker is woken for a run already handed over"
        );
    }
    assert!(
        store
            .lease_next("w-other", lease_for)
            .await
            .expect("lease")
            .is_none()
    );
    let outcome = suite::completed("done");
    store.finish(&leased.lease, outcome).await.expect("finish");
    assert_eq!(
        store.get_run(&id).await.unwrap().unwrap().status,
        RunStatus::Completed
    );
}

/// A run created while another waits in the queue is not handed over ahead of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_created_behind_a_queued_one_stays_queued() {
    let (_dir, store) = fresh();
    let lease_for = std::time::Duration::from_secs(30);
    let first = store
        .create_run(suite::new_run("owner-a"))
        .await
        .expect("first");
    let (second, leased) = store
        .create_run_leased(
            suite::new_run("owner-a"),
            RunCaps::NONE,
            "w-idle",
            lease_for,
        )
        .await
        .expect("second");
    assert!(leased.is_none(), "the queue's order holds");
    let next = store.lease_next("w-1", lease_for).await.unwrap().unwrap();
    assert_eq!(next.record.id, first.id);
    let next = store.lease_next("w-2", lease_for).await.unwrap().unwrap();
    assert_eq!(next.record.id, second.id);
}
