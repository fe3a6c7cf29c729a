//! Connect flows in progress: the hashed `state`, the encrypted PKCE
//! verifier, and who started the flow (agency, staff member, login). A flow
//! is consumed exactly once by its callback.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId, StaffId};

pub struct NewFlow<'a> {
    pub state_hash: &'a str,
    pub agency_id: AgencyId,
    pub staff_id: StaffId,
    pub login_id: &'a str,
    pub pkce_verifier_enc: &'a [u8],
    pub reconnect_creator_id: Option<CreatorId>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Flow {
    pub state_hash: String,
    pub agency_id: AgencyId,
    pub staff_id: StaffId,
    pub login_id: String,
    pub pkce_verifier_enc: Vec<u8>,
    pub reconnect_creator_id: Option<CreatorId>,
    pub expires_at: DateTime<Utc>,
}

#[tracing::instrument(skip_all, fields(agency_id = %f.agency_id))]
pub async fn create(db: impl PgExecutor<'_>, f: NewFlow<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oauth_flows (state_hash, agency_id, staff_id, login_id, pkce_verifier_enc, reconnect_creator_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(f.state_hash)
    .bind(f.agency_id)
    .bind(f.staff_id)
    .bind(f.login_id)
    .bind(f.pkce_verifier_enc)
    .bind(f.reconnect_creator_id)
    .bind(f.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Removes and returns the flow for this state (expired or not: the caller
/// checks, so a stale state is also burnt).
#[tracing::instrument(skip_all)]
pub async fn take(db: impl PgExecutor<'_>, state_hash: &str) -> Result<Option<Flow>, StoreError> {
    Ok(sqlx::query_as::<_, Flow>(
        "DELETE FROM oauth_flows WHERE state_hash = $1
         RETURNING state_hash, agency_id, staff_id, login_id, pkce_verifier_enc, reconnect_creator_id, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(db)
    .await?)
}

#[tracing::instrument(skip_all)]
pub async fn purge_expired(db: impl PgExecutor<'_>) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM oauth_flows WHERE expires_at < now()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}

#[tracing::instrument(skip_all)]
pub async fn count(db: impl PgExecutor<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM oauth_flows")
        .fetch_one(db)
        .await?)
}
