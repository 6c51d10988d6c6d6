//! Router tests of the web UI: sign-in sets a signed cookie (never the key), the cookie then
//! authenticates the API, pages need it, assets are served with a strict CSP.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use forage_store::{SecretCipher, SqliteStore};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::auth::Auth;
use crate::state::AppState;

const KEY: &str = "ui-test-key-9f2c";

fn app(keys: &[&str]) -> axum::Router {
    let cipher = SecretCipher::from_base64(&SecretCipher::generate_key_base64()).unwrap();
    let store = Arc::new(SqliteStore::open_in_memory(cipher).unwrap());
    let keys: Vec<forage_api::Secret> = keys.iter().map(|k| (*k).into()).collect();
    crate::router(AppState::new(
        store,
        Auth::new(&keys),
        crate::Config::default().request_limits(),
    ))
}

async fn send(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut rb = Request::get(path);
    if let Some(c) = cookie {
        rb = rb.header(header::COOKIE, c);
    }
    rb.body(Body::empty()).unwrap()
}

fn login(key: &str) -> Request<Body> {
    Request::post("/ui/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("api_key={key}")))
        .unwrap()
}

#[tokio::test]
async fn sign_in_sets_a_signed_cookie_that_authenticates_the_api() {
    let app = app(&[KEY]);
    let (status, headers, _) = send(&app, get("/", None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/login");
    let (status, _, body) = send(&app, get("/v1/tasks/runs", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let (status, _, body) = send(&app, login("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("not valid"), "{body}");

    let (status, headers, _) = send(&app, login(KEY)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(!set.contains(KEY), "the cookie never holds the key: {set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();

    let (status, headers, body) = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<table id=\"runs\">"));
    assert!(!body.contains(KEY));
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let (status, _, body) = send(&app, get("/v1/tasks/runs", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A state-changing request with only the cookie needs the UI header.
    let post = |ui: bool| {
        let mut rb = Request::post("/v1/tasks/runs")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/json");
        if ui {
            rb = rb.header("x-forage-ui", "1");
        }
        rb.body(Body::from("{}")).unwrap()
    };
    let (status, _, _) = send(&app, post(false)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(&app, post(true)).await;
    assert_ne!(status, StatusCode::UNAUTHORIZED);

    // A tampered cookie is refused.
    let tampered = format!("{}0", cookie);
    let (status, _, _) = send(&app, get("/v1/tasks/runs", Some(&tampered))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn with_auth_off_there_is_no_login() {
    let app = app(&[]);
    let (status, _, body) = send(&app, get("/", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Runs"));
    let (status, headers, _) = send(&app, get("/ui/login", None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/");
}

#[tokio::test]
async fn assets_are_served_and_unknown_ones_are_not() {
    let app = app(&[KEY]);
    let (status, headers, body) = send(&app, get("/ui/assets/run.js", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(!body.contains("innerHTML"), "the UI never uses innerHTML");
    let (status, _, _) = send(&app, get("/ui/assets/nope.js", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = send(&app, get("/ui/runs/trun_x", None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
}
