//! `GET /v1/forage/webhook-secret`: the caller's webhook signing secret, to verify the
//! `webhook-signature` of deliveries for its runs (derived per API key owner, never stored).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::auth::Owner;
use crate::error::AppResult;
use crate::state::AppState;

pub async fn webhook_secret(State(state): State<AppState>, owner: Owner) -> AppResult<Json<Value>> {
    let secret = state.signing.secret_for(&owner.0);
    Ok(Json(json!({
        "secret": secret.expose(),
        "signature_scheme": "v1: base64 HMAC-SHA256 over \"{webhook-id}.{webhook-timestamp}.{body}\"; \
                             keyed with this string's bytes, and with the base64-decoded part after whsec_",
    })))
}
