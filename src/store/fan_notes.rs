//! Notes about a fan (`fan_notes`), keyed by agency and fan uuid: one set
//! per fan across all of the agency's creators. Callers decide who may see
//! the fan (through a chat, `inbox::access`); every query is scoped by
//! agency and fan, so a note id of another agency or fan is not found.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, NoteBody, NoteId, StaffId};

/// A note with its author's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoteRow {
    pub id: NoteId,
    pub author_id: StaffId,
    pub author_name: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT n.id, n.author_id, s.display_name AS author_name, n.body,
        n.created_at, n.updated_at
     FROM fan_notes n JOIN staff s ON s.id = n.author_id AND s.agency_id = n.agency_id";

/// The fan's notes, newest first.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn for_fan(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    fan: Uuid,
) -> Result<Vec<NoteRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE n.agency_id = $1 AND n.fan_uuid = $2
         ORDER BY n.created_at DESC, n.id DESC"
    )))
    .bind(agency)
    .bind(fan)
    .fetch_all(db)
    .await?)
}

/// One note of the fan, locked for a change.
#[tracing::instrument(skip_all, fields(agency_id = %agency, note_id = %id))]
pub async fn get_for_update(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    fan: Uuid,
    id: NoteId,
) -> Result<NoteRow, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE n.agency_id = $1 AND n.fan_uuid = $2 AND n.id = $3 FOR UPDATE OF n"
    )))
    .bind(agency)
    .bind(fan)
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %author))]
pub async fn insert(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    fan: Uuid,
    author: StaffId,
    body: &NoteBody,
) -> Result<NoteId, StoreError> {
    let id = NoteId::new();
    sqlx::query(
        "INSERT INTO fan_notes (id, agency_id, fan_uuid, author_id, body) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(agency)
    .bind(fan)
    .bind(author)
    .bind(body.as_str())
    .execute(db)
    .await?;
    Ok(id)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, note_id = %id))]
pub async fn update(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    fan: Uuid,
    id: NoteId,
    body: &NoteBody,
) -> Result<(), StoreError> {
    super::expect_found(
        sqlx::query(
            "UPDATE fan_notes SET body = $4, updated_at = now()
             WHERE agency_id = $1 AND fan_uuid = $2 AND id = $3",
        )
        .bind(agency)
        .bind(fan)
        .bind(id)
        .bind(body.as_str())
        .execute(db)
        .await?,
    )
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, note_id = %id))]
pub async fn delete(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    fan: Uuid,
    id: NoteId,
) -> Result<(), StoreError> {
    super::expect_found(
        sqlx::query("DELETE FROM fan_notes WHERE agency_id = $1 AND fan_uuid = $2 AND id = $3")
            .bind(agency)
            .bind(fan)
            .bind(id)
            .execute(db)
            .await?,
    )
}
