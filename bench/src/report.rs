//! The one shape of a measured figure. Each benchmark prints its own tables and also records
//! its figures here; `bench-all` runs every benchmark with `FORAGE_BENCH_RESULTS` naming a
//! file and turns what they recorded into `bench/results/latest.md` and `latest.json`. Also the
//! percentile every latency figure is read with.

use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The environment variable naming the JSON-lines file figures are appended to.
pub const RESULTS_ENV: &str = "FORAGE_BENCH_RESULTS";

/// One measured figure, with its baseline and target where it has them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Figure {
    /// The program that measured it (`bench-mcp-call`, …).
    pub benchmark: String,
    /// What was measured, in words.
    pub name: String,
    pub value: f64,
    /// `ms`, `runs/s`, `MiB`, `x` (a ratio), …
    pub unit: String,
    /// What it was measured against in the same run, in words (with its own figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The target, in words (`≤ 1.2x raw`, `≥ 2000 runs/s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Whether the target was met (`None`: no target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
}

impl Figure {
    pub fn new(benchmark: &str, name: impl Into<String>, value: f64, unit: &str) -> Figure {
        Figure {
            benchmark: benchmark.to_owned(),
            name: name.into(),
            value,
            unit: unit.to_owned(),
            baseline: None,
            target: None,
            met: None,
        }
    }

    pub fn against(mut self, baseline: impl Into<String>) -> Figure {
        self.baseline = Some(baseline.into());
        self
    }

    /// A target: `met` says whether this figure reaches it.
    pub fn target(mut self, target: impl Into<String>, met: bool) -> Figure {
        self.target = Some(target.into());
        self.met = Some(met);
        self
    }
}

/// The `q` quantile (0 to 1, nearest rank) of `sorted` latencies, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Appends `figures` to the file [`RESULTS_ENV`] names, if it names one.
pub fn record(figures: &[Figure]) {
    let Some(path) = std::env::var_os(RESULTS_ENV) else {
        return;
    };
    let mut file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) => {
            eprintln!("cannot record figures in {}: {e}", path.to_string_lossy());
            return;
        }
    };
    for figure in figures {
        if let Ok(line) = serde_json::to_string(figure) {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// The figures as a markdown table.
pub fn markdown(figures: &[Figure]) -> String {
    let mut out = String::from(
        "| benchmark | figure | measured | baseline (same run) | target | met |\n|---|---|---:|---|---|---|\n",
    );
    for f in figures {
        let value = if f.value.abs() >= 100.0 {
            format!("{:.0} {}", f.value, f.unit)
        } else {
            format!("{:.3} {}", f.value, f.unit)
        };
        let met = match f.met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            f.benchmark,
            f.name,
            value,
            f.baseline.as_deref().unwrap_or(""),
            f.target.as_deref().unwrap_or(""),
            met
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=5).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 0.0), 1.0);
        assert_eq!(percentile_ms(&sorted, 0.5), 3.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 5.0);
        assert_eq!(percentile_ms(&sorted, 1.0), 5.0);
    }

    #[test]
    fn figures_round_trip_and_render() {
        let f = Figure::new("bench-x", "p50 latency", 0.25, "ms")
            .against("raw 0.2 ms")
            .target("≤ 1.2x raw", false);
        let back: Figure = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        let table = markdown(&[f]);
        assert!(
            table.contains(
                "| bench-x | p50 latency | 0.250 ms | raw 0.2 ms | ≤ 1.2x raw | **not met** |"
            ),
            "{table}"
        );
    }
}
