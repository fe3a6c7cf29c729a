//! Chats of the mirror: one row per (creator, fan), written from chat-list
//! pages, from messages that name a fan not seen yet, and from webhooks.
//! Writes are monotonic (DESIGN invariant 2): `last_message_at` only moves
//! forward and a fan's profile fields are never blanked.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
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

/// Inserts or refreshes chats from list rows; returns fan uuid → chat id.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
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
    // Existing rows are locked in id order first (see `lock_for_messages`).
    sqlx::query(
        "SELECT 1 FROM chats WHERE creator_id = $1 AND fan_uuid = ANY($2) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(creator)
    .bind(rows.iter().map(|c| c.fan_uuid).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
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
            -- The same last message: Fanvue's time for it wins (a send is
            -- first recorded with the local clock).
            last_message_at = CASE WHEN EXCLUDED.last_message_uuid = chats.last_message_uuid
                                   THEN COALESCE(EXCLUDED.last_message_at, chats.last_message_at)
                                   ELSE GREATEST(chats.last_message_at, EXCLUDED.last_message_at) END,
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
    .fetch_all(&mut *conn)
    .await?;
    let ids: HashMap<Uuid, Uuid> = out.into_iter().collect();
    // A chat listed as read has every fan message up to its last one read,
    // also when the `message.read` webhook that said so was lost.
    let read: Vec<(Uuid, DateTime<Utc>)> = rows
        .iter()
        .filter(|c| c.is_read && c.unread_count == 0)
        .filter_map(|c| Some((*ids.get(&c.fan_uuid)?, c.last_message_at?)))
        .collect();
    mark_fan_messages_read(conn, creator, &read).await?;
    Ok(ids)
}

/// Chat ids for these fans, creating bare chats for fans not seen yet.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
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

/// Locks chats, in id order, before their messages are written. The
/// messages' statement triggers lock the chats a statement touched only
/// after it locked the message rows, while a webhook round locks its chats
/// first: a writer holding a chat's messages and a round holding the chat
/// deadlocked on each other (the full soak saw hundreds). Every writer of
/// messages takes the chat first.
pub async fn lock_for_messages(conn: &mut PgConnection, chats: &[Uuid]) -> Result<(), StoreError> {
    if chats.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT 1 FROM chats WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(chats)
        .execute(conn)
        .await?;
    Ok(())
}

/// `lock_for_messages` for the chats of these messages of a creator.
pub async fn lock_for_message_uuids(
    conn: &mut PgConnection,
    creator: CreatorId,
    messages: &[Uuid],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT 1 FROM chats WHERE id IN (
            SELECT m.chat_id FROM messages m WHERE m.creator_id = $1 AND m.uuid = ANY($2))
         ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(creator)
    .bind(messages)
    .execute(conn)
    .await?;
    Ok(())
}

/// `Some(now)` when the mirror holds any of the creator's chats as unread
/// (with `unwritten_since`, only rows not written since then count): the
/// time `mark_read_except` guards on.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn unread_as_of(
    conn: &mut PgConnection,
    creator: CreatorId,
    unwritten_since: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT now() WHERE EXISTS (
            SELECT 1 FROM chats WHERE creator_id = $1 AND (unread_count > 0 OR NOT is_read)
              AND ($2::timestamptz IS NULL OR updated_at < $2))",
    )
    .bind(creator)
    .bind(unwritten_since)
    .fetch_optional(conn)
    .await?)
}

/// Marks read the creator's chats held as unread that Fanvue no longer
/// lists as unread (`still_unread` is its list), and their fan messages, as
/// the `message.read` webhook would have. A row written since `as_of` is
/// left alone: a webhook may have brought a message after the list was
/// read. Returns how many chats changed.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn mark_read_except(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    still_unread: &[Uuid],
    as_of: DateTime<Utc>,
) -> Result<u64, StoreError> {
    // The chats are locked in id order (as `lock_for_messages`) before any
    // is written, then their fan messages.
    let read: Vec<Uuid> = sqlx::query_scalar(
        "WITH c AS (
            SELECT id FROM chats
            WHERE agency_id = $1 AND creator_id = $2 AND (unread_count > 0 OR NOT is_read)
              AND fan_uuid <> ALL($3) AND updated_at < $4
            ORDER BY id FOR NO KEY UPDATE)
         UPDATE chats SET unread_count = 0, is_read = true, updated_at = now()
         FROM c WHERE chats.id = c.id
         RETURNING chats.id",
    )
    .bind(agency)
    .bind(creator)
    .bind(still_unread)
    .bind(as_of)
    .fetch_all(&mut *conn)
    .await?;
    let chats: Vec<(Uuid, DateTime<Utc>)> = read.iter().map(|c| (*c, as_of)).collect();
    mark_fan_messages_read(conn, creator, &chats).await?;
    Ok(read.len() as u64)
}

/// Fan messages of each chat sent by its instant, read: Fanvue counts no
/// unread message in those chats (as of that instant).
async fn mark_fan_messages_read(
    conn: &mut PgConnection,
    creator: CreatorId,
    chats: &[(Uuid, DateTime<Utc>)],
) -> Result<(), StoreError> {
    if chats.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE messages m SET is_read = true, updated_at = now()
         FROM UNNEST($2::uuid[], $3::timestamptz[]) AS t(chat, until)
         WHERE m.creator_id = $1 AND m.chat_id = t.chat AND m.direction = 'in' AND NOT m.is_read
           AND (m.sent_at IS NULL OR m.sent_at <= t.until)",
    )
    .bind(creator)
    .bind(chats.iter().map(|c| c.0).collect::<Vec<_>>())
    .bind(chats.iter().map(|c| c.1).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The fans of every chat the mirror holds for the creator.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn known_fans(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT fan_uuid FROM chats WHERE agency_id = $1 AND creator_id = $2")
            .bind(agency)
            .bind(creator)
            .fetch_all(db)
            .await?,
    )
}

/// The newest `last_message_at` among the creator's chats.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
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

/// Chats whose older history still has to be fetched.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
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
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
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

/// A fan as webhook payloads describe them.
#[derive(Debug, Clone, Default)]
pub struct FanProfile {
    pub uuid: Uuid,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

/// The chat of `fan`, created (or its profile refreshed) from a webhook.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub(super) async fn chat_for_fan(
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

/// New follower / subscriber: the fan's status on their chat.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
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
