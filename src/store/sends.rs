//! The send ledger (`outbound_sends`, DESIGN §11): one row per compose form,
//! keyed by the form's idempotency key, committed `pending` before Fanvue
//! is called and moved once to `sent`, `failed` or `unknown`. Also the
//! reads a send needs (the chat it targets, media the fan already bought)
//! and the resolution of `unknown` rows against the mirror.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId, SendStatus, StaffId};

/// The chat a send goes to, as the agency sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatTarget {
    pub chat_id: Uuid,
    pub creator_id: CreatorId,
    pub fan_uuid: Uuid,
    /// The creator's own Fanvue uuid (the sender of outbound messages).
    pub creator_fanvue_uuid: Uuid,
    /// Unread inbound messages in the mirror.
    pub unread_count: i32,
    pub is_read: bool,
}

/// A chat of `agency` by id, with what a send or mark-read needs; `None`
/// for another agency's chat.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn chat_target(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    chat: Uuid,
) -> Result<Option<ChatTarget>, StoreError> {
    Ok(sqlx::query_as::<_, ChatTarget>(
        "SELECT c.id AS chat_id, c.creator_id, c.fan_uuid, cr.fanvue_uuid AS creator_fanvue_uuid,
                c.unread_count, c.is_read
         FROM chats c JOIN creators cr ON cr.id = c.creator_id AND cr.agency_id = c.agency_id
         WHERE c.agency_id = $1 AND c.id = $2",
    )
    .bind(agency)
    .bind(chat)
    .fetch_optional(db)
    .await?)
}

const COLUMNS: &str = "id, agency_id, creator_id, chat_id, staff_id, idempotency_key, body, price_cents, \
    media_uuids, status, message_uuid, error, created_at, updated_at, sent_at, retry_of, template_uuid, \
    sent_anyway";

/// A ledger row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SendRow {
    pub id: Uuid,
    pub agency_id: AgencyId,
    pub creator_id: CreatorId,
    pub chat_id: Uuid,
    pub staff_id: Option<StaffId>,
    pub idempotency_key: String,
    pub body: Option<String>,
    pub price_cents: Option<i64>,
    pub media_uuids: Vec<Uuid>,
    #[sqlx(try_from = "String")]
    pub status: SendStatus,
    pub message_uuid: Option<Uuid>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub retry_of: Option<Uuid>,
    pub template_uuid: Option<Uuid>,
    /// Sent after a collision hold ("Send anyway").
    pub sent_anyway: bool,
}

/// What a new ledger row records.
#[derive(Debug, Clone)]
pub struct NewSend<'a> {
    pub agency_id: AgencyId,
    pub creator_id: CreatorId,
    pub chat_id: Uuid,
    pub staff_id: StaffId,
    pub idempotency_key: &'a str,
    pub body: Option<&'a str>,
    pub price_cents: Option<i64>,
    pub media_uuids: &'a [Uuid],
    pub template_uuid: Option<Uuid>,
    /// The `unknown` row this send knowingly repeats ("Retry anyway").
    pub retry_of: Option<Uuid>,
    /// Confirmed after a hold for messages that arrived meanwhile.
    pub sent_anyway: bool,
}

/// Whether `claim` made the row or found it.
#[derive(Debug, Clone)]
pub enum Claim {
    /// This request owns the send: it must call Fanvue.
    New(SendRow),
    /// The key was used before (double click, refresh, retry): never send again.
    Existing(SendRow),
}

/// Inserts the `pending` row for a form, or finds the row its key already
/// made. A key used for another agency's or another chat's send is
/// `NotFound`: it neither sends nor says whose it is.
#[tracing::instrument(skip_all, fields(agency_id = %s.agency_id, creator_id = %s.creator_id, chat_id = %s.chat_id))]
pub async fn claim(conn: &mut PgConnection, s: &NewSend<'_>) -> Result<Claim, StoreError> {
    let inserted = sqlx::query_as::<_, SendRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO outbound_sends (id, agency_id, creator_id, chat_id, staff_id, idempotency_key, body,
            price_cents, media_uuids, status, template_uuid, retry_of, sent_anyway)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10,
            (SELECT o.id FROM outbound_sends o WHERE o.id = $11 AND o.agency_id = $2 AND o.chat_id = $4), $12
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(s.agency_id)
    .bind(s.creator_id)
    .bind(s.chat_id)
    .bind(s.staff_id)
    .bind(s.idempotency_key)
    .bind(s.body)
    .bind(s.price_cents)
    .bind(s.media_uuids)
    .bind(s.template_uuid)
    .bind(s.retry_of)
    .bind(s.sent_anyway)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = inserted {
        return Ok(Claim::New(row));
    }
    let existing = sqlx::query_as::<_, SendRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM outbound_sends
         WHERE idempotency_key = $1 AND agency_id = $2 AND chat_id = $3"
    )))
    .bind(s.idempotency_key)
    .bind(s.agency_id)
    .bind(s.chat_id)
    .fetch_optional(&mut *conn)
    .await?;
    existing.map(Claim::Existing).ok_or(StoreError::NotFound)
}

/// One ledger row of `agency`.
#[tracing::instrument(skip_all, fields(agency_id = %agency, send_id = %id))]
pub async fn get(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: Uuid,
) -> Result<SendRow, StoreError> {
    sqlx::query_as::<_, SendRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM outbound_sends WHERE agency_id = $1 AND id = $2"
    )))
    .bind(agency)
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(StoreError::NotFound)
}

/// `pending` (or `unknown`) → `sent` with Fanvue's message uuid. Returns
/// whether the row moved (false: another path settled it first).
#[tracing::instrument(skip_all, fields(agency_id = %agency, send_id = %id))]
pub async fn mark_sent(
    conn: &mut PgConnection,
    agency: AgencyId,
    id: Uuid,
    message: Uuid,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE outbound_sends SET status = 'sent', message_uuid = $3, error = NULL,
            sent_at = now(), updated_at = now()
         WHERE agency_id = $1 AND id = $2 AND status IN ('pending', 'unknown')",
    )
    .bind(agency)
    .bind(id)
    .bind(message)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// `pending` → `failed` (Fanvue refused it: nothing was sent) or
/// `unknown` (it may have been sent), with the reason shown to staff. A row
/// the sync's sweep moved to `unknown` while its call was still running is
/// settled too: the call's own answer knows better than the sweep.
#[tracing::instrument(skip_all, fields(agency_id = %agency, send_id = %id, status = status.as_str()))]
pub async fn settle(
    conn: &mut PgConnection,
    agency: AgencyId,
    id: Uuid,
    status: SendStatus,
    error: &str,
) -> Result<(), StoreError> {
    debug_assert!(matches!(status, SendStatus::Failed | SendStatus::Unknown));
    sqlx::query(
        "UPDATE outbound_sends SET status = $3, error = $4, updated_at = now()
         WHERE agency_id = $1 AND id = $2
           AND (status = 'pending' OR (status = 'unknown' AND swept))",
    )
    .bind(agency)
    .bind(id)
    .bind(status.as_str())
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// An earlier send of the same message as `row`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Twin {
    pub id: Uuid,
    /// Reconcile has since found it on Fanvue (it did arrive).
    pub sent: bool,
}

/// The latest earlier send of the same message (text, price, media,
/// template) to the same chat as `row` that either is `unknown` or was
/// `unknown` and has since been found on Fanvue within the last day.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %row.chat_id))]
pub async fn unknown_twin(
    conn: &mut PgConnection,
    agency: AgencyId,
    row: &SendRow,
) -> Result<Option<Twin>, StoreError> {
    let twin: Option<(Uuid, bool)> = sqlx::query_as(
        "SELECT id, status = 'sent' FROM outbound_sends
         WHERE agency_id = $1 AND chat_id = $2 AND id <> $3
           AND (status = 'unknown'
                OR (status = 'sent' AND confirmed_by_sync AND created_at > now() - interval '1 day'))
           AND body IS NOT DISTINCT FROM $4 AND price_cents IS NOT DISTINCT FROM $5
           AND media_uuids = $6 AND template_uuid IS NOT DISTINCT FROM $7
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(agency)
    .bind(row.chat_id)
    .bind(row.id)
    .bind(&row.body)
    .bind(row.price_cents)
    .bind(&row.media_uuids)
    .bind(row.template_uuid)
    .fetch_optional(conn)
    .await?;
    Ok(twin.map(|(id, sent)| Twin { id, sent }))
}

/// Whether ledger row `id` of `agency` is `sent` (a "Retry anyway" of a row
/// that has since been found on Fanvue must not send again).
#[tracing::instrument(skip_all, fields(agency_id = %agency, send_id = %id))]
pub async fn is_sent(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: Uuid,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM outbound_sends WHERE agency_id = $1 AND id = $2 AND status = 'sent')",
    )
    .bind(agency)
    .bind(id)
    .fetch_one(db)
    .await?)
}

/// Takes Fanvue message `message` back from a row reconcile matched it to
/// (that row goes back to `unknown`), so the send Fanvue answered with that
/// uuid can claim it. Returns whether a claim was taken back.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator, send_id = %id))]
pub async fn take_back_match(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    id: Uuid,
    message: Uuid,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE outbound_sends SET status = 'unknown', message_uuid = NULL, sent_at = NULL,
            confirmed_by_sync = false, error = $5, updated_at = now()
         WHERE agency_id = $1 AND creator_id = $2 AND message_uuid = $4 AND id <> $3
           AND confirmed_by_sync",
    )
    .bind(agency)
    .bind(creator)
    .bind(id)
    .bind(message)
    .bind("Fanvue did not answer in time, so this message may have been sent.")
    .execute(conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Whether `e` is the "one ledger row per Fanvue message" conflict.
pub fn is_message_claimed(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(sqlx::Error::Database(d))
        if d.constraint() == Some("outbound_sends_message_idx"))
}

/// What staff see on an `unknown` row whose window passed without a match.
pub const MSG_NOT_CONFIRMED: &str =
    "Switchboard could not confirm it was sent \u{2014} check the chat on Fanvue before retrying.";

/// Media of `candidates` that the fan of `chat` already bought, as far as
/// the mirror knows (purchased PPVs in this chat carrying them).
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn already_bought(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    chat: Uuid,
    candidates: &[Uuid],
) -> Result<Vec<Uuid>, StoreError> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT u FROM messages m, UNNEST(m.media_uuids) AS u
         WHERE m.agency_id = $1 AND m.chat_id = $2 AND m.purchased_at IS NOT NULL
           AND m.deleted_at IS NULL AND u = ANY($3)
         ORDER BY u",
    )
    .bind(agency)
    .bind(chat)
    .bind(candidates)
    .fetch_all(db)
    .await?)
}

/// How `unknown` rows are matched to mirrored messages: an outbound
/// message of the same chat with the same text and price, sent between
/// `before` ahead of the row's creation and `after` behind it.
#[derive(Debug, Clone, Copy)]
pub struct MatchWindow {
    pub before: chrono::Duration,
    pub after: chrono::Duration,
}

/// What one resolution pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    pub sent: u64,
    pub failed: u64,
}

/// Resolves `creator`'s `unknown` sends against the mirror (run after sync
/// wrote messages): a match not claimed by another ledger row makes the row
/// `sent`; a row whose window has passed without one becomes `failed`
/// ("not found on Fanvue"), so the chatter may send again.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn resolve_unknown(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    window: MatchWindow,
) -> Result<Resolved, StoreError> {
    // A row still `pending` long after its request lost its process (a
    // crash mid-send): whether it went out is unknown, so treat it so.
    // `swept` lets a late definite answer of a live call still settle it.
    sqlx::query(
        "UPDATE outbound_sends SET status = 'unknown', swept = true,
            error = 'The send was interrupted.', updated_at = now()
         WHERE agency_id = $1 AND creator_id = $2 AND status = 'pending'
           AND created_at < now() - interval '2 minutes'",
    )
    .bind(agency)
    .bind(creator)
    .execute(&mut *conn)
    .await?;
    // Rows with a "Retry anyway" still in flight wait: the retry's own
    // message must not be taken for theirs.
    let rows: Vec<(Uuid, bool)> = sqlx::query_as(
        "SELECT s.id, s.created_at + $3 * interval '1 second' < now() FROM outbound_sends s
         WHERE s.agency_id = $1 AND s.creator_id = $2 AND s.status = 'unknown'
           AND NOT EXISTS (SELECT 1 FROM outbound_sends r
                           WHERE r.retry_of = s.id AND r.status = 'pending')
         ORDER BY s.created_at, s.id
         FOR UPDATE OF s SKIP LOCKED",
    )
    .bind(agency)
    .bind(creator)
    .bind(window.after.num_seconds())
    .fetch_all(&mut *conn)
    .await?;
    let mut done = Resolved::default();
    // Row by row, oldest first: two unknown sends of the same text each
    // claim their own message, never the same one. A match is an outbound
    // message the API sent with the creator's token (no team member, a
    // one-to-one kind) carrying what the row sent; a template send that
    // left text/price/media blank matches on what it did fill in.
    for (id, expired) in rows {
        let matched: Option<Uuid> = sqlx::query_scalar(
            "SELECT m.uuid FROM outbound_sends s
             JOIN messages m ON m.creator_id = s.creator_id AND m.chat_id = s.chat_id
             WHERE s.id = $1 AND m.direction = 'out' AND m.deleted_at IS NULL
               AND m.sent_by_user_uuid IS NULL AND m.kind = 'SINGLE_RECIPIENT'
               AND (m.text IS NOT DISTINCT FROM s.body
                    OR (s.body IS NULL AND s.template_uuid IS NOT NULL))
               AND (m.price_cents IS NOT DISTINCT FROM s.price_cents
                    OR (s.price_cents IS NULL AND s.template_uuid IS NOT NULL))
               AND (m.media_uuids = s.media_uuids
                    OR (s.media_uuids = '{}' AND s.template_uuid IS NOT NULL))
               AND m.sent_at BETWEEN s.created_at - $2 * interval '1 second'
                                 AND s.created_at + $3 * interval '1 second'
               AND NOT EXISTS (SELECT 1 FROM outbound_sends o
                               WHERE o.creator_id = m.creator_id AND o.message_uuid = m.uuid)
               -- The same message still being sent to this chat: its
               -- answer, not a guess, says which message is whose.
               AND NOT EXISTS (SELECT 1 FROM outbound_sends p
                               WHERE p.chat_id = s.chat_id AND p.status = 'pending' AND p.id <> s.id
                                 AND p.body IS NOT DISTINCT FROM s.body
                                 AND p.price_cents IS NOT DISTINCT FROM s.price_cents
                                 AND p.media_uuids = s.media_uuids)
             ORDER BY m.sent_at, m.uuid LIMIT 1",
        )
        .bind(id)
        .bind(window.before.num_seconds())
        .bind(window.after.num_seconds())
        .fetch_optional(&mut *conn)
        .await?;
        match matched {
            Some(uuid) => {
                // A send committing the same uuid right now wins the unique
                // index; this pass then skips the row instead of aborting
                // the sync's transaction.
                sqlx::query("SAVEPOINT resolve_unknown")
                    .execute(&mut *conn)
                    .await?;
                let r = sqlx::query(
                    "UPDATE outbound_sends SET status = 'sent', message_uuid = $2, error = NULL,
                        sent_at = now(), updated_at = now(), confirmed_by_sync = true
                     WHERE id = $1 AND status = 'unknown'
                       AND NOT EXISTS (SELECT 1 FROM outbound_sends o
                                       WHERE o.creator_id = outbound_sends.creator_id
                                         AND o.message_uuid = $2)",
                )
                .bind(id)
                .bind(uuid)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::Db);
                match r {
                    Ok(r) => {
                        sqlx::query("RELEASE SAVEPOINT resolve_unknown")
                            .execute(&mut *conn)
                            .await?;
                        done.sent += r.rows_affected();
                    }
                    Err(e) if is_message_claimed(&e) => {
                        sqlx::query("ROLLBACK TO SAVEPOINT resolve_unknown")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Err(e) => return Err(e),
                }
            }
            None if expired => {
                sqlx::query(
                    "UPDATE outbound_sends SET status = 'failed', error = $2, updated_at = now()
                     WHERE id = $1 AND status = 'unknown'",
                )
                .bind(id)
                .bind(MSG_NOT_CONFIRMED)
                .execute(&mut *conn)
                .await?;
                done.failed += 1;
            }
            None => {}
        }
    }
    Ok(done)
}

/// Locks chat `chat` of `agency` until the transaction ends: sends to one
/// chat take their collision check and commit their `pending` row one at a
/// time, so of two sends within the same moment the second sees the first.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn lock_chat(
    conn: &mut PgConnection,
    agency: AgencyId,
    chat: Uuid,
) -> Result<(), StoreError> {
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM chats WHERE agency_id = $1 AND id = $2 FOR UPDATE")
            .bind(agency)
            .bind(chat)
            .fetch_optional(conn)
            .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// The thread version a compose form was rendered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The thread showed no messages.
    Empty,
    /// The newest message the thread showed.
    Message(Uuid),
}

/// Something the chatter had not seen when they wrote their reply.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Arrived {
    /// The mirrored message (None: a send of another staff member still
    /// in flight, not on Fanvue yet).
    pub message_uuid: Option<Uuid>,
    pub outbound: bool,
    pub text: Option<String>,
    pub at: DateTime<Utc>,
    /// The staff member whose Switchboard send it is, if it is one.
    pub staff_name: Option<String>,
    /// Mirrored outbound message not sent through Switchboard (Fanvue's
    /// own UI or another tool).
    pub outside: bool,
}

/// What arrived in `chat` after `seen` that would make a reply by `me`
/// cross it: a newer fan message, a newer outbound message that is not
/// `me`'s own Switchboard send (another chatter's, or one sent on Fanvue
/// itself and mirrored by webhook or reconcile), and other staff members'
/// sends still in flight (`pending`, or `unknown` since the seen message).
/// Automated messages and mass messages never collide. `own` is the
/// caller's own ledger row. Oldest first, at most 20.
#[tracing::instrument(skip_all, fields(agency_id = %agency, chat_id = %chat))]
pub async fn arrived_since(
    conn: &mut PgConnection,
    agency: AgencyId,
    chat: Uuid,
    seen: Seen,
    me: StaffId,
    own: Uuid,
) -> Result<Vec<Arrived>, StoreError> {
    let seen_uuid = match seen {
        Seen::Empty => None,
        Seen::Message(u) => Some(u),
    };
    Ok(sqlx::query_as::<_, Arrived>(
        "WITH seen AS (
            SELECT COALESCE(max(COALESCE(m.sent_at, m.first_seen_at)), '-infinity'::timestamptz) AS at,
                   COALESCE(max(m.uuid::text)::uuid, '00000000-0000-0000-0000-000000000000'::uuid) AS uuid
            FROM messages m WHERE m.agency_id = $1 AND m.chat_id = $2 AND m.uuid = $3
         )
         SELECT * FROM (
            SELECT m.uuid AS message_uuid, m.direction = 'out' AS outbound, m.text,
                   COALESCE(m.sent_at, m.first_seen_at) AS at, st.display_name AS staff_name,
                   (m.direction = 'out' AND o.id IS NULL) AS outside
            FROM messages m CROSS JOIN seen
            LEFT JOIN outbound_sends o ON o.creator_id = m.creator_id AND o.message_uuid = m.uuid
            LEFT JOIN staff st ON st.id = o.staff_id
            WHERE m.agency_id = $1 AND m.chat_id = $2 AND m.deleted_at IS NULL
              AND m.kind NOT LIKE 'AUTOMATED\\_%' AND m.kind <> 'BROADCAST'
              AND (COALESCE(m.sent_at, m.first_seen_at), m.uuid) > (seen.at, seen.uuid)
              AND o.staff_id IS DISTINCT FROM $4
            UNION ALL
            SELECT NULL, true, o.body, o.created_at, st.display_name, false
            FROM outbound_sends o CROSS JOIN seen
            LEFT JOIN staff st ON st.id = o.staff_id
            WHERE o.agency_id = $1 AND o.chat_id = $2 AND o.id <> $5 AND o.message_uuid IS NULL
              AND o.staff_id IS DISTINCT FROM $4
              AND (o.status = 'pending' OR (o.status = 'unknown' AND o.created_at > seen.at))
         ) a
         ORDER BY a.at, a.message_uuid NULLS LAST
         LIMIT 20",
    )
    .bind(agency)
    .bind(chat)
    .bind(seen_uuid)
    .bind(me)
    .bind(own)
    .fetch_all(conn)
    .await?)
}
