//! A real forage server for tests: SQLite in a tempdir, the scripted fake LLM, an ephemeral port.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use forage_server::{Config, Server, ServerError};
use forage_store::Store;
use forage_testkit::llm::FakeLlm;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub base: String,
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    pub llm: FakeLlm,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
    pub dir: tempfile::TempDir,
}

/// A server with `keys` (none: auth off).
pub async fn start(keys: &[&str]) -> TestServer {
    start_with(keys, |_| {}).await
}

pub async fn start_with(keys: &[&str], tweak: impl FnOnce(&mut Config)) -> TestServer {
    let llm = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data: dir.path().to_owned(),
        api_keys: keys.iter().map(|k| (*k).into()).collect(),
        workers: 2,
        lease_secs: 3,
        shutdown_grace_secs: 1,
        ..Config::default()
    };
    config.llm.base_url = Some(llm.base_url.clone());
    config.llm.model = "fake".into();
    config.llm.max_retries = 0;
    config.llm.request_timeout_secs = 60;
    config.network.allow_private = true;
    tweak(&mut config);
    let server = Server::start(&config).await.expect("server starts");
    let base = format!("http://{}", server.local_addr());
    let store = server.store();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    TestServer {
        base,
        store,
        http: reqwest::Client::new(),
        llm,
        stop: Some(tx),
        handle: Some(handle),
        dir,
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST a create body; returns (status, body).
    pub async fn create(&self, key: Option<&str>, body: &Value) -> (u16, Value) {
        let mut rb = self.http.post(self.url("/v1/tasks/runs")).json(body);
        if let Some(k) = key {
            rb = rb.header("x-api-key", k);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn get(&self, key: Option<&str>, path: &str) -> (u16, Value) {
        let mut rb = self.http.get(self.url(path));
        if let Some(k) = key {
            rb = rb.header("x-api-key", k);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Signals shutdown and waits for the server to return.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(30), h)
                .await
                .expect("server stops in time")
                .unwrap()
                .unwrap();
        }
    }
}

/// Waits until `check` holds on the run's record.
pub async fn wait_for_status(store: &Arc<dyn Store>, id: &str, status: &str) {
    let id = forage_api::RunId::parse(id).unwrap();
    for _ in 0..400 {
        if let Some(r) = store.get_run(&id).await.unwrap()
            && r.status.as_str() == status
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("run {id} never reached {status}");
}
