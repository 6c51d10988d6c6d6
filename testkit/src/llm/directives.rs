//! Parses the `[[fake:...]]` script directives that tests write into message text.
//!
//! Syntax: `[[fake:KIND[=VALUE] key=value ...]]`; a value is a bare word or a JSON value
//! (`args={"q": "rust"}`), so JSON with spaces or `]]` inside is fine.

use serde_json::Value;

/// One scripted behaviour.
#[derive(Debug, Clone, PartialEq)]
pub enum Directive {
    /// Answer `status` for the first `times` requests of the conversation.
    Fail { status: u16, times: u32 },
    /// Wait `ms` before answering (`stall_ms` and `delay_ms`).
    Stall { ms: u64 },
    /// Malformed JSON for the first `times` final-answer attempts.
    InvalidJson { times: u32 },
    /// Well-formed JSON violating the schema for the first `times` final-answer attempts.
    SchemaViolation { times: u32 },
    /// Call tool `name` (exact or `server__name`) at tool turn `turn`.
    Call {
        name: String,
        args: Option<Value>,
        turn: u32,
    },
    /// Never call tools.
    NoTools,
    /// Give exactly this JSON as the final answer (`[[fake:answer={"output": …, "basis": […]}]]`).
    Answer { value: Value },
}

const OPEN: &str = "[[fake:";
const CLOSE: &str = "]]";

/// `key[=value]` pairs of one directive, in order.
type Pairs = Vec<(String, Option<Value>)>;

/// A directive found in text, with its byte range.
struct Found {
    directive: Option<Directive>,
    range: std::ops::Range<usize>,
}

/// Every well-formed directive in `text`, in order (unknown or malformed ones are skipped).
pub fn parse_all(text: &str) -> Vec<Directive> {
    find_all(text)
        .into_iter()
        .filter_map(|f| f.directive)
        .collect()
}

/// The raw text of every directive in `text` (to recognise repeated messages).
pub fn raw_all(text: &str) -> Vec<&str> {
    find_all(text).into_iter().map(|f| &text[f.range]).collect()
}

/// `text` with every directive removed and whitespace collapsed.
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for found in find_all(text) {
        out.push_str(&text[at..found.range.start]);
        out.push(' ');
        at = found.range.end;
    }
    out.push_str(&text[at..]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn find_all(text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find(OPEN) {
        let start = from + offset;
        match parse_one(&text[start + OPEN.len()..]) {
            Some((pairs, len)) => {
                let end = start + OPEN.len() + len;
                found.push(Found {
                    directive: build(&pairs),
                    range: start..end,
                });
                from = end;
            }
            None => from = start + OPEN.len(),
        }
    }
    found
}

/// Parses `key[=value] ... ]]`; returns the pairs and the length consumed (through `]]`).
fn parse_one(text: &str) -> Option<(Pairs, usize)> {
    let mut pairs = Vec::new();
    let mut at = 0;
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if trimmed.starts_with(CLOSE) {
            return Some((pairs, at + CLOSE.len()));
        }
        let key_len = trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(trimmed.len());
        let after = trimmed[key_len..].chars().next();
        if key_len == 0 || !matches!(after, Some('=' | ']') | Some(' ' | '\t' | '\n' | '\r')) {
            return None;
        }
        let key = trimmed[..key_len].to_owned();
        at += key_len;
        if text[at..].starts_with('=') {
            at += 1;
            let value_text = &text[at..];
            if value_text.starts_with(['{', '[', '"']) {
                let mut stream =
                    serde_json::Deserializer::from_str(value_text).into_iter::<Value>();
                let value = stream.next()?.ok()?;
                at += stream.byte_offset();
                pairs.push((key, Some(value)));
            } else {
                let len = value_text
                    .find(|c: char| c.is_whitespace() || c == ']')
                    .unwrap_or(value_text.len());
                let word = &value_text[..len];
                at += len;
                let value = serde_json::from_str::<Value>(word)
                    .ok()
                    .filter(|v| v.is_number() || v.is_boolean())
                    .unwrap_or_else(|| Value::String(word.to_owned()));
                pairs.push((key, Some(value)));
            }
        } else {
            pairs.push((key, None));
        }
    }
}

fn build(pairs: &Pairs) -> Option<Directive> {
    let (kind, value) = pairs.first()?;
    let get = |name: &str| {
        pairs[1..]
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_ref())
    };
    let number = |v: Option<&Value>| -> Option<u64> {
        match v? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    };
    let times = || number(get("times")).unwrap_or(1).min(u32::MAX as u64) as u32;
    Some(match kind.as_str() {
        "fail" => Directive::Fail {
            status: number(value.as_ref())
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| (100..=999).contains(s))?,
            times: times(),
        },
        "stall_ms" | "delay_ms" => Directive::Stall {
            ms: number(value.as_ref())?,
        },
        "invalid_json" => Directive::InvalidJson { times: times() },
        "schema_violation" => Directive::SchemaViolation { times: times() },
        "call" => Directive::Call {
            name: match get("name")? {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            args: get("args").cloned(),
            turn: number(get("turn")).unwrap_or(0).min(u32::MAX as u64) as u32,
        },
        "no_tools" => Directive::NoTools,
        "answer" => Directive::Answer {
            value: value.clone()?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_kind() {
        let text = r#"Find X. [[fake:fail=500 times=2]] [[fake:stall_ms=300]] [[fake:delay_ms=5]]
            [[fake:invalid_json]] [[fake:schema_violation times=3]] [[fake:no_tools]]
            [[fake:call name=search args={"q": "a ]] b", "n": [1, 2]} turn=1]]
            [[fake:answer={"output": {"a": [[1]]}, "basis": []}]]"#;
        assert_eq!(
            parse_all(text),
            vec![
                Directive::Fail {
                    status: 500,
                    times: 2
                },
                Directive::Stall { ms: 300 },
                Directive::Stall { ms: 5 },
                Directive::InvalidJson { times: 1 },
                Directive::SchemaViolation { times: 3 },
                Directive::NoTools,
                Directive::Call {
                    name: "search".into(),
                    args: Some(json!({"q": "a ]] b", "n": [1, 2]})),
                    turn: 1
                },
                Directive::Answer {
                    value: json!({"output": {"a": [[1]]}, "basis": []})
                },
            ]
        );
    }

    #[test]
    fn skips_malformed_and_unknown_directives() {
        let text = "[[fake:fail=abc]] [[fake:bogus]] [[fake:call]] [[fake: [[fake:no_tools]]";
        assert_eq!(parse_all(text), vec![Directive::NoTools]);
    }

    #[test]
    fn strips_directives_from_text() {
        assert_eq!(
            strip("Who  founded [[fake:fail=429]] Rust?\n[[fake:call name=a args={}]]"),
            "Who founded Rust?"
        );
    }
}
