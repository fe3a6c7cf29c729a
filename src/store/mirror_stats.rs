//! How big a creator's mirror is, for the sync page. Read-only.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId};

/// Mirror size for the sync page.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct MirrorStats {
    pub chats: i64,
    pub chats_history_complete: i64,
    pub messages: i64,
    pub oldest_message_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
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
