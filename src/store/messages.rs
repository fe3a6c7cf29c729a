//! Messages of the mirror. Writes are set-based (arrays through `UNNEST`,
//! one statement per batch) and monotonic (DESIGN invariant 2):
//! `purchased_at` never returns to null, `is_read` never goes from true to
//! false, `deleted_at` is sticky, and a row is only rewritten when something
//! actually changed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use super::chats::{FanProfile, chat_for_fan, ensure_chats};
use super::purchases::join_parked_purchases;
use crate::domain::{AgencyId, CreatorId, MessageKind, MessageSource};

/// A message ready for the mirror.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageUpsert {
    pub uuid: Uuid,
    pub fan_uuid: Uuid,
    pub sender_uuid: Option<Uuid>,
    pub recipient_uuid: Option<Uuid>,
    /// `in` (from the fan) or `out` (from the creator's side).
    pub outbound: bool,
    pub text: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub kind: MessageKind,
    pub has_media: Option<bool>,
    pub media_type: Option<String>,
    pub media_uuids: Vec<Uuid>,
    pub price_cents: Option<i64>,
    pub purchased_at: Option<DateTime<Utc>>,
    pub sent_by_user_uuid: Option<String>,
    pub is_read: bool,
}

/// Merges duplicates of one message inside a batch (monotonic rules), so one
/// statement never touches a row twice.
fn dedupe(messages: &[MessageUpsert]) -> Vec<MessageUpsert> {
    let mut by_uuid: BTreeMap<Uuid, MessageUpsert> = BTreeMap::new();
    for m in messages {
        by_uuid
            .entry(m.uuid)
            .and_modify(|e| {
                e.purchased_at = e.purchased_at.or(m.purchased_at);
                e.is_read |= m.is_read;
            })
            .or_insert_with(|| m.clone());
    }
    by_uuid.into_values().collect()
}

/// Upserts messages in one statement; returns how many rows were inserted
/// or changed. `source` records which path first or last touched them.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn upsert_messages(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    messages: &[MessageUpsert],
    source: MessageSource,
) -> Result<u64, StoreError> {
    if messages.is_empty() {
        return Ok(0);
    }
    let rows = dedupe(messages);
    let fans: Vec<Uuid> = rows.iter().map(|m| m.fan_uuid).collect();
    let chat_ids = ensure_chats(&mut *conn, agency, creator, &fans).await?;
    let mut chat_col = Vec::with_capacity(rows.len());
    for m in &rows {
        chat_col.push(*chat_ids.get(&m.fan_uuid).ok_or(StoreError::NotFound)?);
    }
    let chats: Vec<Uuid> = chat_ids.values().copied().collect();
    super::chats::lock_for_messages(&mut *conn, &chats).await?;
    let media: Vec<String> = rows
        .iter()
        .map(|m| {
            m.media_uuids
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let r = sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, sender_uuid, recipient_uuid, direction, text,
            sent_at, kind, has_media, media_type, media_uuids, price_cents, purchased_at, sent_by_user_uuid,
            is_read, source)
         SELECT $1, t.uuid, $2, t.chat, t.sender, t.recipient, CASE WHEN t.outbound THEN 'out' ELSE 'in' END,
            t.text, t.sent_at, t.kind, t.has_media, t.media_type,
            COALESCE(string_to_array(NULLIF(t.media, ''), ',')::uuid[], '{}'), t.price, t.purchased_at,
            t.sent_by, t.is_read, $3
         FROM UNNEST($4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[], $8::bool[], $9::text[], $10::timestamptz[],
            $11::text[], $12::bool[], $13::text[], $14::text[], $15::int8[], $16::timestamptz[], $17::text[],
            $18::bool[])
           AS t(uuid, chat, sender, recipient, outbound, text, sent_at, kind, has_media, media_type, media, price,
                purchased_at, sent_by, is_read)
         ON CONFLICT (creator_id, uuid) DO UPDATE SET
            text = EXCLUDED.text,
            sent_at = COALESCE(EXCLUDED.sent_at, messages.sent_at),
            kind = EXCLUDED.kind,
            has_media = EXCLUDED.has_media,
            media_type = EXCLUDED.media_type,
            media_uuids = EXCLUDED.media_uuids,
            price_cents = COALESCE(EXCLUDED.price_cents, messages.price_cents),
            purchased_at = COALESCE(messages.purchased_at, EXCLUDED.purchased_at),
            sent_by_user_uuid = COALESCE(EXCLUDED.sent_by_user_uuid, messages.sent_by_user_uuid),
            is_read = messages.is_read OR EXCLUDED.is_read,
            source = EXCLUDED.source,
            updated_at = now()
         WHERE messages.text IS DISTINCT FROM EXCLUDED.text
            OR messages.kind IS DISTINCT FROM EXCLUDED.kind
            OR messages.has_media IS DISTINCT FROM EXCLUDED.has_media
            OR messages.media_type IS DISTINCT FROM EXCLUDED.media_type
            OR messages.media_uuids IS DISTINCT FROM EXCLUDED.media_uuids
            OR (EXCLUDED.sent_at IS NOT NULL AND messages.sent_at IS DISTINCT FROM EXCLUDED.sent_at)
            OR (EXCLUDED.price_cents IS NOT NULL AND messages.price_cents IS DISTINCT FROM EXCLUDED.price_cents)
            OR (messages.purchased_at IS NULL AND EXCLUDED.purchased_at IS NOT NULL)
            OR (EXCLUDED.sent_by_user_uuid IS NOT NULL AND messages.sent_by_user_uuid IS DISTINCT FROM EXCLUDED.sent_by_user_uuid)
            OR (NOT messages.is_read AND EXCLUDED.is_read)",
    )
    .bind(creator)
    .bind(agency)
    .bind(source.as_str())
    .bind(rows.iter().map(|m| m.uuid).collect::<Vec<_>>())
    .bind(&chat_col)
    .bind(rows.iter().map(|m| m.sender_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.recipient_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.outbound).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.text.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.sent_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.has_media).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.media_type.clone()).collect::<Vec<_>>())
    .bind(&media)
    .bind(rows.iter().map(|m| m.price_cents).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.purchased_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.sent_by_user_uuid.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.is_read).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    // Keep each touched chat's "last message" current for the inbox order,
    // from this batch's own newest message per chat (only moves forward).
    let mut newest: BTreeMap<Uuid, (DateTime<Utc>, Uuid)> = BTreeMap::new();
    for (m, chat) in rows.iter().zip(&chat_col) {
        if let Some(at) = m.sent_at {
            let e = newest.entry(*chat).or_insert((at, m.uuid));
            if (at, m.uuid) > *e {
                *e = (at, m.uuid);
            }
        }
    }
    sqlx::query(
        "UPDATE chats c SET last_message_at = t.at, last_message_uuid = t.uuid, updated_at = now()
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[]) AS t(chat, at, uuid)
         WHERE c.id = t.chat
           AND (c.last_message_at IS NULL OR t.at > c.last_message_at
                -- The recorded last message is in this batch with Fanvue's
                -- time (a send is first recorded with the local clock, which
                -- may run ahead): the batch's newest is the last one.
                OR (c.last_message_uuid = ANY($4)
                    AND (c.last_message_uuid <> t.uuid OR c.last_message_at <> t.at)))",
    )
    .bind(newest.keys().copied().collect::<Vec<_>>())
    .bind(newest.values().map(|v| v.0).collect::<Vec<_>>())
    .bind(newest.values().map(|v| v.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.uuid).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    // Purchases reported before their message arrived join it now.
    join_parked_purchases(conn, creator, None).await?;
    Ok(r.rows_affected())
}

/// The message an inbox send just sent, written from the send's own answer.
/// Insert only: if reconcile mirrored it first (a slow call), Fanvue's copy
/// (its `sentAt`, kind, media type) is fresher and stays. The media type is
/// taken from the mirror's other messages carrying the same media, when
/// known. Returns whether the row was inserted.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator, chat_id = %chat))]
pub async fn insert_sent(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    chat: Uuid,
    m: &MessageUpsert,
) -> Result<bool, StoreError> {
    super::chats::lock_for_messages(&mut *conn, &[chat]).await?;
    let inserted = sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, sender_uuid, recipient_uuid, direction, text,
            sent_at, kind, has_media, media_type, media_uuids, price_cents, sent_by_user_uuid, is_read, source)
         SELECT $1, $2, $3, $4, $5, $6, 'out', $7, $8, $9, $10,
            COALESCE($11, (SELECT o.media_type FROM messages o
                           WHERE o.creator_id = $1 AND o.agency_id = $3 AND o.media_uuids && $12
                             AND o.media_type IS NOT NULL
                           ORDER BY o.sent_at DESC NULLS LAST LIMIT 1)),
            $12, $13, $14, false, $15
         ON CONFLICT (creator_id, uuid) DO NOTHING",
    )
    .bind(creator)
    .bind(m.uuid)
    .bind(agency)
    .bind(chat)
    .bind(m.sender_uuid)
    .bind(m.recipient_uuid)
    .bind(&m.text)
    .bind(m.sent_at)
    .bind(m.kind.as_str())
    .bind(m.has_media)
    .bind(&m.media_type)
    .bind(&m.media_uuids)
    .bind(m.price_cents)
    .bind(&m.sent_by_user_uuid)
    .bind(MessageSource::Send.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted && let Some(at) = m.sent_at {
        sqlx::query(
            "UPDATE chats SET last_message_at = $2, last_message_uuid = $3, updated_at = now()
             WHERE id = $1 AND agency_id = $4 AND (last_message_at IS NULL OR $2 > last_message_at)",
        )
        .bind(chat)
        .bind(at)
        .bind(m.uuid)
        .bind(agency)
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted)
}

/// Marks a message deleted (sticky); used when Fanvue no longer knows it.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn mark_deleted(
    conn: &mut PgConnection,
    creator: CreatorId,
    uuid: Uuid,
) -> Result<(), StoreError> {
    super::chats::lock_for_message_uuids(&mut *conn, creator, &[uuid]).await?;
    sqlx::query("UPDATE messages SET deleted_at = now(), updated_at = now() WHERE creator_id = $1 AND uuid = $2 AND deleted_at IS NULL")
        .bind(creator)
        .bind(uuid)
        .execute(conn)
        .await?;
    Ok(())
}

/// The newest stored, not deleted message sent at or before `before`: the
/// incremental cursor (a time cut-off on Fanvue's side).
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn cursor_before(
    conn: &mut PgConnection,
    creator: CreatorId,
    before: DateTime<Utc>,
) -> Result<Option<(Uuid, DateTime<Utc>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT uuid, sent_at FROM messages
         WHERE creator_id = $1 AND deleted_at IS NULL AND sent_at IS NOT NULL AND sent_at <= $2
         ORDER BY sent_at DESC, uuid DESC LIMIT 1",
    )
    .bind(creator)
    .bind(before)
    .fetch_optional(conn)
    .await?)
}

/// Fans of chats holding PPVs sent since `since` and not yet purchased.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn fans_with_open_ppvs(
    conn: &mut PgConnection,
    creator: CreatorId,
    since: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT c.fan_uuid FROM messages m JOIN chats c ON c.id = m.chat_id
         WHERE m.creator_id = $1 AND m.price_cents IS NOT NULL AND m.purchased_at IS NULL
           AND m.deleted_at IS NULL AND m.sent_at >= $2
         ORDER BY c.fan_uuid",
    )
    .bind(creator)
    .bind(since)
    .fetch_all(conn)
    .await?)
}

/// Read-state refresh: up to `limit` fans whose chat holds an unread
/// outbound message sent since `since`, least recently checked first (never
/// checked first, then by the newest activity), and marks them checked now
/// so the next run takes the next ones.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn take_unread_outbound_chats(
    conn: &mut PgConnection,
    creator: CreatorId,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "WITH picked AS (
            SELECT c.id FROM chats c
            WHERE c.creator_id = $1
              AND EXISTS (SELECT 1 FROM messages m
                          WHERE m.creator_id = $1 AND m.chat_id = c.id AND m.direction = 'out'
                            AND NOT m.is_read AND m.deleted_at IS NULL AND m.sent_at >= $2)
            ORDER BY c.read_checked_at ASC NULLS FIRST, c.last_message_at DESC NULLS LAST
            LIMIT $3
         ), locked AS (
            -- In id order, as every writer of chats (`chats::lock_for_messages`).
            SELECT c.id, c.fan_uuid FROM chats c WHERE c.id IN (SELECT id FROM picked)
            ORDER BY c.id FOR NO KEY UPDATE
         )
         UPDATE chats c SET read_checked_at = now() FROM locked
         WHERE c.id = locked.id
         RETURNING locked.fan_uuid",
    )
    .bind(creator)
    .bind(since)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// A fan's message from the `message.received` webhook. Never overwrites a
/// row the API already gave us (the API is authoritative for content); the
/// chat's unread count goes up only when the message is new.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn insert_received(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    fan: &FanProfile,
    m: &MessageUpsert,
) -> Result<bool, StoreError> {
    let chat = chat_for_fan(&mut *conn, agency, creator, fan).await?;
    super::chats::lock_for_messages(&mut *conn, &[chat]).await?;
    let inserted = sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, sender_uuid, recipient_uuid, direction, text,
            sent_at, kind, has_media, media_uuids, price_cents, source)
         VALUES ($1, $2, $3, $4, $5, $6, 'in', $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (creator_id, uuid) DO NOTHING",
    )
    .bind(creator)
    .bind(m.uuid)
    .bind(agency)
    .bind(chat)
    .bind(m.sender_uuid)
    .bind(m.recipient_uuid)
    .bind(&m.text)
    .bind(m.sent_at)
    .bind(m.kind.as_str())
    .bind(m.has_media)
    .bind(&m.media_uuids)
    .bind(m.price_cents)
    .bind(MessageSource::Webhook.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        sqlx::query(
            "UPDATE chats SET unread_count = unread_count + 1, is_read = false,
                last_message_uuid = CASE WHEN last_message_at IS NULL OR $2 >= last_message_at THEN $3 ELSE last_message_uuid END,
                last_message_at = GREATEST(last_message_at, $2), updated_at = now()
             WHERE id = $1",
        )
        .bind(chat)
        .bind(m.sent_at)
        .bind(m.uuid)
        .execute(&mut *conn)
        .await?;
        join_parked_purchases(conn, creator, Some(m.uuid)).await?;
    }
    Ok(inserted)
}

/// `message.read`: the creator side read `count` of the fan's messages.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn apply_read(
    conn: &mut PgConnection,
    creator: CreatorId,
    fan: Uuid,
    count: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE chats SET unread_count = GREATEST(unread_count - $3, 0),
            is_read = (GREATEST(unread_count - $3, 0) = 0), updated_at = now()
         WHERE creator_id = $1 AND fan_uuid = $2",
    )
    .bind(creator)
    .bind(fan)
    .bind(count.clamp(0, i64::from(i32::MAX)) as i32)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE messages m SET is_read = true, updated_at = now() FROM chats c
         WHERE c.id = m.chat_id AND c.creator_id = $1 AND c.fan_uuid = $2 AND m.direction = 'in'
           AND NOT m.is_read AND (m.sent_at IS NULL OR m.sent_at <= $3)",
    )
    .bind(creator)
    .bind(fan)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
