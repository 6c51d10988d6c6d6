//! The login form: an API key in, a session cookie out (HttpOnly, SameSite=Strict, holding an
//! HMAC-signed token of the key's owner, never the key); and logout.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{assets, harden, html};
use crate::auth::{SESSION_COOKIE, SESSION_SECS, unix_now};
use crate::state::AppState;

/// Where the error line of the login page goes (a fixed text; nothing from the request).
const ERROR_SLOT: &str = "<!--error-->";
const WRONG_KEY: &str =
    r#"<p class="error" id="login-error" role="alert">That API key is not valid.</p>"#;

/// `GET /ui/login`: the form (with auth off there is nothing to sign in to).
pub async fn page(State(state): State<AppState>) -> Response {
    if state.auth.is_off() {
        return harden(Redirect::to("/").into_response());
    }
    html(StatusCode::OK, assets::LOGIN_HTML.to_owned())
}

/// `POST /ui/login` (form `api_key=…`): sets the session cookie and goes to the runs list.
pub async fn submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if state.auth.is_off() {
        return harden(Redirect::to("/").into_response());
    }
    let key = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "api_key")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let owner = match state.auth.authenticate(Some(key.trim().as_bytes())) {
        Ok(owner) => owner,
        Err(_) => {
            tracing::info!("web UI sign-in refused: wrong API key");
            let page = assets::LOGIN_HTML.replace(ERROR_SLOT, WRONG_KEY);
            return html(StatusCode::UNAUTHORIZED, page);
        }
    };
    let token = state.auth.session_token(&owner, unix_now());
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}{}",
        if behind_https(&headers) {
            "; Secure"
        } else {
            ""
        }
    );
    set_cookie(Redirect::to("/").into_response(), &cookie)
}

/// `POST /ui/logout`: clears the cookie.
pub async fn logout(headers: HeaderMap) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if behind_https(&headers) {
            "; Secure"
        } else {
            ""
        }
    );
    set_cookie(Redirect::to("/ui/login").into_response(), &cookie)
}

/// A TLS-terminating proxy in front says so; the cookie is then `Secure`.
fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(mut response: Response, cookie: &str) -> Response {
    // 303 so the browser follows with a GET.
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    harden(response)
}
