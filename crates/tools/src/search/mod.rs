//! Web search behind the `SearchProvider` trait, with providers for SearXNG, Brave, Tavily and Exa.
//!
//! [`build_provider`] turns a [`SearchConfig`] into a ready provider (one HTTP client each). Every
//! provider answers a [`SearchRequest`] with at most `max_results` [`SearchHit`]s: http(s) URLs
//! only, no duplicate URLs, snippets of at most [`MAX_SNIPPET_CHARS`] characters, dates as
//! `YYYY-MM-DD`. Requests are not retried: a failed search is reported at once as a
//! [`SearchError`] that says what happened and what to do, and the caller (the agent) decides
//! whether to search again.

mod brave;
mod config;
mod error;
mod exa;
mod hits;
mod http;
mod searxng;
mod tavily;
mod text;

use serde::{Deserialize, Serialize};

pub use config::{
    API_KEY_ENV, BASE_URL_ENV, SearchConfig, SearchProviderKind, UnknownSearchProvider,
    build_provider,
};
pub use error::SearchError;
pub use hits::MAX_SNIPPET_CHARS;
pub use http::MAX_BODY_BYTES;

/// The most results one search returns; larger `max_results` are clamped to it.
pub const MAX_RESULTS: u32 = 20;

/// One search result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub url: String,
    pub title: String,
    pub snippet: String,
    /// `YYYY-MM-DD`, when the provider dates the page.
    pub published_date: Option<String>,
}

/// What to search for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchRequest {
    pub query: String,
    /// How many hits at most; clamped to `1..=20` ([`MAX_RESULTS`]).
    pub max_results: u32,
    /// Hints, passed to providers that filter by domain natively (Tavily, Exa); callers filter
    /// the hits themselves too.
    pub include_domains: Vec<String>,
    pub exclude_domains: Vec<String>,
}

impl SearchRequest {
    /// `max_results` clamped to `1..=MAX_RESULTS`.
    pub fn result_limit(&self) -> u32 {
        self.max_results.clamp(1, MAX_RESULTS)
    }
}

/// A web search service.
#[async_trait::async_trait]
pub trait SearchProvider: Send + Sync + 'static {
    async fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, SearchError>;
    /// "searxng" | "brave" | "tavily" | "exa"
    fn name(&self) -> &'static str;
}

/// The query with its whitespace tidied; an empty query is refused before anything is sent.
fn prepared_query(request: &SearchRequest) -> Result<String, SearchError> {
    let query = text::squeeze_whitespace(&request.query);
    if query.is_empty() {
        return Err(SearchError::InvalidRequest(
            "the search query is empty; give the words to search for".into(),
        ));
    }
    Ok(query)
}

/// The request's domain hints as JSON fields named `include_key` and `exclude_key`, include
/// first, leaving out a list with no hints in it.
fn domain_hint_fields(
    request: &SearchRequest,
    include_key: &'static str,
    exclude_key: &'static str,
) -> Vec<(&'static str, Vec<String>)> {
    [
        (include_key, domain_hints(&request.include_domains)),
        (exclude_key, domain_hints(&request.exclude_domains)),
    ]
    .into_iter()
    .filter(|(_, domains)| !domains.is_empty())
    .collect()
}

/// The domain hints, trimmed, without empty ones.
fn domain_hints(domains: &[String]) -> Vec<String> {
    domains
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}
