//! web_fetch's limits: a huge page is cut at max_bytes (and marked truncated) without reading
//! the rest, a slow page times out within the configured timeout, a PDF over the limit is
//! refused.

mod fetch_common;

use std::time::{Duration, Instant};

use fetch_common::Web;
use forage_tools::fetch::{FetchConfig, FetchError};

#[tokio::test]
async fn huge_page_is_cut_at_max_bytes() {
    let web = Web::start().await;
    let max_bytes = 256 * 1024;
    let fetcher = web.fetcher_with(FetchConfig {
        max_bytes,
        ..fetch_common::config()
    });
    let started = Instant::now();
    let page = fetcher
        .fetch(&web.url("slow.test", "/huge.html"))
        .await
        .unwrap();
    assert!(page.truncated);
    // What was kept is exactly the cap: the 50 MB body was never buffered.
    assert_eq!(page.bytes, max_bytes as u64);
    assert!(
        page.text.contains("This paragraph repeats"),
        "{}",
        &page.text[..200.min(page.text.len())]
    );
    assert!(page.text.len() <= max_bytes);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_page_times_out_within_the_timeout() {
    let web = Web::start().await;
    let timeout = Duration::from_millis(800);
    let fetcher = web.fetcher_with(FetchConfig {
        timeout,
        ..fetch_common::config()
    });
    let url = web.url("slow.test", "/slow");
    let started = Instant::now();
    let err = fetcher.fetch(&url).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < timeout + Duration::from_secs(1), "{elapsed:?}");
    match &err {
        FetchError::Timeout { url: shown, after } => {
            assert_eq!(shown, &url);
            assert_eq!(*after, timeout);
        }
        other => panic!("not a timeout: {other:?}"),
    }
    assert!(err.to_string().contains("did not answer in time"), "{err}");
}

#[tokio::test]
async fn pdf_over_the_limit_is_refused() {
    let web = Web::start().await;
    // Streamed with no Content-Length: refused once the body passes the default 5 MiB.
    let url = web.url("docs.example.test", "/files/huge-report.pdf");
    let err = web.fetcher().fetch(&url).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::TooLarge {
            url: url.clone(),
            limit: 5 * 1024 * 1024
        }
    );
    assert!(err.to_string().contains("PDF larger than"), "{err}");

    // With a Content-Length over the limit: refused before reading.
    let fetcher = web.fetcher_with(FetchConfig {
        max_bytes: 300,
        ..fetch_common::config()
    });
    let url = web.url("docs.example.test", "/files/widget-report.pdf");
    let err = fetcher.fetch(&url).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 300, .. }),
        "{err:?}"
    );
}
