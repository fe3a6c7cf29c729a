//! Fanvue's wire models → mirror rows. Pure; no I/O.

use uuid::Uuid;

use crate::domain::MessageKind;
use crate::fanvue::models::{Chat, Message};
use crate::store::chats::ChatUpsert;
use crate::store::messages::MessageUpsert;

pub fn chat(c: &Chat) -> ChatUpsert {
    ChatUpsert {
        fan_uuid: c.user.uuid,
        handle: c.user.handle.clone(),
        display_name: c.user.display_name.clone(),
        nickname: c.user.nickname.clone(),
        avatar_url: c.user.avatar_url.clone(),
        registered_at: c.user.registered_at,
        is_top_spender: c.user.is_top_spender.unwrap_or(false),
        is_read: c.is_read.unwrap_or(true),
        is_muted: c.is_muted.unwrap_or(false),
        unread_count: c
            .unread_messages_count
            .unwrap_or(0)
            .clamp(0, i64::from(i32::MAX)) as i32,
        last_message_at: c.last_message_at,
        last_message_uuid: c.last_message.as_ref().map(|m| m.uuid),
    }
}

/// A message of the chat with `fan`, seen from `creator`'s side.
pub fn message(m: &Message, creator: Uuid, fan: Uuid) -> MessageUpsert {
    let sender = m.sender.as_ref().map(|s| s.uuid);
    let recipient = m.recipient.as_ref().map(|r| r.uuid);
    // Outbound when the creator (or a team member for them) sent it; when
    // the sender is unknown, a message to the fan is outbound too.
    let outbound = sender == Some(creator) || (sender != Some(fan) && recipient == Some(fan));
    MessageUpsert {
        uuid: m.uuid,
        fan_uuid: fan,
        sender_uuid: sender,
        recipient_uuid: recipient,
        outbound,
        text: m.text.clone(),
        sent_at: m.sent_at,
        kind: MessageKind::from(m.kind.clone()),
        has_media: m.has_media,
        media_type: m.media_type.clone(),
        media_uuids: m.media_uuids.clone(),
        price_cents: m.price_cents(),
        purchased_at: m.purchased_at,
        sent_by_user_uuid: m.sent_by_user_id.clone(),
        is_read: m.is_read.unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_follows_the_sender() {
        let creator = Uuid::new_v4();
        let fan = Uuid::new_v4();
        let raw = |from: Uuid, to: Uuid| -> Message {
            serde_json::from_value(serde_json::json!({
                "uuid": Uuid::new_v4(), "type": "SINGLE_RECIPIENT", "text": "hi",
                "sender": {"uuid": from}, "recipient": {"uuid": to},
                "pricing": {"USD": {"price": 500}}, "sentByUserId": null
            }))
            .unwrap()
        };
        let out = message(&raw(creator, fan), creator, fan);
        assert!(out.outbound);
        assert_eq!(out.price_cents, Some(500));
        let inc = message(&raw(fan, creator), creator, fan);
        assert!(!inc.outbound);
    }
}
