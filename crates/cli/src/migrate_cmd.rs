//! `forage migrate`: brings the configured database (SQLite or PostgreSQL) to this forage's
//! schema and prints the schema version.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use forage_server::Config;
use forage_server::server::open_store;
use forage_store::PostgresStore;

#[derive(Args)]
pub struct MigrateArgs {
    /// TOML config file; FORAGE_* variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory of the SQLite database (overrides FORAGE_DATA and the config file).
    #[arg(long)]
    data: Option<PathBuf>,
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(data) = args.data {
        config.data = data;
    }
    match &config.database_url {
        Some(url) => {
            let version = PostgresStore::migrate(url.expose())
                .await
                .context("cannot migrate the PostgreSQL database")?;
            println!("PostgreSQL database is at schema version {version}");
        }
        None => {
            open_store(&config)
                .await
                .context("cannot migrate the SQLite database")?;
            println!(
                "SQLite database {} is at schema version {}",
                config.database_path().display(),
                forage_store::sqlite::SCHEMA_VERSION
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
