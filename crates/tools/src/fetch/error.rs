//! Why a fetch failed: every message says what to do next and shows URLs as origin + path only
//! (a query string may carry a token).

use std::time::Duration;

use url::Url;

use crate::guard::GuardError;

/// Why `web_fetch` could not read a page.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    InvalidUrl(String),
    #[error("{0}")]
    Guard(GuardError),
    #[error(
        "{url}: the site's robots.txt does not allow automated agents to read this page; you may not read it, use another source"
    )]
    RobotsDisallowed { url: String },
    #[error("{url} answered HTTP {status}{}", status_hint(.status))]
    Status { url: String, status: u16 },
    #[error(
        "{url} did not answer in time (limit {} s); the site is slow or unreachable, try another source",
        .after.as_secs_f64()
    )]
    Timeout { url: String, after: Duration },
    #[error(
        "{url} is a PDF larger than the {limit}-byte limit and was not read; look for an HTML version or a smaller document"
    )]
    TooLarge { url: String, limit: usize },
    #[error(
        "{url} is {content_type}, which web_fetch cannot read (it reads HTML, PDF and text pages)"
    )]
    Unsupported { url: String, content_type: String },
    #[error("cannot connect to {url}: {reason}; the site may be down, try another source")]
    Connect { url: String, reason: String },
    #[error("cannot extract text from {url}: {reason}")]
    Extract { url: String, reason: String },
    /// The fetcher could not be built (TLS or resolver set-up); only from `WebFetcher::new`.
    #[error("cannot set up web fetching: {0}")]
    Setup(String),
}

fn status_hint(status: &u16) -> String {
    let reason = reqwest::StatusCode::from_u16(*status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let advice = match status {
        404 | 410 => "the page does not exist; check the URL or search for the page again",
        401 | 403 => "the page is not public; use another source",
        429 => "the site is rate-limiting requests; try again later or use another source",
        500..=599 => "the site failed; try again later or use another source",
        _ => "the page cannot be read; check the URL or use another source",
    };
    format!("{reason}: {advice}")
}

/// A URL as shown in errors and logs: origin and path, no user info, query or fragment.
pub(crate) fn redact(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// A URL as messages and events show it: origin and path (at most 200 characters), never the
/// query or fragment, which may carry tokens; text that is not a URL is cut at `?` or `#`.
pub fn shown_url(raw: &str) -> String {
    match Url::parse(raw.trim()) {
        Ok(url) => {
            let shown = redact(&url);
            match shown.char_indices().nth(200) {
                Some((cut, _)) => format!("{}…", &shown[..cut]),
                None => shown,
            }
        }
        Err(_) => redact_text(raw),
    }
}

/// User text that is not a URL, shown without anything after `?` or `#`.
pub(crate) fn redact_text(text: &str) -> String {
    let end = text.find(['?', '#']).unwrap_or(text.len());
    let mut shown: String = text[..end].chars().take(200).collect();
    if shown.len() < end {
        shown.push('…');
    }
    shown
}

/// Maps a request error: the guard's refusal, a timeout, or a connection failure. Never shows
/// the request's URL beyond `url` (already redacted).
pub(crate) fn request_error(err: &reqwest::Error, url: &str, after: Duration) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(guard) = e.downcast_ref::<GuardError>() {
            return FetchError::Guard(guard.clone());
        }
        source = e.source();
    }
    if err.is_timeout() {
        return FetchError::Timeout {
            url: url.to_owned(),
            after,
        };
    }
    // The top error's text names the URL; its causes (hyper, io) do not.
    let mut reasons = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        let text = e.to_string();
        if !reasons.contains(&text) {
            reasons.push(text);
        }
        source = e.source();
    }
    let reason = if reasons.is_empty() {
        if err.is_body() || err.is_decode() {
            "the connection broke while reading the page".to_owned()
        } else {
            "the request failed".to_owned()
        }
    } else {
        reasons.join(": ")
    };
    FetchError::Connect {
        url: url.to_owned(),
        reason,
    }
}
