//! Token lifecycle for connected creators (DESIGN invariant 4).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::PgPool;

use crate::config::Settings;
use crate::crypto::{CryptoError, TokenCipher};
use crate::domain::CreatorId;
use crate::domain::CreatorStatus;
use crate::fanvue::oauth::{self, OAuthError, Tokens};
use crate::fanvue::{CallAuth, FanvueClient, FanvueError, Priority};
use crate::store::creators::TokenRow;
use crate::store::{self, StoreError};

/// Refresh this long before the access token expires.
pub const REFRESH_BUFFER: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The grant is gone; an admin has to reconnect the creator.
    #[error("the creator must be reconnected")]
    NeedsReauth,
    #[error("the creator is disconnected")]
    Disconnected,
    #[error("Fanvue is not configured (no client id/secret)")]
    NotConfigured,
    #[error(transparent)]
    Api(#[from] FanvueError),
    #[error("token refresh failed: {0}")]
    Refresh(OAuthError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub fn access_context(id: CreatorId) -> String {
    format!("creator:{id}:access")
}

pub fn refresh_context(id: CreatorId) -> String {
    format!("creator:{id}:refresh")
}

/// A creator's tokens encrypted for storage, with the access token's expiry.
pub(super) struct SealedTokens {
    pub access: Vec<u8>,
    pub refresh: Option<Vec<u8>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A usable access token and the rate-limit bucket it draws from.
pub struct AccessToken {
    pub token: SecretString,
    pub bucket: String,
    /// The ciphertext it came from, to tell "someone already refreshed"
    /// from "still the token that just got a 401".
    stored: Vec<u8>,
}

#[derive(Clone)]
pub struct Connections {
    pool: PgPool,
    settings: Arc<Settings>,
    cipher: TokenCipher,
    client: Arc<FanvueClient>,
    oauth_http: reqwest::Client,
    /// One refresh at a time per creator within this process; the advisory
    /// lock does the same across processes.
    locks: Arc<Mutex<HashMap<CreatorId, Arc<tokio::sync::Mutex<()>>>>>,
}

fn expires_at(t: &Tokens) -> Option<DateTime<Utc>> {
    t.expires_in
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() + d)
}

fn fresh(row: &TokenRow) -> bool {
    row.token_expires_at
        .is_none_or(|t| t - REFRESH_BUFFER > Utc::now())
}

impl Connections {
    pub fn new(pool: PgPool, settings: Arc<Settings>, client: Arc<FanvueClient>) -> Self {
        Self {
            cipher: TokenCipher::new(&settings.secret_key),
            oauth_http: oauth::http_client(&settings.fanvue),
            pool,
            settings,
            client,
            locks: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn client(&self) -> &FanvueClient {
        &self.client
    }

    pub fn cipher(&self) -> &TokenCipher {
        &self.cipher
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(super) fn oauth_http(&self) -> &reqwest::Client {
        &self.oauth_http
    }

    /// Encrypts a token pair for creator `id`: the one place tokens are
    /// encrypted, for a first connect as for a refresh.
    pub(super) fn seal(&self, id: CreatorId, t: &Tokens) -> Result<SealedTokens, CryptoError> {
        Ok(SealedTokens {
            access: self.cipher.encrypt(&t.access_token, &access_context(id))?,
            refresh: t
                .refresh_token
                .as_ref()
                .map(|r| self.cipher.encrypt(r, &refresh_context(id)))
                .transpose()?,
            expires_at: expires_at(t),
        })
    }

    fn local_lock(&self, id: CreatorId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id).or_default().clone()
    }

    fn usable(&self, row: &TokenRow) -> Result<AccessToken, ConnectionError> {
        match row.status {
            CreatorStatus::Connected => {}
            CreatorStatus::NeedsReauth => return Err(ConnectionError::NeedsReauth),
            CreatorStatus::Disconnected => return Err(ConnectionError::Disconnected),
        }
        let stored = row
            .access_token_enc
            .clone()
            .ok_or(ConnectionError::Disconnected)?;
        Ok(AccessToken {
            token: self.cipher.decrypt(&stored, &access_context(row.id))?,
            bucket: row.fanvue_uuid.to_string(),
            stored,
        })
    }

    /// A valid access token, refreshed first if it expires within
    /// `REFRESH_BUFFER`.
    pub async fn access_token(&self, id: CreatorId) -> Result<AccessToken, ConnectionError> {
        let row = store::creators::tokens(&self.pool, id).await?;
        if fresh(&row) || row.status != CreatorStatus::Connected {
            return self.usable(&row);
        }
        self.refresh(id, None).await
    }

    /// Refreshes the creator's tokens unless another task or instance did
    /// so meanwhile. `after_401` is the token that was just refused: if the
    /// stored one differs, it is already a newer one and is returned as is.
    pub async fn refresh(
        &self,
        id: CreatorId,
        after_401: Option<&[u8]>,
    ) -> Result<AccessToken, ConnectionError> {
        let app = self
            .settings
            .fanvue
            .app
            .as_ref()
            .ok_or(ConnectionError::NotConfigured)?;
        let local = self.local_lock(id);
        let _held = local.lock().await;
        let mut tx = self.pool.begin().await?;
        store::locks::token_refresh(&mut tx, id).await?;
        // Re-read under the lock: someone may have refreshed already.
        let row = store::creators::lock_tokens(&mut tx, id).await?;
        if row.status != CreatorStatus::Connected {
            return self.usable(&row);
        }
        let already_rotated = match after_401 {
            Some(refused) => row.access_token_enc.as_deref() != Some(refused),
            None => fresh(&row),
        };
        if already_rotated {
            tx.commit().await?;
            return self.usable(&row);
        }
        let Some(refresh_enc) = row.refresh_token_enc.as_deref() else {
            store::creators::mark_needs_reauth(
                &mut tx,
                id,
                "no refresh token was granted (offline_access missing)",
            )
            .await?;
            tx.commit().await?;
            return Err(ConnectionError::NeedsReauth);
        };
        let refresh_token = self.cipher.decrypt(refresh_enc, &refresh_context(id))?;
        match oauth::refresh(&self.oauth_http, &self.settings.fanvue, app, &refresh_token).await {
            Ok(t) => {
                let sealed = self.seal(id, &t)?;
                store::creators::save_refreshed(
                    &mut tx,
                    id,
                    &sealed.access,
                    sealed.refresh.as_deref(),
                    sealed.expires_at,
                    t.scopes.as_deref(),
                )
                .await?;
                tx.commit().await?;
                tracing::info!(creator_id = %id, "refreshed Fanvue access token");
                Ok(AccessToken {
                    token: t.access_token,
                    bucket: row.fanvue_uuid.to_string(),
                    stored: sealed.access,
                })
            }
            Err(OAuthError::InvalidGrant(reason)) => {
                store::creators::mark_needs_reauth(
                    &mut tx,
                    id,
                    &format!("Fanvue refused the refresh token: {reason}"),
                )
                .await?;
                tx.commit().await?;
                tracing::warn!(creator_id = %id, "refresh token refused; creator needs reconnecting");
                Err(ConnectionError::NeedsReauth)
            }
            Err(other) => {
                store::creators::record_api_error(&mut tx, id, &other.to_string()).await?;
                tx.commit().await?;
                Err(ConnectionError::Refresh(other))
            }
        }
    }

    /// Runs one API call for the creator with a valid token; on a 401 it
    /// refreshes once and repeats the call.
    ///
    /// ```ignore
    /// let me = conns.call(id, Priority::Background, |a| async move { client.me(&a).await }).await?;
    /// ```
    pub async fn call<T, F, Fut>(
        &self,
        id: CreatorId,
        priority: Priority,
        f: F,
    ) -> Result<T, ConnectionError>
    where
        F: Fn(CallAuth) -> Fut,
        Fut: Future<Output = Result<T, FanvueError>>,
    {
        self.call_metered(id, priority, None, f).await
    }

    /// `call`, counting the requests it makes on `meter`.
    pub async fn call_metered<T, F, Fut>(
        &self,
        id: CreatorId,
        priority: Priority,
        meter: Option<Arc<crate::fanvue::Meter>>,
        f: F,
    ) -> Result<T, ConnectionError>
    where
        F: Fn(CallAuth) -> Fut,
        Fut: Future<Output = Result<T, FanvueError>>,
    {
        let token = self.access_token(id).await?;
        let first = f(CallAuth {
            token: token.token.clone(),
            bucket: token.bucket.clone(),
            priority,
            meter: meter.clone(),
        })
        .await;
        match first {
            Err(FanvueError::Unauthorized(_)) => {
                let token = self.refresh(id, Some(&token.stored)).await?;
                let second = f(CallAuth {
                    token: token.token.clone(),
                    bucket: token.bucket.clone(),
                    priority,
                    meter: meter.clone(),
                })
                .await;
                if let Err(FanvueError::Unauthorized(msg)) = &second {
                    let mut conn = self.pool.acquire().await?;
                    store::creators::mark_needs_reauth(
                        &mut conn,
                        id,
                        &format!("Fanvue refused a fresh token: {msg}"),
                    )
                    .await?;
                    return Err(ConnectionError::NeedsReauth);
                }
                Ok(second?)
            }
            Err(e) => {
                if matches!(e, FanvueError::InsufficientScope) {
                    let mut conn = self.pool.acquire().await?;
                    store::creators::record_api_error(
                        &mut conn,
                        id,
                        "a call needed a scope this grant lacks",
                    )
                    .await?;
                }
                Err(e.into())
            }
            Ok(v) => Ok(v),
        }
    }
}

#[cfg(test)]
mod send_checks {
    use super::*;
    fn is_send<T: Send>(_: T) {}
    #[allow(dead_code)]
    fn check(c: Arc<FanvueClient>, a: CallAuth, conns: Connections, id: CreatorId) {
        is_send(async move { c.me(&a).await });
        let conns2 = conns.clone();
        is_send(async move { conns2.access_token(id).await });
        is_send(async move { conns.refresh(id, None).await });
    }
    #[allow(dead_code)]
    fn check_oauth(http: reqwest::Client, s: Arc<Settings>, t: SecretString) {
        is_send(async move {
            let app = s.fanvue.app.clone().unwrap();
            oauth::refresh(&http, &s.fanvue, &app, &t).await
        });
    }
}
