//! How the fake search service finds pages: query words in title and text, domain filters,
//! the result limit, and a snippet around the first match.

use super::{IndexedPage, RecordedSearch};

/// A page found for a query.
pub struct Ranked<'a> {
    pub page: &'a IndexedPage,
    /// How many distinct query words the page holds.
    pub score: usize,
    /// About 200 characters of the text around the first query word.
    pub snippet: String,
    /// The query's words, lower case (for highlighting).
    pub query_words: Vec<String>,
}

/// Pages holding at least one query word, most matching words first (ties keep the pages'
/// order), within the domain filters, at most the request's limit.
pub fn rank<'a>(pages: &'a [IndexedPage], request: &RecordedSearch) -> Vec<Ranked<'a>> {
    let mut query_words: Vec<String> = Vec::new();
    for word in words(&request.query) {
        if !query_words.contains(&word) {
            query_words.push(word);
        }
    }
    let mut found: Vec<Ranked<'a>> = pages
        .iter()
        .filter(|page| domain_allowed(&page.url, request))
        .filter_map(|page| {
            let page_words = words(&format!("{} {}", page.title, page.text));
            let score = query_words
                .iter()
                .filter(|w| page_words.contains(w))
                .count();
            (score > 0).then(|| Ranked {
                page,
                score,
                snippet: snippet(&page.text, &query_words),
                query_words: query_words.clone(),
            })
        })
        .collect();
    found.sort_by_key(|r| std::cmp::Reverse(r.score));
    found.truncate(limit(request));
    found
}

/// The provider's own default and ceiling for the number of results.
fn limit(request: &RecordedSearch) -> usize {
    let (default, most) = match request.provider.as_str() {
        "brave" => (20, 20),
        "tavily" => (5, 20),
        "exa" => (10, 100),
        _ => (usize::MAX, usize::MAX),
    };
    request
        .max_results
        .map_or(default, |n| (n as usize).min(most))
}

fn domain_allowed(url: &str, request: &RecordedSearch) -> bool {
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let matches = |domain: &String| {
        let domain = domain.trim().to_ascii_lowercase();
        host == domain || host.ends_with(&format!(".{domain}"))
    };
    (request.include_domains.is_empty() || request.include_domains.iter().any(matches))
        && !request.exclude_domains.iter().any(matches)
}

/// The lower-case words of `text` (runs of letters and digits).
pub fn words(text: &str) -> Vec<String> {
    word_spans(text)
        .into_iter()
        .map(|(start, end)| text[start..end].to_lowercase())
        .collect()
}

/// The byte ranges of the words of `text`.
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(at),
            (false, Some(s)) => {
                spans.push((s, at));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// About 200 characters of `text` starting a little before the first query word.
fn snippet(text: &str, query_words: &[String]) -> String {
    let first = word_spans(text)
        .into_iter()
        .find(|&(s, e)| query_words.contains(&text[s..e].to_lowercase()))
        .map_or(0, |(s, _)| s);
    let before: Vec<usize> = text[..first].char_indices().map(|(i, _)| i).collect();
    let mut from = before.len().checked_sub(60).map_or(0, |i| before[i]);
    if from > 0 {
        // Start at a word.
        if let Some(space) = text[from..first].find(char::is_whitespace) {
            from += space;
        }
    }
    let window: String = text[from..].chars().take(200).collect();
    window.trim().to_owned()
}
