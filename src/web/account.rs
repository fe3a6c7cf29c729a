//! A staff member's own account: profile, password change, and signing out
//! their other sessions.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::credentials::password;
use crate::domain::FieldErrors;
use crate::domain::{AuditAction, NewPassword, PasswordChoiceError};
use crate::http::client_ip::ClientIp;
use crate::store::{self};
use crate::web::AppState;
use crate::web::auth::login;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::render::{PageCtx, html, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

#[derive(Template)]
#[template(path = "account/show.html")]
pub struct AccountPage {
    pub ctx: PageCtx,
    pub staff: store::staff::Staff,
    pub other_sessions: i64,
}

#[derive(Template)]
#[template(path = "account/password.html")]
pub struct PasswordPage {
    pub ctx: PageCtx,
    pub errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: SecretString,
    new_password: SecretString,
    new_password_confirm: SecretString,
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
) -> Result<HttpResponse, WebError> {
    let staff = store::staff::get(&state.pool, me.agency_id, me.id).await?;
    let total = store::sessions::count_for_staff(&state.pool, me.id).await?;
    html(&AccountPage {
        ctx: PageCtx::new(&session, Some(&me), "account")?,
        staff,
        other_sessions: (total - 1).max(0),
    })
}

pub async fn password_form(session: Session, me: CurrentStaff) -> Result<HttpResponse, WebError> {
    html(&PasswordPage {
        ctx: PageCtx::new(&session, Some(&me), "account")?,
        errors: FieldErrors::default(),
    })
}

pub async fn password_submit(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let stored = store::staff::password_hash(&state.pool, me.agency_id, me.id).await?;
    // Guesses at the current password count against the same per-account
    // and per-address limits as the login form.
    let attempt = match login::begin_attempt(&state, &session, &me.email, &ip).await? {
        Ok(id) => id,
        Err(throttled) => return Ok(throttled),
    };
    if login::verify_counted(&state, attempt, form.current_password, Some(stored)).await? {
        store::login_failures::uncount(&state.pool, attempt).await?;
    } else {
        errors.add("current_password", "Your current password is not right.");
    }
    let new = match NewPassword::parse_confirmed(form.new_password, &form.new_password_confirm) {
        Ok(p) => Some(p),
        Err(PasswordChoiceError::Rules(e)) => {
            errors.add("new_password", e.0);
            None
        }
        Err(PasswordChoiceError::Mismatch) => {
            errors.add(
                "new_password_confirm",
                "The two new passwords do not match.",
            );
            None
        }
    };
    let (Some(new), true) = (new, errors.is_empty()) else {
        return html_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &PasswordPage {
                ctx: PageCtx::new(&session, Some(&me), "account")?,
                errors,
            },
        );
    };
    let hash = password::hash(new.secret().clone()).await?;
    let mut tx = state.pool.begin().await?;
    store::staff::set_password_hash(&mut *tx, me.agency_id, me.id, &hash).await?;
    // Someone who knew the old password must not stay signed in elsewhere.
    let ended = store::sessions::delete_for_staff(&mut *tx, me.id, me.login_id.as_deref()).await?;
    store::audit::record(
        &mut *tx,
        me.audit(
            AuditAction::PasswordChanged,
            &me.email,
            serde_json::json!({ "other_sessions_ended": ended }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    // A new key for this session too: a copy of the old cookie, wherever
    // it went, stops working with the old password.
    session.renew();
    TypedSession(&session).flash(
        FlashKind::Success,
        "Password changed. Your other sessions were signed out.",
    );
    Ok(see_other("/account"))
}

pub async fn end_other_sessions(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
) -> Result<HttpResponse, WebError> {
    let ended =
        store::sessions::delete_for_staff(&state.pool, me.id, me.login_id.as_deref()).await?;
    TypedSession(&session).flash(
        FlashKind::Success,
        format!("Signed out of {ended} other session(s)."),
    );
    Ok(see_other("/account"))
}
