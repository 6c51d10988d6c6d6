//! What the benchmarks that start `forage serve` share: a free loopback port, the `forage`
//! binary beside the running benchmark, a data directory removed on drop, the server process
//! killed on drop, waiting for the server to be healthy and long-polling a run's result.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Child;

use std::time::{Duration, Instant};

use anyhow::bail;

/// The secret key every benchmark's `forage serve` is started with (`FORAGE_SECRET_KEY`).
pub const SECRET_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
/// forage's default cap on a key's unfinished runs (`limits.max_active_runs_per_key`).
pub const DEFAULT_MAX_ACTIVE_RUNS_PER_KEY: usize = 10_000;
/// forage's default cap on the queue (`limits.max_queued_runs`).
pub const DEFAULT_MAX_QUEUED_RUNS: usize = 50_000;

/// A loopback port nothing listens on (free at the time of asking).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `forage` binary built in the same profile as this benchmark.
pub fn forage_bin() -> anyhow::Result<PathBuf> {
    let bin = std::env::current_exe()?.with_file_name("forage");
    if !bin.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release --bins` (the same profile as this program)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A directory removed on drop, with the `<dir>.log` file beside it.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new directory under the system's temporary directory, named after `benchmark` and `what`.
    pub fn new(benchmark: &str, what: &str) -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "forage-{benchmark}-{}-{what}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("log"));
    }
}

/// A `forage serve` process at `base`, killed on drop; its data directory goes after it.
pub struct Node {
    pub child: Child,
    pub base: String,
    pub data: TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to `limit`) until the server at `base` answers `GET /healthz` with 200.
pub async fn wait_healthy(base: &str, limit: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("forage serve did not become healthy within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Long-polls run `id`'s result on the server at `base` (`wait_secs` per poll, again on 408)
/// and returns the `TaskRunResult`.
pub async fn await_result(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    wait_secs: u64,
) -> anyhow::Result<serde_json::Value> {
    loop {
        let reply = http
            .get(format!(
                "{base}/v1/tasks/runs/{id}/result?timeout={wait_secs}"
            ))
            .send()
            .await?;
        if reply.status().as_u16() == 408 {
            continue;
        }
        return Ok(reply.error_for_status()?.json().await?);
    }
}
