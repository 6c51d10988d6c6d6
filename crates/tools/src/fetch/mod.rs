//! `web_fetch`: fetches a page through the network guard and turns HTML or PDF into clean text.
//!
//! One [`WebFetcher`] is shared by every run of a server: it holds the guarded HTTP client and
//! the robots.txt cache. A run puts a [`FetchCache`] in front of it so that one URL is fetched
//! once per run.
//!
//! A fetch: the URL must be http(s); its IP literal is checked by the guard, robots.txt of its
//! origin is consulted (see `robots`; redirect targets are not re-checked against their own
//! robots.txt), redirects are followed through the guard's policy, a 4xx/5xx is an error, the
//! body is read incrementally up to `max_bytes`, and HTML / PDF parsing runs on a blocking
//! thread. Everything, robots.txt included, happens within `timeout`.

mod body;
mod cache;
mod content;
mod error;
mod extract;
mod pdf;
mod robots;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::guard::NetworkPolicy;
use body::BoundedBody;
use content::{ContentType, Kind};
use error::{redact, redact_text, request_error};
use robots::RobotsCache;

pub use cache::FetchCache;
pub use error::{FetchError, shown_url};

/// How pages are fetched.
#[derive(Clone, Debug)]
pub struct FetchConfig {
    /// The most body bytes read (default 5 MiB). A longer HTML or text body is cut there and
    /// the page marked `truncated`; a longer PDF is refused with [`FetchError::TooLarge`] (a
    /// cut PDF cannot be parsed).
    pub max_bytes: usize,
    /// The whole fetch, robots.txt included, must finish within this (default 20 s).
    pub timeout: Duration,
    /// The most characters of extracted text kept (default 100,000); `truncated` says when
    /// text was cut.
    pub max_text_chars: usize,
    /// The User-Agent header; its first word (`forage`) is the robots.txt product token.
    pub user_agent: String,
    /// Whether robots.txt is obeyed (default true).
    pub respect_robots: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            max_bytes: 5 * 1024 * 1024,
            timeout: Duration::from_secs(20),
            max_text_chars: 100_000,
            user_agent: format!(
                "forage/{} (self-hosted research agent)",
                env!("CARGO_PKG_VERSION")
            ),
            respect_robots: true,
        }
    }
}

/// A fetched page as text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchedPage {
    /// The final URL, after redirects.
    pub url: String,
    /// The URL asked for.
    pub requested_url: String,
    pub title: Option<String>,
    /// Markdown-ish text of the main content (HTML), the PDF's text, or the text as served.
    pub text: String,
    /// `text/html`, `application/pdf`, `text/plain`, …
    pub content_type: String,
    /// `YYYY-MM-DD` from the page's metadata (`article:published_time`, JSON-LD
    /// `datePublished`, …) when present.
    pub published_date: Option<String>,
    /// Body bytes read (at most `max_bytes`).
    pub bytes: u64,
    /// The body was cut at `max_bytes`, or the text at `max_text_chars`.
    pub truncated: bool,
}

/// Fetches pages through the network guard; cheap to clone.
#[derive(Clone)]
pub struct WebFetcher {
    inner: Arc<Inner>,
}

struct Inner {
    config: FetchConfig,
    client: reqwest::Client,
    network: NetworkPolicy,
    robots: RobotsCache,
}

const ACCEPT: &str =
    "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.5";

impl WebFetcher {
    /// A fetcher whose every request (pages and robots.txt) goes through `network`'s guard.
    pub fn new(config: FetchConfig, network: &NetworkPolicy) -> Result<WebFetcher, FetchError> {
        // No proxy: a proxy would resolve names itself, out of the guard's sight.
        let builder = reqwest::Client::builder()
            .no_proxy()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .timeout(config.timeout);
        let client = network
            .apply(builder)
            .build()
            .map_err(|err| FetchError::Setup(err.to_string()))?;
        Ok(WebFetcher {
            inner: Arc::new(Inner {
                robots: RobotsCache::new(&config.user_agent),
                config,
                client,
                network: network.clone(),
            }),
        })
    }

    /// The configuration this fetcher was made with.
    pub fn config(&self) -> &FetchConfig {
        &self.inner.config
    }

    /// Fetches `url` (http or https) and returns its text, within the configured timeout.
    pub async fn fetch(&self, url: &str) -> Result<FetchedPage, FetchError> {
        let parsed = parse_url(url)?;
        self.inner
            .network
            .check_url(&parsed)
            .map_err(FetchError::Guard)?;
        let after = self.inner.config.timeout;
        let shown = redact(&parsed);
        match tokio::time::timeout(after, self.fetch_checked(url, parsed)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { url: shown, after }),
        }
    }

    async fn fetch_checked(&self, requested: &str, url: Url) -> Result<FetchedPage, FetchError> {
        let inner = &self.inner;
        let config = &inner.config;
        let shown = redact(&url);
        if config.respect_robots {
            let robots_timeout = (config.timeout / 4).min(Duration::from_secs(10));
            if !inner
                .robots
                .allows(&inner.client, &url, robots_timeout)
                .await
            {
                return Err(FetchError::RobotsDisallowed { url: shown });
            }
        }
        let response = inner
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, ACCEPT)
            .send()
            .await
            .map_err(|err| request_error(&err, &shown, config.timeout))?;
        let final_url = response.url().clone();
        let shown = redact(&final_url);
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: shown,
                status: status.as_u16(),
            });
        }
        let content_type = ContentType::parse(
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        let unsupported = |content_type: &ContentType| FetchError::Unsupported {
            url: shown.clone(),
            content_type: if content_type.essence.is_empty() {
                "binary data".to_owned()
            } else {
                content_type.essence.clone()
            },
        };
        let mut kind = content_type.kind();
        if kind == Kind::Unsupported {
            return Err(unsupported(&content_type));
        }
        let too_large = || FetchError::TooLarge {
            url: shown.clone(),
            limit: config.max_bytes,
        };
        if kind == Kind::Pdf
            && response
                .content_length()
                .is_some_and(|n| n > config.max_bytes as u64)
        {
            return Err(too_large());
        }

        let mut body = BoundedBody::new(response, config.max_bytes);
        let read_error = |err: reqwest::Error| request_error(&err, &shown, config.timeout);
        body.fill(1024).await.map_err(read_error)?;
        kind = match kind {
            Kind::Sniff { text_allowed } => content::sniff(body.bytes(), text_allowed),
            // A PDF served with a text or generic type is still a PDF.
            Kind::Text if body.bytes().starts_with(b"%PDF-") => Kind::Pdf,
            other => other,
        };
        if kind == Kind::Unsupported {
            return Err(unsupported(&content_type));
        }
        body.read_all().await.map_err(read_error)?;
        if kind == Kind::Pdf && body.over() {
            return Err(too_large());
        }
        let cut = body.over();
        let bytes = body.into_bytes();
        let received = bytes.len() as u64;

        let charset = content_type.charset.clone();
        let page_url = final_url.to_string();
        let extracted = tokio::task::spawn_blocking(move || match kind {
            Kind::Html => {
                let html = content::decode(&bytes, charset.as_deref(), true);
                extract::html(&html, &page_url)
            }
            Kind::Pdf => pdf::text(&bytes).map(|text| extract::Extracted {
                text,
                ..Default::default()
            }),
            _ => Ok(extract::Extracted {
                text: content::decode(&bytes, charset.as_deref(), false),
                ..Default::default()
            }),
        })
        .await
        .map_err(|_| FetchError::Extract {
            url: shown.clone(),
            reason: "the text extraction failed unexpectedly".to_owned(),
        })?
        .map_err(|reason| FetchError::Extract {
            url: shown.clone(),
            reason,
        })?;

        let (text, text_cut) = cut_chars(extracted.text, config.max_text_chars);
        Ok(FetchedPage {
            url: final_url.to_string(),
            requested_url: requested.trim().to_owned(),
            title: extracted.title,
            text,
            content_type: content_type.reported(kind),
            published_date: extracted.published_date,
            bytes: received,
            truncated: cut || text_cut,
        })
    }
}

/// Parses a URL to fetch: absolute, http or https, with a host.
fn parse_url(text: &str) -> Result<Url, FetchError> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|err| {
        FetchError::InvalidUrl(format!(
            "'{}' is not a valid URL ({err}); give an absolute http(s) URL such as https://example.com/page",
            redact_text(text)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::InvalidUrl(format!(
            "only http and https URLs can be fetched, not {}: URLs ({})",
            url.scheme(),
            redact_text(text)
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FetchError::InvalidUrl(format!(
            "'{}' has no host",
            redact_text(text)
        )));
    }
    Ok(url)
}

/// `text` cut to at most `max` characters, and whether it was cut.
fn cut_chars(mut text: String, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => {
            text.truncate(at);
            (text, true)
        }
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_errors_redacted() {
        assert!(parse_url(" https://example.com/a?b=c ").is_ok());
        let err = parse_url("ftp://example.com/file?token=s3cret").unwrap_err();
        assert!(err.to_string().contains("ftp"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = parse_url("not a url?token=s3cret").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(matches!(err, FetchError::InvalidUrl(_)));
    }

    #[test]
    fn text_is_cut_on_char_boundaries() {
        assert_eq!(cut_chars("héllo".into(), 2), ("hé".to_owned(), true));
        assert_eq!(cut_chars("héllo".into(), 5), ("héllo".to_owned(), false));
    }
}
