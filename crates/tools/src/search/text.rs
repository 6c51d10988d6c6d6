//! Text clean-up for provider answers: whitespace, the little HTML some providers put in
//! snippets, cutting at a character boundary, and dates in the forms providers write them.

/// Collapses every run of whitespace to one space and trims the ends.
pub fn squeeze_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes simple HTML tags such as `<strong>` and `</b>` (a `<` that does not open a tag is
/// kept), then decodes character references.
pub fn strip_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match tag_len(tail) {
            Some(len) => rest = &tail[len..],
            None => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    decode_entities(&out)
}

/// The length of the tag `text` starts with: `<name …>` or `</name>`, at most 200 bytes, with
/// no `<` or line break inside.
fn tag_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix('<')?;
    let body_start = body.strip_prefix('/').unwrap_or(body);
    if !body_start.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let end = text.find('>')?;
    let inside = &text[1..end];
    (end <= 200 && !inside.contains(['<', '\n'])).then_some(end + 1)
}

/// Decodes `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and numeric references; any
/// other `&` is kept as it is.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let decoded = tail
            .get(1..tail.len().min(12))
            .and_then(|window| window.find(';'))
            .and_then(|semi| Some((entity(&tail[1..semi + 1])?, semi + 2)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|c| !c.is_control() || c.is_whitespace())
        }
    }
}

/// `text` cut to at most `max` characters (never inside a character), ending with `…` when
/// cut; the cut goes back to the last space when one is near the end.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let Some((cut, _)) = text.char_indices().nth(max) else {
        return text.to_owned();
    };
    // Room for the ellipsis: keep `max - 1` characters.
    let keep = text[..cut]
        .char_indices()
        .nth(max - 1)
        .map_or(cut, |(at, _)| at);
    let head = &text[..keep];
    let head = match head.rfind(' ') {
        Some(space) if head[space..].chars().count() <= 40 => &head[..space],
        _ => head,
    };
    format!("{}…", head.trim_end())
}

/// A date as `YYYY-MM-DD` from the forms providers use: ISO 8601 (`2024-03-14`,
/// `2024-03-14T09:25:05.000Z`), `March 14, 2024`, `14 Mar 2024` and RFC 2822
/// (`Thu, 14 Mar 2024 09:25:05 GMT`). Relative ages ("3 days ago") and nonsense give `None`.
pub fn parse_date(text: &str) -> Option<String> {
    let text = text.trim();
    iso_date(text).or_else(|| named_month_date(text))
}

fn iso_date(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    if bytes.get(10).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    ymd(number(0..4)?, number(5..7)?, number(8..10)?)
}

fn named_month_date(text: &str) -> Option<String> {
    let mut tokens = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .peekable();
    if tokens.peek().is_some_and(|t| weekday(t)) {
        tokens.next();
    }
    let first = tokens.next()?;
    let second = tokens.next()?;
    let year: u32 = tokens.next()?.parse().ok()?;
    let (month, day) = match (month(first), month(second)) {
        (Some(month), None) => (month, second),
        (None, Some(month)) => (month, first),
        _ => return None,
    };
    let day: u32 = day.parse().ok()?;
    ymd(year, month, day)
}

fn weekday(token: &str) -> bool {
    let token = token.to_ascii_lowercase();
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .any(|day| token.starts_with(day) && token.len() <= 9)
}

fn month(token: &str) -> Option<u32> {
    const NAMES: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let token = token.to_ascii_lowercase();
    if token.len() < 3 {
        return None;
    }
    let found = NAMES
        .iter()
        .position(|name| *name == token || (token.len() <= 4 && name.starts_with(&token)))?;
    Some(found as u32 + 1)
}

/// `YYYY-MM-DD` when the three make a real calendar date.
fn ymd(year: u32, month: u32, day: u32) -> Option<String> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    ((1000..=9999).contains(&year) && (1..=days).contains(&day))
        .then(|| format!("{year:04}-{month:02}-{day:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_provider_forms() {
        let cases = [
            ("2024-03-14", Some("2024-03-14")),
            ("2024-03-14T09:25:05", Some("2024-03-14")),
            ("2023-11-16T01:36:32.547Z", Some("2023-11-16")),
            ("March 14, 2024", Some("2024-03-14")),
            ("Sep 5, 2024", Some("2024-09-05")),
            ("Sept 5, 2024", Some("2024-09-05")),
            ("14 March 2024", Some("2024-03-14")),
            ("Thu, 05 Sep 2024 14:03:00 GMT", Some("2024-09-05")),
            ("2024-02-30", None),
            ("2023-02-29", None),
            ("2024-02-29", Some("2024-02-29")),
            ("3 days ago", None),
            ("2 hours ago", None),
            ("", None),
            ("20240314", None),
            ("2024-03-145", None),
            ("May 2024", None),
            ("ü-é-ö-ä-x", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_date(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn markup_is_removed_and_entities_decoded() {
        assert_eq!(
            strip_markup("The <strong>Rust</strong> book &amp; more: it&#x27;s &quot;free&quot;"),
            "The Rust book & more: it's \"free\""
        );
        assert_eq!(strip_markup("a < b and c<d"), "a < b and c<d");
        assert_eq!(
            strip_markup("AT&T &unknown; &#0; &"),
            "AT&T &unknown; &#0; &"
        );
        assert_eq!(strip_markup("x <b"), "x <b");
    }

    #[test]
    fn truncation_respects_characters_and_limit() {
        let text = "é".repeat(600);
        let cut = truncate_chars(&text, 500);
        assert_eq!(cut.chars().count(), 500);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_chars("short", 500), "short");
        let words = "word ".repeat(200);
        let cut = truncate_chars(&words, 50);
        assert!(cut.chars().count() <= 50);
        assert!(cut.ends_with("word…"), "{cut}");
    }
}
