//! Turns the `[search]` and `[fetch]` settings into the engine's web tools.

use forage_engine::web_tools::WebEnv;
use forage_tools::NetworkPolicy;
use forage_tools::fetch::{FetchConfig, WebFetcher};
use forage_tools::search::{SearchConfig, SearchProviderKind, build_provider};

use crate::config::{Config, ConfigError};

/// The web tools as configured: search when a provider is set; fetch when enabled, which by
/// default it is exactly when search is.
pub fn build_web(config: &Config, network: &NetworkPolicy) -> Result<WebEnv, ConfigError> {
    let search = match config.search.provider.as_deref().map(str::trim) {
        None | Some("") | Some("none") => None,
        Some(name) => {
            let kind: SearchProviderKind =
                name.parse()
                    .map_err(|e: forage_tools::search::UnknownSearchProvider| {
                        ConfigError::invalid("search.provider", e.to_string())
                    })?;
            let provider = build_provider(&SearchConfig {
                kind,
                base_url: config.search.base_url.clone(),
                api_key: config.search.api_key.clone(),
                timeout: std::time::Duration::from_secs(config.search.timeout_secs.max(1)),
            })
            .map_err(|e| ConfigError::invalid("search.provider", e.to_string()))?;
            Some(provider)
        }
    };
    let fetch_on = config.fetch.enabled.unwrap_or(search.is_some());
    let fetcher = if fetch_on {
        if config.fetch.max_bytes == 0 {
            return Err(ConfigError::invalid(
                "fetch.max_bytes",
                "must be at least 1",
            ));
        }
        let defaults = FetchConfig::default();
        let fetch = FetchConfig {
            max_bytes: config.fetch.max_bytes,
            timeout: config.fetch.timeout(),
            respect_robots: config.fetch.respect_robots,
            user_agent: config
                .fetch
                .user_agent
                .clone()
                .filter(|ua| !ua.trim().is_empty())
                .unwrap_or(defaults.user_agent.clone()),
            ..defaults
        };
        Some(
            WebFetcher::new(fetch, network)
                .map_err(|e| ConfigError::invalid("fetch.enabled", e.to_string()))?,
        )
    } else {
        None
    };
    if search.is_some() || fetcher.is_some() {
        tracing::info!(
            search = config.search.provider.as_deref().unwrap_or("none"),
            fetch = fetcher.is_some(),
            "web research tools are on"
        );
    }
    Ok(WebEnv { search, fetcher })
}
