//! The set-based statements that apply a whole round of webhook events:
//! one statement per kind of write for every creator in the round, not
//! one per event. The caller (`webhooks::batch`) decides, in event order,
//! what each row ends as; these functions only write it. Every row carries
//! its agency and creator, and every statement matches on them.
//!
//! The statement-level triggers (chat checks, inbox flags, live events and
//! whatever else is hung on these tables) thus run once per round instead
//! of once per event.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId, MessageKind, MessageSource};

/// A chat's fields the webhook events fold over, as locked.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChatState {
    pub id: Uuid,
    pub creator_id: CreatorId,
    pub fan_uuid: Uuid,
    pub unread_count: i32,
    pub is_read: bool,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_uuid: Option<Uuid>,
}

/// A chat to lock or create: `(agency, creator, fan)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChatKey {
    pub agency: AgencyId,
    pub creator: CreatorId,
    pub fan: Uuid,
}

/// Locks the existing chats of these fans (in id order, as the inbox-flag
/// trigger locks them, so two rounds sharing chats wait instead of
/// deadlocking) and returns their state.
#[tracing::instrument(skip_all, fields(chats = keys.len()))]
pub async fn lock_chats(
    conn: &mut PgConnection,
    keys: &[ChatKey],
) -> Result<Vec<ChatState>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(
        "SELECT c.id, c.creator_id, c.fan_uuid, c.unread_count, c.is_read, c.last_message_at, c.last_message_uuid
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[]) AS t(agency, creator, fan)
         JOIN chats c ON c.creator_id = t.creator AND c.fan_uuid = t.fan AND c.agency_id = t.agency
         ORDER BY c.id
         FOR UPDATE OF c",
    )
    .bind(keys.iter().map(|k| k.agency.as_uuid()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.creator.as_uuid()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.fan).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?)
}

/// A fan's profile as the round's events leave it (per field, the last
/// value an event carried).
#[derive(Debug, Clone)]
pub struct ChatProfile {
    pub key: ChatKey,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

/// Creates missing chats and refreshes fans' profiles (a profile field is
/// never blanked). Returns the state of the chats it inserted or changed;
/// an unchanged chat is not rewritten.
#[tracing::instrument(skip_all, fields(chats = profiles.len()))]
pub async fn upsert_profiles(
    conn: &mut PgConnection,
    profiles: &[ChatProfile],
) -> Result<Vec<ChatState>, StoreError> {
    if profiles.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<&ChatProfile> = profiles.iter().collect();
    rows.sort_by_key(|p| p.key);
    Ok(sqlx::query_as(
        "INSERT INTO chats (id, agency_id, creator_id, fan_uuid, fan_handle, fan_display_name, fan_avatar_url)
         SELECT t.id, t.agency, t.creator, t.fan, t.handle, t.display_name, t.avatar
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[])
           AS t(id, agency, creator, fan, handle, display_name, avatar)
         ON CONFLICT (creator_id, fan_uuid) DO UPDATE SET
            fan_handle = COALESCE(EXCLUDED.fan_handle, chats.fan_handle),
            fan_display_name = COALESCE(EXCLUDED.fan_display_name, chats.fan_display_name),
            fan_avatar_url = COALESCE(EXCLUDED.fan_avatar_url, chats.fan_avatar_url)
         WHERE chats.agency_id = EXCLUDED.agency_id
           AND (chats.fan_handle, chats.fan_display_name, chats.fan_avatar_url) IS DISTINCT FROM
               (COALESCE(EXCLUDED.fan_handle, chats.fan_handle),
                COALESCE(EXCLUDED.fan_display_name, chats.fan_display_name),
                COALESCE(EXCLUDED.fan_avatar_url, chats.fan_avatar_url))
         RETURNING id, creator_id, fan_uuid, unread_count, is_read, last_message_at, last_message_uuid",
    )
    .bind(rows.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.key.agency.as_uuid()).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.key.creator.as_uuid()).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.key.fan).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.handle.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.display_name.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.avatar_url.clone()).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?)
}

/// `message.read` on messages that were in the mirror before the round:
/// the fan's messages sent at or before `at` become read (monotonic).
#[tracing::instrument(skip_all, fields(chats = reads.len()))]
pub async fn mark_read_until(
    conn: &mut PgConnection,
    reads: &[(AgencyId, Uuid, DateTime<Utc>)],
) -> Result<(), StoreError> {
    if reads.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE messages m SET is_read = true, updated_at = now()
         FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) AS t(agency, chat, at)
         WHERE m.chat_id = t.chat AND m.agency_id = t.agency AND m.direction = 'in' AND NOT m.is_read
           AND (m.sent_at IS NULL OR m.sent_at <= t.at)",
    )
    .bind(reads.iter().map(|r| r.0.as_uuid()).collect::<Vec<_>>())
    .bind(reads.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(reads.iter().map(|r| r.2).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// A fan's message from `message.received`, with its chat resolved.
#[derive(Debug, Clone)]
pub struct ReceivedRow {
    pub agency: AgencyId,
    pub creator: CreatorId,
    pub chat: Uuid,
    pub uuid: Uuid,
    pub sender_uuid: Uuid,
    pub recipient_uuid: Uuid,
    pub text: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub has_media: Option<bool>,
    pub media_uuids: Vec<Uuid>,
    pub price_cents: Option<i64>,
    /// Read by a later event of the same round.
    pub is_read: bool,
}

/// Inserts fans' messages; a message the mirror already holds is left as
/// it is (the API is authoritative for content). Returns the
/// `(creator, message)` pairs actually inserted.
#[tracing::instrument(skip_all, fields(messages = rows.len()))]
pub async fn insert_received(
    conn: &mut PgConnection,
    rows: &[ReceivedRow],
) -> Result<HashSet<(CreatorId, Uuid)>, StoreError> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
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
    let inserted: Vec<(CreatorId, Uuid)> = sqlx::query_as(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, sender_uuid, recipient_uuid, direction, text,
            sent_at, kind, has_media, media_uuids, price_cents, is_read, source)
         SELECT t.creator, t.uuid, t.agency, t.chat, t.sender, t.recipient, 'in', t.text, t.sent_at, $13,
            t.has_media, COALESCE(string_to_array(NULLIF(t.media, ''), ',')::uuid[], '{}'), t.price, t.is_read, $14
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[],
            $8::timestamptz[], $9::bool[], $10::text[], $11::int8[], $12::bool[]) WITH ORDINALITY
           AS t(creator, uuid, agency, chat, sender, recipient, text, sent_at, has_media, media, price, is_read, n)
         ORDER BY t.n
         ON CONFLICT (creator_id, uuid) DO NOTHING
         RETURNING creator_id, uuid",
    )
    .bind(rows.iter().map(|m| m.creator.as_uuid()).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.agency.as_uuid()).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.chat).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.sender_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.recipient_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.text.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.sent_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.has_media).collect::<Vec<_>>())
    .bind(&media)
    .bind(rows.iter().map(|m| m.price_cents).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.is_read).collect::<Vec<_>>())
    // The webhook carries no type; reconcile replaces it with Fanvue's own.
    .bind(MessageKind::single_recipient().as_str().to_owned())
    .bind(MessageSource::Webhook.as_str())
    .fetch_all(conn)
    .await?;
    Ok(inserted.into_iter().collect())
}

/// A chat as the round's events leave it.
#[derive(Debug, Clone)]
pub struct ChatUpdate {
    pub agency: AgencyId,
    pub id: Uuid,
    pub unread_count: i32,
    pub is_read: bool,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_uuid: Option<Uuid>,
    /// Newest follow / subscription the round reported (only moves forward).
    pub followed_at: Option<DateTime<Utc>>,
    pub subscribed_at: Option<DateTime<Utc>>,
}

/// Writes the chats' folded state. The caller holds their locks (taken by
/// `lock_chats` / `upsert_profiles`), so the values it computed from the
/// locked state are still current.
#[tracing::instrument(skip_all, fields(chats = chats.len()))]
pub async fn update_chats(conn: &mut PgConnection, chats: &[ChatUpdate]) -> Result<(), StoreError> {
    if chats.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE chats c SET unread_count = t.unread, is_read = t.is_read, last_message_at = t.last_at,
            last_message_uuid = t.last_uuid, followed_at = GREATEST(c.followed_at, t.followed),
            subscribed_at = GREATEST(c.subscribed_at, t.subscribed), updated_at = now()
         FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::bool[], $5::timestamptz[], $6::uuid[],
            $7::timestamptz[], $8::timestamptz[])
           AS t(agency, id, unread, is_read, last_at, last_uuid, followed, subscribed)
         WHERE c.id = t.id AND c.agency_id = t.agency",
    )
    .bind(chats.iter().map(|c| c.agency.as_uuid()).collect::<Vec<_>>())
    .bind(chats.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(chats.iter().map(|c| c.unread_count).collect::<Vec<_>>())
    .bind(chats.iter().map(|c| c.is_read).collect::<Vec<_>>())
    .bind(chats.iter().map(|c| c.last_message_at).collect::<Vec<_>>())
    .bind(chats.iter().map(|c| c.last_message_uuid).collect::<Vec<_>>())
    .bind(chats.iter().map(|c| c.followed_at).collect::<Vec<_>>())
    .bind(chats.iter().map(|c| c.subscribed_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// `purchase.new` for a message, keyed by the event's natural key.
#[derive(Debug, Clone)]
pub struct PurchaseRow {
    pub agency: AgencyId,
    pub creator: CreatorId,
    pub message_uuid: Uuid,
    pub fan_uuid: Option<Uuid>,
    pub price_cents: Option<i64>,
    pub purchased_at: DateTime<Utc>,
    pub dedupe_key: String,
}

/// Records purchases (a replayed one is recorded once); they are joined
/// to their messages by `join_parked`.
#[tracing::instrument(skip_all, fields(purchases = rows.len()))]
pub async fn record_purchases(
    conn: &mut PgConnection,
    rows: &[PurchaseRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO purchase_events (agency_id, creator_id, message_uuid, fan_uuid, price_cents, purchased_at, dedupe_key)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int8[], $6::timestamptz[], $7::text[])
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(rows.iter().map(|p| p.agency.as_uuid()).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.creator.as_uuid()).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.message_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.fan_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.price_cents).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.purchased_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|p| p.dedupe_key.clone()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Joins open purchases of these `(creator, message)` pairs to their
/// messages if mirrored (the earliest purchase time wins; `purchased_at`
/// never changes once set). As `purchases::join_parked_purchases`: the
/// open purchases first, through their partial index, and messages only
/// by primary key when there are any.
#[tracing::instrument(skip_all, fields(messages = messages.len()))]
pub async fn join_parked(
    conn: &mut PgConnection,
    messages: &[(CreatorId, Uuid)],
) -> Result<u64, StoreError> {
    if messages.is_empty() {
        return Ok(0);
    }
    let open: Vec<(i64, CreatorId, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT p.id, p.creator_id, p.message_uuid, p.purchased_at
         FROM UNNEST($1::uuid[], $2::uuid[]) AS t(creator, uuid)
         JOIN purchase_events p ON p.creator_id = t.creator AND p.message_uuid = t.uuid
         WHERE p.joined_at IS NULL",
    )
    .bind(messages.iter().map(|m| m.0.as_uuid()).collect::<Vec<_>>())
    .bind(messages.iter().map(|m| m.1).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    if open.is_empty() {
        return Ok(0);
    }
    let updated: i64 = sqlx::query_scalar(
        "WITH o AS (
            SELECT DISTINCT ON (creator, uuid) creator, uuid, at
            FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) AS t(creator, uuid, at)
            ORDER BY creator, uuid, at),
         hit AS (
            UPDATE messages m SET purchased_at = COALESCE(m.purchased_at, o.at), updated_at = now()
            FROM o WHERE m.creator_id = o.creator AND m.uuid = o.uuid
            RETURNING m.creator_id, m.uuid),
         joined AS (
            UPDATE purchase_events p SET joined_at = now()
            WHERE p.id = ANY($4) AND (p.creator_id, p.message_uuid) IN (SELECT creator_id, uuid FROM hit))
         SELECT count(*) FROM hit",
    )
    .bind(open.iter().map(|o| o.1.as_uuid()).collect::<Vec<_>>())
    .bind(open.iter().map(|o| o.2).collect::<Vec<_>>())
    .bind(open.iter().map(|o| o.3).collect::<Vec<_>>())
    .bind(open.iter().map(|o| o.0).collect::<Vec<_>>())
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(updated).unwrap_or(0))
}

/// A tip, keyed by the event's natural key.
#[derive(Debug, Clone)]
pub struct TipRow {
    pub agency: AgencyId,
    pub creator: CreatorId,
    pub fan_uuid: Option<Uuid>,
    pub amount_cents: i64,
    pub tipped_at: DateTime<Utc>,
    pub context: String,
    pub tipped_message_uuid: Option<Uuid>,
    pub dedupe_key: String,
}

/// Records tips in event order (a replayed one is recorded once).
#[tracing::instrument(skip_all, fields(tips = rows.len()))]
pub async fn record_tips(conn: &mut PgConnection, rows: &[TipRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    // The tip's sale adopts an earnings line's sale of the same tip (or the
    // line adopts it): one at a time per creator across instances.
    let creators: Vec<CreatorId> = rows.iter().map(|t| t.creator).collect();
    super::locks::tip_sales(conn, &creators).await?;
    sqlx::query(
        "INSERT INTO tips (agency_id, creator_id, fan_uuid, amount_cents, tipped_at, context, tipped_message_uuid, dedupe_key)
         SELECT t.agency, t.creator, t.fan, t.amount, t.at, t.context, t.message, t.key
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::int8[], $5::timestamptz[], $6::text[], $7::uuid[], $8::text[])
           WITH ORDINALITY AS t(agency, creator, fan, amount, at, context, message, key, n)
         ORDER BY t.n
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(rows.iter().map(|t| t.agency.as_uuid()).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.creator.as_uuid()).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.fan_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.amount_cents).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.tipped_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.context.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.tipped_message_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|t| t.dedupe_key.clone()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
