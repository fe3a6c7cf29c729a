//! A chat's read state after staff marked it read on Fanvue: the chat has
//! no unread messages and the fan's messages are read (monotonic: never
//! back to unread, DESIGN invariant 2).

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::StoreError;
use crate::domain::AgencyId;

/// Marks `chat` and its inbound messages read in the mirror, in one
/// transaction (a savepoint inside the caller's) that holds the chat before
/// its messages, as every writer of messages does.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn mark_chat_read(
    conn: &mut PgConnection,
    agency: AgencyId,
    chat: Uuid,
) -> Result<(), StoreError> {
    let mut tx = conn.begin().await?;
    let conn = &mut *tx;
    super::chats::lock_for_messages(&mut *conn, &[chat]).await?;
    sqlx::query(
        "UPDATE chats SET is_read = true, unread_count = 0, updated_at = now()
         WHERE agency_id = $1 AND id = $2 AND (NOT is_read OR unread_count <> 0)",
    )
    .bind(agency)
    .bind(chat)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE messages SET is_read = true, updated_at = now()
         WHERE agency_id = $1 AND chat_id = $2 AND direction = 'in' AND NOT is_read",
    )
    .bind(agency)
    .bind(chat)
    .execute(&mut *conn)
    .await?;
    tx.commit().await?;
    Ok(())
}
