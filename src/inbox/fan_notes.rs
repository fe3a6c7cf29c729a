//! Notes about a fan: several per fan, by the agency's staff, shared by all
//! of the agency's creators the fan follows. Whoever may see any of the
//! fan's chats sees them; the chat a request comes through decides (404
//! otherwise). Edits are the author's; deletes the author's or a manager's.
//! Every change is audited in the transaction that makes it.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::access::Viewer;
use super::error::InboxError;
use super::preview;
use super::thread::visible_chat;
use crate::domain::{AgencyZone, AuditAction, NoteBody, NoteId};
use crate::store::fan_notes::NoteRow;
use crate::store::{self, StoreError};

/// The fan a visible chat is with; 404 for a chat the viewer may not see.
#[derive(Debug, Clone, Copy)]
pub struct FanRef {
    pub chat_id: Uuid,
    pub fan_uuid: Uuid,
}

/// The fan of `chat`, checked visible to the viewer.
pub async fn fan_of_chat(db: &PgPool, viewer: Viewer, chat: Uuid) -> Result<FanRef, InboxError> {
    let head = visible_chat(db, viewer, chat).await?;
    Ok(FanRef {
        chat_id: head.id,
        fan_uuid: head.fan_uuid,
    })
}

pub use super::actor::Actor;

/// One note as the fan panel shows it.
#[derive(Debug, Clone)]
pub struct NoteView {
    pub id: NoteId,
    pub author: String,
    pub body: String,
    pub at_local: String,
    pub at_iso: String,
    /// "edited 2026-…" when changed after it was written.
    pub edited: Option<String>,
    pub can_edit: bool,
    pub can_delete: bool,
}

fn may_delete(viewer: Viewer, note: &NoteRow) -> bool {
    note.author_id == viewer.staff_id || viewer.role.is_manager_or_above()
}

/// The fan's notes for the panel, newest first.
/// `zone` is the agency's (read with the signed-in staff row).
pub async fn notes(
    db: &PgPool,
    viewer: Viewer,
    zone: AgencyZone,
    fan: FanRef,
) -> Result<Vec<NoteView>, InboxError> {
    let rows = store::fan_notes::for_fan(db, viewer.agency_id, fan.fan_uuid).await?;
    Ok(rows
        .into_iter()
        .map(|n| NoteView {
            can_edit: n.author_id == viewer.staff_id,
            can_delete: may_delete(viewer, &n),
            at_local: preview::local(n.created_at, zone),
            at_iso: preview::iso(n.created_at),
            edited: (n.updated_at > n.created_at + chrono::Duration::seconds(1))
                .then(|| preview::local(n.updated_at, zone)),
            id: n.id,
            author: n.author_name,
            body: n.body,
        })
        .collect())
}

/// Writes a note about the fan.
pub async fn add(
    db: &PgPool,
    actor: &Actor<'_>,
    fan: FanRef,
    body: &NoteBody,
) -> Result<NoteId, InboxError> {
    let v = actor.viewer;
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let id =
        store::fan_notes::insert(&mut *tx, v.agency_id, fan.fan_uuid, v.staff_id, body).await?;
    let target = fan.fan_uuid.to_string();
    store::audit::record(
        &mut *tx,
        actor.audit(
            AuditAction::FanNoteCreated,
            &target,
            json!({ "note": id, "chat": fan.chat_id, "chars": body.as_str().chars().count() }),
        ),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(id)
}

/// Changes the text of the viewer's own note (403 for someone else's, 404
/// for a note that is not this fan's).
pub async fn edit(
    db: &PgPool,
    actor: &Actor<'_>,
    fan: FanRef,
    note: NoteId,
    body: &NoteBody,
) -> Result<(), InboxError> {
    let v = actor.viewer;
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let row = store::fan_notes::get_for_update(&mut *tx, v.agency_id, fan.fan_uuid, note).await?;
    if row.author_id != v.staff_id {
        return Err(InboxError::Forbidden);
    }
    store::fan_notes::update(&mut *tx, v.agency_id, fan.fan_uuid, note, body).await?;
    let target = fan.fan_uuid.to_string();
    store::audit::record(
        &mut *tx,
        actor.audit(
            AuditAction::FanNoteUpdated,
            &target,
            json!({ "note": note, "chat": fan.chat_id, "chars": body.as_str().chars().count() }),
        ),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Deletes a note: its author, or any manager (403 otherwise).
pub async fn delete(
    db: &PgPool,
    actor: &Actor<'_>,
    fan: FanRef,
    note: NoteId,
) -> Result<(), InboxError> {
    let v = actor.viewer;
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let row = store::fan_notes::get_for_update(&mut *tx, v.agency_id, fan.fan_uuid, note).await?;
    if !may_delete(v, &row) {
        return Err(InboxError::Forbidden);
    }
    store::fan_notes::delete(&mut *tx, v.agency_id, fan.fan_uuid, note).await?;
    let target = fan.fan_uuid.to_string();
    store::audit::record(
        &mut *tx,
        actor.audit(AuditAction::FanNoteDeleted,
            &target,
            json!({ "note": note, "chat": fan.chat_id, "author": row.author_id, "author_name": row.author_name }),
        ),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
