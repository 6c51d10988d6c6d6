//! `[search]` and `[fetch]`: the web search provider behind `web_search`, and how `web_fetch`
//! reads pages.

use std::time::Duration;

use forage_api::Secret;
use serde::Deserialize;

/// `[search]`. No provider: `web_search` is not offered.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// `searxng`, `brave`, `tavily` or `exa`.
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    pub timeout_secs: u64,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            provider: None,
            base_url: None,
            api_key: None,
            timeout_secs: 15,
        }
    }
}

/// `[fetch]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchSettings {
    /// Offer `web_fetch`; unset: offered when a search provider is configured.
    pub enabled: Option<bool>,
    pub max_bytes: usize,
    pub timeout_secs: u64,
    pub respect_robots: bool,
    /// Unset: forage's own (`forage/<version> (…; research agent)`).
    pub user_agent: Option<String>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            enabled: None,
            max_bytes: 5 * 1024 * 1024,
            timeout_secs: 20,
            respect_robots: true,
            user_agent: None,
        }
    }
}

impl FetchSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }
}
