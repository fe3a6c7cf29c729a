//! Fanvue integration status for admins: what is configured, the redirect
//! URI to register with Fanvue, and any deprecation notices Fanvue sent.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::config::TokenAuth;
use crate::fanvue::client::Notice;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html};

#[derive(Template)]
#[template(path = "admin/status.html")]
pub struct StatusPage {
    pub ctx: PageCtx,
    pub configured: bool,
    pub client_id: String,
    pub api_url: String,
    pub auth_url: String,
    pub api_version: String,
    pub scopes: String,
    pub token_auth: &'static str,
    pub redirect_uri: String,
    pub notices: Vec<Notice>,
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
) -> Result<HttpResponse, WebError> {
    let f = &state.settings.fanvue;
    html(&StatusPage {
        ctx: PageCtx::new(&session, Some(&me), "status")?,
        configured: f.app.is_some(),
        client_id: f
            .app
            .as_ref()
            .map(|a| a.client_id.clone())
            .unwrap_or_default(),
        api_url: f.api_url.to_string(),
        auth_url: f.auth_url.to_string(),
        api_version: f.api_version.clone(),
        scopes: f.scopes.join(" "),
        token_auth: match f.token_auth {
            TokenAuth::Basic => "HTTP Basic",
            TokenAuth::Body => "form body",
        },
        redirect_uri: state.settings.oauth_redirect_uri(),
        notices: state.connections.client().notices(),
    })
}
