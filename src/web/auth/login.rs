//! The login page. Failures look the same whether the email exists or not
//! (same message, same status, same Argon2 work), and repeated failures per
//! account or per client address lock the form for a while.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use secrecy::SecretString;
use serde::Deserialize;

use crate::credentials::password;
use crate::domain::AuditAction;
use crate::domain::Email;
use crate::store::audit::AuditEntry;
use crate::store::{self};
use crate::web::AppState;
use crate::web::client_ip::ClientIp;
use crate::web::error::WebError;
use crate::web::render::{PageCtx, html, html_status, see_other};
use crate::web::session::TypedSession;

pub const GENERIC_FAILURE: &str = "That email and password combination is not right.";

#[derive(Template)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub ctx: PageCtx,
    pub email: String,
    pub next: String,
    pub error: Option<&'static str>,
    pub notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "auth/throttled.html")]
pub struct ThrottledPage {
    pub ctx: PageCtx,
    pub minutes: i64,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
    #[serde(default)]
    next: String,
}

/// Only local paths are followed after login (no open redirect).
pub fn safe_next(next: &str) -> &str {
    if next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n'])
    {
        next
    } else {
        "/"
    }
}

pub async fn form(session: Session, q: web::Query<LoginQuery>) -> Result<HttpResponse, WebError> {
    if TypedSession(&session).login().is_some() {
        return Ok(see_other("/"));
    }
    html(&LoginPage {
        ctx: PageCtx::new(&session, None, "login")?,
        email: String::new(),
        next: safe_next(q.next.as_deref().unwrap_or("/")).to_owned(),
        error: None,
        notice: q.signed_out.as_ref().map(|_| "You have been signed out."),
    })
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    ip: ClientIp,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let auth = &state.settings.auth;
    // Malformed emails go through the same path as unknown ones.
    let email = Email::parse(&form.email);
    let key = match &email {
        Ok(e) => e.as_str().to_owned(),
        Err(_) => form.email.trim().to_lowercase(),
    };

    if let Some(until) = store::login_failures::locked_until(
        &state.pool,
        &key,
        ip.as_str(),
        auth.throttle_window(),
        auth.max_failures_per_account,
        auth.max_failures_per_ip,
    )
    .await?
    {
        let secs = (until - Utc::now()).num_seconds().max(1);
        store::audit::record(
            &state.pool,
            AuditEntry {
                agency_id: None,
                actor_id: None,
                action: AuditAction::LoginThrottled,
                target: Some(&key),
                details: serde_json::json!({ "retry_after_secs": secs }),
                client_ip: Some(ip.as_str()),
            },
        )
        .await?;
        let mut res = html_status(
            StatusCode::TOO_MANY_REQUESTS,
            &ThrottledPage {
                ctx: PageCtx::new(&session, None, "login")?,
                minutes: (secs + 59) / 60,
            },
        )?;
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(secs),
        );
        return Ok(res);
    }

    let creds = match &email {
        Ok(e) => store::staff::credentials_by_email(&state.pool, e).await?,
        Err(_) => None,
    };
    let verified = password::verify(
        form.password,
        creds.as_ref().map(|c| c.password_hash.clone()),
    )
    .await?;

    match creds {
        Some(c) if verified && c.active => {
            TypedSession(&session).start_login(c.id)?;
            store::staff::record_login(&state.pool, c.id).await?;
            store::login_failures::clear_for_email(&state.pool, &key).await?;
            store::audit::record(
                &state.pool,
                AuditEntry {
                    agency_id: Some(c.agency_id),
                    actor_id: Some(c.id),
                    action: AuditAction::LoginSucceeded,
                    target: Some(&key),
                    details: serde_json::json!({}),
                    client_ip: Some(ip.as_str()),
                },
            )
            .await?;
            tracing::info!(staff_id = %c.id, "login succeeded");
            Ok(see_other(safe_next(&form.next)))
        }
        other => {
            store::login_failures::record(&state.pool, &key, ip.as_str()).await?;
            let reason = match &other {
                None => "unknown email",
                Some(c) if !c.active => "account deactivated",
                Some(_) => "wrong password",
            };
            store::audit::record(
                &state.pool,
                AuditEntry {
                    agency_id: other.as_ref().map(|c| c.agency_id),
                    actor_id: None,
                    action: AuditAction::LoginFailed,
                    target: Some(&key),
                    details: serde_json::json!({ "reason": reason }),
                    client_ip: Some(ip.as_str()),
                },
            )
            .await?;
            tracing::info!(reason, "login failed");
            html_status(
                StatusCode::UNAUTHORIZED,
                &LoginPage {
                    ctx: PageCtx::new(&session, None, "login")?,
                    email: form.email,
                    next: safe_next(&form.next).to_owned(),
                    error: Some(GENERIC_FAILURE),
                    notice: None,
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next("/admin/staff"), "/admin/staff");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next(""), "/");
    }
}
