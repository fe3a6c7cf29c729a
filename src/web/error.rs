//! One error type for every handler, mapped to a response in one place.
//! Users see a friendly page that leaks nothing; the log gets the full chain.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::store::StoreError;
use crate::web::render::PageCtx;

#[derive(thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("CSRF token missing or invalid")]
    Csrf,
    #[error("login required")]
    LoginRequired { next: String },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Too much password work in flight; the client should retry shortly.
    #[error("server busy")]
    Busy,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl std::fmt::Debug for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{self}")?;
        let mut cur = std::error::Error::source(self);
        while let Some(cause) = cur {
            writeln!(f, "Caused by: {cause}")?;
            cur = cause.source();
        }
        Ok(())
    }
}

impl From<StoreError> for WebError {
    #[track_caller]
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => WebError::NotFound,
            other => WebError::Unexpected(anyhow::Error::new(other)),
        }
    }
}

macro_rules! unexpected_from {
    ($($t:ty),*) => {$(
        impl From<$t> for WebError {
            fn from(e: $t) -> Self {
                WebError::Unexpected(anyhow::Error::new(e))
            }
        }
    )*};
}
impl From<crate::credentials::password::PasswordError> for WebError {
    fn from(e: crate::credentials::password::PasswordError) -> Self {
        match e {
            crate::credentials::password::PasswordError::Busy => WebError::Busy,
            other => WebError::Unexpected(anyhow::Error::new(other)),
        }
    }
}

unexpected_from!(
    askama::Error,
    sqlx::Error,
    actix_session::SessionInsertError,
    actix_session::SessionGetError
);

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub ctx: PageCtx,
    pub status: u16,
    pub title: &'static str,
    pub message: String,
}

/// Title and explanation shown for a status; never includes internals.
pub fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "Bad request",
            "The request could not be understood. Check what you entered and try again.",
        ),
        401 => ("Sign in required", "Please sign in to continue."),
        403 => (
            "Not allowed",
            "Your role does not give you access to this page.",
        ),
        404 => (
            "Page not found",
            "There is nothing here. The link may be mistyped, or the item may have been removed.",
        ),
        405 => ("Not allowed", "That action is not available here."),
        413 => (
            "Too large",
            "What you sent is larger than Switchboard accepts.",
        ),
        429 => (
            "Slow down",
            "Too many requests. Please wait a moment and try again.",
        ),
        s if s >= 500 => (
            "Something went wrong",
            "An unexpected error occurred on our side. It has been logged; please try again.",
        ),
        _ => ("Request failed", "The request could not be completed."),
    }
}

/// Renders the error page for `status`; falls back to plain text if the
/// template itself fails (logged).
pub fn error_page(status: StatusCode, message: Option<String>) -> HttpResponse {
    let (title, default_msg) = describe(status);
    let page = ErrorPage {
        ctx: PageCtx::bare(),
        status: status.as_u16(),
        title,
        message: message.unwrap_or_else(|| default_msg.to_owned()),
    };
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "error page failed to render");
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(title)
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            WebError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::LoginRequired { next } => {
                let target = if next == "/" || next.is_empty() {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", urlencode(next))
                };
                HttpResponse::SeeOther().insert_header((header::LOCATION, target)).finish()
            }
            WebError::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error");
                error_page(StatusCode::INTERNAL_SERVER_ERROR, None)
            }
            WebError::Csrf => error_page(
                StatusCode::FORBIDDEN,
                Some("This form has expired or was not sent from Switchboard. Go back, reload the page and try again. Nothing was changed.".into()),
            ),
            WebError::BadRequest(msg) => error_page(StatusCode::BAD_REQUEST, Some(msg.clone())),
            WebError::Busy => {
                let mut res = error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some("Switchboard is busy signing people in. Please try again in a moment.".into()),
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(BUSY_RETRY_SECS));
                res
            }
            other => error_page(other.status_code(), None),
        }
    }
}

/// What a 503 for password work asks the client to wait, in seconds.
pub const BUSY_RETRY_SECS: u32 = 2;

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod busy_tests {
    use super::*;

    #[test]
    fn busy_password_work_is_a_503_with_retry_after() {
        let e = WebError::from(crate::credentials::password::PasswordError::Busy);
        let res = e.error_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "2");
    }
}
