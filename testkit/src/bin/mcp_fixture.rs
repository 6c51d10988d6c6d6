//! `forage-mcp-fixture`: runs the rmcp MCP fixture server on a loopback port (for manual
//! testing and benchmarks).

use std::net::SocketAddr;

use clap::Parser;

#[derive(Parser)]
#[command(about = "MCP fixture server (rmcp) with fault modes, on 127.0.0.1")]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let handle = forage_testkit::mcp_fixture::start_fixture_on(SocketAddr::from((
        [127, 0, 0, 1],
        args.port,
    )))
    .await?;
    println!("listening on {}", handle.url);
    tokio::signal::ctrl_c().await?;
    handle.shutdown();
    Ok(())
}
