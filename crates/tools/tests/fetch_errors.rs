//! web_fetch's errors: HTTP statuses, binary content, bad URLs and schemes, unreachable hosts;
//! each message says what to do and never shows a URL's query string or credentials.

mod fetch_common;

use fetch_common::Web;
use forage_tools::fetch::FetchError;

#[tokio::test]
async fn http_errors_name_the_status() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    let missing = web.url("news.test", "/no-such-page.html");
    let err = fetcher.fetch(&missing).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::Status {
            url: missing,
            status: 404
        }
    );
    let text = err.to_string();
    assert!(text.contains("404") && text.contains("Not Found"), "{text}");
    assert!(text.contains("check the URL"), "{text}");

    let err = fetcher
        .fetch(&web.url("news.test", "/broken"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("try again later"), "{err}");
}

#[tokio::test]
async fn binary_content_is_unsupported() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    let err = fetcher
        .fetch(&web.url("docs.example.test", "/images/logo.png"))
        .await
        .unwrap_err();
    match &err {
        FetchError::Unsupported { content_type, .. } => assert_eq!(content_type, "image/png"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("cannot read"), "{err}");
    let err = fetcher
        .fetch(&web.url("docs.example.test", "/download.bin"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unsupported { .. }), "{err:?}");
}

#[tokio::test]
async fn bad_urls_and_schemes_are_refused() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    for url in [
        "not a url",
        "/relative/path",
        "ftp://docs.example.test/file.txt",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "",
    ] {
        let err = fetcher.fetch(url).await.unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl(_)), "{url}: {err:?}");
    }
    let err = fetcher
        .fetch("ftp://docs.example.test/f")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only http and https"), "{err}");
}

#[tokio::test]
async fn errors_never_show_secrets() {
    let web = Web::start().await;
    let fetcher = web.fetcher();
    let secret = "s3cret-token";
    let port = web.web.port();
    let urls = [
        format!("http://news.test:{port}/no-such-page.html?token={secret}#frag"),
        format!("http://user:{secret}@news.test:{port}/broken"),
        format!("http://robots.test:{port}/private/report.html?key={secret}"),
        format!("http://docs.example.test:{port}/images/logo.png?sig={secret}"),
        // Nothing listens on port 1: a connection error.
        format!("http://news.test:1/page?token={secret}"),
        format!("ftp://news.test/page?token={secret}"),
        format!("not a url?token={secret}"),
    ];
    for url in urls {
        let err = fetcher.fetch(&url).await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "{url}: {shown}");
    }
}

#[tokio::test]
async fn unreachable_host_is_a_connect_error() {
    let web = Web::start().await;
    let err = web
        .fetcher()
        .fetch("http://news.test:1/page")
        .await
        .unwrap_err();
    match &err {
        FetchError::Connect { url, reason } => {
            assert_eq!(url, "http://news.test:1/page");
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // A name the DNS double does not know.
    let err = web
        .fetcher()
        .fetch("http://nowhere.test/page")
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Connect { .. } | FetchError::Guard(_)),
        "{err:?}"
    );
}
