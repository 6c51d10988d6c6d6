//! Failed searches come back as errors that say what happened and what to do: refused key,
//! rate limit with its wait, provider failures, stalls, answers that are not JSON, cut short
//! or too large. None of them, nor any Debug output, shows the API key, and no provider
//! answer makes a provider panic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use forage_api::Secret;
use forage_testkit::search::{CannedReply, Replay};
use forage_tools::search::{
    SearchConfig, SearchError, SearchProvider, SearchProviderKind, SearchRequest, build_provider,
};

const KEY: &str = "sk-live-TOPSECRET-4242";
const ALL: [SearchProviderKind; 4] = [
    SearchProviderKind::Searxng,
    SearchProviderKind::Brave,
    SearchProviderKind::Tavily,
    SearchProviderKind::Exa,
];

fn provider(
    kind: SearchProviderKind,
    base_url: &str,
    timeout: Duration,
) -> Arc<dyn SearchProvider> {
    build_provider(&SearchConfig {
        kind,
        base_url: Some(base_url.to_owned()),
        api_key: Some(Secret::new(KEY)),
        timeout,
    })
    .expect("build the provider")
}

fn query() -> SearchRequest {
    SearchRequest {
        query: "anything at all".into(),
        max_results: 5,
        ..SearchRequest::default()
    }
}

/// Searches once against a server answering `reply`; the error, checked to hide the key.
async fn fail_with(kind: SearchProviderKind, reply: CannedReply, timeout: Duration) -> SearchError {
    let server = Replay::start(reply).await;
    let error = provider(kind, &server.base_url(), timeout)
        .search(&query())
        .await
        .expect_err("the search fails");
    assert_key_hidden(&error);
    assert_eq!(
        server.requests().len(),
        1,
        "one request, no retries: {error}"
    );
    assert_eq!(error.provider(), Some(kind.as_str()));
    error
}

fn assert_key_hidden(error: &SearchError) {
    let shown = format!("{error} / {error:?}");
    assert!(!shown.contains(KEY), "the key leaked: {shown}");
    assert!(
        !shown.contains("TOPSECRET"),
        "part of the key leaked: {shown}"
    );
}

const FIVE_SECONDS: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_refused_key_says_to_check_the_key_setting() {
    for kind in ALL {
        for status in [401, 403] {
            if kind == SearchProviderKind::Searxng && status == 403 {
                continue; // SearXNG's 403 means the JSON format is off; tested below.
            }
            let body = format!(r#"{{"error": "invalid API key {KEY}"}}"#);
            let error = fail_with(kind, CannedReply::json(status, body), FIVE_SECONDS).await;
            assert!(
                matches!(error, SearchError::Unauthorized { provider } if provider == kind.as_str()),
                "{kind} {status}: {error:?}"
            );
            let text = error.to_string();
            assert!(text.contains("refused the API key"), "{text}");
            assert!(text.contains("FORAGE_SEARCH_API_KEY"), "{text}");
        }
    }
}

#[tokio::test]
async fn brave_invalid_token_answer_is_a_refused_key() {
    let body = r#"{"type":"ErrorResponse","error":{"id":"x","status":422,"code":"SUBSCRIPTION_TOKEN_INVALID","detail":"The provided subscription token is invalid.","meta":{"component":"authentication"}},"time":1718000000}"#;
    let error = fail_with(
        SearchProviderKind::Brave,
        CannedReply::json(422, body),
        FIVE_SECONDS,
    )
    .await;
    assert!(
        matches!(error, SearchError::Unauthorized { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn searxng_refusing_json_says_how_to_enable_it() {
    let reply = CannedReply::with_type(
        403,
        "text/html",
        "<!doctype html><title>403 Forbidden</title>",
    );
    let error = fail_with(SearchProviderKind::Searxng, reply, FIVE_SECONDS).await;
    assert!(
        matches!(error, SearchError::Status { status: 403, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("settings.yml") && text.contains("json"),
        "{text}"
    );
}

#[tokio::test]
async fn rate_limit_reports_the_wait_the_provider_asks_for() {
    for kind in ALL {
        let reply =
            CannedReply::json(429, r#"{"error":"too many requests"}"#).header("retry-after", "7");
        let error = fail_with(kind, reply, FIVE_SECONDS).await;
        match &error {
            SearchError::RateLimited { retry_after, .. } => {
                assert_eq!(*retry_after, Some(Duration::from_secs(7)), "{kind}")
            }
            other => panic!("{kind}: expected RateLimited, got {other:?}"),
        }
        assert!(error.to_string().contains("retry after 7s"), "{error}");
    }
    // Without Retry-After (or with the date form) the wait is unknown.
    let error = fail_with(
        SearchProviderKind::Exa,
        CannedReply::json(429, "{}"),
        FIVE_SECONDS,
    )
    .await;
    assert!(
        matches!(
            error,
            SearchError::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn server_errors_quote_the_provider_and_say_to_try_later() {
    let cases = [
        (
            SearchProviderKind::Tavily,
            r#"{"detail":{"error":"upstream exploded"}}"#,
        ),
        (
            SearchProviderKind::Exa,
            r#"{"requestId":"r1","error":"upstream exploded"}"#,
        ),
        (
            SearchProviderKind::Brave,
            r#"{"type":"ErrorResponse","error":{"status":500,"code":"X","detail":"upstream exploded"}}"#,
        ),
    ];
    for (kind, body) in cases {
        let error = fail_with(kind, CannedReply::json(500, body), FIVE_SECONDS).await;
        match &error {
            SearchError::Status {
                status, message, ..
            } => {
                assert_eq!(*status, 500);
                assert!(message.contains("upstream exploded"), "{kind}: {message}");
                assert!(message.contains("try again later"), "{kind}: {message}");
            }
            other => panic!("{kind}: expected Status, got {other:?}"),
        }
    }
    // An HTML error page is not quoted.
    let reply = CannedReply::with_type(
        502,
        "text/html",
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
    );
    let error = fail_with(SearchProviderKind::Searxng, reply, FIVE_SECONDS).await;
    let text = error.to_string();
    assert!(
        text.contains("HTTP 502") && !text.contains("<h1>"),
        "{text}"
    );
}

#[tokio::test]
async fn a_key_echoed_by_the_provider_is_redacted() {
    let body = format!(r#"{{"detail": "bad request for key {KEY}: query too long"}}"#);
    let error = fail_with(
        SearchProviderKind::Tavily,
        CannedReply::json(400, body),
        FIVE_SECONDS,
    )
    .await;
    let text = error.to_string();
    assert!(
        text.contains("query too long") && text.contains("[redacted]"),
        "{text}"
    );
}

#[tokio::test]
async fn a_provider_that_does_not_answer_times_out() {
    let started = Instant::now();
    let reply = CannedReply::json(200, "{}").delayed(Duration::from_secs(30));
    let error = fail_with(
        SearchProviderKind::Tavily,
        reply,
        Duration::from_millis(300),
    )
    .await;
    assert!(
        matches!(error, SearchError::Timeout { provider: "tavily" }),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(error.to_string().contains("did not answer"), "{error}");
}

#[tokio::test]
async fn an_answer_that_never_ends_times_out() {
    let started = Instant::now();
    let reply =
        CannedReply::json(200, r#"{"results": [{"url": "https://a.example/""#).stall_after_body();
    let error = fail_with(SearchProviderKind::Exa, reply, Duration::from_millis(500)).await;
    assert!(matches!(error, SearchError::Timeout { .. }), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_says_to_check_the_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = provider(
        SearchProviderKind::Brave,
        &format!("http://{addr}"),
        FIVE_SECONDS,
    )
    .search(&query())
    .await
    .expect_err("nothing listens there");
    assert_key_hidden(&error);
    assert!(matches!(error, SearchError::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().contains("FORAGE_SEARCH_BASE_URL"),
        "{error}"
    );
}

#[tokio::test]
async fn answers_that_are_not_json_are_bad_responses() {
    let html = CannedReply::with_type(
        200,
        "text/html",
        "<!DOCTYPE html><html><body>Login</body></html>",
    );
    let error = fail_with(SearchProviderKind::Searxng, html, FIVE_SECONDS).await;
    assert!(
        matches!(error, SearchError::BadResponse { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("HTML page"), "{error}");

    let text = CannedReply::with_type(200, "text/plain", "hello there");
    let error = fail_with(SearchProviderKind::Brave, text, FIVE_SECONDS).await;
    assert!(error.to_string().contains("not valid JSON"), "{error}");

    let empty = CannedReply::json(200, "");
    let error = fail_with(SearchProviderKind::Tavily, empty, FIVE_SECONDS).await;
    assert!(error.to_string().contains("empty"), "{error}");
}

#[tokio::test]
async fn a_cut_short_answer_is_a_bad_response() {
    let whole = include_bytes!("fixtures/search/exa.json");
    let reply = CannedReply::json(200, &whole[..whole.len() / 2]);
    let error = fail_with(SearchProviderKind::Exa, reply, FIVE_SECONDS).await;
    assert!(
        matches!(error, SearchError::BadResponse { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("ends early"), "{error}");
}

#[tokio::test]
async fn a_huge_answer_is_refused_with_or_without_its_length() {
    let mut huge = br#"{"results": ["#.to_vec();
    huge.resize(5 * 1024 * 1024, b' ');
    for reply in [
        CannedReply::json(200, huge.clone()),
        CannedReply::json(200, huge).chunked(),
    ] {
        let error = fail_with(SearchProviderKind::Tavily, reply, Duration::from_secs(20)).await;
        assert!(
            matches!(error, SearchError::BadResponse { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("larger than 4 MiB"), "{error}");
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed_so_the_key_stays_home() {
    let elsewhere = Replay::start(CannedReply::json(200, "{}")).await;
    let reply = CannedReply::json(302, "")
        .header("location", &format!("{}/steal?x=1", elsewhere.base_url()));
    let error = fail_with(SearchProviderKind::Exa, reply, FIVE_SECONDS).await;
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
    match &error {
        SearchError::Status {
            status: 302,
            message,
            ..
        } => {
            assert!(message.contains(&elsewhere.base_url()), "{message}");
            assert!(
                !message.contains("steal"),
                "only the origin is shown: {message}"
            );
        }
        other => panic!("expected Status 302, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_results_list_is_a_bad_response_but_brave_without_web_is_empty() {
    for kind in [
        SearchProviderKind::Searxng,
        SearchProviderKind::Tavily,
        SearchProviderKind::Exa,
    ] {
        let error = fail_with(
            kind,
            CannedReply::json(200, r#"{"detail": "ok"}"#),
            FIVE_SECONDS,
        )
        .await;
        assert!(
            error.to_string().contains("no `results` list"),
            "{kind}: {error}"
        );
    }
    // Brave leaves `web` out when it found nothing.
    let server = Replay::start(CannedReply::json(
        200,
        r#"{"type":"search","query":{"original":"x"}}"#,
    ))
    .await;
    let hits = provider(SearchProviderKind::Brave, &server.base_url(), FIVE_SECONDS)
        .search(&query())
        .await
        .expect("no web section is no hits");
    assert!(hits.is_empty());
    let error = fail_with(
        SearchProviderKind::Brave,
        CannedReply::json(200, "[1, 2]"),
        FIVE_SECONDS,
    )
    .await;
    assert!(
        matches!(error, SearchError::BadResponse { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn fields_of_the_wrong_type_are_skipped_without_panicking() {
    let results = r#"[
        1, "text", null, [], {},
        {"url": 5, "title": "number url"},
        {"url": "", "title": "empty url"},
        {"url": "javascript:alert(1)", "title": "script"},
        {"url": "https://ok.example/a", "title": 7, "content": {"x": 1}, "description": [],
         "text": false, "highlights": [3, null, ""], "publishedDate": 20240101,
         "published_date": "not a date", "page_age": {}, "age": "yesterday"},
        {"url": "https://ok.example/a#again", "title": "duplicate"},
        {"url": "  https://ok.example/b  ", "title": "  spaced   title ", "content": "  b  ", "description": " b ", "text": " b "}
    ]"#;
    let bodies = [
        (
            SearchProviderKind::Searxng,
            format!(r#"{{"results": {results}}}"#),
        ),
        (
            SearchProviderKind::Brave,
            format!(r#"{{"web": {{"results": {results}}}}}"#),
        ),
        (
            SearchProviderKind::Tavily,
            format!(r#"{{"results": {results}}}"#),
        ),
        (
            SearchProviderKind::Exa,
            format!(r#"{{"results": {results}}}"#),
        ),
    ];
    for (kind, body) in bodies {
        let server = Replay::start(CannedReply::json(200, body)).await;
        let hits = provider(kind, &server.base_url(), FIVE_SECONDS)
            .search(&query())
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let summary: Vec<_> = hits
            .iter()
            .map(|h| {
                (
                    h.url.as_str(),
                    h.title.as_str(),
                    h.snippet.as_str(),
                    h.published_date.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("https://ok.example/a", "", "", None),
                ("https://ok.example/b", "spaced title", "b", None),
            ],
            "{kind}"
        );
    }
}

#[tokio::test]
async fn long_snippets_are_cut_at_a_character_boundary() {
    let long = "ü".repeat(2000);
    let body = format!(
        r#"{{"results": [{{"url": "https://ok.example/", "title": "t", "content": "{long}"}}]}}"#
    );
    let server = Replay::start(CannedReply::json(200, body)).await;
    let hits = provider(SearchProviderKind::Tavily, &server.base_url(), FIVE_SECONDS)
        .search(&query())
        .await
        .unwrap();
    assert_eq!(hits[0].snippet.chars().count(), 500);
    assert!(hits[0].snippet.ends_with('…'));
}

#[tokio::test]
async fn an_empty_query_is_refused_before_anything_is_sent() {
    let server = Replay::start(CannedReply::json(200, "{}")).await;
    for kind in ALL {
        let error = provider(kind, &server.base_url(), FIVE_SECONDS)
            .search(&SearchRequest {
                query: "  \n ".into(),
                max_results: 5,
                ..SearchRequest::default()
            })
            .await
            .expect_err("empty query");
        assert!(
            matches!(error, SearchError::InvalidRequest(_)),
            "{kind}: {error:?}"
        );
    }
    assert!(server.requests().is_empty());
}

#[test]
fn config_debug_output_hides_the_key() {
    let config = SearchConfig {
        kind: SearchProviderKind::Brave,
        base_url: None,
        api_key: Some(Secret::new(KEY)),
        timeout: FIVE_SECONDS,
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains(KEY), "{shown}");
}
