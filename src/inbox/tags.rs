//! Fan tags: the agency's labels (managers keep the set) put on fans by
//! staff who can see one of the fan's chats. Tags belong to the agency and
//! the fan, like notes. Every change is audited in its transaction.

use serde_json::json;
use sqlx::PgPool;

use super::access::Viewer;
use super::error::InboxError;
use super::fan_notes::{Actor, FanRef};
use crate::domain::{AuditAction, TagColour, TagId, TagName};
use crate::store::fan_tags::{TagRow, TagUsage};
use crate::store::{self, StoreError};

/// A tag as a chip (fan panel, list rows, filter menu).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagChip {
    pub id: TagId,
    pub name: String,
    /// `tag-blue`, …: a palette class, never user input.
    pub class: &'static str,
}

impl From<&TagRow> for TagChip {
    fn from(t: &TagRow) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            class: t.colour.class(),
        }
    }
}

/// The fan panel's tags: those on the fan and those that can be added.
#[derive(Debug, Clone, Default)]
pub struct FanTagsView {
    pub on: Vec<TagChip>,
    pub addable: Vec<TagChip>,
}

/// The fan's tags, and the agency's others.
pub async fn of_fan(db: &PgPool, viewer: Viewer, fan: FanRef) -> Result<FanTagsView, InboxError> {
    let all = store::fan_tags::list(db, viewer.agency_id).await?;
    let on = store::fan_tags::of_fan(db, viewer.agency_id, fan.fan_uuid).await?;
    Ok(FanTagsView {
        addable: all
            .iter()
            .filter(|t| !on.iter().any(|o| o.id == t.id))
            .map(TagChip::from)
            .collect(),
        on: on.iter().map(TagChip::from).collect(),
    })
}

/// The agency's tags as chips, by name (the list's filter menu).
pub async fn chips(db: &PgPool, viewer: Viewer) -> Result<Vec<TagChip>, InboxError> {
    Ok(store::fan_tags::list(db, viewer.agency_id)
        .await?
        .iter()
        .map(TagChip::from)
        .collect())
}

/// Puts `tag` (404 unless the agency's) on the fan; audited when it was
/// not on already.
pub async fn tag_fan(
    db: &PgPool,
    actor: &Actor<'_>,
    fan: FanRef,
    tag: TagId,
) -> Result<(), InboxError> {
    let v = actor.viewer;
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let row = store::fan_tags::get(&mut *tx, v.agency_id, tag).await?;
    if store::fan_tags::tag_fan(&mut *tx, v.agency_id, tag, fan.fan_uuid, v.staff_id).await? {
        let target = fan.fan_uuid.to_string();
        store::audit::record(
            &mut *tx,
            actor.audit(
                AuditAction::FanTagged,
                &target,
                json!({ "tag": tag, "tag_name": row.name, "chat": fan.chat_id }),
            ),
        )
        .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Takes `tag` off the fan; audited when it was on.
pub async fn untag_fan(
    db: &PgPool,
    actor: &Actor<'_>,
    fan: FanRef,
    tag: TagId,
) -> Result<(), InboxError> {
    let v = actor.viewer;
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let row = store::fan_tags::get(&mut *tx, v.agency_id, tag).await?;
    if store::fan_tags::untag_fan(&mut *tx, v.agency_id, tag, fan.fan_uuid).await? {
        let target = fan.fan_uuid.to_string();
        store::audit::record(
            &mut *tx,
            actor.audit(
                AuditAction::FanUntagged,
                &target,
                json!({ "tag": tag, "tag_name": row.name, "chat": fan.chat_id }),
            ),
        )
        .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

fn managers_only(v: Viewer) -> Result<(), InboxError> {
    if v.role.is_manager_or_above() {
        Ok(())
    } else {
        Err(InboxError::Forbidden)
    }
}

fn name_taken(e: StoreError, name: &TagName) -> InboxError {
    match e {
        StoreError::Conflict(_) => {
            InboxError::BadRequest(format!("A tag named “{name}” already exists."))
        }
        other => other.into(),
    }
}

/// The management page: every tag with its fan count (managers).
pub async fn overview(db: &PgPool, viewer: Viewer) -> Result<Vec<TagUsage>, InboxError> {
    managers_only(viewer)?;
    Ok(store::fan_tags::list_with_usage(db, viewer.agency_id).await?)
}

/// Adds a tag to the agency's set (managers; the name unique in any case).
pub async fn create(
    db: &PgPool,
    actor: &Actor<'_>,
    name: &TagName,
    colour: TagColour,
) -> Result<TagId, InboxError> {
    let v = actor.viewer;
    managers_only(v)?;
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let id = store::fan_tags::create(&mut *tx, v.agency_id, name, colour)
        .await
        .map_err(|e| name_taken(e, name))?;
    let target = id.to_string();
    store::audit::record(
        &mut *tx,
        actor.audit(
            AuditAction::TagCreated,
            &target,
            json!({ "name": name.as_str(), "colour": colour.as_str() }),
        ),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(id)
}

/// Renames and recolours a tag (managers); audited with old and new.
pub async fn update(
    db: &PgPool,
    actor: &Actor<'_>,
    tag: TagId,
    name: &TagName,
    colour: TagColour,
) -> Result<(), InboxError> {
    let v = actor.viewer;
    managers_only(v)?;
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let before = store::fan_tags::get(&mut *tx, v.agency_id, tag).await?;
    store::fan_tags::update(&mut *tx, v.agency_id, tag, name, colour)
        .await
        .map_err(|e| name_taken(e, name))?;
    let target = tag.to_string();
    store::audit::record(
        &mut *tx,
        actor.audit(
            AuditAction::TagUpdated,
            &target,
            json!({
                "from": { "name": before.name, "colour": before.colour.as_str() },
                "to": { "name": name.as_str(), "colour": colour.as_str() },
            }),
        ),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Deletes a tag, taking it off every fan (managers).
pub async fn delete(db: &PgPool, actor: &Actor<'_>, tag: TagId) -> Result<(), InboxError> {
    let v = actor.viewer;
    managers_only(v)?;
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let before = store::fan_tags::get(&mut *tx, v.agency_id, tag).await?;
    store::fan_tags::delete(&mut *tx, v.agency_id, tag).await?;
    let target = tag.to_string();
    store::audit::record(
        &mut *tx,
        actor.audit(
            AuditAction::TagDeleted,
            &target,
            json!({ "name": before.name, "colour": before.colour.as_str() }),
        ),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
