//! Webhooks against the real binary: a receiver in the test (axum on 127.0.0.1) verifies the
//! Standard Webhooks signature with the secret from `GET /v1/forage/webhook-secret`, gets
//! at-least-once delivery, sees retries after 500s, and gets a delivery enqueued before a
//! SIGKILL after the server restarts.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use common::{ForageServer, ServerOpts};
use forage_testkit::llm::FakeLlm;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

/// What the receiver saw, and how many requests it should still refuse with 500.
#[derive(Default)]
struct Seen {
    deliveries: Vec<(HeaderMap, Value)>,
    fail_next: usize,
    attempts: usize,
}

struct Receiver {
    url: String,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut seen = seen.lock().unwrap();
    seen.attempts += 1;
    if seen.fail_next > 0 {
        seen.fail_next -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let value: Value = serde_json::from_slice(&body).expect("JSON body");
    let mut h = headers.clone();
    h.insert(
        "x-raw-body",
        String::from_utf8(body.to_vec()).unwrap().parse().unwrap(),
    );
    seen.deliveries.push((h, value));
    StatusCode::OK
}

async fn receiver_on(port: u16, fail_first: usize) -> Receiver {
    let seen = Arc::new(Mutex::new(Seen {
        fail_next: fail_first,
        ..Seen::default()
    }));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind receiver");
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    Receiver {
        url: format!("http://127.0.0.1:{port}/hook"),
        seen,
        task,
    }
}

/// Verifies `webhook-signature` as Parallel's docs do (secret string bytes as the key).
fn verify(secret: &str, headers: &HeaderMap) {
    let id = headers["webhook-id"].to_str().unwrap();
    let ts = headers["webhook-timestamp"].to_str().unwrap();
    let body = headers["x-raw-body"].to_str().unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let header = headers["webhook-signature"].to_str().unwrap();
    assert!(
        header.split(' ').any(|s| s == expected),
        "signature {header} does not match {expected}"
    );
    let age = chrono_like_now() - ts.parse::<i64>().unwrap();
    assert!(age.abs() < 600, "timestamp is recent");
}

fn chrono_like_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn opts(llm: &FakeLlm) -> ServerOpts {
    ServerOpts::new(&llm.base_url)
        .env("FORAGE_ALLOW_PRIVATE_NETWORKS", "true")
        .env("FORAGE_WEBHOOKS_INITIAL_RETRY_SECS", 1)
        .env("FORAGE_WEBHOOKS_MAX_RETRY_SECS", 2)
}

async fn secret(server: &ForageServer) -> String {
    let reply = server.api().get("/v1/forage/webhook-secret").await;
    assert_eq!(reply.status, reqwest::StatusCode::OK, "{}", reply.text);
    reply.body["secret"].as_str().expect("secret").to_owned()
}

async fn wait_for(receiver: &Receiver, n: usize, limit: Duration) -> Vec<(HeaderMap, Value)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        {
            let seen = receiver.seen.lock().unwrap();
            if seen.deliveries.len() >= n {
                return seen.deliveries.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {n} deliveries within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_delivery_on_completion_retried_after_500s() {
    let llm = FakeLlm::start().await;
    let server = ForageServer::start(opts(&llm)).await;
    let receiver = receiver_on(0, 2).await;
    let secret = secret(&server).await;
    assert!(
        !server.log().contains(&secret),
        "the secret is never logged"
    );
    let run = server
        .api()
        .create(&json!({
            "input": "Hook me [[fake:no_tools]]",
            "processor": "lite",
            "webhook": {"url": receiver.url, "event_types": ["task_run.status"]},
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let got = wait_for(&receiver, 1, Duration::from_secs(30)).await;
    let (headers, body) = &got[0];
    verify(&secret, headers);
    assert!(
        headers["webhook-id"]
            .to_str()
            .unwrap()
            .starts_with("whevent_")
    );
    assert_eq!(body["type"], "task_run.status");
    assert_eq!(body["data"]["run_id"], run_id.as_str());
    assert_eq!(body["data"]["status"], "completed");
    assert_eq!(body["data"]["is_active"], false);
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        receiver.seen.lock().unwrap().attempts,
        3,
        "two 500s, then delivered"
    );
    assert!(
        !server.log().contains(&secret),
        "the secret is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_receiver_does_not_fail_the_run() {
    let llm = FakeLlm::start().await;
    // Private networks not allowed: the loopback receiver is refused by the guard.
    let server = ForageServer::start(
        ServerOpts::new(&llm.base_url).env("FORAGE_ALLOW_PRIVATE_NETWORKS", "false"),
    )
    .await;
    let receiver = receiver_on(0, 0).await;
    let run = server
        .api()
        .create(&json!({
            "input": "Hook me [[fake:no_tools]]",
            "processor": "lite",
            "webhook": {"url": receiver.url},
        }))
        .await;
    let done = server
        .api()
        .wait_done(run["run_id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "completed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.seen.lock().unwrap().attempts, 0);
    let log = server.log();
    assert!(
        log.contains("webhook delivery given up"),
        "{}",
        common::tail(&log, 3000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delivery_enqueued_before_a_sigkill_arrives_after_restart() {
    let llm = FakeLlm::start().await;
    let mut server = ForageServer::start(
        opts(&llm)
            .env("FORAGE_WEBHOOKS_INITIAL_RETRY_SECS", 30)
            .env("FORAGE_WEBHOOKS_MAX_RETRY_SECS", 60),
    )
    .await;
    // The receiver is down at first: the port is reserved but nothing listens.
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let secret = secret(&server).await;
    let run = server
        .api()
        .create(&json!({
            "input": "Hook me later [[fake:no_tools]]",
            "processor": "lite",
            "webhook": {"url": url},
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let done = server
        .api()
        .wait_done(&run_id, Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "completed");
    // Let the first attempt fail (connection refused), then kill the server before its retry.
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.kill_9();
    let receiver = receiver_on(port, 0).await;
    server.restart().await;
    // The restarted server's retry comes due within the retry wait (30 s) of the first attempt.
    let got = wait_for(&receiver, 1, Duration::from_secs(60)).await;
    let (headers, body) = &got[0];
    assert_eq!(body["data"]["run_id"], run_id.as_str());
    assert_eq!(
        secret,
        self::secret(&server).await,
        "the secret survives restarts"
    );
    verify(&secret, headers);
}
