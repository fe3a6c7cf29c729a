//! Webhook events: intake (insert, deduplicated), claiming for processing
//! with `SKIP LOCKED`, completion, retry with backoff, dead letters, and
//! what the admin page shows.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId, WebhookEventId};

/// A verified, parsed delivery ready to be stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: &'static str,
    /// The body's natural key (signed); the only dedupe key.
    pub dedupe_key: String,
    /// The unsigned `X-Fanvue-Event-Id` header, kept for diagnosis only.
    pub event_id: Option<String>,
    /// The creator the event is for (`recipientUuid`).
    pub creator_fanvue_uuid: Uuid,
    /// The raw JSON body as received; Postgres parses it into `jsonb`.
    pub payload: String,
}

/// How a stored delivery was filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// For a connected creator; will be applied.
    Pending,
    /// No connected creator with this uuid (none, or disconnected): kept,
    /// never applied.
    Unmatched,
    /// Seen before (same dedupe key); nothing stored.
    Duplicate,
}

/// Stores deliveries in one statement: creator lookup, insert and dedupe
/// together (the group commit of intake calls it with a batch, and with one
/// row at a time when a batch fails). Dedupe keys must be distinct within
/// `events`; the result is in the same order. Rows are inserted in key order so that two concurrent batches
/// sharing keys wait on each other instead of deadlocking.
#[tracing::instrument(skip_all)]
pub async fn insert_many(
    db: impl PgExecutor<'_>,
    events: &[&NewEvent],
) -> Result<Vec<Intake>, StoreError> {
    let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
    let ids: Vec<Option<&str>> = events.iter().map(|e| e.event_id.as_deref()).collect();
    let creators: Vec<Uuid> = events.iter().map(|e| e.creator_fanvue_uuid).collect();
    let payloads: Vec<&str> = events.iter().map(|e| e.payload.as_str()).collect();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "INSERT INTO webhook_events (event_type, dedupe_key, event_id, creator_fanvue_uuid, agency_id, creator_id, payload, status)
         SELECT i.event_type, i.dedupe_key, i.event_id, i.creator_fanvue_uuid, c.agency_id, c.id, i.payload::jsonb,
                CASE WHEN c.id IS NULL THEN 'unmatched' ELSE 'pending' END
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[])
              AS i(event_type, dedupe_key, event_id, creator_fanvue_uuid, payload)
         LEFT JOIN creators c ON c.fanvue_uuid = i.creator_fanvue_uuid AND c.status <> 'disconnected'
         ORDER BY i.dedupe_key
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING dedupe_key, status",
    )
    .bind(&types)
    .bind(&keys)
    .bind(&ids)
    .bind(&creators)
    .bind(&payloads)
    .fetch_all(db)
    .await?;
    let filed: std::collections::HashMap<String, String> = rows.into_iter().collect();
    Ok(events
        .iter()
        .map(|e| match filed.get(&e.dedupe_key).map(String::as_str) {
            Some("pending") => Intake::Pending,
            Some(_) => Intake::Unmatched,
            None => Intake::Duplicate,
        })
        .collect())
}

/// A refused delivery, as logged: no payload text.
#[derive(Debug, Clone)]
pub struct NewRejection<'a> {
    pub event_type: Option<&'a str>,
    pub reason: &'a str,
    pub client_ip: Option<&'a str>,
    /// The creator a signed body names; `None` for forged or unreadable ones.
    pub creator_fanvue_uuid: Option<Uuid>,
}

/// Logs a rejection unless `per_minute` were logged in the last minute
/// (installation-wide); beyond that only the minute's count goes up.
/// Returns whether the row was kept.
#[tracing::instrument(skip_all)]
pub async fn reject(
    pool: &sqlx::PgPool,
    r: &NewRejection<'_>,
    per_minute: i64,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    super::locks::rejection_log(&mut tx).await?;
    let kept = sqlx::query(
        "INSERT INTO webhook_rejections (event_type, reason, client_ip, creator_fanvue_uuid)
         SELECT $1, $2, $3, $4
         WHERE (SELECT count(*) FROM webhook_rejections WHERE received_at > now() - interval '1 minute') < $5",
    )
    .bind(r.event_type)
    .bind(r.reason)
    .bind(r.client_ip)
    .bind(r.creator_fanvue_uuid)
    .bind(per_minute)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if !kept {
        sqlx::query(
            "INSERT INTO webhook_rejections_dropped (minute, dropped) VALUES (date_trunc('minute', now()), 1)
             ON CONFLICT (minute) DO UPDATE SET dropped = webhook_rejections_dropped.dropped + 1",
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(kept)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: WebhookEventId,
    /// The natural key the event was deduplicated on.
    pub dedupe_key: String,
    pub event_type: String,
    pub agency_id: Option<AgencyId>,
    pub creator_id: Option<CreatorId>,
    pub payload: serde_json::Value,
    pub attempts: i32,
    /// Whether its creator has been disconnected since intake.
    pub creator_disconnected: Option<bool>,
}

/// Claims due events (pending, or processing whose claim lapsed: a worker
/// crashed between claim and apply), oldest first: they are applied in this
/// order (an `UPDATE`'s `RETURNING` has no order of its own).
#[tracing::instrument(skip_all)]
pub async fn claim(
    db: impl PgExecutor<'_>,
    limit: i64,
    lock_secs: f64,
) -> Result<Vec<Claimed>, StoreError> {
    Ok(sqlx::query_as(
        "WITH claimed AS (
            UPDATE webhook_events e SET status = 'processing', attempts = e.attempts + 1,
                locked_until = now() + make_interval(secs => $2)
            WHERE e.id IN (
                SELECT id FROM webhook_events
                WHERE (status = 'pending' AND next_attempt_at <= now())
                   OR (status = 'processing' AND locked_until < now())
                ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING e.id, e.dedupe_key, e.event_type, e.agency_id, e.creator_id, e.payload, e.attempts,
                (SELECT c.status = 'disconnected' FROM creators c WHERE c.id = e.creator_id) AS creator_disconnected)
         SELECT * FROM claimed ORDER BY id",
    )
    .bind(limit)
    .bind(lock_secs)
    .fetch_all(db)
    .await?)
}

/// Extends the claim of events still being processed (a live worker's round); events
/// applied or released meanwhile are left alone.
#[tracing::instrument(skip_all)]
pub async fn extend_claim(
    db: impl PgExecutor<'_>,
    ids: &[WebhookEventId],
    lock_secs: f64,
) -> Result<(), StoreError> {
    let ids: Vec<i64> = ids.iter().map(WebhookEventId::as_i64).collect();
    sqlx::query(
        "UPDATE webhook_events SET locked_until = now() + make_interval(secs => $2)
         WHERE id = ANY($1) AND status = 'processing'",
    )
    .bind(ids)
    .bind(lock_secs)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a round of events applied, in the transaction that applied them.
#[tracing::instrument(skip_all)]
pub async fn mark_processed(
    conn: &mut PgConnection,
    ids: &[WebhookEventId],
) -> Result<(), StoreError> {
    let ids: Vec<i64> = ids.iter().map(WebhookEventId::as_i64).collect();
    sqlx::query("UPDATE webhook_events SET status = 'processed', processed_at = now(), error = NULL, locked_until = NULL WHERE id = ANY($1)")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Files events whose creator was disconnected after intake as unmatched:
/// they are kept, never applied.
#[tracing::instrument(skip_all)]
pub async fn mark_unmatched(
    conn: &mut PgConnection,
    ids: &[WebhookEventId],
) -> Result<(), StoreError> {
    let ids: Vec<i64> = ids.iter().map(WebhookEventId::as_i64).collect();
    sqlx::query("UPDATE webhook_events SET status = 'unmatched', error = 'creator disconnected', locked_until = NULL WHERE id = ANY($1)")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Schedules a retry, or dead-letters after `max_attempts`.
#[tracing::instrument(skip_all)]
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: WebhookEventId,
    error: &str,
    max_attempts: i32,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_events SET
            status = CASE WHEN attempts >= $3 THEN 'dead' ELSE 'pending' END,
            next_attempt_at = now() + make_interval(secs => LEAST(power(2, attempts)::float8, 3600)),
            locked_until = NULL, error = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(max_attempts)
    .execute(db)
    .await?;
    Ok(())
}

/// An admin's "retry" on a dead letter (scoped by agency).
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn retry_dead(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: WebhookEventId,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = now(), error = NULL
         WHERE agency_id = $1 AND id = $2 AND status = 'dead'",
    )
    .bind(agency)
    .bind(id)
    .execute(db)
    .await?;
    super::expect_found(r)
}

/// Freshness: a webhook for this creator was just applied.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn touch_creator(db: impl PgExecutor<'_>, creator: CreatorId) -> Result<(), StoreError> {
    sqlx::query("UPDATE sync_state SET last_webhook_at = now() WHERE creator_id = $1 AND (last_webhook_at IS NULL OR last_webhook_at < now() - interval '1 second')")
        .bind(creator)
        .execute(db)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TypeSummary {
    pub event_type: String,
    pub total: i64,
    pub last_received_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn summary(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
) -> Result<Vec<TypeSummary>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT event_type, count(*) AS total, max(received_at) AS last_received_at
         FROM webhook_events WHERE agency_id = $1 GROUP BY event_type ORDER BY event_type",
    )
    .bind(agency)
    .fetch_all(db)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: WebhookEventId,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub attempts: i32,
    pub error: Option<String>,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn dead_letters(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
) -> Result<Vec<DeadLetter>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, event_type, received_at, attempts, error FROM webhook_events
         WHERE agency_id = $1 AND status = 'dead' ORDER BY id DESC LIMIT 100",
    )
    .bind(agency)
    .fetch_all(db)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Rejection {
    pub received_at: DateTime<Utc>,
    pub event_type: Option<String>,
    pub reason: String,
}

/// The agency's own rejections: those whose signed body named one of its
/// creators. Others (forged, or another agency's) are only counted.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn recent_rejections(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    limit: i64,
) -> Result<Vec<Rejection>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT r.received_at, r.event_type, r.reason FROM webhook_rejections r
         WHERE r.creator_fanvue_uuid IN (SELECT fanvue_uuid FROM creators WHERE agency_id = $1)
         ORDER BY r.id DESC LIMIT $2",
    )
    .bind(agency)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// How many kept rejections concern no creator of `agency`, plus those only
/// counted beyond the per-minute cap.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn rejections_elsewhere(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM webhook_rejections r
                 WHERE r.creator_fanvue_uuid IS NULL
                    OR r.creator_fanvue_uuid NOT IN (SELECT fanvue_uuid FROM creators WHERE agency_id = $1))
              + (SELECT COALESCE(sum(dropped), 0) FROM webhook_rejections_dropped)::bigint",
    )
    .bind(agency)
    .fetch_one(db)
    .await?)
}

/// Rejections are kept a week for diagnosis.
#[tracing::instrument(skip_all)]
pub async fn purge_rejections(
    db: impl PgExecutor<'_>,
    older_than_days: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM webhook_rejections WHERE received_at < now() - make_interval(days => $1::int)",
    )
    .bind(older_than_days as i32)
    .execute(db)
    .await?
    .rows_affected())
}

/// The per-minute counts of unlogged rejections, kept as long as the rows.
#[tracing::instrument(skip_all)]
pub async fn purge_dropped_rejections(
    db: impl PgExecutor<'_>,
    older_than_days: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM webhook_rejections_dropped WHERE minute < now() - make_interval(days => $1::int)",
    )
    .bind(older_than_days as i32)
    .execute(db)
    .await?
    .rows_affected())
}
