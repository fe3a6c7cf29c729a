//! Argon2id password hashing, always on the blocking pool so a login never
//! stalls the async executor, and never more at once than the machine can
//! afford: past that, callers get `Busy` (answered with 503) instead of an
//! unbounded queue of 19 MiB jobs.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

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

/// How long a caller waits for a free hashing slot before giving up.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// At most this share of the machine's memory goes to concurrent hashes.
const MEMORY_SHARE: u64 = 4;

/// Bounds concurrent Argon2 work: one slot per core, fewer if a quarter of
/// the memory cannot hold that many 19 MiB jobs.
pub struct Limiter {
    slots: Arc<tokio::sync::Semaphore>,
    wait: Duration,
}

impl Limiter {
    pub fn new(slots: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            wait,
        }
    }

    fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let per_job = u64::from(M_COST_KIB) * 1024;
        let by_memory =
            total_memory_bytes().map_or(usize::MAX, |m| (m / MEMORY_SHARE / per_job) as usize);
        Self::new(cores.min(by_memory), SLOT_WAIT)
    }

    /// Runs `f` on the blocking pool once a slot is free; `Busy` if none
    /// frees up within the wait.
    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PasswordError> {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        Ok(spawn_blocking_with_tracing(move || {
            let _slot = permit;
            f()
        })
        .await?)
    }
}

/// MemTotal from /proc/meminfo, where there is one.
fn total_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

static LIMITER: LazyLock<Limiter> = LazyLock::new(Limiter::for_this_machine);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("too many password checks at once")]
    Busy,
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
    LIMITER
        .run(move || hash_blocking(password.expose_secret().as_bytes()))
        .await?
}

/// Verifies a password against a stored hash, or against the dummy hash when
/// there is no account, so both paths do the same work. A malformed stored
/// hash counts as a mismatch.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, PasswordError> {
    verify_with(&LIMITER, password, stored).await
}

async fn verify_with(
    limiter: &Limiter,
    password: SecretString,
    stored: Option<String>,
) -> Result<bool, PasswordError> {
    limiter
        .run(move || {
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
    async fn a_saturated_limiter_answers_busy_instead_of_queueing() {
        let limiter = Limiter::new(1, Duration::from_millis(50));
        let h = hash("correct horse battery".to_owned().into())
            .await
            .unwrap();
        let held = limiter.slots.clone().acquire_owned().await.unwrap();
        let r = verify_with(&limiter, "x".to_owned().into(), Some(h.clone())).await;
        assert!(matches!(r, Err(PasswordError::Busy)), "{r:?}");
        drop(held);
        assert!(
            verify_with(&limiter, "correct horse battery".to_owned().into(), Some(h))
                .await
                .unwrap()
        );
        assert_eq!(limiter.slots.available_permits(), 1, "the slot is returned");
    }

    #[test]
    fn the_machine_gets_at_least_one_slot_and_at_most_one_per_core() {
        let l = Limiter::for_this_machine();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        assert!((1..=cores).contains(&l.slots.available_permits()));
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
