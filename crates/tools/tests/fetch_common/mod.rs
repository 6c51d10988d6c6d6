//! Shared pieces of the web_fetch tests: the fixture web with a DNS double that resolves its
//! host names to 127.0.0.1, and fetchers whose network policy resolves through that double.

#![allow(dead_code)]

use std::time::Duration;

use forage_testkit::dns::DnsDouble;
use forage_testkit::web::FixtureWeb;
use forage_tools::NetworkPolicy;
use forage_tools::fetch::{FetchConfig, WebFetcher};

/// The fixture web and the DNS double that names its sites.
pub struct Web {
    pub web: FixtureWeb,
    pub dns: DnsDouble,
}

impl Web {
    pub async fn start() -> Web {
        let web = FixtureWeb::start().await;
        let dns = DnsDouble::start().await;
        web.register(&dns);
        Web { web, dns }
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        self.web.url(host, path)
    }

    pub fn hits(&self, host: &str, path: &str) -> usize {
        self.web.hits(host, path)
    }

    /// A policy that allows private addresses (the fixture web is on loopback).
    pub fn open_policy(&self) -> NetworkPolicy {
        NetworkPolicy {
            allow_private: true,
            name_servers: vec![self.dns.addr()],
            ..Default::default()
        }
    }

    /// A policy with the default refusals, resolving through the double.
    pub fn strict_policy(&self) -> NetworkPolicy {
        NetworkPolicy {
            name_servers: vec![self.dns.addr()],
            ..Default::default()
        }
    }

    /// A fetcher with the default configuration (but a 10 s timeout) and the open policy.
    pub fn fetcher(&self) -> WebFetcher {
        self.fetcher_with(config())
    }

    pub fn fetcher_with(&self, config: FetchConfig) -> WebFetcher {
        WebFetcher::new(config, &self.open_policy()).expect("fetcher")
    }
}

/// The default configuration with a 10 s timeout.
pub fn config() -> FetchConfig {
    FetchConfig {
        timeout: Duration::from_secs(10),
        ..FetchConfig::default()
    }
}
