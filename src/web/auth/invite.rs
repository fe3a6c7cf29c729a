//! Accepting an invitation: the invitee opens the one-time link, chooses a
//! password and gets an account in the inviting agency. The link works once
//! and only until it expires.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::credentials::{password, token::sha256_hex};
use crate::domain::FieldErrors;
use crate::domain::{AuditAction, DisplayName, Email, NewPassword, PasswordChoiceError};
use crate::http::client_ip::ClientIp;
use crate::store::audit::AuditEntry;
use crate::store::invites::Invite;
use crate::store::{self, StoreError};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::render::{PageCtx, html, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

#[derive(Template)]
#[template(path = "auth/invite.html")]
pub struct InvitePage {
    pub ctx: PageCtx,
    pub invite: Option<Invite>,
    pub agency_name: String,
    pub display_name: String,
    pub errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct AcceptForm {
    display_name: String,
    password: SecretString,
    password_confirm: SecretString,
}

fn unusable(ctx: PageCtx) -> Result<HttpResponse, WebError> {
    html_status(
        StatusCode::NOT_FOUND,
        &InvitePage {
            ctx,
            invite: None,
            agency_name: String::new(),
            display_name: String::new(),
            errors: FieldErrors::default(),
        },
    )
}

/// The invite for a link token if it can still be accepted: pending,
/// unexpired, and its inviter may still grant its role.
async fn usable(state: &AppState, token_hash: &str) -> Result<Option<Invite>, WebError> {
    match store::invites::find_usable(&state.pool, token_hash).await? {
        Some(i) if store::invites::inviter_may_grant(&state.pool, &i).await? => Ok(Some(i)),
        _ => Ok(None),
    }
}

pub async fn form(
    state: web::Data<AppState>,
    session: Session,
    token: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let ctx = PageCtx::new(&session, None, "invite")?;
    let Some(invite) = usable(&state, &sha256_hex(&token)).await? else {
        return unusable(ctx);
    };
    let agency = store::agencies::get(&state.pool, invite.agency_id).await?;
    html(&InvitePage {
        ctx,
        display_name: invite.display_name.clone(),
        invite: Some(invite),
        agency_name: agency.name,
        errors: FieldErrors::default(),
    })
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    ip: ClientIp,
    token: web::Path<String>,
    form: web::Form<AcceptForm>,
) -> Result<HttpResponse, WebError> {
    let hash = sha256_hex(&token);
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let name = errors.check("display_name", DisplayName::parse(&form.display_name));
    let pw = match NewPassword::parse_confirmed(form.password, &form.password_confirm) {
        Ok(p) => Some(p),
        Err(PasswordChoiceError::Rules(e)) => {
            errors.add("password", e.0);
            None
        }
        Err(e @ PasswordChoiceError::Mismatch) => {
            errors.add("password_confirm", e.to_string());
            None
        }
    };
    let (Some(name), Some(pw), true) = (name, pw, errors.is_empty()) else {
        let ctx = PageCtx::new(&session, None, "invite")?;
        let Some(invite) = usable(&state, &hash).await? else {
            return unusable(ctx);
        };
        let agency = store::agencies::get(&state.pool, invite.agency_id).await?;
        return html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &InvitePage {
                ctx,
                invite: Some(invite),
                agency_name: agency.name,
                display_name: form.display_name,
                errors,
            },
        );
    };

    let password_hash = password::hash(pw.secret().clone()).await?;
    let mut tx = state.pool.begin().await?;
    let invite = match store::invites::consume(&mut tx, &hash).await? {
        Some(i) if store::invites::inviter_may_grant(&mut *tx, &i).await? => i,
        // Not consumed after all: rolling back leaves the invite as it was.
        _ => {
            drop(tx);
            return unusable(PageCtx::new(&session, None, "invite")?);
        }
    };
    let email = Email::parse(&invite.email).map_err(|e| WebError::Unexpected(e.into()))?;
    let staff_id = match store::staff::insert(
        &mut *tx,
        store::staff::NewStaff {
            agency_id: invite.agency_id,
            email: &email,
            display_name: &name,
            password_hash: &password_hash,
            role: invite.role,
        },
    )
    .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            drop(tx);
            return Err(WebError::BadRequest(
                "An account with this email already exists. Sign in instead, or ask your admin for a new invitation.".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    store::audit::record(
        &mut *tx,
        AuditEntry {
            agency_id: Some(invite.agency_id),
            actor_id: Some(staff_id),
            action: AuditAction::InviteAccepted,
            target: Some(&invite.email),
            details: serde_json::json!({ "invite_id": invite.id, "role": invite.role.as_str() }),
            client_ip: Some(ip.as_str()),
        },
    )
    .await?;
    tx.commit().await?;
    TypedSession(&session).flash(
        FlashKind::Success,
        "Your account is ready. Sign in with your email and new password.",
    );
    Ok(see_other("/login"))
}
