//! The one conversion at the edge: every failure a client sees becomes Parallel's error shape.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use forage_api::ApiError;
use forage_store::StoreError;

/// A handler's failure.
#[derive(Debug)]
pub struct AppError(pub ApiError);

impl From<ApiError> for AppError {
    fn from(err: ApiError) -> Self {
        AppError(err)
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        if let StoreError::CapReached(cap) = err {
            return AppError(crate::admission::refusal(cap));
        }
        let api = ApiError::internal("Internal error: the run store failed; try again");
        let ref_id = api.to_response().error.ref_id;
        tracing::error!(error = %err, %ref_id, "store error");
        AppError(api)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        api_error_response(&self.0)
    }
}

/// `ApiError` as an HTTP response with its `Retry-After` header where it has one.
pub fn api_error_response(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(err.to_response())).into_response();
    if let Some(secs) = err.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

pub type AppResult<T> = Result<T, AppError>;
