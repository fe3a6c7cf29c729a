//! A chat's thread page (header, messages, compose box, fan panel) and its
//! message fragments.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use crate::inbox::claims::{self, ChatPeople};
use crate::inbox::thread::{self, HeadView, MessageView, PanelView, ThreadQuery, ThreadView};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::inbox::compose::{self, ComposeBox};
use crate::web::inbox::fan::{FanDraft, FanPanel};
use crate::web::inbox::list::viewer;
use crate::web::render::{PageCtx, html, html_status};

#[derive(Template)]
#[template(path = "inbox/thread.html")]
pub struct ThreadPage {
    pub ctx: PageCtx,
    pub compose: ComposeBox,
    pub head: HeadView,
    pub messages: Vec<MessageView>,
    pub older: Option<String>,
    pub still_syncing: bool,
    pub hide_auto: bool,
    pub paged: bool,
    pub panel: PanelView,
    /// The side list's `data-query` (the unfiltered list).
    pub query: String,
    /// The newest live event id before the data was read (live.js resumes
    /// after it).
    pub live_since: i64,
    /// Who else is here and who holds the chat.
    pub people: ChatPeople,
    /// The chat id, as `_people.html` names it.
    pub people_chat: String,
    /// The fan's notes and tags, with any draft a failed form left.
    pub fan: FanPanel,
}

/// Message `<li>`s only.
#[derive(Template)]
#[template(path = "inbox/_messages.html")]
pub struct MessagesFragment {
    pub messages: Vec<MessageView>,
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    live_since: i64,
    session: &Session,
    me: &CurrentStaff,
    view: ThreadView,
    mut compose: ComposeBox,
    draft: FanDraft,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let fan = FanPanel::load(state, me, &view.head, draft).await?;
    let people = claims::people_of(&state.pool, viewer(me), &[view.head.chat_id])
        .await?
        .remove(&view.head.chat_id)
        .unwrap_or_default();
    // The version this form answers: the newest message on the page.
    compose.seen = view
        .messages
        .last()
        .map(|m| m.uuid.to_string())
        .unwrap_or_default();
    compose.claimed_by = people
        .claim
        .as_ref()
        .filter(|c| !c.mine)
        .map(|c| c.owner.clone());
    html_status(
        status,
        &ThreadPage {
            ctx: PageCtx::new(session, Some(me), "inbox")?,
            compose,
            people_chat: view.head.chat_id.to_string(),
            head: view.head,
            messages: view.messages,
            older: view.older,
            still_syncing: view.still_syncing,
            hide_auto: view.hide_auto,
            paged: view.paged,
            panel: view.panel,
            query: "tab=all&creator=&q=".to_owned(),
            live_since,
            people,
            fan,
        },
    )
}

/// Renders the thread of `chat` (404 unless the viewer may work its
/// creator) with `compose` in the compose box: blank on a plain visit, the
/// draft and its error after a failed send.
pub async fn render_thread(
    state: &AppState,
    session: &Session,
    me: &CurrentStaff,
    chat: uuid::Uuid,
    compose: ComposeBox,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let query = ThreadQuery {
        before: None,
        hide_auto: false,
    };
    // Before the data: what commits after this is replayed to the page.
    let live_since = crate::store::live::current_id(&state.pool).await?;
    let view = thread::load(&state.pool, viewer(me), me.zone, chat, query).await?;
    page(
        state,
        live_since,
        session,
        me,
        view,
        compose,
        FanDraft::default(),
        status,
    )
    .await
}

/// The thread of `chat` after a fan-panel form failed validation: the
/// panel shows `draft` (what was typed, and why it was refused).
pub async fn render_with_fan_draft(
    state: &AppState,
    session: &Session,
    me: &CurrentStaff,
    chat: uuid::Uuid,
    draft: FanDraft,
) -> Result<HttpResponse, WebError> {
    let query = ThreadQuery {
        before: None,
        hide_auto: false,
    };
    let live_since = crate::store::live::current_id(&state.pool).await?;
    let view = thread::load(&state.pool, viewer(me), me.zone, chat, query).await?;
    let compose = compose::for_thread(state, me, view.head.creator_id, chat).await?;
    page(
        state,
        live_since,
        session,
        me,
        view,
        compose,
        draft,
        StatusCode::BAD_REQUEST,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct ThreadParams {
    before: Option<String>,
    hide_auto: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    path: web::Path<Uuid>,
    params: web::Query<ThreadParams>,
) -> Result<HttpResponse, WebError> {
    let chat = path.into_inner();
    let query = ThreadQuery::parse(params.before.as_deref(), params.hide_auto.as_deref())?;
    let live_since = crate::store::live::current_id(&state.pool).await?;
    let view = thread::load(&state.pool, viewer(&me), me.zone, chat, query).await?;
    let mut compose = compose::for_thread(&state, &me, view.head.creator_id, chat).await?;
    if let Some(notice) = crate::web::inbox::send::sender(&state)
        .mark_read_on_open(me.mark_read_on_open, me.agency_id, chat)
        .await
    {
        compose = compose.notice(compose::NoticeKind::Warning, notice);
    }
    page(
        &state,
        live_since,
        &session,
        &me,
        view,
        compose,
        FanDraft::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct AfterParams {
    after: Option<String>,
}

/// Messages newer than `after` (a message uuid of this chat), oldest first.
pub async fn messages_after(
    state: web::Data<AppState>,
    me: CurrentStaff,
    path: web::Path<Uuid>,
    params: web::Query<AfterParams>,
) -> Result<HttpResponse, WebError> {
    let after = match params
        .after
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(raw) => Some(Uuid::parse_str(raw).map_err(|_| {
            WebError::BadRequest("`after` must be the uuid of a message of this chat.".to_owned())
        })?),
    };
    let messages = thread::after(&state.pool, viewer(&me), path.into_inner(), after).await?;
    html(&MessagesFragment { messages })
}

/// One message's `<li>` (the live script swaps it in place).
pub async fn message(
    state: web::Data<AppState>,
    me: CurrentStaff,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, WebError> {
    let (chat, uuid) = path.into_inner();
    let m = thread::one(&state.pool, viewer(&me), chat, uuid).await?;
    html(&MessagesFragment { messages: vec![m] })
}
