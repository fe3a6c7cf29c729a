//! Sending through the ledger (DESIGN §11) and marking chats read.
//!
//! A send commits a `pending` ledger row under the form's idempotency key
//! *before* calling Fanvue, so every repeat of the same form (double click,
//! refresh, back-and-resubmit, a retried request) finds that row instead of
//! sending again: one form, at most one Fanvue message. The call's outcome
//! moves the row once: `sent` (and the message goes into the mirror at
//! once), `failed` (Fanvue definitely did not send it: a new form may), or
//! `unknown` (a timeout or 5xx after the request may have reached Fanvue:
//! never retried blindly; reconcile looks for the message, see
//! `store::sends::resolve_unknown`).

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::compose_input::ValidSend;
use crate::connections::{ConnectionError, Connections};
use crate::domain::MessageSource;
use crate::domain::{AgencyId, MessageKind, SendStatus, StaffId};
use crate::fanvue::models::{ChatUpdate, SendMessage};
use crate::fanvue::{FanvueError, Priority};
use crate::store::messages::MessageUpsert;
use crate::store::sends::{Arrived, ChatTarget, Claim, MatchWindow, NewSend, SendRow};
use crate::store::{self, StoreError};

/// How an `unknown` send is matched to a mirrored message (DESIGN §11):
/// from a few seconds before the row (clock skew with Fanvue) to 10 min on.
pub const UNKNOWN_WINDOW: MatchWindow = MatchWindow {
    before: chrono::Duration::seconds(5),
    after: chrono::Duration::minutes(10),
};

/// A repeat of a form whose send is still in flight waits this long, in
/// these steps, before answering "still sending".
const PENDING_POLLS: u32 = 10;
const PENDING_POLL_EVERY: Duration = Duration::from_millis(300);
/// Messages the optional pre-send read of Fanvue asks for.
const PRE_SEND_READ: u32 = 10;

pub const MSG_CONTACTABILITY: &str =
    "This fan can't receive messages (not subscribed, or blocked).";
pub const MSG_RECONNECT: &str =
    "Reconnect this creator: Fanvue no longer accepts Switchboard's access. Nothing was sent.";
pub const MSG_UNKNOWN: &str = "Fanvue did not answer in time, so this message may have been sent. Switchboard will check on the next sync; send it again only if you are sure it did not arrive.";

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The form's key belongs to another chat or agency.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
    #[error("the send task failed: {0}")]
    Task(String),
}

impl From<StoreError> for SendError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => SendError::NotFound,
            other => SendError::Store(other),
        }
    }
}

impl From<sqlx::Error> for SendError {
    fn from(e: sqlx::Error) -> Self {
        SendError::Store(StoreError::Db(e))
    }
}

/// Why Fanvue did not send a message, in words for the chatter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// The form field the failure is about, when Fanvue named one.
    pub field: Option<&'static str>,
    /// The creator must be reconnected (admins get a link).
    pub reconnect: bool,
}

/// Why a send was not attempted: the chatter must confirm first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Media the fan already bought (a resell needs `confirm_resell`).
    AlreadyBought(Vec<Uuid>),
    /// The same message to this chat ended `unknown` and may have arrived.
    MaybeSent { send_id: Uuid },
    /// The send this one repeats (or its unknown twin) has since been found
    /// on Fanvue: sending again would duplicate it.
    AlreadySent { send_id: Uuid },
    /// The thread moved on since the chatter saw it (a fan message, another
    /// chatter's send, a send on Fanvue itself): "Send anyway" or edit.
    Arrived(Vec<Arrived>),
}

#[derive(Debug, Clone)]
pub enum SendOutcome {
    Sent(SendRow),
    /// Another request with this key is still talking to Fanvue.
    Pending(SendRow),
    Failed(SendRow, Failure),
    Unknown(SendRow),
    Held(Hold),
    /// The form's key already sent a different message (an edited
    /// resubmit): nothing sent, the draft needs a fresh key.
    KeyReused(SendRow),
}

pub const MSG_ALREADY_SENT: &str = "That message did arrive on Fanvue; nothing was sent again.";

/// Whether ledger row `row` records the same message as `v`.
fn same_message(row: &SendRow, v: &ValidSend) -> bool {
    row.body == v.text
        && row.price_cents == v.price.map(|p| p.get())
        && row.media_uuids == v.media
        && row.template_uuid == v.template
}

/// What a send needs from the app.
#[derive(Clone)]
pub struct Sender {
    pub pool: PgPool,
    pub connections: Connections,
}

impl Sender {
    /// Sends `v` to `target`'s fan as staff member `staff` through the
    /// ledger. `target` must already be a chat the viewer may work.
    pub async fn send(
        &self,
        agency: AgencyId,
        staff: StaffId,
        target: &ChatTarget,
        v: &ValidSend,
    ) -> Result<SendOutcome, SendError> {
        // Claim, commit and the call run as one task the handler awaits: a
        // request dropped mid-way (client gone) cannot stop between the
        // commit and the call, so a committed row always gets its call.
        let this = self.clone();
        let target = target.clone();
        let v = v.clone();
        tokio::spawn(async move { this.claim_and_deliver(agency, staff, &target, &v).await })
            .await
            .map_err(|e| SendError::Task(e.to_string()))?
    }

    async fn claim_and_deliver(
        &self,
        agency: AgencyId,
        staff: StaffId,
        target: &ChatTarget,
        v: &ValidSend,
    ) -> Result<SendOutcome, SendError> {
        let check = v.seen.filter(|_| !v.send_anyway);
        if check.is_some()
            && store::agency_settings::get(&self.pool, agency)
                .await?
                .check_fanvue_before_send
        {
            // Best effort: a failed read leaves the mirror's check.
            if let Err(e) = self.refresh_from_fanvue(agency, target).await {
                tracing::warn!(error = %e, chat_id = %target.chat_id, "pre-send read of Fanvue failed");
            }
        }
        let mut tx = self.pool.begin().await?;
        // One send of this chat at a time from here to the commit of its
        // pending row: a second send's collision check sees the first.
        store::sends::lock_chat(&mut tx, agency, target.chat_id).await?;
        let claim = store::sends::claim(
            &mut tx,
            &NewSend {
                agency_id: agency,
                creator_id: target.creator_id,
                chat_id: target.chat_id,
                staff_id: staff,
                idempotency_key: &v.idempotency_key,
                body: v.text.as_deref(),
                price_cents: v.price.map(|p| p.get()),
                media_uuids: &v.media,
                template_uuid: v.template,
                retry_of: v.retry_of,
                sent_anyway: v.send_anyway,
            },
        )
        .await?;
        let row = match claim {
            Claim::Existing(row) => {
                tx.rollback().await?;
                if !same_message(&row, v) {
                    return Ok(SendOutcome::KeyReused(row));
                }
                return self.replay(agency, row).await;
            }
            Claim::New(row) => row,
        };
        // Checks that hold a new send come after the claim, so a repeat of
        // a form always answers with its row. Held: the row is rolled back.
        if !v.confirm_resell {
            let bought =
                store::sends::already_bought(&mut *tx, agency, target.chat_id, &v.media).await?;
            if !bought.is_empty() {
                tx.rollback().await?;
                return Ok(SendOutcome::Held(Hold::AlreadyBought(bought)));
            }
        }
        // A "Retry anyway" of a send reconcile has since found on Fanvue.
        if let Some(retried) = row.retry_of
            && store::sends::is_sent(&mut *tx, agency, retried).await?
        {
            tx.rollback().await?;
            return Ok(SendOutcome::Held(Hold::AlreadySent { send_id: retried }));
        }
        // The same message, sent moments ago, ended `unknown`: it may have
        // arrived. Only an explicit "Retry anyway" naming it sends again;
        // once found on Fanvue, nothing sends it again.
        if let Some(twin) = store::sends::unknown_twin(&mut tx, agency, &row).await? {
            if twin.sent {
                tx.rollback().await?;
                return Ok(SendOutcome::Held(Hold::AlreadySent { send_id: twin.id }));
            }
            if v.retry_of != Some(twin.id) {
                tx.rollback().await?;
                return Ok(SendOutcome::Held(Hold::MaybeSent { send_id: twin.id }));
            }
        }
        if let Some(seen) = check {
            let arrived =
                store::sends::arrived_since(&mut tx, agency, target.chat_id, seen, staff, row.id)
                    .await?;
            if !arrived.is_empty() {
                tx.rollback().await?;
                return Ok(SendOutcome::Held(Hold::Arrived(arrived)));
            }
        }
        // Sending is activity: the sender's claim on the chat runs on.
        store::claims::renew(
            &mut *tx,
            agency,
            target.chat_id,
            staff,
            super::claims::length(),
        )
        .await?;
        tx.commit().await?;
        self.deliver(agency, target, v, row).await
    }

    /// The agency's "check Fanvue before sending": one read of the chat's
    /// newest messages (never marking them read, interactive priority),
    /// written to the mirror, where the collision check then finds them.
    async fn refresh_from_fanvue(
        &self,
        agency: AgencyId,
        target: &ChatTarget,
    ) -> Result<(), SendError> {
        let client = self.connections.client();
        let fan = target.fan_uuid;
        let page = self
            .connections
            .call(target.creator_id, Priority::Interactive, |a| async move {
                client.chat_messages(&a, fan, 1, PRE_SEND_READ).await
            })
            .await
            .map_err(|e| SendError::Task(e.to_string()))?;
        let rows: Vec<MessageUpsert> = page
            .items
            .iter()
            .map(|m| crate::sync::convert::message(m, target.creator_fanvue_uuid, fan))
            .collect();
        let mut conn = self.pool.acquire().await?;
        store::messages::upsert_messages(
            &mut conn,
            agency,
            target.creator_id,
            &rows,
            MessageSource::Reconcile,
        )
        .await?;
        Ok(())
    }

    /// A repeat of a form: answers with its row's state, waiting a little
    /// while it is still `pending`.
    async fn replay(&self, agency: AgencyId, mut row: SendRow) -> Result<SendOutcome, SendError> {
        for _ in 0..PENDING_POLLS {
            if row.status != SendStatus::Pending {
                break;
            }
            tokio::time::sleep(PENDING_POLL_EVERY).await;
            row = store::sends::get(&self.pool, agency, row.id).await?;
        }
        Ok(match row.status {
            SendStatus::Pending => SendOutcome::Pending(row),
            SendStatus::Sent => SendOutcome::Sent(row),
            SendStatus::Unknown => SendOutcome::Unknown(row),
            SendStatus::Failed => {
                let message = row
                    .error
                    .clone()
                    .unwrap_or_else(|| "Fanvue did not send this message.".into());
                let reconnect = message == MSG_RECONNECT;
                SendOutcome::Failed(
                    row,
                    Failure {
                        message,
                        field: None,
                        reconnect,
                    },
                )
            }
        })
    }

    async fn deliver(
        &self,
        agency: AgencyId,
        target: &ChatTarget,
        v: &ValidSend,
        row: SendRow,
    ) -> Result<SendOutcome, SendError> {
        let msg = SendMessage {
            text: v.text.clone(),
            media_uuids: v.media.clone(),
            price: v.price.map(|p| p.get()),
            template_uuid: v.template,
        };
        let client = self.connections.client();
        let fan = target.fan_uuid;
        let msg = &msg;
        let result = self
            .connections
            .call(target.creator_id, Priority::Interactive, |a| async move {
                client.send_message(&a, fan, msg).await
            })
            .await;
        match result {
            Ok(sent) => {
                self.record_sent(agency, target, v, &row, sent.message_uuid)
                    .await?;
                // Replying answers the fan: clear the chat's unread state
                // too, but only when there is one (no extra call otherwise).
                if (target.unread_count > 0 || !target.is_read)
                    && let Err(e) = self.mark_read(agency, target).await
                {
                    tracing::warn!(error = %e, chat_id = %target.chat_id, "mark read after a reply failed");
                }
                let row = store::sends::get(&self.pool, agency, row.id).await?;
                Ok(SendOutcome::Sent(row))
            }
            Err(e) => {
                let (status, failure) = classify(&e);
                tracing::warn!(error = %e, status = status.as_str(), send_id = %row.id, "send did not go through");
                let mut conn = self.pool.acquire().await?;
                store::sends::settle(&mut conn, agency, row.id, status, &failure.message).await?;
                let row = store::sends::get(&mut *conn, agency, row.id).await?;
                Ok(match status {
                    SendStatus::Unknown => SendOutcome::Unknown(row),
                    _ => SendOutcome::Failed(row, failure),
                })
            }
        }
    }

    /// Writes a 2xx answer: the row `sent` with Fanvue's uuid and the
    /// mirror message (insert only). If reconcile matched that uuid to
    /// another `unknown` row meanwhile (a "Retry anyway" racing the sync),
    /// the claim is taken back from that row: the answer is authoritative.
    async fn record_sent(
        &self,
        agency: AgencyId,
        target: &ChatTarget,
        v: &ValidSend,
        row: &SendRow,
        message: Uuid,
    ) -> Result<(), SendError> {
        let m = MessageUpsert {
            uuid: message,
            fan_uuid: target.fan_uuid,
            sender_uuid: Some(target.creator_fanvue_uuid),
            recipient_uuid: Some(target.fan_uuid),
            outbound: true,
            text: v.text.clone(),
            sent_at: Some(Utc::now()),
            kind: MessageKind::single_recipient(),
            has_media: Some(!v.media.is_empty()),
            media_type: None,
            media_uuids: v.media.clone(),
            price_cents: v.price.map(|p| p.get()),
            purchased_at: None,
            // What the API reports for a message sent with the
            // creator's own token.
            sent_by_user_uuid: None,
            is_read: false,
        };
        for attempt in 0..2 {
            let mut tx = self.pool.begin().await?;
            if attempt > 0 {
                store::sends::take_back_match(&mut tx, agency, target.creator_id, row.id, message)
                    .await?;
            }
            match store::sends::mark_sent(&mut tx, agency, row.id, message).await {
                Ok(_) => {
                    store::messages::insert_sent(
                        &mut tx,
                        agency,
                        target.creator_id,
                        target.chat_id,
                        &m,
                    )
                    .await?;
                    tx.commit().await?;
                    return Ok(());
                }
                Err(e) if store::sends::is_message_claimed(&e) => {
                    tx.rollback().await?;
                    if attempt > 0 {
                        // Another send already holds this uuid: the message
                        // went out either way; the sweep settles this row.
                        tracing::error!(send_id = %row.id, "Fanvue's message uuid is claimed by another send");
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Marks `target` read on Fanvue (`PATCH /chats/{fan}` `isRead: true`,
    /// interactive priority), then in the mirror. Opening a thread never
    /// calls this by itself (DESIGN invariant 7); the thread page calls it
    /// only when the agency's "mark chats read when opened" setting is on.
    pub async fn mark_read(
        &self,
        agency: AgencyId,
        target: &ChatTarget,
    ) -> Result<(), ConnectionError> {
        let client = self.connections.client();
        let fan = target.fan_uuid;
        let update = ChatUpdate {
            is_read: Some(true),
            ..Default::default()
        };
        let update = &update;
        self.connections
            .call(target.creator_id, Priority::Interactive, |a| async move {
                client.update_chat(&a, fan, update).await
            })
            .await?;
        let mut conn = self.pool.acquire().await?;
        store::read_state::mark_chat_read(&mut conn, agency, target.chat_id).await?;
        Ok(())
    }
}

impl Sender {
    /// The agency's "mark chats read when opened" setting (`on`, as read
    /// with the signed-in staff row): when it is on and the chat is unread,
    /// marks it read on Fanvue. Never fails the page: a failure comes back
    /// as a notice to show.
    pub async fn mark_read_on_open(
        &self,
        on: bool,
        agency: AgencyId,
        chat: Uuid,
    ) -> Option<String> {
        if !on {
            return None;
        }
        let target = match store::sends::chat_target(&self.pool, agency, chat).await {
            Ok(Some(t)) if t.unread_count > 0 || !t.is_read => t,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(error = %e, chat_id = %chat, "mark read on open: chat lookup failed");
                return None;
            }
        };
        match self.mark_read(agency, &target).await {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(error = %e, chat_id = %chat, "mark read on open failed");
                Some("Fanvue did not mark this chat read; use \u{201c}Mark read on Fanvue\u{201d} to try again.".to_owned())
            }
        }
    }
}

/// What a failed call means for the ledger and the chatter: `unknown` when
/// the request may have reached Fanvue, else `failed` with the reason.
pub fn classify(e: &ConnectionError) -> (SendStatus, Failure) {
    let failed = |message: String, field: Option<&'static str>| {
        (
            SendStatus::Failed,
            Failure {
                message,
                field,
                reconnect: false,
            },
        )
    };
    match e {
        ConnectionError::NeedsReauth
        | ConnectionError::Disconnected
        | ConnectionError::Api(FanvueError::Unauthorized(_))
        | ConnectionError::Api(FanvueError::InsufficientScope) => (
            SendStatus::Failed,
            Failure {
                message: MSG_RECONNECT.into(),
                field: None,
                reconnect: true,
            },
        ),
        ConnectionError::Api(FanvueError::Contactability(_)) => {
            failed(MSG_CONTACTABILITY.into(), None)
        }
        ConnectionError::Api(FanvueError::Validation(errors)) => {
            let text = errors.join("; ");
            let lower = text.to_lowercase();
            let field = if lower.contains("price") {
                Some("price")
            } else if lower.contains("media") {
                Some("media")
            } else if lower.contains("template") {
                Some("template")
            } else if lower.contains("text") {
                Some("text")
            } else {
                None
            };
            failed(format!("Fanvue refused the message: {text}"), field)
        }
        ConnectionError::Api(FanvueError::RateLimited { retry_after }) => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            failed(
                format!("Fanvue is rate-limiting this creator; try again in {secs} s."),
                None,
            )
        }
        // The request may have been processed: only reconcile can tell.
        ConnectionError::Api(
            FanvueError::Server { .. } | FanvueError::Transport(_) | FanvueError::Decode(_),
        ) => (
            SendStatus::Unknown,
            Failure {
                message: MSG_UNKNOWN.into(),
                field: None,
                reconnect: false,
            },
        ),
        ConnectionError::Api(FanvueError::NotFound(_)) => failed(
            "Fanvue does not know this chat any more; nothing was sent.".into(),
            None,
        ),
        ConnectionError::Api(FanvueError::Forbidden(m)) => {
            failed(format!("Fanvue refused the message: {m}"), None)
        }
        ConnectionError::Api(
            FanvueError::UnsupportedVersion(_) | FanvueError::Sunset { .. },
        ) => failed(
            "Switchboard's Fanvue API version is no longer accepted; an administrator must update Switchboard. Nothing was sent.".into(),
            None,
        ),
        ConnectionError::NotConfigured => failed(
            "Fanvue is not configured on this server; nothing was sent.".into(),
            None,
        ),
        // Token renewal or the database failed before the message left.
        ConnectionError::Refresh(_)
        | ConnectionError::Crypto(_)
        | ConnectionError::Store(_)
        | ConnectionError::Db(_) => failed(
            "Switchboard could not reach Fanvue for this creator just now; nothing was sent. Try again.".into(),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_after_the_request_may_have_arrived_are_unknown() {
        let unknown = [
            FanvueError::Server { status: 500 },
            FanvueError::Transport("timed out".into()),
            FanvueError::Decode("eof".into()),
        ];
        for e in unknown {
            assert_eq!(classify(&ConnectionError::Api(e)).0, SendStatus::Unknown);
        }
        let failed = [
            ConnectionError::NeedsReauth,
            ConnectionError::Api(FanvueError::Contactability("no".into())),
            ConnectionError::Api(FanvueError::RateLimited {
                retry_after: Duration::from_millis(12_300),
            }),
            ConnectionError::Api(FanvueError::Validation(vec!["price must be ≥ 300".into()])),
        ];
        for e in &failed {
            assert_eq!(classify(e).0, SendStatus::Failed, "{e}");
        }
        assert!(classify(&failed[0]).1.reconnect);
        assert_eq!(classify(&failed[1]).1.message, MSG_CONTACTABILITY);
        assert!(classify(&failed[2]).1.message.contains("try again in 13 s"));
        assert_eq!(classify(&failed[3]).1.field, Some("price"));
    }
}
