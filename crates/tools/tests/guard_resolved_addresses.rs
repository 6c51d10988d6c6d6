//! Names are judged by the addresses they resolve to: a name the DNS answers with a loopback,
//! private, link-local, metadata, CGNAT, ULA or IPv4-mapped address is refused with the kind of
//! address named, unless allowed by `allow_private`, a matching CIDR or the host list; and only
//! the allowed addresses of an answer are connected to.

mod common;

use common::{Reply, Server, client, guard_error, ip, refusal};
use forage_testkit::dns::DnsDouble;
use forage_tools::{GuardError, NetworkPolicy};

/// (name, the address the DNS gives it, the kind the guard names).
const RESTRICTED: [(&str, &str, &str); 7] = [
    ("loop4.test", "127.0.0.1", "loopback"),
    ("loop6.test", "::1", "loopback"),
    ("ten.test", "10.1.2.3", "private"),
    ("metadata.test", "169.254.169.254", "cloud metadata"),
    ("cgnat.test", "100.64.1.2", "CGNAT"),
    ("ula.test", "fd00::1", "unique-local (ULA)"),
    ("mapped.test", "::ffff:127.0.0.1", "IPv4-mapped loopback"),
];

async fn scripted_dns() -> DnsDouble {
    let dns = DnsDouble::start().await;
    for (name, addr, _) in RESTRICTED {
        dns.answer(name, &[ip(addr)]);
    }
    dns
}

#[tokio::test]
async fn names_resolving_to_restricted_addresses_are_refused_with_their_kind() {
    let dns = scripted_dns().await;
    let server = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let client = client(&NetworkPolicy::default(), &dns);
    for (name, addr, kind) in RESTRICTED {
        let err = client
            .get(format!("http://{name}:{}/", server.port()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), (name.to_owned(), ip(addr), kind), "{name}");
        let message = guard_error(&err).unwrap().to_string();
        assert!(message.contains(kind), "{message}");
        assert!(
            message.contains("FORAGE_ALLOW_PRIVATE_NETWORKS"),
            "{message}"
        );
        assert!(dns.queries(name) > 0, "{name} was not asked of the DNS");
    }
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn allow_private_lets_every_loopback_answer_through() {
    let dns = scripted_dns().await;
    let server = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let policy = NetworkPolicy {
        allow_private: true,
        ..Default::default()
    };
    let client = client(&policy, &dns);
    // ::ffff:127.0.0.1 reaches the IPv4 listener too.
    for name in ["loop4.test", "mapped.test"] {
        let response = client
            .get(format!("http://{name}:{}/", server.port()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(response.text().await.unwrap(), "internal");
    }
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_matching_cidr_allows_only_its_range() {
    let dns = scripted_dns().await;
    let server = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let policy = NetworkPolicy {
        allow_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        ..Default::default()
    };
    let client = client(&policy, &dns);
    for name in ["loop4.test", "mapped.test"] {
        let response = client
            .get(format!("http://{name}:{}/", server.port()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(response.text().await.unwrap(), "internal");
    }
    for (name, addr, kind) in RESTRICTED
        .into_iter()
        .filter(|(name, ..)| !["loop4.test", "mapped.test"].contains(name))
    {
        let err = client
            .get(format!("http://{name}:{}/", server.port()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), (name.to_owned(), ip(addr), kind), "{name}");
    }
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn an_allowed_host_may_resolve_anywhere_other_hosts_may_not() {
    let dns = scripted_dns().await;
    dns.answer("mcp.internal", &[ip("127.0.0.1")]);
    let server = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let policy = NetworkPolicy {
        allow_hosts: vec!["MCP.internal".into()],
        ..Default::default()
    };
    let client = client(&policy, &dns);
    let response = client
        .get(format!("http://mcp.internal:{}/", server.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "internal");
    // The same address under another name is still refused.
    let err = client
        .get(format!("http://loop4.test:{}/", server.port()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refusal(&err).2, "loopback");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn only_the_allowed_addresses_of_an_answer_are_connected_to() {
    let dns = DnsDouble::start().await;
    let refused = Server::start("127.0.0.1", 0, Reply::Page("refused".into())).await;
    let allowed = Server::start("127.0.0.2", refused.port(), Reply::Page("allowed".into())).await;
    // The refused address comes first: a client that tried the answer in order would use it.
    dns.answer("mixed.test", &[ip("127.0.0.1"), ip("127.0.0.2")]);
    let policy = NetworkPolicy {
        allow_cidrs: vec!["127.0.0.2/32".parse().unwrap()],
        ..Default::default()
    };
    let client = client(&policy, &dns);
    for _ in 0..3 {
        let response = client
            .get(format!("http://mixed.test:{}/", refused.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "allowed");
    }
    assert_eq!(refused.connections(), 0);
    assert_eq!(allowed.connections(), 3);
}

#[tokio::test]
async fn an_unknown_name_fails_to_resolve_rather_than_being_refused() {
    let dns = DnsDouble::start().await;
    let client = client(&NetworkPolicy::default(), &dns);
    let err = client
        .get("http://nowhere.test:9/")
        .send()
        .await
        .unwrap_err();
    match guard_error(&err) {
        Some(GuardError::Resolve { host, .. }) => assert_eq!(host, "nowhere.test"),
        other => panic!("expected a resolution failure, got {other:?}"),
    }
    assert!(dns.queries("nowhere.test") > 0);
}
