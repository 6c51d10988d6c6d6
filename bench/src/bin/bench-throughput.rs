//! Run throughput and create→result overhead of the real `forage` binary with an instant
//! scripted LLM: SQLite (one node), PostgreSQL with one node, and with three nodes, measured
//! in one run on this machine and printed side by side as a markdown table.
//!
//! Usage: `bench-throughput [RUNS] [CLIENTS]` (default 600 runs, 64 concurrent clients).
//! Needs `cargo build --release --bins` (or the same profile as this program) and PostgreSQL's
//! Debian binaries (`scripts/install-test-deps.sh`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use forage_testkit::llm::FakeLlm;
use forage_testkit::postgres::TempPostgres;
use futures::StreamExt;
use serde_json::json;

const SECRET_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const WORKERS: usize = 16;

/// A `forage serve` process, killed on drop.
struct Node {
    child: Child,
    base: String,
    _data: TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn forage_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("forage");
    if !bin.exists() {
        bail!(
            "{} is missing: build it with `cargo build --bins` in the same profile",
            bin.display()
        );
    }
    Ok(bin)
}

async fn start_node(llm: &str, database_url: Option<&str>, n: usize) -> anyhow::Result<Node> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let data = std::env::temp_dir().join(format!("forage-bench-{}-{n}-{port}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    let mut cmd = Command::new(forage_bin()?);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(&data)
        .env("FORAGE_LLM_PROVIDER", "openai")
        .env("FORAGE_LLM_BASE_URL", llm)
        .env("FORAGE_LLM_MODEL", "fake")
        .env("FORAGE_ALLOW_PRIVATE_NETWORKS", "true")
        .env("FORAGE_SECRET_KEY", SECRET_KEY)
        .env("FORAGE_WORKERS", WORKERS.to_string())
        .env("RUST_LOG", "warn")
        .env_remove("FORAGE_API_KEYS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    match database_url {
        Some(url) => cmd.env("FORAGE_DATABASE_URL", url),
        None => cmd.env_remove("FORAGE_DATABASE_URL"),
    };
    let node = Node {
        child: cmd.spawn().context("spawn forage serve")?,
        base: format!("http://127.0.0.1:{port}"),
        _data: TempDir(data),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{}/healthz", node.base)).send().await
            && r.status().is_success()
        {
            return Ok(node);
        }
        if Instant::now() > deadline {
            bail!("forage serve did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one scenario measured.
struct Figures {
    runs_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `runs` tasks from `clients` concurrent clients, round-robin over `nodes`; each client
/// creates a run and long-polls its result.
async fn measure(nodes: &[Node], runs: usize, clients: usize) -> anyhow::Result<Figures> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..runs)
        .map(|i| {
            let http = http.clone();
            let base = bases[i % bases.len()].clone();
            async move {
                let t0 = Instant::now();
                let created: serde_json::Value = http
                    .post(format!("{base}/v1/tasks/runs"))
                    .json(&json!({
                        "input": format!("Bench run {i} [[fake:no_tools]]"),
                        "processor": "lite",
                        "task_spec": {"output_schema": {"type": "text"}},
                    }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let id = created["run_id"].as_str().context("run_id")?.to_owned();
                loop {
                    let reply = http
                        .get(format!("{base}/v1/tasks/runs/{id}/result?timeout=60"))
                        .send()
                        .await?;
                    if reply.status().as_u16() == 408 {
                        continue;
                    }
                    let body: serde_json::Value = reply.error_for_status()?.json().await?;
                    if body["run"]["status"] != json!("completed") {
                        bail!("run {id} ended {}", body["run"]["status"]);
                    }
                    return Ok::<_, anyhow::Error>(t0.elapsed());
                }
            }
        })
        .buffer_unordered(clients)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let wall = started.elapsed();
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    Ok(Figures {
        runs_per_s: runs as f64 / wall.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(600);
    let clients: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let llm = FakeLlm::start().await;
    let pg = TempPostgres::try_start().map_err(anyhow::Error::msg)?;
    let warmup = (runs / 10).max(20);

    let mut rows = Vec::new();
    {
        let node = start_node(&llm.base_url, None, 0).await?;
        measure(std::slice::from_ref(&node), warmup, clients).await?;
        rows.push((
            "SQLite, 1 node",
            measure(std::slice::from_ref(&node), runs, clients).await?,
        ));
    }
    {
        let url = pg.create_database("bench_one");
        let node = start_node(&llm.base_url, Some(&url), 0).await?;
        measure(std::slice::from_ref(&node), warmup, clients).await?;
        rows.push((
            "PostgreSQL, 1 node",
            measure(std::slice::from_ref(&node), runs, clients).await?,
        ));
    }
    {
        let url = pg.create_database("bench_three");
        let mut nodes = Vec::new();
        for n in 0..3 {
            nodes.push(start_node(&llm.base_url, Some(&url), n).await?);
        }
        measure(&nodes, warmup, clients).await?;
        rows.push(("PostgreSQL, 3 nodes", measure(&nodes, runs, clients).await?));
    }

    let base = rows[0].1.runs_per_s;
    println!(
        "\n{runs} runs, {clients} concurrent clients, {WORKERS} workers per node, instant scripted LLM, \
         {} CPU cores\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("| store | runs/s | vs SQLite | p50 create→result | p99 create→result |");
    println!("|---|---:|---:|---:|---:|");
    for (name, f) in &rows {
        println!(
            "| {name} | {:.0} | {:.2}× | {:.1} ms | {:.1} ms |",
            f.runs_per_s,
            f.runs_per_s / base,
            f.p50_ms,
            f.p99_ms
        );
    }
    Ok(())
}
