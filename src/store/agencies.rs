//! Agencies: the tenants.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::StoreError;
use crate::domain::{AgencyId, AgencyName};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Agency {
    pub id: AgencyId,
    pub name: String,
    pub slug: String,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
}

/// Creates an agency with a unique slug (a numeric suffix is added when the
/// name's slug is taken).
#[tracing::instrument(skip_all)]
pub async fn create(
    conn: &mut sqlx::PgConnection,
    name: &AgencyName,
) -> Result<Agency, StoreError> {
    let base = name.slug();
    let taken: Vec<String> =
        sqlx::query_scalar("SELECT slug FROM agencies WHERE slug = $1 OR slug LIKE $1 || '-%'")
            .bind(&base)
            .fetch_all(&mut *conn)
            .await?;
    let mut slug = base.clone();
    let mut n = 2;
    while taken.contains(&slug) {
        slug = format!("{base}-{n}");
        n += 1;
    }
    let agency = sqlx::query_as::<_, Agency>(
        "INSERT INTO agencies (id, name, slug) VALUES ($1, $2, $3)
         RETURNING id, name, slug, time_zone, created_at",
    )
    .bind(AgencyId::new())
    .bind(name.as_str())
    .bind(&slug)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "agencies_slug_key", "agency slug"))?;
    Ok(agency)
}

#[tracing::instrument(skip_all, fields(agency_id = %id))]
pub async fn get(db: impl PgExecutor<'_>, id: AgencyId) -> Result<Agency, StoreError> {
    sqlx::query_as::<_, Agency>(
        "SELECT id, name, slug, time_zone, created_at FROM agencies WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The agency's "mark chats read when opened" setting (default off).
#[tracing::instrument(skip_all, fields(agency_id = %id))]
pub async fn mark_read_on_open(db: impl PgExecutor<'_>, id: AgencyId) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT mark_read_on_open FROM agencies WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?
            .unwrap_or(false),
    )
}
