//! Run throughput and create→result overhead of the real `forage` binary with an instant
//! scripted LLM: SQLite (one node), PostgreSQL with one node, and with three nodes, measured
//! in one run on this machine and printed side by side as a markdown table.
//!
//! Usage: `bench-throughput [RUNS] [CLIENTS] [STORES]` (default 600 runs, 64 concurrent
//! clients, `all`; `sqlite` leaves PostgreSQL out). Also prints the CPU each run cost forage
//! and this process (clients and scripted LLM) in the SQLite closed loop, which varies less
//! than runs/s on a shared machine.
//! Needs `cargo build --release --bins` (or the same profile as this program) and PostgreSQL's
//! Debian binaries (`scripts/install-test-deps.sh`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use forage_bench::cpu::cpu_time;
use forage_bench::process::{
    Node, SECRET_KEY, TempDir, await_result, forage_bin, free_port, wait_healthy,
};
use forage_bench::report::{Figure, percentile_ms, record};
use forage_testkit::llm::FakeLlm;
use forage_testkit::postgres::TempPostgres;
use futures::StreamExt;
use serde_json::json;

const WORKERS: usize = 16;

async fn start_node(llm: &str, database_url: Option<&str>, n: usize) -> anyhow::Result<Node> {
    let port = free_port()?;
    let data = TempDir::new("bench-throughput", &format!("node{n}"))?;
    let mut cmd = Command::new(forage_bin()?);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(&data.0)
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
        data,
    };
    wait_healthy(&node.base, Duration::from_secs(30)).await?;
    Ok(node)
}

/// What one scenario measured.
struct Figures {
    runs_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One run: create it, long-poll its result; the time from create to result.
async fn one_run(http: reqwest::Client, base: String, i: usize) -> anyhow::Result<Duration> {
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
    let body = await_result(&http, &base, &id, 60).await?;
    if body["run"]["status"] != json!("completed") {
        bail!("run {id} ended {}", body["run"]["status"]);
    }
    Ok(t0.elapsed())
}

fn figures(mut latencies: Vec<Duration>, runs: usize, wall: Duration) -> Figures {
    latencies.sort();
    Figures {
        runs_per_s: runs as f64 / wall.as_secs_f64(),
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
    }
}

/// `runs` tasks from `clients` concurrent clients, round-robin over `nodes`; each client
/// creates a run and long-polls its result.
async fn measure(nodes: &[Node], runs: usize, clients: usize) -> anyhow::Result<Figures> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let started = Instant::now();
    let latencies: Vec<Duration> = futures::stream::iter(0..runs)
        .map(|i| one_run(http.clone(), bases[i % bases.len()].clone(), i))
        .buffer_unordered(clients)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(figures(latencies, runs, started.elapsed()))
}

/// `runs` tasks started at a steady `rate` per second (an open load, whatever the replies),
/// each created and long-polled; the latencies show the overhead at that load.
async fn measure_paced(node: &Node, runs: usize, rate: f64) -> anyhow::Result<Figures> {
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1.0)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..runs {
        tick.tick().await;
        tasks.spawn(one_run(http.clone(), node.base.clone(), i));
    }
    let mut latencies = Vec::with_capacity(runs);
    while let Some(done) = tasks.join_next().await {
        latencies.push(done??);
    }
    Ok(figures(latencies, runs, started.elapsed()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(600);
    let clients: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let sqlite_only = match args.next().as_deref() {
        None | Some("all") => false,
        Some("sqlite") => true,
        Some(other) => bail!("unknown store selection {other:?}: use `all` or `sqlite`"),
    };
    let llm = FakeLlm::start().await;
    let pg = if sqlite_only {
        None
    } else {
        Some(TempPostgres::try_start().map_err(anyhow::Error::msg)?)
    };
    let warmup = (runs / 10).max(20);

    let mut rows = Vec::new();
    let paced;
    // CPU per run during the SQLite closed loop: forage's, and this process's (the clients and
    // the scripted LLM), in ms. Steadier than runs/s on a shared machine.
    let cpu: (Option<f64>, Option<f64>);
    {
        let node = start_node(&llm.base_url, None, 0).await?;
        measure(std::slice::from_ref(&node), warmup, clients).await?;
        let forage_before = cpu_time(node.child.id());
        let bench_before = cpu_time(std::process::id());
        rows.push((
            "SQLite, 1 node",
            measure(std::slice::from_ref(&node), runs, clients).await?,
        ));
        let per_run = |before: Option<Duration>, pid: u32| {
            let used = cpu_time(pid)?.checked_sub(before?)?;
            Some(used.as_secs_f64() * 1000.0 / runs as f64)
        };
        cpu = (
            per_run(forage_before, node.child.id()),
            per_run(bench_before, std::process::id()),
        );
        let half = rows[0].1.runs_per_s / 2.0;
        paced = Some((half, measure_paced(&node, runs, half).await?));
    }
    if let Some(pg) = &pg {
        let url = pg.create_database("bench_one");
        let node = start_node(&llm.base_url, Some(&url), 0).await?;
        measure(std::slice::from_ref(&node), warmup, clients).await?;
        rows.push((
            "PostgreSQL, 1 node",
            measure(std::slice::from_ref(&node), runs, clients).await?,
        ));
    }
    if let Some(pg) = &pg {
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
    let bench = "bench-throughput";
    let sqlite = &rows[0].1;
    let mut figures = vec![
        Figure::new(
            bench,
            format!("runs/s created and completed, SQLite ({clients} clients)"),
            sqlite.runs_per_s,
            "runs/s",
        )
        .target("≥ 2000 runs/s", sqlite.runs_per_s >= 2000.0),
        Figure::new(
            bench,
            "create→result p50 at full load, SQLite",
            sqlite.p50_ms,
            "ms",
        ),
        Figure::new(
            bench,
            "create→result p99 at full load, SQLite",
            sqlite.p99_ms,
            "ms",
        ),
    ];
    if let Some((rate, f)) = &paced {
        figures.push(
            Figure::new(
                bench,
                format!("create→result p50 at half load ({rate:.0} runs/s), SQLite"),
                f.p50_ms,
                "ms",
            )
            .target("≤ 2 ms", f.p50_ms <= 2.0),
        );
        figures.push(
            Figure::new(
                bench,
                format!("create→result p99 at half load ({rate:.0} runs/s), SQLite"),
                f.p99_ms,
                "ms",
            )
            .target("≤ 10 ms", f.p99_ms <= 10.0),
        );
    }
    if let (Some(forage), Some(clients_cpu)) = cpu {
        figures.push(
            Figure::new(
                bench,
                "forage CPU per run, SQLite closed loop",
                forage,
                "ms",
            )
            .against(format!("clients and scripted LLM {clients_cpu:.3} ms")),
        );
    }
    for (name, f) in &rows[1..] {
        figures.push(
            Figure::new(bench, format!("runs/s, {name}"), f.runs_per_s, "runs/s")
                .against(format!("SQLite {:.0} runs/s", sqlite.runs_per_s)),
        );
    }
    record(&figures);
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
    if let Some((rate, f)) = &paced {
        println!(
            "\nSQLite at half that load ({rate:.0} runs/s, open loop): create→result p50 {:.1} ms, p99 {:.1} ms",
            f.p50_ms, f.p99_ms
        );
    }
    if let (Some(forage), Some(clients_cpu)) = cpu {
        println!(
            "CPU per run in the SQLite closed loop: forage {forage:.3} ms, the clients and scripted LLM {clients_cpu:.3} ms"
        );
    }
    Ok(())
}
