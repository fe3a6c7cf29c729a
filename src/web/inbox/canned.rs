//! Canned replies: the management page (`/inbox/canned`: everyone's own
//! snippets, the agency's, editable by managers and above), and the
//! compose box's snippet source for one chat (`/inbox/chats/{id}/canned`):
//! JSON for the `/` picker in compose.js (snippets filled for this chat,
//! plus the creator's Fanvue templates, labelled), a page without
//! JavaScript, and `?use={snippet}` which re-renders the thread with the
//! compose box filled. Snippet ids of another agency, or another member's
//! personal snippets, are 404.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::{Cents, FieldErrors};
use crate::fanvue::Priority;
use crate::http::client_ip::ClientIp;
use crate::inbox::canned::{self, CannedError, CannedInput, Scope};
use crate::inbox::thread::visible_chat;
use crate::store::canned::CannedRow;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::inbox::compose::{self, ComposeBox};
use crate::web::inbox::send::{viewer, visible_target};
use crate::web::render::{PageCtx, html, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

impl From<CannedError> for WebError {
    fn from(e: CannedError) -> Self {
        match e {
            CannedError::NotFound => WebError::NotFound,
            CannedError::Forbidden => WebError::Forbidden,
            CannedError::Invalid(_) => WebError::BadRequest("The snippet is not valid.".to_owned()),
            CannedError::Store(s) => s.into(),
        }
    }
}

/// A snippet as the management page lists it.
pub struct SnippetView {
    pub id: String,
    pub title: String,
    pub body: String,
    pub editable: bool,
    /// `{word}`s that are not placeholders (inserted as typed).
    pub unknown: Vec<String>,
}

impl SnippetView {
    fn new(row: &CannedRow, editable: bool) -> Self {
        Self {
            id: row.id.to_string(),
            title: row.title.clone(),
            body: row.body.clone(),
            editable,
            unknown: canned::unknown_placeholders(&row.body),
        }
    }
}

/// What the create or edit form shows: the input as typed and its errors.
#[derive(Default)]
pub struct SnippetForm {
    pub title: String,
    pub body: String,
    pub scope: String,
    pub errors: FieldErrors,
    pub unknown: Vec<String>,
}

impl SnippetForm {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
    pub fn has_error(&self, field: &str) -> bool {
        self.errors.get(field).is_some()
    }
}

#[derive(Template)]
#[template(path = "inbox/canned.html")]
pub struct CannedPage {
    pub ctx: PageCtx,
    pub agency: Vec<SnippetView>,
    pub mine: Vec<SnippetView>,
    pub manager: bool,
    pub form: SnippetForm,
    pub max_title: usize,
    pub max_body: usize,
}

#[derive(Template)]
#[template(path = "inbox/canned_edit.html")]
pub struct EditPage {
    pub ctx: PageCtx,
    pub id: String,
    pub scope_label: &'static str,
    pub form: SnippetForm,
    pub max_title: usize,
    pub max_body: usize,
}

#[derive(Debug, Deserialize)]
pub struct SnippetFields {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    scope: String,
}

async fn management(
    state: &AppState,
    session: &Session,
    me: &CurrentStaff,
    form: SnippetForm,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let v = viewer(me);
    let rows = canned::visible(&state.pool, v).await?;
    let manager = me.role.is_manager_or_above();
    let (agency, mine): (Vec<_>, Vec<_>) = rows.iter().partition(|r| Scope::of(r) == Scope::Agency);
    html_status(
        status,
        &CannedPage {
            ctx: PageCtx::new(session, Some(me), "inbox")?,
            agency: agency
                .iter()
                .map(|r| SnippetView::new(r, manager))
                .collect(),
            mine: mine.iter().map(|r| SnippetView::new(r, true)).collect(),
            manager,
            form,
            max_title: canned::MAX_TITLE_CHARS,
            max_body: canned::MAX_BODY_CHARS,
        },
    )
}

/// `GET /inbox/canned`.
pub async fn page(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
) -> Result<HttpResponse, WebError> {
    let form = SnippetForm {
        scope: "mine".into(),
        ..SnippetForm::default()
    };
    management(&state, &session, &me, form, StatusCode::OK).await
}

/// `POST /inbox/canned`: a new snippet (agency-wide needs a manager).
pub async fn create(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    fields: web::Form<SnippetFields>,
) -> Result<HttpResponse, WebError> {
    let scope = Scope::parse(&fields.scope);
    match CannedInput::parse(&fields.title, &fields.body) {
        Err(errors) => {
            let form = SnippetForm {
                title: fields.title.clone(),
                body: fields.body.clone(),
                scope: scope.as_str().into(),
                errors,
                unknown: Vec::new(),
            };
            management(
                &state,
                &session,
                &me,
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Ok(input) => {
            canned::create(&state.pool, viewer(&me), Some(ip.as_str()), scope, &input).await?;
            let unknown = canned::unknown_placeholders(&input.body);
            let msg = if unknown.is_empty() {
                format!("Saved \u{201c}{}\u{201d}.", input.title)
            } else {
                format!(
                    "Saved \u{201c}{}\u{201d}. {} is not a placeholder and will be inserted as typed.",
                    input.title,
                    unknown.join(", ")
                )
            };
            TypedSession(&session).flash(FlashKind::Success, msg);
            Ok(see_other("/inbox/canned"))
        }
    }
}

fn parse_id(raw: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(raw).map_err(|_| WebError::NotFound)
}

/// `GET /inbox/canned/{id}`: the edit form of a snippet the viewer may change.
pub async fn edit(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = parse_id(&path)?;
    let row = canned::editable(&state.pool, viewer(&me), id).await?;
    let form = SnippetForm {
        unknown: canned::unknown_placeholders(&row.body),
        title: row.title.clone(),
        body: row.body.clone(),
        scope: Scope::of(&row).as_str().into(),
        errors: FieldErrors::default(),
    };
    html(&EditPage {
        ctx: PageCtx::new(&session, Some(&me), "inbox")?,
        id: row.id.to_string(),
        scope_label: scope_label(Scope::of(&row)),
        form,
        max_title: canned::MAX_TITLE_CHARS,
        max_body: canned::MAX_BODY_CHARS,
    })
}

fn scope_label(s: Scope) -> &'static str {
    match s {
        Scope::Agency => "Agency snippet (everyone in the agency can use it)",
        Scope::Mine => "Personal snippet (only you can see it)",
    }
}

/// `POST /inbox/canned/{id}`: saves an edit.
pub async fn update(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    path: web::Path<String>,
    fields: web::Form<SnippetFields>,
) -> Result<HttpResponse, WebError> {
    let id = parse_id(&path)?;
    let v = viewer(&me);
    match CannedInput::parse(&fields.title, &fields.body) {
        Err(errors) => {
            let row = canned::editable(&state.pool, v, id).await?;
            html_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &EditPage {
                    ctx: PageCtx::new(&session, Some(&me), "inbox")?,
                    id: row.id.to_string(),
                    scope_label: scope_label(Scope::of(&row)),
                    form: SnippetForm {
                        title: fields.title.clone(),
                        body: fields.body.clone(),
                        scope: Scope::of(&row).as_str().into(),
                        errors,
                        unknown: Vec::new(),
                    },
                    max_title: canned::MAX_TITLE_CHARS,
                    max_body: canned::MAX_BODY_CHARS,
                },
            )
        }
        Ok(input) => {
            canned::update(&state.pool, v, Some(ip.as_str()), id, &input).await?;
            TypedSession(&session).flash(
                FlashKind::Success,
                format!("Saved \u{201c}{}\u{201d}.", input.title),
            );
            Ok(see_other("/inbox/canned"))
        }
    }
}

/// `POST /inbox/canned/{id}/delete`.
pub async fn delete(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = parse_id(&path)?;
    canned::delete(&state.pool, viewer(&me), Some(ip.as_str()), id).await?;
    TypedSession(&session).flash(FlashKind::Success, "Snippet deleted.");
    Ok(see_other("/inbox/canned"))
}

/// One entry of the picker: a snippet filled for this chat, or a Fanvue
/// template.
pub struct PickEntry {
    pub id: String,
    pub kind: &'static str,
    pub label: &'static str,
    pub title: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "inbox/canned_pick.html")]
pub struct PickPage {
    pub ctx: PageCtx,
    pub chat_id: String,
    pub fan_name: String,
    pub entries: Vec<PickEntry>,
}

#[derive(Debug, Deserialize)]
pub struct PickParams {
    #[serde(default, rename = "use")]
    pub chosen: Option<String>,
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// `GET /inbox/chats/{id}/canned`: the snippets for this chat, filled.
/// JSON for the picker (with the Fanvue templates), a page without
/// JavaScript, or with `?use=` the thread with the compose box filled.
pub async fn for_chat(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<PickParams>,
) -> Result<HttpResponse, WebError> {
    let target = visible_target(&state, &me, &path).await?;
    let v = viewer(&me);
    let head = visible_chat(&state.pool, v, target.chat_id).await?;
    let fan_name = crate::inbox::preview::fan_name(
        head.fan_display_name.as_deref(),
        head.fan_handle.as_deref(),
    );
    let rows = canned::visible(&state.pool, v).await?;
    let fill = |r: &CannedRow| canned::fill(&r.body, &fan_name, &head.creator_name);
    if let Some(raw) = params.chosen.as_deref() {
        let id = Uuid::parse_str(raw).map_err(|_| WebError::NotFound)?;
        let row = rows.iter().find(|r| r.id == id).ok_or(WebError::NotFound)?;
        let mut compose: ComposeBox =
            compose::for_thread(&state, &me, target.creator_id, target.chat_id).await?;
        compose.text = fill(row);
        return crate::web::inbox::thread::render_thread(
            &state,
            &session,
            &me,
            target.chat_id,
            compose,
            StatusCode::OK,
        )
        .await;
    }
    let entries: Vec<PickEntry> = rows
        .iter()
        .map(|r| {
            let scope = Scope::of(r);
            PickEntry {
                id: r.id.to_string(),
                kind: scope.as_str(),
                label: scope.label(),
                title: r.title.clone(),
                text: fill(r),
            }
        })
        .collect();
    if !wants_json(&req) {
        return html(&PickPage {
            ctx: PageCtx::new(&session, Some(&me), "inbox")?,
            chat_id: target.chat_id.to_string(),
            fan_name,
            entries,
        });
    }
    // The picker also offers the creator's Fanvue templates (one
    // interactive read, made only when a chatter opens the picker).
    let client = state.connections.client();
    let result = state
        .connections
        .call(target.creator_id, Priority::Interactive, |a| async move {
            client.templates(&a, 1, 50).await
        })
        .await;
    let mut data: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            json!({ "id": e.id, "kind": e.kind, "label": e.label, "title": e.title, "text": e.text })
        })
        .collect();
    let mut error = None;
    match result {
        Ok(p) => data.extend(p.items.iter().map(|t| {
            let title = t
                .name
                .clone()
                .or(t.folder_name.clone())
                .unwrap_or_else(|| "Template".into());
            json!({
                "id": t.uuid,
                "kind": "fanvue",
                "label": "Fanvue template",
                "title": title,
                "text": t.text.clone().unwrap_or_default(),
                "price": t.price.map(|c| Cents::new(c).decimal()),
                "media": t.media_uuids,
            })
        })),
        Err(e) => {
            tracing::warn!(error = %e, chat_id = %target.chat_id, "templates for the picker failed");
            error = Some("Fanvue templates could not be loaded; your snippets are shown.");
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "data": data, "error": error })))
}
