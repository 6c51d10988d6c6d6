//! Recorded responses of each search provider, served from loopback, map to the right hits
//! field by field; and each provider sends the request its API documents (path, method, key
//! header, parameters or body).

use std::sync::Arc;
use std::time::Duration;

use forage_api::Secret;
use forage_testkit::search::{CannedReply, RecordedRequest, Replay};
use forage_tools::search::{
    SearchConfig, SearchHit, SearchProvider, SearchProviderKind, SearchRequest, build_provider,
};
use serde_json::json;

const KEY: &str = "test-key-0123456789";

fn provider(
    kind: SearchProviderKind,
    base_url: &str,
    key: Option<&str>,
) -> Arc<dyn SearchProvider> {
    build_provider(&SearchConfig {
        kind,
        base_url: Some(base_url.to_owned()),
        api_key: key.map(Secret::new),
        timeout: Duration::from_secs(10),
    })
    .expect("build the provider")
}

fn request(query: &str, max_results: u32) -> SearchRequest {
    SearchRequest {
        query: query.into(),
        max_results,
        ..SearchRequest::default()
    }
}

fn hit(url: &str, title: &str, snippet: &str, date: Option<&str>) -> SearchHit {
    SearchHit {
        url: url.into(),
        title: title.into(),
        snippet: snippet.into(),
        published_date: date.map(str::to_owned),
    }
}

/// Serves `fixture` to one search and returns the hits and the one request received.
async fn replay(
    kind: SearchProviderKind,
    fixture: &'static [u8],
    key: Option<&str>,
    search: SearchRequest,
) -> (Vec<SearchHit>, RecordedRequest) {
    let server = Replay::start(CannedReply::json(200, fixture)).await;
    let hits = provider(kind, &server.base_url(), key)
        .search(&search)
        .await
        .expect("search succeeds");
    let mut requests = server.requests();
    assert_eq!(requests.len(), 1, "exactly one request, no retries");
    (hits, requests.remove(0))
}

fn assert_user_agent(request: &RecordedRequest) {
    let agent = request.header("user-agent").unwrap_or_default();
    assert!(
        agent.starts_with("forage/") && agent.ends_with("(web search)"),
        "user agent {agent:?}"
    );
}

#[tokio::test]
async fn searxng_results_map_to_hits() {
    let (hits, sent) = replay(
        SearchProviderKind::Searxng,
        include_bytes!("fixtures/search/searxng.json"),
        None,
        request("rust async runtime", 10),
    )
    .await;
    assert_eq!(
        hits,
        [
            hit(
                "https://tokio.rs/",
                "Tokio - An asynchronous Rust runtime",
                "Tokio is an asynchronous runtime for the Rust programming language. It provides the building blocks needed for writing networking applications.",
                None,
            ),
            hit(
                "https://rust-lang.github.io/async-book/",
                "Asynchronous Programming in Rust",
                "This book aims to be a comprehensive, up-to-date guide to using Rust's async language features and libraries, appropriate for beginners and old hands alike.",
                Some("2024-02-11"),
            ),
            hit(
                "https://github.com/smol-rs/smol",
                "GitHub - smol-rs/smol: A small and fast async runtime for Rust",
                "A small and fast async runtime. This crate simply re-exports other smaller async crates.",
                Some("2023-08-15"),
            ),
        ]
    );
    assert_eq!(sent.method, "GET");
    assert_eq!(sent.path, "/search");
    assert_eq!(sent.param("q"), Some("rust async runtime"));
    assert_eq!(sent.param("format"), Some("json"));
    assert_eq!(sent.header("authorization"), None, "no key, no auth header");
    assert_user_agent(&sent);
}

#[tokio::test]
async fn searxng_sends_an_optional_key_as_bearer_token() {
    let (_, sent) = replay(
        SearchProviderKind::Searxng,
        include_bytes!("fixtures/search/searxng.json"),
        Some(KEY),
        request("rust", 3),
    )
    .await;
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[tokio::test]
async fn brave_results_map_to_hits_without_markup() {
    let (hits, sent) = replay(
        SearchProviderKind::Brave,
        include_bytes!("fixtures/search/brave.json"),
        Some(KEY),
        request("rust programming language", 5),
    )
    .await;
    assert_eq!(
        hits,
        [
            hit(
                "https://www.rust-lang.org/",
                "Rust Programming Language",
                "A language empowering everyone to build reliable and efficient software. Rust is blazingly fast and memory-efficient & it's got \"great\" docs.",
                Some("2024-03-14"),
            ),
            hit(
                "https://en.wikipedia.org/wiki/Rust_(programming_language)",
                "Rust (programming language) - Wikipedia",
                "Rust is a general-purpose programming language emphasizing performance, type safety, and concurrency.",
                None,
            ),
            // `page_age` gives the date where `age` is relative ("3 days ago").
            hit(
                "https://doc.rust-lang.org/book/",
                "The Rust Programming Language - The Rust Programming Language",
                "by Steve Klabnik, Carol Nichols, and Chris Krycho, with contributions from the Rust Community. This version of the text assumes you're using Rust 1.85.0 (released 2025-02-17) or later.",
                Some("2025-06-10"),
            ),
        ]
    );
    assert_eq!(sent.method, "GET");
    assert_eq!(sent.path, "/res/v1/web/search");
    assert_eq!(sent.param("q"), Some("rust programming language"));
    assert_eq!(sent.param("count"), Some("5"));
    assert_eq!(sent.header("x-subscription-token"), Some(KEY));
    assert_eq!(sent.header("accept"), Some("application/json"));
    assert_eq!(sent.header("authorization"), None);
    assert_user_agent(&sent);
}

#[tokio::test]
async fn tavily_results_map_to_hits() {
    let search = SearchRequest {
        query: "who won the 2024 tour de france".into(),
        max_results: 7,
        include_domains: vec!["letour.fr".into(), " bbc.com ".into()],
        exclude_domains: vec!["reddit.com".into()],
    };
    let (hits, sent) = replay(
        SearchProviderKind::Tavily,
        include_bytes!("fixtures/search/tavily.json"),
        Some(KEY),
        search,
    )
    .await;
    assert_eq!(
        hits,
        [
            hit(
                "https://www.letour.fr/en/history",
                "History - Tour de France 2024",
                "Tadej Pogačar won the 2024 Tour de France, his third overall victory, finishing 6 minutes 17 seconds ahead of Jonas Vingegaard.",
                None,
            ),
            hit(
                "https://www.bbc.com/sport/cycling/articles/c4nn8z7yd6go",
                "Tour de France 2024: Tadej Pogacar wins third title",
                "Tadej Pogacar sealed his third Tour de France title by winning the final-stage time trial in Nice.",
                Some("2024-07-21"),
            ),
            hit(
                "https://en.wikipedia.org/wiki/2024_Tour_de_France",
                "2024 Tour de France - Wikipedia",
                "The 2024 Tour de France was the 111th edition of the Tour de France. It started in Florence, Italy, on 29 June and finished in Nice on 21 July.",
                None,
            ),
        ]
    );
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/search");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.header("x-api-key"), None);
    let body = sent.json();
    assert_eq!(body["query"], "who won the 2024 tour de france");
    assert_eq!(body["max_results"], 7);
    assert_eq!(body["include_domains"], json!(["letour.fr", "bbc.com"]));
    assert_eq!(body["exclude_domains"], json!(["reddit.com"]));
    assert_eq!(body["include_answer"], false);
    assert_eq!(body["include_raw_content"], false);
    assert_user_agent(&sent);
}

#[tokio::test]
async fn tavily_leaves_out_empty_domain_lists() {
    let (_, sent) = replay(
        SearchProviderKind::Tavily,
        include_bytes!("fixtures/search/tavily.json"),
        Some(KEY),
        request("tour de france", 3),
    )
    .await;
    let body = sent.json();
    assert!(body.get("include_domains").is_none(), "{body}");
    assert!(body.get("exclude_domains").is_none(), "{body}");
}

#[tokio::test]
async fn exa_results_map_to_hits_from_highlights_or_text() {
    let search = SearchRequest {
        query: "large language model survey".into(),
        max_results: 4,
        include_domains: vec!["arxiv.org".into()],
        exclude_domains: vec![],
    };
    let (hits, sent) = replay(
        SearchProviderKind::Exa,
        include_bytes!("fixtures/search/exa.json"),
        Some(KEY),
        search,
    )
    .await;
    assert_eq!(
        hits,
        [
            hit(
                "https://arxiv.org/abs/2307.06435",
                "A Comprehensive Overview of Large Language Models",
                "This article provides an overview of the existing literature on a broad range of LLM-related concepts.",
                Some("2023-07-12"),
            ),
            // No highlight: the text is the snippet.
            hit(
                "https://www.nature.com/articles/s41586-024-07421-0",
                "Detecting hallucinations in large language models using semantic entropy",
                "Large language model (LLM) systems, such as ChatGPT or Gemini, can show impressive reasoning and question-answering capabilities but often hallucinate false outputs.",
                Some("2024-06-19"),
            ),
            hit(
                "https://lilianweng.github.io/posts/2023-06-23-agent/",
                "LLM Powered Autonomous Agents",
                "In a LLM-powered autonomous agent system, LLM functions as the agent's brain, complemented by several key components.",
                None,
            ),
        ]
    );
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/search");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("authorization"), None);
    let body = sent.json();
    assert_eq!(body["query"], "large language model survey");
    assert_eq!(body["numResults"], 4);
    assert_eq!(body["includeDomains"], json!(["arxiv.org"]));
    assert!(body.get("excludeDomains").is_none(), "{body}");
    assert_eq!(body["contents"]["text"]["maxCharacters"], 500);
    assert!(body["contents"]["highlights"].is_object(), "{body}");
    assert_user_agent(&sent);
}

#[tokio::test]
async fn exa_sends_exclusions_when_no_inclusions() {
    let search = SearchRequest {
        query: "llm agents".into(),
        max_results: 3,
        include_domains: vec![],
        exclude_domains: vec!["medium.com".into()],
    };
    let (_, sent) = replay(
        SearchProviderKind::Exa,
        include_bytes!("fixtures/search/exa.json"),
        Some(KEY),
        search,
    )
    .await;
    let body = sent.json();
    assert_eq!(body["excludeDomains"], json!(["medium.com"]));
    assert!(body.get("includeDomains").is_none(), "{body}");
}

#[tokio::test]
async fn hits_are_capped_at_max_results_and_the_cap_is_sent() {
    let (hits, sent) = replay(
        SearchProviderKind::Brave,
        include_bytes!("fixtures/search/brave.json"),
        Some(KEY),
        request("rust", 2),
    )
    .await;
    assert_eq!(hits.len(), 2);
    assert_eq!(
        hits[1].url,
        "https://en.wikipedia.org/wiki/Rust_(programming_language)"
    );
    assert_eq!(sent.param("count"), Some("2"));

    // SearXNG has no count parameter: the cap is applied to what it sends.
    let (hits, _) = replay(
        SearchProviderKind::Searxng,
        include_bytes!("fixtures/search/searxng.json"),
        None,
        request("rust", 1),
    )
    .await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].url, "https://tokio.rs/");
}

#[tokio::test]
async fn max_results_is_clamped_to_one_through_twenty() {
    for (asked, sent_count) in [(0, "1"), (1, "1"), (20, "20"), (50, "20")] {
        let (_, sent) = replay(
            SearchProviderKind::Brave,
            include_bytes!("fixtures/search/brave.json"),
            Some(KEY),
            request("rust", asked),
        )
        .await;
        assert_eq!(sent.param("count"), Some(sent_count), "max_results {asked}");
    }
    let (_, sent) = replay(
        SearchProviderKind::Tavily,
        include_bytes!("fixtures/search/tavily.json"),
        Some(KEY),
        request("rust", 99),
    )
    .await;
    assert_eq!(sent.json()["max_results"], 20);
}
