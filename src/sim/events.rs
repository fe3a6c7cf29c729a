//! Webhook event kinds and the event value the world hands to the dispatcher.
//! Bodies are Fanvue's flat platform payloads: no type or id field inside.

use serde::{Deserialize, Serialize};

use super::world::UserId;

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
