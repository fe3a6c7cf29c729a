//! Rendering glue: the context every page's base layout needs, and helpers
//! that turn a template into a response.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::domain::Role;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::session::{Flash, TypedSession};
use crate::web::static_files;

/// Who is signed in, as the navigation needs it.
pub struct NavStaff {
    pub display_name: String,
    pub agency_name: String,
    pub role: Role,
}

impl NavStaff {
    /// The avatar letter.
    pub fn initial(&self) -> String {
        self.display_name
            .chars()
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default()
    }
}

/// Context for the base layout: navigation, CSRF token, flash messages.
pub struct PageCtx {
    pub staff: Option<NavStaff>,
    pub csrf: String,
    pub flashes: Vec<Flash>,
    /// Which navigation entry is current.
    pub section: &'static str,
    pub css_url: &'static str,
    pub js_url: &'static str,
}

impl PageCtx {
    pub fn new(
        session: &Session,
        staff: Option<&CurrentStaff>,
        section: &'static str,
    ) -> Result<Self, WebError> {
        let typed = TypedSession(session);
        Ok(Self {
            staff: staff.map(|s| NavStaff {
                display_name: s.display_name.clone(),
                agency_name: s.agency_name.clone(),
                role: s.role,
            }),
            csrf: typed.csrf_token()?,
            flashes: typed.take_flashes(),
            section,
            css_url: static_files::url("app.css"),
            js_url: static_files::url("app.js"),
        })
    }

    /// For error pages rendered outside a handler: no session, no forms.
    pub fn bare() -> Self {
        Self {
            staff: None,
            csrf: String::new(),
            flashes: Vec::new(),
            section: "",
            css_url: static_files::url("app.css"),
            js_url: static_files::url("app.js"),
        }
    }

    /// The cache-busting URL of an embedded asset, for page-specific
    /// styles and scripts (`{{ ctx.asset("inbox.js") }}`).
    pub fn asset(&self, name: &str) -> &'static str {
        static_files::url(name)
    }

    pub fn is_admin(&self) -> bool {
        self.staff.as_ref().is_some_and(|s| s.role.is_admin())
    }
}

pub fn html(t: &impl Template) -> Result<HttpResponse, WebError> {
    html_status(StatusCode::OK, t)
}

pub fn html_status(status: StatusCode, t: &impl Template) -> Result<HttpResponse, WebError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(t.render()?))
}

/// 303 See Other: the answer to a successful form POST.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location.to_owned()))
        .finish()
}
