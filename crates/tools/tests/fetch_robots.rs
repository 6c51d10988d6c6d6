//! web_fetch obeys robots.txt for its product token `forage` (falling back to `*`), fetches it
//! once per origin per fetcher, and reads anything when told not to respect it.

mod fetch_common;

use fetch_common::Web;
use forage_tools::fetch::{FetchConfig, FetchError};

#[tokio::test]
async fn disallowed_path_is_refused_and_allowed_path_read() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    let private = web.url("robots.test", "/private/report.html");
    let err = fetcher.fetch(&private).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::RobotsDisallowed {
            url: private.clone()
        }
    );
    assert!(err.to_string().contains("you may not read it"), "{err}");
    // The page itself was never requested.
    assert_eq!(web.hits("robots.test", "/private/report.html"), 0);

    let page = fetcher
        .fetch(&web.url("robots.test", "/public/report.html"))
        .await
        .unwrap();
    assert!(page.text.contains("310 units"), "{}", page.text);
    assert_eq!(web.hits("robots.test", "/robots.txt"), 1);
}

#[tokio::test]
async fn the_forage_group_is_matched_before_star() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    // news.test's robots.txt bans `otherbot` everywhere and `forage` from /drafts/ only.
    let err = fetcher
        .fetch(&web.url("news.test", "/drafts/unpublished.html"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::RobotsDisallowed { .. }),
        "{err:?}"
    );
    assert!(
        fetcher
            .fetch(&web.url("news.test", "/2025/03/acme-names-new-ceo.html"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn robots_is_fetched_once_per_origin() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    let mut tasks = tokio::task::JoinSet::new();
    for path in [
        "/public/report.html",
        "/private/report.html",
        "/public/report.html",
        "/public/missing.html",
    ] {
        let fetcher = fetcher.clone();
        let url = web.url("robots.test", path);
        tasks.spawn(async move { fetcher.fetch(&url).await });
    }
    tasks.join_all().await;
    assert_eq!(web.hits("robots.test", "/robots.txt"), 1);
    // A host without robots.txt (404) is asked once and then allowed.
    fetcher
        .fetch(&web.url("acme.example.test", "/about"))
        .await
        .unwrap();
    fetcher
        .fetch(&web.url("acme.example.test", "/about"))
        .await
        .unwrap();
    assert_eq!(web.hits("acme.example.test", "/robots.txt"), 1);
    // Another fetcher has its own robots cache.
    web.fetcher()
        .fetch(&web.url("robots.test", "/public/report.html"))
        .await
        .unwrap();
    assert_eq!(web.hits("robots.test", "/robots.txt"), 2);
}

#[tokio::test]
async fn robots_can_be_ignored() {
    let web = Web::start().await;
    let fetcher = web.fetcher_with(FetchConfig {
        respect_robots: false,
        ..fetch_common::config()
    });
    let page = fetcher
        .fetch(&web.url("robots.test", "/private/report.html"))
        .await
        .unwrap();
    assert!(page.text.contains("310 units"), "{}", page.text);
    assert_eq!(web.hits("robots.test", "/robots.txt"), 0);
}
