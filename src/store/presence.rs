//! Presence (`chat_presence`, UNLOGGED): one row per browser tab that has
//! a chat open, refreshed by the page's heartbeat. A row not refreshed for
//! [`EXPIRY`] is gone (reads ignore it, the pruning deletes it); a typing
//! flag not refreshed for [`TYPING_FOR`] is off.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId, StaffId};

/// A tab not heard from for this long has left.
pub const EXPIRY_SECS: i64 = 30;
/// Typing shows this long after the last keystroke report.
pub const TYPING_SECS: i64 = 8;

/// Someone in a chat, one row per person (their tabs folded together).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PresenceRow {
    pub chat_id: Uuid,
    pub staff_id: StaffId,
    pub staff_name: String,
    /// Typing in any of their tabs.
    pub typing: bool,
    /// Idle in all of them.
    pub idle: bool,
}

/// What a heartbeat reports.
#[derive(Debug, Clone, Copy)]
pub struct Beat<'a> {
    pub agency_id: AgencyId,
    pub creator_id: CreatorId,
    pub chat_id: Uuid,
    pub staff_id: StaffId,
    pub tab: &'a str,
    /// `Some(true)` typing now, `Some(false)` stopped, `None` unchanged.
    pub typing: Option<bool>,
    pub idle: bool,
}

/// Records a heartbeat (arrival, typing, idle). Only a change of who is
/// there, typing or idle publishes a live event (the table's triggers).
#[tracing::instrument(skip_all, fields(agency_id = %b.agency_id, chat_id = %b.chat_id))]
pub async fn beat(db: impl PgExecutor<'_>, b: &Beat<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO chat_presence (chat_id, staff_id, tab_id, agency_id, creator_id, typing, typing_at, idle)
         VALUES ($1, $2, $3, $4, $5, COALESCE($6, false), CASE WHEN $6 THEN now() END, $7)
         ON CONFLICT (chat_id, staff_id, tab_id) DO UPDATE
            SET seen_at = now(), idle = EXCLUDED.idle,
                typing = CASE WHEN $6 IS NULL
                              THEN chat_presence.typing
                                   AND chat_presence.typing_at > now() - $8 * interval '1 second'
                              ELSE $6 END,
                typing_at = CASE WHEN $6 THEN now() ELSE chat_presence.typing_at END
          WHERE chat_presence.agency_id = EXCLUDED.agency_id",
    )
    .bind(b.chat_id)
    .bind(b.staff_id)
    .bind(b.tab)
    .bind(b.agency_id)
    .bind(b.creator_id)
    .bind(b.typing)
    .bind(b.idle)
    .bind(TYPING_SECS)
    .execute(db)
    .await?;
    Ok(())
}

/// A tab closed or left the chat.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn leave(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    chat: Uuid,
    staff: StaffId,
    tab: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM chat_presence WHERE agency_id = $1 AND chat_id = $2 AND staff_id = $3 AND tab_id = $4",
    )
    .bind(agency)
    .bind(chat)
    .bind(staff)
    .bind(tab)
    .execute(db)
    .await?;
    Ok(())
}

/// Who is in these chats of `agency` now, by chat and name.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chats = chats.len()))]
pub async fn for_chats(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    chats: &[Uuid],
) -> Result<Vec<PresenceRow>, StoreError> {
    if chats.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(
        "SELECT p.chat_id, p.staff_id, s.display_name AS staff_name,
                bool_or(p.typing AND p.typing_at > now() - $4 * interval '1 second') AS typing,
                bool_and(p.idle) AS idle
         FROM chat_presence p JOIN staff s ON s.id = p.staff_id AND s.agency_id = p.agency_id
         WHERE p.agency_id = $1 AND p.chat_id = ANY($2) AND s.active
           AND p.seen_at > now() - $3 * interval '1 second'
         GROUP BY p.chat_id, p.staff_id, s.display_name
         ORDER BY p.chat_id, s.display_name, p.staff_id",
    )
    .bind(agency)
    .bind(chats)
    .bind(EXPIRY_SECS)
    .bind(TYPING_SECS)
    .fetch_all(db)
    .await?)
}

/// Deletes tabs not heard from within the expiry and turns off stale
/// typing flags (each change tells open pages). Returns rows changed.
#[tracing::instrument(skip_all)]
pub async fn prune(db: &sqlx::PgPool) -> Result<u64, StoreError> {
    let gone =
        sqlx::query("DELETE FROM chat_presence WHERE seen_at <= now() - $1 * interval '1 second'")
            .bind(EXPIRY_SECS)
            .execute(db)
            .await?
            .rows_affected();
    let stopped = sqlx::query(
        "UPDATE chat_presence SET typing = false
         WHERE typing AND typing_at <= now() - $1 * interval '1 second'",
    )
    .bind(TYPING_SECS)
    .execute(db)
    .await?
    .rows_affected();
    Ok(gone + stopped)
}
