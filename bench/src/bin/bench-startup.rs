//! Start-up and crash recovery of the real `forage serve` binary (SQLite), with the scripted
//! fake LLM in this process:
//!
//! - time from spawning `forage serve` until `GET /healthz` answers 200, on an empty data
//!   directory (five starts, each on a fresh directory);
//! - the same on a data directory holding `STORED_RUNS` completed runs (created through the API
//!   as task-group batches and executed with an instant LLM; three starts);
//! - crash recovery: `RESUME_RUNS` runs wait in the LLM (it answers after `STALL_MS`), the server
//!   is SIGKILLed and started again on the same data directory; measured from the restart's spawn
//!   until `/healthz` answers, until every run was leased again by the new process (its
//!   `modified_at` changed: the lease is taken and the LLM asked again), and until every run
//!   completed (long-polls on `GET /v1/tasks/runs/{id}/result`, opened after `/healthz`).
//!
//! Usage: `bench-startup [STORED_RUNS] [RESUME_RUNS] [STALL_MS]` (defaults 20000, 1000, 5000).
//! Build with `cargo build --release --bins` and run `$CARGO_TARGET_DIR/release/bench-startup`
//! (it starts the `forage` binary next to itself). Prints a markdown table and records its
//! figures (`forage_bench::report`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use forage_bench::process::{SECRET_KEY, TempDir, forage_bin, free_port};
use forage_bench::report::{self, Figure};
use forage_testkit::llm::FakeLlm;
use serde_json::{Value, json};

const BENCH: &str = "bench-startup";
/// Starts measured on an empty data directory.
const EMPTY_STARTS: usize = 5;
/// Starts measured on the data directory with stored runs.
const STORED_STARTS: usize = 3;
/// Runs per task-group request (the API's largest batch).
const BATCH: usize = 1000;
/// Times `forage runs list` is run on the filled data directory.
const LIST_TIMES: usize = 7;
/// Workers executing the stored runs.
const STORE_WORKERS: usize = 32;

/// A `forage serve` process, killed on drop.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// SIGTERM, then waits (up to 60 s) for the process to exit.
    fn terminate(mut self) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own child, not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                bail!("forage serve did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// SIGKILL, and reaps the process (its data-directory lock is released with it).
    fn crash(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// Spawns `forage serve` on `data`; returns it with the instant just before the spawn.
fn spawn(llm: &str, data: &Path, workers: usize) -> anyhow::Result<(Server, Instant)> {
    let port = free_port()?;
    let log = data.with_extension("log");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let mut cmd = Command::new(forage_bin()?);
    for (name, _) in std::env::vars() {
        if name.starts_with("FORAGE_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("FORAGE_LLM_PROVIDER", "openai")
        .env("FORAGE_LLM_BASE_URL", llm)
        .env("FORAGE_LLM_MODEL", "fake")
        .env("FORAGE_ALLOW_PRIVATE_NETWORKS", "true")
        .env("FORAGE_SECRET_KEY", SECRET_KEY)
        .env("FORAGE_WORKERS", workers.to_string())
        .env("FORAGE_MAX_ACTIVE_RUNS_PER_KEY", "0")
        .env("FORAGE_MAX_QUEUED_RUNS", "0")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let started = Instant::now();
    let child = cmd.spawn().context("spawn forage serve")?;
    Ok((
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        },
        started,
    ))
}

/// Polls `GET /healthz` every 2 ms; the time from `started` to its first 200.
async fn wait_healthy(server: &mut Server, started: Instant) -> anyhow::Result<Duration> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("{}/healthz", server.base);
    let deadline = started + Duration::from_secs(120);
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!(
                "forage serve exited ({status}) before answering /healthz:\n{}",
                server.log_tail()
            );
        }
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            return Ok(started.elapsed());
        }
        if Instant::now() > deadline {
            bail!(
                "forage serve did not answer /healthz within 120 s:\n{}",
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Every run of the (only) caller, newest first, as `run_id → TaskRun`.
async fn all_runs(
    http: &reqwest::Client,
    base: &str,
    status: Option<&str>,
) -> anyhow::Result<HashMap<String, Value>> {
    let mut runs = HashMap::new();
    let mut before: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/tasks/runs?limit=100");
        if let Some(status) = status {
            url.push_str(&format!("&status={status}"));
        }
        if let Some(before) = &before {
            url.push_str(&format!("&before={before}"));
        }
        let page: Value = http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for run in page["runs"].as_array().context("runs")? {
            runs.insert(
                run["run_id"].as_str().context("run_id")?.to_owned(),
                run.clone(),
            );
        }
        match page["next_before"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => return Ok(runs),
        }
    }
}

/// Starts on empty data directories: time to the first `/healthz` 200, in ms.
async fn empty_starts(llm: &str) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::new();
    for _ in 0..EMPTY_STARTS {
        let data = TempDir::new(BENCH, "empty")?;
        let (mut server, started) = spawn(llm, &data.0, 8)?;
        times.push(ms(wait_healthy(&mut server, started).await?));
        server.terminate()?;
    }
    Ok(times)
}

/// Fills a data directory with `stored` completed runs; returns the starts measured on it (ms)
/// and the directory's size in bytes.
/// `forage runs list` against the server at `base`, timed as a user sees it (the whole CLI
/// process: start, one page of 20 runs over HTTP, printing), `LIST_TIMES` times, in ms.
fn time_runs_list(base: &str) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::new();
    for _ in 0..LIST_TIMES {
        let started = Instant::now();
        let out = Command::new(forage_bin()?)
            .args(["runs", "list", "--limit", "20"])
            .env("FORAGE_SERVER", base)
            .env_remove("FORAGE_API_KEY")
            .stdin(Stdio::null())
            .output()?;
        let elapsed = started.elapsed();
        if !out.status.success() {
            bail!(
                "forage runs list failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        times.push(ms(elapsed));
    }
    Ok(times)
}

async fn stored_starts(llm: &str, stored: usize) -> anyhow::Result<(Vec<f64>, u64, Vec<f64>)> {
    let data = TempDir::new(BENCH, "stored")?;
    let (mut server, started) = spawn(llm, &data.0, STORE_WORKERS)?;
    wait_healthy(&mut server, started).await?;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let group: Value = http
        .post(format!("{base}/v1/tasks/groups"))
        .json(&json!({}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let group = group["taskgroup_id"]
        .as_str()
        .context("taskgroup_id")?
        .to_owned();
    let filling = Instant::now();
    let mut created = 0;
    let mut last_report = Instant::now();
    while created < stored {
        let n = BATCH.min(stored - created);
        let inputs: Vec<Value> = (created..created + n)
            .map(|i| json!({"input": format!("Stored run {i} [[fake:no_tools]]"), "processor": "lite"}))
            .collect();
        http.post(format!("{base}/v1/tasks/groups/{group}/runs"))
            .json(&json!({"inputs": inputs, "default_task_spec": {"output_schema": {"type": "text"}}}))
            .send()
            .await?
            .error_for_status()?;
        created += n;
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("  stored runs: {created} of {stored} created");
            last_report = Instant::now();
        }
    }
    loop {
        let status: Value = http
            .get(format!("{base}/v1/tasks/groups/{group}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let counts = &status["status"]["task_run_status_counts"];
        let completed = counts["completed"].as_u64().unwrap_or(0) as usize;
        let failed = counts["failed"].as_u64().unwrap_or(0);
        if failed > 0 {
            bail!("{failed} stored runs failed: {counts}");
        }
        if completed >= stored {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  stored runs: {completed} of {stored} completed ({:.0} runs/s)",
                completed as f64 / filling.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "  {stored} runs created and completed in {:.1} s",
        filling.elapsed().as_secs_f64()
    );
    server.terminate()?;
    let size = dir_size(&data.0);
    let mut times = Vec::new();
    let mut listing = Vec::new();
    for start in 0..STORED_STARTS {
        let (mut server, started) = spawn(llm, &data.0, 8)?;
        times.push(ms(wait_healthy(&mut server, started).await?));
        if start + 1 == STORED_STARTS {
            listing = time_runs_list(&server.base)?;
        }
        server.terminate()?;
    }
    Ok((times, size, listing))
}

/// What the crash-recovery scenario measured, from the restart's spawn.
struct Recovery {
    healthz: Duration,
    resumed: Duration,
    completed: Duration,
    llm_requests: usize,
}

/// Runs the scenario with a fake LLM of its own (which counts only its requests).
async fn recovery(runs: usize, stall_ms: u64) -> anyhow::Result<Recovery> {
    let llm = FakeLlm::start().await;
    let data = TempDir::new(BENCH, "resume")?;
    let workers = runs.max(8);
    let (mut server, started) = spawn(&llm.base_url, &data.0, workers)?;
    wait_healthy(&mut server, started).await?;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    futures::future::try_join_all((0..runs).map(|i| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.post(format!("{base}/v1/tasks/runs"))
                .json(&json!({
                    "input": format!("Resume run {i} [[fake:stall_ms={stall_ms}]] [[fake:no_tools]]"),
                    "processor": "lite",
                    "task_spec": {"output_schema": {"type": "text"}},
                }))
                .send()
                .await?
                .error_for_status()?;
            Ok::<_, anyhow::Error>(())
        }
    }))
    .await?;
    // Every run leased and waiting in its LLM call.
    let waiting = Instant::now();
    let before = loop {
        let running = all_runs(&http, &base, Some("running")).await?;
        if running.len() == runs && llm.requests().len() >= runs {
            break running;
        }
        if waiting.elapsed() > Duration::from_millis(stall_ms / 2) {
            bail!(
                "only {} of {runs} runs were running in the LLM call after {:?}; raise STALL_MS",
                running.len(),
                waiting.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.crash()?;
    let llm_at_crash = llm.requests().len();

    let (mut server, started) = spawn(&llm.base_url, &data.0, workers)?;
    let healthz = wait_healthy(&mut server, started).await?;
    let base = server.base.clone();
    // Clients reconnect: one result long-poll per run.
    let waits: Vec<_> = before
        .keys()
        .map(|id| {
            let http = http.clone();
            let url = format!("{base}/v1/tasks/runs/{id}/result?timeout=600");
            tokio::spawn(async move {
                loop {
                    let reply = http.get(&url).send().await?;
                    if reply.status().as_u16() == 408 {
                        continue;
                    }
                    let body: Value = reply.error_for_status()?.json().await?;
                    if body["run"]["status"] != json!("completed") {
                        bail!("a resumed run ended {}", body["run"]["status"]);
                    }
                    return Ok::<_, anyhow::Error>(started.elapsed());
                }
            })
        })
        .collect();
    let resumed = loop {
        let now = all_runs(&http, &base, None).await?;
        let moved = before
            .iter()
            .filter(|(id, run)| {
                now.get(*id)
                    .is_some_and(|n| n["modified_at"] != run["modified_at"])
            })
            .count();
        if moved == runs {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("only {moved} of {runs} runs resumed within 120 s of the restart");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut completed = Duration::ZERO;
    for wait in waits {
        completed = completed.max(wait.await??);
    }
    let llm_requests = llm.requests().len() - llm_at_crash;
    server.terminate()?;
    Ok(Recovery {
        healthz,
        resumed,
        completed,
        llm_requests,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let stored: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let resume: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let stall_ms: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5000);
    if resume == 0 || resume > forage_testkit::llm::MAX_RECORDED / 2 {
        bail!(
            "RESUME_RUNS must be 1 to {} (the fake LLM remembers {} requests)",
            forage_testkit::llm::MAX_RECORDED / 2,
            forage_testkit::llm::MAX_RECORDED
        );
    }
    let llm = FakeLlm::start().await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    eprintln!("empty data directory: {EMPTY_STARTS} starts");
    let empty = empty_starts(&llm.base_url).await?;
    eprintln!("data directory with {stored} stored runs");
    let (with_stored, stored_bytes, listing) = if stored > 0 {
        stored_starts(&llm.base_url, stored).await?
    } else {
        (Vec::new(), 0, Vec::new())
    };
    eprintln!("crash recovery: {resume} runs waiting {stall_ms} ms in the LLM, SIGKILL, restart");
    let rec = recovery(resume, stall_ms).await?;

    let empty_median = median(empty.clone());
    let empty_max = empty.iter().copied().fold(0.0, f64::max);
    let mut figures = vec![
        Figure::new(
            BENCH,
            format!("spawn → /healthz 200, empty data dir (median of {EMPTY_STARTS})"),
            empty_median,
            "ms",
        )
        .target("< 200 ms", empty_median < 200.0),
        Figure::new(
            BENCH,
            format!("spawn → /healthz 200, empty data dir (slowest of {EMPTY_STARTS})"),
            empty_max,
            "ms",
        )
        .target("< 200 ms", empty_max < 200.0),
    ];
    if !with_stored.is_empty() {
        let stored_target = if stored >= 1_000_000 {
            "< 2000 ms".to_owned()
        } else {
            format!("< 2000 ms (issue: at 1,000,000 stored runs; measured at {stored})")
        };
        let stored_median = median(with_stored.clone());
        let stored_max = with_stored.iter().copied().fold(0.0, f64::max);
        figures.push(
            Figure::new(
                BENCH,
                format!("spawn → /healthz 200, {stored} stored runs (median of {STORED_STARTS})"),
                stored_median,
                "ms",
            )
            .against(format!("empty data dir {empty_median:.1} ms"))
            .target(stored_target.clone(), stored_median < 2000.0),
        );
        figures.push(
            Figure::new(
                BENCH,
                format!("spawn → /healthz 200, {stored} stored runs (slowest of {STORED_STARTS})"),
                stored_max,
                "ms",
            )
            .target(stored_target.clone(), stored_max < 2000.0),
        );
        figures.push(Figure::new(
            BENCH,
            format!("data dir size with {stored} stored runs"),
            stored_bytes as f64 / (1024.0 * 1024.0),
            "MiB",
        ));
        // The target is for a million runs: below that, the size per run scaled up.
        let per_million_gb = stored_bytes as f64 / stored as f64 * 1e6 / 1e9;
        let (what, target) = if stored >= 1_000_000 {
            (
                format!("data dir size per million stored runs (measured at {stored})"),
                "< 2 GB".to_owned(),
            )
        } else {
            (
                format!("data dir size per million stored runs (scaled from {stored})"),
                format!("< 2 GB (issue: at 1,000,000 stored runs; measured at {stored})"),
            )
        };
        figures.push(
            Figure::new(BENCH, what, per_million_gb, "GB")
                .against(format!(
                    "{:.0} bytes per run",
                    stored_bytes as f64 / stored as f64
                ))
                .target(target, per_million_gb < 2.0),
        );
        let list_target = if stored >= 1_000_000 {
            "< 50 ms".to_owned()
        } else {
            format!("< 50 ms (issue: at 1,000,000 stored runs; measured at {stored})")
        };
        let list_median = median(listing.clone());
        figures.push(
            Figure::new(
                BENCH,
                format!(
                    "`forage runs list` (one page of 20, the whole CLI process), {stored} stored runs (median of {LIST_TIMES})"
                ),
                list_median,
                "ms",
            )
            .target(list_target, list_median < 50.0),
        );
    }
    figures.extend([
        Figure::new(
            BENCH,
            format!("after SIGKILL with {resume} runs in flight: restart spawn → /healthz 200"),
            ms(rec.healthz),
            "ms",
        ),
        Figure::new(
            BENCH,
            format!("after SIGKILL with {resume} runs in flight: restart spawn → all leased again"),
            ms(rec.resumed),
            "ms",
        )
        .target("< 2000 ms", rec.resumed < Duration::from_secs(2)),
        Figure::new(
            BENCH,
            format!(
                "after SIGKILL with {resume} runs in flight: restart spawn → all completed (LLM answers after {stall_ms} ms)"
            ),
            ms(rec.completed),
            "ms",
        )
        .against(format!("LLM delay alone {stall_ms} ms")),
    ]);

    println!(
        "\nforage serve start-up and crash recovery (SQLite), instant scripted LLM, {cores} CPU cores; \
         {resume} workers in the recovery scenario; the fake LLM was asked {} times after the restart\n",
        rec.llm_requests
    );
    print!("{}", report::markdown(&figures));
    report::record(&figures);
    Ok(())
}
