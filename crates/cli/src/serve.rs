//! `forage serve`: load the config, start the server, print the address, run until a signal.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use forage_server::{Config, Server, shutdown_signal};
use tracing_subscriber::EnvFilter;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides FORAGE_LISTEN and the config file).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory (overrides FORAGE_DATA and the config file).
    #[arg(long)]
    data: Option<PathBuf>,
    /// TOML config file; FORAGE_* variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data) = args.data {
        config.data = data;
    }
    let server = Server::start(&config)
        .await
        .context("forage cannot start")?;
    println!("forage listening on http://{}", server.local_addr());
    server.run(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Logs to stderr, filtered by FORAGE_LOG or RUST_LOG (default `info`).
fn init_logging() {
    let filter = std::env::var("FORAGE_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
