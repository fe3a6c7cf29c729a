//! Typed access to the session state, so keys are spelled in one place.
//! A signed-in session's state lives server-side (see `session_store`) and its
//! cookie carries only a random key; before sign-in the small state (CSRF
//! token, flashes) rides in the signed cookie itself.

use actix_session::Session;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::credentials::token::random_token;
use crate::domain::StaffId;
use crate::web::error::WebError;

pub const STAFF_ID: &str = "staff_id";
pub const LOGIN_ID: &str = "login_id";
const LOGIN_AT: &str = "login_at";
/// Keys that make a session authenticated.
pub const AUTH_KEYS: [&str; 3] = [STAFF_ID, LOGIN_ID, LOGIN_AT];
const CSRF: &str = "csrf";
const FLASH: &str = "flash";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashKind {
    Success,
    Error,
    Info,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

impl Flash {
    pub fn css(&self) -> &'static str {
        match self.kind {
            FlashKind::Success => "flash flash-success",
            FlashKind::Error => "flash flash-error",
            FlashKind::Info => "flash flash-info",
        }
    }
}

pub struct TypedSession<'a>(pub &'a Session);

impl TypedSession<'_> {
    /// The signed-in staff member and when they signed in.
    pub fn login(&self) -> Option<(StaffId, DateTime<Utc>)> {
        let staff = self.0.get::<StaffId>(STAFF_ID).ok().flatten()?;
        let at = self.0.get::<i64>(LOGIN_AT).ok().flatten()?;
        Some((staff, DateTime::from_timestamp(at, 0)?))
    }

    pub fn login_id(&self) -> Option<String> {
        self.0.get::<String>(LOGIN_ID).ok().flatten()
    }

    /// Starts an authenticated session under a fresh key (defeats session
    /// fixation) with a fresh CSRF token.
    pub fn start_login(&self, staff: StaffId) -> Result<(), WebError> {
        self.0.renew();
        self.0.clear();
        self.0.insert(STAFF_ID, staff)?;
        self.0.insert(LOGIN_ID, random_token())?;
        self.0.insert(LOGIN_AT, Utc::now().timestamp())?;
        self.0.insert(CSRF, random_token())?;
        Ok(())
    }

    /// The per-session CSRF token, created on first use.
    pub fn csrf_token(&self) -> Result<String, WebError> {
        if let Some(t) = self.0.get::<String>(CSRF)? {
            return Ok(t);
        }
        let t = random_token();
        self.0.insert(CSRF, &t)?;
        Ok(t)
    }

    /// The token to compare a submitted one with; never creates one.
    pub fn expected_csrf(&self) -> Option<String> {
        self.0.get::<String>(CSRF).ok().flatten()
    }

    pub fn flash(&self, kind: FlashKind, text: impl Into<String>) {
        let mut list: Vec<Flash> = self.0.get(FLASH).ok().flatten().unwrap_or_default();
        list.push(Flash {
            kind,
            text: text.into(),
        });
        if let Err(e) = self.0.insert(FLASH, list) {
            tracing::warn!(error = %e, "could not store flash message");
        }
    }

    pub fn take_flashes(&self) -> Vec<Flash> {
        // `remove` marks the session changed even when the key is absent,
        // which would rewrite the whole session row on every page view.
        if !self.0.contains_key(FLASH) {
            return Vec::new();
        }
        match self.0.remove_as::<Vec<Flash>>(FLASH) {
            Some(Ok(list)) => list,
            _ => Vec::new(),
        }
    }
}
