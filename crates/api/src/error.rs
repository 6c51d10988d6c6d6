//! The error shape every client-visible failure takes, with its HTTP status.

use serde::Serialize;
use serde_json::Value;

use crate::run::ErrorObject;

/// A failure a client sees: an HTTP status and an `ErrorResponse` body.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub detail: Option<Value>,
    /// Seconds a client should wait before retrying (429, 503).
    pub retry_after: Option<u64>,
}

/// `{"type": "error", "error": ErrorObject}`.
#[derive(Serialize)]
pub struct ErrorResponse {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: ErrorObject,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            detail: None,
            retry_after: None,
        }
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized: invalid or missing credentials")
    }

    pub fn invalid_processor(name: &str) -> Self {
        let known: Vec<String> = crate::Processor::all().map(|p| p.to_string()).collect();
        Self::new(
            403,
            format!(
                "Forbidden: invalid processor in request: '{name}'. Known processors: {}",
                known.join(", ")
            ),
        )
    }

    pub fn run_not_found() -> Self {
        Self::new(404, "Run id not found")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(405, "Method not allowed on this path")
    }

    pub fn still_active() -> Self {
        Self::new(408, "Request timed out; run still active")
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            format!("Request body too large: the limit is {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "Unsupported content type: send the body as JSON with `Content-Type: application/json`",
        )
    }

    /// A request validation error naming the field at fault (`loc` as in FastAPI's shape).
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let text = if field.is_empty() {
            format!("Unprocessable content: {message}")
        } else {
            format!("Unprocessable content: {field}: {message}")
        };
        Self::new(422, text)
            .with_detail(serde_json::json!({"loc": field_loc(field), "msg": message}))
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(429, "Too many requests: quota temporarily exceeded")
        }
    }

    pub fn internal(ref_message: impl Into<String>) -> Self {
        Self::new(500, ref_message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, message)
    }

    pub fn to_response(&self) -> ErrorResponse {
        ErrorResponse {
            kind: "error",
            error: ErrorObject {
                detail: self.detail.clone(),
                ..ErrorObject::new(self.message.clone())
            },
        }
    }
}

/// `mcp_servers[0].url` → `["body", "mcp_servers", 0, "url"]`.
fn field_loc(field: &str) -> Vec<Value> {
    let mut loc = vec![Value::from("body")];
    for part in field.split('.').filter(|p| !p.is_empty()) {
        match split_indices(part) {
            Some((name, indices)) => {
                loc.push(Value::from(name));
                loc.extend(indices.into_iter().map(Value::from));
            }
            None => loc.push(Value::from(part)),
        }
    }
    loc
}

/// `inputs[2][0]` → `("inputs", [2, 0])`; `None` for a part not of that form (a client's map
/// key or unknown field name, which may hold brackets of its own).
fn split_indices(part: &str) -> Option<(&str, Vec<u64>)> {
    let (name, mut rest) = part.split_at(part.find('[')?);
    if name.contains(']') {
        return None;
    }
    let mut indices = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        indices.push(inner[..close].parse().ok()?);
        rest = &inner[close + 1..];
    }
    Some((name, indices))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_field_names_the_field() {
        let err = ApiError::invalid_field("mcp_servers[3].url", "must be an http(s) URL");
        assert_eq!(err.status, 422);
        assert!(err.message.contains("mcp_servers[3].url"));
        assert_eq!(
            err.detail.unwrap()["loc"],
            json!(["body", "mcp_servers", 3, "url"])
        );
    }

    /// Found by fuzzing (`api_request`): a field name with brackets of its own (an unknown
    /// field, a metadata key) made the location parser slice out of bounds and panic.
    #[test]
    fn field_names_with_brackets_of_their_own_stay_whole() {
        for (field, loc) in [
            ("a[]]", json!(["body", "a[]]"])),
            ("metadata.[]]x", json!(["body", "metadata", "[]]x"])),
            ("me][]]]]ls", json!(["body", "me][]]]]ls"])),
            ("a[0]x", json!(["body", "a[0]x"])),
            ("a[b]", json!(["body", "a[b]"])),
            (
                "inputs[2][0].input",
                json!(["body", "inputs", 2, 0, "input"]),
            ),
        ] {
            let err = ApiError::invalid_field(field, "is wrong");
            assert_eq!(err.detail.unwrap()["loc"], loc, "{field}");
        }
    }

    #[test]
    fn response_has_parallel_shape() {
        let body = serde_json::to_value(ApiError::unauthorized().to_response()).unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(
            body["error"]["message"],
            "Unauthorized: invalid or missing credentials"
        );
        assert!(body["error"]["ref_id"].as_str().unwrap().len() >= 32);
    }
}
