//! actix-session's `SessionStore` backed by Postgres, so sessions survive
//! restarts, are shared by every web instance, and can be ended by an admin
//! (deactivation, password change). The cookie key is hashed before storage.

use std::collections::HashMap;

use actix_session::storage::{
    LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key,
};
use actix_web::cookie::time::Duration;
use chrono::Utc;
use sqlx::PgPool;

use crate::credentials::token::sha256_hex;
use crate::domain::StaffId;
use crate::store::sessions::{self, SessionRow};
use crate::web::session::{AUTH_KEYS, LOGIN_ID, STAFF_ID};

type State = HashMap<String, String>;

#[derive(Clone)]
pub struct PgSessionStore {
    pool: PgPool,
}

impl PgSessionStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
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
        let Some(value) = sessions::load(&self.pool, &key_hash(session_key))
            .await
            .map_err(|e| LoadError::Other(e.into()))?
        else {
            return Ok(None);
        };
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
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
        sessions::touch(&self.pool, &key_hash(session_key), expiry(ttl)).await?;
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        sessions::delete(&self.pool, &key_hash(session_key)).await?;
        Ok(())
    }
}
