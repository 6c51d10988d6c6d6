//! The real binary and an LLM served over HTTPS, as hosted APIs are: forage trusts a private
//! authority named by `SSL_CERT_FILE`, its concurrent LLM calls share HTTP/2 (negotiated by
//! ALPN), and a certificate it cannot trust fails the run with an error that says so.

mod common;

use common::{ForageServer, ServerOpts};
use forage_testkit::llm::FakeLlm;
use forage_testkit::tls::TlsIdentity;
use reqwest::StatusCode;
use serde_json::json;

/// Writes `pem` into a new directory and returns both (the directory keeps the file alive).
fn authority_file(pem: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("authority.pem");
    std::fs::write(&path, pem).expect("write the authority");
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_reach_an_https_llm_over_http2_when_its_authority_is_trusted() {
    let (llm, ca_pem) = FakeLlm::start_https().await.expect("https LLM");
    let (_dir, ca_file) = authority_file(&ca_pem);
    let server =
        ForageServer::start(ServerOpts::new(&llm.base_url).env("SSL_CERT_FILE", ca_file.display()))
            .await;
    let api = server.api();
    let mut ids = Vec::new();
    for n in 0..3 {
        let run = api
            .create(&json!({"input": format!("What is the capital of country number {n}?"), "processor": "lite"}))
            .await;
        ids.push(run["run_id"].as_str().expect("run id").to_owned());
    }
    for id in &ids {
        let result = api.result(id, 60).await;
        assert_eq!(result.status, StatusCode::OK, "{}", result.text);
        assert_eq!(result.body["run"]["status"], "completed", "{}", result.text);
    }
    let versions = llm.request_versions();
    assert!(versions.len() >= ids.len(), "{versions:?}");
    assert!(
        versions.iter().all(|v| v == "HTTP/2.0"),
        "every LLM call goes over HTTP/2: {versions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_llm_certificate_from_an_untrusted_authority_fails_the_run_and_says_why() {
    let (llm, _ca_pem) = FakeLlm::start_https().await.expect("https LLM");
    // Trust another authority only: the LLM's certificate cannot be verified.
    let other = TlsIdentity::localhost().expect("another authority");
    let (_dir, ca_file) = authority_file(&other.ca_pem);
    let server =
        ForageServer::start(ServerOpts::new(&llm.base_url).env("SSL_CERT_FILE", ca_file.display()))
            .await;
    let api = server.api();
    let run = api
        .create(&json!({"input": "What is the capital of France?", "processor": "lite"}))
        .await;
    let id = run["run_id"].as_str().expect("run id").to_owned();
    let _ = api.result(&id, 60).await;
    let run = api.run(&id).await;
    assert_eq!(run.body["status"], "failed", "{}", run.text);
    let message = run.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("certificate") && message.contains("SSL_CERT_FILE"),
        "the error names the certificate problem and what to do: {message}"
    );
    assert!(
        llm.request_versions().is_empty(),
        "no request reached the LLM"
    );
}

/// A hosted API limits the concurrent requests on one HTTP/2 connection (100 or a few hundred):
/// runs past the limit still call the model at once, over another connection, instead of
/// queueing behind the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_runs_than_one_connections_stream_limit_call_the_llm_at_once() {
    const STREAM_LIMIT: u32 = 100;
    const RUNS: usize = 150;
    let (llm, ca_pem) = FakeLlm::start_https_with_stream_limit(STREAM_LIMIT)
        .await
        .expect("https LLM");
    let (_dir, ca_file) = authority_file(&ca_pem);
    let server = ForageServer::start(
        ServerOpts::new(&llm.base_url)
            .env("SSL_CERT_FILE", ca_file.display())
            .env("FORAGE_WORKERS", RUNS + 10)
            .env("FORAGE_MAX_ACTIVE_RUNS_PER_KEY", 0)
            .env("FORAGE_MAX_QUEUED_RUNS", 0),
    )
    .await;
    let api = server.api();
    let mut ids = Vec::new();
    for n in 0..RUNS {
        // Each run's one LLM call is held 4 s: long enough for every run to be created first.
        let run = api
            .create(
                &json!({"input": format!("Question {n} [[fake:stall_ms=4000]] [[fake:no_tools]]"),
                            "processor": "lite", "task_spec": {"output_schema": {"type": "text"}}}),
            )
            .await;
        ids.push(run["run_id"].as_str().expect("run id").to_owned());
    }
    for id in &ids {
        let result = api.result(id, 60).await;
        assert_eq!(result.status, StatusCode::OK, "{}", result.text);
    }
    assert_eq!(
        llm.most_stalled_at_once(),
        RUNS as u64,
        "every run's LLM call was in flight at once, past one connection's {STREAM_LIMIT} streams"
    );
}
