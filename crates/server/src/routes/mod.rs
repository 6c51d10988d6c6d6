//! The HTTP surface: Parallel's task-run routes (under `/v1` and `/v1beta`), forage's run list,
//! health, and JSON answers for unknown paths, wrong methods and panics.

mod cancel;
mod events;
mod fallback;
mod groups;
mod health;
mod result;
mod runs;
mod webhook_secret;

use std::any::Any;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use forage_api::ApiError;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::api_error_response;
use crate::state::AppState;

/// The whole API.
pub fn router(state: AppState) -> Router {
    let runs = Router::new()
        .route("/tasks/runs", get(runs::list).post(runs::create))
        .route("/tasks/runs/{run_id}", get(runs::retrieve))
        .route("/tasks/runs/{run_id}/result", get(result::result))
        .route("/tasks/runs/{run_id}/input", get(runs::input))
        .route("/tasks/runs/{run_id}/events", get(events::events))
        .route("/tasks/runs/{run_id}/cancel", post(cancel::cancel))
        .merge(groups::routes())
        .route(
            "/forage/webhook-secret",
            get(webhook_secret::webhook_secret),
        )
        .method_not_allowed_fallback(fallback::method_not_allowed);
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .nest("/v1", runs.clone())
        .nest("/v1beta", runs)
        .merge(crate::ui::router())
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .with_state(state);
    with_edge_layers(app)
}

/// What wraps every route: panics become JSON 500s; requests are traced.
pub fn with_edge_layers(app: Router) -> Router {
    app.layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
}

/// A handler panicked: 500 in Parallel's shape; the server keeps serving.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    let err = ApiError::internal("Internal error: the request handler failed unexpectedly");
    tracing::error!(panic = what, ref_id = %err.to_response().error.ref_id, "handler panicked");
    api_error_response(&err)
}
