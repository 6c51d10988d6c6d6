//! Per-call latency of an MCP `tools/call` against one local rmcp server (testkit's fixture,
//! in its own process): a raw HTTP POST of the same JSON-RPC request, forage's MCP client,
//! the Python `mcp` client and the TypeScript SDK client, measured in one run, with ratios.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use forage_bench::report::{Figure, percentile_ms, record};
use forage_mcp::{McpClient, ServerSpec, Timeouts};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const WARMUP: usize = 200;
const CALLS: usize = 2_000;

/// Latency figures of one client, in milliseconds.
#[derive(Clone, Debug)]
struct Figures {
    name: String,
    p50: f64,
    p99: f64,
    calls: usize,
}

fn figures(name: &str, mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    Figures {
        name: name.to_owned(),
        p50: percentile_ms(&samples, 0.50),
        p99: percentile_ms(&samples, 0.99),
        calls: samples.len(),
    }
}

/// The fixture server in its own process, killed on drop.
struct Fixture {
    child: Child,
    url: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent().expect("target dir").to_path_buf()
}

fn start_fixture() -> Fixture {
    let bin = target_dir().join("forage-mcp-fixture");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release -p forage-testkit --bin forage-mcp-fixture`",
        bin.display()
    );
    let mut child = Command::new(&bin)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the fixture server");
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("fixture prints its address");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("`listening on URL` line")
        .to_owned();
    Fixture { child, url }
}

/// A hand-made MCP session: JSON-RPC POSTs over one keep-alive connection.
struct RawSession {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
    /// Whether `initialize` is done (later requests name the protocol version).
    initialized: bool,
}

impl RawSession {
    fn post(&self, body: Value) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .json(&body);
        if let Some(id) = &self.session {
            request = request.header("mcp-session-id", id);
        }
        if self.initialized {
            request = request.header("mcp-protocol-version", "2025-11-25");
        }
        request
    }

    async fn open(url: &str) -> RawSession {
        let mut raw = RawSession {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            session: None,
            initialized: false,
        };
        let init = raw
            .post(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "raw-bench", "version": "1"}}}),
            )
            .send()
            .await
            .expect("initialize");
        raw.session = init
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        init.bytes().await.expect("initialize body");
        raw.initialized = true;
        raw.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .expect("initialized")
            .bytes()
            .await
            .expect("initialized body");
        raw
    }

    /// One `tools/call` of echo; the time until the reply is read (a JSON body to its end; an
    /// event stream up to the end of the reply's event, the rest read off the clock, as
    /// forage's client does).
    async fn call(&self, id: usize) -> Duration {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": "echo", "arguments": {"text": "ping"}}});
        let start = Instant::now();
        let reply = self.post(body).send().await.expect("tools/call");
        let mut chunks = reply.bytes_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.next().await {
            bytes.extend_from_slice(&chunk.expect("tools/call body"));
            if bytes.windows(4).any(|w| w == b"ping") && bytes.ends_with(b"\n\n") {
                break;
            }
        }
        let elapsed = start.elapsed();
        tokio::spawn(async move { while let Some(Ok(_)) = chunks.next().await {} });
        assert!(
            bytes.windows(4).any(|w| w == b"ping"),
            "unexpected reply: {}",
            String::from_utf8_lossy(&bytes)
        );
        elapsed
    }
}

/// One `tools/call` of echo through forage's client.
async fn forage_call(client: &McpClient) -> Duration {
    let mut args = serde_json::Map::new();
    args.insert("text".into(), json!("ping"));
    let start = Instant::now();
    let output = client
        .call_tool(
            "echo",
            args,
            Duration::from_secs(10),
            CancellationToken::new(),
        )
        .await
        .expect("call");
    let elapsed = start.elapsed();
    assert!(output.text.contains("ping"));
    elapsed
}

/// The raw baseline and forage's client, call for call in alternation, so both see the same
/// machine (a drift of load or CPU frequency during the run falls on both alike).
async fn raw_and_forage(url: &str) -> (Figures, Figures) {
    let raw = RawSession::open(url).await;
    let spec = ServerSpec {
        name: "bench".into(),
        url: url.parse().expect("fixture URL"),
        headers: Vec::new(),
        allowed_tools: None,
        timeouts: Timeouts::default(),
    };
    let client = McpClient::connect(&spec, reqwest::Client::new())
        .await
        .expect("connect");
    let (mut raw_samples, mut forage_samples) = (Vec::new(), Vec::new());
    for i in 0..WARMUP + CALLS {
        let (r, f) = if i % 2 == 0 {
            let r = raw.call(i + 1).await;
            (r, forage_call(&client).await)
        } else {
            let f = forage_call(&client).await;
            (raw.call(i + 1).await, f)
        };
        if i >= WARMUP {
            raw_samples.push(r);
            forage_samples.push(f);
        }
    }
    client.close().await;
    (
        figures("raw HTTP POST (baseline)", raw_samples),
        figures("forage McpClient::call_tool", forage_samples),
    )
}

/// Runs a peer script that prints `{"p50_ms": …, "p99_ms": …, "calls": …}` on its last line.
fn peer(name: &str, program: &Path, args: &[&str]) -> Option<Figures> {
    let output = Command::new(program).args(args).output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!("{name}: failed: {}", String::from_utf8_lossy(&o.stderr));
            return None;
        }
        Err(e) => {
            eprintln!("{name}: cannot start {}: {e}", program.display());
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last()?;
    let v: Value = serde_json::from_str(last).ok()?;
    Some(Figures {
        name: name.to_owned(),
        p50: v["p50_ms"].as_f64()?,
        p99: v["p99_ms"].as_f64()?,
        calls: v["calls"].as_u64()? as usize,
    })
}

/// Every client against one server: forage and raw interleaved, then the peers.
async fn measure(root: &Path, url: &str) -> (Figures, Figures, Option<Figures>, Option<Figures>) {
    let (raw, forage) = raw_and_forage(url).await;
    let calls = CALLS.to_string();
    let warmup = WARMUP.to_string();
    let python = peer(
        "Python mcp client (call_tool)",
        &root.join(".venv/bin/python"),
        &[
            root.join("bench/peers/mcp_python_client.py")
                .to_str()
                .unwrap(),
            url,
            &calls,
            &warmup,
        ],
    );
    let node = peer(
        "TypeScript MCP SDK client (callTool)",
        Path::new("node"),
        &[
            root.join("bench/peers/mcp_ts_client.mjs").to_str().unwrap(),
            url,
            &calls,
            &warmup,
        ],
    );
    (raw, forage, python, node)
}

fn print_table(title: &str, raw: &Figures, forage: &Figures, others: &[Option<Figures>]) {
    println!("{title}");
    println!();
    println!("| client | p50 ms | p99 ms | calls | p50 vs raw | forage speed-up (p50) |");
    println!("|---|---|---|---|---|---|");
    let rows: Vec<&Figures> = [Some(raw), Some(forage)]
        .into_iter()
        .chain(others.iter().map(Option::as_ref))
        .flatten()
        .collect();
    for f in &rows {
        println!(
            "| {} | {:.3} | {:.3} | {} | {:.2}x | {:.2}x |",
            f.name,
            f.p50,
            f.p99,
            f.calls,
            f.p50 / raw.p50,
            f.p50 / forage.p50
        );
    }
    println!();
}

#[tokio::main]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf();
    let fixture = start_fixture();
    // `/mcp` keeps a session and answers over SSE, as many servers do; `/lean/mcp` answers
    // each call with a plain JSON body and records nothing (the server's cheapest mode).
    let base = fixture.url.trim_end_matches("/mcp").to_owned();
    let lean_url = format!("{base}/lean/mcp");
    let session_url = fixture.url.clone();
    eprintln!(
        "MCP server: {base} (testkit rmcp fixture, own process); {CALLS} calls after {WARMUP} warm-up, one at a time"
    );

    let (raw, forage, python, node) = measure(&root, &session_url).await;
    let (l_raw, l_forage, l_python, l_node) = measure(&root, &lean_url).await;
    drop(fixture);

    print_table(
        "Session server, SSE replies (`/mcp`): the targets are measured here",
        &raw,
        &forage,
        &[python.clone(), node.clone()],
    );
    print_table(
        "Stateless server, JSON replies (`/lean/mcp`), for comparison",
        &l_raw,
        &l_forage,
        &[l_python, l_node],
    );

    let overhead = forage.p50 / raw.p50;
    let bench = "bench-mcp-call";
    let mut figures = vec![
        Figure::new(
            bench,
            "tools/call p50, forage McpClient (session server)",
            forage.p50,
            "ms",
        )
        .against(format!("raw HTTP POST {:.3} ms", raw.p50)),
        Figure::new(
            bench,
            "forage per-call latency / raw round trip (p50)",
            overhead,
            "x",
        )
        .against(format!("raw HTTP POST {:.3} ms", raw.p50))
        .target("≤ 1.2x", overhead <= 1.2),
    ];
    if let Some(p) = &python {
        figures.push(
            Figure::new(
                bench,
                "forage speed-up over the Python mcp client (p50)",
                p.p50 / forage.p50,
                "x",
            )
            .against(format!("Python {:.3} ms", p.p50))
            .target("≥ 5x", p.p50 / forage.p50 >= 5.0),
        );
    }
    if let Some(n) = &node {
        figures.push(
            Figure::new(
                bench,
                "forage speed-up over the TypeScript MCP SDK client (p50)",
                n.p50 / forage.p50,
                "x",
            )
            .against(format!("TypeScript {:.3} ms", n.p50))
            .target("≥ 3x", n.p50 / forage.p50 >= 3.0),
        );
    }
    record(&figures);
    println!(
        "target forage <= 1.2x raw round trip: {:.2}x — {}",
        overhead,
        if overhead <= 1.2 { "met" } else { "NOT met" }
    );
    if let Some(p) = &python {
        let speedup = p.p50 / forage.p50;
        println!(
            "target forage >= 5x faster than the Python client: {:.1}x — {}",
            speedup,
            if speedup >= 5.0 { "met" } else { "NOT met" }
        );
    }
    if let Some(n) = &node {
        let speedup = n.p50 / forage.p50;
        println!(
            "target forage >= 3x faster than the TypeScript client: {:.1}x — {}",
            speedup,
            if speedup >= 3.0 { "met" } else { "NOT met" }
        );
    }
}
