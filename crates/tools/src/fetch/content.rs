//! What a response holds (HTML, PDF, text or something unreadable), from its Content-Type and
//! first bytes, and turning text bytes into a string in the right character set.

use encoding_rs::{Encoding, UTF_8};

/// How a body is turned into text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Html,
    Pdf,
    Text,
    /// No useful Content-Type (absent, `application/octet-stream`): decided by the first bytes.
    Sniff {
        text_allowed: bool,
    },
    Unsupported,
}

/// A parsed Content-Type header: the lower-case essence and the charset parameter.
#[derive(Clone, Debug, Default)]
pub(crate) struct ContentType {
    pub essence: String,
    pub charset: Option<String>,
}

impl ContentType {
    pub(crate) fn parse(header: Option<&str>) -> ContentType {
        let Some(header) = header else {
            return ContentType::default();
        };
        let mut parts = header.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let charset = parts.find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches(['"', '\'']).to_owned())
        });
        ContentType { essence, charset }
    }

    pub(crate) fn kind(&self) -> Kind {
        let essence = self.essence.as_str();
        match essence {
            "" => Kind::Sniff { text_allowed: true },
            "text/html" | "application/xhtml+xml" => Kind::Html,
            "application/pdf" | "application/x-pdf" => Kind::Pdf,
            "application/octet-stream" | "binary/octet-stream" => Kind::Sniff {
                text_allowed: false,
            },
            "application/json"
            | "application/xml"
            | "application/javascript"
            | "application/x-ndjson"
            | "application/csv" => Kind::Text,
            _ if essence.starts_with("text/") => Kind::Text,
            _ if essence.ends_with("+json") || essence.ends_with("+xml") => Kind::Text,
            _ => Kind::Unsupported,
        }
    }

    /// The content type reported for a page of this kind.
    pub(crate) fn reported(&self, kind: Kind) -> String {
        match kind {
            Kind::Pdf => "application/pdf".to_owned(),
            Kind::Html if self.essence.is_empty() => "text/html".to_owned(),
            Kind::Text if self.essence.is_empty() => "text/plain".to_owned(),
            _ => self.essence.clone(),
        }
    }
}

/// What the first bytes of a body say it is: PDF, HTML, text or `None` (binary).
pub(crate) fn sniff(prefix: &[u8], text_allowed: bool) -> Kind {
    if prefix.starts_with(b"%PDF-") {
        return Kind::Pdf;
    }
    if !text_allowed {
        return Kind::Unsupported;
    }
    let head = String::from_utf8_lossy(&prefix[..prefix.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    if ["<!doctype html", "<html", "<head", "<body", "<!--"]
        .iter()
        .any(|tag| head.starts_with(tag))
    {
        return Kind::Html;
    }
    let binary = prefix.iter().take(1024).any(|b| *b == 0);
    if binary {
        Kind::Unsupported
    } else {
        Kind::Text
    }
}

/// Decodes a body: a byte-order mark wins, then the header's charset, then (for HTML) a
/// `<meta charset>` in the first 1 KiB; UTF-8 otherwise. Invalid bytes become U+FFFD.
pub(crate) fn decode(bytes: &[u8], header_charset: Option<&str>, html: bool) -> String {
    let encoding = header_charset
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        .or_else(|| html.then(|| meta_charset(bytes)).flatten())
        .unwrap_or(UTF_8);
    // `decode` sniffs a BOM first, and replaces malformed sequences.
    let (text, _, _) = encoding.decode(bytes);
    text.into_owned()
}

/// The encoding named by `<meta charset=…>` or `<meta http-equiv … content="…; charset=…">`
/// near the top of an HTML document.
fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(1024)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(at) = find(&lower[from..], b"charset") {
        let mut i = from + at + b"charset".len();
        from = i;
        while lower.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        if lower.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while lower
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
        {
            i += 1;
        }
        let start = i;
        while lower
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
        {
            i += 1;
        }
        if let Some(encoding) = Encoding::for_label(&lower[start..i]) {
            // A document that says UTF-16 in ASCII bytes is not UTF-16 (HTML spec).
            if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
                return Some(UTF_8);
            }
            return Some(encoding);
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_classified() {
        let kind = |h: &str| ContentType::parse(Some(h)).kind();
        assert_eq!(kind("text/html; charset=UTF-8"), Kind::Html);
        assert_eq!(kind("application/xhtml+xml"), Kind::Html);
        assert_eq!(kind("application/pdf"), Kind::Pdf);
        assert_eq!(kind("text/plain"), Kind::Text);
        assert_eq!(kind("text/markdown"), Kind::Text);
        assert_eq!(kind("text/csv"), Kind::Text);
        assert_eq!(kind("application/json"), Kind::Text);
        assert_eq!(kind("image/png"), Kind::Unsupported);
        assert_eq!(kind("application/zip"), Kind::Unsupported);
        assert_eq!(
            kind("application/octet-stream"),
            Kind::Sniff {
                text_allowed: false
            }
        );
        assert_eq!(
            ContentType::parse(Some("text/html; Charset=\"ISO-8859-1\""))
                .charset
                .as_deref(),
            Some("ISO-8859-1")
        );
    }

    #[test]
    fn sniffing_and_decoding() {
        assert_eq!(sniff(b"%PDF-1.4\n", false), Kind::Pdf);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0", true), Kind::Unsupported);
        assert_eq!(sniff(b"  <!DOCTYPE html><html>", true), Kind::Html);
        assert_eq!(sniff(b"just words", true), Kind::Text);
        assert_eq!(decode(b"caf\xe9", Some("iso-8859-1"), false), "café");
        assert_eq!(
            decode(b"<meta charset=\"latin1\"><p>caf\xe9</p>", None, true),
            "<meta charset=\"latin1\"><p>café</p>"
        );
        assert_eq!(decode(b"caf\xe9", None, false), "caf\u{fffd}");
    }
}
