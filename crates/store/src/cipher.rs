//! Encryption at rest for secrets (MCP header values): AES-256-GCM with a key kept apart from the database.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::StoreError;

/// Seals and opens secrets with one 256-bit key.
#[derive(Clone)]
pub struct SecretCipher {
    cipher: Aes256Gcm,
    /// HMAC key for `derive`, itself derived from the key (never the key).
    derive: [u8; 32],
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher([redacted])")
    }
}

impl SecretCipher {
    pub fn from_key(key: &[u8; 32]) -> Self {
        SecretCipher {
            cipher: Aes256Gcm::new(key.into()),
            derive: hmac_sha256(key, b"forage derive v1"),
        }
    }

    /// A key written as 44 characters of standard base64 (`FORAGE_SECRET_KEY`, key file).
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| StoreError::Secrets("the secret key is not valid base64".into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            StoreError::Secrets("the secret key must be 32 bytes (44 base64 characters)".into())
        })?;
        Ok(Self::from_key(&key))
    }

    /// A 32-byte value derived from the key for `context` (HMAC-SHA256): stable while the key
    /// is, different per context, revealing nothing of the key or of other contexts.
    pub fn derive(&self, context: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.derive, context)
    }

    /// A fresh random key, base64-encoded, for a new key file.
    pub fn generate_key_base64() -> String {
        let key: [u8; 32] = rand::random();
        STANDARD.encode(key)
    }

    /// `nonce || ciphertext`, base64.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, StoreError> {
        let nonce_bytes: [u8; 12] = rand::random();
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce_bytes), plaintext)
            .map_err(|_| StoreError::Secrets("encryption failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, StoreError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| StoreError::Secrets("sealed secret is not base64".into()))?;
        if bytes.len() < 12 {
            return Err(StoreError::Secrets("sealed secret is too short".into()));
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().expect("split at 12");
        self.cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| {
                StoreError::Secrets(
                    "cannot decrypt stored secrets: the secret key differs from the one they were written with".into(),
                )
            })
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit as _, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let cipher = SecretCipher::from_base64(&SecretCipher::generate_key_base64()).unwrap();
        let sealed = cipher.seal(b"Bearer s3cr3t").unwrap();
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(cipher.open(&sealed).unwrap(), b"Bearer s3cr3t");
    }

    #[test]
    fn another_key_cannot_open() {
        let a = SecretCipher::from_base64(&SecretCipher::generate_key_base64()).unwrap();
        let b = SecretCipher::from_base64(&SecretCipher::generate_key_base64()).unwrap();
        let err = b.open(&a.seal(b"x").unwrap()).unwrap_err().to_string();
        assert!(err.contains("secret key differs"), "{err}");
    }
}
