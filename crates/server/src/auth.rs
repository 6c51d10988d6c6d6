//! API-key authentication: which owner a request acts for, from the `x-api-key` header or
//! from the web UI's session cookie (an HMAC-signed token naming the key's owner, never the key).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use forage_api::{ApiError, Secret};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::state::AppState;

/// The owner of every run when auth is off.
pub const LOCAL_OWNER: &str = "local";

/// The configured keys, each with its owner fingerprint.
pub struct Auth {
    keys: Vec<(Secret, String)>,
    /// HMAC key of session tokens, derived from every configured key (so a token survives a
    /// restart with the same keys, and knowing one key does not let anyone forge another's).
    session_key: [u8; 32],
}

/// The web UI's session cookie.
pub const SESSION_COOKIE: &str = "forage_session";
/// How long a session token is valid.
pub const SESSION_SECS: u64 = 12 * 60 * 60;
/// The header a cookie-authenticated request that changes state must carry (a cross-site page
/// cannot send it without a CORS preflight, which forage never grants).
pub const UI_HEADER: &str = "x-forage-ui";

impl Auth {
    pub fn new(keys: &[Secret]) -> Auth {
        Auth {
            keys: keys
                .iter()
                .filter(|k| !k.is_empty())
                .map(|k| (k.clone(), fingerprint(k)))
                .collect(),
            session_key: session_key(keys),
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

impl Auth {
    /// A session token for `owner`, valid for [`SESSION_SECS`] from `now` (unix seconds):
    /// `v1.<owner>.<expires>.<hmac>`.
    pub fn session_token(&self, owner: &Owner, now: u64) -> String {
        let payload = format!("v1.{}.{}", owner.0, now + SESSION_SECS);
        let mac = hmac_sha256(&self.session_key, payload.as_bytes());
        format!("{payload}.{}", hex::encode(mac))
    }

    /// The owner a session token names, when its signature holds, it has not expired and its
    /// owner is still one of the configured keys.
    pub fn session_owner(&self, token: &str, now: u64) -> Option<Owner> {
        if self.is_off() {
            return None;
        }
        let (payload, mac) = token.rsplit_once('.')?;
        let mac = hex::decode(mac).ok()?;
        let expected = hmac_sha256(&self.session_key, payload.as_bytes());
        if !bool::from(expected.as_slice().ct_eq(mac.as_slice())) {
            return None;
        }
        let mut parts = payload.split('.');
        let (Some("v1"), Some(owner), Some(expires), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let expires: u64 = expires.parse().ok()?;
        if expires <= now || !self.keys.iter().any(|(_, o)| o == owner) {
            return None;
        }
        Some(Owner(owner.to_owned()))
    }

    /// The owner of a request: its `x-api-key` when it has one, else a valid session cookie
    /// (for a request that changes state, only together with the [`UI_HEADER`] header).
    pub fn request_owner(&self, method: &Method, headers: &HeaderMap) -> Result<Owner, ApiError> {
        let presented = headers.get("x-api-key").map(|v| v.as_bytes());
        if presented.is_some() || self.is_off() {
            return self.authenticate(presented);
        }
        let safe = matches!(*method, Method::GET | Method::HEAD);
        if (safe || headers.contains_key(UI_HEADER))
            && let Some(token) = session_cookie(headers)
            && let Some(owner) = self.session_owner(token, unix_now())
        {
            return Ok(owner);
        }
        Err(ApiError::unauthorized())
    }
}

/// The value of the session cookie in a request's `Cookie` headers.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn session_key(keys: &[Secret]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"forage-ui-session-v1");
    for key in keys.iter().filter(|k| !k.is_empty()) {
        let bytes = key.expose().as_bytes();
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    hasher.finalize().into()
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
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
        let owner = state.auth.request_owner(&parts.method, &parts.headers)?;
        state.admission.take_request(&owner)?;
        Ok(owner)
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
    fn hmac_matches_rfc_4231_shape() {
        // RFC 4231 test case 2 uses a 4-byte key; zero-padding to 32 bytes gives the same MAC.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex::encode(hmac_sha256(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn session_tokens_name_the_owner_and_are_checked() {
        let auth = Auth::new(&["key-a".into(), "key-b".into()]);
        let a = auth.authenticate(Some(b"key-a")).unwrap();
        let token = auth.session_token(&a, 1000);
        assert!(!token.contains("key-a"));
        assert_eq!(auth.session_owner(&token, 1001), Some(a.clone()));
        assert_eq!(auth.session_owner(&token, 1000 + SESSION_SECS), None);
        let b = auth.authenticate(Some(b"key-b")).unwrap();
        let forged = token.replacen(&a.0, &b.0, 1);
        assert_eq!(auth.session_owner(&forged, 1001), None);
        let other = Auth::new(&["key-a".into()]);
        assert_eq!(other.session_owner(&token, 1001), None);
        assert_eq!(auth.session_owner("v1.x.1", 0), None);
    }

    #[test]
    fn cookie_auth_needs_the_ui_header_to_change_state() {
        let auth = Auth::new(&["key-a".into()]);
        let a = auth.authenticate(Some(b"key-a")).unwrap();
        let mut headers = HeaderMap::new();
        let cookie = format!(
            "x=1; {SESSION_COOKIE}={}",
            auth.session_token(&a, unix_now())
        );
        headers.insert(header::COOKIE, cookie.parse().unwrap());
        assert_eq!(auth.request_owner(&Method::GET, &headers).unwrap(), a);
        assert!(auth.request_owner(&Method::POST, &headers).is_err());
        headers.insert(UI_HEADER, "1".parse().unwrap());
        assert_eq!(auth.request_owner(&Method::POST, &headers).unwrap(), a);
        headers.insert("x-api-key", "wrong".parse().unwrap());
        assert!(auth.request_owner(&Method::GET, &headers).is_err());
    }

    #[test]
    fn no_keys_means_local() {
        let auth = Auth::new(&[]);
        assert_eq!(auth.authenticate(None).unwrap().0, LOCAL_OWNER);
    }
}
