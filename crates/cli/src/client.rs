//! HTTP client of the forage API, turning error responses into readable errors.

use std::time::Duration;

use anyhow::{Context, anyhow};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::ServerArgs;

/// How a result long-poll ended.
pub enum Poll {
    Done(Value),
    StillActive,
    /// 404 on a run that exists: it failed or was cancelled.
    Failed(String),
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl ApiClient {
    pub fn new(args: &ServerArgs) -> anyhow::Result<ApiClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(ApiClient {
            http,
            base: args.server.trim_end_matches('/').to_owned(),
            api_key: args.api_key.clone(),
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.api_key {
            Some(key) => rb.header("x-api-key", key),
            None => rb,
        }
    }

    async fn send(&self, rb: RequestBuilder) -> anyhow::Result<Response> {
        rb.send()
            .await
            .with_context(|| format!("cannot reach the forage server at {}", self.base))
    }

    pub async fn create(&self, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .send(self.request(Method::POST, "/v1/tasks/runs").json(body))
            .await?;
        json_ok(response).await
    }

    pub async fn get_run(&self, id: &str) -> anyhow::Result<Value> {
        let response = self
            .send(self.request(Method::GET, &format!("/v1/tasks/runs/{id}")))
            .await?;
        json_ok(response).await
    }

    pub async fn list(&self, status: Option<&str>, limit: usize) -> anyhow::Result<Value> {
        let mut path = format!("/v1/tasks/runs?limit={limit}");
        if let Some(s) = status {
            let encoded: String = s
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            path.push_str(&format!("&status={encoded}"));
        }
        let response = self.send(self.request(Method::GET, &path)).await?;
        json_ok(response).await
    }

    /// One long-poll of the result, up to `wait_secs`.
    pub async fn result(&self, id: &str, wait_secs: u64) -> anyhow::Result<Poll> {
        let rb = self
            .request(
                Method::GET,
                &format!("/v1/tasks/runs/{id}/result?timeout={wait_secs}"),
            )
            .timeout(Duration::from_secs(wait_secs + 30));
        let response = self.send(rb).await?;
        match response.status() {
            StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => Ok(Poll::StillActive),
            StatusCode::NOT_FOUND => Ok(Poll::Failed(error_message(response).await)),
            _ => json_ok(response).await.map(Poll::Done),
        }
    }

    /// The run's event stream, resuming after `last_event_id`.
    pub async fn events(&self, id: &str, last_event_id: Option<u64>) -> anyhow::Result<Response> {
        let mut rb = self
            .request(Method::GET, &format!("/v1/tasks/runs/{id}/events"))
            .header("accept", "text/event-stream");
        if let Some(last) = last_event_id {
            rb = rb.header("last-event-id", last.to_string());
        }
        let response = self.send(rb).await?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(anyhow!("{status}: {}", error_message(response).await));
        }
        Ok(response)
    }
}

/// The body of a 2xx answer, or the server's error message.
async fn json_ok(response: Response) -> anyhow::Result<Value> {
    let status = response.status();
    if !status.is_success() {
        return Err(anyhow!(
            "server answered {status}: {}",
            error_message(response).await
        ));
    }
    response
        .json()
        .await
        .context("the server's answer is not valid JSON")
}

/// `error.message` of Parallel's error shape, else the raw body.
async fn error_message(response: Response) -> String {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or(text)
}
