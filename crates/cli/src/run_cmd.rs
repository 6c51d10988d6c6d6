//! `forage run "question"`: create a run, follow its events, print the answer.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use serde_json::{Value, json};

use crate::ServerArgs;
use crate::client::{ApiClient, Poll};
use crate::progress::Progress;
use crate::timeline;

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
    let follower = {
        let (client, id, progress) = (client.clone(), id.clone(), progress.clone());
        tokio::spawn(async move { timeline::follow(&client, &id, &progress).await })
    };
    let ticker = progress.start_ticker();
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

/// The answer on stdout: the content (text as is, JSON pretty), or the whole result.
pub fn print_answer(result: &Value, whole: bool) -> anyhow::Result<()> {
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
