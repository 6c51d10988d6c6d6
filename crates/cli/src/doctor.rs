//! `forage doctor`: checks what a server needs — the database, the secret key, the LLM
//! endpoint, the search provider — and says in plain words what is wrong.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use forage_server::Config;
use forage_server::config::ProviderKind;
use forage_store::{PostgresStore, SecretCipher};

/// How long one network check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args)]
pub struct DoctorArgs {
    /// TOML config file; FORAGE_* variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (overrides FORAGE_DATA and the config file).
    #[arg(long)]
    data: Option<PathBuf>,
}

/// What one check found.
enum Verdict {
    Ok(String),
    Problem(String),
    /// Nothing to check (not configured), and that is fine.
    Skipped(String),
}

pub async fn doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            report("config", &Verdict::Problem(e.to_string()));
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(data) = args.data {
        config.data = data;
    }
    report("config", &Verdict::Ok("the settings load".into()));
    let checks = [
        ("database", check_database(&config).await),
        ("secret key", check_secret_key(&config)),
        ("LLM", check_llm(&config).await),
        ("search", check_search(&config)),
    ];
    let mut failed = 0;
    for (name, verdict) in &checks {
        report(name, verdict);
        failed += usize::from(matches!(verdict, Verdict::Problem(_)));
    }
    if failed == 0 {
        println!("all checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} check(s) found a problem");
        Ok(ExitCode::FAILURE)
    }
}

fn report(name: &str, verdict: &Verdict) {
    match verdict {
        Verdict::Ok(text) => println!("ok       {name}: {text}"),
        Verdict::Problem(text) => println!("PROBLEM  {name}: {text}"),
        Verdict::Skipped(text) => println!("skipped  {name}: {text}"),
    }
}

async fn check_database(config: &Config) -> Verdict {
    let Some(url) = &config.database_url else {
        return check_sqlite(config);
    };
    let expected = forage_store::postgres::SCHEMA_VERSION;
    match tokio::time::timeout(CHECK_TIMEOUT * 2, PostgresStore::inspect(url.expose())).await {
        Err(_) => Verdict::Problem("PostgreSQL did not answer within 20 s".into()),
        Ok(Err(e)) => Verdict::Problem(format!(
            "cannot reach PostgreSQL at FORAGE_DATABASE_URL: {e}"
        )),
        Ok(Ok(0)) => Verdict::Ok(format!(
            "PostgreSQL answers; the database is empty (forage serve or forage migrate will create schema version {expected})"
        )),
        Ok(Ok(v)) if v > expected => Verdict::Problem(format!(
            "the PostgreSQL database has schema version {v}, newer than this forage (version {expected}): upgrade forage"
        )),
        Ok(Ok(v)) if v < expected => Verdict::Ok(format!(
            "PostgreSQL answers; schema version {v} will be migrated to {expected} at start (or run forage migrate)"
        )),
        Ok(Ok(v)) => Verdict::Ok(format!("PostgreSQL answers; schema version {v} is current")),
    }
}

fn check_sqlite(config: &Config) -> Verdict {
    let path = config.database_path();
    if path.exists() {
        return match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(_) => Verdict::Ok(format!(
                "SQLite database {} is readable and writable",
                path.display()
            )),
            Err(e) => Verdict::Problem(format!(
                "cannot open the SQLite database {}: {e}",
                path.display()
            )),
        };
    }
    // No database yet: the data directory (or its nearest existing parent) must be writable.
    let mut dir = config.data.clone();
    while !dir.exists() {
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => dir = parent.to_path_buf(),
            _ => {
                dir = PathBuf::from(".");
                break;
            }
        }
    }
    let probe = dir.join(format!(".forage-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"probe") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Verdict::Ok(format!(
                "no SQLite database yet; forage serve will create {}",
                path.display()
            ))
        }
        Err(e) => Verdict::Problem(format!(
            "the data directory {} is not writable ({e}): set FORAGE_DATA to a writable directory",
            dir.display()
        )),
    }
}

fn check_secret_key(config: &Config) -> Verdict {
    let shared = config.database_url.is_some();
    if let Some(key) = &config.secret_key {
        return match SecretCipher::from_base64(key.expose()) {
            Ok(_) => Verdict::Ok(if shared {
                "FORAGE_SECRET_KEY is a valid key; every node on this database must use the same one".into()
            } else {
                "FORAGE_SECRET_KEY is a valid key".into()
            }),
            Err(e) => Verdict::Problem(format!("FORAGE_SECRET_KEY is unusable: {e}")),
        };
    }
    if shared && config.secret_key_file.is_none() {
        return Verdict::Problem(
            "several nodes share the PostgreSQL database but no secret key is set: set FORAGE_SECRET_KEY \
             to the same base64 key on every node (head -c 32 /dev/urandom | base64)"
                .into(),
        );
    }
    let path = config.secret_key_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => match SecretCipher::from_base64(&text) {
            Ok(_) => Verdict::Ok(format!("the key file {} holds a valid key", path.display())),
            Err(e) => Verdict::Problem(format!("the key file {} is unusable: {e}", path.display())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !shared => Verdict::Ok(format!(
            "no key file yet; forage serve will create {}",
            path.display()
        )),
        Err(e) => Verdict::Problem(format!("cannot read the key file {}: {e}", path.display())),
    }
}

async fn check_llm(config: &Config) -> Verdict {
    let llm = &config.llm;
    match (llm.provider, &llm.base_url) {
        (Some(ProviderKind::Local), _) => match &llm.model_path {
            Some(path) if path.is_file() => {
                Verdict::Ok(format!("the local model file {} exists", path.display()))
            }
            Some(path) => Verdict::Problem(format!(
                "the local model file {} does not exist (FORAGE_LLM_MODEL_PATH)",
                path.display()
            )),
            None => Verdict::Problem(
                "the local provider needs a GGUF model file: set FORAGE_LLM_MODEL_PATH".into(),
            ),
        },
        (_, None) if llm.provider != Some(ProviderKind::Anthropic) => Verdict::Problem(
            "no LLM is configured: set FORAGE_LLM_BASE_URL (an OpenAI-compatible server such as \
             http://127.0.0.1:8000/v1) and FORAGE_LLM_MODEL"
                .into(),
        ),
        (kind, base) => {
            let anthropic = kind == Some(ProviderKind::Anthropic);
            let base = base
                .clone()
                .unwrap_or_else(|| "https://api.anthropic.com".into());
            // Anthropic's API lives under `/v1` whether or not the base URL says so.
            let base = if anthropic && !base.trim_end_matches('/').ends_with("/v1") {
                format!("{}/v1", base.trim_end_matches('/'))
            } else {
                base
            };
            probe_llm(&base, llm.api_key.as_ref().map(|k| k.expose()), anthropic).await
        }
    }
}

/// A cheap authenticated request: `GET {base}/models`.
async fn probe_llm(base: &str, api_key: Option<&str>, anthropic: bool) -> Verdict {
    let url = format!("{}/models", base.trim_end_matches('/'));
    let client = match reqwest::Client::builder().timeout(CHECK_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => return Verdict::Problem(format!("cannot build an HTTP client: {e}")),
    };
    let mut request = client.get(&url);
    if let Some(key) = api_key {
        request = if anthropic {
            request
                .header("x-api-key", key)
                .header("anthropic-version", "2023-06-01")
        } else {
            request.bearer_auth(key)
        };
    }
    match request.send().await {
        Err(e) if e.is_timeout() => {
            Verdict::Problem(format!("the LLM endpoint {url} did not answer within 10 s"))
        }
        Err(e) if e.is_connect() => Verdict::Problem(format!(
            "cannot connect to the LLM endpoint {url}: is the server running, and is FORAGE_LLM_BASE_URL right?"
        )),
        Err(e) => Verdict::Problem(format!(
            "the LLM endpoint {url} failed: {}",
            e.without_url()
        )),
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Verdict::Ok(format!("the LLM endpoint {url} answers"))
            } else if status.as_u16() == 401 || status.as_u16() == 403 {
                Verdict::Problem(format!(
                    "the LLM endpoint {url} refused the API key ({status}): check FORAGE_LLM_API_KEY"
                ))
            } else if status.as_u16() == 404 {
                Verdict::Problem(format!(
                    "the LLM endpoint {url} answered 404: FORAGE_LLM_BASE_URL should end with the API prefix (often /v1)"
                ))
            } else {
                Verdict::Problem(format!("the LLM endpoint {url} answered {status}"))
            }
        }
    }
}

fn check_search(_config: &Config) -> Verdict {
    // This build has no pluggable web-search provider setting; there is nothing to reach.
    Verdict::Skipped("no search provider is configured".into())
}
