//! `forage-fake-llm`: the scripted OpenAI-compatible LLM server as a process, for end-to-end
//! tests of the real forage binary, Python scripts and benchmarks.

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;

/// Serves a scripted OpenAI-compatible chat-completions API on 127.0.0.1.
#[derive(Parser)]
#[command(name = "forage-fake-llm")]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}/v1")?;
    stdout.flush()?;
    drop(stdout);
    forage_testkit::llm::serve(listener)
        .await
        .context("the fake LLM server failed")
}
