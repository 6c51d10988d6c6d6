//! Three `forage serve` nodes on one PostgreSQL: 1,000 runs submitted round-robin, one node
//! SIGKILLed midway; every run completes exactly once, none is lost, and every result is
//! readable from every surviving node.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Api, ForageServer, ServerOpts};
use forage_testkit::llm::FakeLlm;
use forage_testkit::postgres::TempPostgres;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

const RUNS: usize = 1_000;
/// The same key on every node: a run created on one is executed by another.
const SECRET_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const DATABASE: &str = "forage";

fn opts(llm: &FakeLlm, url: &str) -> ServerOpts {
    ServerOpts::new(&llm.base_url)
        .env("FORAGE_DATABASE_URL", url)
        .env("FORAGE_SECRET_KEY", SECRET_KEY)
        .env("FORAGE_LEASE_SECS", 3)
        .env("FORAGE_WORKERS", 16)
        .env("FORAGE_SHUTDOWN_GRACE_SECS", 2)
}

/// Runs by status, straight from the database.
fn statuses(pg: &TempPostgres) -> BTreeMap<String, usize> {
    pg.psql(
        DATABASE,
        "SELECT status, count(*) FROM runs GROUP BY status",
    )
    .lines()
    .filter_map(|line| {
        let (status, n) = line.split_once('|')?;
        Some((status.to_owned(), n.parse().ok()?))
    })
    .collect()
}

async fn create_all(nodes: &[Api]) -> Vec<String> {
    let created: Vec<(usize, String)> = futures::stream::iter(0..RUNS)
        .map(|i| {
            let api = nodes[i % nodes.len()].clone();
            async move {
                let body = json!({
                    "input": format!("Multi-node run {i} [[fake:no_tools]] [[fake:delay_ms=15]]"),
                    "processor": "lite",
                    "task_spec": {"output_schema": {"type": "text"}},
                });
                let run = api.create(&body).await;
                (i, run["run_id"].as_str().expect("run_id").to_owned())
            }
        })
        .buffer_unordered(48)
        .collect()
        .await;
    let mut created = created;
    created.sort();
    created.into_iter().map(|(_, id)| id).collect()
}

/// Each run's result from `api`: problems, if any.
async fn read_results(api: &Api, ids: &[String]) -> Vec<String> {
    futures::stream::iter(ids.iter().cloned())
        .map(|id| {
            let api = api.clone();
            async move {
                let reply = api.result(&id, 30).await;
                if reply.status != StatusCode::OK {
                    return Some(format!(
                        "{id}: result answered {}: {}",
                        reply.status, reply.text
                    ));
                }
                if reply.body["run"]["status"] != json!("completed") {
                    return Some(format!("{id}: status {}", reply.body["run"]["status"]));
                }
                let text = reply.body["output"]["content"].as_str().unwrap_or_default();
                (text.trim().is_empty()).then(|| format!("{id}: empty output: {}", reply.text))
            }
        })
        .buffer_unordered(32)
        .filter_map(|p| async move { p })
        .collect()
        .await
}

/// A pseudo-random sample of `n` ids (seeded from the clock, printed for reruns).
fn sample(ids: &[String], n: usize, seed: u64) -> Vec<String> {
    let mut state = seed | 1;
    let mut picked: Vec<String> = Vec::new();
    let mut pool: Vec<&String> = ids.iter().collect();
    while picked.len() < n && !pool.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = (state % pool.len() as u64) as usize;
        picked.push(pool.swap_remove(at).clone());
    }
    picked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_complete_every_run_exactly_once_through_a_sigkill() {
    let started = Instant::now();
    let pg = TempPostgres::start();
    let url = pg.create_database(DATABASE);
    let llm = FakeLlm::start().await;

    // Three nodes starting at once migrate the empty database safely.
    let (a, b, c) = tokio::join!(
        ForageServer::start(opts(&llm, &url)),
        ForageServer::start(opts(&llm, &url)),
        ForageServer::start(opts(&llm, &url)),
    );
    let mut nodes = [a, b, c];
    let apis: Vec<Api> = nodes.iter().map(ForageServer::api).collect();

    let ids = create_all(&apis).await;
    assert_eq!(ids.len(), RUNS);
    println!("created {RUNS} runs in {:?}", started.elapsed());

    // Midway: once a quarter of the runs completed, node 1 dies with its runs in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = statuses(&pg);
        if counts.get("completed").copied().unwrap_or(0) >= RUNS / 4 {
            println!("before SIGKILL: {counts:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "runs do not progress: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nodes[1].kill_9();

    // Every run completes on the surviving nodes (node 1's after its leases expire).
    let deadline = Instant::now() + Duration::from_secs(60);
    let finals = loop {
        let counts = statuses(&pg);
        let active: usize = ["queued", "running", "cancelling"]
            .iter()
            .filter_map(|s| counts.get(*s))
            .sum();
        if active == 0 {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "runs still active after 60 s: {counts:?}\n--- node 0 log ---\n{}",
            common::tail(&nodes[0].log(), 4000)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("final: {finals:?} after {:?}", started.elapsed());
    assert_eq!(
        finals.get("completed").copied(),
        Some(RUNS),
        "all completed: {finals:?}"
    );
    assert_eq!(
        pg.psql(DATABASE, "SELECT count(*) FROM runs"),
        RUNS.to_string()
    );

    // Exactly one `completed` status event in each run's log: no run completed twice.
    let wrong = pg.psql(
        DATABASE,
        "SELECT r.id || ':' || count(e.seq) FROM runs r LEFT JOIN events e ON e.run_id = r.id \
         AND e.body::jsonb = '{\"kind\": \"status\", \"status\": \"completed\"}'::jsonb \
         GROUP BY r.id HAVING count(e.seq) <> 1",
    );
    assert!(
        wrong.is_empty(),
        "runs without exactly one completed event: {wrong}"
    );
    let resumed = pg.psql(DATABASE, "SELECT count(*) FROM runs WHERE attempts > 1");
    println!("runs re-leased after the SIGKILL: {resumed}");
    assert_ne!(
        resumed, "0",
        "node 1 held runs when it died; they were re-leased"
    );

    // Every result through node 0; a random 100 through node 2.
    let problems = read_results(&apis[0], &ids).await;
    assert!(problems.is_empty(), "node 0:\n{}", problems.join("\n"));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(42);
    println!("sample seed {seed}");
    let problems = read_results(&apis[2], &sample(&ids, 100, seed)).await;
    assert!(problems.is_empty(), "node 2:\n{}", problems.join("\n"));
    println!("done in {:?}", started.elapsed());
}

/// A client long-polling a run's result on one node is answered when another node finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn result_long_poll_and_events_work_across_nodes() {
    let pg = TempPostgres::start();
    let url = pg.create_database(DATABASE);
    let llm = FakeLlm::start().await;
    // Node a's only worker is busy with a long run before node b starts, so node b executes
    // the run that a client watches on node a.
    let a = ForageServer::start(opts(&llm, &url).env("FORAGE_WORKERS", 1)).await;
    let busy = a
        .api()
        .create(&json!({
            "input": "Occupies node a [[fake:no_tools]] [[fake:delay_ms=8000]]",
            "processor": "lite",
            "task_spec": {"output_schema": {"type": "text"}},
        }))
        .await;
    let busy_id = busy["run_id"].as_str().expect("run_id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.api().run(&busy_id).await.body["status"] != json!("running") {
        assert!(Instant::now() < deadline, "node a never started its run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = ForageServer::start(opts(&llm, &url)).await;
    let run = a
        .api()
        .create(&json!({
            "input": "Cross-node run [[fake:no_tools]] [[fake:delay_ms=300]]",
            "processor": "lite",
            "task_spec": {"output_schema": {"type": "text"}},
        }))
        .await;
    let id = run["run_id"].as_str().expect("run_id").to_owned();
    let waited = Instant::now();
    let reply = a.api().result(&id, 30).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["run"]["status"], json!("completed"));
    assert!(
        waited.elapsed() < Duration::from_secs(6),
        "woken by NOTIFY before node a's worker was free"
    );
    let (status, text) = a
        .api()
        .read_sse(
            &format!("/v1/tasks/runs/{id}/events"),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let frames = common::sse_data(&text);
    assert!(
        frames
            .iter()
            .any(|f| f["run"]["status"] == json!("completed") || f["status"] == json!("completed")),
        "node a streams node b's events: {text}"
    );
    drop(b);
}
