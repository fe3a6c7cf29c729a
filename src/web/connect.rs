//! Connecting a creator's Fanvue account (owners and admins): start a flow
//! (PKCE verifier + state, stored server-side and bound to this admin's
//! agency, person and login; single use; 10 minutes), send the browser to
//! Fanvue, and handle the callback: validate, exchange the code, read
//! `/users/me`, store the tokens encrypted, and audit.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::auth::token::sha256_hex;
use crate::connections::{access_context, refresh_context};
use crate::domain::CreatorId;
use crate::fanvue::oauth::{self, OAuthError};
use crate::fanvue::{Auth, Priority};
use crate::http::client_ip::ClientIp;
use crate::store::audit::AuditAction;
use crate::store::{self, StoreError};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

/// How long a started connect flow stays valid.
pub const FLOW_TTL: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Template)]
#[template(path = "connect/failed.html")]
pub struct FailedPage {
    pub ctx: PageCtx,
    pub title: &'static str,
    pub message: String,
}

fn flow_context(state_hash: &str) -> String {
    format!("oauth_flow:{state_hash}")
}

async fn begin(
    state: &AppState,
    session: &Session,
    me: &AdminStaff,
    reconnect: Option<CreatorId>,
) -> Result<HttpResponse, WebError> {
    let Some(app) = state.settings.fanvue.app.as_ref() else {
        TypedSession(session).flash(
            FlashKind::Error,
            "Fanvue is not configured yet: set FANVUE_CLIENT_ID and FANVUE_CLIENT_SECRET (see Fanvue status).",
        );
        return Ok(see_other("/admin/creators"));
    };
    let login_id = me
        .login_id
        .clone()
        .ok_or_else(|| WebError::Unexpected(anyhow::anyhow!("session without login id")))?;
    let pkce = oauth::new_pkce();
    let st = oauth::new_state();
    let state_hash = sha256_hex(&st);
    let verifier_enc = state
        .connections
        .cipher()
        .encrypt(&pkce.verifier, &flow_context(&state_hash))
        .map_err(|e| WebError::Unexpected(e.into()))?;
    store::oauth_flows::create(
        &state.pool,
        store::oauth_flows::NewFlow {
            state_hash: &state_hash,
            agency_id: me.agency_id,
            staff_id: me.id,
            login_id: &login_id,
            pkce_verifier_enc: &verifier_enc,
            reconnect_creator_id: reconnect,
            expires_at: Utc::now() + FLOW_TTL,
        },
    )
    .await?;
    let url = oauth::authorize_url(
        &state.settings.fanvue,
        app,
        &state.settings.oauth_redirect_uri(),
        &st,
        &pkce.challenge,
    );
    Ok(see_other(&url))
}

pub async fn start(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
) -> Result<HttpResponse, WebError> {
    begin(&state, &session, &me, None).await
}

pub async fn reconnect(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id: CreatorId = id.parse().map_err(|_| WebError::NotFound)?;
    let creator = store::creators::get(&state.pool, me.agency_id, id).await?;
    begin(&state, &session, &me, Some(creator.id)).await
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn failed(
    session: &Session,
    me: &AdminStaff,
    status: StatusCode,
    title: &'static str,
    message: impl Into<String>,
) -> Result<HttpResponse, WebError> {
    html_status(
        status,
        &FailedPage {
            ctx: PageCtx::new(session, Some(me), "creators")?,
            title,
            message: message.into(),
        },
    )
}

pub async fn callback(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, WebError> {
    let q = q.into_inner();
    let Some(st) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return failed(
            &session,
            &me,
            StatusCode::BAD_REQUEST,
            "Connection failed",
            "Fanvue's answer did not include the state of this connection. Start again.",
        );
    };
    let state_hash = sha256_hex(st);
    // Taking the flow burns it: a replayed callback finds nothing.
    let Some(flow) = store::oauth_flows::take(&state.pool, &state_hash).await? else {
        return failed(
            &session,
            &me,
            StatusCode::BAD_REQUEST,
            "Connection failed",
            "This connection attempt is unknown or was already completed. Start again from Creators.",
        );
    };
    if flow.agency_id != me.agency_id
        || flow.staff_id != me.id
        || me.login_id.as_deref() != Some(flow.login_id.as_str())
    {
        tracing::warn!(staff_id = %me.id, "OAuth callback from a session that did not start the flow");
        return failed(
            &session,
            &me,
            StatusCode::FORBIDDEN,
            "Connection refused",
            "This connection was started from another session. For your security it has been cancelled; start again from your own session.",
        );
    }
    if flow.expires_at < Utc::now() {
        return failed(
            &session,
            &me,
            StatusCode::BAD_REQUEST,
            "Connection expired",
            "More than 10 minutes passed since the connection started. Start again.",
        );
    }
    if let Some(err) = q.error.as_deref() {
        let detail = q.error_description.clone().unwrap_or_default();
        store::audit::record(
            &state.pool,
            me.audit(
                AuditAction::CreatorConnectFailed,
                "fanvue",
                serde_json::json!({ "error": err, "description": detail }),
                &ip,
            ),
        )
        .await?;
        return if err == "access_denied" {
            failed(
                &session,
                &me,
                StatusCode::OK,
                "Connection cancelled",
                "The creator declined access on Fanvue, so nothing was connected. You can try again whenever they are ready.",
            )
        } else {
            failed(
                &session,
                &me,
                StatusCode::BAD_GATEWAY,
                "Connection failed",
                format!("Fanvue reported an error ({err}). Nothing was connected."),
            )
        };
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return failed(
            &session,
            &me,
            StatusCode::BAD_REQUEST,
            "Connection failed",
            "Fanvue's answer did not include an authorization code. Start again.",
        );
    };
    let Some(app) = state.settings.fanvue.app.as_ref() else {
        return Err(WebError::BadRequest("Fanvue is not configured.".into()));
    };
    let cipher = state.connections.cipher();
    let verifier = cipher
        .decrypt(&flow.pkce_verifier_enc, &flow_context(&state_hash))
        .map_err(|e| WebError::Unexpected(e.into()))?;
    let http = oauth::http_client(&state.settings.fanvue);
    let tokens = match oauth::exchange_code(
        &http,
        &state.settings.fanvue,
        app,
        &state.settings.oauth_redirect_uri(),
        code,
        &verifier,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "authorization code exchange failed");
            store::audit::record(
                &state.pool,
                me.audit(
                    AuditAction::CreatorConnectFailed,
                    "fanvue",
                    serde_json::json!({ "error": e.to_string() }),
                    &ip,
                ),
            )
            .await?;
            let msg = match e {
                OAuthError::InvalidGrant(_) => "Fanvue did not accept the authorization (it may have been used already or expired). Start again.".to_owned(),
                OAuthError::InvalidClient(_) => "Fanvue refused Switchboard's app credentials. An operator needs to check FANVUE_CLIENT_ID and FANVUE_CLIENT_SECRET.".to_owned(),
                other => format!("Fanvue could not complete the connection: {other}."),
            };
            return failed(
                &session,
                &me,
                StatusCode::BAD_GATEWAY,
                "Connection failed",
                msg,
            );
        }
    };
    let user = match state
        .connections
        .client()
        .me(&Auth {
            token: tokens.access_token.clone(),
            bucket: format!("connect:{state_hash}"),
            priority: Priority::Interactive,
            meter: None,
        })
        .await
    {
        Ok(u) => u,
        Err(e) => {
            return failed(
                &session,
                &me,
                StatusCode::BAD_GATEWAY,
                "Connection failed",
                format!("Fanvue did not return the account's profile: {e}. Nothing was connected."),
            );
        }
    };
    if user.is_creator == Some(false) {
        return failed(
            &session,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not a creator account",
            format!(
                "@{} is not a Fanvue creator account. Sign in to Fanvue as the creator you want to connect.",
                user.handle
            ),
        );
    }

    let mut tx = state.pool.begin().await?;
    let existing = store::creators::owner_of(&mut tx, user.uuid).await?;
    let id = match existing {
        Some((_, agency)) if agency != me.agency_id => {
            drop(tx);
            store::audit::record(
                &state.pool,
                me.audit(
                    AuditAction::CreatorConnectFailed,
                    &user.handle,
                    serde_json::json!({ "error": "connected to another agency" }),
                    &ip,
                ),
            )
            .await?;
            return failed(
                &session,
                &me,
                StatusCode::CONFLICT,
                "Already connected elsewhere",
                format!(
                    "@{} is connected to another agency in Switchboard. A creator can be managed by one agency at a time; that agency must remove the creator first.",
                    user.handle
                ),
            );
        }
        Some((id, _)) => id,
        None => CreatorId::new(),
    };
    if let Some(target) = flow.reconnect_creator_id
        && target != id
    {
        drop(tx);
        return failed(
            &session,
            &me,
            StatusCode::CONFLICT,
            "A different account approved",
            format!(
                "You approved as @{} on Fanvue, but the reconnect was for another creator. Sign in to Fanvue as the right creator and try again.",
                user.handle
            ),
        );
    }
    let access_enc = cipher
        .encrypt(&tokens.access_token, &access_context(id))
        .map_err(|e| WebError::Unexpected(e.into()))?;
    let refresh_enc = tokens
        .refresh_token
        .as_ref()
        .map(|r| cipher.encrypt(r, &refresh_context(id)))
        .transpose()
        .map_err(|e| WebError::Unexpected(e.into()))?;
    let scopes = tokens
        .scopes
        .clone()
        .unwrap_or_else(|| state.settings.fanvue.scopes.clone());
    let display_name = user
        .display_name
        .clone()
        .unwrap_or_else(|| user.handle.clone());
    match store::creators::upsert_connected(
        &mut tx,
        store::creators::Connected {
            id,
            agency_id: me.agency_id,
            fanvue_uuid: user.uuid,
            handle: &user.handle,
            display_name: &display_name,
            avatar_url: user.avatar_url.as_deref(),
            scopes: &scopes,
            access_token_enc: &access_enc,
            refresh_token_enc: refresh_enc.as_deref(),
            token_expires_at: tokens
                .expires_in
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| Utc::now() + d),
            connected_by: me.id,
        },
    )
    .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return failed(
                &session,
                &me,
                StatusCode::CONFLICT,
                "Already connected elsewhere",
                "This creator was just connected by another agency.",
            );
        }
        Err(e) => return Err(e.into()),
    }
    // Backfill (first connect) or a prompt reconcile (reconnect) is now due.
    store::sync::ensure(&mut *tx, me.agency_id, id).await?;
    let action = if existing.is_some() {
        AuditAction::CreatorReconnected
    } else {
        AuditAction::CreatorConnected
    };
    store::audit::record(
        &mut *tx,
        me.audit(
            action,
            &user.handle,
            serde_json::json!({ "creator_id": id, "fanvue_uuid": user.uuid, "scopes": scopes }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(creator_id = %id, "creator connected");
    TypedSession(&session).flash(
        FlashKind::Success,
        format!("@{} is connected.", user.handle),
    );
    Ok(see_other(&format!("/admin/creators/{id}")))
}
