//! The chat list page and its fragments (rows, tab counts, one row).

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use crate::inbox::list::{self, CreatorOption, ListQuery, RowView, TabView};
use crate::inbox::tags::TagChip;
use crate::inbox::{InboxError, Viewer};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::render::{PageCtx, html};

impl From<InboxError> for WebError {
    fn from(e: InboxError) -> Self {
        match e {
            InboxError::NotFound => WebError::NotFound,
            InboxError::Forbidden => WebError::Forbidden,
            InboxError::BadRequest(msg) => WebError::BadRequest(msg),
            InboxError::Store(s) => WebError::from(s),
        }
    }
}

/// The viewer the inbox's visibility rule decides for.
pub fn viewer(me: &CurrentStaff) -> Viewer {
    Viewer {
        agency_id: me.agency_id,
        staff_id: me.id,
        role: me.role,
    }
}

/// `tab`, `creator`, `q`, `after`: all optional, parsed by `ListQuery`.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    tab: Option<String>,
    creator: Option<String>,
    q: Option<String>,
    tag: Option<String>,
    after: Option<String>,
    /// `side=1`: the thread page's side list (its first rows, unfiltered),
    /// with `open` (a chat id) marked as the chat beside it.
    side: Option<String>,
    open: Option<String>,
}

impl ListParams {
    fn parse(&self) -> Result<ListQuery, InboxError> {
        ListQuery::parse(
            self.tab.as_deref(),
            self.creator.as_deref(),
            self.q.as_deref(),
            self.after.as_deref(),
        )?
        .with_tag(self.tag.as_deref())
    }
}

#[derive(Template)]
#[template(path = "inbox/list.html")]
pub struct ListPage {
    pub ctx: PageCtx,
    pub creators: Vec<CreatorOption>,
    pub creator: String,
    pub search: String,
    /// The tag filter's id ("" for none) and the agency's tags.
    pub tag: String,
    pub tags: Vec<TagChip>,
    pub tab: &'static str,
    pub tabs: Vec<TabView>,
    pub filters: String,
    pub query: String,
    pub rows: Vec<RowView>,
    pub next_cursor: Option<String>,
    /// A "load more" page (not the first).
    pub paged: bool,
    /// The newest live event id before the data was read: live.js resumes
    /// after it, so nothing committed meanwhile is lost.
    pub live_since: i64,
}

/// The rows fragment: `<li>`s and the "load more" `<li>`.
#[derive(Template)]
#[template(path = "inbox/_rows.html")]
pub struct RowsFragment {
    pub query: String,
    pub rows: Vec<RowView>,
    pub next_cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "inbox/_tabs.html")]
pub struct TabsFragment {
    pub tabs: Vec<TabView>,
    pub filters: String,
}

pub async fn page(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    let query = params.parse()?;
    // Before the data: what commits after this is replayed to the page.
    let live_since = crate::store::live::current_id(&state.pool).await?;
    let view = list::page(&state.pool, viewer(&me), query).await?;
    html(&ListPage {
        ctx: PageCtx::new(&session, Some(&me), "inbox")?,
        creators: view.creators,
        creator: view
            .query
            .creator
            .map(|c| c.to_string())
            .unwrap_or_default(),
        search: view.query.search.clone().unwrap_or_default(),
        tag: view.query.tag.map(|t| t.to_string()).unwrap_or_default(),
        tags: view.tags,
        tab: view.query.tab.as_str(),
        tabs: view.tabs,
        filters: view.query.filters(),
        query: view.query.query(),
        paged: view.query.after.is_some(),
        rows: view.rows.rows,
        next_cursor: view.rows.next_cursor,
        live_since,
    })
}

pub async fn rows(
    state: web::Data<AppState>,
    me: CurrentStaff,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    let query = params.parse()?;
    let view = if params.side.as_deref().is_some_and(|s| !s.is_empty()) {
        // Only marks a row: an id the viewer may not see marks nothing.
        let open = match params
            .open
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(raw) => Some(
                Uuid::parse_str(raw)
                    .map_err(|_| WebError::BadRequest("`open` must be a chat id.".to_owned()))?,
            ),
        };
        list::side_rows(
            &state.pool,
            viewer(&me),
            open,
            crate::inbox::thread::SIDE_ROWS,
        )
        .await?
    } else {
        list::rows(&state.pool, viewer(&me), &query).await?
    };
    html(&RowsFragment {
        query: query.query(),
        rows: view.rows,
        next_cursor: view.next_cursor,
    })
}

pub async fn counts(
    state: web::Data<AppState>,
    me: CurrentStaff,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    let query = params.parse()?;
    let tabs = list::tabs(&state.pool, viewer(&me), &query).await?;
    html(&TabsFragment {
        tabs,
        filters: query.filters(),
    })
}

/// One chat's row under the list's filters; 204 when it does not match
/// them (the live script drops it), 404 when the chat is not visible.
pub async fn row(
    state: web::Data<AppState>,
    me: CurrentStaff,
    path: web::Path<Uuid>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    let query = params.parse()?;
    match list::row(&state.pool, viewer(&me), path.into_inner(), &query).await? {
        None => Ok(HttpResponse::NoContent().finish()),
        Some(r) => html(&RowsFragment {
            query: query.query(),
            rows: vec![r],
            next_cursor: None,
        }),
    }
}
