//! JSON answers for unknown paths (404) and wrong methods (405).

use forage_api::ApiError;

use crate::error::AppError;

pub async fn not_found() -> AppError {
    ApiError::not_found("Not found: no such path in this API").into()
}

pub async fn method_not_allowed() -> AppError {
    ApiError::method_not_allowed().into()
}
