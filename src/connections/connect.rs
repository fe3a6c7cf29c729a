//! Connecting a creator's Fanvue account, without HTTP. `begin_connect`
//! stores a flow (PKCE verifier encrypted, state hashed) bound to the
//! admin's agency, person and login — single use, 10 minutes — and yields
//! Fanvue's authorize URL. `complete_connect` takes the callback: validates
//! it against the stored flow, exchanges the code, reads `/users/me`, stores
//! the tokens encrypted and audits. It never trusts the callback for
//! anything the stored flow says, and stores nothing when it refuses.

use chrono::Utc;
use serde::Deserialize;

use super::Connections;
use super::tokens::SealedTokens;
use crate::config::FanvueApp;
use crate::credentials::token::sha256_hex;
use crate::crypto::CryptoError;
use crate::domain::AuditAction;
use crate::domain::{AgencyId, CreatorId, StaffId};
use crate::fanvue::models::User;
use crate::fanvue::oauth::{self, OAuthError, Tokens};
use crate::fanvue::{CallAuth, FanvueError, Priority};
use crate::store::audit::AuditEntry;
use crate::store::oauth_flows::Flow;
use crate::store::{self, StoreError};

/// How long a started connect flow stays valid.
pub const FLOW_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// The admin connecting a creator, as their session identifies them.
pub struct Initiator<'a> {
    pub agency_id: AgencyId,
    pub staff_id: StaffId,
    /// The login (session) that started the flow; only it may finish it.
    pub login_id: Option<&'a str>,
    pub client_ip: &'a str,
}

impl Initiator<'_> {
    fn audit<'b>(
        &'b self,
        action: AuditAction,
        target: &'b str,
        details: serde_json::Value,
    ) -> AuditEntry<'b> {
        AuditEntry {
            agency_id: Some(self.agency_id),
            actor_id: Some(self.staff_id),
            action,
            target: Some(target),
            details,
            client_ip: Some(self.client_ip),
        }
    }
}

/// What Fanvue's redirect back to Switchboard carries.
#[derive(Debug, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A creator connected (or reconnected) by `complete_connect`.
#[derive(Debug)]
pub struct Connected {
    pub creator_id: CreatorId,
    pub handle: String,
    pub reconnected: bool,
}

/// Why a connection was not made. For the refusals, the message is the
/// explanation shown to the admin; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    #[error("Fanvue's answer did not include the state of this connection. Start again.")]
    MissingState,
    #[error(
        "This connection attempt is unknown or was already completed. Start again from Creators."
    )]
    UnknownFlow,
    #[error(
        "This connection was started from another session. For your security it has been cancelled; start again from your own session."
    )]
    ForeignSession,
    #[error("More than 10 minutes passed since the connection started. Start again.")]
    Expired,
    #[error(
        "The creator declined access on Fanvue, so nothing was connected. You can try again whenever they are ready."
    )]
    Denied,
    #[error("Fanvue reported an error ({0}). Nothing was connected.")]
    FanvueRefused(String),
    #[error("Fanvue's answer did not include an authorization code. Start again.")]
    MissingCode,
    #[error("Fanvue is not configured (no client id/secret)")]
    NotConfigured,
    #[error("{}", exchange_message(.0))]
    Exchange(OAuthError),
    #[error("Fanvue did not return the account's profile: {0}. Nothing was connected.")]
    Profile(FanvueError),
    #[error(
        "@{0} is not a Fanvue creator account. Sign in to Fanvue as the creator you want to connect."
    )]
    NotACreator(String),
    #[error(
        "@{0} is connected to another agency in Switchboard. A creator can be managed by one agency at a time; that agency must remove the creator first."
    )]
    OtherAgency(String),
    #[error(
        "You approved as @{0} on Fanvue, but the reconnect was for another creator. Sign in to Fanvue as the right creator and try again."
    )]
    WrongAccount(String),
    #[error("This creator was just connected by another agency.")]
    JustTaken,
    #[error("a connect flow was started by a session without a login id")]
    NoLogin,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn exchange_message(e: &OAuthError) -> String {
    match e {
        OAuthError::InvalidGrant(_) => "Fanvue did not accept the authorization (it may have been used already or expired). Start again.".to_owned(),
        OAuthError::InvalidClient(_) => "Fanvue refused Switchboard's app credentials. An operator needs to check FANVUE_CLIENT_ID and FANVUE_CLIENT_SECRET.".to_owned(),
        other => format!("Fanvue could not complete the connection: {other}."),
    }
}

/// Associated data binding an encrypted PKCE verifier to its flow.
fn flow_context(state_hash: &str) -> String {
    format!("oauth_flow:{state_hash}")
}

impl Connections {
    fn app(&self) -> Result<&FanvueApp, ConnectFailure> {
        let app = self.settings().fanvue.app.as_ref();
        app.ok_or(ConnectFailure::NotConfigured)
    }

    /// Starts a connect flow (or a reconnect of `reconnect`, which must be a
    /// creator of the initiator's agency) and returns the URL to send the
    /// browser to.
    pub async fn begin_connect(
        &self,
        who: &Initiator<'_>,
        reconnect: Option<CreatorId>,
    ) -> Result<String, ConnectFailure> {
        if let Some(id) = reconnect {
            store::creators::get(self.pool(), who.agency_id, id).await?;
        }
        let settings = self.settings();
        let app = self.app()?;
        let login_id = who.login_id.ok_or(ConnectFailure::NoLogin)?;
        let pkce = oauth::new_pkce();
        let state = oauth::new_state();
        let state_hash = sha256_hex(&state);
        let verifier_enc = self
            .cipher()
            .encrypt(&pkce.verifier, &flow_context(&state_hash))?;
        store::oauth_flows::create(
            self.pool(),
            store::oauth_flows::NewFlow {
                state_hash: &state_hash,
                agency_id: who.agency_id,
                staff_id: who.staff_id,
                login_id,
                pkce_verifier_enc: &verifier_enc,
                reconnect_creator_id: reconnect,
                expires_at: Utc::now() + FLOW_TTL,
            },
        )
        .await?;
        Ok(oauth::authorize_url(
            &settings.fanvue,
            app,
            &settings.oauth_redirect_uri(),
            &state,
            &pkce.challenge,
        ))
    }

    /// Finishes the flow Fanvue's callback names. Failed attempts that got
    /// as far as Fanvue's answer are audited as `creator.connect_failed`.
    #[tracing::instrument(skip_all, fields(staff_id = %who.staff_id))]
    pub async fn complete_connect(
        &self,
        who: &Initiator<'_>,
        cb: Callback,
    ) -> Result<Connected, ConnectFailure> {
        let state = cb
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(ConnectFailure::MissingState)?;
        let state_hash = sha256_hex(state);
        // Taking the flow burns it: a replayed callback finds nothing.
        let flow = store::oauth_flows::take(self.pool(), &state_hash)
            .await?
            .ok_or(ConnectFailure::UnknownFlow)?;
        if flow.agency_id != who.agency_id
            || flow.staff_id != who.staff_id
            || who.login_id != Some(flow.login_id.as_str())
        {
            tracing::warn!("OAuth callback from a session that did not start the flow");
            return Err(ConnectFailure::ForeignSession);
        }
        if flow.expires_at < Utc::now() {
            return Err(ConnectFailure::Expired);
        }
        if let Some(err) = cb.error {
            let detail = cb.error_description.unwrap_or_default();
            let details = serde_json::json!({ "error": err, "description": detail });
            self.audit_failure(who, "fanvue", details).await?;
            return Err(if err == "access_denied" {
                ConnectFailure::Denied
            } else {
                ConnectFailure::FanvueRefused(err)
            });
        }
        let code = cb
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(ConnectFailure::MissingCode)?;
        let tokens = self.exchange(who, &flow, &state_hash, code).await?;
        let user = self
            .client()
            .me(&CallAuth {
                token: tokens.access_token.clone(),
                bucket: format!("connect:{state_hash}"),
                priority: Priority::Interactive,
                meter: None,
            })
            .await
            .map_err(ConnectFailure::Profile)?;
        if user.is_creator == Some(false) {
            return Err(ConnectFailure::NotACreator(user.handle));
        }
        self.save_connection(who, &flow, &tokens, user).await
    }

    /// Trades the authorization code (with the flow's PKCE verifier) for
    /// tokens; a refusal is audited.
    async fn exchange(
        &self,
        who: &Initiator<'_>,
        flow: &Flow,
        state_hash: &str,
        code: &str,
    ) -> Result<Tokens, ConnectFailure> {
        let settings = self.settings();
        let app = self.app()?;
        let verifier = self
            .cipher()
            .decrypt(&flow.pkce_verifier_enc, &flow_context(state_hash))?;
        let redirect_uri = settings.oauth_redirect_uri();
        match oauth::exchange_code(
            self.oauth_http(),
            &settings.fanvue,
            app,
            &redirect_uri,
            code,
            &verifier,
        )
        .await
        {
            Ok(t) => Ok(t),
            Err(e) => {
                tracing::warn!(error = %e, "authorization code exchange failed");
                let details = serde_json::json!({ "error": e.to_string() });
                self.audit_failure(who, "fanvue", details).await?;
                Err(ConnectFailure::Exchange(e))
            }
        }
    }

    /// Upserts the creator with its encrypted tokens, makes its sync due and
    /// audits, in one transaction; enforces one agency per creator.
    async fn save_connection(
        &self,
        who: &Initiator<'_>,
        flow: &Flow,
        tokens: &Tokens,
        user: User,
    ) -> Result<Connected, ConnectFailure> {
        let mut tx = self.pool().begin().await.map_err(StoreError::from)?;
        let existing = store::creators::owner_of(&mut tx, user.uuid).await?;
        let id = match existing {
            Some((_, agency)) if agency != who.agency_id => {
                drop(tx);
                let details = serde_json::json!({ "error": "connected to another agency" });
                self.audit_failure(who, &user.handle, details).await?;
                return Err(ConnectFailure::OtherAgency(user.handle));
            }
            Some((id, _)) => id,
            None => CreatorId::new(),
        };
        if flow.reconnect_creator_id.is_some_and(|target| target != id) {
            return Err(ConnectFailure::WrongAccount(user.handle));
        }
        let SealedTokens {
            access,
            refresh,
            expires_at,
        } = self.seal(id, tokens)?;
        let scopes = tokens
            .scopes
            .clone()
            .unwrap_or_else(|| self.settings().fanvue.scopes.clone());
        let display_name = user.display_name.as_deref().unwrap_or(&user.handle);
        let upserted = store::creators::upsert_connected(
            &mut tx,
            store::creators::Connected {
                id,
                agency_id: who.agency_id,
                fanvue_uuid: user.uuid,
                handle: &user.handle,
                display_name,
                avatar_url: user.avatar_url.as_deref(),
                scopes: &scopes,
                access_token_enc: &access,
                refresh_token_enc: refresh.as_deref(),
                token_expires_at: expires_at,
                connected_by: who.staff_id,
            },
        )
        .await;
        match upserted {
            Err(StoreError::Conflict(_)) => return Err(ConnectFailure::JustTaken),
            other => other?,
        }
        // Backfill (first connect) or a prompt reconcile (reconnect) is now due.
        store::sync::ensure(&mut *tx, who.agency_id, id).await?;
        let action = if existing.is_some() {
            AuditAction::CreatorReconnected
        } else {
            AuditAction::CreatorConnected
        };
        let details =
            serde_json::json!({ "creator_id": id, "fanvue_uuid": user.uuid, "scopes": scopes });
        store::audit::record(&mut *tx, who.audit(action, &user.handle, details)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(creator_id = %id, "creator connected");
        Ok(Connected {
            creator_id: id,
            handle: user.handle,
            reconnected: existing.is_some(),
        })
    }

    async fn audit_failure(
        &self,
        who: &Initiator<'_>,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let entry = who.audit(AuditAction::CreatorConnectFailed, target, details);
        store::audit::record(self.pool(), entry).await
    }
}
