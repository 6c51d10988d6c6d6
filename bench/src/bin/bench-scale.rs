//! Memory of the real `forage serve` binary (SQLite) holding many runs in flight at once: `RUNS`
//! runs whose LLM (the scripted fake, in this process) answers after `STALL_MS`, each with a
//! result long-poll (`GET /v1/tasks/runs/{id}/result?timeout=600`) and an event stream
//! (`GET /v1/tasks/runs/{id}/events`, SSE) open from this process until it ends.
//!
//! Measured: forage's resident memory (`VmRSS` of `/proc/<pid>/status`) idle, when every run is
//! in flight (none queued, none finished, all streams open) and at its peak (`VmHWM`); memory per
//! in-flight run; how long creating the runs took; forage's open sockets and threads at the peak;
//! and that every run completed.
//!
//! Usage: `bench-scale [RUNS] [STALL_MS] [CLIENTS] [WATCH] [TRANSPORT] [LLM]` (defaults 10000 runs,
//! 30000 ms, 64 concurrent creating clients, `both`, `http1`, `http`). `WATCH` says what each run
//! is watched with: `both` (long-poll and event stream), `poll`, `stream` or `none`, to tell their
//! memory apart. `TRANSPORT` is how the watchers connect: `http1` (a connection per long-poll and
//! per stream, as most clients do) or `h2c` (HTTP/2 without TLS, 100 streams per connection, as
//! behind a reverse proxy that multiplexes). `LLM` is how forage reaches the scripted LLM: `http`
//! (HTTP/1.1, a connection per call, as a local server answers) or `https` (HTTP/2 by ALPN, the
//! calls sharing a connection, as hosted APIs answer; forage trusts the LLM's certificate through
//! `SSL_CERT_FILE`). Runs use the `ultra` processor (the longest deadline) and forage's LLM request
//! timeout is set above `STALL_MS`; every run is in flight at once only if creating them all takes
//! less than `STALL_MS` (the table says when it did not). Build with `cargo build --release --bins`
//! and run `$CARGO_TARGET_DIR/release/bench-scale` (it starts the `forage` binary next to itself,
//! with `FORAGE_WORKERS=RUNS` and the default admission limits, raised to `RUNS` where it is
//! more, so every create is counted against them as by default). Each run holds up to three
//! sockets in each process (long-poll, stream, LLM call; over `h2c` only the LLM call; with an
//! `https` LLM, its calls share one): the open-files limit is raised before anything starts (the
//! soft limit to the hard one, and the hard one too where this process may) and printed; where it
//! still allows fewer than `RUNS` runs, the largest count it allows is measured and the table says
//! so. Prints a markdown table and records its figures (`forage_bench::report`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use forage_bench::process::{
    DEFAULT_MAX_ACTIVE_RUNS_PER_KEY, DEFAULT_MAX_QUEUED_RUNS, SECRET_KEY, TempDir, forage_bin,
    free_port,
};
use forage_bench::report::{self, Figure};
use forage_testkit::llm::FakeLlm;
use futures::StreamExt;
use serde_json::{Value, json};

const BENCH: &str = "bench-scale";
/// The target for forage's resident memory with 10,000 runs in flight.
const TARGET_MIB: f64 = 512.0;
/// Descriptors each process needs besides one per watcher and LLM call of each run.
const FDS_BASE: u64 = 300;

/// A `forage serve` process, killed on drop.
struct Server {
    child: Child,
    pid: u32,
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
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn exited(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("forage serve exited ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }
}

/// The open-files limit after raising it: soft to hard, and both to `need` where allowed.
struct FileLimit {
    soft: u64,
    hard: u64,
}

fn raise_file_limit(need: u64) -> anyhow::Result<FileLimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if need > lim.rlim_max {
        let wanted = libc::rlimit {
            rlim_cur: need,
            rlim_max: need,
        };
        // SAFETY: `wanted` is a valid rlimit; raising the hard limit fails harmlessly (EPERM)
        // without the privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
            return Ok(FileLimit {
                soft: need,
                hard: need,
            });
        }
        eprintln!(
            "cannot raise the hard open-files limit to {need}: {}",
            std::io::Error::last_os_error()
        );
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit whose soft limit equals its hard one.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        bail!("setrlimit: {}", std::io::Error::last_os_error());
    }
    Ok(FileLimit {
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

/// Spawns `forage serve` with `workers` workers, admission limits that admit every run, and an
/// LLM request timeout longer than the scripted LLM's delay.
fn spawn(
    llm: &str,
    ca_file: Option<&std::path::Path>,
    data: &TempDir,
    workers: usize,
    stall_ms: u64,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let log = data.0.with_extension("log");
    let out = std::fs::File::create(&log)?;
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
        .env("FORAGE_WORKERS", workers.to_string())
        .env(
            "FORAGE_LLM_REQUEST_TIMEOUT_SECS",
            (stall_ms / 1000 + 60).to_string(),
        )
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // forage's default admission limits, so every create is weighed against them as by
    // default; raised where more runs are asked for than they allow.
    if workers > DEFAULT_MAX_ACTIVE_RUNS_PER_KEY {
        cmd.env("FORAGE_MAX_ACTIVE_RUNS_PER_KEY", workers.to_string());
    }
    if workers > DEFAULT_MAX_QUEUED_RUNS {
        cmd.env("FORAGE_MAX_QUEUED_RUNS", workers.to_string());
    }
    if let Some(ca_file) = ca_file {
        // The system's trust store, as forage reads it, holds the scripted LLM's authority.
        cmd.env("SSL_CERT_FILE", ca_file);
    }
    let child = cmd.spawn().context("spawn forage serve")?;
    Ok(Server {
        pid: child.id(),
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    })
}

async fn wait_healthy(server: &mut Server) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.exited()?;
        if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("forage serve did not answer /healthz within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB; `Threads` as a count.
fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Open descriptors of `pid`, and how many of them are sockets.
fn open_fds(pid: u32) -> (usize, usize) {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (0, 0);
    };
    let mut all = 0;
    let mut sockets = 0;
    for entry in entries.flatten() {
        all += 1;
        if std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        {
            sockets += 1;
        }
    }
    (all, sockets)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What the client side counts.
#[derive(Default)]
struct Counters {
    created: AtomicUsize,
    polls_sent: AtomicUsize,
    streams_open: AtomicUsize,
    streams_done: AtomicUsize,
    completed: AtomicUsize,
    errors: AtomicUsize,
    /// The most runs created and not yet seen ending at once.
    in_flight_max: AtomicUsize,
    /// The largest forage `VmRSS` sampled, KiB.
    rss_max: AtomicU64,
}

/// Holds `GET …/result` until the run is final; counts a completed run.
async fn long_poll(http: reqwest::Client, url: String, counters: Arc<Counters>) {
    let outcome = async {
        loop {
            counters.polls_sent.fetch_add(1, Ordering::SeqCst);
            let reply = http.get(&url).send().await?;
            if reply.status().as_u16() == 408 {
                continue;
            }
            let body: Value = reply.error_for_status()?.json().await?;
            if body["run"]["status"] != json!("completed") {
                bail!("a run ended {}", body["run"]["status"]);
            }
            return Ok::<_, anyhow::Error>(());
        }
    }
    .await;
    match outcome {
        Ok(()) => counters.completed.fetch_add(1, Ordering::SeqCst),
        Err(e) => {
            if counters.errors.fetch_add(1, Ordering::SeqCst) < 5 {
                eprintln!("long-poll {url}: {e:#}");
            }
            0
        }
    };
}

/// Reads the run's SSE stream to its end (the run's final state).
async fn event_stream(http: reqwest::Client, url: String, counters: Arc<Counters>) {
    let outcome = async {
        let reply = http.get(&url).send().await?.error_for_status()?;
        counters.streams_open.fetch_add(1, Ordering::SeqCst);
        let mut body = reply.bytes_stream();
        let mut seen = Vec::new();
        while let Some(chunk) = body.next().await {
            seen.extend_from_slice(&chunk?);
        }
        let text = String::from_utf8_lossy(&seen);
        if !text.contains("completed") {
            bail!("the stream ended without the run's completion");
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    match outcome {
        Ok(()) => counters.streams_done.fetch_add(1, Ordering::SeqCst),
        Err(e) => {
            if counters.errors.fetch_add(1, Ordering::SeqCst) < 5 {
                eprintln!("event stream {url}: {e:#}");
            }
            0
        }
    };
}

/// How the watchers connect to forage.
#[derive(Clone, Copy, PartialEq)]
enum Transport {
    /// One connection per long-poll and per event stream.
    Http1,
    /// HTTP/2 with prior knowledge: many watchers share a connection.
    H2c,
}

/// How forage reaches the scripted LLM.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LlmTransport {
    /// Plain HTTP/1.1, as a local server answers: one connection per call in flight.
    Http,
    /// HTTPS with HTTP/2 by ALPN, as hosted APIs answer: the calls share a connection.
    Https,
}

impl LlmTransport {
    fn parse(text: &str) -> anyhow::Result<LlmTransport> {
        Ok(match text {
            "http" => LlmTransport::Http,
            "https" => LlmTransport::Https,
            _ => bail!("LLM must be http or https, not {text:?}"),
        })
    }

    /// Sockets a run's LLM call holds in each process.
    fn fds_per_run(self) -> u64 {
        match self {
            LlmTransport::Http => 1,
            LlmTransport::Https => 0,
        }
    }

    fn words(self) -> &'static str {
        match self {
            LlmTransport::Http => "",
            LlmTransport::Https => ", LLM over HTTPS (HTTP/2)",
        }
    }
}

/// Watchers that share one HTTP/2 connection (below the server's limit on concurrent streams).
const STREAMS_PER_H2_CONNECTION: usize = 100;

impl Transport {
    fn parse(text: &str) -> anyhow::Result<Transport> {
        Ok(match text {
            "http1" => Transport::Http1,
            "h2c" => Transport::H2c,
            _ => bail!("TRANSPORT must be http1 or h2c, not {text:?}"),
        })
    }

    /// Sockets a run's watchers hold in each process: over HTTP/1.1 one per watcher.
    fn fds_per_run(self, watch: Watch) -> u64 {
        match self {
            Transport::Http1 => watch.fds_per_run(),
            Transport::H2c => 0,
        }
    }

    /// Clients for the watchers: one pool over HTTP/1.1; over HTTP/2 one client (one
    /// connection) per `STREAMS_PER_H2_CONNECTION` watchers.
    fn clients(self, watchers: usize) -> anyhow::Result<Vec<reqwest::Client>> {
        match self {
            Transport::Http1 => Ok(vec![reqwest::Client::new()]),
            Transport::H2c => (0..watchers.div_ceil(STREAMS_PER_H2_CONNECTION).max(1))
                .map(|_| Ok(reqwest::Client::builder().http2_prior_knowledge().build()?))
                .collect(),
        }
    }

    fn words(self) -> &'static str {
        match self {
            Transport::Http1 => "",
            Transport::H2c => " over HTTP/2 (h2c)",
        }
    }
}

/// What each run is watched with.
#[derive(Clone, Copy, PartialEq)]
enum Watch {
    Both,
    Poll,
    Stream,
    None,
}

impl Watch {
    fn parse(text: &str) -> anyhow::Result<Watch> {
        Ok(match text {
            "both" => Watch::Both,
            "poll" => Watch::Poll,
            "stream" => Watch::Stream,
            "none" => Watch::None,
            _ => bail!("WATCH must be both, poll, stream or none, not {text:?}"),
        })
    }

    fn polls(self) -> bool {
        matches!(self, Watch::Both | Watch::Poll)
    }

    fn streams(self) -> bool {
        matches!(self, Watch::Both | Watch::Stream)
    }

    /// Sockets a run holds in each process: one per watcher.
    fn fds_per_run(self) -> u64 {
        u64::from(self.polls()) + u64::from(self.streams())
    }

    /// Runs created and not yet seen ending (without watchers, every run created).
    fn in_flight(self, counters: &Counters) -> usize {
        let created = counters.created.load(Ordering::SeqCst);
        let ended = if self.polls() {
            counters.completed.load(Ordering::SeqCst)
        } else if self.streams() {
            counters.streams_done.load(Ordering::SeqCst)
        } else {
            0
        };
        created.saturating_sub(ended)
    }

    fn words(self) -> &'static str {
        match self {
            Watch::Both => "long-poll + SSE each",
            Watch::Poll => "long-poll each, no SSE",
            Watch::Stream => "SSE each, no long-poll",
            Watch::None => "no long-poll, no SSE",
        }
    }
}

/// Whether any of the caller's runs has `status`.
async fn any_with_status(http: &reqwest::Client, base: &str, status: &str) -> anyhow::Result<bool> {
    let page: Value = http
        .get(format!("{base}/v1/tasks/runs?status={status}&limit=1"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(!page["runs"].as_array().context("runs")?.is_empty())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let requested: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let stall_ms: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(30_000);
    let clients: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let watch = args
        .next()
        .as_deref()
        .map_or(Ok(Watch::Both), Watch::parse)?;
    let transport = args
        .next()
        .as_deref()
        .map_or(Ok(Transport::Http1), Transport::parse)?;
    let llm_transport = args
        .next()
        .as_deref()
        .map_or(Ok(LlmTransport::Http), LlmTransport::parse)?;
    if requested == 0 {
        bail!("RUNS must be at least 1");
    }
    let watchers_per_run = usize::from(watch.polls()) + usize::from(watch.streams());
    let shared_connections = match transport {
        Transport::Http1 => 0,
        Transport::H2c => (requested * watchers_per_run).div_ceil(STREAMS_PER_H2_CONNECTION),
    };
    let margin = FDS_BASE + clients as u64 + shared_connections as u64;
    // At least one, so that the limit still bounds the runs where every socket is shared.
    let fds_per_run = (transport.fds_per_run(watch) + llm_transport.fds_per_run()).max(1);
    let need = fds_per_run * requested as u64 + margin;
    let limit = raise_file_limit(need)?;
    let allowed = usize::try_from(limit.soft.saturating_sub(margin) / fds_per_run)?;
    let runs = requested.min(allowed);
    println!(
        "open-files limit (this process and forage, which inherits it): soft {}, hard {}; \
         about {need} needed per process for {requested} runs",
        limit.soft, limit.hard
    );
    if runs < requested {
        println!(
            "the open-files limit allows about {allowed} runs ({fds_per_run} sockets each in \
             this process and in forage): measuring {runs}"
        );
    }
    if runs == 0 {
        bail!("the open-files limit allows no run");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let data = TempDir::new(BENCH, "data")?;
    let (llm, ca_file) = match llm_transport {
        LlmTransport::Http => (FakeLlm::start().await, None),
        LlmTransport::Https => {
            let (llm, ca_pem) = FakeLlm::start_https().await?;
            let ca_file = data.0.join("llm-ca.pem");
            std::fs::write(&ca_file, ca_pem)?;
            (llm, Some(ca_file))
        }
    };
    let mut server = spawn(&llm.base_url, ca_file.as_deref(), &data, runs, stall_ms)?;
    wait_healthy(&mut server).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = server.pid;
    let idle_kib = proc_status(pid, "VmRSS");
    let base = server.base.clone();
    println!(
        "forage idle with {runs} workers: VmRSS {:.1} MiB",
        mib(idle_kib)
    );

    let counters = Arc::new(Counters::default());
    let sampler = {
        let counters = counters.clone();
        tokio::spawn(async move {
            loop {
                let rss = proc_status(pid, "VmRSS");
                counters.rss_max.fetch_max(rss, Ordering::SeqCst);
                counters
                    .in_flight_max
                    .fetch_max(watch.in_flight(&counters), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let body_for = |i: usize| {
        json!({
            "input": format!("Scale run {i} [[fake:stall_ms={stall_ms}]] [[fake:no_tools]]"),
            // The longest deadline (1,500 s), so that runs outlast a slow creation.
            "processor": "ultra",
            "task_spec": {"output_schema": {"type": "text"}},
            "enable_events": true,
        })
    };
    let watch_clients = transport.clients(runs * watchers_per_run)?;
    let mut watcher = 0;
    let mut next_client = || {
        watcher += 1;
        watch_clients[watcher % watch_clients.len()].clone()
    };
    let started = Instant::now();
    let mut progress = Instant::now();
    let mut tasks = Vec::with_capacity(2 * runs);
    let mut creates = futures::stream::iter(0..runs)
        .map(|i| {
            let http = http.clone();
            let url = format!("{base}/v1/tasks/runs");
            let body = body_for(i);
            async move {
                let created: Value = http
                    .post(url)
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                Ok::<_, anyhow::Error>(created["run_id"].as_str().context("run_id")?.to_owned())
            }
        })
        .buffer_unordered(clients);
    while let Some(created) = creates.next().await {
        let id = match created {
            Ok(id) => id,
            Err(e) => {
                server.exited()?;
                return Err(e.context(format!(
                    "creating run {} of {runs}",
                    counters.created.load(Ordering::SeqCst) + 1
                )));
            }
        };
        counters.created.fetch_add(1, Ordering::SeqCst);
        if watch.polls() {
            tasks.push(tokio::spawn(long_poll(
                next_client(),
                format!("{base}/v1/tasks/runs/{id}/result?timeout=600"),
                counters.clone(),
            )));
        }
        if watch.streams() {
            tasks.push(tokio::spawn(event_stream(
                next_client(),
                format!("{base}/v1/tasks/runs/{id}/events"),
                counters.clone(),
            )));
        }
        if progress.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "  {} runs created, {:.0} runs/s; forage VmRSS {:.1} MiB",
                counters.created.load(Ordering::SeqCst),
                counters.created.load(Ordering::SeqCst) as f64 / started.elapsed().as_secs_f64(),
                mib(proc_status(pid, "VmRSS"))
            );
            progress = Instant::now();
        }
    }
    drop(creates);
    let create_time = started.elapsed();
    eprintln!(
        "  {runs} runs created in {:.1} s",
        create_time.as_secs_f64()
    );

    // Every run in flight: none queued, none ended, every stream open, every long-poll sent.
    let status_http = reqwest::Client::new();
    let all_in_flight = loop {
        server.exited()?;
        let streams = counters.streams_open.load(Ordering::SeqCst);
        let polls = counters.polls_sent.load(Ordering::SeqCst);
        let queued = any_with_status(&status_http, &base, "queued").await?;
        let ended = any_with_status(&status_http, &base, "completed").await?;
        if !queued
            && !ended
            && (!watch.streams() || streams == runs)
            && (!watch.polls() || polls >= runs)
        {
            break Some((started.elapsed(), proc_status(pid, "VmRSS")));
        }
        if ended {
            eprintln!(
                "  runs completed before all {runs} were in flight: creating them took longer \
                 than the LLM's {stall_ms} ms"
            );
            break None;
        }
        if progress.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "  waiting: {streams} streams open, {polls} long-polls sent, queued: {queued}"
            );
            progress = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (fds, sockets) = open_fds(pid);
    let threads = proc_status(pid, "Threads");
    let llm_calls = llm.requests().len();
    let (own_fds, _) = open_fds(std::process::id());
    if let Some((at, rss)) = all_in_flight {
        println!(
            "all {runs} runs in flight {:.1} s after the first create: forage VmRSS {:.1} MiB, \
             {fds} open fds ({sockets} sockets), {threads} threads; the fake LLM holds {llm_calls} \
             calls; this process has {own_fds} open fds",
            at.as_secs_f64(),
            mib(rss)
        );
    }

    for task in tasks {
        task.await?;
    }
    while any_with_status(&status_http, &base, "running").await?
        || any_with_status(&status_http, &base, "queued").await?
    {
        server.exited()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_done = started.elapsed();
    sampler.abort();
    let hwm_kib = proc_status(pid, "VmHWM");
    let after_kib = proc_status(pid, "VmRSS");
    let sampled_max = counters.rss_max.load(Ordering::SeqCst);
    let in_flight_max = match all_in_flight {
        Some(_) => runs,
        None => counters.in_flight_max.load(Ordering::SeqCst),
    };
    let completed = counters.completed.load(Ordering::SeqCst);
    let streams_done = counters.streams_done.load(Ordering::SeqCst);
    let errors = counters.errors.load(Ordering::SeqCst);
    server.exited()?;
    drop(server);

    let peak_mib = mib(hwm_kib.max(sampled_max));
    let scale_note = if in_flight_max == 10_000 && watch == Watch::Both {
        String::new()
    } else {
        format!(
            " (issue: 10,000 runs with long-poll + SSE; here {in_flight_max}, {}{}{})",
            watch.words(),
            transport.words(),
            llm_transport.words()
        )
    };
    let mut figures = Vec::new();
    if runs < requested {
        figures.push(
            Figure::new(
                BENCH,
                format!(
                    "runs the open-files limit ({} per process) allows, of {requested} asked",
                    limit.soft
                ),
                runs as f64,
                "runs",
            )
            .target(format!("{requested}"), false),
        );
    }
    figures.extend([
        Figure::new(
            BENCH,
            format!("most runs in flight at once, of {runs} created"),
            in_flight_max as f64,
            "runs",
        )
        .target(format!("{runs}"), in_flight_max == runs),
        Figure::new(
            BENCH,
            format!(
                "forage peak RSS (VmHWM), {in_flight_max} runs in flight, {}{}{}",
                watch.words(),
                transport.words(),
                llm_transport.words()
            ),
            peak_mib,
            "MiB",
        )
        .against(format!("idle with {runs} workers {:.1} MiB", mib(idle_kib)))
        .target(
            format!("< {TARGET_MIB:.0} MiB{scale_note}"),
            peak_mib < TARGET_MIB,
        ),
        Figure::new(
            BENCH,
            format!("forage idle RSS with {runs} workers, no runs"),
            mib(idle_kib),
            "MiB",
        ),
    ]);
    if let Some((at, rss)) = all_in_flight {
        figures.extend([
            Figure::new(
                BENCH,
                format!("forage RSS with all {runs} runs in flight"),
                mib(rss),
                "MiB",
            )
            .target(
                format!("< {TARGET_MIB:.0} MiB{scale_note}"),
                mib(rss) < TARGET_MIB,
            ),
            Figure::new(
                BENCH,
                "forage RSS per in-flight run (above idle)",
                rss.saturating_sub(idle_kib) as f64 / runs as f64,
                "KiB",
            ),
            Figure::new(
                BENCH,
                format!("first create → all {runs} runs in flight"),
                at.as_secs_f64(),
                "s",
            ),
        ]);
    }
    figures.extend([
        Figure::new(
            BENCH,
            format!("creating {runs} runs ({clients} concurrent clients)"),
            create_time.as_secs_f64(),
            "s",
        ),
        Figure::new(
            BENCH,
            "create rate while runs pile up",
            runs as f64 / create_time.as_secs_f64(),
            "runs/s",
        ),
        Figure::new(
            BENCH,
            format!("first create → all {runs} runs ended"),
            all_done.as_secs_f64(),
            "s",
        )
        .against(format!("LLM delay alone {:.1} s", stall_ms as f64 / 1000.0)),
        Figure::new(
            BENCH,
            "forage RSS after every run ended",
            mib(after_kib),
            "MiB",
        ),
    ]);
    if watch.polls() {
        figures.push(
            Figure::new(
                BENCH,
                format!("runs completed (long-poll) of {runs}"),
                completed as f64,
                "runs",
            )
            .target(format!("{runs}"), completed == runs),
        );
    }
    if watch.streams() {
        figures.push(
            Figure::new(
                BENCH,
                format!("event streams ended with the run's completion, of {runs}"),
                streams_done as f64,
                "streams",
            )
            .target(format!("{runs}"), streams_done == runs),
        );
    }

    let at_peak = if all_in_flight.is_some() {
        "with every run in flight"
    } else {
        "when the first run ended"
    };
    println!(
        "\nforage serve (SQLite), {runs} runs created, at most {in_flight_max} in flight at once, \
         the LLM answering after {stall_ms} ms, {cores} CPU cores; {errors} client errors; forage \
         {at_peak}: {fds} fds ({sockets} sockets), {threads} threads\n"
    );
    print!("{}", report::markdown(&figures));
    report::record(&figures);
    Ok(())
}
