//! Redirects are re-checked hop by hop: an allowed server cannot bounce the client to a
//! loopback, mapped or metadata address, nor to a name that resolves to one; redirects between
//! allowed hosts still work; and a redirect loop stops after ten hops.

mod common;

use common::{Reply, Server, client, guard_error, ip, refusal};
use forage_testkit::dns::DnsDouble;
use forage_tools::guard::MAX_REDIRECTS;
use forage_tools::{GuardError, NetworkPolicy};

/// A DNS where `first.test`, `second.test` and `inner.test` all resolve to 127.0.0.1, and a
/// policy that allows only `first.test` and `second.test`.
async fn setup() -> (DnsDouble, reqwest::Client) {
    let dns = DnsDouble::start().await;
    for name in ["first.test", "second.test", "inner.test"] {
        dns.answer(name, &[ip("127.0.0.1")]);
    }
    let policy = NetworkPolicy {
        allow_hosts: vec!["first.test".into(), "second.test".into()],
        ..Default::default()
    };
    let client = client(&policy, &dns);
    (dns, client)
}

#[tokio::test]
async fn a_redirect_to_a_restricted_literal_is_refused_by_the_guard() {
    let (_dns, client) = setup().await;
    let target = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let first = Server::start("127.0.0.1", 0, Reply::Page("unused".into())).await;
    for (location, addr, kind) in [
        (
            format!("http://127.0.0.1:{}/admin", target.port()),
            "127.0.0.1",
            "loopback",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{}/admin", target.port()),
            "::ffff:127.0.0.1",
            "IPv4-mapped loopback",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254",
            "cloud metadata",
        ),
    ] {
        first.set_reply(Reply::Redirect(location.clone()));
        let err = client
            .get(format!("http://first.test:{}/", first.port()))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_redirect(), "{location}: {err:?}");
        let guard = guard_error(&err).unwrap();
        assert!(matches!(guard, GuardError::Redirect { .. }), "{guard:?}");
        let message = guard.to_string();
        assert!(message.contains("network guard"), "{message}");
        assert!(!message.contains("/admin"), "the path stays out: {message}");
        let (_, refused, named) = refusal(&err);
        assert_eq!((refused, named), (ip(addr), kind), "{location}");
    }
    assert_eq!(first.connections(), 3);
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn a_redirect_to_a_name_resolving_to_loopback_is_refused() {
    let (dns, client) = setup().await;
    let target = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let first = Server::start(
        "127.0.0.1",
        0,
        Reply::Redirect(format!("http://inner.test:{}/", target.port())),
    )
    .await;
    let err = client
        .get(format!("http://first.test:{}/", first.port()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&err),
        ("inner.test".to_owned(), ip("127.0.0.1"), "loopback")
    );
    assert!(dns.queries("inner.test") > 0);
    assert_eq!(first.connections(), 1);
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn a_redirect_between_allowed_hosts_is_followed() {
    let (_dns, client) = setup().await;
    let second = Server::start("127.0.0.1", 0, Reply::Page("second".into())).await;
    let first = Server::start(
        "127.0.0.1",
        0,
        Reply::Redirect(format!("http://second.test:{}/page", second.port())),
    )
    .await;
    let response = client
        .get(format!("http://first.test:{}/", first.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.url().as_str(),
        format!("http://second.test:{}/page", second.port())
    );
    assert_eq!(response.text().await.unwrap(), "second");
    assert_eq!((first.connections(), second.connections()), (1, 1));
}

#[tokio::test]
async fn a_redirect_loop_stops_after_ten_hops() {
    let (_dns, client) = setup().await;
    let first = Server::start("127.0.0.1", 0, Reply::Page("unused".into())).await;
    first.set_reply(Reply::Redirect(format!(
        "http://first.test:{}/again",
        first.port()
    )));
    let err = client
        .get(format!("http://first.test:{}/", first.port()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        guard_error(&err),
        Some(GuardError::TooManyRedirects {
            limit: MAX_REDIRECTS
        })
    );
    assert_eq!(MAX_REDIRECTS, 10);
    // The first request and ten redirects.
    assert_eq!(first.connections(), 11);
}
