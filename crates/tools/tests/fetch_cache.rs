//! A run's FetchCache: one request per URL per run (fragments ignored), concurrent fetches of a
//! URL share one request, failures are kept too, and a new cache fetches again.

mod fetch_common;

use std::sync::Arc;

use fetch_common::Web;
use forage_tools::fetch::{FetchCache, FetchError};

const ARTICLE: &str = "/2025/03/acme-names-new-ceo.html";

#[tokio::test]
async fn same_url_twice_is_one_request() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    let cache = FetchCache::default();
    assert!(cache.is_empty());
    let url = web.url("news.test", ARTICLE);
    let first = cache.fetch(&fetcher, &url).await.unwrap();
    let second = cache.fetch(&fetcher, &url).await.unwrap();
    let fragment = cache
        .fetch(&fetcher, &format!("{url}#leadership"))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert!(Arc::ptr_eq(&first, &fragment));
    assert_eq!(web.hits("news.test", ARTICLE), 1);
    assert_eq!(cache.len(), 1);

    // A new run's cache fetches again (robots.txt stays cached in the fetcher).
    let next_run = FetchCache::default();
    next_run.fetch(&fetcher, &url).await.unwrap();
    assert_eq!(web.hits("news.test", ARTICLE), 2);
    assert_eq!(web.hits("news.test", "/robots.txt"), 1);
}

#[tokio::test]
async fn concurrent_fetches_share_one_request() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    let cache = Arc::new(FetchCache::default());
    let url = web.url("docs.example.test", "/files/widget-report.pdf");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (cache, fetcher, url) = (cache.clone(), fetcher.clone(), url.clone());
        tasks.spawn(async move { cache.fetch(&fetcher, &url).await });
    }
    let pages = tasks.join_all().await;
    assert!(pages.iter().all(Result::is_ok));
    assert_eq!(web.hits("docs.example.test", "/files/widget-report.pdf"), 1);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn failures_are_cached_too() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    let cache = FetchCache::default();
    let url = web.url("news.test", "/broken");
    for _ in 0..3 {
        let err = cache.fetch(&fetcher, &url).await.unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: 500, .. }),
            "{err:?}"
        );
    }
    assert_eq!(web.hits("news.test", "/broken"), 1);
}
