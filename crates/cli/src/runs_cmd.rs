//! `forage runs list`, `forage runs show ID` and `forage runs watch ID` (the live timeline).

use std::process::ExitCode;

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::ServerArgs;
use crate::client::{ApiClient, Poll};
use crate::progress::Progress;
use crate::run_cmd::print_answer;
use crate::timeline;

#[derive(Subcommand)]
pub enum RunsCommand {
    /// Your runs, newest first.
    List {
        /// Only runs in this status (queued, running, completed, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// How many runs to show (1 to 100).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// One run, and its result when completed, as JSON.
    Show {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Follow a run's live timeline (LLM turns, tool calls) until it ends, then print its
    /// answer; a finished run is replayed. Exits non-zero when the run failed or was cancelled.
    Watch {
        id: String,
        /// Print the whole result (run, output, basis, tool calls) as JSON at the end.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub async fn runs(command: RunsCommand) -> anyhow::Result<ExitCode> {
    match command {
        RunsCommand::List {
            status,
            limit,
            server,
        } => {
            let client = ApiClient::new(&server)?;
            let page = client.list(status.as_deref(), limit).await?;
            let runs = page["runs"]
                .as_array()
                .ok_or_else(|| anyhow!("the server's answer has no runs"))?;
            print!("{}", table(runs));
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Show { id, server } => {
            let client = ApiClient::new(&server)?;
            let run = client.get_run(&id).await?;
            let shown = if run["status"] == "completed" {
                match client.result(&id, 0).await? {
                    Poll::Done(result) => result,
                    _ => json!({"run": run}),
                }
            } else {
                json!({"run": run})
            };
            println!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Watch { id, json, server } => {
            watch(&ApiClient::new(&server)?, &id, json).await
        }
    }
}

/// `forage runs watch ID`: the timeline on stderr, the answer on stdout.
async fn watch(client: &ApiClient, id: &str, whole: bool) -> anyhow::Result<ExitCode> {
    let progress = Progress::new(id);
    let ticker = progress.start_ticker();
    let followed = timeline::follow(client, id, &progress).await;
    if let Some(t) = ticker {
        t.abort();
    }
    progress.finish();
    let run = match followed? {
        Some(state) => state["run"].clone(),
        // The stream was lost: ask for the run as it is now.
        None => client.get_run(id).await?,
    };
    let status = run["status"].as_str().unwrap_or("unknown");
    eprintln!(
        "run {id} {status} (watched {:.1} s)",
        progress.elapsed_secs()
    );
    match status {
        "completed" => {
            match client.result(id, 0).await? {
                Poll::Done(result) => print_answer(&result, whole)?,
                _ => return Err(anyhow!("run {id} completed but its result is unavailable")),
            }
            Ok(ExitCode::SUCCESS)
        }
        "failed" | "cancelled" => {
            let message = run["error"]["message"].as_str().unwrap_or(status);
            eprintln!("error: run {id}: {message}");
            Ok(ExitCode::FAILURE)
        }
        other => Err(anyhow!(
            "run {id} is still {other}; the event stream ended early"
        )),
    }
}

/// id, status, processor, created: aligned columns.
fn table(runs: &[Value]) -> String {
    let rows: Vec<[String; 4]> = runs
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            [
                field("run_id"),
                field("status"),
                field("processor"),
                field("created_at"),
            ]
        })
        .collect();
    let header = ["ID", "STATUS", "PROCESSOR", "CREATED"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let runs = vec![
            json!({"run_id": "trun_1", "status": "completed", "processor": "lite", "created_at": "2025-01-01T00:00:00Z"}),
        ];
        let text = table(&runs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("STATUS"), lines[1].find("completed"));
    }
}
