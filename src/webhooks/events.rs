//! The six platform events: their payloads (flat, no type or id — api-notes
//! §4.3/§4.4), how a type is recognised on the shared URL, and the natural
//! dedupe key of each.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

/// The type as named in URLs and topics (shared with the admin page).
pub use crate::domain::WebhookEventType as EventType;

impl EventType {
    /// Recognises an event by its fields (the shared URL without a topic
    /// header).
    pub fn infer(body: &serde_json::Value) -> Option<Self> {
        let has = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
        if has("message") && has("messageUuid") {
            Some(EventType::MessageReceived)
        } else if has("counterpartUuid") && has("readMessagesCount") {
            Some(EventType::MessageRead)
        } else if has("context") && (has("senderUuid") || has("sender")) {
            Some(EventType::Tip)
        } else if has("routeUuid") || has("postUuid") {
            Some(EventType::Purchase)
        } else if has("price") && has("sender") {
            Some(EventType::NewSubscriber)
        } else if has("sender") && has("recipientUuid") {
            Some(EventType::NewFollower)
        } else {
            None
        }
    }
}

/// A fan as webhook bodies embed them (`{uuid, handle, displayName, avatarUrl}`).
pub use crate::fanvue::models::UserRef as Person;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedMessage {
    pub uuid: Uuid,
    pub text: Option<String>,
    pub has_media: Option<bool>,
    #[serde(default)]
    pub media_uuids: Vec<Uuid>,
    pub price: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReceived {
    pub message_uuid: Uuid,
    pub message: ReceivedMessage,
    pub sender: Person,
    pub recipient_uuid: Uuid,
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRead {
    pub counterpart_uuid: Uuid,
    pub read_messages_count: i64,
    pub recipient_uuid: Uuid,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    pub post_uuid: Option<Uuid>,
    pub route_uuid: Option<Uuid>,
    pub price: Option<i64>,
    pub recipient_uuid: Uuid,
    pub sender: Option<Person>,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tip {
    pub context: String,
    pub recipient_uuid: Uuid,
    pub sender_uuid: Option<Uuid>,
    pub price: i64,
    pub sender: Option<Person>,
    pub post_uuid: Option<Uuid>,
    pub message_uuid: Option<Uuid>,
    pub timestamp: DateTime<Utc>,
}

/// New follower and new subscriber (subscriber adds `price`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FanEvent {
    pub recipient_uuid: Uuid,
    pub sender: Person,
    pub price: Option<i64>,
    pub timestamp: DateTime<Utc>,
}

/// A parsed delivery: its type, creator, natural dedupe key.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub event_type: EventType,
    pub recipient: Uuid,
    pub natural_key: String,
}

/// Why a body was refused. Only positions, never the parser's message: it
/// can quote the payload, and refusals are logged and shown to admins.
#[derive(Debug, thiserror::Error)]
pub enum ParseFailure {
    /// Not JSON at all (syntax error, truncated).
    #[error("malformed JSON at line {0} column {1}")]
    Malformed(usize, usize),
    /// JSON, but not this event's shape.
    #[error("a field is missing or has the wrong type (line {0} column {1})")]
    Shape(usize, usize),
}

impl From<serde_json::Error> for ParseFailure {
    fn from(e: serde_json::Error) -> Self {
        if e.is_syntax() || e.is_eof() {
            ParseFailure::Malformed(e.line(), e.column())
        } else {
            ParseFailure::Shape(e.line(), e.column())
        }
    }
}

fn from<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ParseFailure> {
    serde_json::from_slice(body).map_err(ParseFailure::from)
}

fn opt(u: Option<Uuid>) -> String {
    u.map(|u| u.to_string()).unwrap_or_default()
}

/// Checks the raw body has the event's shape and derives its dedupe key
/// (one pass over the bytes, no intermediate JSON tree).
pub fn parse(event_type: EventType, body: &[u8]) -> Result<Parsed, ParseFailure> {
    let (recipient, key) = match event_type {
        EventType::MessageReceived => {
            let e: MessageReceived = from(body)?;
            (e.recipient_uuid, format!("msg:{}", e.message_uuid))
        }
        EventType::MessageRead => {
            let e: MessageRead = from(body)?;
            (
                e.recipient_uuid,
                format!(
                    "read:{}:{}:{}:{}",
                    e.recipient_uuid,
                    e.counterpart_uuid,
                    e.timestamp.timestamp_millis(),
                    e.read_messages_count
                ),
            )
        }
        EventType::Purchase => {
            let e: Purchase = from(body)?;
            let buyer = e.sender.as_ref().map(|s| s.uuid);
            (
                e.recipient_uuid,
                format!(
                    "purchase:{}:{}:{}{}:{}:{}",
                    e.recipient_uuid,
                    opt(buyer),
                    opt(e.route_uuid),
                    opt(e.post_uuid),
                    e.timestamp.timestamp_millis(),
                    e.price.unwrap_or(0)
                ),
            )
        }
        EventType::Tip => {
            let e: Tip = from(body)?;
            let tipper = e.sender_uuid.or(e.sender.as_ref().map(|s| s.uuid));
            (
                e.recipient_uuid,
                format!(
                    "tip:{}:{}:{}{}:{}:{}",
                    e.recipient_uuid,
                    opt(tipper),
                    opt(e.message_uuid),
                    opt(e.post_uuid),
                    e.timestamp.timestamp_millis(),
                    e.price
                ),
            )
        }
        EventType::NewFollower | EventType::NewSubscriber => {
            let e: FanEvent = from(body)?;
            let kind = if event_type == EventType::NewSubscriber {
                "sub"
            } else {
                "follow"
            };
            (
                e.recipient_uuid,
                format!(
                    "{kind}:{}:{}:{}:{}",
                    e.recipient_uuid,
                    e.sender.uuid,
                    e.timestamp.timestamp_millis(),
                    e.price.unwrap_or(0)
                ),
            )
        }
    };
    Ok(Parsed {
        event_type,
        recipient,
        natural_key: key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_recognised() {
        let m = serde_json::json!({"messageUuid": Uuid::new_v4(), "message": {"uuid": Uuid::new_v4()}, "sender": {"uuid": Uuid::new_v4()}, "recipientUuid": Uuid::new_v4()});
        assert_eq!(EventType::infer(&m), Some(EventType::MessageReceived));
        let r = serde_json::json!({"counterpartUuid": Uuid::new_v4(), "readMessagesCount": 2, "recipientUuid": Uuid::new_v4(), "timestamp": "2026-01-01T00:00:00Z"});
        assert_eq!(EventType::infer(&r), Some(EventType::MessageRead));
        let p = serde_json::json!({"routeUuid": Uuid::new_v4(), "price": 500, "recipientUuid": Uuid::new_v4(), "sender": {"uuid": Uuid::new_v4()}, "timestamp": "2026-01-01T00:00:00Z"});
        assert_eq!(EventType::infer(&p), Some(EventType::Purchase));
        let t = serde_json::json!({"context": "message", "senderUuid": Uuid::new_v4(), "price": 500, "recipientUuid": Uuid::new_v4(), "timestamp": "2026-01-01T00:00:00Z"});
        assert_eq!(EventType::infer(&t), Some(EventType::Tip));
        let s = serde_json::json!({"price": 999, "recipientUuid": Uuid::new_v4(), "sender": {"uuid": Uuid::new_v4()}, "timestamp": "2026-01-01T00:00:00Z"});
        assert_eq!(EventType::infer(&s), Some(EventType::NewSubscriber));
        let f = serde_json::json!({"recipientUuid": Uuid::new_v4(), "sender": {"uuid": Uuid::new_v4()}, "timestamp": "2026-01-01T00:00:00Z"});
        assert_eq!(EventType::infer(&f), Some(EventType::NewFollower));
        assert_eq!(EventType::infer(&serde_json::json!({"hello": 1})), None);
        for e in EventType::ALL {
            assert_eq!(EventType::from_slug(e.slug()), Some(e));
            assert_eq!(EventType::from_topic(e.topic()), Some(e));
        }
    }

    #[test]
    fn wrong_shape_for_the_url_is_a_parse_failure() {
        let f = serde_json::json!({"recipientUuid": Uuid::new_v4(), "sender": {"uuid": Uuid::new_v4()}, "timestamp": "2026-01-01T00:00:00Z"});
        let f = serde_json::to_vec(&f).unwrap();
        assert!(matches!(
            parse(EventType::MessageReceived, &f),
            Err(ParseFailure::Shape(..))
        ));
        assert!(parse(EventType::NewFollower, &f).is_ok());
        assert!(matches!(
            parse(EventType::NewFollower, b"{\"recipientUuid\": "),
            Err(ParseFailure::Malformed(..))
        ));
    }
}
