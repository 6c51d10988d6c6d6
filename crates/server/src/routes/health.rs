//! `GET /healthz`: 200 once the server accepts work; no auth.

use axum::Json;
use serde_json::{Value, json};

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
