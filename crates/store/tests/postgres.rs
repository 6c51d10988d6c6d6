//! Runs the `Store` behavioural suite against `PostgresStore` (a fresh database of one shared
//! test cluster per case), plus the PostgreSQL-only checks: concurrent migrations, notices
//! between stores over `LISTEN`/`NOTIFY`, secrets at rest, refusing a newer schema.

mod suite;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use forage_api::RunStatus;
use forage_store::postgres::SCHEMA_VERSION;
use forage_store::{Notice, PostgresStore, Store, StoreError};
use forage_testkit::postgres::TempPostgres;

/// One cluster for the whole test binary (its watchdog stops it when the binary exits).
fn cluster() -> &'static TempPostgres {
    static CLUSTER: OnceLock<TempPostgres> = OnceLock::new();
    CLUSTER.get_or_init(TempPostgres::start)
}

async fn connect(url: &str) -> PostgresStore {
    PostgresStore::connect(url, suite::cipher())
        .await
        .expect("connect to the test PostgreSQL")
}

/// A store on a new, empty database.
async fn fresh() -> (String, Arc<dyn Store>) {
    let url = cluster().fresh_database();
    let store = connect(&url).await;
    (url, Arc::new(store))
}

macro_rules! suite_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (_url, store) = fresh().await;
                suite::$case(store).await;
            }
        )*
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
    cancelling_a_running_run_goes_through_its_worker,
    abandoned_cancellation_ends_cancelled,
    groups_count_members_and_log_changes,
    adding_group_runs_is_atomic,
    webhook_delivery_is_enqueued_leased_and_recorded,
    webhook_delivery_for_every_end_and_give_up,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durable_across_reopen() {
    let url = cluster().fresh_database();
    suite::durable_across_reopen(|| {
        let url = url.clone();
        async move { Arc::new(connect(&url).await) as Arc<dyn Store> }
    })
    .await;
}

/// Three nodes starting at once on an empty database: one migrates, the others wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_are_safe() {
    let url = cluster().fresh_database();
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let url = url.clone();
        starts.spawn(async move { PostgresStore::connect(&url, suite::cipher()).await });
    }
    let mut stores = Vec::new();
    while let Some(started) = starts.join_next().await {
        stores.push(started.expect("task").expect("every node starts"));
    }
    for store in &stores {
        assert_eq!(
            store.schema_version().await.expect("version"),
            SCHEMA_VERSION
        );
    }
    // Migrating again changes nothing.
    assert_eq!(
        PostgresStore::migrate(&url).await.expect("migrate"),
        SCHEMA_VERSION
    );
    let run = stores[0]
        .create_run(suite::new_run("owner-a"))
        .await
        .expect("create");
    assert!(stores[2].get_run(&run.id).await.expect("get").is_some());
}

/// A notice from one store reaches the receivers of another on the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notices_cross_stores_through_notify() {
    let url = cluster().fresh_database();
    let a = connect(&url).await;
    let b = connect(&url).await;
    let mut heard_by_b = b.notices();
    let run = a
        .create_run(suite::new_run("owner-a"))
        .await
        .expect("create");
    let leased = b
        .lease_next("w-b", Duration::from_secs(30))
        .await
        .expect("lease")
        .expect("run");
    let mut heard_by_a = a.notices();
    a.append_events(
        &run.id,
        &[forage_api::RunEvent::Progress {
            progress: forage_api::ProgressKind::Plan,
            message: "on node a".into(),
        }],
    )
    .await
    .expect("append");
    b.finish(&leased.lease, suite::completed("ok"))
        .await
        .expect("finish");

    let want_b = [
        Notice::RunQueued,
        Notice::EventsAppended {
            run_id: run.id.clone(),
            seq: 3,
        },
    ];
    for want in want_b {
        wait_for(&mut heard_by_b, &want).await;
    }
    wait_for(
        &mut heard_by_a,
        &Notice::RunChanged {
            run_id: run.id.clone(),
            status: RunStatus::Completed,
        },
    )
    .await;
}

async fn wait_for(rx: &mut tokio::sync::broadcast::Receiver<Notice>, want: &Notice) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(notice)) if notice == *want => return,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("notice channel: {e}"),
            Err(_) => panic!("no {want:?} within 5 s"),
        }
    }
}

/// A run created on one node whose request another node (with another key) cannot open fails,
/// saying the keys differ: nodes must share FORAGE_SECRET_KEY.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_with_different_secret_keys_are_told_apart() {
    let url = cluster().fresh_database();
    let a = connect(&url).await;
    let mut new = suite::new_run("owner-a");
    new.request = suite::request(true);
    a.create_run(new.clone()).await.expect("create");

    let other = PostgresStore::connect(&url, forage_store::SecretCipher::from_key(&[9; 32]))
        .await
        .expect("connect");
    let err = other.get_request(&new.id).await.expect_err("wrong key");
    assert!(matches!(err, StoreError::Secrets(_)), "{err}");
    assert!(
        other
            .lease_next("w", Duration::from_secs(30))
            .await
            .expect("lease")
            .is_none()
    );
    let record = a.get_run(&new.id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert!(record.error.unwrap().message.contains("secret key differs"));
}

/// Header values are sealed in the database: a raw scan of the stored request finds none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn header_values_are_sealed_in_the_database() {
    let url = cluster().fresh_database();
    let store = connect(&url).await;
    let mut new = suite::new_run("owner-a");
    new.request = suite::request(true);
    store.create_run(new.clone()).await.expect("create");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("raw connect");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT request || coalesce(secrets_sealed, '') FROM run_requests WHERE run_id = $1",
            &[&new.id.as_str()],
        )
        .await
        .expect("raw read");
    let stored: String = row.get(0);
    assert!(stored.contains("[redacted]"));
    for secret in [suite::HEADER_SECRET, "sk-forage-test", "tenant-secret-88"] {
        assert!(!stored.contains(secret), "'{secret}' is stored in clear");
    }
}

/// A database migrated by a newer forage is refused, and left as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newer_schema_is_refused() {
    let url = cluster().fresh_database();
    drop(connect(&url).await);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("raw connect");
    tokio::spawn(connection);
    client
        .execute(
            "INSERT INTO forage_schema (version) VALUES ($1)",
            &[&(SCHEMA_VERSION as i32 + 1)],
        )
        .await
        .expect("bump");
    let err = PostgresStore::connect(&url, suite::cipher())
        .await
        .expect_err("newer schema");
    let message = err.to_string();
    assert!(message.contains("newer"), "{message}");
    assert!(
        message.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{message}"
    );
}

/// A URL that is not a PostgreSQL URL, or a server that is not there, is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_urls_are_refused_clearly() {
    let err = PostgresStore::connect("postgres://u:hunter2@[::1", suite::cipher())
        .await
        .expect_err("malformed");
    let message = err.to_string();
    assert!(message.contains("not a valid PostgreSQL URL"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = PostgresStore::connect(
        &format!("postgres://u:hunter2@127.0.0.1:{port}/x?sslmode=disable"),
        suite::cipher(),
    )
    .await
    .expect_err("nobody listens");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
