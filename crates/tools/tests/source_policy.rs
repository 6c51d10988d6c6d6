//! Source policy matching (Parallel's rules), table-driven: apex domains match their
//! subdomains, path entries match segment-wise, leading-dot entries match suffixes, entries are
//! normalised, include wins over exclude, and only http(s) URLs are allowed.

use forage_api::SourcePolicy;
use forage_tools::source_policy::SourceFilter;

fn filter(include: &[&str], exclude: &[&str]) -> SourceFilter {
    let list = |entries: &[&str]| {
        (!entries.is_empty()).then(|| entries.iter().map(|e| e.to_string()).collect())
    };
    SourceFilter::new(Some(&SourcePolicy {
        include_domains: list(include),
        exclude_domains: list(exclude),
        after_date: None,
    }))
}

#[test]
fn include_entries_match_by_parallel_rules() {
    // (include entries, URL, allowed)
    let cases: &[(&[&str], &str, bool)] = &[
        // Apex domain: itself and every subdomain, not look-alikes.
        (&["example.com"], "https://example.com/", true),
        (&["example.com"], "https://www.example.com/a", true),
        (&["example.com"], "http://a.b.example.com/x?y=1", true),
        (&["example.com"], "https://notexample.com/", false),
        (&["example.com"], "https://example.com.evil.net/", false),
        (&["example.com"], "https://example.org/", false),
        // A subdomain entry does not match its parent.
        (&["docs.example.com"], "https://docs.example.com/x", true),
        (&["docs.example.com"], "https://v2.docs.example.com/x", true),
        (&["docs.example.com"], "https://example.com/", false),
        // Path entries match segment-wise.
        (&["example.com/blog"], "https://example.com/blog", true),
        (&["example.com/blog"], "https://example.com/blog/", true),
        (
            &["example.com/blog"],
            "https://example.com/blog/post-1",
            true,
        ),
        (
            &["example.com/blog"],
            "https://www.example.com/blog/post-1",
            true,
        ),
        (&["example.com/blog"], "https://example.com/blogger", false),
        (&["example.com/blog"], "https://example.com/", false),
        (
            &["example.com/blog"],
            "https://example.com/news/blog",
            false,
        ),
        (
            &["example.com/blog/2025"],
            "https://example.com/blog/2025/jan",
            true,
        ),
        (
            &["example.com/blog/2025"],
            "https://example.com/blog/2024/jan",
            false,
        ),
        // Leading-dot entries: any host under the suffix.
        (&[".gov"], "https://www.nasa.gov/missions", true),
        (&[".gov"], "https://data.census.gov/", true),
        (&[".gov"], "https://gov.uk/", false),
        (&[".gov"], "https://example.com/gov", false),
        (&[".edu"], "https://mit.edu/", true),
        (&["*.edu"], "https://cs.stanford.edu/", true),
        (&[".gov.uk"], "https://www.gov.uk/guidance", true),
        // Normalisation: case, scheme, www., trailing slash, port.
        (&["HTTPS://WWW.Example.COM/"], "https://example.com/x", true),
        (
            &["http://example.com:8443/Blog/"],
            "https://example.com/blog/x",
            true,
        ),
        (&["example.com"], "https://EXAMPLE.com:8443/x", true),
        (&["example.com."], "https://example.com./x", true),
        // IDN hosts compare in punycode.
        (&["bücher.de"], "https://xn--bcher-kva.de/", true),
        (&["xn--bcher-kva.de"], "https://www.bücher.de/katalog", true),
        (&["bücher.de"], "https://buecher.de/", false),
        // Several entries: any of them.
        (&["example.com", ".gov"], "https://www.irs.gov/", true),
        (&["example.com", ".gov"], "https://example.net/", false),
        // Only http(s).
        (&["example.com"], "ftp://example.com/file", false),
        (&["example.com"], "file:///example.com/x", false),
        (&["example.com"], "mailto:someone@example.com", false),
    ];
    for (include, url, allowed) in cases {
        let filter = filter(include, &[]);
        assert_eq!(
            filter.allows_str(url),
            *allowed,
            "include {include:?}, {url}"
        );
    }
}

#[test]
fn exclude_entries_block_what_they_match() {
    let cases: &[(&[&str], &str, bool)] = &[
        (&["example.com"], "https://example.com/", false),
        (&["example.com"], "https://news.example.com/a", false),
        (&["example.com"], "https://notexample.com/", true),
        (
            &["example.com/private"],
            "https://example.com/private/x",
            false,
        ),
        (&["example.com/private"], "https://example.com/public", true),
        (
            &["example.com/private"],
            "https://example.com/privateer",
            true,
        ),
        (&[".gov"], "https://www.nasa.gov/", false),
        (&[".gov"], "https://example.com/", true),
        (
            &["pinterest.com", "quora.com"],
            "https://www.quora.com/q",
            false,
        ),
        (
            &["pinterest.com", "quora.com"],
            "https://wikipedia.org/",
            true,
        ),
        (&["example.com"], "ftp://other.org/", false),
    ];
    for (exclude, url, allowed) in cases {
        let filter = filter(&[], exclude);
        assert_eq!(
            filter.allows_str(url),
            *allowed,
            "exclude {exclude:?}, {url}"
        );
    }
}

#[test]
fn include_wins_over_exclude() {
    let filter = filter(&["example.com"], &["example.com", "other.org"]);
    assert!(filter.allows_str("https://example.com/a"));
    assert!(!filter.allows_str("https://other.org/"));
    assert!(!filter.allows_str("https://third.net/"));
    assert!(
        filter.describe().contains("example.com"),
        "{}",
        filter.describe()
    );
    assert!(
        !filter.describe().contains("other.org"),
        "{}",
        filter.describe()
    );
}

#[test]
fn open_policies_allow_every_web_url() {
    for filter in [
        SourceFilter::new(None),
        SourceFilter::default(),
        SourceFilter::new(Some(&SourcePolicy::default())),
        filter(&[], &[]),
        // Entries that name no host are dropped.
        filter(&["", "  ", "https://"], &[]),
    ] {
        assert!(filter.is_open());
        assert!(filter.allows_str("https://anything.example/x"));
        assert!(filter.allows_str("http://127.0.0.1:8080/"));
        assert!(!filter.allows_str("ftp://anything.example/x"));
        assert!(!filter.allows_str("not a url"));
        assert!(
            filter.describe().contains("any public web page"),
            "{}",
            filter.describe()
        );
    }
}

#[test]
fn normalised_entries_are_listed() {
    let filter = filter(
        &[
            "https://www.Example.com/Blog/",
            ".GOV",
            "bücher.de",
            "example.com/blog",
        ],
        &["spam.com"],
    );
    assert_eq!(
        filter.include_domains(),
        ["example.com/blog", ".gov", "xn--bcher-kva.de"]
    );
    assert_eq!(filter.exclude_domains(), ["spam.com"]);
    assert!(!filter.is_open());
    let describe = filter.describe();
    for part in [
        "example.com/blog",
        "any host under .gov",
        "xn--bcher-kva.de",
    ] {
        assert!(describe.contains(part), "{describe}");
    }
    let exclude_only = self::filter(&[], &["spam.com", "example.com/ads"]);
    assert!(exclude_only.include_domains().is_empty());
    let describe = exclude_only.describe();
    assert!(
        describe.contains("except") && describe.contains("spam.com"),
        "{describe}"
    );
}
