//! Live events for the inbox. Database triggers publish every change a
//! chatter sees (a row in `live_events` and a NOTIFY with ids only, see the
//! `live_events` migration); one [`listener`] per instance reads them and
//! fans them out through the [`hub`]; each SSE stream passes them through
//! its viewer's [`filter`]. Writers need no code to publish.

pub mod filter;
pub mod hub;
pub mod listener;

use std::time::Duration;

use uuid::Uuid;

use crate::domain::{AgencyId, CreatorId, StaffId};
use crate::store::live::LiveEventRow;

pub use filter::AccessFilter;
pub use hub::{LiveHub, Subscription};

/// The NOTIFY channel the triggers publish on.
pub const CHANNEL: &str = "switchboard_live";
/// How long events stay for `Last-Event-ID` resumes and listener catch-up.
pub const RETENTION: Duration = Duration::from_secs(15 * 60);
/// Events a hub holds for slow streams before they lag (and resync).
pub const HUB_CAPACITY: usize = 1024;
/// Most events a resume replays; more is a resync.
pub const RESUME_LIMIT: i64 = 1000;
/// Ids are taken at insert and published at commit, so transactions can
/// commit out of id order. Resumes and listener catch-ups also re-read
/// events written (by `at`, the transaction's start) this long before their
/// starting point, so a transaction open up to this long is not missed.
pub const COMMIT_MARGIN: Duration = Duration::from_secs(30);

/// What happened; the SSE `event:` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Message,
    Purchase,
    Read,
    Tip,
    Send,
    Chat,
    /// Who is viewing or typing in a chat changed.
    Presence,
    /// A chat's claim was taken, taken over, released or expired.
    Claim,
    /// Someone's assignments, role or active flag changed (never sent to
    /// browsers: their streams re-check what they may see).
    Access,
    /// Refetch everything (of one creator, or everything at all).
    Resync,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Purchase => "purchase",
            EventKind::Read => "read",
            EventKind::Tip => "tip",
            EventKind::Send => "send",
            EventKind::Chat => "chat",
            EventKind::Presence => "presence",
            EventKind::Claim => "claim",
            EventKind::Access => "access",
            EventKind::Resync => "resync",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "message" => EventKind::Message,
            "purchase" => EventKind::Purchase,
            "read" => EventKind::Read,
            "tip" => EventKind::Tip,
            "send" => EventKind::Send,
            "chat" => EventKind::Chat,
            "presence" => EventKind::Presence,
            "claim" => EventKind::Claim,
            "access" => EventKind::Access,
            "resync" => EventKind::Resync,
            _ => return None,
        })
    }
}

/// One event as streams see it. `id` 0 and no agency: an instance-wide
/// resync (the listener lost events), delivered to every stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub id: i64,
    pub agency_id: Option<AgencyId>,
    pub creator_id: Option<CreatorId>,
    pub chat_id: Option<Uuid>,
    pub kind: EventKind,
    pub message_uuid: Option<Uuid>,
    pub send_id: Option<Uuid>,
    pub staff_id: Option<StaffId>,
}

impl LiveEvent {
    /// The instance-wide resync.
    pub fn resync_all() -> Self {
        Self {
            id: 0,
            agency_id: None,
            creator_id: None,
            chat_id: None,
            kind: EventKind::Resync,
            message_uuid: None,
            send_id: None,
            staff_id: None,
        }
    }

    /// A stored row; `None` for a kind this build does not know.
    pub fn from_row(r: LiveEventRow) -> Option<Self> {
        Some(Self {
            id: r.id,
            agency_id: Some(r.agency_id),
            creator_id: r.creator_id,
            chat_id: r.chat_id,
            kind: EventKind::parse(&r.kind)?,
            message_uuid: r.message_uuid,
            send_id: r.send_id,
            staff_id: r.staff_id,
        })
    }

    /// The SSE frame: `id:` (real events only), `event:`, `data:` with ids.
    pub fn sse_frame(&self) -> String {
        let data = if self.agency_id.is_none() {
            "{}".to_owned()
        } else {
            serde_json::json!({
                "chat": self.chat_id,
                "creator": self.creator_id,
                "message": self.message_uuid,
                "send": self.send_id,
            })
            .to_string()
        };
        let kind = self.kind.as_str();
        if self.id > 0 {
            format!("id: {}\nevent: {kind}\ndata: {data}\n\n", self.id)
        } else {
            format!("event: {kind}\ndata: {data}\n\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_ids_only() {
        let chat = Uuid::new_v4();
        let ev = LiveEvent {
            id: 7,
            agency_id: Some(AgencyId::new()),
            creator_id: Some(CreatorId::new()),
            chat_id: Some(chat),
            kind: EventKind::Message,
            message_uuid: None,
            send_id: None,
            staff_id: None,
        };
        let f = ev.sse_frame();
        assert!(f.starts_with("id: 7\nevent: message\ndata: {"), "{f}");
        assert!(f.contains(&format!("\"chat\":\"{chat}\"")), "{f}");
        assert!(f.ends_with("\n\n"));
        assert_eq!(
            LiveEvent::resync_all().sse_frame(),
            "event: resync\ndata: {}\n\n"
        );
        for k in [
            "message", "purchase", "read", "tip", "send", "chat", "presence", "claim", "access",
            "resync",
        ] {
            assert_eq!(EventKind::parse(k).map(EventKind::as_str), Some(k));
        }
    }
}
