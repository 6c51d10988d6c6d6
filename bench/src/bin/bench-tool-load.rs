//! Many runs making tool calls at once: RUNS concurrent runs (default 100), each making 10 MCP
//! tool calls over 5 turns, against an MCP server in its own process: the rmcp fixture (a lean
//! Rust server) and a FastMCP server (Python, what many users' tools run on). Measured: wall
//! time, the CPU time forage and the MCP server each spent per tool call (user + system, from
//! `/proc`), so the ratio says which of the two is the bottleneck, and the bytes forage had
//! written to storage per call. The scripted LLM runs inside this program, outside both.
//!
//! Usage: `bench-tool-load [RUNS] [OUTPUT_BYTES]`. With OUTPUT_BYTES, each call returns that
//! much text (the rmcp fixture's `huge` tool), so the conversation grows with each turn, and
//! only the rmcp fixture is loaded. Needs `cargo build --release --bins` and the Python venv
//! (`scripts/install-test-deps.sh`) for the FastMCP server.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use forage_bench::cpu::cpu_time;
use forage_bench::io::storage_writes;
use forage_bench::process::{TempDir, await_result, forage_bin, free_port, wait_healthy};
use forage_bench::report::{Figure, record};
use forage_testkit::llm::FakeLlm;
use forage_testkit::peers::{python, python_fixture};
use futures::StreamExt;
use serde_json::{Value, json};

const BENCH: &str = "bench-tool-load";
const TURNS: usize = 5;
const CALLS_PER_TURN: usize = 2;
const VAULT_TOKEN: &str = "bench-vault-token";

/// A child process, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An MCP server to load: its process, URL, the tool to call and its arguments.
struct McpPeer {
    name: &'static str,
    process: Proc,
    url: String,
    headers: Value,
    tool: &'static str,
    /// The arguments of call `call` of turn `turn` of run `run`.
    arguments: Box<dyn Fn(usize, usize, usize) -> Value>,
}

/// The rmcp fixture, its calls answering with `output_bytes` of text (0: a short echo).
fn rmcp_fixture(output_bytes: usize) -> anyhow::Result<McpPeer> {
    let bin = forage_bin()?.with_file_name("forage-mcp-fixture");
    let mut child = Command::new(&bin)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .context("the fixture prints `listening on URL`")?
        .to_owned();
    Ok(McpPeer {
        name: "rmcp fixture (Rust)",
        process: Proc(child),
        url,
        headers: json!({}),
        tool: if output_bytes > 0 { "huge" } else { "echo" },
        arguments: if output_bytes > 0 {
            Box::new(move |_, _, _| json!({"bytes": output_bytes}))
        } else {
            Box::new(|run, turn, call| json!({"text": format!("r{run}-t{turn}-c{call}")}))
        },
    })
}

fn fastmcp_server() -> anyhow::Result<McpPeer> {
    let port = free_port()?;
    let mut child = Command::new(python())
        .arg(python_fixture("vault_server.py"))
        .args([
            "--port",
            &port.to_string(),
            "--transport",
            "http",
            "--token",
            VAULT_TOKEN,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start the FastMCP server")?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("vault_server ready on ")
        .context("the FastMCP server did not start")?
        .to_owned();
    Ok(McpPeer {
        name: "FastMCP (Python)",
        process: Proc(child),
        url,
        headers: json!({"Authorization": format!("Bearer {VAULT_TOKEN}")}),
        tool: "get_secret_code",
        arguments: Box::new(
            |run, turn, call| json!({"company": format!("acme-{run}-{turn}-{call}")}),
        ),
    })
}

async fn start_forage(llm: &str, workers: usize) -> anyhow::Result<(Proc, String, TempDir)> {
    let port = free_port()?;
    let data = TempDir::new(BENCH, "data")?;
    let child = Command::new(forage_bin()?)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(&data.0)
        .env("FORAGE_LLM_PROVIDER", "openai")
        .env("FORAGE_LLM_BASE_URL", llm)
        .env("FORAGE_LLM_MODEL", "fake")
        .env("FORAGE_ALLOW_PRIVATE_NETWORKS", "true")
        .env("FORAGE_WORKERS", workers.to_string())
        .env("RUST_LOG", "warn")
        .env_remove("FORAGE_API_KEYS")
        .env_remove("FORAGE_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn forage serve")?;
    let process = Proc(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base, Duration::from_secs(30)).await?;
    Ok((process, base, data))
}

/// The input that scripts run `run`'s tool calls: CALLS_PER_TURN calls in each of TURNS turns.
fn input(peer: &McpPeer, run: usize) -> String {
    let mut text = format!("Tool load run {run}");
    for turn in 0..TURNS {
        for call in 0..CALLS_PER_TURN {
            text.push_str(&format!(
                " [[fake:call name={} args={} turn={turn}]]",
                peer.tool,
                (peer.arguments)(run, turn, call)
            ));
        }
    }
    text
}

/// One run to its result; the number of tool calls it made.
async fn one_run(
    http: reqwest::Client,
    base: String,
    peer_url: String,
    headers: Value,
    input: String,
) -> anyhow::Result<usize> {
    let created: Value = http
        .post(format!("{base}/v1/tasks/runs"))
        .json(&json!({
            "input": input,
            "processor": "core2x",
            "task_spec": {"output_schema": {"type": "text"}},
            "mcp_servers": [{"type": "url", "name": "load", "url": peer_url, "headers": headers}],
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["run_id"].as_str().context("run_id")?.to_owned();
    let body = await_result(&http, &base, &id, 120).await?;
    let calls = body["output"]["mcp_tool_calls"]
        .as_array()
        .map_or(0, Vec::len);
    let failed = body["output"]["mcp_tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["error"].as_str().is_some_and(|e| !e.is_empty()))
        .count();
    if failed > 0 {
        bail!("run {id}: {failed} tool call(s) failed");
    }
    Ok(calls)
}

/// What one load measured.
struct Load {
    calls: usize,
    wall: Duration,
    forage_cpu: Duration,
    server_cpu: Duration,
    /// Bytes forage had written to storage (its database).
    forage_writes: u64,
}

async fn load(llm: &str, peer: &McpPeer, runs: usize) -> anyhow::Result<Load> {
    let (forage, base, _data) = start_forage(llm, runs).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(runs)
        .build()?;
    let go = |range: std::ops::Range<usize>| {
        let http = http.clone();
        let base = base.clone();
        futures::stream::iter(range)
            .map(move |i| {
                one_run(
                    http.clone(),
                    base.clone(),
                    peer.url.clone(),
                    peer.headers.clone(),
                    input(peer, i),
                )
            })
            .buffer_unordered(runs)
            .collect::<Vec<_>>()
    };
    // Warm up both processes (connections, caches, the FastMCP interpreter).
    for done in go(0..runs.min(20)).await {
        done?;
    }
    let forage_pid = forage.0.id();
    let server_pid = peer.process.0.id();
    let cpu = |pid| cpu_time(pid).context("read /proc");
    let writes = |pid| storage_writes(pid).context("read /proc/PID/io");
    let (forage_before, server_before) = (cpu(forage_pid)?, cpu(server_pid)?);
    let writes_before = writes(forage_pid)?;
    let started = Instant::now();
    let mut calls = 0;
    for done in go(runs..2 * runs).await {
        calls += done?;
    }
    let wall = started.elapsed();
    let forage_cpu = cpu(forage_pid)? - forage_before;
    let server_cpu = cpu(server_pid)? - server_before;
    let forage_writes = writes(forage_pid)? - writes_before;
    if calls != runs * TURNS * CALLS_PER_TURN {
        bail!(
            "{calls} tool calls made, expected {}",
            runs * TURNS * CALLS_PER_TURN
        );
    }
    Ok(Load {
        calls,
        wall,
        forage_cpu,
        server_cpu,
        forage_writes,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let output_bytes: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(0);
    let llm = FakeLlm::start().await;
    let peers = if output_bytes > 0 {
        vec![rmcp_fixture(output_bytes)?]
    } else {
        vec![rmcp_fixture(0)?, fastmcp_server()?]
    };
    let load_name = if output_bytes > 0 {
        format!("{runs} runs × 10 calls of {output_bytes} bytes")
    } else {
        format!("{runs} runs × 10 calls")
    };
    let mut figures = Vec::new();
    println!(
        "\n{runs} concurrent runs × {} tool calls ({TURNS} turns × {CALLS_PER_TURN}), processor core2x, instant scripted LLM, {} CPU cores{}\n",
        TURNS * CALLS_PER_TURN,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if output_bytes > 0 {
            format!(", each call answering with {output_bytes} bytes")
        } else {
            String::new()
        }
    );
    println!(
        "| MCP server | tool calls | wall | calls/s | forage CPU / call | server CPU / call | forage ÷ server | forage storage writes / call |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for peer in &peers {
        let l = load(&llm.base_url, peer, runs).await?;
        let per_call = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / l.calls as f64;
        let (forage_ms, server_ms) = (per_call(l.forage_cpu), per_call(l.server_cpu));
        let ratio = forage_ms / server_ms.max(f64::EPSILON);
        let written_kib = l.forage_writes as f64 / 1024.0 / l.calls as f64;
        println!(
            "| {} | {} | {:.2} s | {:.0} | {forage_ms:.3} ms | {server_ms:.3} ms | {ratio:.2} | {written_kib:.1} KiB |",
            peer.name,
            l.calls,
            l.wall.as_secs_f64(),
            l.calls as f64 / l.wall.as_secs_f64()
        );
        figures.push(
            Figure::new(
                BENCH,
                format!(
                    "forage CPU per tool call ÷ MCP server CPU per call, {load_name}, {}",
                    peer.name
                ),
                ratio,
                "x",
            )
            .against(format!(
                "server {server_ms:.3} ms CPU/call, forage {forage_ms:.3} ms CPU/call (LLM turns, checkpoints and events included)"
            ))
            .target("< 1x (the server's CPU is the bottleneck)", ratio < 1.0),
        );
        figures.push(Figure::new(
            BENCH,
            format!("tool calls/s, {load_name}, {}", peer.name),
            l.calls as f64 / l.wall.as_secs_f64(),
            "calls/s",
        ));
        figures.push(Figure::new(
            BENCH,
            format!(
                "forage storage writes per tool call, {load_name}, {}",
                peer.name
            ),
            written_kib,
            "KiB",
        ));
    }
    record(&figures);
    Ok(())
}
