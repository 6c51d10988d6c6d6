//! Creating runs while many wait: the real `forage` binary (SQLite, one worker kept busy by a
//! scripted LLM that does not answer) takes creates one at a time on a nearly empty queue, then
//! again once `QUEUED` runs wait, under forage's default admission limits (every create is
//! weighed against the key's unfinished runs and the queue's length).
//!
//! Measured: the p50 and p99 create latency (one client, one create at a time) and forage's CPU
//! per create, with a nearly empty queue and with `QUEUED` runs waiting, and their ratios.
//!
//! Usage: `bench-queue [QUEUED] [CREATES]` (defaults 9000 waiting runs, 400 creates measured in
//! each phase; the default cap of a key's unfinished runs, 10,000, bounds `QUEUED + 2 × CREATES`).
//! Prints a markdown table and records its figures (`forage_bench::report`).
//! Needs `cargo build --release --bins` (or the same profile as this program).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use forage_bench::cpu::cpu_time;
use forage_bench::process::{
    DEFAULT_MAX_ACTIVE_RUNS_PER_KEY, Node, SECRET_KEY, TempDir, forage_bin, free_port, wait_healthy,
};
use forage_bench::report::{Figure, markdown, percentile_ms, record};
use forage_testkit::llm::FakeLlm;
use futures::StreamExt;
use serde_json::json;

const BENCH: &str = "bench-queue";
/// Creates sent before measuring, so connections and caches are warm.
const WARMUP: usize = 50;

/// `forage serve` on SQLite with one worker and the default admission limits.
async fn start_node(llm: &str) -> anyhow::Result<Node> {
    let port = free_port()?;
    let data = TempDir::new(BENCH, "node")?;
    let mut cmd = Command::new(forage_bin()?);
    for (name, _) in std::env::vars() {
        if name.starts_with("FORAGE_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(&data.0)
        .env("FORAGE_LLM_PROVIDER", "openai")
        .env("FORAGE_LLM_BASE_URL", llm)
        .env("FORAGE_LLM_MODEL", "fake")
        .env("FORAGE_ALLOW_PRIVATE_NETWORKS", "true")
        .env("FORAGE_SECRET_KEY", SECRET_KEY)
        .env("FORAGE_WORKERS", "1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let child = cmd.spawn().context("spawn forage serve")?;
    let node = Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
        data,
    };
    wait_healthy(&node.base, Duration::from_secs(20)).await?;
    Ok(node)
}

/// Creates one run that waits for the worker (whose LLM does not answer) and returns how long
/// the create took.
async fn create(http: &reqwest::Client, base: &str, i: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let reply = http
        .post(format!("{base}/v1/tasks/runs"))
        .json(&json!({
            "input": format!("Queued run {i} [[fake:stall_ms=3600000]] [[fake:no_tools]]"),
            "processor": "lite",
        }))
        .send()
        .await?;
    let status = reply.status();
    if !status.is_success() {
        bail!("create {i} answered {status}: {}", reply.text().await?);
    }
    reply.bytes().await?;
    Ok(started.elapsed())
}

/// One phase's figures: create latency percentiles (ms) and forage's CPU per create (ms).
struct Phase {
    p50_ms: f64,
    p99_ms: f64,
    cpu_ms: f64,
}

/// `creates` creates one after another, after `WARMUP` unmeasured ones.
async fn measure(node: &Node, first: usize, creates: usize) -> anyhow::Result<Phase> {
    let http = reqwest::Client::new();
    for i in 0..WARMUP {
        create(&http, &node.base, first + i).await?;
    }
    let pid = node.child.id();
    let cpu_before = cpu_time(pid).context("forage's CPU time")?;
    let mut latencies = Vec::with_capacity(creates);
    for i in 0..creates {
        latencies.push(create(&http, &node.base, first + WARMUP + i).await?);
    }
    let cpu = cpu_time(pid)
        .context("forage's CPU time")?
        .saturating_sub(cpu_before);
    latencies.sort();
    Ok(Phase {
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        cpu_ms: cpu.as_secs_f64() * 1000.0 / creates as f64,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let queued: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(9000);
    let creates: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(400);
    if creates == 0 {
        bail!("measure at least one create");
    }
    let total = queued + 2 * (WARMUP + creates);
    if total > DEFAULT_MAX_ACTIVE_RUNS_PER_KEY {
        bail!(
            "{total} runs would pass the default cap of a key's unfinished runs \
             ({DEFAULT_MAX_ACTIVE_RUNS_PER_KEY}): ask for fewer"
        );
    }
    let llm = FakeLlm::start().await;
    let node = start_node(&llm.base_url).await?;

    eprintln!("bench-queue: {creates} creates with a nearly empty queue");
    let empty = measure(&node, 0, creates).await?;
    let filled_from = WARMUP + creates;
    eprintln!("bench-queue: queueing {queued} runs");
    let fill_client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()?;
    let fill_started = Instant::now();
    futures::stream::iter(filled_from..filled_from + queued)
        .map(|i| {
            let http = fill_client.clone();
            let base = node.base.clone();
            async move { create(&http, &base, i).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let fill_time = fill_started.elapsed();
    eprintln!("bench-queue: {creates} creates with {queued} runs waiting");
    let deep = measure(&node, filled_from + queued, creates).await?;

    let empty_words = "nearly empty queue";
    let deep_words = format!("{queued} runs waiting");
    let figures = vec![
        Figure::new(
            BENCH,
            format!("create p50, {empty_words} (one client)"),
            empty.p50_ms,
            "ms",
        ),
        Figure::new(
            BENCH,
            format!("create p50, {deep_words} (one client)"),
            deep.p50_ms,
            "ms",
        ),
        Figure::new(
            BENCH,
            format!("create p50 with {deep_words} ÷ {empty_words}"),
            deep.p50_ms / empty.p50_ms,
            "x",
        )
        .against(format!(
            "{:.3} ms against {:.3} ms; p99 {:.3} ms against {:.3} ms",
            deep.p50_ms, empty.p50_ms, deep.p99_ms, empty.p99_ms
        )),
        Figure::new(
            BENCH,
            format!("forage CPU per create with {deep_words} ÷ {empty_words}"),
            deep.cpu_ms / empty.cpu_ms,
            "x",
        )
        .against(format!(
            "{:.3} ms against {:.3} ms",
            deep.cpu_ms, empty.cpu_ms
        )),
        Figure::new(
            BENCH,
            format!("creating {queued} runs (32 concurrent clients)"),
            queued as f64 / fill_time.as_secs_f64(),
            "runs/s",
        ),
    ];
    print!("{}", markdown(&figures));
    record(&figures);
    Ok(())
}
