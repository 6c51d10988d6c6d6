//! A fake web search service for tests: speaks the SearXNG, Brave, Tavily and Exa APIs over a set of pages.
//!
//! [`FakeSearch`] ranks its pages by how many query words appear in title and text, and answers
//! in each provider's real response shape ([`render`]). [`replay::Replay`] is the other double:
//! a server that answers every request with one canned reply (a recorded response, an error, a
//! stall), for tests of how a client reads what a provider sends.

mod loopback;
mod rank;
mod render;
pub mod replay;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use loopback::{Loopback, decode_params, header_pairs};
use serde_json::Value;

pub use replay::{CannedReply, RecordedRequest, Replay};

/// A page the fake search service can find.
#[derive(Clone, Debug)]
pub struct IndexedPage {
    pub url: String,
    pub title: String,
    pub text: String,
    /// `YYYY-MM-DD`.
    pub published_date: Option<String>,
}

impl IndexedPage {
    pub fn new(url: &str, title: &str, text: &str) -> IndexedPage {
        IndexedPage {
            url: url.into(),
            title: title.into(),
            text: text.into(),
            published_date: None,
        }
    }

    pub fn published(mut self, date: &str) -> IndexedPage {
        self.published_date = Some(date.into());
        self
    }
}

/// One search the fake received, whatever it answered.
#[derive(Clone, Debug, Default)]
pub struct RecordedSearch {
    /// "searxng", "brave", "tavily" or "exa".
    pub provider: String,
    pub method: String,
    pub path: String,
    /// The search text (`q` or the body's `query`).
    pub query: String,
    /// `count` (Brave), `max_results` (Tavily) or `numResults` (Exa), when sent.
    pub max_results: Option<u32>,
    pub include_domains: Vec<String>,
    pub exclude_domains: Vec<String>,
    /// The URL's query parameters, decoded.
    pub params: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body of a POST.
    pub body: Option<Value>,
}

impl RecordedSearch {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        loopback::header(&self.headers, name)
    }

    /// The first value of URL query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        loopback::param(&self.params, name)
    }
}

/// The fake search service, running on `127.0.0.1` on a free port; stops when dropped.
pub struct FakeSearch {
    server: Loopback,
    state: Arc<Shared>,
}

struct Shared {
    pages: Vec<IndexedPage>,
    recorded: Mutex<Vec<RecordedSearch>>,
    failure: Mutex<Option<u16>>,
}

impl FakeSearch {
    pub async fn start(pages: Vec<IndexedPage>) -> FakeSearch {
        let state = Arc::new(Shared {
            pages,
            recorded: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
        });
        let router = Router::new()
            .route("/search", get(search).post(search))
            .route("/res/v1/web/search", get(search))
            .with_state(state.clone());
        FakeSearch {
            server: Loopback::serve(router, "fake search service").await,
            state,
        }
    }

    /// `http://127.0.0.1:PORT`: the base URL for any of the four providers.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Every search received, in order.
    pub fn requests(&self) -> Vec<RecordedSearch> {
        self.state.recorded.lock().expect("recorder lock").clone()
    }

    /// Answers every request with `status` (401, 429 with `Retry-After: 2`, 500, …) until
    /// cleared with `None`.
    pub fn set_failure(&self, status: Option<u16>) {
        *self.state.failure.lock().expect("failure lock") = status;
    }
}

/// Which provider a request speaks, told by its path, then by its key header or body keys
/// (Tavily and Exa share `POST /search`).
fn provider_of(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> &'static str {
    if path.starts_with("/res/v1/") {
        "brave"
    } else if method == Method::GET {
        "searxng"
    } else if headers.contains_key("x-api-key")
        || body.is_some_and(|b| b.get("numResults").is_some())
    {
        "exa"
    } else {
        "tavily"
    }
}

async fn search(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = decode_params(raw_query.as_deref().unwrap_or_default());
    let json: Option<Value> = if method == Method::POST {
        match serde_json::from_slice(&body) {
            Ok(json) => Some(json),
            Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
        }
    } else {
        None
    };
    let provider = provider_of(&method, uri.path(), &headers, json.as_ref());
    let recorded = record(provider, &method, uri.path(), params, &headers, json);
    state
        .recorded
        .lock()
        .expect("recorder lock")
        .push(recorded.clone());

    let failure = *state.failure.lock().expect("failure lock");
    if let Some(status) = failure {
        return render::failure(provider, status);
    }
    if let Some(refusal) = refusal(provider, &recorded) {
        return refusal;
    }
    let ranked = rank::rank(&state.pages, &recorded);
    render::answer(provider, &recorded, &ranked).into_response()
}

/// The answer when the request lacks what the provider insists on: its key header (401), or
/// SearXNG's `format=json` (403, as SearXNG does when the format is off).
fn refusal(provider: &str, request: &RecordedSearch) -> Option<Response> {
    let present = |name: &str| request.header(name).is_some_and(|v| !v.trim().is_empty());
    let authorised = match provider {
        "brave" => present("x-subscription-token"),
        "tavily" => request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|key| !key.trim().is_empty()),
        "exa" => present("x-api-key"),
        _ => true,
    };
    if !authorised {
        return Some(render::failure(provider, 401));
    }
    if provider == "searxng" && request.param("format") != Some("json") {
        return Some(plain(StatusCode::FORBIDDEN, "403 Forbidden"));
    }
    None
}

fn record(
    provider: &'static str,
    method: &Method,
    path: &str,
    params: Vec<(String, String)>,
    headers: &HeaderMap,
    body: Option<Value>,
) -> RecordedSearch {
    let param = |name: &str| loopback::param(&params, name).map(str::to_owned);
    let body_str = |key: &str| body.as_ref()?.get(key)?.as_str().map(str::to_owned);
    let body_u32 = |key: &str| {
        let n = body.as_ref()?.get(key)?.as_u64()?;
        u32::try_from(n).ok()
    };
    let body_list = |key: &str| -> Vec<String> {
        body.as_ref()
            .and_then(|b| b.get(key))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (query, max_results, include_domains, exclude_domains) = match provider {
        "searxng" => (param("q"), None, vec![], vec![]),
        "brave" => (
            param("q"),
            param("count").and_then(|c| c.parse().ok()),
            vec![],
            vec![],
        ),
        "tavily" => (
            body_str("query"),
            body_u32("max_results"),
            body_list("include_domains"),
            body_list("exclude_domains"),
        ),
        _ => (
            body_str("query"),
            body_u32("numResults"),
            body_list("includeDomains"),
            body_list("excludeDomains"),
        ),
    };
    RecordedSearch {
        provider: provider.to_owned(),
        method: method.to_string(),
        path: path.to_owned(),
        query: query.unwrap_or_default(),
        max_results,
        include_domains,
        exclude_domains,
        params,
        headers: header_pairs(headers),
        body,
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, text.to_owned()).into_response()
}
