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

use crate::credentials::password::{self, PasswordError};
use crate::domain::AuditAction;
use crate::domain::Email;
use crate::http::client_ip::ClientIp;
use crate::store::audit::AuditEntry;
use crate::store::login_failures::{self, Attempt};
use crate::store::{self};
use crate::web::AppState;
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

/// Only local paths are followed after login (no open redirect): `next`
/// must be an absolute path on this site, i.e. a relative reference with no
/// scheme and no host. Browsers strip or rewrite tabs, newlines, backslashes
/// and look-alike slashes before resolving a `Location`, so anything outside
/// printable ASCII, any backslash and any encoded slash, backslash or
/// control character is refused outright rather than interpreted.
/// `%00`–`%1f` or `%7f` anywhere: an encoded control character that a
/// later decoding step could turn into a real one.
fn encodes_control_or_space(lower: &str) -> bool {
    lower
        .as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && (matches!(w[1], b'0' | b'1') || w[1..] == *b"7f"))
}

pub fn safe_next(next: &str) -> &str {
    const HOME: &str = "/";
    let printable = next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    let lower = next.to_ascii_lowercase();
    if !printable
        || !next.starts_with('/')
        || next.starts_with("//")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || encodes_control_or_space(&lower)
    {
        return HOME;
    }
    // Belt and braces: resolved against a placeholder origin, it must stay
    // on that origin.
    let base = url::Url::parse("http://app.invalid/").expect("constant URL");
    match base.join(next) {
        Ok(u) if u.origin() == base.origin() => next,
        _ => HOME,
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

/// Audit at most one throttled attempt per account or address a minute.
const THROTTLED_AUDIT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Counts one password attempt against `key` (an email) and the client
/// address before the password is checked. `Err(response)` is the 429 to
/// answer when either is locked. Shared with the password-change form, so
/// a stolen session cannot guess the current password without limit.
pub async fn begin_attempt(
    state: &AppState,
    session: &Session,
    key: &str,
    ip: &ClientIp,
) -> Result<Result<i64, HttpResponse>, WebError> {
    let auth = &state.settings.auth;
    let until = match store::login_failures::begin_attempt(
        &state.pool,
        key,
        ip.as_str(),
        auth.throttle_window(),
        auth.max_failures_per_account,
        auth.max_failures_per_ip,
    )
    .await?
    {
        Attempt::Counted(id) => return Ok(Ok(id)),
        Attempt::Locked(until) => until,
    };
    let secs = (until - Utc::now()).num_seconds().max(1);
    store::audit::record_unless_recent(
        &state.pool,
        AuditEntry {
            agency_id: None,
            actor_id: None,
            action: AuditAction::LoginThrottled,
            target: Some(login_failures::capped(key)),
            details: serde_json::json!({ "retry_after_secs": secs }),
            client_ip: Some(ip.as_str()),
        },
        THROTTLED_AUDIT_EVERY,
    )
    .await?;
    let mut res = html_status(
        StatusCode::TOO_MANY_REQUESTS,
        &ThrottledPage {
            ctx: PageCtx::new(session, None, "login")?,
            minutes: (secs + 59) / 60,
        },
    )?;
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(secs),
    );
    Ok(Err(res))
}

/// Verifies a password for a counted attempt; when the server is too busy
/// to check it (503), the attempt is taken back so it costs the user nothing.
pub async fn verify_counted(
    state: &AppState,
    attempt: i64,
    password: SecretString,
    stored: Option<String>,
) -> Result<bool, WebError> {
    match password::verify(password, stored).await {
        Ok(v) => Ok(v),
        Err(PasswordError::Busy) => {
            store::login_failures::uncount(&state.pool, attempt).await?;
            Err(PasswordError::Busy.into())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    ip: ClientIp,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    // Malformed emails go through the same path as unknown ones; stored
    // keys are capped so a huge "email" cannot bloat rows.
    let email = Email::parse(&form.email);
    let key = match &email {
        Ok(e) => e.as_str().to_owned(),
        Err(_) => login_failures::capped(&form.email.trim().to_lowercase()).to_owned(),
    };

    let attempt = match begin_attempt(&state, &session, &key, &ip).await? {
        Ok(id) => id,
        Err(throttled) => return Ok(throttled),
    };

    let creds = match &email {
        Ok(e) => store::staff::credentials_by_email(&state.pool, e).await?,
        Err(_) => None,
    };
    let verified = verify_counted(
        &state,
        attempt,
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
            // The failure was counted before verifying.
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

    #[test]
    fn hostile_next_values_fall_back_to_home() {
        for hostile in [
            "/\t/evil.example",
            "/%09/evil.example",
            "/\t\t/evil.example",
            "\t//evil.example",
            " /evil",
            "/ /evil.example",
            "/%5C/evil.example",
            "/%5c/evil.example",
            "/\\/evil.example",
            "\\/evil.example",
            "\\\\evil.example",
            "//evil.example",
            "///evil.example",
            "/%2F/evil.example",
            "/%2f/evil.example",
            "https:",
            "https://evil.example",
            "https:/evil.example",
            "javascript:alert(1)",
            "/\u{2215}/evil.example",
            "/\u{ff0f}/evil.example",
            "\u{ff0f}\u{ff0f}evil.example",
            "/\u{2044}evil.example",
            "/\r\nLocation: https://evil.example",
            "/\n/evil.example",
            "/\u{0}/evil.example",
            "/\u{7f}/evil.example",
            "/\u{b}/evil.example",
            "/\u{c}/evil.example",
            "/\u{85}/evil.example",
            "/\u{a0}/evil.example",
            "/\u{2028}/evil.example",
            "/\u{3000}/evil.example",
            "evil.example",
            "admin/staff",
            "?x=1",
            "#frag",
        ] {
            assert_eq!(safe_next(hostile), "/", "{hostile:?} must not be followed");
        }
    }

    #[test]
    fn legitimate_local_paths_with_queries_are_kept() {
        for ok in [
            "/",
            "/admin/audit",
            "/admin/creators/3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c/sync",
            "/admin/audit?page=2",
            "/admin/audit?page=2&action=login.failed",
            "/admin/audit?q=a%20b",
            "/admin/audit?next=//x",
            "/account#sessions",
        ] {
            assert_eq!(safe_next(ok), ok, "{ok:?} is a local path");
        }
    }
}
