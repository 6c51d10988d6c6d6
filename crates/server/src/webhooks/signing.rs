//! Webhook signing: each API key's owner has its own secret, derived from the server's secret
//! key (never stored, never logged), and every delivery carries Standard Webhooks headers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use forage_api::Secret;
use forage_store::SecretCipher;
use hmac::{KeyInit, Mac};

/// Derives the signing secret of each owner.
pub struct SigningKeys {
    cipher: SecretCipher,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeys([redacted])")
    }
}

impl SigningKeys {
    pub fn new(cipher: SecretCipher) -> SigningKeys {
        SigningKeys { cipher }
    }

    /// A random key (tests and embedded servers without a key file).
    pub fn ephemeral() -> SigningKeys {
        SigningKeys::new(SecretCipher::from_key(&rand_key()))
    }

    /// `whsec_` + base64 of 32 bytes: HMAC-SHA256 of the server key's derivation key and the
    /// owner's fingerprint. The same for every key of an owner, for as long as the server key.
    pub fn secret_for(&self, owner: &str) -> Secret {
        let mut context = b"webhook-secret:".to_vec();
        context.extend_from_slice(owner.as_bytes());
        Secret::new(format!(
            "whsec_{}",
            STANDARD.encode(self.cipher.derive(&context))
        ))
    }
}

fn rand_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_mut(16).enumerate() {
        let id = uuid::Uuid::new_v4();
        chunk.copy_from_slice(&id.as_bytes()[..16]);
        chunk[0] ^= i as u8;
    }
    key
}

/// `base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The `webhook-signature` value: `v1,<sig>` keyed with the secret string's bytes (as Parallel's
/// examples verify), then a space and `v1,<sig>` keyed with the base64-decoded part after
/// `whsec_` (as Standard Webhooks libraries verify). A verifier accepts when either matches.
pub fn signature_header(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let text = secret.expose();
    let mut header = format!("v1,{}", sign(text.as_bytes(), id, timestamp, body));
    if let Some(decoded) = text
        .strip_prefix("whsec_")
        .and_then(|b| STANDARD.decode(b).ok())
    {
        header.push_str(" v1,");
        header.push_str(&sign(&decoded, id, timestamp, body));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_differ_per_owner_and_are_stable() {
        let keys = SigningKeys::new(SecretCipher::from_key(&[3u8; 32]));
        let a = keys.secret_for("owner-a");
        assert_eq!(a.expose(), keys.secret_for("owner-a").expose());
        assert_ne!(a.expose(), keys.secret_for("owner-b").expose());
        assert!(a.expose().starts_with("whsec_"));
        let other = SigningKeys::new(SecretCipher::from_key(&[4u8; 32]));
        assert_ne!(a.expose(), other.secret_for("owner-a").expose());
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // From the Standard Webhooks specification's test vectors.
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let header = signature_header(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert!(
            header.ends_with(" v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
            "{header}"
        );
    }
}
