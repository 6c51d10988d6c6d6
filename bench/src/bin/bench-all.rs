//! Runs every benchmark, one after the other, and writes the figures they record (each against
//! its baseline measured in the same run, with its target) as `bench/results/latest.md` and
//! `bench/results/latest.json`.
//!
//! Usage: `bash scripts/bench.sh` (builds the release binaries, then runs this), or
//! `bench-all [BENCHMARK…]` from the release target dir to run some of them.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use forage_bench::report::{Figure, RESULTS_ENV, markdown};

/// Every benchmark with its arguments, in the order they run (the quick ones first).
const BENCHMARKS: &[(&str, &[&str])] = &[
    ("bench-mcp-call", &[]),
    ("bench-startup", &[]),
    ("bench-throughput", &[]),
    ("bench-queue", &[]),
    ("bench-tool-load", &[]),
    // Tool calls that each answer with 16,000 bytes: the conversation grows with each turn.
    ("bench-tool-load", &["100", "16000"]),
    ("bench-local-llm", &[]),
    // The scale target: 10,000 runs, each watched by a long-poll and an event stream that
    // share HTTP/2 connections (one HTTP/1.1 connection each would pass this machine's
    // open-files limit), the LLM reached over HTTPS as a hosted API is (HTTP/2 by ALPN).
    (
        "bench-scale",
        &["10000", "30000", "64", "both", "h2c", "https"],
    ),
];

/// Lets one benchmark's aftermath pass before the next starts: the data it wrote and deleted is
/// flushed to disk (`bench-startup` writes tens of MiB), so that the write-back does not land in
/// the next one's fsyncs and latencies.
fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::thread::sleep(std::time::Duration::from_secs(3));
}

fn main() -> anyhow::Result<()> {
    let chosen: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::env::current_exe()?
        .parent()
        .context("the benchmarks' directory")?
        .to_path_buf();
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&results)?;
    let lines = results.join("latest.jsonl");
    let _ = std::fs::remove_file(&lines);

    let mut failed = Vec::new();
    for (name, args) in BENCHMARKS
        .iter()
        .filter(|(b, _)| chosen.is_empty() || chosen.iter().any(|c| c == b))
    {
        let program = dir.join(name);
        if !program.exists() {
            bail!(
                "{} is missing: build the benchmarks with `cargo build --release --bins`",
                program.display()
            );
        }
        eprintln!("\n=== {name}");
        let started = Instant::now();
        let status = Command::new(&program)
            .args(*args)
            .env(RESULTS_ENV, &lines)
            .status()
            .with_context(|| format!("run {name}"))?;
        eprintln!(
            "=== {name}: {status} in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        if !status.success() {
            failed.push(name.to_string());
        }
        settle();
    }

    let figures: Vec<Figure> = std::fs::read_to_string(&lines)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let machine = format!(
        "{} CPU cores, {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::env::consts::ARCH
    );
    let table = markdown(&figures);
    let met = figures.iter().filter(|f| f.met == Some(true)).count();
    let targets = figures.iter().filter(|f| f.met.is_some()).count();
    let md = format!(
        "# forage benchmarks\n\nMeasured on {machine}; each figure against its baseline in the same run.\n\
         Targets met: {met} of {targets}.\n\n{table}"
    );
    std::fs::write(results.join("latest.md"), &md)?;
    std::fs::write(
        results.join("latest.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "machine": machine,
            "figures": figures,
            "failed": failed,
        }))?,
    )?;
    let _ = std::fs::remove_file(&lines);
    println!("{md}");
    println!("written: {}", results.join("latest.md").display());
    if !failed.is_empty() {
        bail!("benchmarks that failed: {}", failed.join(", "));
    }
    Ok(())
}
