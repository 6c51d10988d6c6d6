//! A guarded client ignores the proxies named in the environment: through a proxy, names would
//! be resolved and connections made out of the guard's sight (its own process: the proxy
//! variables it sets are process-wide).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use forage_tools::NetworkPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn requests_do_not_go_through_an_environment_proxy() {
    // A "proxy" that answers every request with 200 and counts the connections it gets.
    let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy_url = format!("http://{}", proxy.local_addr().expect("addr"));
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = proxy.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    });
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ] {
        // SAFETY: this test is the only one in its process, and sets the variables before it
        // builds any client; nothing else reads the environment meanwhile.
        unsafe { std::env::set_var(name, &proxy_url) };
    }

    let client = NetworkPolicy::default()
        .apply(reqwest::Client::builder().timeout(Duration::from_secs(10)))
        .build()
        .expect("client");
    // Through the proxy this would be answered 200; without it, the loopback address behind
    // `localhost` is refused by the guard.
    let result = client.get("http://localhost:9/").send().await;
    assert!(result.is_err(), "answered through the proxy: {result:?}");
    let err = format!("{:?}", result.unwrap_err());
    assert!(err.contains("loopback"), "{err}");
    assert_eq!(reached.load(Ordering::SeqCst), 0, "the proxy was used");

    // A client built without the guard does use the proxy: the setup above is what it claims.
    let plain = reqwest::Client::builder().build().expect("plain client");
    let through_proxy = plain
        .get("http://localhost:9/")
        .send()
        .await
        .expect("the proxy answers");
    assert_eq!(through_proxy.status(), 200);
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}
