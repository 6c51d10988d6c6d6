//! Which search provider to use and how to reach it, checked once by [`build_provider`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use forage_api::Secret;
use serde::{Deserialize, Serialize};
use url::Url;

use super::brave::Brave;
use super::exa::Exa;
use super::http::ProviderHttp;
use super::searxng::Searxng;
use super::tavily::Tavily;
use super::{SearchError, SearchProvider};

/// The environment variable the operator sets the provider's API key with (named in errors).
pub const API_KEY_ENV: &str = "FORAGE_SEARCH_API_KEY";
/// The environment variable the operator sets the provider's base URL with (named in errors).
pub const BASE_URL_ENV: &str = "FORAGE_SEARCH_BASE_URL";

/// The search services forage speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchProviderKind {
    Searxng,
    Brave,
    Tavily,
    Exa,
}

impl SearchProviderKind {
    pub const ALL: [SearchProviderKind; 4] = [Self::Searxng, Self::Brave, Self::Tavily, Self::Exa];

    /// The lower-case name, as in configuration and [`SearchProvider::name`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Searxng => "searxng",
            Self::Brave => "brave",
            Self::Tavily => "tavily",
            Self::Exa => "exa",
        }
    }

    /// The hosted API's base URL; `None` for SearXNG, which is self-hosted.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::Searxng => None,
            Self::Brave => Some("https://api.search.brave.com"),
            Self::Tavily => Some("https://api.tavily.com"),
            Self::Exa => Some("https://api.exa.ai"),
        }
    }

    /// Whether the provider cannot be used without an API key.
    pub fn requires_api_key(self) -> bool {
        !matches!(self, Self::Searxng)
    }
}

impl fmt::Display for SearchProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name that is none of the four.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown search provider '{0}': expected one of searxng, brave, tavily, exa")]
pub struct UnknownSearchProvider(pub String);

impl FromStr for SearchProviderKind {
    type Err = UnknownSearchProvider;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim();
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownSearchProvider(wanted.to_owned()))
    }
}

/// How to reach the search provider.
#[derive(Clone, Debug)]
pub struct SearchConfig {
    pub kind: SearchProviderKind,
    /// Required for SearXNG; the hosted API's address for the others when `None`.
    pub base_url: Option<String>,
    /// Required for Brave, Tavily and Exa; sent as a bearer token to SearXNG when set.
    pub api_key: Option<Secret>,
    /// For a whole search: connecting, sending and reading the answer.
    pub timeout: Duration,
}

/// Checks `config` and builds its provider, with its own HTTP client.
pub fn build_provider(config: &SearchConfig) -> Result<Arc<dyn SearchProvider>, SearchError> {
    let kind = config.kind;
    let base_url = base_url(config)?;
    let api_key = api_key(config)?;
    if config.timeout.is_zero() {
        return Err(SearchError::Config(
            "the web search timeout is zero; give it a positive duration".into(),
        ));
    }
    let http = ProviderHttp::new(kind.as_str(), config.timeout, api_key)?;
    Ok(match kind {
        SearchProviderKind::Searxng => Arc::new(Searxng::new(http, &base_url)?),
        SearchProviderKind::Brave => Arc::new(Brave::new(http, &base_url)?),
        SearchProviderKind::Tavily => Arc::new(Tavily::new(http, &base_url)?),
        SearchProviderKind::Exa => Arc::new(Exa::new(http, &base_url)?),
    })
}

/// The configured or default base URL, checked: http(s), a host, no query or fragment.
fn base_url(config: &SearchConfig) -> Result<Url, SearchError> {
    let kind = config.kind;
    let text = match config.base_url.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => text,
        _ => match kind.default_base_url() {
            Some(default) => default,
            None => {
                return Err(SearchError::Config(format!(
                    "the {kind} search provider is self-hosted and needs its address: set {BASE_URL_ENV} to your instance's URL (e.g. http://localhost:8888)"
                )));
            }
        },
    };
    let bad = |why: &str| {
        SearchError::Config(format!(
            "{BASE_URL_ENV} for the {kind} search provider is not usable ({why}): give an http:// or https:// URL such as https://search.example.com"
        ))
    };
    let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(&format!(
            "scheme '{}' is not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it has a query or fragment"));
    }
    Ok(url)
}

/// The API key when one is set (and required for the kind), checked to fit in an HTTP header.
fn api_key(config: &SearchConfig) -> Result<Option<Secret>, SearchError> {
    let kind = config.kind;
    let key = config
        .api_key
        .as_ref()
        .map(|key| Secret::new(key.expose().trim()))
        .filter(|key| !key.is_empty());
    if key.is_none() && kind.requires_api_key() {
        return Err(SearchError::Config(format!(
            "the {kind} search provider needs an API key: set {API_KEY_ENV} to your {kind} API key"
        )));
    }
    if let Some(key) = &key
        && !key.expose().bytes().all(|b| (0x21..0x7f).contains(&b))
    {
        return Err(SearchError::Config(format!(
            "{API_KEY_ENV} holds characters an API key cannot have (spaces, line breaks or non-ASCII); check the value set for the {kind} search provider"
        )));
    }
    Ok(key)
}
