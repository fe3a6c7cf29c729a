//! The simulated Fanvue world: users, chats, messages, purchases and tips, with the indexes
//! that keep API reads O(page). Every change that causes a webhook event (messages, reads,
//! purchases, tips, follows) goes through a method here, which returns the events; callers
//! dispatch those after releasing the lock. Fields with no event behind them (a chat's mute,
//! nickname and marked-unread flag, a user's contactable/blocked/online flags) and the
//! scenario's seeding are written directly by their callers.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use super::events::{self, Event};

pub type UserId = u32;
pub type ChatId = u32;
pub type MsgId = u32;
/// Pre-rendered (head, tail) of a user object; the nickname goes between them.
pub type UserJson = (Box<[u8]>, Box<[u8]>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Creator,
    Fan,
    TeamMember,
}

/// Role of a team member on one creator (`creatorAccess[].role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessRole {
    Admin,
    Chatter,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uuid: Uuid,
    pub handle: String,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub registered_at: i64,
    pub avatar_url: Option<String>,
    pub is_top_spender: bool,
    /// Fans: may the creator message them?
    pub contactable: bool,
    /// Fans: the fan blocked the creator; batch reads answer `forbidden`.
    pub blocked: bool,
    pub online: bool,
    pub is_subscriber: bool,
    pub is_follower: bool,
    pub on_free_trial: bool,
    pub subscribed_at: Option<i64>,
    /// Creators and team members: their agency.
    pub agency: Option<u32>,
    /// Team members: agency admin flag.
    pub is_admin: bool,
    pub creator_access: Vec<(UserId, AccessRole)>,
}

/// Message `type` values: the full documented list (the message-object guide plus the
/// API reference's enum). Unknown values are injected at render time by a fault, because
/// Fanvue adds types without notice and clients must treat the field as an open string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    SingleRecipient,
    ChatTextReply,
    ChatTextGeneration,
    ChatTextRewrite,
    Broadcast,
    Tip,
    VoiceCall,
    LockedMessageUnlocked,
    GhostPromotion,
    MarketingKyc,
    AutomatedFirstMessageReply,
    AutomatedNewSubscriber,
    AutomatedNewFollower,
    AutomatedNewPurchase,
    AutomatedReSubscribed,
    AutomatedRenewed,
    AutomatedCanceled,
    AutomatedChatMessageReply,
}

impl MsgType {
    /// Every documented value, in the order the docs list them.
    pub const ALL: [MsgType; 18] = [
        MsgType::SingleRecipient,
        MsgType::ChatTextReply,
        MsgType::ChatTextGeneration,
        MsgType::ChatTextRewrite,
        MsgType::Broadcast,
        MsgType::Tip,
        MsgType::VoiceCall,
        MsgType::LockedMessageUnlocked,
        MsgType::GhostPromotion,
        MsgType::MarketingKyc,
        MsgType::AutomatedFirstMessageReply,
        MsgType::AutomatedNewSubscriber,
        MsgType::AutomatedNewFollower,
        MsgType::AutomatedNewPurchase,
        MsgType::AutomatedReSubscribed,
        MsgType::AutomatedRenewed,
        MsgType::AutomatedCanceled,
        MsgType::AutomatedChatMessageReply,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::SingleRecipient => "SINGLE_RECIPIENT",
            MsgType::ChatTextReply => "CHAT_TEXT_REPLY",
            MsgType::ChatTextGeneration => "CHAT_TEXT_GENERATION",
            MsgType::ChatTextRewrite => "CHAT_TEXT_REWRITE",
            MsgType::Broadcast => "BROADCAST",
            MsgType::Tip => "TIP",
            MsgType::VoiceCall => "VOICE_CALL",
            MsgType::LockedMessageUnlocked => "LOCKED_MESSAGE_UNLOCKED",
            MsgType::GhostPromotion => "GHOST_PROMOTION",
            MsgType::MarketingKyc => "MARKETING_KYC",
            MsgType::AutomatedFirstMessageReply => "AUTOMATED_FIRST_MESSAGE_REPLY",
            MsgType::AutomatedNewSubscriber => "AUTOMATED_NEW_SUBSCRIBER",
            MsgType::AutomatedNewFollower => "AUTOMATED_NEW_FOLLOWER",
            MsgType::AutomatedNewPurchase => "AUTOMATED_NEW_PURCHASE",
            MsgType::AutomatedReSubscribed => "AUTOMATED_RE_SUBSCRIBED",
            MsgType::AutomatedRenewed => "AUTOMATED_RENEWED",
            MsgType::AutomatedCanceled => "AUTOMATED_CANCELED",
            MsgType::AutomatedChatMessageReply => "AUTOMATED_CHAT_MESSAGE_REPLY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Image,
    Video,
    Audio,
    Document,
}

impl MediaType {
    pub const ALL: [MediaType; 4] = [
        MediaType::Image,
        MediaType::Video,
        MediaType::Audio,
        MediaType::Document,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Video => "video",
            MediaType::Audio => "audio",
            MediaType::Document => "document",
        }
    }
}

/// Where a library item is used (`usage` filter of `GET /media`); the simulator's own
/// vocabulary, since Fanvue's docs do not list the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaUsage {
    Chat,
    Post,
    Vault,
}

impl MediaUsage {
    pub const ALL: [MediaUsage; 3] = [MediaUsage::Chat, MediaUsage::Post, MediaUsage::Vault];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaUsage::Chat => "chat",
            MediaUsage::Post => "post",
            MediaUsage::Vault => "vault",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One rendition of a media item (`variants[]`).
#[derive(Debug, Clone)]
pub struct MediaVariant {
    pub uuid: Uuid,
    /// `main`, `thumbnail` or `blurred`.
    pub variant_type: &'static str,
    pub display_position: u32,
    pub url: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub length_ms: Option<u64>,
}

/// An item of a creator's media library (`GET /media`).
#[derive(Debug, Clone)]
pub struct MediaItem {
    pub uuid: Uuid,
    pub created_at: i64,
    pub name: String,
    pub caption: Option<String>,
    pub description: Option<String>,
    pub media_type: MediaType,
    pub folder_name: Option<String>,
    /// Cents.
    pub recommended_price: Option<u32>,
    pub usage: Vec<MediaUsage>,
    pub variants: Vec<MediaVariant>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub uuid: Uuid,
    pub chat: ChatId,
    /// True when the creator side (creator or team member) sent it.
    pub from_creator: bool,
    pub text: Option<Arc<str>>,
    /// Publish time, unix ms.
    pub sent_at: i64,
    pub kind: MsgType,
    pub price: Option<u32>,
    pub purchased_at: Option<i64>,
    pub is_read: bool,
    pub sent_by: Option<UserId>,
    pub media: Box<[Uuid]>,
    pub media_type: Option<MediaType>,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub creator: UserId,
    pub fan: UserId,
    pub created_at: i64,
    /// Message ids ordered by (sent_at, id), oldest first; deleted messages removed.
    pub messages: Vec<MsgId>,
    /// Fan messages the creator side has not read.
    pub unread: u32,
    /// Set by `PATCH {isRead:false}`.
    pub marked_unread: bool,
    pub is_muted: bool,
    pub nickname: Option<String>,
    pub spent: u64,
    pub tipped: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub uuid: Uuid,
    pub text: Option<String>,
    pub price: Option<u32>,
    pub media_uuids: Vec<Uuid>,
    pub folder_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CustomList {
    pub uuid: Uuid,
    pub name: String,
    pub created_at: i64,
    pub members: Vec<UserId>,
}

#[derive(Debug, Default)]
pub struct CreatorData {
    pub by_fan: HashMap<UserId, ChatId>,
    /// (Reverse(lastMessageAt), chat) — newest activity first.
    pub by_recent: BTreeSet<(Reverse<i64>, ChatId)>,
    pub templates: Vec<Template>,
    pub custom_lists: Vec<CustomList>,
    pub notifications: Notifications,
    /// The creator's media library, newest first.
    pub media: Vec<MediaItem>,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notifications {
    pub new_follower: u64,
    pub new_post_comment: u64,
    pub new_post_like: u64,
    pub new_purchase: u64,
    pub new_subscriber: u64,
    pub new_tip: u64,
}

#[derive(Debug, Clone)]
pub struct Agency {
    pub uuid: Uuid,
    pub name: String,
    pub creators: Vec<UserId>,
    pub members: Vec<UserId>,
}

#[derive(Debug, Clone)]
pub struct Purchase {
    pub message: MsgId,
    pub price: u32,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct Tip {
    pub chat: ChatId,
    pub amount: u32,
    pub at: i64,
    /// The creator message that was tipped (context "message").
    pub tipped_message: Option<MsgId>,
    /// Post tipped (context "post").
    pub post_uuid: Option<Uuid>,
    /// The TIP-type message in history.
    pub history_message: MsgId,
}

/// Error from a world operation, mapped to HTTP by the API layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorldError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("cannot message this user")]
    NotContactable,
    #[error("purchased messages cannot be deleted")]
    Purchased,
    #[error("only the sender can delete a message")]
    NotSender,
}

/// What a new message looks like before it is stored.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub from_creator: bool,
    pub text: Option<Arc<str>>,
    pub sent_at: i64,
    pub kind: MsgType,
    pub price: Option<u32>,
    pub sent_by: Option<UserId>,
    pub media: Vec<Uuid>,
    pub media_type: Option<MediaType>,
}

#[derive(Debug, Default)]
pub struct World {
    pub users: Vec<User>,
    /// Pre-rendered JSON around the nickname of each user object (see `render::write_user`);
    /// the rendered fields never change after creation.
    pub user_json: Vec<UserJson>,
    pub user_by_uuid: HashMap<Uuid, UserId>,
    pub creators: Vec<UserId>,
    pub creator_data: HashMap<UserId, CreatorData>,
    pub agencies: Vec<Agency>,
    pub chats: Vec<Chat>,
    pub messages: Vec<Message>,
    pub msg_by_uuid: HashMap<Uuid, MsgId>,
    pub purchases: Vec<Purchase>,
    pub tips: Vec<Tip>,
    /// PPVs bought in the future: (when, message).
    pub pending_purchases: BinaryHeap<Reverse<(i64, MsgId)>>,
    /// Library item uuid → (creator, index in that creator's `media`).
    pub media_by_uuid: HashMap<Uuid, (UserId, usize)>,
}

impl World {
    pub fn user(&self, id: UserId) -> &User {
        &self.users[id as usize]
    }

    pub fn user_id(&self, uuid: &Uuid) -> Option<UserId> {
        self.user_by_uuid.get(uuid).copied()
    }

    pub fn add_user(&mut self, user: User) -> UserId {
        let id = self.users.len() as UserId;
        self.user_by_uuid.insert(user.uuid, id);
        if user.role == Role::Creator {
            self.creators.push(id);
            self.creator_data.entry(id).or_default();
        }
        self.user_json.push(super::render::user_fragments(&user));
        self.users.push(user);
        id
    }

    pub fn chat_of(&self, creator: UserId, fan: UserId) -> Option<ChatId> {
        self.creator_data
            .get(&creator)
            .and_then(|c| c.by_fan.get(&fan).copied())
    }

    pub fn add_chat(&mut self, creator: UserId, fan: UserId, created_at: i64) -> ChatId {
        let id = self.chats.len() as ChatId;
        self.chats.push(Chat {
            creator,
            fan,
            created_at,
            messages: Vec::new(),
            unread: 0,
            marked_unread: false,
            is_muted: false,
            nickname: None,
            spent: 0,
            tipped: false,
        });
        let cd = self.creator_data.entry(creator).or_default();
        cd.by_fan.insert(fan, id);
        cd.by_recent.insert((Reverse(created_at), id));
        id
    }

    /// Time used to order a chat in the inbox.
    pub fn chat_activity(&self, chat: ChatId) -> i64 {
        let c = &self.chats[chat as usize];
        c.messages
            .last()
            .map(|m| self.messages[*m as usize].sent_at)
            .unwrap_or(c.created_at)
    }

    pub fn last_message(&self, chat: ChatId) -> Option<&Message> {
        self.chats[chat as usize]
            .messages
            .last()
            .map(|m| &self.messages[*m as usize])
    }

    /// Stores a message with a fresh uuid, keeping the chat's order and indexes.
    pub fn insert_message(&mut self, chat: ChatId, uuid: Uuid, m: NewMessage) -> MsgId {
        let before = self.chat_activity(chat);
        let id = self.messages.len() as MsgId;
        let from_creator = m.from_creator;
        self.messages.push(Message {
            uuid,
            chat,
            from_creator,
            text: m.text,
            sent_at: m.sent_at,
            kind: m.kind,
            price: m.price,
            purchased_at: None,
            is_read: false,
            sent_by: m.sent_by,
            media: m.media.into_boxed_slice(),
            media_type: m.media_type,
            deleted: false,
        });
        self.msg_by_uuid.insert(uuid, id);
        let sent_at = m.sent_at;
        let msgs = &self.messages;
        let c = &mut self.chats[chat as usize];
        // Usually appended at the end; a binary search keeps injected past messages ordered.
        let pos = c
            .messages
            .partition_point(|x| msgs[*x as usize].sent_at <= sent_at);
        c.messages.insert(pos, id);
        if !from_creator {
            c.unread += 1;
        }
        self.reindex_chat(chat, before);
        id
    }

    fn reindex_chat(&mut self, chat: ChatId, before: i64) {
        let after = self.chat_activity(chat);
        if after == before {
            return;
        }
        let creator = self.chats[chat as usize].creator;
        if let Some(cd) = self.creator_data.get_mut(&creator) {
            cd.by_recent.remove(&(Reverse(before), chat));
            cd.by_recent.insert((Reverse(after), chat));
        }
    }

    /// Marks the creator side as having read all fan messages in a chat. Returns how many
    /// messages changed.
    pub fn mark_chat_read(&mut self, chat: ChatId) -> u32 {
        let mut n = 0;
        let ids: Vec<MsgId> = self.chats[chat as usize].messages.clone();
        for id in ids.iter().rev() {
            let m = &mut self.messages[*id as usize];
            if !m.from_creator && !m.is_read {
                m.is_read = true;
                n += 1;
            }
        }
        let c = &mut self.chats[chat as usize];
        c.unread = 0;
        c.marked_unread = false;
        n
    }

    /// Marks the fan as having read the creator side's messages (no webhook: Fanvue has
    /// no fan read receipt event).
    pub fn mark_fan_read(&mut self, chat: ChatId) -> u32 {
        let mut n = 0;
        let ids: Vec<MsgId> = self.chats[chat as usize].messages.clone();
        for id in ids {
            let m = &mut self.messages[id as usize];
            if m.from_creator && !m.is_read {
                m.is_read = true;
                n += 1;
            }
        }
        n
    }

    /// Marks a PPV purchased at `at`; returns the purchase webhook.
    pub fn purchase(&mut self, msg: MsgId, at: i64) -> Option<Event> {
        let m = &mut self.messages[msg as usize];
        let price = m.price?;
        if m.purchased_at.is_some() || m.deleted {
            return None;
        }
        m.purchased_at = Some(at);
        let chat = m.chat;
        let c = &mut self.chats[chat as usize];
        c.spent += u64::from(price);
        let creator = c.creator;
        self.purchases.push(Purchase {
            message: msg,
            price,
            at,
        });
        if let Some(cd) = self.creator_data.get_mut(&creator) {
            cd.notifications.new_purchase += 1;
        }
        Some(events::purchase(self, msg, at))
    }

    /// Applies every scheduled purchase due at or before `now`.
    pub fn run_due_purchases(&mut self, now: i64) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(Reverse((at, msg))) = self.pending_purchases.peek().copied() {
            if at > now {
                break;
            }
            self.pending_purchases.pop();
            if let Some(e) = self.purchase(msg, at) {
                out.push(e);
            }
        }
        out
    }

    /// Removes a message the creator side sent, unless it was bought.
    pub fn delete_message(&mut self, chat: ChatId, msg_uuid: &Uuid) -> Result<(), WorldError> {
        let id = *self
            .msg_by_uuid
            .get(msg_uuid)
            .ok_or(WorldError::NotFound("message"))?;
        let m = &self.messages[id as usize];
        if m.chat != chat || m.deleted {
            return Err(WorldError::NotFound("message"));
        }
        if !m.from_creator {
            return Err(WorldError::NotSender);
        }
        if m.purchased_at.is_some() {
            return Err(WorldError::Purchased);
        }
        let before = self.chat_activity(chat);
        self.messages[id as usize].deleted = true;
        self.chats[chat as usize].messages.retain(|x| *x != id);
        self.reindex_chat(chat, before);
        Ok(())
    }

    /// Records a tip and its TIP message; returns the tip webhook.
    pub fn tip(
        &mut self,
        chat: ChatId,
        amount: u32,
        at: i64,
        tipped_message: Option<MsgId>,
        post_uuid: Option<Uuid>,
        history_uuid: Uuid,
    ) -> Event {
        let hist = self.insert_message(
            chat,
            history_uuid,
            NewMessage {
                from_creator: false,
                text: None,
                sent_at: at,
                kind: MsgType::Tip,
                price: None,
                sent_by: None,
                media: Vec::new(),
                media_type: None,
            },
        );
        let c = &mut self.chats[chat as usize];
        c.tipped = true;
        c.spent += u64::from(amount);
        let creator = c.creator;
        self.tips.push(Tip {
            chat,
            amount,
            at,
            tipped_message,
            post_uuid,
            history_message: hist,
        });
        if let Some(cd) = self.creator_data.get_mut(&creator) {
            cd.notifications.new_tip += 1;
        }
        events::tip(self, self.tips.len() - 1)
    }

    /// A library item of `creator` by uuid.
    pub fn media_item(&self, creator: UserId, uuid: &Uuid) -> Option<&MediaItem> {
        let (c, i) = *self.media_by_uuid.get(uuid)?;
        (c == creator)
            .then(|| self.creator_data.get(&c).and_then(|cd| cd.media.get(i)))
            .flatten()
    }

    /// Replaces a creator's library and its index.
    pub fn set_media_library(&mut self, creator: UserId, items: Vec<MediaItem>) {
        if let Some(cd) = self.creator_data.get(&creator) {
            for m in &cd.media {
                self.media_by_uuid.remove(&m.uuid);
            }
        }
        for (i, m) in items.iter().enumerate() {
            self.media_by_uuid.insert(m.uuid, (creator, i));
        }
        self.creator_data.entry(creator).or_default().media = items;
    }

    /// Media uuids the fan of `chat` has bought: the media of every purchased PPV there.
    /// Derived from the purchases themselves, so it can never disagree with them.
    pub fn purchased_media(&self, chat: ChatId) -> std::collections::HashSet<Uuid> {
        self.chats[chat as usize]
            .messages
            .iter()
            .map(|m| &self.messages[*m as usize])
            .filter(|m| m.price.is_some() && m.purchased_at.is_some())
            .flat_map(|m| m.media.iter().copied())
            .collect()
    }

    /// A fan message arrives (live activity and the control hooks): stores it and returns
    /// its `message.received` webhook.
    pub fn fan_message(
        &mut self,
        chat: ChatId,
        uuid: Uuid,
        text: Option<Arc<str>>,
        media: Vec<Uuid>,
        media_type: Option<MediaType>,
        now: i64,
    ) -> (MsgId, Event) {
        let id = self.insert_message(
            chat,
            uuid,
            NewMessage {
                from_creator: false,
                text,
                sent_at: now,
                kind: MsgType::SingleRecipient,
                price: None,
                sent_by: None,
                media,
                media_type,
            },
        );
        (id, events::message_received(self, id))
    }

    /// Messages of a chat strictly published after `cutoff_ms`, oldest first.
    pub fn messages_after(&self, chat: ChatId, cutoff_ms: i64) -> &[MsgId] {
        let msgs = &self.chats[chat as usize].messages;
        let start = msgs.partition_point(|m| self.messages[*m as usize].sent_at <= cutoff_ms);
        &msgs[start..]
    }

    /// Is this user allowed to act for `creator` (self, or a team member with access)?
    pub fn can_act_for(&self, user: UserId, creator: UserId) -> bool {
        if user == creator {
            return true;
        }
        let u = self.user(user);
        u.role == Role::TeamMember && u.creator_access.iter().any(|(c, _)| *c == creator)
    }

    /// Creators a caller manages (team member) or is (creator).
    pub fn managed_creators(&self, user: UserId) -> Vec<UserId> {
        let u = self.user(user);
        match u.role {
            Role::Creator => vec![user],
            Role::TeamMember => u.creator_access.iter().map(|(c, _)| *c).collect(),
            Role::Fan => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128, role: Role) -> User {
        User {
            uuid: Uuid::from_u128(n),
            handle: format!("u{n}"),
            display_name: format!("User {n}"),
            email: format!("u{n}@example.test"),
            role,
            registered_at: 0,
            avatar_url: None,
            is_top_spender: false,
            contactable: true,
            blocked: false,
            online: false,
            is_subscriber: false,
            is_follower: false,
            on_free_trial: false,
            subscribed_at: None,
            agency: None,
            is_admin: false,
            creator_access: Vec::new(),
        }
    }

    fn msg(from_creator: bool, at: i64) -> NewMessage {
        NewMessage {
            from_creator,
            text: Some("hi".into()),
            sent_at: at,
            kind: MsgType::SingleRecipient,
            price: None,
            sent_by: None,
            media: Vec::new(),
            media_type: None,
        }
    }

    fn world() -> (World, ChatId) {
        let mut w = World::default();
        let c = w.add_user(user(1, Role::Creator));
        let f = w.add_user(user(2, Role::Fan));
        let chat = w.add_chat(c, f, 0);
        (w, chat)
    }

    #[test]
    fn messages_stay_ordered_and_unread_counts_fan_messages() {
        let (mut w, chat) = world();
        w.insert_message(chat, Uuid::from_u128(10), msg(false, 300));
        w.insert_message(chat, Uuid::from_u128(11), msg(true, 100));
        w.insert_message(chat, Uuid::from_u128(12), msg(false, 200));
        let times: Vec<i64> = w.chats[0]
            .messages
            .iter()
            .map(|m| w.messages[*m as usize].sent_at)
            .collect();
        assert_eq!(times, vec![100, 200, 300]);
        assert_eq!(w.chats[0].unread, 2);
        assert_eq!(w.mark_chat_read(chat), 2);
        assert_eq!(w.chats[0].unread, 0);
    }

    #[test]
    fn messages_after_is_strict() {
        let (mut w, chat) = world();
        w.insert_message(chat, Uuid::from_u128(10), msg(false, 100));
        w.insert_message(chat, Uuid::from_u128(11), msg(false, 100));
        w.insert_message(chat, Uuid::from_u128(12), msg(false, 101));
        assert_eq!(w.messages_after(chat, 100).len(), 1);
        assert_eq!(w.messages_after(chat, 99).len(), 3);
    }

    #[test]
    fn purchased_message_cannot_be_deleted_and_purchase_is_once() {
        let (mut w, chat) = world();
        let mut m = msg(true, 100);
        m.price = Some(500);
        let id = w.insert_message(chat, Uuid::from_u128(10), m);
        assert!(w.purchase(id, 200).is_some());
        assert!(w.purchase(id, 300).is_none());
        assert_eq!(
            w.delete_message(chat, &Uuid::from_u128(10)),
            Err(WorldError::Purchased)
        );
        assert_eq!(w.chats[0].spent, 500);
    }

    #[test]
    fn inbox_order_follows_latest_message() {
        let mut w = World::default();
        let c = w.add_user(user(1, Role::Creator));
        let f1 = w.add_user(user(2, Role::Fan));
        let f2 = w.add_user(user(3, Role::Fan));
        let a = w.add_chat(c, f1, 0);
        let b = w.add_chat(c, f2, 0);
        w.insert_message(a, Uuid::from_u128(10), msg(false, 100));
        w.insert_message(b, Uuid::from_u128(11), msg(true, 200));
        let order: Vec<ChatId> = w.creator_data[&c].by_recent.iter().map(|x| x.1).collect();
        assert_eq!(order, vec![b, a]);
        w.delete_message(b, &Uuid::from_u128(11)).unwrap();
        let order: Vec<ChatId> = w.creator_data[&c].by_recent.iter().map(|x| x.1).collect();
        assert_eq!(order, vec![a, b]);
    }
}
