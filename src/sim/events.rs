//! Webhook event kinds, the event value the world hands to the dispatcher,
//! and the builders of each event's body from the world. Bodies are Fanvue's
//! flat platform payloads: no type or id field inside.

use serde::{Deserialize, Serialize};

use super::render::iso;
use super::world::{ChatId, MsgId, UserId, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "message.read")]
    MessageRead,
    #[serde(rename = "purchase.new")]
    Purchase,
    #[serde(rename = "tip.new")]
    Tip,
    #[serde(rename = "follow.new")]
    NewFollower,
    #[serde(rename = "subscription.new")]
    NewSubscriber,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::MessageReceived,
        EventKind::MessageRead,
        EventKind::Purchase,
        EventKind::Tip,
        EventKind::NewFollower,
        EventKind::NewSubscriber,
    ];

    /// Topic string (sent only when a topic header is configured).
    pub fn topic(self) -> &'static str {
        match self {
            EventKind::MessageReceived => "message.received",
            EventKind::MessageRead => "message.read",
            EventKind::Purchase => "purchase.new",
            EventKind::Tip => "tip.new",
            EventKind::NewFollower => "follow.new",
            EventKind::NewSubscriber => "subscription.new",
        }
    }

    /// Accepts topic strings and the common aliases (`message-received`, `purchase`, …).
    pub fn parse(s: &str) -> Option<Self> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', '_'], ".");
        Some(match norm.as_str() {
            "message.received" => EventKind::MessageReceived,
            "message.read" => EventKind::MessageRead,
            "purchase.new" | "purchase" | "purchase.received" => EventKind::Purchase,
            "tip.new" | "tip" | "tip.received" => EventKind::Tip,
            "follow.new" | "follower.new" | "new.follower" => EventKind::NewFollower,
            "subscription.new" | "subscriber.new" | "new.subscriber" => EventKind::NewSubscriber,
            _ => return None,
        })
    }
}

/// One event to deliver, for one creator.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub creator: UserId,
    pub body: serde_json::Value,
}

impl Event {
    pub fn new(kind: EventKind, creator: UserId, body: serde_json::Value) -> Self {
        Self {
            kind,
            creator,
            body,
        }
    }
}

/// `{uuid, handle, displayName, avatarUrl}` as used in webhook bodies.
pub fn sender(w: &World, id: UserId) -> serde_json::Value {
    let u = w.user(id);
    serde_json::json!({
        "uuid": u.uuid,
        "handle": u.handle,
        "displayName": u.display_name,
        "avatarUrl": u.avatar_url,
    })
}

/// The `message.received` webhook for a fan message.
pub fn message_received(w: &World, msg: MsgId) -> Event {
    let m = &w.messages[msg as usize];
    let c = &w.chats[m.chat as usize];
    Event::new(
        EventKind::MessageReceived,
        c.creator,
        serde_json::json!({
            "messageUuid": m.uuid,
            "message": {
                "uuid": m.uuid,
                "text": m.text.as_deref(),
                "hasMedia": !m.media.is_empty(),
                "mediaUuids": m.media,
                "price": m.price,
                "createdAt": iso(m.sent_at),
            },
            "sender": sender(w, c.fan),
            "recipientUuid": w.user(c.creator).uuid,
            "isMuted": c.is_muted,
            "timestamp": iso(m.sent_at),
        }),
    )
}

/// The `message.read` webhook: `count` creator messages of `chat` read at `at`.
pub fn message_read(w: &World, chat: ChatId, count: u32, at: i64) -> Event {
    let c = &w.chats[chat as usize];
    Event::new(
        EventKind::MessageRead,
        c.creator,
        serde_json::json!({
            "counterpartUuid": w.user(c.fan).uuid,
            "readMessagesCount": count,
            "recipientUuid": w.user(c.creator).uuid,
            "timestamp": iso(at),
        }),
    )
}

/// The `purchase.new` webhook for a PPV message bought at `at`.
pub(super) fn purchase(w: &World, msg: MsgId, at: i64) -> Event {
    let m = &w.messages[msg as usize];
    let c = &w.chats[m.chat as usize];
    Event::new(
        EventKind::Purchase,
        c.creator,
        serde_json::json!({
            "routeUuid": m.uuid,
            "price": m.price,
            "recipientUuid": w.user(c.creator).uuid,
            "sender": sender(w, c.fan),
            "timestamp": iso(at),
        }),
    )
}

/// The `tip.new` webhook for the tip at index `tip` of `w.tips`.
pub(super) fn tip(w: &World, tip: usize) -> Event {
    let t = &w.tips[tip];
    let c = &w.chats[t.chat as usize];
    let mut body = serde_json::json!({
        "context": if t.tipped_message.is_some() { "message" } else { "post" },
        "recipientUuid": w.user(c.creator).uuid,
        "senderUuid": w.user(c.fan).uuid,
        "price": t.amount,
        "sender": sender(w, c.fan),
        "timestamp": iso(t.at),
    });
    if let Some(obj) = body.as_object_mut() {
        match t.tipped_message {
            Some(m) => {
                obj.insert(
                    "messageUuid".into(),
                    serde_json::json!(w.messages[m as usize].uuid),
                );
            }
            None => {
                obj.insert("postUuid".into(), serde_json::json!(t.post_uuid));
            }
        }
    }
    Event::new(EventKind::Tip, c.creator, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_topics_and_aliases() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.topic()), Some(k));
        }
        assert_eq!(
            EventKind::parse("message-received"),
            Some(EventKind::MessageReceived)
        );
        assert_eq!(EventKind::parse("nope"), None);
    }
}
