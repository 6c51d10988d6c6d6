//! `forage migrate` and `forage doctor` against real databases (SQLite, a test PostgreSQL)
//! and a real LLM endpoint (the scripted fake): what they print and how they exit.

mod common;

use std::process::{Command, Output};

use common::bin;
use forage_testkit::llm::FakeLlm;
use forage_testkit::postgres::TempPostgres;

const SECRET_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// `forage ARGS` with only the given FORAGE_* variables.
fn forage(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin("forage"));
    cmd.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("FORAGE_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run forage")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn migrate_sqlite_prints_the_schema_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().expect("utf-8 path");
    for _ in 0..2 {
        let out = forage(&["migrate", "--data", data], &[]);
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            stdout(&out).contains("SQLite database") && stdout(&out).contains("schema version"),
            "{}",
            describe(&out)
        );
    }
    assert!(
        dir.path().join("forage.db").exists() || std::fs::read_dir(dir.path()).unwrap().count() > 0
    );
}

#[test]
fn migrate_postgres_is_idempotent_and_prints_the_version() {
    let pg = TempPostgres::start();
    let url = pg.create_database("forage");
    for _ in 0..2 {
        let out = forage(&["migrate"], &[("FORAGE_DATABASE_URL", &url)]);
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            stdout(&out).contains("PostgreSQL database is at schema version"),
            "{}",
            describe(&out)
        );
    }
    let version = pg.psql("forage", "SELECT max(version) FROM forage_schema");
    assert!(stdout(&forage(&["migrate"], &[("FORAGE_DATABASE_URL", &url)])).contains(&version));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_on_a_good_setup() {
    let llm = FakeLlm::start().await;
    let pg = TempPostgres::start();
    let url = pg.create_database("forage");
    let out = forage(
        &["doctor"],
        &[
            ("FORAGE_DATABASE_URL", &url),
            ("FORAGE_SECRET_KEY", SECRET_KEY),
            ("FORAGE_LLM_BASE_URL", &llm.base_url),
            ("FORAGE_LLM_MODEL", "fake"),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    for line in [
        "ok       database",
        "ok       secret key",
        "ok       LLM",
        "search",
    ] {
        assert!(text.contains(line), "missing '{line}':\n{text}");
    }
    assert!(text.contains("all checks passed"), "{text}");

    // SQLite with no database yet is fine too.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = forage(
        &["doctor", "--data", dir.path().to_str().unwrap()],
        &[("FORAGE_LLM_BASE_URL", &llm.base_url)],
    );
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn doctor_says_what_is_wrong_and_fails() {
    let closed = common::free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = forage(
        &["doctor", "--data", dir.path().to_str().unwrap()],
        &[
            (
                "FORAGE_DATABASE_URL",
                &format!("postgres://forage:hunter2@127.0.0.1:{closed}/forage?sslmode=disable"),
            ),
            (
                "FORAGE_LLM_BASE_URL",
                &format!("http://127.0.0.1:{closed}/v1"),
            ),
        ],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    assert!(
        text.contains("PROBLEM  database: cannot reach PostgreSQL"),
        "{text}"
    );
    assert!(text.contains("PROBLEM  secret key"), "{text}");
    assert!(text.contains("FORAGE_SECRET_KEY"), "{text}");
    assert!(text.contains("PROBLEM  LLM: cannot connect"), "{text}");
    assert!(
        !text.contains("hunter2"),
        "the password is never printed: {text}"
    );
    assert!(text.contains("check(s) found a problem"), "{text}");

    // No LLM at all.
    let out = forage(&["doctor", "--data", dir.path().to_str().unwrap()], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains("PROBLEM  LLM: no LLM is configured"),
        "{}",
        describe(&out)
    );
}
