//! The fan's Fanvue custom lists beside a thread: `GET
//! /inbox/chats/{id}/lists` (a page without JavaScript; `?fragment=1` the
//! section compose.js loads into the fan panel after the thread page has
//! rendered, so the page never waits on Fanvue) and `POST` the same path
//! (`list`, `action` = add|remove). The chat goes through `visible_target`
//! like every chat route: 404 for another agency's chat or an unassigned
//! creator, before anything reaches Fanvue.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::http::client_ip::ClientIp;
use crate::inbox::fan_lists::{self, FanLists, ListsError};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::inbox::send::{viewer, visible_target};
use crate::web::render::{PageCtx, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

/// The section's content (`templates/inbox/_fan_lists_body.html`).
pub struct ListsView {
    pub chat_id: String,
    pub lists: FanLists,
    /// The outcome of a change made from this section.
    pub notice: Option<(bool, String)>,
}

impl ListsView {
    pub fn missing_scopes(&self) -> String {
        match &self.lists {
            FanLists::MissingScope(s) => s.join(", "),
            _ => String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "inbox/_fan_lists_body.html")]
pub struct ListsFragment {
    pub ctx: PageCtx,
    pub view: ListsView,
}

#[derive(Template)]
#[template(path = "inbox/fan_lists.html")]
pub struct ListsPage {
    pub ctx: PageCtx,
    pub view: ListsView,
}

#[derive(Debug, Deserialize)]
pub struct ShowParams {
    #[serde(default)]
    fragment: Option<String>,
}

async fn render(
    state: &AppState,
    session: &Session,
    me: &CurrentStaff,
    target: &crate::store::sends::ChatTarget,
    fragment: bool,
    notice: Option<(bool, String)>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let lists = fan_lists::load(&state.pool, &state.connections, viewer(me), target).await?;
    let view = ListsView {
        chat_id: target.chat_id.to_string(),
        lists,
        notice,
    };
    let ctx = PageCtx::new(session, Some(me), "inbox")?;
    if fragment {
        html_status(status, &ListsFragment { ctx, view })
    } else {
        html_status(status, &ListsPage { ctx, view })
    }
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    path: web::Path<String>,
    params: web::Query<ShowParams>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    render(
        &state,
        &session,
        &me,
        &target,
        params.fragment.is_some(),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    list: String,
    #[serde(default)]
    action: String,
    /// Set by compose.js: answer with the refreshed section.
    #[serde(default)]
    fragment: Option<String>,
}

pub async fn change(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    path: web::Path<String>,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let list = uuid::Uuid::parse_str(form.list.trim())
        .map_err(|_| WebError::BadRequest("Choose a list.".to_owned()))?;
    let add = match form.action.as_str() {
        "add" => true,
        "remove" => false,
        _ => return Err(WebError::BadRequest("Add or remove?".to_owned())),
    };
    let outcome = fan_lists::change(
        &state.pool,
        &state.connections,
        viewer(&me),
        Some(ip.as_str()),
        &target,
        list,
        add,
    )
    .await;
    let (ok, text, status) = match outcome {
        Ok(()) => (
            true,
            if add {
                "Added to the list on Fanvue."
            } else {
                "Removed from the list on Fanvue."
            }
            .to_owned(),
            StatusCode::OK,
        ),
        Err(ListsError::Refused(msg)) => (false, msg, StatusCode::CONFLICT),
        Err(ListsError::Store(e)) => return Err(e.into()),
    };
    if form.fragment.is_some() {
        return render(
            &state,
            &session,
            &me,
            &target,
            true,
            Some((ok, text)),
            status,
        )
        .await;
    }
    TypedSession(&session).flash(
        if ok {
            FlashKind::Success
        } else {
            FlashKind::Error
        },
        text,
    );
    Ok(see_other(&format!("/inbox/chats/{}/lists", target.chat_id)))
}
