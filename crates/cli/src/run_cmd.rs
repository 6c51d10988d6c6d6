//! `forage run "question"`: create a run, follow its events, print the answer.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::ServerArgs;
use crate::client::{ApiClient, Poll};
use crate::progress::Progress;
use crate::sse::SseParser;

#[derive(Args)]
pub struct RunArgs {
    /// The question or task.
    question: String,
    /// Processor (lite, base, core, pro, ultra, … with optional -fast).
    #[arg(long, default_value = "lite")]
    processor: String,
    /// A JSON Schema file: the answer is JSON matching it.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Print the whole result (run, output, basis, tool calls) as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Seconds per result long-poll.
const POLL_SECS: u64 = 600;

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(&args.server)?;
    let task_spec = match &args.schema {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the schema file {}", path.display()))?;
            let schema: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            json!({"output_schema": {"type": "json", "json_schema": schema}})
        }
        None => json!({"output_schema": {"type": "text"}}),
    };
    let body = json!({"input": args.question, "processor": args.processor, "task_spec": task_spec});
    let run = client.create(&body).await?;
    let id = run["run_id"]
        .as_str()
        .ok_or_else(|| anyhow!("the server's answer has no run_id"))?
        .to_owned();
    let progress = Progress::new(&id);
    let follower = tokio::spawn(follow(client.clone(), id.clone(), progress.clone()));
    let ticker = progress.is_terminal().then(|| {
        let p = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                p.tick();
            }
        })
    });
    let outcome = loop {
        match client.result(&id, POLL_SECS).await {
            Ok(Poll::StillActive) => continue,
            other => break other,
        }
    };
    // Let the follower print the last events, briefly.
    let _ = tokio::time::timeout(Duration::from_millis(500), follower).await;
    if let Some(t) = ticker {
        t.abort();
    }
    progress.finish();
    match outcome? {
        Poll::Done(result) => {
            print_answer(&result, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Poll::Failed(message) => {
            eprintln!("error: run {id}: {message}");
            Ok(ExitCode::FAILURE)
        }
        Poll::StillActive => unreachable!("the loop only ends on a final answer"),
    }
}

fn print_answer(result: &Value, whole: bool) -> anyhow::Result<()> {
    if whole {
        println!("{}", serde_json::to_string_pretty(result)?);
        return Ok(());
    }
    match &result["output"]["content"] {
        Value::String(text) => println!("{text}"),
        other => println!("{}", serde_json::to_string_pretty(other)?),
    }
    Ok(())
}

/// Shows the run's events until its final state, reconnecting where the stream left off.
async fn follow(client: ApiClient, id: String, progress: Progress) {
    let mut last: Option<u64> = None;
    for _ in 0..100 {
        let Ok(response) = client.events(&id, last).await else {
            return;
        };
        let mut parser = SseParser::default();
        let mut body = response.bytes_stream();
        while let Some(Ok(chunk)) = body.next().await {
            let Ok(events) = parser.push(&chunk) else {
                return;
            };
            for event in events {
                let seq = event.id.as_deref().and_then(|i| i.parse::<u64>().ok());
                if seq.is_some() {
                    last = seq;
                }
                let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
                    continue;
                };
                // The stream opens with the current state, then replays the history: show
                // that opening frame only when it is final (the history tells the rest).
                let opening = seq.is_none() && data["type"] == "task_run.state";
                if opening && data["run"]["is_active"].as_bool().unwrap_or(true) {
                    continue;
                }
                if show(&progress, &data) {
                    return;
                }
            }
        }
    }
}

/// Renders one event; `true` once the run is final.
fn show(progress: &Progress, data: &Value) -> bool {
    let kind = data["type"].as_str().unwrap_or("");
    match kind {
        "task_run.state" => {
            let status = data["run"]["status"].as_str().unwrap_or("unknown");
            progress.status(status);
            !data["run"]["is_active"].as_bool().unwrap_or(true)
                && matches!(status, "completed" | "failed" | "cancelled")
        }
        "error" => {
            let message = data["error"]["message"].as_str().unwrap_or("stream error");
            progress.message(&format!("error: {message}"));
            true
        }
        _ => {
            if let Some(message) = data["message"].as_str() {
                progress.message(message);
            }
            false
        }
    }
}
