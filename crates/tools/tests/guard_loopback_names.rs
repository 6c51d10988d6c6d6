//! Every way of writing "this machine" in a URL is refused: `localhost` and names under it
//! (never asked of the DNS), the IPv4 spellings the URL parser turns into 127.0.0.1, `[::1]`,
//! `[::ffff:127.0.0.1]` and `0.0.0.0`, whether requested or reached by a redirect.

mod common;

use common::{Reply, Server, client, ip, refusal};
use forage_testkit::dns::DnsDouble;
use forage_tools::{GuardError, NetworkPolicy};
use url::Url;

/// (host as written, the address it means, the kind the guard names).
const SPELLINGS: [(&str, &str, &str); 14] = [
    ("localhost", "127.0.0.1", "loopback"),
    ("LOCALHOST.", "127.0.0.1", "loopback"),
    ("foo.localhost", "127.0.0.1", "loopback"),
    ("127.0.0.1", "127.0.0.1", "loopback"),
    ("127.1", "127.0.0.1", "loopback"),
    ("127.0.1", "127.0.0.1", "loopback"),
    ("2130706433", "127.0.0.1", "loopback"),
    ("0x7f000001", "127.0.0.1", "loopback"),
    ("0177.0.0.1", "127.0.0.1", "loopback"),
    ("127.42.0.7", "127.42.0.7", "loopback"),
    ("[::1]", "::1", "loopback"),
    (
        "[::ffff:127.0.0.1]",
        "::ffff:127.0.0.1",
        "IPv4-mapped loopback",
    ),
    (
        "[::ffff:7f00:1]",
        "::ffff:127.0.0.1",
        "IPv4-mapped loopback",
    ),
    ("0.0.0.0", "0.0.0.0", "unspecified"),
];

#[test]
fn the_url_parser_turns_numeric_spellings_into_addresses() {
    for (written, addr, _) in SPELLINGS {
        let url = Url::parse(&format!("http://{written}/")).unwrap();
        match url.host().unwrap() {
            url::Host::Domain(name) => {
                assert!(
                    name.ends_with("localhost") || name == "localhost.",
                    "{written}"
                );
            }
            url::Host::Ipv4(v4) => assert_eq!(std::net::IpAddr::V4(v4), ip(addr), "{written}"),
            url::Host::Ipv6(v6) => assert_eq!(std::net::IpAddr::V6(v6), ip(addr), "{written}"),
        }
    }
}

#[test]
fn check_url_refuses_every_spelling() {
    let policy = NetworkPolicy::default();
    for (written, addr, kind) in SPELLINGS {
        let url = Url::parse(&format!("http://{written}:8080/mcp")).unwrap();
        match policy.check_url(&url) {
            Err(GuardError::Refused {
                addr: refused,
                kind: named,
                ..
            }) => assert_eq!((refused, named), (ip(addr), kind), "{written}"),
            other => panic!("{written}: {other:?}"),
        }
    }
    let open = NetworkPolicy {
        allow_private: true,
        ..Default::default()
    };
    for (written, ..) in SPELLINGS {
        let url = Url::parse(&format!("http://{written}:8080/mcp")).unwrap();
        assert!(open.check_url(&url).is_ok(), "{written}");
    }
}

#[tokio::test]
async fn localhost_names_are_refused_without_asking_the_dns() {
    let dns = DnsDouble::start().await;
    // Whatever a DNS would answer for them, they stay loopback.
    for name in ["localhost", "foo.localhost"] {
        dns.answer(name, &[ip("192.0.2.1")]);
    }
    let server = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let client = client(&NetworkPolicy::default(), &dns);
    for name in ["localhost", "LOCALHOST.", "foo.localhost", "Foo.LocalHost."] {
        let err = client
            .get(format!("http://{name}:{}/", server.port()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal(&err).2, "loopback", "{name}");
    }
    assert_eq!(dns.queries("localhost"), 0);
    assert_eq!(dns.queries("foo.localhost"), 0);
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn a_redirect_to_any_spelling_is_refused_and_never_followed() {
    let dns = DnsDouble::start().await;
    dns.answer("first.test", &[ip("127.0.0.1")]);
    let target = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let first = Server::start("127.0.0.1", 0, Reply::Page("unused".into())).await;
    let policy = NetworkPolicy {
        allow_hosts: vec!["first.test".into()],
        ..Default::default()
    };
    let client = client(&policy, &dns);
    for (written, addr, kind) in SPELLINGS {
        first.set_reply(Reply::Redirect(format!(
            "http://{written}:{}/",
            target.port()
        )));
        let err = client
            .get(format!("http://first.test:{}/", first.port()))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_redirect(), "{written}: {err:?}");
        let (_, refused, named) = refusal(&err);
        assert_eq!((refused, named), (ip(addr), kind), "{written}");
    }
    assert_eq!(first.connections(), SPELLINGS.len());
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn localhost_names_mean_loopback_with_the_system_resolver_too() {
    let server = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let names = ["localhost", "LOCALHOST.", "foo.localhost", "Foo.LocalHost."];
    let strict = NetworkPolicy::default()
        .apply(reqwest::Client::builder().no_proxy())
        .build()
        .unwrap();
    for name in names {
        let err = strict
            .get(format!("http://{name}:{}/", server.port()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal(&err).2, "loopback", "{name}");
    }
    assert_eq!(server.connections(), 0);
    // Allowed, every one of them reaches this machine, whatever the system's resolver knows.
    let open = NetworkPolicy {
        allow_private: true,
        ..Default::default()
    }
    .apply(reqwest::Client::builder().no_proxy())
    .build()
    .unwrap();
    for name in names {
        let response = open
            .get(format!("http://{name}:{}/", server.port()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(response.text().await.unwrap(), "internal");
    }
    assert_eq!(server.connections(), names.len());
}
