//! Bad requests get Parallel-shaped errors with the right status, never plain text or a 5xx.

mod common;

use serde_json::Value;

async fn send(
    server: &common::TestServer,
    method: reqwest::Method,
    path: &str,
    ct: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut rb = server
        .http
        .request(method, server.url(path))
        .body(body.to_owned());
    if let Some(ct) = ct {
        rb = rb.header("content-type", ct);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    assert_eq!(json["type"], "error", "{json}");
    (status, json)
}

#[tokio::test]
async fn rejections_are_json_with_the_right_status() {
    let server = common::start_with(&[], |c| c.limits.max_body_bytes = 4096).await;
    use reqwest::Method;
    let json = Some("application/json");
    let cases: Vec<(Method, &str, Option<&str>, String, u16)> = vec![
        (
            Method::POST,
            "/v1/tasks/runs",
            json,
            "{not json".into(),
            400,
        ),
        (
            Method::POST,
            "/v1/tasks/runs",
            json,
            r#"{"input": 5, "processor": "lite"}"#.into(),
            422,
        ),
        (
            Method::POST,
            "/v1/tasks/runs",
            json,
            r#"{"input": "q", "processor": "lite", "bogus": 1}"#.into(),
            422,
        ),
        (
            Method::POST,
            "/v1/tasks/runs",
            json,
            r#"{"input": "q", "processor": "turbo"}"#.into(),
            403,
        ),
        (
            Method::POST,
            "/v1/tasks/runs",
            None,
            r#"{"input": "q", "processor": "lite"}"#.into(),
            415,
        ),
        (
            Method::POST,
            "/v1/tasks/runs",
            Some("text/plain"),
            r#"{"input": "q", "processor": "lite"}"#.into(),
            415,
        ),
        (
            Method::POST,
            "/v1/tasks/runs",
            json,
            format!(
                r#"{{"input": "{}", "processor": "lite"}}"#,
                "x".repeat(5000)
            ),
            413,
        ),
        (
            Method::POST,
            "/v1/tasks/runs",
            json,
            r#"{"input": "q", "processor": "lite", "webhook": {"url": "ftp://example.com/h"}}"#
                .into(),
            422,
        ),
        (
            Method::POST,
            "/v1/tasks/runs",
            json,
            r#"{"input": "q", "processor": "lite", "source_policy": {"after_date": "last week"}}"#
                .into(),
            422,
        ),
        (
            Method::GET,
            "/v1/tasks/runs/not-a-run-id",
            None,
            String::new(),
            404,
        ),
        (
            Method::GET,
            "/v1/tasks/runs/trun_00000000000000000000000000000000/result",
            None,
            String::new(),
            404,
        ),
        (
            Method::GET,
            "/v1/tasks/runs/trun_00000000000000000000000000000000/result?timeout=abc",
            None,
            String::new(),
            422,
        ),
        (
            Method::GET,
            "/v1/tasks/runs?status=bogus",
            None,
            String::new(),
            422,
        ),
        (Method::GET, "/v1/nowhere", None, String::new(), 404),
        (Method::DELETE, "/v1/tasks/runs", None, String::new(), 405),
        (
            Method::PUT,
            "/v1/tasks/runs/trun_00000000000000000000000000000000",
            None,
            String::new(),
            405,
        ),
    ];
    for (method, path, ct, body, expected) in cases {
        let (status, json) = send(&server, method.clone(), path, ct, &body).await;
        assert_eq!(status, expected, "{method} {path} {body:.80}: {json}");
    }
    // enable_events is accepted either way; mcp_servers is not refused.
    for body in [
        r#"{"input": "q", "processor": "lite", "enable_events": true}"#,
        r#"{"input": "q", "processor": "lite", "enable_events": false}"#,
    ] {
        let r = server
            .http
            .post(server.url("/v1/tasks/runs"))
            .header("content-type", "application/json")
            .header("parallel-beta", "events-sse-2025-07-24,unknown-beta")
            .header("X-Stainless-Lang", "python")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
}

async fn boom() -> &'static str {
    panic!("kaboom")
}

#[tokio::test]
async fn a_panicking_handler_is_a_json_500_and_the_server_goes_on() {
    use axum::routing::get;
    use tower::ServiceExt;
    let app = forage_server::routes::with_edge_layers(
        axum::Router::new()
            .route("/boom", get(boom))
            .route("/ok", get(|| async { "ok" })),
    );
    let request = |p: &str| {
        axum::http::Request::get(p)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let response = app.clone().oneshot(request("/boom")).await.unwrap();
    assert_eq!(response.status(), 500);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["type"], "error");
    assert!(!json.to_string().contains("kaboom"));
    let response = app.oneshot(request("/ok")).await.unwrap();
    assert_eq!(response.status(), 200);
}
