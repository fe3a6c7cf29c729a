//! Canned replies (`canned_replies`): agency-wide snippets (no owner) and
//! each staff member's own. Every query is scoped by agency, and reads that
//! a chatter makes are also scoped to "agency-wide or mine", so another
//! member's personal snippet is never found (the handler turns that into a
//! 404). Who may change an agency-wide snippet is decided above this layer.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, StaffId};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CannedRow {
    pub id: Uuid,
    /// None for an agency-wide snippet.
    pub owner_staff_id: Option<StaffId>,
    pub title: String,
    pub body: String,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, owner_staff_id, title, body, updated_at";

/// The agency's snippets and `viewer`'s own, agency-wide first, by title.
#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %viewer))]
pub async fn visible(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    viewer: StaffId,
) -> Result<Vec<CannedRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM canned_replies
          WHERE agency_id = $1 AND (owner_staff_id IS NULL OR owner_staff_id = $2)
          ORDER BY owner_staff_id IS NOT NULL, lower(title), id"
    )))
    .bind(agency)
    .bind(viewer)
    .fetch_all(db)
    .await?)
}

/// One snippet `viewer` may see (agency-wide or their own); None otherwise.
#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %viewer, canned_id = %id))]
pub async fn get_visible(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    viewer: StaffId,
    id: Uuid,
) -> Result<Option<CannedRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM canned_replies
          WHERE agency_id = $1 AND id = $3 AND (owner_staff_id IS NULL OR owner_staff_id = $2)"
    )))
    .bind(agency)
    .bind(viewer)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

pub struct NewCanned<'a> {
    pub owner: Option<StaffId>,
    pub title: &'a str,
    pub body: &'a str,
    pub created_by: StaffId,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn insert(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    c: &NewCanned<'_>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO canned_replies (id, agency_id, owner_staff_id, title, body, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(agency)
    .bind(c.owner)
    .bind(c.title)
    .bind(c.body)
    .bind(c.created_by)
    .execute(db)
    .await?;
    Ok(id)
}

/// Changes the title and body of a snippet of `agency`; false if there is
/// no such snippet.
#[tracing::instrument(skip_all, fields(agency_id = %agency, canned_id = %id))]
pub async fn update(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: Uuid,
    title: &str,
    body: &str,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE canned_replies SET title = $3, body = $4, updated_at = now()
          WHERE agency_id = $1 AND id = $2",
    )
    .bind(agency)
    .bind(id)
    .bind(title)
    .bind(body)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, canned_id = %id))]
pub async fn delete(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: Uuid,
) -> Result<bool, StoreError> {
    let r = sqlx::query("DELETE FROM canned_replies WHERE agency_id = $1 AND id = $2")
        .bind(agency)
        .bind(id)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}
