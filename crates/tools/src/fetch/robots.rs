//! robots.txt: fetched once per origin per fetcher (concurrent asks share one request), kept
//! for an hour in a cache of at most 1,000 origins, matched for the user agent's product
//! token (`forage`), falling back to the `*` group.
//!
//! A missing robots.txt (any 4xx) allows everything, as crawlers do. So does a robots.txt that
//! cannot be had (5xx, timeout, connection error, refused by the network guard): forage reads
//! single pages on behalf of one research task rather than crawling, so an outage of the
//! robots file does not block the page; the page's own request then reports the real failure.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use reqwest::Client;
use texting_robots::Robot;
use url::Url;

use super::body::BoundedBody;

/// The most origins whose rules are kept.
const MAX_ORIGINS: u64 = 1_000;
/// How long an origin's rules are kept.
const TTL: Duration = Duration::from_secs(3_600);
/// The most bytes of a robots.txt read (Google reads 500 KiB).
const MAX_ROBOTS_BYTES: usize = 500 * 1024;

/// One origin's rules for our agent.
enum Rules {
    AllowAll,
    Parsed(Robot),
}

impl Rules {
    fn allows(&self, path_and_query: &str) -> bool {
        match self {
            Rules::AllowAll => true,
            Rules::Parsed(robot) => robot.allowed(path_and_query),
        }
    }
}

/// The robots.txt rules of the origins a fetcher has visited.
#[derive(Clone)]
pub(crate) struct RobotsCache {
    cache: Cache<String, Arc<Rules>>,
    /// The product token matched against `User-agent:` lines, e.g. `forage`.
    agent: String,
}

impl RobotsCache {
    pub(crate) fn new(user_agent: &str) -> RobotsCache {
        RobotsCache {
            cache: Cache::builder()
                .max_capacity(MAX_ORIGINS)
                .time_to_live(TTL)
                .build(),
            agent: product_token(user_agent),
        }
    }

    /// Whether robots.txt lets our agent read `url`; the robots.txt request gets `timeout`.
    pub(crate) async fn allows(&self, client: &Client, url: &Url, timeout: Duration) -> bool {
        let origin = url.origin().ascii_serialization();
        let fetch = fetch_rules(client, origin.clone(), self.agent.clone(), timeout);
        let rules = self.cache.get_with(origin, fetch).await;
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        rules.allows(path)
    }
}

/// `forage` from `forage/0.1.0 (+https://…)`.
fn product_token(user_agent: &str) -> String {
    let token = user_agent
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if token.is_empty() {
        "*".to_owned()
    } else {
        token
    }
}

async fn fetch_rules(
    client: &Client,
    origin: String,
    agent: String,
    timeout: Duration,
) -> Arc<Rules> {
    let url = format!("{origin}/robots.txt");
    let response = match client.get(&url).timeout(timeout).send().await {
        Ok(response) => response,
        Err(err) => {
            tracing::debug!(%origin, error = %err.without_url(), "robots.txt unreachable; allowing");
            return Arc::new(Rules::AllowAll);
        }
    };
    let status = response.status();
    if !status.is_success() {
        tracing::debug!(%origin, %status, "no robots.txt; allowing");
        return Arc::new(Rules::AllowAll);
    }
    let mut body = BoundedBody::new(response, MAX_ROBOTS_BYTES);
    if let Err(err) = body.read_all().await {
        tracing::debug!(%origin, error = %err.without_url(), "robots.txt unreadable; allowing");
        return Arc::new(Rules::AllowAll);
    }
    let bytes = body.into_bytes();
    // Each rule becomes a regular expression: parse off the async threads.
    let parsed = tokio::task::spawn_blocking(move || Robot::new(&agent, &bytes).ok()).await;
    match parsed {
        Ok(Some(robot)) => Arc::new(Rules::Parsed(robot)),
        _ => {
            tracing::debug!(%origin, "robots.txt does not parse; allowing");
            Arc::new(Rules::AllowAll)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_token_is_the_first_word() {
        assert_eq!(product_token("forage/0.1.0 (+https://x; y)"), "forage");
        assert_eq!(product_token("Forage"), "forage");
        assert_eq!(product_token(""), "*");
    }

    #[test]
    fn agent_group_then_star() {
        let txt = b"User-agent: *\nDisallow: /private/\n\nUser-agent: otherbot\nDisallow: /\n";
        let robot = Robot::new("forage", txt).unwrap();
        assert!(!robot.allowed("/private/x.html"));
        assert!(robot.allowed("/public/x.html"));
        let txt = b"User-agent: *\nDisallow: /\n\nUser-agent: forage\nDisallow: /drafts/\n";
        let robot = Robot::new("forage", txt).unwrap();
        assert!(robot.allowed("/news/x.html"));
        assert!(!robot.allowed("/drafts/x.html"));
    }
}
