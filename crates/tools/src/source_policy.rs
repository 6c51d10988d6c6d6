//! Source policy: which URLs a run may read (include / exclude domains, Parallel's matching rules).
//!
//! An entry is a domain (`example.com`) that also matches every subdomain (`www.example.com`,
//! `a.b.example.com`) but not `notexample.com`; it may carry path segments (`example.com/blog`
//! matches `/blog` and `/blog/post`, not `/blogger` nor `/`); a leading-dot entry (`.gov`, or
//! `*.gov`) matches any host under that suffix. Entries are normalised: lower-case, without a
//! scheme, `www.`, port or trailing `/`, IDN hosts in punycode. When `include_domains` has
//! entries, `exclude_domains` is ignored (include wins). Only http(s) URLs are ever allowed.

use url::Url;

/// One normalised entry of a source policy.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// The host (punycode, lower-case, no `www.`), or the suffix without its leading dot.
    host: String,
    /// `.gov`: any host under the suffix, not the suffix itself.
    suffix: bool,
    /// `""` or `/segment[/segment…]`, lower-case, no trailing `/`.
    path: String,
}

impl Entry {
    /// Normalises one entry as written by a user; `None` for an entry naming no host.
    fn parse(raw: &str) -> Option<Entry> {
        let mut text = raw.trim().to_lowercase();
        if let Some((_, rest)) = text.split_once("://") {
            text = rest.to_owned();
        }
        let (suffix, rest) = if let Some(rest) = text.strip_prefix("*.") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix('.') {
            (true, rest)
        } else {
            (false, text.as_str())
        };
        if rest.is_empty() || rest.starts_with('/') {
            return None;
        }
        // Let the URL parser do IDN (punycode), ports, percent-encoding and dot segments.
        let url = Url::parse(&format!("https://{rest}")).ok()?;
        let mut host = url.host_str()?.trim_end_matches('.').to_owned();
        if !suffix
            && let Some(bare) = host.strip_prefix("www.")
            && bare.contains('.')
        {
            host = bare.to_owned();
        }
        if host.is_empty() {
            return None;
        }
        let path = url.path().trim_end_matches('/').to_lowercase();
        Some(Entry { host, suffix, path })
    }

    fn matches(&self, host: &str, is_domain: bool, path: &str) -> bool {
        let host_ok = if self.suffix {
            is_domain && ends_with_label(host, &self.host)
        } else {
            host == self.host || (is_domain && ends_with_label(host, &self.host))
        };
        host_ok && path_matches(&self.path, path)
    }

    fn display(&self) -> String {
        let dot = if self.suffix { "." } else { "" };
        format!("{dot}{}{}", self.host, self.path)
    }

    fn describe(&self) -> String {
        match (self.suffix, self.path.is_empty()) {
            (true, _) => format!("any host under {}", self.display()),
            (false, true) => format!("{} (and its subdomains)", self.host),
            (false, false) => format!("{} (and pages under that path)", self.display()),
        }
    }
}

/// Whether `host` is a subdomain of `parent`: `a.example.com` of `example.com`.
fn ends_with_label(host: &str, parent: &str) -> bool {
    host.len() > parent.len()
        && host.ends_with(parent)
        && host.as_bytes()[host.len() - parent.len() - 1] == b'.'
}

/// Whether a URL path is the entry's path or under it, segment-wise.
fn path_matches(entry: &str, path: &str) -> bool {
    if entry.is_empty() {
        return true;
    }
    let path = path.to_lowercase();
    match path.strip_prefix(entry) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A run's source policy, ready to test URLs against.
#[derive(Clone, Debug, Default)]
pub struct SourceFilter {
    include: Vec<Entry>,
    exclude: Vec<Entry>,
    include_names: Vec<String>,
    exclude_names: Vec<String>,
    after_date: Option<String>,
}

fn normalise(entries: Option<&Vec<String>>) -> (Vec<Entry>, Vec<String>) {
    let mut parsed: Vec<Entry> = Vec::new();
    for entry in entries
        .into_iter()
        .flatten()
        .filter_map(|e| Entry::parse(e))
    {
        if !parsed.contains(&entry) {
            parsed.push(entry);
        }
    }
    let names = parsed.iter().map(Entry::display).collect();
    (parsed, names)
}

impl SourceFilter {
    /// From a run's `source_policy` (`include_domains`, `exclude_domains`, `after_date`).
    /// Entries that name no host are dropped.
    pub fn new(policy: Option<&forage_api::SourcePolicy>) -> SourceFilter {
        let Some(policy) = policy else {
            return SourceFilter::default();
        };
        let (include, include_names) = normalise(policy.include_domains.as_ref());
        let (exclude, exclude_names) = normalise(policy.exclude_domains.as_ref());
        SourceFilter {
            include,
            exclude,
            include_names,
            exclude_names,
            after_date: policy.after_date.clone(),
        }
    }

    /// Whether the policy allows reading `url`; only http(s) URLs with a host can be allowed.
    pub fn allows(&self, url: &Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let Some(host) = url.host() else {
            return false;
        };
        let is_domain = matches!(host, url::Host::Domain(_));
        let host = match host {
            url::Host::Domain(name) => name.trim_end_matches('.').to_ascii_lowercase(),
            other => url
                .host_str()
                .map(str::to_owned)
                .unwrap_or_else(|| other.to_string()),
        };
        let path = url.path();
        if !self.include.is_empty() {
            return self
                .include
                .iter()
                .any(|e| e.matches(&host, is_domain, path));
        }
        !self
            .exclude
            .iter()
            .any(|e| e.matches(&host, is_domain, path))
    }

    /// [`SourceFilter::allows`] for a URL as text; `false` for one that does not parse.
    pub fn allows_str(&self, url: &str) -> bool {
        Url::parse(url.trim()).is_ok_and(|url| self.allows(&url))
    }

    /// No include and no exclude entries: every http(s) URL is allowed.
    pub fn is_open(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// The normalised include entries (`example.com`, `example.com/blog`, `.gov`).
    pub fn include_domains(&self) -> &[String] {
        &self.include_names
    }

    /// The normalised exclude entries; they are ignored when there are include entries.
    pub fn exclude_domains(&self) -> &[String] {
        &self.exclude_names
    }

    /// The policy's `after_date`, as given (sources published before it are not wanted).
    pub fn after_date(&self) -> Option<&str> {
        self.after_date.as_deref()
    }

    /// A sentence for the model and for errors: what the policy allows.
    pub fn describe(&self) -> String {
        let list = |entries: &[Entry]| {
            entries
                .iter()
                .map(Entry::describe)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.include.is_empty() {
            format!(
                "The source policy allows only these sources: {}. Do not search for or read pages elsewhere.",
                list(&self.include)
            )
        } else if !self.exclude.is_empty() {
            format!(
                "The source policy allows any public web page except pages on: {}.",
                list(&self.exclude)
            )
        } else {
            "The source policy allows any public web page.".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_normalised() {
        let cases = [
            ("Example.COM", Some("example.com")),
            ("https://www.example.com/", Some("example.com")),
            ("http://example.com:8080/Blog/", Some("example.com/blog")),
            (".gov", Some(".gov")),
            ("*.edu", Some(".edu")),
            ("bücher.de", Some("xn--bcher-kva.de")),
            ("", None),
            ("   ", None),
            ("/blog", None),
            ("https://", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                Entry::parse(raw).map(|e| e.display()).as_deref(),
                want,
                "{raw}"
            );
        }
    }
}
