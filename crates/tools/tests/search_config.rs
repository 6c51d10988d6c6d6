//! Building a search provider from configuration: what is required for each provider (and the
//! setting an error names to fix it), which base URLs are accepted, and provider names.

use std::time::Duration;

use forage_api::Secret;
use forage_testkit::search::{CannedReply, Replay};
use forage_tools::search::{
    SearchConfig, SearchError, SearchProviderKind, SearchRequest, build_provider,
};

fn config(kind: SearchProviderKind, base_url: Option<&str>, key: Option<&str>) -> SearchConfig {
    SearchConfig {
        kind,
        base_url: base_url.map(str::to_owned),
        api_key: key.map(Secret::new),
        timeout: Duration::from_secs(5),
    }
}

fn config_error(config: &SearchConfig) -> String {
    match build_provider(config) {
        Ok(provider) => panic!("{} was built from {config:?}", provider.name()),
        Err(SearchError::Config(text)) => text,
        Err(other) => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn hosted_providers_without_a_key_name_the_key_setting() {
    for kind in [
        SearchProviderKind::Brave,
        SearchProviderKind::Tavily,
        SearchProviderKind::Exa,
    ] {
        for key in [None, Some(""), Some("   ")] {
            let text = config_error(&config(kind, None, key));
            assert!(text.contains("FORAGE_SEARCH_API_KEY"), "{kind}: {text}");
            assert!(text.contains(kind.as_str()), "{kind}: {text}");
        }
    }
}

#[test]
fn searxng_without_a_base_url_names_the_base_url_setting() {
    for base in [None, Some(""), Some("  ")] {
        let text = config_error(&config(SearchProviderKind::Searxng, base, None));
        assert!(text.contains("FORAGE_SEARCH_BASE_URL"), "{text}");
        assert!(text.contains("searxng"), "{text}");
    }
}

#[test]
fn base_urls_must_be_http_or_https_with_a_host() {
    for bad in [
        "not a url",
        "ftp://search.example.com",
        "file:///etc/passwd",
        "unix:/run/searxng.sock",
        "http://",
        "https://search.example.com/?q=1",
        "https://search.example.com/#top",
    ] {
        let text = config_error(&config(SearchProviderKind::Searxng, Some(bad), None));
        assert!(text.contains("FORAGE_SEARCH_BASE_URL"), "{bad}: {text}");
        let text = config_error(&config(SearchProviderKind::Brave, Some(bad), Some("key")));
        assert!(text.contains("FORAGE_SEARCH_BASE_URL"), "{bad}: {text}");
    }
}

#[test]
fn hosted_providers_use_their_public_address_by_default() {
    for kind in [
        SearchProviderKind::Brave,
        SearchProviderKind::Tavily,
        SearchProviderKind::Exa,
    ] {
        let provider = build_provider(&config(kind, None, Some("key"))).expect("builds");
        assert_eq!(provider.name(), kind.as_str());
    }
    assert_eq!(
        SearchProviderKind::Brave.default_base_url(),
        Some("https://api.search.brave.com")
    );
    assert_eq!(
        SearchProviderKind::Tavily.default_base_url(),
        Some("https://api.tavily.com")
    );
    assert_eq!(
        SearchProviderKind::Exa.default_base_url(),
        Some("https://api.exa.ai")
    );
    let searxng = build_provider(&config(
        SearchProviderKind::Searxng,
        Some("http://localhost:8888"),
        None,
    ))
    .expect("SearXNG needs no key");
    assert_eq!(searxng.name(), "searxng");
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_showing_it() {
    let key = "abc\ndef-SECRETPART";
    let text = config_error(&config(SearchProviderKind::Exa, None, Some(key)));
    assert!(text.contains("FORAGE_SEARCH_API_KEY"), "{text}");
    assert!(!text.contains("SECRETPART"), "{text}");
}

#[test]
fn a_zero_timeout_is_refused() {
    let mut zero = config(SearchProviderKind::Brave, None, Some("key"));
    zero.timeout = Duration::ZERO;
    let text = config_error(&zero);
    assert!(text.contains("timeout"), "{text}");
}

#[tokio::test]
async fn a_base_url_with_a_path_keeps_its_path() {
    let server = Replay::start(CannedReply::json(200, r#"{"results": []}"#)).await;
    for base in [
        format!("{}/searx", server.base_url()),
        format!("{}/searx/", server.base_url()),
    ] {
        let provider =
            build_provider(&config(SearchProviderKind::Searxng, Some(&base), None)).unwrap();
        let hits = provider
            .search(&SearchRequest {
                query: "x".into(),
                max_results: 3,
                ..SearchRequest::default()
            })
            .await
            .unwrap();
        assert!(hits.is_empty());
    }
    let paths: Vec<_> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/searx/search", "/searx/search"]);
}

#[test]
fn provider_names_parse_in_any_case_and_print_lower_case() {
    for (text, kind) in [
        ("searxng", SearchProviderKind::Searxng),
        ("SearXNG", SearchProviderKind::Searxng),
        (" Brave ", SearchProviderKind::Brave),
        ("TAVILY", SearchProviderKind::Tavily),
        ("exa", SearchProviderKind::Exa),
    ] {
        assert_eq!(text.parse::<SearchProviderKind>().unwrap(), kind, "{text}");
        assert_eq!(kind.to_string(), text.trim().to_lowercase());
    }
    let error = "google"
        .parse::<SearchProviderKind>()
        .unwrap_err()
        .to_string();
    for name in ["google", "searxng", "brave", "tavily", "exa"] {
        assert!(error.contains(name), "{error}");
    }
    assert_eq!(
        serde_json::to_string(&SearchProviderKind::Searxng).unwrap(),
        r#""searxng""#
    );
    assert_eq!(
        serde_json::from_str::<SearchProviderKind>(r#""tavily""#).unwrap(),
        SearchProviderKind::Tavily
    );
}
