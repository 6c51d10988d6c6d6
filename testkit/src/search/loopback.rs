//! What the fake search service and the replay server share: serving a router on a free
//! `127.0.0.1` port until dropped, and recording requests' headers and query parameters.

use axum::Router;
use axum::http::HeaderMap;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A router served on `127.0.0.1` on a free port; stops when dropped.
pub(super) struct Loopback {
    base_url: String,
    task: JoinHandle<()>,
}

impl Loopback {
    /// Serves `router`; `what` names the server in panics and logs ("replay server").
    pub(super) async fn serve(router: Router, what: &'static str) -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind the {what} on 127.0.0.1: {e:?}"));
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "{what} stopped");
            }
        });
        Loopback {
            base_url: format!("http://{addr}"),
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub(super) fn base_url(&self) -> String {
        self.base_url.clone()
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `headers` as (lower-case name, value) pairs.
pub(super) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The first value of header `name` (any case) among recorded `headers`.
pub(super) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The first value of query parameter `name` among recorded `params`.
pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `a=1&b=x%20y` decoded into pairs.
pub(super) fn decode_params(raw: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://fake.invalid/?{raw}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}
