//! Chat claims (`chat_claims`): a soft lock of one chat by one staff member
//! with an expiry that the owner's activity pushes on. A row whose
//! `expires_at` has passed is no claim at all; every read says so, and the
//! pruning deletes it. Callers check that the viewer may work the chat's
//! creator; every query is scoped by agency.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId, StaffId, TagId};

/// A live claim, with its owner's name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimRow {
    pub chat_id: Uuid,
    pub creator_id: CreatorId,
    pub staff_id: StaffId,
    pub staff_name: String,
    pub claimed_at: DateTime<Utc>,
    pub active_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT k.chat_id, k.creator_id, k.staff_id, s.display_name AS staff_name,
        k.claimed_at, k.active_at, k.expires_at
     FROM chat_claims k JOIN staff s ON s.id = k.staff_id AND s.agency_id = k.agency_id";

/// The live claims of these chats of `agency`.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chats = chats.len()))]
pub async fn for_chats(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    chats: &[Uuid],
) -> Result<Vec<ClaimRow>, StoreError> {
    if chats.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE k.agency_id = $1 AND k.chat_id = ANY($2) AND k.expires_at > now()"
    )))
    .bind(agency)
    .bind(chats)
    .fetch_all(db)
    .await?)
}

/// The live claim of one chat.
pub async fn of_chat(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    chat: Uuid,
) -> Result<Option<ClaimRow>, StoreError> {
    Ok(for_chats(db, agency, &[chat]).await?.into_iter().next())
}

/// The live claims on these creators' chats, oldest first (the managers'
/// claims page).
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn for_creators(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creators: &[CreatorId],
) -> Result<Vec<ClaimRow>, StoreError> {
    let ids: Vec<Uuid> = creators.iter().map(CreatorId::as_uuid).collect();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE k.agency_id = $1 AND k.creator_id = ANY($2) AND k.expires_at > now()
         ORDER BY k.claimed_at, k.chat_id"
    )))
    .bind(agency)
    .bind(&ids)
    .fetch_all(db)
    .await?)
}

/// The chats `staff` holds claimed among `creators`.
#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %staff))]
pub async fn chats_of(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    staff: StaffId,
    creators: &[CreatorId],
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<Uuid> = creators.iter().map(CreatorId::as_uuid).collect();
    Ok(sqlx::query_scalar(
        "SELECT chat_id FROM chat_claims
         WHERE agency_id = $1 AND staff_id = $2 AND creator_id = ANY($3) AND expires_at > now()",
    )
    .bind(agency)
    .bind(staff)
    .bind(&ids)
    .fetch_all(db)
    .await?)
}

/// Counts for the Mine and Unclaimed tabs: `staff`'s claims, and live
/// claims on chats awaiting a reply (the Unclaimed tab is the awaiting ones
/// without a claim); with `tag`, only chats of fans carrying it.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn counts(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    staff: StaffId,
    creators: &[CreatorId],
    tag: Option<TagId>,
) -> Result<(i64, i64), StoreError> {
    let ids: Vec<Uuid> = creators.iter().map(CreatorId::as_uuid).collect();
    Ok(sqlx::query_as(
        "SELECT count(*) FILTER (WHERE k.staff_id = $2),
                count(*) FILTER (WHERE c.awaiting_reply)
         FROM chat_claims k JOIN chats c ON c.id = k.chat_id AND c.agency_id = k.agency_id
         WHERE k.agency_id = $1 AND k.creator_id = ANY($3) AND k.expires_at > now()
           AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM fan_tags ft
                WHERE ft.agency_id = $1 AND ft.tag_id = $4 AND ft.fan_uuid = c.fan_uuid))",
    )
    .bind(agency)
    .bind(staff)
    .bind(&ids)
    .bind(tag)
    .fetch_one(db)
    .await?)
}

/// Serialises claim decisions of one staff member (the cap counts their
/// claims; two claims at once must not both pass it).
pub async fn lock_staff(conn: &mut PgConnection, staff: StaffId) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('claims:' || $1::text, 0))")
        .bind(staff)
        .execute(conn)
        .await?;
    Ok(())
}

/// How many live claims `staff` holds (other than on `except`).
pub async fn held_by(
    conn: &mut PgConnection,
    agency: AgencyId,
    staff: StaffId,
    except: Option<Uuid>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM chat_claims
         WHERE agency_id = $1 AND staff_id = $2 AND expires_at > now() AND chat_id IS DISTINCT FROM $3",
    )
    .bind(agency)
    .bind(staff)
    .bind(except)
    .fetch_one(conn)
    .await?)
}

/// Claims `chat` for `staff` if nobody holds it (an expired row is taken
/// over silently). Returns the live claim after the statement: `staff`'s
/// when it got it (or already had it), someone else's otherwise. The row
/// of the chat is locked until the transaction ends.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat, staff_id = %staff))]
pub async fn claim(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    chat: Uuid,
    staff: StaffId,
    length: chrono::Duration,
) -> Result<ClaimRow, StoreError> {
    sqlx::query(
        "INSERT INTO chat_claims (chat_id, agency_id, creator_id, staff_id, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second')
         ON CONFLICT (chat_id) DO UPDATE
            SET staff_id = EXCLUDED.staff_id, active_at = now(), expires_at = EXCLUDED.expires_at,
                claimed_at = CASE WHEN chat_claims.staff_id = EXCLUDED.staff_id
                                   AND chat_claims.expires_at > now()
                                  THEN chat_claims.claimed_at ELSE now() END
          WHERE chat_claims.expires_at <= now() OR chat_claims.staff_id = EXCLUDED.staff_id",
    )
    .bind(chat)
    .bind(agency)
    .bind(creator)
    .bind(staff)
    .bind(length.num_seconds())
    .execute(&mut *conn)
    .await?;
    locked(conn, agency, chat)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The chat's live claim, its row locked until the transaction ends.
async fn locked(
    conn: &mut PgConnection,
    agency: AgencyId,
    chat: Uuid,
) -> Result<Option<ClaimRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE k.agency_id = $1 AND k.chat_id = $2 AND k.expires_at > now() FOR UPDATE OF k"
    )))
    .bind(agency)
    .bind(chat)
    .fetch_optional(conn)
    .await?)
}

/// Gives `chat`'s claim to `staff` whoever holds it (a take-over or a
/// manager's reassignment). Returns the previous live owner, if any.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat, staff_id = %staff))]
pub async fn give(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    chat: Uuid,
    staff: StaffId,
    length: chrono::Duration,
) -> Result<Option<ClaimRow>, StoreError> {
    let before = locked(&mut *conn, agency, chat).await?;
    sqlx::query(
        "INSERT INTO chat_claims (chat_id, agency_id, creator_id, staff_id, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second')
         ON CONFLICT (chat_id) DO UPDATE
            SET staff_id = EXCLUDED.staff_id, claimed_at = now(), active_at = now(),
                expires_at = EXCLUDED.expires_at",
    )
    .bind(chat)
    .bind(agency)
    .bind(creator)
    .bind(staff)
    .bind(length.num_seconds())
    .execute(&mut *conn)
    .await?;
    Ok(before)
}

/// Ends `chat`'s live claim (held by `owner`, or by anyone when `owner` is
/// None). Returns the claim that ended.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn release(
    conn: &mut PgConnection,
    agency: AgencyId,
    chat: Uuid,
    owner: Option<StaffId>,
) -> Result<Option<ClaimRow>, StoreError> {
    let Some(before) = locked(&mut *conn, agency, chat).await? else {
        return Ok(None);
    };
    if owner.is_some_and(|o| o != before.staff_id) {
        return Ok(None);
    }
    sqlx::query("DELETE FROM chat_claims WHERE agency_id = $1 AND chat_id = $2")
        .bind(agency)
        .bind(chat)
        .execute(conn)
        .await?;
    Ok(Some(before))
}

/// The owner was active in the chat (typing, sending): their claim runs
/// `length` from now. Someone else's claim, or none, is left alone.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn renew(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    chat: Uuid,
    staff: StaffId,
    length: chrono::Duration,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE chat_claims SET active_at = now(), expires_at = now() + $4 * interval '1 second'
         WHERE agency_id = $1 AND chat_id = $2 AND staff_id = $3 AND expires_at > now()",
    )
    .bind(agency)
    .bind(chat)
    .bind(staff)
    .bind(length.num_seconds())
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The chat of `creators` that has waited longest for a reply (since its
/// first fan message after the last human outbound one) and that nobody
/// holds, locked for this transaction; chats other transactions have
/// locked are skipped, so two callers at once get different chats.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creators = creators.len()))]
pub async fn next_unclaimed(
    conn: &mut PgConnection,
    agency: AgencyId,
    creators: &[CreatorId],
) -> Result<Option<(Uuid, CreatorId)>, StoreError> {
    let ids: Vec<Uuid> = creators.iter().map(CreatorId::as_uuid).collect();
    Ok(sqlx::query_as(
        "SELECT c.id, c.creator_id FROM chats c
         WHERE c.agency_id = $1 AND c.creator_id = ANY($2) AND c.awaiting_reply
           AND NOT EXISTS (SELECT 1 FROM chat_claims k WHERE k.chat_id = c.id AND k.expires_at > now())
         ORDER BY (
            SELECT min(COALESCE(m.sent_at, m.first_seen_at)) FROM messages m
            WHERE m.chat_id = c.id AND m.creator_id = c.creator_id AND m.direction = 'in'
              AND m.deleted_at IS NULL
              AND COALESCE(m.sent_at, m.first_seen_at) > COALESCE((
                  SELECT max(COALESCE(o.sent_at, o.first_seen_at)) FROM messages o
                  WHERE o.chat_id = c.id AND o.creator_id = c.creator_id AND o.direction = 'out'
                    AND o.deleted_at IS NULL AND o.kind NOT LIKE 'AUTOMATED\\_%'
                    AND o.kind <> 'BROADCAST'), '-infinity'::timestamptz)
         ) NULLS LAST, c.id
         LIMIT 1
         FOR UPDATE OF c SKIP LOCKED",
    )
    .bind(agency)
    .bind(&ids)
    .fetch_optional(conn)
    .await?)
}

/// Deletes expired claims (each deletion tells open pages).
pub async fn prune(db: impl PgExecutor<'_>) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM chat_claims WHERE expires_at <= now()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// The fan's display name and handle of these chats, by chat.
pub async fn fan_names(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    chats: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, (Option<String>, Option<String>)>, StoreError> {
    let rows: Vec<(Uuid, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, fan_display_name, fan_handle FROM chats WHERE agency_id = $1 AND id = ANY($2)",
    )
    .bind(agency)
    .bind(chats)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, handle)| (id, (name, handle)))
        .collect())
}

/// Active staff who may work `creator`'s inbox (managers and above, and
/// the chatters assigned to it), by name.
pub async fn workers_of(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
) -> Result<Vec<(StaffId, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT s.id, s.display_name FROM staff s
         WHERE s.agency_id = $1 AND s.active
           AND (s.role IN ('owner', 'admin', 'manager')
                OR EXISTS (SELECT 1 FROM creator_assignments a
                           WHERE a.creator_id = $2 AND a.staff_id = s.id AND a.agency_id = $1))
         ORDER BY s.display_name, s.id",
    )
    .bind(agency)
    .bind(creator)
    .fetch_all(db)
    .await?)
}
