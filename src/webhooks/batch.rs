//! Applies a claimed round of events with set-based statements: one
//! statement per kind of write for the whole round (chats, reads, messages,
//! chat state, purchases, tips), instead of three or four per event.
//!
//! The result is the one applying the events one by one, in claim order,
//! would leave (`process::apply`, kept as the fallback and the reference).
//! What depends on order is folded here, in Rust, per chat and in event
//! order, from the chats' state read under lock:
//! - a read lowers the unread count as far as it goes at that point, and
//!   marks read only the fan's messages already there (a message received
//!   after the read in the round stays unread, as it would one by one);
//! - a received message counts as unread and moves the chat's last message
//!   only if it was inserted (not already mirrored), and only forward;
//! - a read before the event that created the chat finds no chat;
//! - the fan's profile is, per field, the last value an event carried.
//!
//! Order-independent writes (follow/subscribe times, tips, purchases and
//! their joins, all keyed by natural key) are plain set-based statements.
//! One difference: when two purchase events name the same message, the
//! earliest purchase time wins, where one by one the first event applied
//! would (a message is bought once; two purchases of it mean a replay).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::events::{self, EventType};
use super::process::ProcessError;
use crate::domain::{AgencyId, CreatorId, WebhookEventId};
use crate::store;
use crate::store::webhook_apply::{
    ChatKey, ChatProfile, ChatState, ChatUpdate, PurchaseRow, ReceivedRow, TipRow,
};
use crate::store::webhooks::Claimed;

/// One event, decoded and checked, ready for the round.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub id: WebhookEventId,
    pub agency: AgencyId,
    pub creator: CreatorId,
    op: Op,
}

#[derive(Debug, Clone)]
enum Op {
    Received {
        fan: events::Person,
        message: Box<ReceivedRow>,
    },
    Read {
        fan: Uuid,
        count: i32,
        at: DateTime<Utc>,
    },
    /// A post purchase (no message to join) is kept as an event only.
    Purchase(Option<PurchaseRow>),
    Tip(TipRow),
    Fan {
        fan: events::Person,
        subscribed: bool,
        at: DateTime<Utc>,
    },
}

fn decode<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, ProcessError> {
    serde_json::from_value(v.clone()).map_err(|e| ProcessError::Payload(e.to_string()))
}

/// Decodes a claimed event; an error means it cannot be applied at all
/// (unknown type, payload that no longer parses, no creator).
pub(super) fn plan(ev: &Claimed) -> Result<Planned, ProcessError> {
    let (event_type, agency, creator) = super::process::target(ev)?;
    let sale_key = format!("webhook:{}", ev.dedupe_key);
    let op = match event_type {
        EventType::MessageReceived => {
            let e: events::MessageReceived = decode(&ev.payload)?;
            Op::Received {
                message: Box::new(ReceivedRow {
                    agency,
                    creator,
                    // Resolved once the chat is locked or created.
                    chat: Uuid::nil(),
                    uuid: e.message_uuid,
                    sender_uuid: e.sender.uuid,
                    recipient_uuid: e.recipient_uuid,
                    text: e.message.text,
                    sent_at: e.message.created_at.or(e.timestamp),
                    has_media: e.message.has_media,
                    media_uuids: e.message.media_uuids,
                    price_cents: e.message.price,
                    is_read: false,
                }),
                fan: e.sender,
            }
        }
        EventType::MessageRead => {
            let e: events::MessageRead = decode(&ev.payload)?;
            Op::Read {
                fan: e.counterpart_uuid,
                count: e.read_messages_count.clamp(0, i64::from(i32::MAX)) as i32,
                at: e.timestamp,
            }
        }
        EventType::Purchase => {
            let e: events::Purchase = decode(&ev.payload)?;
            Op::Purchase(e.route_uuid.map(|route| PurchaseRow {
                agency,
                creator,
                message_uuid: route,
                fan_uuid: e.sender.as_ref().map(|s| s.uuid),
                price_cents: e.price,
                purchased_at: e.timestamp,
                dedupe_key: sale_key,
            }))
        }
        EventType::Tip => {
            let e: events::Tip = decode(&ev.payload)?;
            Op::Tip(TipRow {
                agency,
                creator,
                fan_uuid: e.sender_uuid.or(e.sender.as_ref().map(|s| s.uuid)),
                amount_cents: e.price,
                tipped_at: e.timestamp,
                tipped_message_uuid: if e.context == "message" {
                    e.message_uuid
                } else {
                    None
                },
                context: e.context,
                dedupe_key: sale_key,
            })
        }
        EventType::NewFollower | EventType::NewSubscriber => {
            let e: events::FanEvent = decode(&ev.payload)?;
            Op::Fan {
                fan: e.sender,
                subscribed: event_type == EventType::NewSubscriber,
                at: e.timestamp,
            }
        }
    };
    Ok(Planned {
        id: ev.id,
        agency,
        creator,
        op,
    })
}

impl Planned {
    /// The chat this event reads or writes, if any.
    fn chat_key(&self) -> Option<ChatKey> {
        let fan = match &self.op {
            Op::Received { fan, .. } | Op::Fan { fan, .. } => fan.uuid,
            Op::Read { fan, .. } => *fan,
            Op::Purchase(_) | Op::Tip(_) => return None,
        };
        Some(ChatKey {
            agency: self.agency,
            creator: self.creator,
            fan,
        })
    }
}

/// A chat while the round is folded over it.
struct Fold {
    state: ChatState,
    before: ChatState,
    /// The chat exists at this point of the round (it existed before the
    /// round, or an earlier event of the round created it).
    exists: bool,
    existed_before: bool,
    followed_at: Option<DateTime<Utc>>,
    subscribed_at: Option<DateTime<Utc>>,
    /// Latest read of the round, for the messages mirrored before it.
    read_until: Option<DateTime<Utc>>,
}

impl Fold {
    fn new(state: ChatState, existed_before: bool) -> Self {
        Self {
            before: state.clone(),
            state,
            exists: existed_before,
            existed_before,
            followed_at: None,
            subscribed_at: None,
            read_until: None,
        }
    }

    /// `message.received` of a message the round inserted (the
    /// per-event statement of `store::messages::insert_received`).
    fn received(&mut self, uuid: Uuid, at: Option<DateTime<Utc>>) {
        let s = &mut self.state;
        s.unread_count = s.unread_count.saturating_add(1);
        s.is_read = false;
        let moves = match (s.last_message_at, at) {
            (None, _) => true,
            (Some(last), Some(at)) => at >= last,
            (Some(_), None) => false,
        };
        if moves {
            s.last_message_uuid = Some(uuid);
        }
        s.last_message_at = match (s.last_message_at, at) {
            (Some(last), Some(at)) => Some(last.max(at)),
            (last, at) => last.or(at),
        };
    }

    /// `message.read` (the per-event statement of `store::messages::apply_read`).
    fn read(&mut self, count: i32) {
        let s = &mut self.state;
        s.unread_count = (s.unread_count - count).max(0);
        s.is_read = s.unread_count == 0;
    }

    fn update(&self, agency: AgencyId) -> Option<ChatUpdate> {
        let changed =
            self.state != self.before || self.followed_at.is_some() || self.subscribed_at.is_some();
        changed.then_some(ChatUpdate {
            agency,
            id: self.state.id,
            unread_count: self.state.unread_count,
            is_read: self.state.is_read,
            last_message_at: self.state.last_message_at,
            last_message_uuid: self.state.last_message_uuid,
            followed_at: self.followed_at,
            subscribed_at: self.subscribed_at,
        })
    }
}

fn later(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// Applies the round inside `conn`'s transaction. Any error leaves the
/// transaction to be rolled back; the caller then applies event by event.
/// Returns the creators with tips in the round: the caller asks for their
/// reconcile once the round is committed.
///
/// Lock order, as every other writer of the mirror: the creators' tip-sales
/// locks, then the chats (in id order), then their messages. `sync_state` is
/// not written here: a sync transaction holds its creator's row from its
/// first statement and then writes chats, so a round writing that row after
/// its chats deadlocked with it.
#[tracing::instrument(skip_all, fields(events = round.len()))]
pub(super) async fn apply(
    conn: &mut PgConnection,
    round: &[Planned],
) -> Result<BTreeSet<(AgencyId, CreatorId)>, ProcessError> {
    let tipped: BTreeSet<(AgencyId, CreatorId)> = round
        .iter()
        .filter_map(|p| match &p.op {
            Op::Tip(row) => Some((row.agency, row.creator)),
            _ => None,
        })
        .collect();
    let tip_creators: Vec<CreatorId> = tipped.iter().map(|t| t.1).collect();
    store::locks::tip_sales(&mut *conn, &tip_creators).await?;

    // 1. Lock the chats the round touches, and read their state. The chats
    // of its purchases and tips are locked in the same statement (their
    // writes reach the chat through the messages' and tips' triggers) but
    // folded only when another event of the round changes them.
    let keys: BTreeSet<ChatKey> = round.iter().filter_map(Planned::chat_key).collect();
    let mut lock: BTreeSet<ChatKey> = keys.clone();
    for p in round {
        let fan = match &p.op {
            Op::Purchase(Some(row)) => row.fan_uuid,
            Op::Tip(row) => row.fan_uuid,
            _ => None,
        };
        if let Some(fan) = fan {
            lock.insert(ChatKey {
                agency: p.agency,
                creator: p.creator,
                fan,
            });
        }
    }
    let lock: Vec<ChatKey> = lock.into_iter().collect();
    // A creator is of one agency: (creator, fan) names a chat.
    let folded: HashSet<(CreatorId, Uuid)> = keys.iter().map(|k| (k.creator, k.fan)).collect();
    let mut chats: HashMap<(CreatorId, Uuid), Fold> = HashMap::new();
    for s in store::webhook_apply::lock_chats(&mut *conn, &lock).await? {
        if folded.contains(&(s.creator_id, s.fan_uuid)) {
            chats.insert((s.creator_id, s.fan_uuid), Fold::new(s, true));
        }
    }

    // 2. Create missing chats and refresh fans' profiles: per field, the
    // last value an event of the round carried.
    let mut profiles: BTreeMap<ChatKey, ChatProfile> = BTreeMap::new();
    for p in round {
        if let (Op::Received { fan, .. } | Op::Fan { fan, .. }, Some(key)) = (&p.op, p.chat_key()) {
            let e = profiles.entry(key).or_insert_with(|| ChatProfile {
                key,
                handle: None,
                display_name: None,
                avatar_url: None,
            });
            e.handle = fan.handle.clone().or(e.handle.take());
            e.display_name = fan.display_name.clone().or(e.display_name.take());
            e.avatar_url = fan.avatar_url.clone().or(e.avatar_url.take());
        }
    }
    let profiles: Vec<ChatProfile> = profiles.into_values().collect();
    for s in store::webhook_apply::upsert_profiles(&mut *conn, &profiles).await? {
        chats
            .entry((s.creator_id, s.fan_uuid))
            .or_insert_with(|| Fold::new(s, false));
    }
    // A chat another writer created between the lock and the upsert is
    // left unchanged by the upsert (same profile) and not returned.
    let missing: Vec<ChatKey> = profiles
        .iter()
        .map(|p| p.key)
        .filter(|k| !chats.contains_key(&(k.creator, k.fan)))
        .collect();
    for s in store::webhook_apply::lock_chats(&mut *conn, &missing).await? {
        chats.insert((s.creator_id, s.fan_uuid), Fold::new(s, true));
    }

    // 3. Messages: resolve chats, drop repeats of a message (the first
    // wins, as `ON CONFLICT DO NOTHING` one by one), and mark read the
    // ones a later read of the round covers.
    let mut rows: Vec<ReceivedRow> = Vec::new();
    let mut row_of: HashMap<WebhookEventId, usize> = HashMap::new();
    let mut first: BTreeSet<(CreatorId, Uuid)> = BTreeSet::new();
    // Per chat, the round's messages not yet covered by a read.
    let mut unread_rows: HashMap<(CreatorId, Uuid), Vec<usize>> = HashMap::new();
    for p in round {
        match &p.op {
            Op::Received { fan, message } => {
                let fold = chats
                    .get_mut(&(p.creator, fan.uuid))
                    .ok_or(store::StoreError::NotFound)?;
                fold.exists = true;
                if first.insert((p.creator, message.uuid)) {
                    let mut row = (**message).clone();
                    row.chat = fold.state.id;
                    row_of.insert(p.id, rows.len());
                    unread_rows
                        .entry((p.creator, fan.uuid))
                        .or_default()
                        .push(rows.len());
                    rows.push(row);
                }
            }
            Op::Fan { fan, .. } => {
                if let Some(fold) = chats.get_mut(&(p.creator, fan.uuid)) {
                    fold.exists = true;
                }
            }
            Op::Read { fan, at, .. } => {
                let Some(fold) = chats.get_mut(&(p.creator, *fan)) else {
                    continue;
                };
                if !fold.exists {
                    continue;
                }
                if fold.existed_before {
                    fold.read_until = later(fold.read_until, *at);
                }
                if let Some(pending) = unread_rows.get_mut(&(p.creator, *fan)) {
                    pending.retain(|&i| {
                        let covered = rows[i].sent_at.is_none_or(|s| s <= *at);
                        if covered {
                            rows[i].is_read = true;
                        }
                        !covered
                    });
                }
            }
            Op::Purchase(_) | Op::Tip(_) => {}
        }
    }
    // Reads reach only messages mirrored before the round here: those the
    // round inserts carry their read state already.
    let reads: Vec<(AgencyId, Uuid, DateTime<Utc>)> = round
        .iter()
        .filter_map(|p| {
            let key = p.chat_key()?;
            let fold = chats.get(&(key.creator, key.fan))?;
            Some((p.agency, fold.state.id, fold.read_until?))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    store::webhook_apply::mark_read_until(&mut *conn, &reads).await?;
    let inserted = store::webhook_apply::insert_received(&mut *conn, &rows).await?;

    // 4. Fold each chat's unread count, read flag and last message in event
    // order, then write the chats that changed.
    for fold in chats.values_mut() {
        fold.exists = fold.existed_before;
    }
    for p in round {
        match &p.op {
            Op::Received { fan, message } => {
                let Some(fold) = chats.get_mut(&(p.creator, fan.uuid)) else {
                    continue;
                };
                fold.exists = true;
                if row_of.contains_key(&p.id) && inserted.contains(&(p.creator, message.uuid)) {
                    fold.received(message.uuid, message.sent_at);
                }
            }
            Op::Read { fan, count, .. } => {
                if let Some(fold) = chats.get_mut(&(p.creator, *fan))
                    && fold.exists
                {
                    fold.read(*count);
                }
            }
            Op::Fan {
                fan,
                subscribed,
                at,
            } => {
                if let Some(fold) = chats.get_mut(&(p.creator, fan.uuid)) {
                    fold.exists = true;
                    if *subscribed {
                        fold.subscribed_at = later(fold.subscribed_at, *at);
                    } else {
                        fold.followed_at = later(fold.followed_at, *at);
                    }
                }
            }
            Op::Purchase(_) | Op::Tip(_) => {}
        }
    }
    let agency_of: HashMap<CreatorId, AgencyId> =
        round.iter().map(|p| (p.creator, p.agency)).collect();
    let mut updates: Vec<ChatUpdate> = chats
        .values()
        .filter_map(|f| f.update(*agency_of.get(&f.state.creator_id)?))
        .collect();
    // Chats are written in id order, the order every writer locks them in.
    updates.sort_by_key(|u| u.id);
    store::webhook_apply::update_chats(&mut *conn, &updates).await?;

    // 5. Purchases, then join open ones to messages mirrored now (the ones
    // this round inserted, and the ones purchased).
    let purchases: Vec<PurchaseRow> = round
        .iter()
        .filter_map(|p| match &p.op {
            Op::Purchase(Some(row)) => Some(row.clone()),
            _ => None,
        })
        .collect();
    store::webhook_apply::record_purchases(&mut *conn, &purchases).await?;
    let joinable: Vec<(CreatorId, Uuid)> = inserted
        .iter()
        .copied()
        .chain(purchases.iter().map(|p| (p.creator, p.message_uuid)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    store::webhook_apply::join_parked(&mut *conn, &joinable).await?;

    // 6. Tips (their reconcile is the caller's, after the commit).
    let tips: Vec<TipRow> = round
        .iter()
        .filter_map(|p| match &p.op {
            Op::Tip(row) => Some(row.clone()),
            _ => None,
        })
        .collect();
    store::webhook_apply::record_tips(&mut *conn, &tips).await?;
    Ok(tipped)
}
