//! What the benchmarks that start `forage serve` share: a free loopback port, the `forage`
//! binary beside the running benchmark, and a data directory removed on drop.

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::bail;

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
