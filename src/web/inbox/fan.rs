//! The fan panel's notes and tags: add, edit and delete notes, put tags on
//! and take them off. Every route hangs off a chat, which decides access
//! (`inbox::fan_notes::fan_of_chat`: 404 for another agency's chat or an
//! unassigned creator); forms are plain POSTs (CSRF-checked by the
//! middleware) that redirect back to the thread, so they work without JS.
//! A refused note re-renders the thread with what was typed.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{NOTE_MAX_CHARS, NoteBody, NoteId, TagId};
use crate::http::client_ip::ClientIp;
use crate::inbox::fan_notes::{self, Actor, FanRef, NoteView};
use crate::inbox::tags::{self, FanTagsView};
use crate::inbox::thread::HeadView;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::inbox::list::viewer;
use crate::web::inbox::thread::render_with_fan_draft;
use crate::web::render::see_other;
use crate::web::session::{FlashKind, TypedSession};

/// What a refused fan-panel form leaves for the re-render.
#[derive(Debug, Clone, Default)]
pub struct FanDraft {
    /// The new-note box's text and error.
    pub note: String,
    pub note_error: Option<String>,
    /// A note being edited: its id, the text typed and the error.
    pub edit: Option<(NoteId, String, String)>,
}

/// The fan panel's notes and tags as the thread page renders them.
#[derive(Debug, Clone)]
pub struct FanPanel {
    pub chat: Uuid,
    pub notes: Vec<NoteView>,
    pub tags: FanTagsView,
    pub draft: FanDraft,
    pub max_chars: usize,
}

impl FanPanel {
    pub async fn load(
        state: &AppState,
        me: &CurrentStaff,
        head: &HeadView,
        draft: FanDraft,
    ) -> Result<Self, WebError> {
        let fan = FanRef {
            chat_id: head.chat_id,
            fan_uuid: head.fan_uuid,
        };
        Ok(Self {
            chat: head.chat_id,
            notes: fan_notes::notes(&state.pool, viewer(me), me.zone, fan).await?,
            tags: tags::of_fan(&state.pool, viewer(me), fan).await?,
            draft,
            max_chars: NOTE_MAX_CHARS,
        })
    }

    /// Whether note `id`'s edit form opens (it was refused).
    pub fn editing(&self, id: &NoteId) -> bool {
        self.draft.edit.as_ref().is_some_and(|(e, _, _)| e == id)
    }

    /// The text note `n`'s edit box starts with.
    pub fn edit_text<'a>(&'a self, n: &'a NoteView) -> &'a str {
        match &self.draft.edit {
            Some((id, text, _)) if *id == n.id => text,
            _ => &n.body,
        }
    }

    /// Why note `id`'s edit was refused, if it was.
    pub fn edit_error(&self, id: &NoteId) -> Option<&str> {
        match &self.draft.edit {
            Some((e, _, err)) if e == id => Some(err),
            _ => None,
        }
    }
}

fn chat_id(raw: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(raw).map_err(|_| WebError::NotFound)
}

fn note_id(raw: &str) -> Result<NoteId, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
}

fn back(chat: Uuid) -> HttpResponse {
    see_other(&format!("/inbox/chats/{chat}#fan-notes"))
}

async fn fan(state: &AppState, me: &CurrentStaff, chat: &str) -> Result<FanRef, WebError> {
    Ok(fan_notes::fan_of_chat(&state.pool, viewer(me), chat_id(chat)?).await?)
}

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    body: String,
}

/// `POST /inbox/chats/{id}/notes`: a new note about the chat's fan.
pub async fn add_note(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    path: web::Path<String>,
    form: web::Form<NoteForm>,
) -> Result<HttpResponse, WebError> {
    let fan = fan(&state, &me, &path).await?;
    let body = match NoteBody::parse(&form.body) {
        Ok(b) => b,
        Err(e) => {
            let draft = FanDraft {
                note: form.body.clone(),
                note_error: Some(e.0),
                edit: None,
            };
            return render_with_fan_draft(&state, &session, &me, fan.chat_id, draft).await;
        }
    };
    let actor = Actor {
        viewer: viewer(&me),
        client_ip: Some(ip.as_str()),
    };
    fan_notes::add(&state.pool, &actor, fan, &body).await?;
    TypedSession(&session).flash(FlashKind::Success, "Note added.");
    Ok(back(fan.chat_id))
}

/// `POST /inbox/chats/{id}/notes/{note}/edit`: the author changes a note.
pub async fn edit_note(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    path: web::Path<(String, String)>,
    form: web::Form<NoteForm>,
) -> Result<HttpResponse, WebError> {
    let (chat, note) = path.into_inner();
    let fan = fan(&state, &me, &chat).await?;
    let note = note_id(&note)?;
    let body = match NoteBody::parse(&form.body) {
        Ok(b) => b,
        Err(e) => {
            let draft = FanDraft {
                edit: Some((note, form.body.clone(), e.0)),
                ..FanDraft::default()
            };
            return render_with_fan_draft(&state, &session, &me, fan.chat_id, draft).await;
        }
    };
    let actor = Actor {
        viewer: viewer(&me),
        client_ip: Some(ip.as_str()),
    };
    fan_notes::edit(&state.pool, &actor, fan, note, &body).await?;
    TypedSession(&session).flash(FlashKind::Success, "Note saved.");
    Ok(back(fan.chat_id))
}

/// `POST /inbox/chats/{id}/notes/{note}/delete`: the author, or a manager.
pub async fn delete_note(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (chat, note) = path.into_inner();
    let fan = fan(&state, &me, &chat).await?;
    let note = note_id(&note)?;
    let actor = Actor {
        viewer: viewer(&me),
        client_ip: Some(ip.as_str()),
    };
    fan_notes::delete(&state.pool, &actor, fan, note).await?;
    TypedSession(&session).flash(FlashKind::Info, "Note deleted.");
    Ok(back(fan.chat_id))
}

#[derive(Debug, Deserialize)]
pub struct TagForm {
    #[serde(default)]
    tag_id: String,
}

/// `POST /inbox/chats/{id}/tags`: puts one of the agency's tags on the fan.
pub async fn add_tag(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    path: web::Path<String>,
    form: web::Form<TagForm>,
) -> Result<HttpResponse, WebError> {
    let fan = fan(&state, &me, &path).await?;
    let tag: TagId = form
        .tag_id
        .parse()
        .map_err(|_| WebError::BadRequest("Choose a tag to add.".to_owned()))?;
    let actor = Actor {
        viewer: viewer(&me),
        client_ip: Some(ip.as_str()),
    };
    tags::tag_fan(&state.pool, &actor, fan, tag).await?;
    TypedSession(&session).flash(FlashKind::Success, "Tag added.");
    Ok(see_other(&format!("/inbox/chats/{}#fan-tags", fan.chat_id)))
}

/// `POST /inbox/chats/{id}/tags/{tag}/remove`: takes a tag off the fan.
pub async fn remove_tag(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    ip: ClientIp,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (chat, tag) = path.into_inner();
    let fan = fan(&state, &me, &chat).await?;
    let tag: TagId = tag.parse().map_err(|_| WebError::NotFound)?;
    let actor = Actor {
        viewer: viewer(&me),
        client_ip: Some(ip.as_str()),
    };
    tags::untag_fan(&state.pool, &actor, fan, tag).await?;
    TypedSession(&session).flash(FlashKind::Info, "Tag removed.");
    Ok(see_other(&format!("/inbox/chats/{}#fan-tags", fan.chat_id)))
}
