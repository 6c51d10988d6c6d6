//! Extractors whose rejections are Parallel-shaped errors (axum's plain-text ones never leave).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use forage_api::{ApiError, RunId};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::AppError;
use crate::state::AppState;

/// The `{run_id}` of a path; a malformed id names no run (404).
pub struct RunIdPath(pub RunId);

impl<S: Send + Sync> FromRequestParts<S> for RunIdPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::run_not_found())?;
        RunId::parse(&text)
            .map(RunIdPath)
            .ok_or_else(|| ApiError::run_not_found().into())
    }
}

/// Query parameters; a bad one is a 422 naming it. Unknown parameters are ignored.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        parse_query(query).map(ApiQuery).map_err(AppError)
    }
}

/// Parses a query string, reporting the parameter at fault.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let field = err.path().to_string();
        let message = err.into_inner().to_string();
        ApiError::new(
            422,
            format!("Unprocessable content: query parameter {field}: {message}"),
        )
        .with_detail(json!({"loc": ["query", field], "msg": message}))
    })
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// A JSON request body read within the configured limit: 415 without a JSON content type,
/// 413 over the limit. Parsing is left to the API's validation (it names fields).
pub struct JsonBytes(pub Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.limits.max_body_bytes;
        let headers = req.headers();
        if !is_json(headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())) {
            return Err(ApiError::unsupported_media_type().into());
        }
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body: Body = req.into_body();
        if declared.is_some_and(|n| n > limit as u64) {
            // Read (and drop) what the client is sending before answering, so it sees the 413
            // rather than a connection reset in the middle of its upload.
            drain(body, drain_cap(limit)).await;
            return Err(ApiError::payload_too_large(limit).into());
        }
        read_within(body, limit).await.map(JsonBytes)
    }
}

/// How much of an oversized body is read and dropped before the 413 (beyond it, the
/// connection is closed instead).
fn drain_cap(limit: usize) -> usize {
    limit.saturating_mul(4).max(16 * 1024 * 1024)
}

/// The body, or 413 once it passes `limit` (what follows is drained, within a bound).
async fn read_within(body: Body, limit: usize) -> Result<Bytes, AppError> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("Could not read the request body"))?;
        if bytes.len() + chunk.len() > limit {
            let mut drained = bytes.len() + chunk.len();
            let cap = drain_cap(limit);
            while drained < cap {
                match stream.next().await {
                    Some(Ok(more)) => drained += more.len(),
                    _ => break,
                }
            }
            return Err(ApiError::payload_too_large(limit).into());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// Reads and drops up to `cap` bytes of `body`.
async fn drain(body: Body, cap: usize) {
    let mut stream = body.into_data_stream();
    let mut drained = 0;
    while drained < cap {
        match stream.next().await {
            Some(Ok(chunk)) => drained += chunk.len(),
            _ => break,
        }
    }
}

/// `application/json` or `application/<x>+json`, with any parameters.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Q {
        timeout: Option<u64>,
    }

    #[test]
    fn bad_query_names_the_parameter() {
        let err = parse_query::<Q>("timeout=abc").unwrap_err();
        assert_eq!(err.status, 422);
        assert!(err.message.contains("timeout"), "{}", err.message);
        assert_eq!(
            parse_query::<Q>("timeout=5&beta=true").unwrap().timeout,
            Some(5)
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/merge-patch+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }
}
