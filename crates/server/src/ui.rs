//! The web UI: a runs list and a run page with a live timeline, plain HTML + vanilla JS + CSS
//! embedded in the binary, behind the same API key as the API (a login form sets a session cookie).

mod assets;
mod login;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::state::AppState;

/// The UI's routes: `/`, `/ui/runs/{run_id}`, `/ui/login`, `/ui/logout`, `/ui/assets/{name}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list_page))
        .route("/ui", get(|| async { Redirect::to("/") }))
        .route("/ui/", get(|| async { Redirect::to("/") }))
        .route("/ui/runs/{run_id}", get(run_page))
        .route("/ui/login", get(login::page).post(login::submit))
        .route("/ui/logout", axum::routing::post(login::logout))
        .route("/ui/assets/{name}", get(asset))
}

/// What every UI answer carries: no framing, no sniffing, scripts and styles from forage only.
pub(crate) fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// An HTML page (never cached: it is only served to a signed-in browser).
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    harden(response)
}

/// Whether the browser is signed in (or auth is off).
fn signed_in(state: &AppState, headers: &HeaderMap) -> bool {
    state.auth.request_owner(&Method::GET, headers).is_ok()
}

/// A page for a signed-in browser, else the login form.
fn page(state: &AppState, headers: &HeaderMap, body: &'static str) -> Response {
    if signed_in(state, headers) {
        html(StatusCode::OK, body.to_owned())
    } else {
        harden(Redirect::to("/ui/login").into_response())
    }
}

async fn list_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state, &headers, assets::LIST_HTML)
}

async fn run_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(_run_id): Path<String>,
) -> Response {
    // The page reads the run id from its own URL; nothing from the request is echoed into it.
    page(&state, &headers, assets::RUN_HTML)
}

async fn asset(Path(name): Path<String>) -> Response {
    match assets::asset(&name) {
        Some((content_type, body)) => {
            let mut response = body.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            harden(response)
        }
        None => harden((StatusCode::NOT_FOUND, "no such asset").into_response()),
    }
}

#[cfg(test)]
mod tests;
