//! Creators and their Fanvue connection: encrypted tokens, status, scopes,
//! and chatter assignments. Ciphertexts go in and out of here as bytes; this
//! module never sees a plaintext token.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{StoreError, expect_found};
use crate::domain::{AgencyId, CreatorId, CreatorStatus, StaffId};

const COLUMNS: &str = "c.id, c.agency_id, c.fanvue_uuid, c.handle, c.display_name, c.avatar_url, c.status, c.scopes, \
    c.token_expires_at, c.token_refreshed_at, c.connected_by, s.display_name AS connected_by_name, c.connected_at, \
    c.disconnected_at, c.last_api_error, c.last_api_error_at, c.created_at";

/// A creator as pages show it (no token material).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Creator {
    pub id: CreatorId,
    pub agency_id: AgencyId,
    pub fanvue_uuid: Uuid,
    pub handle: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: CreatorStatus,
    pub scopes: Vec<String>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub token_refreshed_at: Option<DateTime<Utc>>,
    pub connected_by: Option<StaffId>,
    pub connected_by_name: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub disconnected_at: Option<DateTime<Utc>>,
    pub last_api_error: Option<String>,
    pub last_api_error_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The encrypted token material of one creator, read under a lock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: CreatorId,
    pub agency_id: AgencyId,
    pub fanvue_uuid: Uuid,
    #[sqlx(try_from = "String")]
    pub status: CreatorStatus,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub token_expires_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn list(db: impl PgExecutor<'_>, agency: AgencyId) -> Result<Vec<Creator>, StoreError> {
    Ok(sqlx::query_as::<_, Creator>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM creators c LEFT JOIN staff s ON s.id = c.connected_by
         WHERE c.agency_id = $1 ORDER BY lower(c.display_name), c.id"
    )))
    .bind(agency)
    .fetch_all(db)
    .await?)
}

/// Creators assigned to a staff member (what a chatter may see).
#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %staff))]
pub async fn list_assigned(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    staff: StaffId,
) -> Result<Vec<Creator>, StoreError> {
    Ok(sqlx::query_as::<_, Creator>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM creators c
         JOIN creator_assignments a ON a.creator_id = c.id AND a.staff_id = $2 AND a.agency_id = $1
         LEFT JOIN staff s ON s.id = c.connected_by
         WHERE c.agency_id = $1 ORDER BY lower(c.display_name), c.id"
    )))
    .bind(agency)
    .bind(staff)
    .fetch_all(db)
    .await?)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %id))]
pub async fn get(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: CreatorId,
) -> Result<Creator, StoreError> {
    sqlx::query_as::<_, Creator>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM creators c LEFT JOIN staff s ON s.id = c.connected_by
         WHERE c.agency_id = $1 AND c.id = $2"
    )))
    .bind(agency)
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Who holds this Fanvue creator, if anyone (for the one-agency rule).
#[tracing::instrument(skip_all)]
pub async fn owner_of(
    conn: &mut PgConnection,
    fanvue_uuid: Uuid,
) -> Result<Option<(CreatorId, AgencyId)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, agency_id FROM creators WHERE fanvue_uuid = $1 FOR UPDATE")
            .bind(fanvue_uuid)
            .fetch_optional(conn)
            .await?,
    )
}

pub struct Connected<'a> {
    pub id: CreatorId,
    pub agency_id: AgencyId,
    pub fanvue_uuid: Uuid,
    pub handle: &'a str,
    pub display_name: &'a str,
    pub avatar_url: Option<&'a str>,
    pub scopes: &'a [String],
    pub access_token_enc: &'a [u8],
    pub refresh_token_enc: Option<&'a [u8]>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub connected_by: StaffId,
}

/// Inserts or updates (same agency) a creator as connected with new tokens.
#[tracing::instrument(skip_all, fields(agency_id = %c.agency_id, creator_id = %c.id))]
pub async fn upsert_connected(conn: &mut PgConnection, c: Connected<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO creators (id, agency_id, fanvue_uuid, handle, display_name, avatar_url, status, scopes,
            access_token_enc, refresh_token_enc, token_expires_at, token_refreshed_at, connected_by, connected_at,
            disconnected_at, last_api_error, last_api_error_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'connected', $7, $8, $9, $10, now(), $11, now(), NULL, NULL, NULL)
         ON CONFLICT (id) DO UPDATE SET
            handle = EXCLUDED.handle, display_name = EXCLUDED.display_name, avatar_url = EXCLUDED.avatar_url,
            status = 'connected', scopes = EXCLUDED.scopes, access_token_enc = EXCLUDED.access_token_enc,
            refresh_token_enc = EXCLUDED.refresh_token_enc, token_expires_at = EXCLUDED.token_expires_at,
            token_refreshed_at = now(), connected_by = EXCLUDED.connected_by, connected_at = now(),
            disconnected_at = NULL, last_api_error = NULL, last_api_error_at = NULL
         WHERE creators.agency_id = EXCLUDED.agency_id",
    )
    .bind(c.id)
    .bind(c.agency_id)
    .bind(c.fanvue_uuid)
    .bind(c.handle)
    .bind(c.display_name)
    .bind(c.avatar_url)
    .bind(c.scopes)
    .bind(c.access_token_enc)
    .bind(c.refresh_token_enc)
    .bind(c.token_expires_at)
    .bind(c.connected_by)
    .execute(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "creators_fanvue_uuid_key", "Fanvue creator"))?;
    Ok(())
}

/// Locks a creator's token row (inside the refresh transaction).
#[tracing::instrument(skip_all, fields(creator_id = %id))]
pub async fn lock_tokens(conn: &mut PgConnection, id: CreatorId) -> Result<TokenRow, StoreError> {
    sqlx::query_as::<_, TokenRow>(
        "SELECT id, agency_id, fanvue_uuid, status, access_token_enc, refresh_token_enc, token_expires_at
         FROM creators WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Reads token material without locking (the fast path).
#[tracing::instrument(skip_all, fields(creator_id = %id))]
pub async fn tokens(db: impl PgExecutor<'_>, id: CreatorId) -> Result<TokenRow, StoreError> {
    sqlx::query_as::<_, TokenRow>(
        "SELECT id, agency_id, fanvue_uuid, status, access_token_enc, refresh_token_enc, token_expires_at
         FROM creators WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Saves a refreshed pair. The rotated refresh token is written in the same
/// statement (and transaction) as the access token it came with.
#[tracing::instrument(skip_all, fields(creator_id = %id))]
pub async fn save_refreshed(
    conn: &mut PgConnection,
    id: CreatorId,
    access_enc: &[u8],
    refresh_enc: Option<&[u8]>,
    expires_at: Option<DateTime<Utc>>,
    scopes: Option<&[String]>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE creators SET access_token_enc = $2, refresh_token_enc = COALESCE($3, refresh_token_enc),
            token_expires_at = $4, token_refreshed_at = now(), scopes = COALESCE($5, scopes),
            last_api_error = NULL, last_api_error_at = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(access_enc)
    .bind(refresh_enc)
    .bind(expires_at)
    .bind(scopes)
    .execute(conn)
    .await?;
    Ok(())
}

/// The grant is gone (refresh refused): keep the tokens out of use until an
/// admin reconnects.
#[tracing::instrument(skip_all, fields(creator_id = %id))]
pub async fn mark_needs_reauth(
    db: &mut PgConnection,
    id: CreatorId,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE creators SET status = 'needs_reauth', last_api_error = $2, last_api_error_at = now()
         WHERE id = $1 AND status = 'connected'",
    )
    .bind(id)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(creator_id = %id))]
pub async fn record_api_error(
    db: &mut PgConnection,
    id: CreatorId,
    error: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE creators SET last_api_error = $2, last_api_error_at = now() WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes the tokens; the creator and (later) its mirrored data stay.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %id))]
pub async fn disconnect(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: CreatorId,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "UPDATE creators SET status = 'disconnected', access_token_enc = NULL, refresh_token_enc = NULL,
            token_expires_at = NULL, disconnected_at = now()
         WHERE agency_id = $1 AND id = $2",
    )
    .bind(agency)
    .bind(id)
    .execute(db)
    .await?;
    expect_found(r)
}

/// Deletes the creator with everything mirrored for it.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %id))]
pub async fn purge(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: CreatorId,
) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM creators WHERE agency_id = $1 AND id = $2")
        .bind(agency)
        .bind(id)
        .execute(db)
        .await?;
    expect_found(r)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Assignee {
    pub staff_id: StaffId,
    pub display_name: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: crate::domain::Role,
    pub active: bool,
    pub assigned_at: DateTime<Utc>,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn assignees(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
) -> Result<Vec<Assignee>, StoreError> {
    Ok(sqlx::query_as::<_, Assignee>(
        "SELECT s.id AS staff_id, s.display_name, s.email, s.role, s.active, a.assigned_at
         FROM creator_assignments a JOIN staff s ON s.id = a.staff_id AND s.agency_id = a.agency_id
         WHERE a.agency_id = $1 AND a.creator_id = $2 ORDER BY lower(s.display_name)",
    )
    .bind(agency)
    .bind(creator)
    .fetch_all(db)
    .await?)
}

/// Assigns; both creator and staff must belong to `agency` (else NotFound).
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator, staff_id = %staff, by = %by))]
pub async fn assign(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    staff: StaffId,
    by: StaffId,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO creator_assignments (creator_id, staff_id, agency_id, assigned_by)
         SELECT c.id, s.id, $1, $4 FROM creators c, staff s
         WHERE c.id = $2 AND c.agency_id = $1 AND s.id = $3 AND s.agency_id = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(agency)
    .bind(creator)
    .bind(staff)
    .bind(by)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator, staff_id = %staff))]
pub async fn unassign(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    staff: StaffId,
) -> Result<(), StoreError> {
    let r = sqlx::query("DELETE FROM creator_assignments WHERE agency_id = $1 AND creator_id = $2 AND staff_id = $3")
        .bind(agency)
        .bind(creator)
        .bind(staff)
        .execute(db)
        .await?;
    expect_found(r)
}

/// Whether `staff` is assigned to work `creator` (both of `agency`).
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator, staff_id = %staff))]
pub async fn is_assigned(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    staff: StaffId,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM creator_assignments
                        WHERE agency_id = $1 AND creator_id = $2 AND staff_id = $3)",
    )
    .bind(agency)
    .bind(creator)
    .bind(staff)
    .fetch_one(db)
    .await?)
}
