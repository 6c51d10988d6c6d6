//! Harness for the end-to-end tests: locates the built binaries, starts the real `forage`
//! server (and the fake LLM / MCP peers) on ephemeral loopback ports, kills them on drop,
//! and offers a small HTTP client plus helpers to run the official SDK scripts.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The API key every test server accepts (besides any the test adds).
pub const API_KEY: &str = "e2e-test-key";

/// The API key forage sends to the fake LLM (a secret it must never log).
pub const LLM_API_KEY: &str = "e2e-fake-llm-key-5f3a9c";

// ---------------------------------------------------------------------------------------------
// Binaries

/// The directory holding the workspace's built binaries (`target/debug`), found from the test
/// executable's own path (`target/debug/deps/<test>-<hash>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the test executable lives in a folder");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("target/<profile>").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The path of a workspace binary; panics with the fix when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (the end-to-end tests drive the real binaries)",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Waits until something accepts TCP connections on `addr` (panics after `limit`).
pub fn wait_for_port(addr: SocketAddr, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not accept connections on {addr} within {limit:?}");
}

// ---------------------------------------------------------------------------------------------
// The forage server

/// How to start a forage server.
#[derive(Clone, Debug)]
pub struct ServerOpts {
    /// Accepted API keys (`FORAGE_API_KEYS`); empty = none configured.
    pub api_keys: Vec<String>,
    /// `FORAGE_LLM_BASE_URL` (the fake LLM's `/v1` URL).
    pub llm_base_url: Option<String>,
    /// The data directory; a fresh temporary one when `None`.
    pub data_dir: Option<PathBuf>,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// Further environment variables.
    pub env: Vec<(String, String)>,
}

impl ServerOpts {
    /// A server with [`API_KEY`] that asks the LLM at `llm_base_url`.
    pub fn new(llm_base_url: &str) -> Self {
        ServerOpts {
            api_keys: vec![API_KEY.to_owned()],
            llm_base_url: Some(llm_base_url.to_owned()),
            data_dir: None,
            config: None,
            env: Vec::new(),
        }
    }

    pub fn env(mut self, name: &str, value: impl ToString) -> Self {
        self.env.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }
}

/// A running `forage serve`; SIGKILLed on drop.
pub struct ForageServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT` (changes on [`ForageServer::restart`]).
    pub base_url: String,
    data_dir: PathBuf,
    /// Holds the temporary data dir (if any) and the log file, outside the data dir.
    _data_tmp: Option<TempDir>,
    log_tmp: TempDir,
    log_path: PathBuf,
    opts: ServerOpts,
    starts: usize,
}

impl ForageServer {
    /// Starts `forage serve` and waits (up to 20 s) until `GET /healthz` answers 200.
    pub async fn start(opts: ServerOpts) -> ForageServer {
        let (data_dir, data_tmp) = match &opts.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let tmp = tempfile::Builder::new()
                    .prefix("forage-e2e-data-")
                    .tempdir()
                    .expect("temporary data dir");
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        let log_tmp = tempfile::Builder::new()
            .prefix("forage-e2e-log-")
            .tempdir()
            .expect("temporary log dir");
        let log_path = log_tmp.path().join("forage.log");
        let mut server = ForageServer {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            base_url: String::new(),
            data_dir,
            _data_tmp: data_tmp,
            log_tmp,
            log_path,
            opts,
            starts: 0,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let port = free_port();
        self.addr = SocketAddr::from(([127, 0, 0, 1], port));
        self.base_url = format!("http://{}", self.addr);
        self.starts += 1;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the server log");
        let log_err = log.try_clone().expect("clone the log handle");
        let mut cmd = Command::new(bin("forage"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--data")
            .arg(&self.data_dir);
        if let Some(config) = &self.opts.config {
            cmd.arg("--config").arg(config);
        }
        // A clean environment as far as forage is concerned: nothing leaks in from the shell.
        for (name, _) in std::env::vars() {
            if name.starts_with("FORAGE_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("FORAGE_API_KEYS", self.opts.api_keys.join(","))
            .env("FORAGE_ALLOW_PRIVATE_NETWORKS", "true")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        if let Some(url) = &self.opts.llm_base_url {
            cmd.env("FORAGE_LLM_PROVIDER", "openai")
                .env("FORAGE_LLM_BASE_URL", url)
                .env("FORAGE_LLM_MODEL", "fake")
                .env("FORAGE_LLM_API_KEY", LLM_API_KEY);
        }
        for (name, value) in &self.opts.env {
            cmd.env(name, value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = cmd.spawn().expect("spawn forage serve");
        self.child = Some(child);
        self.wait_healthy(Duration::from_secs(20)).await;
    }

    async fn wait_healthy(&mut self, limit: Duration) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let url = format!("{}/healthz", self.base_url);
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll the server process"))
            {
                panic!(
                    "forage serve exited before it was healthy ({status});\n--- log ---\n{}",
                    self.log()
                );
            }
            if let Ok(resp) = client.get(&url).send().await
                && resp.status() == StatusCode::OK
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "forage serve did not answer GET /healthz with 200 within {limit:?};\n--- log ---\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything the server printed so far (stdout and stderr, all starts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The raw bytes of the server's log.
    pub fn log_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.log_path).unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().expect("poll the server").is_none(),
            None => false,
        }
    }

    /// SIGKILL, and reap the process.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `limit` for the process to exit. Returns its exit status
    /// and how long it took, or `None` if it was still running (it is then SIGKILLed).
    pub fn terminate(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let mut child = self.child.take()?;
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: sending a signal to the child we spawned, by its pid; no memory is shared.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = child.try_wait().expect("poll the server") {
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Starts the server again on the same data dir (on a new port) and waits until healthy.
    pub async fn restart(&mut self) {
        self.kill_9();
        self.spawn().await;
    }

    /// An API client for this server with [`API_KEY`].
    pub fn api(&self) -> Api {
        Api::new(&self.base_url, Some(API_KEY))
    }
}

impl Drop for ForageServer {
    fn drop(&mut self) {
        self.kill_9();
        if std::thread::panicking() {
            eprintln!(
                "--- forage log ({}) ---\n{}",
                self.log_path.display(),
                tail(&self.log(), 8000)
            );
        }
    }
}

/// The last `max` bytes of `text` (on a char boundary).
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut at = text.len() - max;
    while !text.is_char_boundary(at) {
        at += 1;
    }
    &text[at..]
}

// ---------------------------------------------------------------------------------------------
// Peers

/// The fake LLM as a separate process (`forage-fake-llm --port 0`); killed on drop.
pub struct FakeLlmProcess {
    child: Child,
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
}

impl FakeLlmProcess {
    pub fn start() -> FakeLlmProcess {
        let mut child = Command::new(bin("forage-fake-llm"))
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn forage-fake-llm");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the fake LLM's first line");
        let base_url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from forage-fake-llm: {line:?}"))
            .to_owned();
        FakeLlmProcess { child, base_url }
    }
}

impl Drop for FakeLlmProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The FastMCP vault server (`testkit/python/vault_server.py`), Streamable HTTP at `/mcp`,
/// requiring `Authorization: Bearer <token>`; killed on drop.
pub struct VaultServer {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
    pub token: String,
    log_tmp: TempDir,
}

impl VaultServer {
    pub fn start(token: &str) -> VaultServer {
        let script = forage_testkit::peers::python_fixture("vault_server.py");
        assert!(
            script.exists(),
            "{} is missing: the FastMCP vault fixture has not landed in testkit/python yet",
            script.display()
        );
        let port = free_port();
        let log_tmp = tempfile::tempdir().expect("temp dir");
        let log = File::create(log_tmp.path().join("vault.log")).expect("vault log");
        let log_err = log.try_clone().expect("clone log");
        let child = Command::new(forage_testkit::peers::python())
            .arg(&script)
            .args([
                "--port",
                &port.to_string(),
                "--transport",
                "http",
                "--token",
                token,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .expect("spawn vault_server.py");
        let mut vault = VaultServer {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
            token: token.to_owned(),
            log_tmp,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = vault.child.try_wait().expect("poll vault") {
                panic!("vault_server.py exited ({status}):\n{}", vault.log());
            }
            assert!(
                Instant::now() < deadline,
                "vault_server.py did not listen on {addr} within 30 s:\n{}",
                vault.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        vault
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_tmp.path().join("vault.log")).unwrap_or_default()
    }
}

impl Drop for VaultServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP client

/// A status and the body (JSON, or the raw text as a JSON string when it is not JSON).
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Value,
    pub text: String,
}

/// A thin client for forage's Parallel-compatible API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: Option<String>,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, key: Option<&str>) -> Api {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            key: key.map(str::to_owned),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request builder with the API key set.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, self.url(path));
        if let Some(key) = &self.key {
            req = req.header("x-api-key", key);
        }
        req
    }

    pub async fn send(req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("the request reached the server");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.expect("read the response body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(text.clone()));
        Reply {
            status,
            content_type,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        Self::send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    /// `POST /v1/tasks/runs`, asserting 202; returns the TaskRun.
    pub async fn create(&self, body: &Value) -> Value {
        let reply = self.post_json("/v1/tasks/runs", body).await;
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "create run {body} answered {}: {}",
            reply.status,
            reply.text
        );
        let run_id = reply.body["run_id"].as_str().unwrap_or_default();
        assert!(
            run_id.starts_with("trun_"),
            "run_id should start with trun_: {}",
            reply.text
        );
        reply.body
    }

    /// `GET /v1/tasks/runs/{id}`.
    pub async fn run(&self, run_id: &str) -> Reply {
        self.get(&format!("/v1/tasks/runs/{run_id}")).await
    }

    /// `GET /v1/tasks/runs/{id}/result?timeout=N`.
    pub async fn result(&self, run_id: &str, timeout_secs: u64) -> Reply {
        self.get(&format!(
            "/v1/tasks/runs/{run_id}/result?timeout={timeout_secs}"
        ))
        .await
    }

    /// Polls the run until it is no longer active (panics after `limit`); returns the TaskRun.
    pub async fn wait_done(&self, run_id: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let reply = self.run(run_id).await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "GET run {run_id}: {}",
                reply.text
            );
            if reply.body["is_active"] == json!(false) {
                return reply.body;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} still active after {limit:?}: {}",
                reply.text
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Reads an SSE endpoint until the server closes it or `limit` passes; returns the raw text.
    pub async fn read_sse(&self, path: &str, limit: Duration) -> (StatusCode, String) {
        let resp = self
            .request(reqwest::Method::GET, path)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("the events request reached the server");
        let status = resp.status();
        let mut stream = resp.bytes_stream();
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, stream.next()).await {
            out.extend_from_slice(&chunk);
        }
        (status, String::from_utf8_lossy(&out).into_owned())
    }
}

/// The JSON `data:` payloads of an SSE text.
pub fn sse_data(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| {
            serde_json::from_str(d.trim())
                .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {d:?}"))
        })
        .collect()
}

/// Asserts `reply` is Parallel's error shape with a non-empty ref_id and message.
pub fn assert_error_shape(reply: &Reply, context: &str) {
    let problems = error_shape_problems(reply);
    assert!(
        problems.is_empty(),
        "{context}: {problems:?}; got {} {}",
        reply.status,
        reply.text
    );
}

/// What is wrong with `reply` as an error response (empty when it is fine).
pub fn error_shape_problems(reply: &Reply) -> Vec<String> {
    let mut problems = Vec::new();
    let is_json = reply
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"));
    if !is_json {
        problems.push(format!(
            "content-type is {:?}, not application/json",
            reply.content_type
        ));
    }
    let body = &reply.body;
    if body["type"] != json!("error") {
        problems.push("body.type is not \"error\"".into());
    }
    let non_empty = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    if !non_empty(&body["error"]["ref_id"]) {
        problems.push("body.error.ref_id missing or empty".into());
    }
    if !non_empty(&body["error"]["message"]) {
        problems.push("body.error.message missing or empty".into());
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Scripts (official SDKs)

/// The `tests/` package root.
pub fn e2e_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Output of a finished script.
pub struct ScriptOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args…` with `env`, up to `limit`; prints its output; returns it.
pub async fn run_program(
    program: &Path,
    args: &[&str],
    env: &[(&str, String)],
    limit: Duration,
) -> ScriptOutput {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} ran longer than {limit:?}", program.display()))
        .expect("wait for the script");
    let out = ScriptOutput {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    println!(
        "--- {} {args:?} ({}) ---\n[stdout]\n{}\n[stderr]\n{}",
        program.display(),
        out.status,
        out.stdout,
        out.stderr
    );
    out
}

/// Runs `tests/sdk/python/<script>` with the venv's Python against `server`; asserts exit 0.
pub async fn run_python_sdk(
    server: &ForageServer,
    script: &str,
    extra_env: &[(&str, String)],
) -> ScriptOutput {
    let path = e2e_root().join("sdk/python").join(script);
    let mut env = vec![
        ("PARALLEL_BASE_URL", server.base_url.clone()),
        ("PARALLEL_API_KEY", API_KEY.to_owned()),
        ("PYTHONUNBUFFERED", "1".to_owned()),
        // No __pycache__ in the source tree.
        ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
    ];
    env.extend(extra_env.iter().cloned());
    let out = run_program(
        &forage_testkit::peers::python(),
        &[path.to_str().expect("utf-8 path")],
        &env,
        Duration::from_secs(240),
    )
    .await;
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out
}

/// Runs `tests/sdk/node/<script>` with node against `server`; asserts exit 0.
pub async fn run_node_sdk(server: &ForageServer, script: &str) -> ScriptOutput {
    let path = e2e_root().join("sdk/node").join(script);
    let node_dir = forage_testkit::peers::node_dir();
    let env = vec![
        ("PARALLEL_BASE_URL", server.base_url.clone()),
        ("PARALLEL_API_KEY", API_KEY.to_owned()),
        ("FORAGE_NODE_DIR", node_dir.display().to_string()),
    ];
    let out = run_program(
        Path::new("node"),
        &[path.to_str().expect("utf-8 path")],
        &env,
        Duration::from_secs(240),
    )
    .await;
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && let Ok(bytes) = std::fs::read(&path)
                && contains_bytes(&bytes, needle)
            {
                found.push(path);
            }
        }
    }
    found
}

/// How many files lie under `dir` (recursively).
pub fn count_files(dir: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => count += 1,
                _ => {}
            }
        }
    }
    count
}

/// A random-looking hex string (unique per call; no crypto needed).
pub fn unique_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Run ids (`trun_` + hex) found in `text`, in order, without duplicates.
pub fn run_ids_in(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("trun_") {
        let tail = &rest[at + 5..];
        let len = tail
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tail.len());
        if len > 0 {
            let id = format!("trun_{}", &tail[..len]);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        rest = &tail[len..];
    }
    ids
}
