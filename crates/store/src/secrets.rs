//! Keeps MCP header values out of the database in clear: the request is stored redacted and
//! the header values are sealed with the `SecretCipher` beside it. Shared by both stores.

use std::collections::BTreeMap;

use forage_api::TaskRunCreate;

use crate::sqlite::codec::{from_json, to_json};
use crate::{SecretCipher, StoreError};

/// The request as stored: redacted JSON and the sealed header values (`None` when there are none).
pub(crate) fn seal_request(
    cipher: &SecretCipher,
    request: &TaskRunCreate,
) -> Result<(String, Option<String>), StoreError> {
    // `Secret` serializes as "[redacted]", so this JSON holds no header value. Fields left out
    // read back as absent, so they are not stored as `null`.
    let mut redacted = request.to_echo();
    if let serde_json::Value::Object(fields) = &mut redacted {
        fields.retain(|_, value| !value.is_null());
    }
    let redacted = to_json("request", &redacted)?;
    let secrets = request.mcp_header_secrets();
    let sealed = if secrets.is_empty() {
        None
    } else {
        let clear = serde_json::to_vec(&secrets)
            .map_err(|e| StoreError::Secrets(format!("cannot encode header values: {e}")))?;
        Some(cipher.seal(&clear)?)
    };
    Ok((redacted, sealed))
}

/// The request with its header values in clear again.
pub(crate) fn open_request(
    cipher: &SecretCipher,
    stored: &str,
    sealed: Option<&str>,
) -> Result<TaskRunCreate, StoreError> {
    let mut request: TaskRunCreate = from_json("stored request", stored)?;
    if let Some(sealed) = sealed {
        let clear = cipher.open(sealed)?;
        let secrets: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_slice(&clear)
            .map_err(|e| {
                StoreError::Corrupt(format!("sealed header values are not valid JSON: {e}"))
            })?;
        request.restore_mcp_header_secrets(&secrets);
    }
    Ok(request)
}
