//! Sync scheduling state and run history. A creator's sync is leased: a
//! worker claims the row with `FOR UPDATE SKIP LOCKED` and an expiry, renews
//! it while working, and every write it makes re-checks the lease inside the
//! write's transaction, so a worker that lost its lease writes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::StoreError;
use crate::domain::{AgencyId, CreatorId};

/// Registers a creator for sync (on connect); an existing row is made due.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn ensure(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sync_state (creator_id, agency_id, next_reconcile_at) VALUES ($1, $2, now())
         ON CONFLICT (creator_id) DO UPDATE SET next_reconcile_at = now()",
    )
    .bind(creator)
    .bind(agency)
    .execute(db)
    .await?;
    Ok(())
}

/// What a worker claimed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    /// A reconcile is due (scheduled time passed, or requested).
    pub reconcile_due: bool,
    pub creator_id: CreatorId,
    pub agency_id: AgencyId,
    pub backfill_done_at: Option<DateTime<Utc>>,
    pub history_done_at: Option<DateTime<Utc>>,
    pub high_water_at: Option<DateTime<Utc>>,
    pub last_reconcile_at: Option<DateTime<Utc>>,
    /// The database's time of the claim: a reconcile request made after it is one the
    /// run may not have seen.
    pub claimed_at: DateTime<Utc>,
}

/// Claims one connected creator whose sync is due and not leased (or whose
/// lease expired: its worker crashed). `only` restricts to one creator.
#[tracing::instrument(skip_all, fields(creator_id = ?only))]
pub async fn claim(
    db: impl PgExecutor<'_>,
    worker: &str,
    lease: Duration,
    only: Option<CreatorId>,
) -> Result<Option<Claim>, StoreError> {
    Ok(sqlx::query_as::<_, Claim>(
        "UPDATE sync_state s SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2)
         WHERE s.creator_id = (
            SELECT st.creator_id FROM sync_state st JOIN creators c ON c.id = st.creator_id
            WHERE c.status = 'connected'
              AND (st.lease_expires_at IS NULL OR st.lease_expires_at < now())
              AND (st.backfill_done_at IS NULL OR st.history_done_at IS NULL
                   OR st.next_reconcile_at <= now() OR st.reconcile_requested_at IS NOT NULL)
              AND ($3::uuid IS NULL OR st.creator_id = $3)
            ORDER BY st.backfill_done_at NULLS FIRST, st.next_reconcile_at
            LIMIT 1
            FOR UPDATE OF st SKIP LOCKED)
         RETURNING s.creator_id, s.agency_id, s.backfill_done_at, s.history_done_at, s.high_water_at, s.last_reconcile_at,
            (s.next_reconcile_at <= now() OR s.reconcile_requested_at IS NOT NULL) AS reconcile_due,
            now() AS claimed_at",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .bind(only)
    .fetch_optional(db)
    .await?)
}

/// Extends the lease; false when this worker no longer holds it.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn renew(
    db: impl PgExecutor<'_>,
    creator: CreatorId,
    worker: &str,
    lease: Duration,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE sync_state SET lease_expires_at = now() + make_interval(secs => $3)
         WHERE creator_id = $1 AND lease_owner = $2 AND lease_expires_at > now()",
    )
    .bind(creator)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Inside a write transaction: locks the lease row and confirms it is still
/// ours and unexpired.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn holds_lease(
    conn: &mut PgConnection,
    creator: CreatorId,
    worker: &str,
) -> Result<bool, StoreError> {
    let held: Option<bool> = sqlx::query_scalar(
        "SELECT COALESCE(lease_owner = $2 AND lease_expires_at > now(), false) FROM sync_state WHERE creator_id = $1 FOR SHARE",
    )
    .bind(creator)
    .bind(worker)
    .fetch_optional(conn)
    .await?;
    Ok(held == Some(true))
}

/// Gives the lease back; `next_reconcile_at` (when this run reconciled or
/// backfilled) schedules the next reconcile, else the schedule stays.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn release(
    db: impl PgExecutor<'_>,
    creator: CreatorId,
    worker: &str,
    next_reconcile_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sync_state SET lease_owner = NULL, lease_expires_at = NULL,
            next_reconcile_at = COALESCE($3, next_reconcile_at)
         WHERE creator_id = $1 AND lease_owner = $2",
    )
    .bind(creator)
    .bind(worker)
    .bind(next_reconcile_at)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn mark_backfilled(
    conn: &mut PgConnection,
    creator: CreatorId,
    high_water: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sync_state SET backfill_done_at = now(), high_water_at = $2 WHERE creator_id = $1",
    )
    .bind(creator)
    .bind(high_water)
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn mark_history_done(
    conn: &mut PgConnection,
    creator: CreatorId,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sync_state SET history_done_at = now() WHERE creator_id = $1")
        .bind(creator)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a finished reconcile. A request made after `claimed_at` (a tip webhook
/// while the walk ran, say) stays: the walk may have read the chats before it, and
/// clearing it would leave its message for the next scheduled run.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn mark_reconciled(
    conn: &mut PgConnection,
    creator: CreatorId,
    high_water: Option<DateTime<Utc>>,
    claimed_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sync_state SET last_reconcile_at = now(),
            reconcile_requested_at = CASE WHEN reconcile_requested_at > $3 THEN reconcile_requested_at END,
            high_water_at = GREATEST(high_water_at, $2)
         WHERE creator_id = $1",
    )
    .bind(creator)
    .bind(high_water)
    .bind(claimed_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Creators of every agency whose first backfill has not finished. Not
/// tenant-scoped: only the demo's start-up wait uses it, never a request.
#[tracing::instrument(skip_all)]
pub async fn backfills_pending(db: impl PgExecutor<'_>) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM sync_state WHERE backfill_done_at IS NULL")
            .fetch_one(db)
            .await?,
    )
}

/// "Reconcile now": scoped by agency; false when one was requested within
/// `min_gap` (the button is rate-limited).
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn request_reconcile(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    min_gap: Duration,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE sync_state SET reconcile_requested_at = now()
         WHERE agency_id = $1 AND creator_id = $2
           AND (reconcile_requested_at IS NULL OR reconcile_requested_at < now() - make_interval(secs => $3))
           AND (last_reconcile_at IS NULL OR last_reconcile_at < now() - make_interval(secs => $3))",
    )
    .bind(agency)
    .bind(creator)
    .bind(min_gap.as_secs_f64())
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct State {
    pub backfill_done_at: Option<DateTime<Utc>>,
    pub history_done_at: Option<DateTime<Utc>>,
    pub high_water_at: Option<DateTime<Utc>>,
    pub last_reconcile_at: Option<DateTime<Utc>>,
    pub next_reconcile_at: DateTime<Utc>,
    pub reconcile_requested_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn state(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
) -> Result<Option<State>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT backfill_done_at, history_done_at, high_water_at, last_reconcile_at, next_reconcile_at,
            reconcile_requested_at, lease_owner, lease_expires_at
         FROM sync_state WHERE agency_id = $1 AND creator_id = $2",
    )
    .bind(agency)
    .bind(creator)
    .fetch_optional(db)
    .await?)
}

/// One sync run's figures.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Run {
    pub id: i64,
    pub kind: String,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub api_requests: i32,
    pub rate_limited: i32,
    pub messages_upserted: i32,
    pub chats_touched: i32,
    pub skipped: serde_json::Value,
    pub error: Option<String>,
}

pub struct NewRun<'a> {
    pub agency_id: AgencyId,
    pub creator_id: CreatorId,
    pub kind: &'a str,
    pub worker: &'a str,
    pub started_at: DateTime<Utc>,
    pub api_requests: i64,
    pub rate_limited: i64,
    pub messages_upserted: i64,
    pub chats_touched: i64,
    pub skipped: serde_json::Value,
    pub error: Option<&'a str>,
}

#[tracing::instrument(skip_all, fields(agency_id = %r.agency_id, creator_id = %r.creator_id))]
pub async fn record_run(db: impl PgExecutor<'_>, r: NewRun<'_>) -> Result<(), StoreError> {
    let clamp = |v: i64| v.clamp(0, i64::from(i32::MAX)) as i32;
    sqlx::query(
        "INSERT INTO sync_runs (agency_id, creator_id, kind, worker, started_at, api_requests, rate_limited,
            messages_upserted, chats_touched, skipped, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(r.agency_id)
    .bind(r.creator_id)
    .bind(r.kind)
    .bind(r.worker)
    .bind(r.started_at)
    .bind(clamp(r.api_requests))
    .bind(clamp(r.rate_limited))
    .bind(clamp(r.messages_upserted))
    .bind(clamp(r.chats_touched))
    .bind(&r.skipped)
    .bind(r.error)
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn recent_runs(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    limit: i64,
) -> Result<Vec<Run>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, kind, worker, started_at, finished_at, api_requests, rate_limited, messages_upserted,
            chats_touched, skipped, error
         FROM sync_runs WHERE agency_id = $1 AND creator_id = $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(agency)
    .bind(creator)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Per creator: when the last webhook arrived, when reconcile last ran and
/// what it found — a reconcile that keeps finding messages while webhooks
/// stay silent means the webhook endpoint is probably misconfigured.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Freshness {
    pub creator_id: CreatorId,
    pub handle: String,
    pub last_webhook_at: Option<DateTime<Utc>>,
    pub last_reconcile_at: Option<DateTime<Utc>>,
    pub last_reconcile_found: Option<i32>,
}

impl Freshness {
    /// Webhooks silent since before the last reconcile, which found new
    /// messages anyway.
    pub fn gap(&self) -> bool {
        let found = self.last_reconcile_found.unwrap_or(0) > 0;
        let silent = match (self.last_webhook_at, self.last_reconcile_at) {
            (None, Some(_)) => true,
            (Some(w), Some(r)) => w < r - chrono::Duration::minutes(15),
            _ => false,
        };
        found && silent
    }
}

#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn freshness(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
) -> Result<Vec<Freshness>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id AS creator_id, c.handle, s.last_webhook_at, s.last_reconcile_at,
            (SELECT r.messages_upserted FROM sync_runs r WHERE r.creator_id = c.id AND r.kind = 'reconcile'
             ORDER BY r.id DESC LIMIT 1) AS last_reconcile_found
         FROM creators c JOIN sync_state s ON s.creator_id = c.id
         WHERE c.agency_id = $1 ORDER BY lower(c.handle)",
    )
    .bind(agency)
    .fetch_all(db)
    .await?)
}
