//! The agency's tag set (`tags`) and the tags on fans (`fan_tags`, keyed by
//! agency, tag and fan so the chat list's tag filter is one index probe).
//! Every query is scoped by agency; a tag of another agency is not found.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, StaffId, TagColour, TagId, TagName};

/// The unique index on `(agency_id, lower(name))`.
const NAME_KEY: &str = "tags_agency_name_key";

/// A tag of the agency's set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub id: TagId,
    pub name: String,
    pub colour: TagColour,
}

#[derive(sqlx::FromRow)]
struct RawTag {
    id: TagId,
    name: String,
    colour: String,
}

impl From<RawTag> for TagRow {
    fn from(r: RawTag) -> Self {
        Self {
            id: r.id,
            name: r.name,
            colour: TagColour::from_db(&r.colour),
        }
    }
}

/// A tag with how many fans carry it (the management page).
#[derive(Debug, Clone)]
pub struct TagUsage {
    pub tag: TagRow,
    pub fans: i64,
    pub created_at: DateTime<Utc>,
}

/// The agency's tags, by name.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn list(db: impl PgExecutor<'_>, agency: AgencyId) -> Result<Vec<TagRow>, StoreError> {
    let rows: Vec<RawTag> = sqlx::query_as(
        "SELECT id, name, colour FROM tags WHERE agency_id = $1 ORDER BY lower(name), id",
    )
    .bind(agency)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(TagRow::from).collect())
}

/// The agency's tags with their fan counts, by name.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn list_with_usage(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
) -> Result<Vec<TagUsage>, StoreError> {
    let rows: Vec<(TagId, String, String, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT t.id, t.name, t.colour,
            (SELECT count(*) FROM fan_tags f WHERE f.agency_id = t.agency_id AND f.tag_id = t.id),
            t.created_at
         FROM tags t WHERE t.agency_id = $1 ORDER BY lower(t.name), t.id",
    )
    .bind(agency)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, colour, fans, created_at)| TagUsage {
            tag: TagRow {
                id,
                name,
                colour: TagColour::from_db(&colour),
            },
            fans,
            created_at,
        })
        .collect())
}

/// One tag of the agency.
#[tracing::instrument(skip_all, fields(agency_id = %agency, tag_id = %id))]
pub async fn get(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: TagId,
) -> Result<TagRow, StoreError> {
    let row: Option<RawTag> =
        sqlx::query_as("SELECT id, name, colour FROM tags WHERE agency_id = $1 AND id = $2")
            .bind(agency)
            .bind(id)
            .fetch_optional(db)
            .await?;
    row.map(TagRow::from).ok_or(StoreError::NotFound)
}

/// Adds a tag; `Conflict("name")` when the agency has one of that name
/// (in any case).
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn create(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    name: &TagName,
    colour: TagColour,
) -> Result<TagId, StoreError> {
    let id = TagId::new();
    sqlx::query("INSERT INTO tags (id, agency_id, name, colour) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(agency)
        .bind(name.as_str())
        .bind(colour.as_str())
        .execute(db)
        .await
        .map_err(|e| StoreError::on_unique(e, NAME_KEY, "name"))?;
    Ok(id)
}

/// Renames and recolours a tag; `Conflict("name")` as for `create`.
#[tracing::instrument(skip_all, fields(agency_id = %agency, tag_id = %id))]
pub async fn update(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: TagId,
    name: &TagName,
    colour: TagColour,
) -> Result<(), StoreError> {
    super::expect_found(
        sqlx::query("UPDATE tags SET name = $3, colour = $4 WHERE agency_id = $1 AND id = $2")
            .bind(agency)
            .bind(id)
            .bind(name.as_str())
            .bind(colour.as_str())
            .execute(db)
            .await
            .map_err(|e| StoreError::on_unique(e, NAME_KEY, "name"))?,
    )
}

/// Deletes a tag (and so takes it off every fan).
#[tracing::instrument(skip_all, fields(agency_id = %agency, tag_id = %id))]
pub async fn delete(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: TagId,
) -> Result<(), StoreError> {
    super::expect_found(
        sqlx::query("DELETE FROM tags WHERE agency_id = $1 AND id = $2")
            .bind(agency)
            .bind(id)
            .execute(db)
            .await?,
    )
}

/// The fan's tags, by name.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn of_fan(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    fan: Uuid,
) -> Result<Vec<TagRow>, StoreError> {
    Ok(of_fans(db, agency, &[fan])
        .await?
        .remove(&fan)
        .unwrap_or_default())
}

/// The tags of each of these fans (the list rows' chips), by name.
#[tracing::instrument(skip_all, fields(agency_id = %agency, fans = fans.len()))]
pub async fn of_fans(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    fans: &[Uuid],
) -> Result<HashMap<Uuid, Vec<TagRow>>, StoreError> {
    let mut out: HashMap<Uuid, Vec<TagRow>> = HashMap::new();
    if fans.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(Uuid, TagId, String, String)> = sqlx::query_as(
        "SELECT f.fan_uuid, t.id, t.name, t.colour
         FROM fan_tags f JOIN tags t ON t.agency_id = f.agency_id AND t.id = f.tag_id
         WHERE f.agency_id = $1 AND f.fan_uuid = ANY($2)
         ORDER BY lower(t.name), t.id",
    )
    .bind(agency)
    .bind(fans)
    .fetch_all(db)
    .await?;
    for (fan, id, name, colour) in rows {
        out.entry(fan).or_default().push(TagRow {
            id,
            name,
            colour: TagColour::from_db(&colour),
        });
    }
    Ok(out)
}

/// Puts the agency's tag on the fan; false if it already was. A tag of
/// another agency violates the foreign key and is reported not found.
#[tracing::instrument(skip_all, fields(agency_id = %agency, tag_id = %tag))]
pub async fn tag_fan(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    tag: TagId,
    fan: Uuid,
    by: StaffId,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO fan_tags (agency_id, tag_id, fan_uuid, tagged_by)
         SELECT $1, t.id, $3, $4 FROM tags t WHERE t.agency_id = $1 AND t.id = $2
         ON CONFLICT DO NOTHING",
    )
    .bind(agency)
    .bind(tag)
    .bind(fan)
    .bind(by)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Takes the tag off the fan; false if it was not on.
#[tracing::instrument(skip_all, fields(agency_id = %agency, tag_id = %tag))]
pub async fn untag_fan(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    tag: TagId,
    fan: Uuid,
) -> Result<bool, StoreError> {
    let r =
        sqlx::query("DELETE FROM fan_tags WHERE agency_id = $1 AND tag_id = $2 AND fan_uuid = $3")
            .bind(agency)
            .bind(tag)
            .bind(fan)
            .execute(db)
            .await?;
    Ok(r.rows_affected() == 1)
}
