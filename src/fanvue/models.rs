//! Request and response models for the Fanvue endpoints Switchboard uses.
//! Decoding is tolerant: enum-like strings (message `type`, media type) stay
//! raw strings so new values never break a sync, unknown fields are kept in
//! `extra`, and list items are decoded one by one (see `Page`) so a single
//! malformed item is skipped and reported instead of failing the page.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

type Extra = BTreeMap<String, serde_json::Value>;

/// `GET /users/me`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uuid: Uuid,
    pub handle: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub is_creator: Option<bool>,
    pub email: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A user as embedded in chat rows, messages and webhook bodies: always a
/// uuid, the rest as far as the endpoint sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    pub uuid: Uuid,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    pub is_top_spender: Option<bool>,
    pub avatar_url: Option<String>,
    pub registered_at: Option<DateTime<Utc>>,
}

/// A message's sender or recipient: one that does not decode (say, without
/// a uuid) is dropped instead of sinking the message.
fn lenient_user<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<UserRef>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastMessage {
    pub uuid: Uuid,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub text: Option<String>,
    pub has_media: Option<bool>,
    pub media_type: Option<String>,
    pub sender_uuid: Option<Uuid>,
    pub sent_at: Option<DateTime<Utc>>,
    pub sent_by_user_id: Option<String>,
}

/// A row of `GET /chats`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    pub user: UserRef,
    pub created_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub is_read: Option<bool>,
    pub is_muted: Option<bool>,
    pub unread_messages_count: Option<i64>,
    pub last_message: Option<LastMessage>,
    /// Present on `/agencies/chats` rows.
    pub creator_uuid: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Cents.
    pub price: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    #[serde(rename = "USD")]
    pub usd: Option<Price>,
}

/// A message (per-chat history and the batch endpoint).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub uuid: Uuid,
    pub text: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_user")]
    pub sender: Option<UserRef>,
    #[serde(default, deserialize_with = "lenient_user")]
    pub recipient: Option<UserRef>,
    pub has_media: Option<bool>,
    pub media_type: Option<String>,
    #[serde(default)]
    pub media_uuids: Vec<Uuid>,
    /// Raw: Fanvue adds values without notice.
    #[serde(rename = "type")]
    pub kind: String,
    pub pricing: Option<Pricing>,
    pub purchased_at: Option<DateTime<Utc>>,
    pub is_read: Option<bool>,
    /// The team member who sent it on the creator's behalf; null = creator.
    pub sent_by_user_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Message {
    /// PPV price in cents, if this is a pay-to-view message.
    pub fn price_cents(&self) -> Option<i64> {
        self.pricing
            .as_ref()
            .and_then(|p| p.usd.as_ref())
            .map(|p| p.price)
    }
}

/// `GET /chats/unread`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreadCounts {
    pub unread_chats_count: i64,
    pub unread_messages_count: i64,
    #[serde(default)]
    pub unread_notifications: BTreeMap<String, i64>,
}

/// `POST /chats/messages/batch` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    pub chat_uuids: Vec<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_message_uuid: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One chat's entry in a batch response.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchEntry {
    Ok(BatchChat),
    /// `not_found`, `forbidden`, `internal`, or a value Fanvue adds later.
    Error(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchChat {
    pub messages: Vec<Message>,
    pub has_more: bool,
    pub oldest_message_uuid: Option<Uuid>,
    /// Items that failed to decode, with the reason.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    pub by_chat: BTreeMap<Uuid, BatchEntry>,
    /// Keys or entries that failed to decode.
    pub skipped: Vec<Skipped>,
}

/// `POST /chats/{userUuid}/message` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media_uuids: Vec<Uuid>,
    /// Cents; ≥ 300 when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_uuid: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    pub message_uuid: Uuid,
}

/// `PATCH /chats/{userUuid}` body.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_read: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_muted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
}

/// A message template (`GET /chats/templates`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub uuid: Uuid,
    pub name: Option<String>,
    pub text: Option<String>,
    /// PPV price in cents, when the template is a PPV.
    #[serde(default)]
    pub price: Option<i64>,
    #[serde(default)]
    pub media_uuids: Vec<Uuid>,
    #[serde(default)]
    pub folder_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One rendition of a media item (`variants` of `GET /media`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaVariant {
    pub uuid: Option<Uuid>,
    pub variant_type: Option<String>,
    pub display_position: Option<i64>,
    pub url: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub length_ms: Option<i64>,
}

/// An item of the creator's media library (`GET /media`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaItem {
    pub uuid: Uuid,
    pub status: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub name: Option<String>,
    pub caption: Option<String>,
    pub description: Option<String>,
    /// Raw: `image`, `video`, `audio`, `document`, or a newer value.
    pub media_type: Option<String>,
    pub folder_name: Option<String>,
    /// Cents.
    pub recommended_price: Option<i64>,
    #[serde(default)]
    pub variants: Vec<MediaVariant>,
    /// Present when the request named `purchasedBy`.
    pub purchased_by_fan: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A smart or custom list of fans.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FanList {
    #[serde(alias = "id")]
    pub uuid: String,
    pub name: Option<String>,
    #[serde(default, alias = "count")]
    pub members_count: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer to adding custom-list members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ListMembersAdded {
    #[serde(default)]
    pub added: u32,
    #[serde(default)]
    pub skipped: u32,
}

/// A creator managed by an agency (`GET /creators`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Creator {
    pub uuid: Uuid,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CreatorAccess {
    pub uuid: Uuid,
    pub role: String,
}

/// `GET /agencies/team-members` (a bare array).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamMember {
    pub uuid: Uuid,
    #[serde(default)]
    pub is_admin: bool,
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub creator_access: Vec<CreatorAccess>,
}

/// An item that could not be decoded, reported instead of failing the call.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// Position in the list, or the map key.
    pub at: String,
    pub reason: String,
}

/// One page of a list endpoint, decoded item by item.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
    pub skipped: Vec<Skipped>,
}

/// Decodes each element on its own; failures become `Skipped`.
pub fn decode_items<T: serde::de::DeserializeOwned>(
    values: Vec<serde_json::Value>,
) -> (Vec<T>, Vec<Skipped>) {
    let mut items = Vec::with_capacity(values.len());
    let mut skipped = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        match serde_json::from_value::<T>(v) {
            Ok(item) => items.push(item),
            Err(e) => skipped.push(Skipped {
                at: i.to_string(),
                reason: e.to_string(),
            }),
        }
    }
    (items, skipped)
}

#[derive(Deserialize)]
struct RawPagination {
    #[serde(default, rename = "hasMore")]
    has_more: bool,
}

#[derive(Deserialize)]
struct RawPage {
    data: Vec<serde_json::Value>,
    pagination: Option<RawPagination>,
}

/// Decodes a `{data:[…], pagination:{hasMore}}` envelope.
pub fn decode_page<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<Page<T>, serde_json::Error> {
    let raw: RawPage = serde_json::from_slice(body)?;
    let (items, skipped) = decode_items(raw.data);
    Ok(Page {
        items,
        has_more: raw.pagination.is_some_and(|p| p.has_more),
        skipped,
    })
}

/// Decodes a batch response, entry by entry and message by message.
pub fn decode_batch(body: &[u8]) -> Result<BatchResponse, serde_json::Error> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(rename = "byChat")]
        by_chat: BTreeMap<String, serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct RawChat {
        messages: Vec<serde_json::Value>,
        #[serde(default, rename = "hasMore")]
        has_more: bool,
        #[serde(default, rename = "oldestMessageUuid")]
        oldest_message_uuid: Option<Uuid>,
    }
    let raw: Raw = serde_json::from_slice(body)?;
    let mut by_chat = BTreeMap::new();
    let mut skipped = Vec::new();
    for (key, value) in raw.by_chat {
        let Ok(chat_uuid) = Uuid::parse_str(&key) else {
            skipped.push(Skipped {
                at: key,
                reason: "key is not a uuid".into(),
            });
            continue;
        };
        if let Some(err) = value.get("error").and_then(|e| e.as_str()) {
            by_chat.insert(chat_uuid, BatchEntry::Error(err.to_owned()));
            continue;
        }
        match serde_json::from_value::<RawChat>(value) {
            Ok(rc) => {
                let (messages, skipped_msgs) = decode_items::<Message>(rc.messages);
                let skipped_msgs = skipped_msgs
                    .into_iter()
                    .map(|s| Skipped {
                        at: format!("{key}[{}]", s.at),
                        reason: s.reason,
                    })
                    .collect();
                by_chat.insert(
                    chat_uuid,
                    BatchEntry::Ok(BatchChat {
                        messages,
                        has_more: rc.has_more,
                        oldest_message_uuid: rc.oldest_message_uuid,
                        skipped: skipped_msgs,
                    }),
                );
            }
            Err(e) => skipped.push(Skipped {
                at: key,
                reason: e.to_string(),
            }),
        }
    }
    Ok(BatchResponse { by_chat, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = r#"{"uuid":"0b7c2a6e-5f3d-4c1a-9a8e-2f1d3c4b5a69","text":null,"sentAt":"2026-01-01T10:00:00Z",
        "sender":{"uuid":"7d1c2a6e-5f3d-4c1a-9a8e-2f1d3c4b5a69","handle":"fan"},"recipient":{"uuid":null,"handle":null},
        "hasMedia":true,"mediaType":"image","mediaUuids":[],"type":"SOMETHING_NEW","pricing":{"USD":{"price":500}},
        "purchasedAt":null,"isRead":false,"sentByUserId":"5c1c2a6e-5f3d-4c1a-9a8e-2f1d3c4b5a69","brandNewField":1}"#;

    #[test]
    fn message_keeps_unknown_type_and_fields() {
        let m: Message = serde_json::from_str(MSG).unwrap();
        assert_eq!(m.kind, "SOMETHING_NEW");
        assert_eq!(m.price_cents(), Some(500));
        assert_eq!(m.extra.get("brandNewField"), Some(&serde_json::json!(1)));
        assert!(m.text.is_none());
    }

    #[test]
    fn one_malformed_item_is_skipped_not_fatal() {
        let body = format!(
            r#"{{"data":[{MSG},{{"uuid":42}},{MSG}],"pagination":{{"page":1,"size":3,"hasMore":true}}}}"#
        );
        let page: Page<Message> = decode_page(body.as_bytes()).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.skipped.len(), 1);
        assert_eq!(page.skipped[0].at, "1");
        assert!(page.has_more);
    }

    #[test]
    fn batch_entries_errors_and_bad_messages() {
        let body = format!(
            r#"{{"byChat":{{
              "11111111-1111-4111-8111-111111111111":{{"messages":[{MSG},{{"type":5}}],"hasMore":false,"oldestMessageUuid":null}},
              "22222222-2222-4222-8222-222222222222":{{"error":"not_found"}},
              "33333333-3333-4333-8333-333333333333":{{"error":"internal"}},
              "not-a-uuid":{{"messages":[]}}}}}}"#
        );
        let b = decode_batch(body.as_bytes()).unwrap();
        assert_eq!(b.by_chat.len(), 3);
        assert_eq!(b.skipped.len(), 1);
        let ok = &b.by_chat[&Uuid::parse_str("11111111-1111-4111-8111-111111111111").unwrap()];
        match ok {
            BatchEntry::Ok(c) => {
                assert_eq!(c.messages.len(), 1);
                assert_eq!(c.skipped.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            b.by_chat[&Uuid::parse_str("22222222-2222-4222-8222-222222222222").unwrap()],
            BatchEntry::Error("not_found".into())
        );
    }
}

/// One line of `GET /insights/earnings` or `GET /insights/spending`. Only
/// `date`, `gross` and `source` are required; the SDK-only fields
/// (`messageUuid`, `postUuid`, `transactionOrderId`,
/// `transactionOrderStatus`) are used when present. `source` stays a raw
/// string: Fanvue adds values (`appStore`, `checkoutLink`) without notice.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EarningsLine {
    pub date: DateTime<Utc>,
    /// Cents.
    pub gross: i64,
    pub net: Option<i64>,
    pub currency: Option<String>,
    pub source: String,
    #[serde(default, deserialize_with = "lenient_user")]
    pub user: Option<UserRef>,
    pub message_uuid: Option<Uuid>,
    pub post_uuid: Option<Uuid>,
    #[serde(default, deserialize_with = "lenient_id")]
    pub transaction_order_id: Option<String>,
    pub transaction_order_status: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An id Fanvue may send as a string or a number; kept as text.
fn lenient_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// A cursor-paged insights page, decoded line by line.
#[derive(Debug, Clone)]
pub struct FeedPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub skipped: Vec<Skipped>,
}

/// Decodes a `{data:[…], nextCursor}` envelope; a malformed line is
/// skipped and reported, never the page.
pub fn decode_feed<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<FeedPage<T>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Raw {
        data: Vec<serde_json::Value>,
        #[serde(default, rename = "nextCursor")]
        next_cursor: Option<String>,
    }
    let raw: Raw = serde_json::from_slice(body)?;
    let (items, skipped) = decode_items(raw.data);
    Ok(FeedPage {
        items,
        next_cursor: raw.next_cursor.filter(|c| !c.is_empty()),
        skipped,
    })
}
