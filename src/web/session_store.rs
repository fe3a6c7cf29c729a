//! actix-session's `SessionStore` backed by Postgres, so sessions survive
//! restarts, are shared by every web instance, and can be ended by an admin
//! (deactivation, password change). The cookie key is hashed before storage.
//!
//! Only signed-in sessions get a row. An anonymous visitor's state (the
//! login form's CSRF token, a flash) travels inside the session cookie
//! itself, which actix-session signs with the installation key, so anonymous
//! requests cannot grow the table. Such a state can never carry a login:
//! `load` drops any auth key found in one.

use std::collections::HashMap;
use std::sync::Arc;

use actix_session::storage::{
    LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key,
};
use actix_web::cookie::time::Duration;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use parking_lot::Mutex;
use sqlx::PgPool;

use crate::credentials::token::sha256_hex;
use crate::domain::StaffId;
use crate::store::sessions::{self, SessionRow};
use crate::web::session::{AUTH_KEYS, LOGIN_ID, STAFF_ID};

type State = HashMap<String, String>;

#[derive(Clone)]
pub struct PgSessionStore {
    pool: PgPool,
    /// The idle deadline each stored session had when this worker last
    /// loaded it, until the same request's `update_ttl` reads it: a deadline
    /// that would move by less than `TOUCH_STEP` needs no statement at all
    /// (the touch would match no row). Revocation is unaffected: every
    /// request still loads its row.
    loaded: Arc<Mutex<HashMap<String, chrono::DateTime<Utc>>>>,
}

/// `sessions::touch` writes only when the deadline moves at least this far.
const TOUCH_STEP: chrono::Duration = chrono::Duration::seconds(60);
/// Bounds `loaded` should requests end without reaching the store again.
const MAX_LOADED: usize = 10_000;

impl PgSessionStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            loaded: Arc::default(),
        }
    }

    fn remember(&self, hash: String, expires_at: chrono::DateTime<Utc>) {
        let mut loaded = self.loaded.lock();
        if loaded.len() >= MAX_LOADED {
            loaded.clear();
        }
        loaded.insert(hash, expires_at);
    }

    fn forget(&self, hash: &str) -> Option<chrono::DateTime<Utc>> {
        self.loaded.lock().remove(hash)
    }
}

/// Cookie keys that carry an anonymous state instead of naming a row.
const ANON_PREFIX: &str = "a.";

/// Leaves room under actix-session's 4064-byte key limit for signing.
const ANON_MAX_KEY: usize = 3000;

#[derive(serde::Serialize, serde::Deserialize)]
struct AnonState {
    /// Unix time after which the state is void (the idle timeout).
    exp: i64,
    state: State,
}

fn is_anonymous(state: &State) -> bool {
    !state.keys().any(|k| AUTH_KEYS.contains(&k.as_str()))
}

/// The anonymous state as a cookie key, or None when it is too big for one.
fn encode_anonymous(state: &State, ttl: &Duration) -> Option<SessionKey> {
    let json = serde_json::to_vec(&AnonState {
        exp: expiry(ttl).timestamp(),
        state: state.clone(),
    })
    .ok()?;
    let key = format!("{ANON_PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
    if key.len() > ANON_MAX_KEY {
        return None;
    }
    SessionKey::try_from(key).ok()
}

/// The state inside an anonymous key; None when it is not one, is expired
/// or malformed. Auth keys are dropped whatever the cookie says.
fn decode_anonymous(key: &SessionKey) -> Option<Option<State>> {
    let raw = key.as_ref().strip_prefix(ANON_PREFIX)?;
    let decoded = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| serde_json::from_slice::<AnonState>(&b).ok())
        .filter(|a| a.exp > Utc::now().timestamp())
        .map(|mut a| {
            a.state.retain(|k, _| !AUTH_KEYS.contains(&k.as_str()));
            a.state
        });
    Some(decoded)
}

fn key_hash(key: &SessionKey) -> String {
    sha256_hex(key.as_ref())
}

fn expiry(ttl: &Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(ttl.whole_seconds())
}

/// Values in the state are JSON-encoded by actix-session.
fn staff_of(state: &State) -> Option<StaffId> {
    state
        .get(STAFF_ID)
        .and_then(|v| serde_json::from_str(v).ok())
}

fn login_id_of(state: &State) -> Option<String> {
    state
        .get(LOGIN_ID)
        .and_then(|v| serde_json::from_str(v).ok())
}

impl SessionStore for PgSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        if let Some(anonymous) = decode_anonymous(session_key) {
            return Ok(anonymous);
        }
        let hash = key_hash(session_key);
        let Some((value, expires_at)) = sessions::load(&self.pool, &hash)
            .await
            .map_err(|e| LoadError::Other(e.into()))?
        else {
            return Ok(None);
        };
        self.remember(hash, expires_at);
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        if is_anonymous(&state)
            && let Some(key) = encode_anonymous(&state, ttl)
        {
            return Ok(key);
        }
        let key = generate_session_key();
        let json = serde_json::to_value(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let login_id = login_id_of(&state);
        sessions::insert(
            &self.pool,
            SessionRow {
                key_hash: &key_hash(&key),
                staff_id: staff_of(&state),
                login_id: login_id.as_deref(),
                state: &json,
                expires_at: expiry(ttl),
            },
        )
        .await
        .map_err(|e| SaveError::Other(e.into()))?;
        Ok(key)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: State,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        if session_key.as_ref().starts_with(ANON_PREFIX) {
            // Nothing stored to update: the new state gets a new key.
            return self.save(state, ttl).await.map_err(|e| match e {
                SaveError::Serialization(e) => UpdateError::Serialization(e),
                SaveError::Other(e) => UpdateError::Other(e),
            });
        }
        self.forget(&key_hash(&session_key));
        let json =
            serde_json::to_value(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let login_id = login_id_of(&state);
        let updated = sessions::update(
            &self.pool,
            SessionRow {
                key_hash: &key_hash(&session_key),
                staff_id: staff_of(&state),
                login_id: login_id.as_deref(),
                state: &json,
                expires_at: expiry(ttl),
            },
        )
        .await
        .map_err(|e| UpdateError::Other(e.into()))?;
        if updated {
            Ok(session_key)
        } else {
            // The row was revoked or expired meanwhile: never resurrect it,
            // and never carry a login into a new key (a revoked session must
            // stay signed out); keep only the anonymous state.
            let mut state = state;
            state.retain(|k, _| !AUTH_KEYS.contains(&k.as_str()));
            self.save(state, ttl).await.map_err(|e| match e {
                SaveError::Serialization(e) => UpdateError::Serialization(e),
                SaveError::Other(e) => UpdateError::Other(e),
            })
        }
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &Duration,
    ) -> Result<(), anyhow::Error> {
        if session_key.as_ref().starts_with(ANON_PREFIX) {
            // An anonymous state's deadline is inside its key; it is renewed
            // whenever the state changes.
            return Ok(());
        }
        let hash = key_hash(session_key);
        let wanted = expiry(ttl);
        if self
            .forget(&hash)
            .is_some_and(|loaded| loaded >= wanted - TOUCH_STEP)
        {
            return Ok(());
        }
        sessions::touch(&self.pool, &hash, wanted).await?;
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        if session_key.as_ref().starts_with(ANON_PREFIX) {
            return Ok(());
        }
        let hash = key_hash(session_key);
        self.forget(&hash);
        sessions::delete(&self.pool, &hash).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl() -> Duration {
        Duration::seconds(3600)
    }

    #[test]
    fn anonymous_state_round_trips_through_its_key() {
        let mut state = State::new();
        state.insert("csrf".into(), "\"tok\"".into());
        let key = encode_anonymous(&state, &ttl()).unwrap();
        assert!(key.as_ref().starts_with(ANON_PREFIX));
        assert_eq!(decode_anonymous(&key), Some(Some(state)));
    }

    #[test]
    fn an_anonymous_key_never_carries_a_login() {
        let mut state = State::new();
        state.insert(
            STAFF_ID.into(),
            "\"00000000-0000-0000-0000-000000000001\"".into(),
        );
        state.insert("csrf".into(), "\"tok\"".into());
        let json = serde_json::to_vec(&AnonState {
            exp: Utc::now().timestamp() + 60,
            state,
        })
        .unwrap();
        let key =
            SessionKey::try_from(format!("{ANON_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))).unwrap();
        let loaded = decode_anonymous(&key).unwrap().unwrap();
        assert!(!loaded.contains_key(STAFF_ID));
        assert!(loaded.contains_key("csrf"));
    }

    #[test]
    fn an_expired_or_garbled_anonymous_key_is_empty() {
        let json = serde_json::to_vec(&AnonState {
            exp: Utc::now().timestamp() - 1,
            state: State::new(),
        })
        .unwrap();
        let old =
            SessionKey::try_from(format!("{ANON_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))).unwrap();
        assert_eq!(decode_anonymous(&old), Some(None));
        let junk = SessionKey::try_from(format!("{ANON_PREFIX}!!")).unwrap();
        assert_eq!(decode_anonymous(&junk), Some(None));
        assert_eq!(decode_anonymous(&generate_session_key()), None);
    }
}
