//! What a run read (pages, search results, MCP tool outputs) and the check that every citation
//! in an answer comes from it: the URL must be one the run read, and every excerpt must be found
//! in that source's text (compared word by word, ignoring case, punctuation and markdown).

use forage_api::Citation;
use serde::{Deserialize, Serialize};

/// One thing the run read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Where it was read from; `None` for an MCP tool's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub text: String,
}

impl Source {
    /// An MCP tool's output (its text may name URLs, which then count as read).
    pub fn tool_output(text: String) -> Source {
        Source {
            url: None,
            title: None,
            text,
        }
    }
}

/// Reads a list of sources, where an older checkpoint holds plain strings (tool outputs).
pub fn deserialize_sources<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Source>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Text(String),
        Full(Source),
    }
    let stored = Vec::<Stored>::deserialize(deserializer)?;
    Ok(stored
        .into_iter()
        .map(|s| match s {
            Stored::Text(text) => Source::tool_output(text),
            Stored::Full(source) => source,
        })
        .collect())
}

/// What became of one citation.
#[derive(Debug, PartialEq)]
pub enum Checked {
    /// Kept, with only the excerpts found in the source (`dropped_excerpts` were not found).
    Kept {
        citation: Citation,
        dropped_excerpts: usize,
    },
    /// Dropped: the run read nothing at its URL, or none of its excerpts is in what it read.
    Dropped,
}

/// Everything a run read, ready to check citations against.
pub struct ReadSources<'a> {
    sources: Vec<&'a Source>,
}

impl<'a> ReadSources<'a> {
    pub fn new(sources: impl IntoIterator<Item = &'a Source>) -> ReadSources<'a> {
        ReadSources {
            sources: sources.into_iter().collect(),
        }
    }

    /// Checks one citation: its URL must be a page or result the run read (or appear in a tool
    /// output), and each excerpt must appear in the text read there.
    pub fn check(&self, citation: &Citation) -> Checked {
        let url = citation.url.trim();
        if url.is_empty() {
            return Checked::Dropped;
        }
        let wanted = normalise_url(url);
        let texts: Vec<&str> = self
            .sources
            .iter()
            .filter(|s| match &s.url {
                Some(read) => normalise_url(read) == wanted,
                None => s.text.contains(url),
            })
            .map(|s| s.text.as_str())
            .collect();
        if texts.is_empty() {
            return Checked::Dropped;
        }
        let title = citation.title.clone().or_else(|| {
            self.sources
                .iter()
                .find(|s| s.url.as_deref().map(normalise_url).as_deref() == Some(wanted.as_str()))
                .and_then(|s| s.title.clone())
        });
        let excerpts = citation.excerpts.clone().unwrap_or_default();
        if excerpts.is_empty() {
            return Checked::Kept {
                citation: Citation {
                    url: url.to_owned(),
                    title,
                    excerpts: None,
                },
                dropped_excerpts: 0,
            };
        }
        let haystacks: Vec<String> = texts.iter().map(|t| words_of(t)).collect();
        let (found, missing): (Vec<String>, Vec<String>) = excerpts
            .into_iter()
            .partition(|excerpt| haystacks.iter().any(|h| contains_excerpt(h, excerpt)));
        if found.is_empty() {
            return Checked::Dropped;
        }
        Checked::Kept {
            citation: Citation {
                url: url.to_owned(),
                title,
                excerpts: Some(found),
            },
            dropped_excerpts: missing.len(),
        }
    }
}

/// A URL in the form two spellings of one page share: no fragment, no `www.`, no trailing
/// slash, `http` and `https` alike, host in lower case.
pub fn normalise_url(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(mut parsed) => {
            parsed.set_fragment(None);
            let host = parsed
                .host_str()
                .unwrap_or_default()
                .trim_start_matches("www.")
                .to_ascii_lowercase();
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            let path = parsed.path().trim_end_matches('/');
            let query = parsed.query().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{host}{port}{path}{query}")
        }
        Err(_) => url.trim().trim_end_matches('/').to_ascii_lowercase(),
    }
}

/// Whether `excerpt` (possibly elided with `...` or `…`) appears in `haystack` (from
/// [`words_of`]); elided parts must appear in order.
fn contains_excerpt(haystack: &str, excerpt: &str) -> bool {
    let parts: Vec<String> = excerpt
        .split("...")
        .flat_map(|p| p.split('…'))
        .map(words_of)
        .filter(|p| p.len() > 2)
        .collect();
    if parts.is_empty() {
        return false;
    }
    let mut from = 0;
    for part in parts {
        match haystack[from..].find(&part) {
            Some(at) => from += at + part.len() - 1,
            None => return false,
        }
    }
    true
}

/// The words of `text`, lower case, each followed and preceded by one space (so a search for
/// `" a b "` matches whole words only); markdown link targets are left out.
fn words_of(text: &str) -> String {
    let text = strip_link_targets(text);
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        for c in word.chars().flat_map(char::to_lowercase) {
            out.push(c);
        }
        out.push(' ');
    }
    out
}

/// `[text](target)` becomes `[text]`: a quote of the page's words never includes link targets.
fn strip_link_targets(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("](") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        out.push_str(&rest[..=at]);
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(close) if !after[..close].contains(char::is_whitespace) => {
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(url: &str, text: &str) -> Source {
        Source {
            url: Some(url.into()),
            title: Some("Page".into()),
            text: text.into(),
        }
    }

    fn cite(url: &str, excerpts: &[&str]) -> Citation {
        Citation {
            url: url.into(),
            title: None,
            excerpts: (!excerpts.is_empty())
                .then(|| excerpts.iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn an_excerpt_is_found_whatever_its_case_spacing_and_punctuation() {
        let sources = [page(
            "https://news.test/acme",
            "# Acme\n\nAcme Corp's chief executive,   **Dana Reyes**, said on Monday\nthat profits rose.",
        )];
        let read = ReadSources::new(&sources);
        let checked = read.check(&cite(
            "http://www.news.test/acme/#top",
            &["chief executive, Dana Reyes, said", "profits fell sharply"],
        ));
        let Checked::Kept {
            citation,
            dropped_excerpts,
        } = checked
        else {
            panic!("kept expected: {checked:?}");
        };
        assert_eq!(
            citation.excerpts.unwrap(),
            ["chief executive, Dana Reyes, said"]
        );
        assert_eq!(citation.title.as_deref(), Some("Page"));
        assert_eq!(dropped_excerpts, 1);
    }

    #[test]
    fn a_citation_of_an_unread_url_or_with_no_true_excerpt_is_dropped() {
        let sources = [page("https://news.test/a", "The sky is blue today.")];
        let read = ReadSources::new(&sources);
        assert_eq!(
            read.check(&cite("https://other.test/a", &[])),
            Checked::Dropped
        );
        assert_eq!(
            read.check(&cite("https://news.test/a", &["the sky is green"])),
            Checked::Dropped
        );
        assert!(matches!(
            read.check(&cite("https://news.test/a", &[])),
            Checked::Kept { .. }
        ));
    }

    #[test]
    fn whole_words_only_and_elisions_in_order() {
        let sources = [page(
            "https://a.test/",
            "revenue grew to 12 billion in 2024, up from 9",
        )];
        let read = ReadSources::new(&sources);
        assert!(matches!(
            read.check(&cite("https://a.test", &["grew to 12 … up from 9"])),
            Checked::Kept { .. }
        ));
        assert_eq!(
            read.check(&cite("https://a.test", &["up from 9 ... grew to 12"])),
            Checked::Dropped
        );
        assert_eq!(
            read.check(&cite("https://a.test", &["venue grew"])),
            Checked::Dropped
        );
    }

    #[test]
    fn link_targets_are_not_part_of_the_words() {
        let sources = [page(
            "https://a.test/",
            "Led by [Dana Reyes](https://a.test/people/dana) since 2021.",
        )];
        let read = ReadSources::new(&sources);
        assert!(matches!(
            read.check(&cite("https://a.test/", &["Led by Dana Reyes since 2021"])),
            Checked::Kept { .. }
        ));
    }

    #[test]
    fn a_url_named_in_a_tool_output_counts_as_read() {
        let sources = [Source::tool_output(
            "record: https://crm.test/acme owner Dana".into(),
        )];
        let read = ReadSources::new(&sources);
        assert!(matches!(
            read.check(&cite("https://crm.test/acme", &["owner Dana"])),
            Checked::Kept { .. }
        ));
    }
}
