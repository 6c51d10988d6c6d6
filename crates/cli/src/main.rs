//! `forage`: serve the Task API, run a task from the shell, list, show and watch runs.

mod client;
mod doctor;
mod migrate_cmd;
mod progress;
mod run_cmd;
mod runs_cmd;
mod serve;
mod sse;
mod timeline;

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "forage",
    version,
    about = "Self-hosted research tasks, Parallel Task API compatible"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve(serve::ServeArgs),
    /// Run one task and print its answer.
    Run(run_cmd::RunArgs),
    /// List and inspect runs.
    Runs {
        #[command(subcommand)]
        command: runs_cmd::RunsCommand,
    },
    /// Bring the database (SQLite or PostgreSQL) to this forage's schema; print its version.
    Migrate(migrate_cmd::MigrateArgs),
    /// Check the database, the secret key, the LLM endpoint and the search provider.
    Doctor(doctor::DoctorArgs),
}

/// Where the server is and how to authenticate (shared by client commands).
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// Base URL of the forage server.
    #[arg(long, env = "FORAGE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API key sent as `x-api-key`.
    #[arg(long, env = "FORAGE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// Rust code allocates through mimalloc; SQLite's C code still uses glibc's malloc. By default
/// glibc hands the free top of the database writer thread's heap back to the kernel after
/// each transaction and faults it in again on the next, which cost the writer a fifth of its
/// CPU under load. Keeping up to 64 MiB of freed memory per heap avoids that churn.
fn keep_freed_c_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a setting of glibc's allocator; it is called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

fn main() -> ExitCode {
    keep_freed_c_heap();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Run(args) => run_cmd::run(args).await,
            Command::Runs { command } => runs_cmd::runs(command).await,
            Command::Migrate(args) => migrate_cmd::migrate(args).await,
            Command::Doctor(args) => doctor::doctor(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
