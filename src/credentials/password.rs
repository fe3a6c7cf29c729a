//! Argon2id password hashing, always on the blocking pool so a login never
//! stalls the async executor.

use std::sync::LazyLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::telemetry::spawn_blocking_with_tracing;

/// OWASP's recommended Argon2id setting: 19 MiB memory, 2 passes, 1 lane,
/// 32-byte output. Stored hashes carry their parameters, so raising these
/// later still verifies old hashes.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(32))
        .expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A real hash of a random password with the same parameters. Unknown emails
/// are verified against it, so they cost the same time as known ones.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let pw = uuid::Uuid::new_v4().to_string();
    hash_blocking(pw.as_bytes()).expect("hashing a constant-length password succeeds")
});

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

fn hash_blocking(pw: &[u8]) -> Result<String, PasswordError> {
    let h: PasswordHash = hasher()
        .hash_password(pw)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(h.to_string())
}

/// Hashes a new password (PHC string, salt included).
pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    spawn_blocking_with_tracing(move || hash_blocking(password.expose_secret().as_bytes())).await?
}

/// Verifies a password against a stored hash, or against the dummy hash when
/// there is no account, so both paths do the same work. A malformed stored
/// hash counts as a mismatch.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, PasswordError> {
    spawn_blocking_with_tracing(move || {
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH.as_str(), false),
        };
        let ok = hasher()
            .verify_password(password.expose_secret().as_bytes(), hash)
            .is_ok();
        ok && real
    })
    .await
    .map_err(PasswordError::from)
}

/// Builds the dummy hash ahead of the first login (called at start-up).
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hash("correct horse battery".to_owned().into())
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify("correct horse battery".to_owned().into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("wrong horse battery".to_owned().into(), Some(h))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_account_never_verifies() {
        assert!(
            !verify("anything at all".to_owned().into(), None)
                .await
                .unwrap()
        );
        assert!(
            !verify("x".to_owned().into(), Some("not a phc string".into()))
                .await
                .unwrap()
        );
    }
}
