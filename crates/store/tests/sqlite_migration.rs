//! A database written by the previous schema (version 3, rows keyed by text ids) is migrated on
//! open with everything in it readable as before: runs, requests with sealed header values,
//! outputs, transcripts, events, checkpoints, groups with their counts and logs, and webhook
//! deliveries; the counts admission weighs start from the migrated runs; and new work goes on
//! beside it.

use std::collections::BTreeMap;
use std::time::Duration;

use forage_api::{InteractionId, RunEvent, RunId, RunStatus, TaskRunCreate};
use forage_store::sqlite::SCHEMA_VERSION;
use forage_store::{
    CapReached, CheckpointPart, DeliveryState, GroupRunsQuery, ListQuery, NewRun, RunCaps,
    SecretCipher, SqliteStore, Store, StoreError,
};
use rusqlite::{Connection, params};
use serde_json::json;
use serde_json::value::RawValue;

/// The migrations of schema version 3, as an earlier forage applied them.
const VERSION_3: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_groups_webhooks.sql"),
    include_str!("../migrations/0003_checkpoints.sql"),
];

/// The migrations from schema version 3 to 6, which kept a checkpoint's batch beside its state.
const VERSION_4_TO_6: &[&str] = &[
    include_str!("../migrations/0004_compact_keys.sql"),
    include_str!("../migrations/0005_checkpoint_batches.sql"),
    include_str!("../migrations/0006_active_run_counts.sql"),
];

const RUN_A: &str = "trun_0000000000000000000000000000000a";
const RUN_B: &str = "trun_0000000000000000000000000000000b";
const RUN_C: &str = "trun_0000000000000000000000000000000c";
const GROUP: &str = "tgrp_00000000000000000000000000000001";
const HEADER_SECRET: &str = "Bearer migrated-secret-1";
const OWNER: &str = "owner-a";

fn cipher() -> SecretCipher {
    SecretCipher::from_key(&[7u8; 32])
}

fn request_with_header() -> TaskRunCreate {
    serde_json::from_value(json!({
        "input": "second",
        "processor": "core",
        "mcp_servers": [{
            "type": "url",
            "name": "crm",
            "url": "https://mcp.example.com/mcp",
            "headers": {"Authorization": HEADER_SECRET}
        }]
    }))
    .expect("request")
}

fn output(answer: &str) -> String {
    json!({"type": "text", "content": answer, "basis": [], "mcp_tool_calls": null}).to_string()
}

fn transcript(answer: &str) -> serde_json::Value {
    json!([{"role": "assistant", "content": answer}])
}

fn status_event(status: &str) -> String {
    json!({"kind": "status", "status": status}).to_string()
}

/// Writes a version-3 database: run A completed (in the group, with a webhook delivery), run B
/// running in the group with an expired lease and a checkpoint, run C continuing A's interaction.
fn write_version_3(conn: &Connection) {
    for sql in VERSION_3 {
        conn.execute_batch(sql).expect("version 3 migration");
    }
    conn.pragma_update(None, "user_version", 3)
        .expect("version");
    let (request_b, sealed_b) = {
        let request = request_with_header();
        let clear = serde_json::to_vec(&request.mcp_header_secrets()).expect("secrets");
        (
            request.to_echo().to_string(),
            cipher().seal(&clear).expect("seal"),
        )
    };
    let at = 1_790_000_000_000_000_i64;
    conn.execute(
        "INSERT INTO task_groups (id, owner, metadata, created_at, modified_at, num_runs, \
         last_event_seq) VALUES (?1, ?2, '{\"batch\":1}', ?3, ?3, 2, 5)",
        params![GROUP, OWNER, at],
    )
    .expect("group");
    for (status, count) in [("completed", 1), ("running", 1), ("queued", 0)] {
        conn.execute(
            "INSERT INTO task_group_counts (group_id, status, count) VALUES (?1, ?2, ?3)",
            params![GROUP, status, count],
        )
        .expect("count");
    }
    let runs = [
        (1, RUN_A, RUN_A, "completed", Some(GROUP), 3, None, None),
        (
            2,
            RUN_B,
            RUN_B,
            "running",
            Some(GROUP),
            2,
            Some("token-b"),
            Some(1_i64),
        ),
        (3, RUN_C, RUN_A, "completed", None, 3, None, None),
    ];
    for (seq, id, interaction, status, group, last_event, token, expires) in runs {
        conn.execute(
            "INSERT INTO runs (seq, id, interaction_id, owner, processor, status, created_at, \
             modified_at, taskgroup_id, input_tokens, output_tokens, llm_calls, attempts, \
             lease_token, lease_worker, lease_expires_at, last_event_seq, webhook_url) \
             VALUES (?1, ?2, ?3, ?4, 'core', ?5, ?6, ?6, ?7, 100, 20, 1, 1, ?8, 'w-old', ?9, \
             ?10, ?11)",
            params![
                seq,
                id,
                interaction,
                OWNER,
                status,
                at + seq,
                group,
                token,
                expires,
                last_event,
                (id == RUN_A).then_some("https://hooks.example.com/a"),
            ],
        )
        .expect("run");
    }
    let plain = |input: &str| json!({"input": input, "processor": "core"}).to_string();
    for (id, request, sealed) in [
        (RUN_A, plain("first"), None),
        (RUN_B, request_b, Some(sealed_b)),
        (RUN_C, plain("third"), None),
    ] {
        conn.execute(
            "INSERT INTO run_requests (run_id, request, secrets_sealed) VALUES (?1, ?2, ?3)",
            params![id, request, sealed],
        )
        .expect("request");
    }
    for (id, answer) in [(RUN_A, "one"), (RUN_C, "two")] {
        conn.execute(
            "INSERT INTO run_outputs (run_id, output, transcript) VALUES (?1, ?2, ?3)",
            params![id, output(answer), transcript(answer).to_string()],
        )
        .expect("output");
    }
    for (id, statuses) in [
        (RUN_A, &["queued", "running", "completed"][..]),
        (RUN_B, &["queued", "running"][..]),
        (RUN_C, &["queued", "running", "completed"][..]),
    ] {
        for (seq, status) in statuses.iter().enumerate() {
            conn.execute(
                "INSERT INTO events (run_id, seq, at, body) VALUES (?1, ?2, ?3, ?4)",
                params![id, seq as i64 + 1, at, status_event(status)],
            )
            .expect("event");
        }
    }
    let group_log = [
        (RUN_A, "queued"),
        (RUN_B, "queued"),
        (RUN_A, "running"),
        (RUN_B, "running"),
        (RUN_A, "completed"),
    ];
    for (seq, (run, status)) in group_log.iter().enumerate() {
        conn.execute(
            "INSERT INTO task_group_events (group_id, seq, at, run_id, status) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![GROUP, seq as i64 + 1, at, run, status],
        )
        .expect("group event");
    }
    conn.execute(
        "INSERT INTO run_checkpoints (run_id, version, state) VALUES (?1, 4, '{\"turns\":2}')",
        [RUN_B],
    )
    .expect("checkpoint");
    conn.execute(
        "INSERT INTO webhook_deliveries (seq, id, run_id, owner, url, state, attempts, \
         created_at, next_attempt_at) VALUES (1, 'whevent_00000000000000000000000000000001', \
         ?1, ?2, 'https://hooks.example.com/a', 'pending', 0, ?3, ?3)",
        params![RUN_A, OWNER, at],
    )
    .expect("delivery");
}

fn run_id(text: &str) -> RunId {
    RunId::parse(text).expect("run id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_3_database_is_migrated_with_everything_in_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("forage.db");
    write_version_3(&Connection::open(&path).expect("open raw"));

    let store = SqliteStore::open(&path, cipher()).expect("open and migrate");
    let (a, b, c) = (run_id(RUN_A), run_id(RUN_B), run_id(RUN_C));

    let run_a = store.get_run(&a).await.expect("get").expect("run A");
    assert_eq!(run_a.status, RunStatus::Completed);
    assert_eq!(run_a.interaction_id.as_str(), RUN_A);
    assert_eq!(run_a.taskgroup_id.as_deref(), Some(GROUP));
    assert_eq!(run_a.usage.input_tokens, 100);
    let run_c = store.get_run(&c).await.expect("get").expect("run C");
    assert_eq!(run_c.interaction_id.as_str(), RUN_A, "C continues A");
    assert_eq!(run_c.taskgroup_id, None);

    let events = store.events_after(&a, 0, 10).await.expect("events");
    let statuses: Vec<_> = events
        .iter()
        .map(|e| match &e.event {
            RunEvent::Status { status } => (e.seq, *status),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (1, RunStatus::Queued),
            (2, RunStatus::Running),
            (3, RunStatus::Completed)
        ]
    );
    assert!(events.iter().all(|e| e.run_id == a));
    assert!(store.get_output(&a).await.expect("output").is_some());
    assert_eq!(
        store
            .interaction_transcript(OWNER, &InteractionId::new(RUN_A))
            .await
            .expect("transcript"),
        Some(transcript("two")),
        "the interaction's latest completed run is C"
    );

    let group = store.get_group(GROUP).await.expect("group").expect("group");
    assert_eq!(group.num_runs, 2);
    assert_eq!(group.last_event_seq, 5);
    assert_eq!(
        group.status_counts,
        BTreeMap::from([("completed".to_owned(), 1), ("running".to_owned(), 1)])
    );
    assert_eq!(
        group.metadata,
        Some(serde_json::from_value(json!({"batch": 1})).unwrap())
    );
    let log = store
        .group_events_after(GROUP, 2, 10)
        .await
        .expect("group events");
    let log: Vec<_> = log
        .iter()
        .map(|e| (e.seq, e.run_id.clone(), e.status))
        .collect();
    assert_eq!(
        log,
        [
            (3, a.clone(), RunStatus::Running),
            (4, b.clone(), RunStatus::Running),
            (5, a.clone(), RunStatus::Completed)
        ]
    );
    let members = store
        .group_runs(
            GROUP,
            &GroupRunsQuery {
                after: 0,
                status: None,
                limit: 10,
            },
        )
        .await
        .expect("members");
    let members: Vec<_> = members.iter().map(|m| m.record.id.clone()).collect();
    assert_eq!(members, [a.clone(), b.clone()]);

    let deliveries = store.run_deliveries(&a).await.expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].state, DeliveryState::Pending);
    assert_eq!(deliveries[0].url, "https://hooks.example.com/a");
    let leased = store
        .lease_deliveries(Duration::from_secs(30), 10)
        .await
        .expect("lease deliveries");
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].run_id, a);

    // B's lease expired: it is leased again, with its checkpoint and its header value in clear.
    let resumed = store
        .lease_next("w-new", Duration::from_secs(30))
        .await
        .expect("lease")
        .expect("B is leased again");
    assert_eq!(resumed.record.id, b);
    let checkpoint = resumed.checkpoint.expect("B's checkpoint");
    assert_eq!(checkpoint.version, 4);
    let state: serde_json::Value = serde_json::from_str(checkpoint.state.get()).unwrap();
    assert_eq!(state, json!({"turns": 2}));
    assert_eq!(
        resumed.request.mcp_header_secrets()["crm"]["Authorization"],
        HEADER_SECRET
    );

    let listed = store
        .list_runs(
            OWNER,
            &ListQuery {
                status: None,
                before: None,
                limit: 10,
            },
        )
        .await
        .expect("list");
    let listed: Vec<_> = listed.iter().map(|r| r.id.clone()).collect();
    assert_eq!(listed, [c.clone(), b.clone(), a.clone()]);

    // New runs go on after the migrated ones, alone and in the migrated group.
    let new_id = RunId::generate();
    let new_run = |id: RunId| NewRun {
        interaction_id: InteractionId::for_run(&id),
        id,
        owner: OWNER.to_owned(),
        processor: "core".parse().expect("processor"),
        request: serde_json::from_value(json!({"input": "fourth", "processor": "core"}))
            .expect("request"),
        warnings: Vec::new(),
        created_at: chrono::Utc::now(),
    };
    // Admission counts B, running, among the owner's unfinished runs.
    let depth = store.queue_depth().await.expect("queue depth");
    assert_eq!((depth.queued, depth.running), (0, 1));
    let one_unfinished = RunCaps {
        per_owner: Some(1),
        queued: None,
    };
    let refused = store
        .create_run_within(new_run(RunId::generate()), one_unfinished)
        .await
        .expect_err("B fills the owner's cap");
    assert!(
        matches!(
            refused,
            StoreError::CapReached(CapReached::PerOwner { active: 1, max: 1 })
        ),
        "{refused}"
    );
    store
        .create_run(new_run(new_id.clone()))
        .await
        .expect("create");
    let group = store
        .add_group_runs(GROUP, vec![new_run(RunId::generate())], RunCaps::NONE)
        .await
        .expect("add to group");
    assert_eq!(group.num_runs, 3);
    assert_eq!(group.last_event_seq, 6);
    let newest = store
        .list_runs(
            OWNER,
            &ListQuery {
                status: Some(RunStatus::Queued),
                before: None,
                limit: 1,
            },
        )
        .await
        .expect("list");
    assert_ne!(newest[0].id, new_id, "the group member came last");
    assert!(store.get_run(&new_id).await.expect("get").is_some());
    drop(store);

    let conn = Connection::open(&path).expect("open raw");
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let leftovers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'old_%'")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .expect("schema");
    assert!(
        leftovers.is_empty(),
        "the old tables are gone: {leftovers:?}"
    );
}

/// A checkpoint whose batch was saved beside its state (schema version 6) comes back the same
/// after the batch moves to a row of its own, and the next batch saved replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_saved_beside_its_state_is_migrated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("forage.db");
    {
        let conn = Connection::open(&path).expect("open raw");
        write_version_3(&conn);
        for sql in VERSION_4_TO_6 {
            conn.execute_batch(sql).expect("migrations 4 to 6");
        }
        conn.pragma_update(None, "user_version", 6)
            .expect("version");
        // Schema 6 saved a batch over the state's version, beside it.
        conn.execute(
            "UPDATE run_checkpoints SET version = 6, batch = '{\"finished\":[\"c1\"]}' \
             WHERE run_seq = (SELECT seq FROM runs WHERE id = ?1)",
            [RUN_B],
        )
        .expect("batch");
    }

    let store = SqliteStore::open(&path, cipher()).expect("open and migrate");
    let resumed = store
        .lease_next("w-new", Duration::from_secs(30))
        .await
        .expect("lease")
        .expect("B is leased again");
    assert_eq!(resumed.record.id, run_id(RUN_B));
    let checkpoint = resumed.checkpoint.expect("B's checkpoint");
    assert_eq!(checkpoint.version, 6);
    assert_eq!(checkpoint.state.get(), r#"{"turns":2}"#);
    assert_eq!(
        checkpoint.batch.as_ref().map(|b| b.get()),
        Some(r#"{"finished":["c1"]}"#)
    );

    let batch = RawValue::from_string(r#"{"finished":["c1","c2"]}"#.to_owned()).unwrap();
    store
        .save_checkpoint(&resumed.lease, 7, CheckpointPart::Batch(batch), Vec::new())
        .await
        .expect("save the next batch");
    store.release(&resumed.lease).await.expect("release");
    let again = store
        .lease_next("w-next", Duration::from_secs(30))
        .await
        .expect("lease")
        .expect("B is leased again");
    let checkpoint = again.checkpoint.expect("B's checkpoint");
    assert_eq!(checkpoint.version, 7);
    assert_eq!(checkpoint.state.get(), r#"{"turns":2}"#);
    assert_eq!(
        checkpoint.batch.as_ref().map(|b| b.get()),
        Some(r#"{"finished":["c1","c2"]}"#)
    );
    drop(store);

    let conn = Connection::open(&path).expect("open raw");
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('run_checkpoints')")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .expect("columns");
    assert_eq!(columns, ["run_seq", "version", "state"]);
}
