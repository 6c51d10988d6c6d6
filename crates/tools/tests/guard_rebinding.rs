//! DNS rebinding: a name that first resolves to an allowed address and then to a loopback one
//! is re-checked at every connection, so the guarded client never reaches the loopback service
//! however often it is asked.

mod common;

use common::{Reply, Server, client, ip, refusal};
use forage_testkit::dns::DnsDouble;
use forage_tools::NetworkPolicy;

#[tokio::test]
async fn a_name_that_rebinds_to_loopback_never_reaches_it() {
    let dns = DnsDouble::start().await;
    // The "public" service stands on 127.0.0.2, allowed by range; the internal one on
    // 127.0.0.1, same port.
    let internal = Server::start("127.0.0.1", 0, Reply::Page("internal".into())).await;
    let public = Server::start("127.0.0.2", internal.port(), Reply::Page("public".into())).await;
    dns.script(
        "rebind.test",
        vec![vec![ip("127.0.0.2")], vec![ip("127.0.0.1")]],
    );
    let policy = NetworkPolicy {
        allow_cidrs: vec!["127.0.0.2/32".parse().unwrap()],
        ..Default::default()
    };
    let client = client(&policy, &dns);
    let url = format!("http://rebind.test:{}/", internal.port());

    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.text().await.unwrap(), "public");
    for attempt in 0..5 {
        let err = client.get(&url).send().await.unwrap_err();
        assert_eq!(
            refusal(&err),
            ("rebind.test".to_owned(), ip("127.0.0.1"), "loopback"),
            "attempt {attempt}"
        );
    }
    assert_eq!(internal.connections(), 0);
    assert_eq!(public.connections(), 1);
    // Every request asked the DNS again: the refusals are of the rebound answer.
    assert!(dns.a_queries("rebind.test") >= 6);
}
