//! HTML to clean markdown-ish text: readability's main-content extraction (navigation, headers,
//! footers, sidebars, scripts, styles, banners and hidden elements dropped; headings,
//! paragraphs, lists, tables and `[text](url)` links kept), the title and the published date.
//! CPU-heavy: call it from a blocking task.

use dom_smoothie::{Config, ParsePolicy, Readability, ReadabilityError, TextMode};

/// What was extracted from one document.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Extracted {
    pub title: Option<String>,
    pub text: String,
    pub published_date: Option<String>,
}

/// Documents with more elements than this are extracted without readability's scoring passes.
const MAX_ELEMENTS: usize = 200_000;

/// Extracts the main content of `html`, fetched from `url` (relative links become absolute).
pub(crate) fn html(html: &str, url: &str) -> Result<Extracted, String> {
    let config = || Config {
        text_mode: TextMode::Markdown,
        max_elements_to_parse: MAX_ELEMENTS,
        ..Config::default()
    };
    let mut readability = Readability::new(html, Some(url), Some(config())).map_err(describe)?;
    let article = match readability.parse() {
        Ok(article) => article,
        Err(ReadabilityError::GrabFailed | ReadabilityError::TooManyElements(..)) => {
            // No candidate stood out (a very short page) or too big to score: take the body
            // as it is, with no cleaning heuristics.
            let mut raw = Readability::new(
                html,
                Some(url),
                Some(Config {
                    max_elements_to_parse: 0,
                    ..config()
                }),
            )
            .map_err(describe)?;
            raw.parse_with_policy(ParsePolicy::Raw).map_err(describe)?
        }
        Err(err) => return Err(describe(err)),
    };
    let title = Some(clean_line(&article.title)).filter(|t| !t.is_empty());
    let published_date = article.published_time.as_deref().and_then(normalise_date);
    Ok(Extracted {
        title,
        text: tidy(&article.text_content),
        published_date,
    })
}

fn describe(err: ReadabilityError) -> String {
    match err {
        ReadabilityError::GrabFailed => "the page has no readable text".to_owned(),
        other => other.to_string(),
    }
}

/// A title on one line, spaces collapsed.
fn clean_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trailing spaces dropped, runs of blank lines collapsed to one, trimmed.
pub(crate) fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// `YYYY-MM-DD` from the common date forms of meta tags and JSON-LD: ISO 8601 / RFC 3339
/// (`2025-03-14T09:30:00Z`, `2025-03-14`), `2025/03/14`, and RFC 2822 (`Fri, 14 Mar 2025 …`).
pub(crate) fn normalise_date(text: &str) -> Option<String> {
    let text = text.trim();
    let head: String = text.chars().take(10).collect::<String>().replace('/', "-");
    if let Ok(date) = chrono::NaiveDate::parse_from_str(&head, "%Y-%m-%d") {
        return Some(date.format("%Y-%m-%d").to_string());
    }
    if let Ok(time) = chrono::DateTime::parse_from_rfc2822(text) {
        return Some(time.date_naive().format("%Y-%m-%d").to_string());
    }
    for format in ["%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y"] {
        if let Ok(date) = chrono::NaiveDate::parse_from_str(text, format) {
            return Some(date.format("%Y-%m-%d").to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_normalised() {
        for (raw, want) in [
            ("2025-03-14T09:30:00Z", Some("2025-03-14")),
            ("2025-03-14", Some("2025-03-14")),
            ("2025/03/14 10:00", Some("2025-03-14")),
            ("Fri, 14 Mar 2025 09:30:00 +0000", Some("2025-03-14")),
            ("March 14, 2025", Some("2025-03-14")),
            ("2025-13-40", None),
            ("yesterday", None),
        ] {
            assert_eq!(normalise_date(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy("\n\n# A  \n\n\n\ntext\nmore\n\n"), "# A\n\ntext\nmore");
    }
}
