//! The installation key and what is derived from it (cookie keys, the token
//! key), and encryption at rest for OAuth tokens: AES-256-GCM with a key derived from
//! the installation secret, a fresh random 96-bit nonce per encryption, and
//! associated data binding each ciphertext to its row and purpose (a token
//! copied into another creator's row, or swapped between the access and the
//! refresh column, fails to decrypt). Stored as `nonce || ciphertext || tag`.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 12;

/// Why `SWITCHBOARD_SECRET_KEY` was refused (the caller names the variable).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("expected base64 of 32 random bytes (try `openssl rand -base64 32`)")]
    NotBase64,
    #[error("decodes to {0} bytes, expected exactly 32")]
    WrongLength(usize),
}

/// The 32-byte installation key (token encryption, cookie keys).
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn from_base64(s: &str) -> Result<Self, KeyError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| KeyError::NotBase64)?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| KeyError::WrongLength(b.len()))?;
        Ok(Self(arr))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Derives a purpose-specific subkey, so the cookie key and the token
    /// encryption key are never the same bytes.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("encryption failed")]
    Encrypt,
    #[error("stored token could not be decrypted (wrong key, corrupted, or moved between rows)")]
    Decrypt,
}

#[derive(Clone)]
pub struct TokenCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher([REDACTED])")
    }
}

impl TokenCipher {
    pub fn new(secret: &SecretKey) -> Self {
        let key = secret.derive("switchboard token encryption v1");
        let cipher = Aes256Gcm::new_from_slice(&key).expect("a 32-byte key is valid for AES-256");
        Self { cipher }
    }

    /// `context` names the row and column, e.g. `creator:<uuid>:refresh`.
    pub fn encrypt(&self, plaintext: &SecretString, context: &str) -> Result<Vec<u8>, CryptoError> {
        let nonce = Nonce::generate();
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn decrypt(&self, stored: &[u8], context: &str) -> Result<SecretString, CryptoError> {
        if stored.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = stored.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Decrypt)?;
        let pt = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(pt)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(byte: u8) -> TokenCipher {
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        TokenCipher::new(&SecretKey::from_base64(&key).unwrap())
    }

    #[test]
    fn round_trip_and_no_plaintext_in_ciphertext() {
        let c = cipher(1);
        let token = SecretString::from("eyJhbGciOi.secret-access-token");
        let stored = c.encrypt(&token, "creator:1:access").unwrap();
        assert!(!stored.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            c.decrypt(&stored, "creator:1:access")
                .unwrap()
                .expose_secret(),
            token.expose_secret()
        );
    }

    #[test]
    fn nonce_differs_per_encryption() {
        let c = cipher(1);
        let t = SecretString::from("same");
        assert_ne!(c.encrypt(&t, "x").unwrap(), c.encrypt(&t, "x").unwrap());
    }

    #[test]
    fn wrong_context_key_or_tampering_fails() {
        let c = cipher(1);
        let stored = c
            .encrypt(&SecretString::from("tok"), "creator:1:access")
            .unwrap();
        assert!(c.decrypt(&stored, "creator:2:access").is_err());
        assert!(c.decrypt(&stored, "creator:1:refresh").is_err());
        assert!(cipher(2).decrypt(&stored, "creator:1:access").is_err());
        let mut bad = stored.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(c.decrypt(&bad, "creator:1:access").is_err());
        assert!(c.decrypt(&stored[..10], "creator:1:access").is_err());
    }
}
