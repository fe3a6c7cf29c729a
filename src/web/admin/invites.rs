//! Inviting staff: the admin enters email, name and role and gets a one-time
//! link (valid for the configured time, 72 h by default) to hand over. Only
//! the link's hash is stored, so the link is shown exactly once.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::credentials::token::{random_token, sha256_hex};
use crate::domain::AuditAction;
use crate::domain::FieldErrors;
use crate::domain::{DisplayName, Email, InviteId, Role};
use crate::http::client_ip::ClientIp;
use crate::store::{self};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

#[derive(Template)]
#[template(path = "admin/invite_form.html")]
pub struct InviteFormPage {
    pub ctx: PageCtx,
    pub roles: Vec<Role>,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "admin/invite_created.html")]
pub struct InviteCreatedPage {
    pub ctx: PageCtx,
    pub email: String,
    pub link: String,
    pub hours: i64,
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
    display_name: String,
    role: String,
}

fn allowed_roles(me: &AdminStaff) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| me.role.may_manage(*r))
        .collect()
}

pub async fn form(session: Session, me: AdminStaff) -> Result<HttpResponse, WebError> {
    html(&InviteFormPage {
        ctx: PageCtx::new(&session, Some(&me), "staff")?,
        roles: allowed_roles(&me),
        email: String::new(),
        display_name: String::new(),
        role: Role::Chatter.as_str().to_owned(),
        errors: FieldErrors::default(),
    })
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let email = errors.check("email", Email::parse(&form.email));
    let name = errors.check("display_name", DisplayName::parse(&form.display_name));
    let role = errors.check("role", Role::parse(&form.role));
    if role.is_some_and(|r| !me.role.may_manage(r)) {
        errors.add("role", "Only an owner can invite another owner.");
    }
    if let Some(e) = &email
        && store::staff::email_exists(&state.pool, e).await?
    {
        errors.add("email", "This email already has a Switchboard account.");
    }
    let (Some(email), Some(name), Some(role), true) = (email, name, role, errors.is_empty()) else {
        return html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &InviteFormPage {
                ctx: PageCtx::new(&session, Some(&me), "staff")?,
                roles: allowed_roles(&me),
                email: form.email,
                display_name: form.display_name,
                role: form.role,
                errors,
            },
        );
    };

    let token = random_token();
    let hours = state.settings.auth.invite_ttl_hours;
    let mut tx = state.pool.begin().await?;
    let invite_id = store::invites::create(
        &mut *tx,
        store::invites::NewInvite {
            agency_id: me.agency_id,
            email: &email,
            display_name: &name,
            role,
            token_hash: &sha256_hex(&token),
            created_by: me.id,
            expires_at: Utc::now() + chrono::Duration::hours(hours),
        },
    )
    .await?;
    store::audit::record(
        &mut *tx,
        me.audit(
            AuditAction::StaffInvited,
            email.as_str(),
            serde_json::json!({ "invite_id": invite_id, "role": role.as_str() }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    html(&InviteCreatedPage {
        ctx: PageCtx::new(&session, Some(&me), "staff")?,
        email: email.to_string(),
        link: state.settings.public_link(&format!("/invite/{token}")),
        hours,
    })
}

pub async fn revoke(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id: InviteId = id.parse().map_err(|_| WebError::NotFound)?;
    let mut tx = state.pool.begin().await?;
    let pending = store::invites::get_pending_for_update(&mut tx, me.agency_id, id).await?;
    // Revoking an invite is managing the role it grants: admins leave owner
    // invites to owners.
    if !me.role.may_manage(pending.role) {
        return Err(WebError::Forbidden);
    }
    let invite = store::invites::revoke(&mut *tx, me.agency_id, id).await?;
    store::audit::record(
        &mut *tx,
        me.audit(
            AuditAction::InviteRevoked,
            &invite.email,
            serde_json::json!({ "invite_id": id }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    TypedSession(&session).flash(
        FlashKind::Success,
        format!("Invitation for {} revoked.", invite.email),
    );
    Ok(see_other("/admin/staff"))
}
