//! Turns a provider's raw results into the hits every provider promises: http(s) URLs only, no
//! duplicate URLs, tidy titles and snippets, `YYYY-MM-DD` dates, at most `max_results`.

use std::collections::HashSet;

use serde_json::Value;
use url::Url;

use super::SearchHit;
use super::text::{parse_date, squeeze_whitespace, truncate_chars};

/// The longest snippet, in characters; longer ones are cut and end with `…`.
pub const MAX_SNIPPET_CHARS: usize = 500;
/// The longest title, in characters.
const MAX_TITLE_CHARS: usize = 300;

/// One result as a provider gave it, before clean-up.
#[derive(Debug, Default)]
pub struct RawHit {
    pub url: Option<String>,
    pub title: Option<String>,
    pub snippet: Option<String>,
    /// Date texts in order of preference; the first that parses wins.
    pub dates: Vec<String>,
}

impl RawHit {
    /// A result object's `url` and `title` fields, `snippet`, and the date in field `date_key`.
    pub fn from_fields(result: &Value, snippet: Option<String>, date_key: &str) -> RawHit {
        RawHit {
            url: text_field(result, "url"),
            title: text_field(result, "title"),
            snippet,
            dates: text_field(result, date_key).into_iter().collect(),
        }
    }
}

/// Collects hits up to a limit, skipping unusable and duplicate URLs.
pub struct Hits {
    limit: usize,
    seen: HashSet<String>,
    hits: Vec<SearchHit>,
}

impl Hits {
    pub fn new(limit: u32) -> Hits {
        Hits {
            limit: limit as usize,
            seen: HashSet::new(),
            hits: Vec::new(),
        }
    }

    pub fn is_full(&self) -> bool {
        self.hits.len() >= self.limit
    }

    /// Adds `raw` unless the collection is full or its URL is missing, not http(s), or seen.
    pub fn push(&mut self, raw: RawHit) {
        if self.is_full() {
            return;
        }
        let Some(url) = raw.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return;
        };
        let Some(key) = dedup_key(url) else {
            return;
        };
        if !self.seen.insert(key) {
            return;
        }
        let title = squeeze_whitespace(raw.title.as_deref().unwrap_or_default());
        let snippet = squeeze_whitespace(raw.snippet.as_deref().unwrap_or_default());
        self.hits.push(SearchHit {
            url: url.to_owned(),
            title: truncate_chars(&title, MAX_TITLE_CHARS),
            snippet: truncate_chars(&snippet, MAX_SNIPPET_CHARS),
            published_date: raw.dates.iter().find_map(|date| parse_date(date)),
        });
    }

    pub fn into_vec(self) -> Vec<SearchHit> {
        self.hits
    }
}

/// The string at `key` of a JSON object; `None` when missing, not a string, or `value` is not
/// an object.
pub fn text_field(value: &Value, key: &str) -> Option<String> {
    value.get(key)?.as_str().map(str::to_owned)
}

/// The array at `key`, or an empty slice when missing or not an array.
pub fn array_field<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// What makes two URLs the same page: the parsed URL without its fragment. `None` for a URL
/// that does not parse or is not http(s) with a host.
fn dedup_key(url: &str) -> Option<String> {
    let mut parsed = Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return None;
    }
    parsed.set_fragment(None);
    Some(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str) -> RawHit {
        RawHit {
            url: Some(url.into()),
            title: Some(" A \n title ".into()),
            snippet: Some("x".repeat(800)),
            dates: vec!["3 days ago".into(), "2024-01-02T00:00:00".into()],
        }
    }

    #[test]
    fn unusable_and_duplicate_urls_are_skipped_and_the_limit_holds() {
        let mut hits = Hits::new(3);
        for url in [
            "",
            "not a url",
            "ftp://example.com/file",
            "javascript:alert(1)",
            "https://example.com/a",
            "https://example.com/a#section",
            "HTTPS://EXAMPLE.COM/a",
            "https://example.com/b",
            "https://example.com/c",
            "https://example.com/d",
        ] {
            hits.push(raw(url));
        }
        let hits = hits.into_vec();
        let urls: Vec<_> = hits.iter().map(|h| h.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://example.com/a",
                "https://example.com/b",
                "https://example.com/c"
            ]
        );
        assert_eq!(hits[0].title, "A title");
        assert_eq!(hits[0].snippet.chars().count(), MAX_SNIPPET_CHARS);
        assert_eq!(hits[0].published_date.as_deref(), Some("2024-01-02"));
    }
}
