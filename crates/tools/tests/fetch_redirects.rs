//! web_fetch follows redirect chains (same host and cross host) and reports the final URL; the
//! network guard stops redirects to restricted addresses, and loopback itself, when private
//! networks are not allowed.

mod fetch_common;

use fetch_common::Web;
use forage_tools::GuardError;
use forage_tools::NetworkPolicy;
use forage_tools::fetch::{FetchConfig, FetchError, WebFetcher};

#[tokio::test]
async fn same_host_chain_is_followed() {
    let web = Web::start().await;
    let start = web.url("news.test", "/r/start");
    let page = web.fetcher().fetch(&start).await.unwrap();
    assert_eq!(
        page.url,
        web.url("news.test", "/2025/03/acme-names-new-ceo.html")
    );
    assert_eq!(page.requested_url, start);
    assert!(page.text.contains("Dana Whitfield"), "{}", page.text);
    assert_eq!(web.hits("news.test", "/r/start"), 1);
    assert_eq!(web.hits("news.test", "/r/middle"), 1);
}

#[tokio::test]
async fn cross_host_chain_is_followed() {
    let web = Web::start().await;
    let start = web.url("short.test", "/acme");
    let page = web.fetcher().fetch(&start).await.unwrap();
    assert_eq!(page.url, web.url("acme.example.test", "/about"));
    assert_eq!(page.requested_url, start);
    assert!(page.text.contains("founded in 1987"), "{}", page.text);
}

/// A fetcher that may reach evil.test (on loopback) and nothing else private.
fn guarded(web: &Web) -> WebFetcher {
    let policy = NetworkPolicy {
        allow_hosts: vec!["evil.test".into()],
        ..web.strict_policy()
    };
    WebFetcher::new(fetch_common::config(), &policy).unwrap()
}

fn refused_redirect(err: &FetchError) -> (String, &'static str) {
    match err {
        FetchError::Guard(GuardError::Redirect { target, reason }) => match reason.as_ref() {
            GuardError::Refused { kind, .. } => (target.clone(), kind),
            other => panic!("not a refusal: {other:?}"),
        },
        other => panic!("not a refused redirect: {other:?}"),
    }
}

#[tokio::test]
async fn redirect_to_cloud_metadata_is_refused() {
    let web = Web::start().await;
    let err = guarded(&web)
        .fetch(&web.url("evil.test", "/to-metadata"))
        .await
        .unwrap_err();
    let (target, kind) = refused_redirect(&err);
    assert_eq!(target, "http://169.254.169.254");
    assert_eq!(kind, "cloud metadata");
    assert!(
        err.to_string().contains("FORAGE_ALLOW_PRIVATE_NETWORKS"),
        "{err}"
    );
}

#[tokio::test]
async fn redirect_to_loopback_literal_is_refused() {
    let web = Web::start().await;
    let err = guarded(&web)
        .fetch(&web.url("evil.test", "/to-loopback"))
        .await
        .unwrap_err();
    let (target, kind) = refused_redirect(&err);
    assert_eq!(target, "http://127.0.0.1:1");
    assert_eq!(kind, "loopback");
}

#[tokio::test]
async fn loopback_is_refused_without_allow_private() {
    let web = Web::start().await;
    let fetcher = WebFetcher::new(fetch_common::config(), &web.strict_policy()).unwrap();
    // A name that resolves to loopback: refused on the resolved address.
    let err = fetcher
        .fetch(&web.url("news.test", "/2025/03/acme-names-new-ceo.html"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::Guard(GuardError::Refused {
                kind: "loopback",
                ..
            })
        ),
        "{err:?}"
    );
    // An IP literal: refused before any request.
    let err = fetcher
        .fetch(&format!("http://127.0.0.1:{}/", web.web.port()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::Guard(GuardError::Refused {
                kind: "loopback",
                ..
            })
        ),
        "{err:?}"
    );
    let err = fetcher
        .fetch("http://169.254.169.254/latest/meta-data/")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::Guard(GuardError::Refused {
                kind: "cloud metadata",
                ..
            })
        ),
        "{err:?}"
    );
    // Nothing reached the fixture web, robots.txt included.
    assert_eq!(web.hits("news.test", "/robots.txt"), 0);
    assert_eq!(web.hits("news.test", "/2025/03/acme-names-new-ceo.html"), 0);
    // The same fetch through an open policy works.
    let open = WebFetcher::new(FetchConfig::default(), &web.open_policy()).unwrap();
    assert!(
        open.fetch(&web.url("news.test", "/2025/03/acme-names-new-ceo.html"))
            .await
            .is_ok()
    );
}
