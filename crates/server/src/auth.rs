//! API-key authentication: which owner a request acts for.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use forage_api::{ApiError, Secret};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::state::AppState;

/// The owner of every run when auth is off.
pub const LOCAL_OWNER: &str = "local";

/// The configured keys, each with its owner fingerprint.
pub struct Auth {
    keys: Vec<(Secret, String)>,
}

impl Auth {
    pub fn new(keys: &[Secret]) -> Auth {
        Auth {
            keys: keys
                .iter()
                .filter(|k| !k.is_empty())
                .map(|k| (k.clone(), fingerprint(k)))
                .collect(),
        }
    }

    /// No keys configured: every request is the local owner.
    pub fn is_off(&self) -> bool {
        self.keys.is_empty()
    }

    /// The owner for a presented key. Compares against every key, without stopping early.
    pub fn authenticate(&self, presented: Option<&[u8]>) -> Result<Owner, ApiError> {
        if self.is_off() {
            return Ok(Owner(LOCAL_OWNER.to_owned()));
        }
        let presented = presented
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(ApiError::unauthorized)?;
        let mut found: Option<&str> = None;
        for (key, owner) in &self.keys {
            if key.constant_time_eq(presented) && found.is_none() {
                found = Some(owner);
            }
        }
        found
            .map(|o| Owner(o.to_owned()))
            .ok_or_else(ApiError::unauthorized)
    }
}

/// A key's owner id: SHA-256 of the key, first 16 bytes, hex.
pub fn fingerprint(key: &Secret) -> String {
    let digest = Sha256::digest(key.expose().as_bytes());
    hex::encode(&digest[..16])
}

/// The authenticated owner of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner(pub String);

impl FromRequestParts<AppState> for Owner {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts.headers.get("x-api-key").map(|v| v.as_bytes());
        Ok(state.auth.authenticate(presented)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_distinct_fingerprints() {
        let auth = Auth::new(&["a".into(), "b".into()]);
        let a = auth.authenticate(Some(b"a")).unwrap();
        let b = auth.authenticate(Some(b"b")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.0.len(), 32);
        assert_eq!(auth.authenticate(Some(b"c")).unwrap_err().status, 401);
        assert_eq!(auth.authenticate(None).unwrap_err().status, 401);
    }

    #[test]
    fn no_keys_means_local() {
        let auth = Auth::new(&[]);
        assert_eq!(auth.authenticate(None).unwrap().0, LOCAL_OWNER);
    }
}
