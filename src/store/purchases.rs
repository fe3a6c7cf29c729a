//! Money events from webhooks: PPV purchases (parked until their message
//! is mirrored, then joined to it) and tips. Both are deduplicated by the
//! event's key, so a redelivered webhook records nothing twice.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId};

pub struct Purchase<'a> {
    pub message_uuid: Uuid,
    pub fan_uuid: Option<Uuid>,
    pub price_cents: Option<i64>,
    pub purchased_at: DateTime<Utc>,
    pub dedupe_key: &'a str,
}

/// `purchase.new` for a message: recorded, and joined to the message now or
/// as soon as it is mirrored. Returns whether it joined now.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn record_purchase(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    p: Purchase<'_>,
) -> Result<bool, StoreError> {
    sqlx::query(
        "INSERT INTO purchase_events (agency_id, creator_id, message_uuid, fan_uuid, price_cents, purchased_at, dedupe_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(agency)
    .bind(creator)
    .bind(p.message_uuid)
    .bind(p.fan_uuid)
    .bind(p.price_cents)
    .bind(p.purchased_at)
    .bind(p.dedupe_key)
    .execute(&mut *conn)
    .await?;
    Ok(join_parked_purchases(conn, creator, Some(p.message_uuid)).await? > 0)
}

/// Applies parked purchases whose message is now in the mirror. First reads
/// the (few, usually zero) open purchase events through their partial index
/// and stops there when there are none; only then probes messages by
/// primary key. Two statements rather than one so that no cached plan can
/// start from the creator's messages (a generic plan made while the mirror
/// was small did, and cost grew with the mirror). `only` limits it to one
/// message (the webhook path). Returns how many messages it updated.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn join_parked_purchases(
    conn: &mut PgConnection,
    creator: CreatorId,
    only: Option<Uuid>,
) -> Result<u64, StoreError> {
    let open: Vec<(i64, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, message_uuid, purchased_at FROM purchase_events
         WHERE creator_id = $1 AND joined_at IS NULL AND ($2::uuid IS NULL OR message_uuid = $2)",
    )
    .bind(creator)
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    if open.is_empty() {
        return Ok(0);
    }
    let uuids: Vec<Uuid> = open.iter().map(|o| o.1).collect();
    super::chats::lock_for_message_uuids(&mut *conn, creator, &uuids).await?;
    let updated: i64 = sqlx::query_scalar(
        "WITH o AS (
            SELECT DISTINCT ON (uuid) uuid, at
            FROM UNNEST($2::uuid[], $3::timestamptz[]) AS t(uuid, at) ORDER BY uuid, at),
         hit AS (
            UPDATE messages m SET purchased_at = COALESCE(m.purchased_at, o.at), updated_at = now()
            FROM o WHERE m.creator_id = $1 AND m.uuid = o.uuid
            RETURNING m.uuid),
         joined AS (
            UPDATE purchase_events p SET joined_at = now()
            WHERE p.id = ANY($4) AND p.message_uuid IN (SELECT uuid FROM hit))
         SELECT count(*) FROM hit",
    )
    .bind(creator)
    .bind(open.iter().map(|o| o.1).collect::<Vec<_>>())
    .bind(open.iter().map(|o| o.2).collect::<Vec<_>>())
    .bind(open.iter().map(|o| o.0).collect::<Vec<_>>())
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(updated).unwrap_or(0))
}

pub struct Tip<'a> {
    pub fan_uuid: Option<Uuid>,
    pub amount_cents: i64,
    pub tipped_at: DateTime<Utc>,
    pub context: &'a str,
    pub tipped_message_uuid: Option<Uuid>,
    pub dedupe_key: &'a str,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn record_tip(
    db: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    t: Tip<'_>,
) -> Result<(), StoreError> {
    // See `webhook_apply::record_tips`: the tip and an earnings line of it.
    super::locks::tip_sales(&mut *db, &[creator]).await?;
    sqlx::query(
        "INSERT INTO tips (agency_id, creator_id, fan_uuid, amount_cents, tipped_at, context, tipped_message_uuid, dedupe_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(agency)
    .bind(creator)
    .bind(t.fan_uuid)
    .bind(t.amount_cents)
    .bind(t.tipped_at)
    .bind(t.context)
    .bind(t.tipped_message_uuid)
    .bind(t.dedupe_key)
    .execute(db)
    .await?;
    Ok(())
}
