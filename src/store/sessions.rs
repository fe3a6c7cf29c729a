//! Rows of the server-side session store. Keys are stored as SHA-256 hashes;
//! `staff_id` and `login_id` are copied out of the state so sessions can be
//! ended per person ("log out everywhere else").

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::StoreError;
use crate::domain::StaffId;

pub struct SessionRow<'a> {
    pub key_hash: &'a str,
    pub staff_id: Option<StaffId>,
    pub login_id: Option<&'a str>,
    pub state: &'a serde_json::Value,
    pub expires_at: DateTime<Utc>,
}

#[tracing::instrument(skip_all)]
pub async fn load(
    db: impl PgExecutor<'_>,
    key_hash: &str,
) -> Result<Option<(serde_json::Value, DateTime<Utc>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT state, expires_at FROM sessions WHERE key_hash = $1 AND expires_at > now()",
    )
    .bind(key_hash)
    .fetch_optional(db)
    .await?)
}

#[tracing::instrument(skip_all)]
pub async fn insert(db: impl PgExecutor<'_>, row: SessionRow<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (key_hash, staff_id, login_id, state, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(row.key_hash)
    .bind(row.staff_id)
    .bind(row.login_id)
    .bind(row.state)
    .bind(row.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Returns false when the session no longer exists (expired or revoked).
#[tracing::instrument(skip_all)]
pub async fn update(db: impl PgExecutor<'_>, row: SessionRow<'_>) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE sessions SET staff_id = $2, login_id = $3, state = $4, expires_at = $5
         WHERE key_hash = $1 AND expires_at > now()",
    )
    .bind(row.key_hash)
    .bind(row.staff_id)
    .bind(row.login_id)
    .bind(row.state)
    .bind(row.expires_at)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Extends the idle deadline; skips the write when it moved less than a
/// minute, so busy pages do not write on every request. (The session
/// store skips even the call when the deadline it just loaded says so.)
#[tracing::instrument(skip_all)]
pub async fn touch(
    db: impl PgExecutor<'_>,
    key_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sessions SET expires_at = $2
         WHERE key_hash = $1 AND expires_at > now() AND expires_at < $2 - interval '60 seconds'",
    )
    .bind(key_hash)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn delete(db: impl PgExecutor<'_>, key_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE key_hash = $1")
        .bind(key_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Ends every session of a staff member, optionally keeping the one with
/// `keep_login_id` (the person's current session).
#[tracing::instrument(skip_all, fields(staff_id = %staff))]
pub async fn delete_for_staff(
    db: impl PgExecutor<'_>,
    staff: StaffId,
    keep_login_id: Option<&str>,
) -> Result<u64, StoreError> {
    let r = sqlx::query(
        "DELETE FROM sessions WHERE staff_id = $1 AND ($2::text IS NULL OR login_id IS DISTINCT FROM $2)",
    )
    .bind(staff)
    .bind(keep_login_id)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

#[tracing::instrument(skip_all, fields(staff_id = %staff))]
pub async fn count_for_staff(db: impl PgExecutor<'_>, staff: StaffId) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE staff_id = $1 AND expires_at > now()",
    )
    .bind(staff)
    .fetch_one(db)
    .await?)
}

#[tracing::instrument(skip_all)]
pub async fn purge_expired(db: impl PgExecutor<'_>) -> Result<u64, StoreError> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= now()")
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}
