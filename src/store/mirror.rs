//! The mirror of Fanvue chats and messages. Writes are set-based (arrays
//! through `UNNEST`, one statement per batch) and monotonic (DESIGN
//! invariant 2): `purchased_at` never returns to null, `is_read` never goes
//! from true to false, `deleted_at` is sticky, and a row is only rewritten
//! when something actually changed.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId};

/// A chat as the chat list reports it.
#[derive(Debug, Clone, Default)]
pub struct ChatUpsert {
    pub fan_uuid: Uuid,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub registered_at: Option<DateTime<Utc>>,
    pub is_top_spender: bool,
    pub is_read: bool,
    pub is_muted: bool,
    pub unread_count: i32,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_uuid: Option<Uuid>,
}

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
    pub kind: String,
    pub has_media: Option<bool>,
    pub media_type: Option<String>,
    pub media_uuids: Vec<Uuid>,
    pub price_cents: Option<i64>,
    pub purchased_at: Option<DateTime<Utc>>,
    pub sent_by_user_uuid: Option<String>,
    pub is_read: bool,
}

/// Inserts or refreshes chats from list rows; returns fan uuid → chat id.
pub async fn upsert_chats(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    chats: &[ChatUpsert],
) -> Result<HashMap<Uuid, Uuid>, StoreError> {
    if chats.is_empty() {
        return Ok(HashMap::new());
    }
    // One row per fan (a page boundary can repeat a chat).
    let mut by_fan: BTreeMap<Uuid, &ChatUpsert> = BTreeMap::new();
    for c in chats {
        by_fan.insert(c.fan_uuid, c);
    }
    let rows: Vec<&ChatUpsert> = by_fan.into_values().collect();
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let col = |f: fn(&ChatUpsert) -> Option<String>| rows.iter().map(|c| f(c)).collect::<Vec<_>>();
    let out: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "INSERT INTO chats (id, agency_id, creator_id, fan_uuid, fan_handle, fan_display_name, fan_nickname,
            fan_avatar_url, fan_registered_at, is_top_spender, is_read, is_muted, unread_count,
            last_message_at, last_message_uuid)
         SELECT t.id, $1, $2, t.fan, t.handle, t.display_name, t.nickname, t.avatar, t.registered, t.top,
            t.is_read, t.is_muted, t.unread, t.last_at, t.last_uuid
         FROM UNNEST($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[],
            $10::bool[], $11::bool[], $12::bool[], $13::int4[], $14::timestamptz[], $15::uuid[])
           AS t(id, fan, handle, display_name, nickname, avatar, registered, top, is_read, is_muted, unread, last_at, last_uuid)
         ON CONFLICT (creator_id, fan_uuid) DO UPDATE SET
            fan_handle = COALESCE(EXCLUDED.fan_handle, chats.fan_handle),
            fan_display_name = COALESCE(EXCLUDED.fan_display_name, chats.fan_display_name),
            fan_nickname = EXCLUDED.fan_nickname,
            fan_avatar_url = COALESCE(EXCLUDED.fan_avatar_url, chats.fan_avatar_url),
            fan_registered_at = COALESCE(EXCLUDED.fan_registered_at, chats.fan_registered_at),
            is_top_spender = EXCLUDED.is_top_spender,
            is_read = EXCLUDED.is_read,
            is_muted = EXCLUDED.is_muted,
            unread_count = EXCLUDED.unread_count,
            last_message_uuid = CASE WHEN chats.last_message_at IS NULL OR EXCLUDED.last_message_at >= chats.last_message_at
                                     THEN EXCLUDED.last_message_uuid ELSE chats.last_message_uuid END,
            last_message_at = GREATEST(chats.last_message_at, EXCLUDED.last_message_at),
            updated_at = now()
         RETURNING fan_uuid, id",
    )
    .bind(agency)
    .bind(creator)
    .bind(&ids)
    .bind(rows.iter().map(|c| c.fan_uuid).collect::<Vec<_>>())
    .bind(col(|c| c.handle.clone()))
    .bind(col(|c| c.display_name.clone()))
    .bind(col(|c| c.nickname.clone()))
    .bind(col(|c| c.avatar_url.clone()))
    .bind(rows.iter().map(|c| c.registered_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.is_top_spender).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.is_read).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.is_muted).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.unread_count).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.last_message_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|c| c.last_message_uuid).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Ok(out.into_iter().collect())
}

/// Chat ids for these fans, creating bare chats for fans not seen yet.
pub async fn ensure_chats(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    fans: &[Uuid],
) -> Result<HashMap<Uuid, Uuid>, StoreError> {
    let mut fans = fans.to_vec();
    fans.sort_unstable();
    fans.dedup();
    let ids: Vec<Uuid> = fans.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO chats (id, agency_id, creator_id, fan_uuid)
         SELECT t.id, $1, $2, t.fan FROM UNNEST($3::uuid[], $4::uuid[]) AS t(id, fan)
         ON CONFLICT (creator_id, fan_uuid) DO NOTHING",
    )
    .bind(agency)
    .bind(creator)
    .bind(&ids)
    .bind(&fans)
    .execute(&mut *conn)
    .await?;
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT fan_uuid, id FROM chats WHERE creator_id = $1 AND fan_uuid = ANY($2)",
    )
    .bind(creator)
    .bind(&fans)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
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
pub async fn upsert_messages(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    messages: &[MessageUpsert],
    source: &str,
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
    .bind(source)
    .bind(rows.iter().map(|m| m.uuid).collect::<Vec<_>>())
    .bind(&chat_col)
    .bind(rows.iter().map(|m| m.sender_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.recipient_uuid).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.outbound).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.text.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.sent_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.kind.clone()).collect::<Vec<_>>())
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
         WHERE c.id = t.chat AND (c.last_message_at IS NULL OR t.at > c.last_message_at)",
    )
    .bind(newest.keys().copied().collect::<Vec<_>>())
    .bind(newest.values().map(|v| v.0).collect::<Vec<_>>())
    .bind(newest.values().map(|v| v.1).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    // Purchases reported before their message arrived join it now.
    join_parked_purchases(conn, creator, None).await?;
    Ok(r.rows_affected())
}

/// Marks a message deleted (sticky); used when Fanvue no longer knows it.
pub async fn mark_deleted(
    conn: &mut PgConnection,
    creator: CreatorId,
    uuid: Uuid,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE messages SET deleted_at = now(), updated_at = now() WHERE creator_id = $1 AND uuid = $2 AND deleted_at IS NULL")
        .bind(creator)
        .bind(uuid)
        .execute(conn)
        .await?;
    Ok(())
}

/// The newest stored, not deleted message sent at or before `before`: the
/// incremental cursor (a time cut-off on Fanvue's side).
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

/// The newest `last_message_at` among the creator's chats.
pub async fn high_water(
    conn: &mut PgConnection,
    creator: CreatorId,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT max(last_message_at) FROM chats WHERE creator_id = $1")
            .bind(creator)
            .fetch_one(conn)
            .await?,
    )
}

/// Fans of chats holding PPVs sent since `since` and not yet purchased.
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

/// Chats whose older history still has to be fetched.
pub async fn chats_needing_history(
    conn: &mut PgConnection,
    creator: CreatorId,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid, i32)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, fan_uuid, history_pages FROM chats
         WHERE creator_id = $1 AND NOT history_complete
         ORDER BY last_message_at DESC NULLS LAST LIMIT $2",
    )
    .bind(creator)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Records how far a chat's history has been read.
pub async fn set_history(
    conn: &mut PgConnection,
    creator: CreatorId,
    fans: &[(Uuid, i32, bool)],
) -> Result<(), StoreError> {
    if fans.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE chats c SET history_pages = t.pages, history_complete = t.done
         FROM UNNEST($2::uuid[], $3::int4[], $4::bool[]) AS t(fan, pages, done)
         WHERE c.creator_id = $1 AND c.fan_uuid = t.fan",
    )
    .bind(creator)
    .bind(fans.iter().map(|f| f.0).collect::<Vec<_>>())
    .bind(fans.iter().map(|f| f.1).collect::<Vec<_>>())
    .bind(fans.iter().map(|f| f.2).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Mirror size for the sync page.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct MirrorStats {
    pub chats: i64,
    pub chats_history_complete: i64,
    pub messages: i64,
    pub oldest_message_at: Option<DateTime<Utc>>,
}

pub async fn stats(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
) -> Result<MirrorStats, StoreError> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM chats WHERE agency_id = $1 AND creator_id = $2) AS chats,
                (SELECT count(*) FROM chats WHERE agency_id = $1 AND creator_id = $2 AND history_complete) AS chats_history_complete,
                (SELECT count(*) FROM messages WHERE agency_id = $1 AND creator_id = $2) AS messages,
                (SELECT min(sent_at) FROM messages WHERE agency_id = $1 AND creator_id = $2) AS oldest_message_at",
    )
    .bind(agency)
    .bind(creator)
    .fetch_one(conn)
    .await?)
}

/// A fan as webhook payloads describe them.
#[derive(Debug, Clone, Default)]
pub struct FanProfile {
    pub uuid: Uuid,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

/// The chat of `fan`, created (or its profile refreshed) from a webhook.
async fn chat_for_fan(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    fan: &FanProfile,
) -> Result<Uuid, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO chats (id, agency_id, creator_id, fan_uuid, fan_handle, fan_display_name, fan_avatar_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (creator_id, fan_uuid) DO UPDATE SET
            fan_handle = COALESCE(EXCLUDED.fan_handle, chats.fan_handle),
            fan_display_name = COALESCE(EXCLUDED.fan_display_name, chats.fan_display_name),
            fan_avatar_url = COALESCE(EXCLUDED.fan_avatar_url, chats.fan_avatar_url)
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(agency)
    .bind(creator)
    .bind(fan.uuid)
    .bind(&fan.handle)
    .bind(&fan.display_name)
    .bind(&fan.avatar_url)
    .fetch_one(conn)
    .await?)
}

/// A fan's message from the `message.received` webhook. Never overwrites a
/// row the API already gave us (the API is authoritative for content); the
/// chat's unread count goes up only when the message is new.
pub async fn insert_received(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    fan: &FanProfile,
    m: &MessageUpsert,
) -> Result<bool, StoreError> {
    let chat = chat_for_fan(&mut *conn, agency, creator, fan).await?;
    let inserted = sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, sender_uuid, recipient_uuid, direction, text,
            sent_at, kind, has_media, media_uuids, price_cents, source)
         VALUES ($1, $2, $3, $4, $5, $6, 'in', $7, $8, $9, $10, $11, $12, 'webhook')
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
    .bind(&m.kind)
    .bind(m.has_media)
    .bind(&m.media_uuids)
    .bind(m.price_cents)
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

pub struct Purchase<'a> {
    pub message_uuid: Uuid,
    pub fan_uuid: Option<Uuid>,
    pub price_cents: Option<i64>,
    pub purchased_at: DateTime<Utc>,
    pub dedupe_key: &'a str,
}

/// `purchase.new` for a message: recorded, and joined to the message now or
/// as soon as it is mirrored. Returns whether it joined now.
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

pub async fn record_tip(
    db: impl sqlx::PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    t: Tip<'_>,
) -> Result<(), StoreError> {
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

/// New follower / subscriber: the fan's status on their chat.
pub async fn fan_event(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    fan: &FanProfile,
    subscribed: bool,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let chat = chat_for_fan(&mut *conn, agency, creator, fan).await?;
    let sql = if subscribed {
        "UPDATE chats SET subscribed_at = GREATEST(subscribed_at, $2) WHERE id = $1"
    } else {
        "UPDATE chats SET followed_at = GREATEST(followed_at, $2) WHERE id = $1"
    };
    sqlx::query(sql).bind(chat).bind(at).execute(conn).await?;
    Ok(())
}
