//! Seeded scenario driver: builds the initial world deterministically from a seed, and
//! produces live activity (fan messages, team-member replies from Fanvue's own UI,
//! purchases, tips, reads, new fans) one step at a time.

use std::sync::Arc;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::config::{LiveConfig, ScenarioConfig};
use super::events::{self, Event, EventKind};
use super::world::{
    AccessRole, Agency, ChatId, CustomList, MediaType, MsgType, NewMessage, Role, Template, User,
    UserId, World,
};

const FIRST: &[&str] = &[
    "Ava", "Mia", "Luna", "Zoe", "Ivy", "Ella", "Nora", "Ruby", "Leo", "Max", "Kai", "Eli", "Noah",
    "Liam", "Omar", "Theo", "Sam", "Alex", "Jade", "Rosa",
];
const LAST: &[&str] = &[
    "Stone", "Rivers", "Vale", "Frost", "Hart", "Lane", "Wolfe", "Reyes", "Moss", "Quinn", "Cole",
    "Banks", "Shaw", "Blake", "Cruz", "Park",
];
const FAN_LINES: &[&str] = &[
    "hey there!",
    "how was your day?",
    "loved your last post",
    "what are you up to tonight?",
    "you look amazing",
    "any new content soon?",
    "haha that's funny",
    "can I get something special?",
    "good morning :)",
    "miss talking to you",
    "is that new set out yet?",
    "thanks for the reply!",
];
const CREATOR_LINES: &[&str] = &[
    "hey babe, thanks for the message!",
    "just finished a shoot, so tired",
    "I made something just for you",
    "glad you liked it!",
    "what would you like to see next?",
    "good morning to you too",
    "check this out 👀",
    "you're the sweetest",
    "new set dropping tomorrow",
    "haha you always make me smile",
];

/// Deterministic uuid from the scenario RNG.
pub fn next_uuid(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random::<[u8; 16]>()).into_uuid()
}

struct Texts {
    fan: Vec<Arc<str>>,
    creator: Vec<Arc<str>>,
}

impl Texts {
    fn new() -> Self {
        Self {
            fan: FAN_LINES.iter().map(|s| Arc::from(*s)).collect(),
            creator: CREATOR_LINES.iter().map(|s| Arc::from(*s)).collect(),
        }
    }
    /// Live texts; with the hostile knob on, fans also say hostile things.
    fn for_scenario(cfg: &ScenarioConfig) -> Self {
        let mut t = Self::new();
        if cfg.hostile_names {
            t.fan.extend(super::hostile::texts());
        }
        t
    }
    fn pick(&self, rng: &mut ChaCha8Rng, from_creator: bool) -> Arc<str> {
        let pool = if from_creator {
            &self.creator
        } else {
            &self.fan
        };
        pool[rng.random_range(0..pool.len())].clone()
    }
}

fn person(rng: &mut ChaCha8Rng, handle: String, role: Role, registered_at: i64) -> User {
    let first = FIRST.choose(rng).copied().unwrap_or("Sam");
    let last = LAST.choose(rng).copied().unwrap_or("Lane");
    User {
        uuid: next_uuid(rng),
        email: format!("{handle}@example.test"),
        avatar_url: Some(format!("https://media.sim.invalid/avatars/{handle}.jpg")),
        handle,
        display_name: format!("{first} {last}"),
        role,
        registered_at,
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

fn pick_price(rng: &mut ChaCha8Rng, prices: &[u32]) -> u32 {
    prices.choose(rng).copied().unwrap_or(500).max(300)
}

fn media(rng: &mut ChaCha8Rng, n: usize) -> (Vec<Uuid>, Option<MediaType>) {
    let list = (0..n).map(|_| next_uuid(rng)).collect();
    let t = match rng.random_range(0..20) {
        0..=11 => MediaType::Image,
        12..=17 => MediaType::Video,
        18 => MediaType::Audio,
        _ => MediaType::Document,
    };
    (list, Some(t))
}

/// Builds the world for `seed`. Same seed and config ⇒ same world, byte for byte.
pub fn generate(cfg: &ScenarioConfig, seed: u64, epoch_ms: i64) -> World {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let texts = Texts::new();
    let mut w = World::default();
    let day = 86_400_000i64;
    let history = i64::from(cfg.history_days.max(1)) * day;
    let start = epoch_ms - history;

    let agencies = cfg.agencies.max(1);
    for a in 0..agencies {
        w.agencies.push(Agency {
            uuid: next_uuid(&mut rng),
            name: format!("Agency {}", a + 1),
            creators: Vec::new(),
            members: Vec::new(),
        });
    }
    for i in 0..cfg.creators {
        let reg = start - rng.random_range(day..365 * day);
        let mut u = person(&mut rng, format!("creator-{}", i + 1), Role::Creator, reg);
        let agency = (i % agencies) as u32;
        u.agency = Some(agency);
        let id = w.add_user(u);
        w.agencies[agency as usize].creators.push(id);
    }
    for a in 0..agencies {
        for m in 0..cfg.team_members_per_agency {
            let reg = start - rng.random_range(day..200 * day);
            let mut u = person(
                &mut rng,
                format!("agency{}-member-{}", a + 1, m + 1),
                Role::TeamMember,
                reg,
            );
            u.agency = Some(a as u32);
            u.is_admin = m == 0;
            let role = if m == 0 {
                AccessRole::Admin
            } else {
                AccessRole::Chatter
            };
            u.creator_access = w.agencies[a].creators.iter().map(|c| (*c, role)).collect();
            let id = w.add_user(u);
            w.agencies[a].members.push(id);
        }
    }

    let creators = w.creators.clone();
    for &creator in &creators {
        let agency = w.user(creator).agency.unwrap_or(0) as usize;
        let members = w.agencies[agency].members.clone();
        let handle = w.user(creator).handle.clone();
        for f in 0..cfg.fans_per_creator {
            let reg = start - rng.random_range(0..365 * day);
            let mut fan = person(&mut rng, format!("{handle}-fan-{}", f + 1), Role::Fan, reg);
            fan.is_subscriber = rng.random_bool(0.7);
            fan.is_follower = !fan.is_subscriber || rng.random_bool(0.3);
            fan.on_free_trial = fan.is_subscriber && rng.random_bool(0.05);
            fan.online = rng.random_bool(0.2);
            fan.contactable = !rng.random_bool(cfg.uncontactable_share.clamp(0.0, 1.0));
            fan.is_top_spender = rng.random_bool(0.1);
            let created = start + rng.random_range(0..history / 2);
            if fan.is_subscriber {
                fan.subscribed_at = Some(created);
            }
            let fan_id = w.add_user(fan);
            let chat = w.add_chat(creator, fan_id, created);
            fill_history(
                &mut w, &mut rng, &texts, cfg, chat, &members, created, epoch_ms,
            );
        }
        let cd_templates: Vec<Template> = (0..cfg.templates_per_creator)
            .map(|t| {
                let ppv = t % 2 == 1;
                let (media_uuids, _) = if ppv {
                    media(&mut rng, 1)
                } else {
                    (Vec::new(), None)
                };
                Template {
                    uuid: next_uuid(&mut rng),
                    text: Some(texts.pick(&mut rng, true).to_string()),
                    price: ppv.then(|| pick_price(&mut rng, &cfg.ppv_prices)),
                    media_uuids,
                    folder_name: Some(["Welcome", "PPV", "Upsell"][t % 3].to_string()),
                }
            })
            .collect();
        let fans: Vec<UserId> = w.creator_data[&creator].by_fan.keys().copied().collect();
        let mut fans_sorted = fans;
        fans_sorted.sort_unstable();
        let lists: Vec<CustomList> = (0..cfg.custom_lists_per_creator)
            .map(|l| CustomList {
                uuid: next_uuid(&mut rng),
                name: ["VIP", "Whales", "Newcomers", "Quiet"][l % 4].to_string(),
                created_at: start + rng.random_range(0..history),
                members: fans_sorted
                    .iter()
                    .copied()
                    .filter(|_| rng.random_bool(0.3))
                    .collect(),
            })
            .collect();
        if let Some(cd) = w.creator_data.get_mut(&creator) {
            cd.templates = cd_templates;
            cd.custom_lists = lists;
        }
    }
    super::library::attach(&mut w, seed, start, epoch_ms);
    if cfg.hostile_names {
        super::hostile::apply(&mut w);
    }
    w
}

/// Automated (platform-sent) message types, all documented values.
const AUTOMATED_KINDS: [MsgType; 8] = [
    MsgType::AutomatedFirstMessageReply,
    MsgType::AutomatedNewSubscriber,
    MsgType::AutomatedNewFollower,
    MsgType::AutomatedNewPurchase,
    MsgType::AutomatedReSubscribed,
    MsgType::AutomatedRenewed,
    MsgType::AutomatedCanceled,
    MsgType::AutomatedChatMessageReply,
];

/// Type of an ordinary creator-side message. Mostly plain sends and replies, with the rarer
/// documented kinds mixed in so clients meet every value the docs list.
fn creator_kind(rng: &mut ChaCha8Rng) -> MsgType {
    match rng.random_range(0..100) {
        0..=59 => MsgType::SingleRecipient,
        60..=84 => MsgType::ChatTextReply,
        85..=89 => MsgType::ChatTextGeneration,
        90..=93 => MsgType::ChatTextRewrite,
        94..=97 => MsgType::Broadcast,
        _ => MsgType::VoiceCall,
    }
}

fn mark_last_tip_read(w: &mut World) {
    if let Some(t) = w.tips.last() {
        let id = t.history_message as usize;
        w.messages[id].is_read = true;
    }
}

#[allow(clippy::too_many_arguments)]
fn fill_history(
    w: &mut World,
    rng: &mut ChaCha8Rng,
    texts: &Texts,
    cfg: &ScenarioConfig,
    chat: ChatId,
    members: &[UserId],
    created: i64,
    epoch_ms: i64,
) {
    let n = cfg.messages_per_chat;
    if n == 0 {
        return;
    }
    let span = (epoch_ms - created - 1).max(1);
    let mut times: Vec<i64> = (0..n)
        .map(|_| created + rng.random_range(0..span))
        .collect();
    times.sort_unstable();
    let mut from_creator = rng.random_bool(0.5);
    let unread_tail = rng.random_bool(0.4);
    for (i, &t) in times.iter().enumerate() {
        // Conversations alternate in short runs.
        if rng.random_bool(0.6) {
            from_creator = !from_creator;
        }
        let mut m = NewMessage {
            from_creator,
            text: Some(texts.pick(rng, from_creator)),
            sent_at: t,
            kind: MsgType::SingleRecipient,
            price: None,
            sent_by: None,
            media: Vec::new(),
            media_type: None,
        };
        if from_creator {
            if i == 0 || rng.random_bool(cfg.automated_share.clamp(0.0, 1.0)) {
                m.kind = if i == 0 {
                    MsgType::AutomatedNewSubscriber
                } else {
                    *AUTOMATED_KINDS
                        .choose(rng)
                        .unwrap_or(&MsgType::AutomatedChatMessageReply)
                };
            } else {
                m.kind = creator_kind(rng);
                if !members.is_empty() && rng.random_bool(cfg.team_member_share.clamp(0.0, 1.0)) {
                    m.sent_by = members.choose(rng).copied();
                }
                if rng.random_bool(cfg.ppv_share.clamp(0.0, 1.0)) {
                    m.price = Some(pick_price(rng, &cfg.ppv_prices));
                    let k = rng.random_range(1..=3);
                    (m.media, m.media_type) = media(rng, k);
                }
            }
        }
        if m.media.is_empty() && rng.random_bool(cfg.media_only_share.clamp(0.0, 1.0)) {
            m.text = None;
            (m.media, m.media_type) = media(rng, 1);
        }
        let price = m.price;
        let uuid = next_uuid(rng);
        let id = w.insert_message(chat, uuid, m);
        // Older messages have been read; the newest fan messages may still be unread.
        let tail = i + 3 >= n;
        if !(tail && unread_tail) {
            w.messages[id as usize].is_read = true;
        }
        if price.is_some() && rng.random_bool(cfg.purchase_probability.clamp(0.0, 1.0)) {
            let delay = rng.random_range(60_000..=(cfg.purchase_max_delay_secs.max(61) * 1000));
            let at = t + delay as i64;
            if at <= epoch_ms {
                let _ = w.purchase(id, at);
            } else {
                w.pending_purchases.push(std::cmp::Reverse((at, id)));
            }
        }
        if from_creator && rng.random_bool(cfg.tip_share.clamp(0.0, 1.0)) {
            let at = (t + rng.random_range(1_000..600_000)).min(epoch_ms - 1);
            let amount = pick_price(rng, &cfg.tip_amounts);
            let hist = next_uuid(rng);
            let _ = w.tip(chat, amount, at, Some(id), None, hist);
            // Like the messages around it, a tip in settled history has been seen; left
            // unread, nearly every chat would count as unread.
            if !(tail && unread_tail) {
                mark_last_tip_read(w);
            }
        }
    }
    if rng.random_bool(cfg.tip_share.clamp(0.0, 1.0)) {
        // A standalone tip on a post.
        let at = created + rng.random_range(0..span);
        let amount = pick_price(rng, &cfg.tip_amounts);
        let post = next_uuid(rng);
        let hist = next_uuid(rng);
        let _ = w.tip(chat, amount, at, None, Some(post), hist);
        mark_last_tip_read(w);
    }
    // History reads are settled: recompute the unread counter from flags.
    let unread = w.chats[chat as usize]
        .messages
        .iter()
        .filter(|m| {
            let m = &w.messages[**m as usize];
            !m.from_creator && !m.is_read
        })
        .count() as u32;
    w.chats[chat as usize].unread = unread;
}

/// One live step. Returns the webhooks it caused (team-member replies cause none).
pub fn live_step(
    w: &mut World,
    rng: &mut ChaCha8Rng,
    scenario: &ScenarioConfig,
    live: &LiveConfig,
    now: i64,
) -> Vec<Event> {
    if w.chats.is_empty() || w.creators.is_empty() {
        return Vec::new();
    }
    let texts = Texts::for_scenario(scenario);
    if rng.random_bool(live.new_fan_share.clamp(0.0, 1.0)) {
        return new_fan(w, rng, now);
    }
    let chat = rng.random_range(0..w.chats.len()) as ChatId;
    let roll = rng.random_range(0..100);
    match roll {
        0..=39 => fan_message(w, rng, &texts, chat, now),
        40..=59 => {
            team_reply(w, rng, &texts, scenario, chat, now);
            Vec::new()
        }
        60..=69 => {
            let ppv = w.chats[chat as usize]
                .messages
                .iter()
                .rev()
                .copied()
                .find(|m| {
                    let m = &w.messages[*m as usize];
                    m.price.is_some() && m.purchased_at.is_none()
                });
            match ppv {
                Some(m) => w.purchase(m, now).into_iter().collect(),
                None => fan_message(w, rng, &texts, chat, now),
            }
        }
        70..=77 => {
            let amount = pick_price(rng, &scenario.tip_amounts);
            let tipped = w.chats[chat as usize]
                .messages
                .iter()
                .rev()
                .copied()
                .find(|m| w.messages[*m as usize].from_creator);
            let post = tipped.is_none().then(|| next_uuid(rng));
            let hist = next_uuid(rng);
            vec![w.tip(chat, amount, now, tipped, post, hist)]
        }
        78..=92 => {
            let n = w.mark_chat_read(chat);
            if n > 0 {
                vec![events::message_read(w, chat, n, now)]
            } else {
                Vec::new()
            }
        }
        _ => {
            w.mark_fan_read(chat);
            Vec::new()
        }
    }
}

fn fan_message(
    w: &mut World,
    rng: &mut ChaCha8Rng,
    texts: &Texts,
    chat: ChatId,
    now: i64,
) -> Vec<Event> {
    let media_only = rng.random_bool(0.05);
    let (media_list, media_type) = if media_only {
        media(rng, 1)
    } else {
        (Vec::new(), None)
    };
    let uuid = next_uuid(rng);
    let text = (!media_only).then(|| texts.pick(rng, false));
    let (_, event) = w.fan_message(chat, uuid, text, media_list, media_type, now);
    vec![event]
}

/// A team member answers from Fanvue's own UI: history only, no webhook.
fn team_reply(
    w: &mut World,
    rng: &mut ChaCha8Rng,
    texts: &Texts,
    scenario: &ScenarioConfig,
    chat: ChatId,
    now: i64,
) {
    let creator = w.chats[chat as usize].creator;
    let members: Vec<UserId> = w
        .users
        .iter()
        .enumerate()
        .filter(|(_, u)| {
            u.role == Role::TeamMember && u.creator_access.iter().any(|(c, _)| *c == creator)
        })
        .map(|(i, _)| i as UserId)
        .collect();
    let sent_by = members.choose(rng).copied();
    let ppv = rng.random_bool(scenario.ppv_share.clamp(0.0, 1.0));
    let (mut media_list, mut media_type) = if ppv {
        media(rng, 1)
    } else {
        (Vec::new(), None)
    };
    // The creator side sends from its library.
    if let Some(first) = media_list.first().copied()
        && let Some((uuids, t)) = super::library::pick(w, creator, &first, media_type, 1)
    {
        (media_list, media_type) = (uuids, Some(t));
    }
    let uuid = next_uuid(rng);
    let id = w.insert_message(
        chat,
        uuid,
        NewMessage {
            from_creator: true,
            text: Some(texts.pick(rng, true)),
            sent_at: now,
            kind: MsgType::ChatTextReply,
            price: ppv.then(|| pick_price(rng, &scenario.ppv_prices)),
            sent_by,
            media: media_list,
            media_type,
        },
    );
    if ppv {
        schedule_purchase(w, rng, scenario, id, now);
    }
}

/// Maybe schedules a purchase of a fresh PPV, `delay` after it was sent.
pub fn schedule_purchase(
    w: &mut World,
    rng: &mut ChaCha8Rng,
    scenario: &ScenarioConfig,
    msg: u32,
    sent_at: i64,
) {
    if rng.random_bool(scenario.purchase_probability.clamp(0.0, 1.0)) {
        let delay = rng.random_range(60_000..=(scenario.purchase_max_delay_secs.max(61) * 1000));
        w.pending_purchases
            .push(std::cmp::Reverse((sent_at + delay as i64, msg)));
    }
}

fn new_fan(w: &mut World, rng: &mut ChaCha8Rng, now: i64) -> Vec<Event> {
    let creator = w.creators[rng.random_range(0..w.creators.len())];
    let n = w.users.len();
    let mut fan = person(
        rng,
        format!("{}-newfan-{n}", w.user(creator).handle),
        Role::Fan,
        now,
    );
    let subscribes = rng.random_bool(0.5);
    fan.is_subscriber = subscribes;
    fan.is_follower = !subscribes;
    fan.subscribed_at = subscribes.then_some(now);
    let fan_id = w.add_user(fan);
    let chat = w.add_chat(creator, fan_id, now);
    let uuid = next_uuid(rng);
    let id = w.insert_message(
        chat,
        uuid,
        NewMessage {
            from_creator: true,
            text: Some(Arc::from("Welcome! Thanks for joining 💕")),
            sent_at: now,
            kind: if subscribes {
                MsgType::AutomatedNewSubscriber
            } else {
                MsgType::AutomatedNewFollower
            },
            price: None,
            sent_by: None,
            media: Vec::new(),
            media_type: None,
        },
    );
    let _ = id;
    let price = if subscribes { Some(999u32) } else { None };
    if let Some(cd) = w.creator_data.get_mut(&creator) {
        if subscribes {
            cd.notifications.new_subscriber += 1;
        } else {
            cd.notifications.new_follower += 1;
        }
    }
    let mut body = serde_json::json!({
        "recipientUuid": w.user(creator).uuid,
        "sender": events::sender(w, fan_id),
        "timestamp": super::render::iso(now),
    });
    let kind = match (price, body.as_object_mut()) {
        (Some(p), Some(obj)) => {
            obj.insert("price".into(), serde_json::json!(p));
            EventKind::NewSubscriber
        }
        _ => EventKind::NewFollower,
    };
    vec![Event::new(kind, creator, body)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ScenarioConfig {
        ScenarioConfig {
            creators: 2,
            fans_per_creator: 5,
            messages_per_chat: 40,
            ppv_share: 0.5,
            purchase_probability: 0.5,
            ..ScenarioConfig::default()
        }
    }

    #[test]
    fn purchases_happen_after_their_message() {
        let w = generate(&small(), 9, 1_767_225_600_000);
        assert!(!w.purchases.is_empty());
        for p in &w.purchases {
            let m = &w.messages[p.message as usize];
            assert!(p.at > m.sent_at);
            assert!(m.price.unwrap() >= 300);
            assert_eq!(m.purchased_at, Some(p.at));
        }
    }

    #[test]
    fn sizes_follow_config_and_team_members_send() {
        let cfg = small();
        let w = generate(&cfg, 9, 1_767_225_600_000);
        assert_eq!(w.creators.len(), 2);
        assert_eq!(w.chats.len(), 10);
        let non_tip = w.messages.iter().filter(|m| m.kind != MsgType::Tip).count();
        assert_eq!(non_tip, 10 * 40);
        assert!(w.messages.iter().any(|m| m.sent_by.is_some()));
        assert!(w.messages.iter().any(|m| m.text.is_none()));
    }

    #[test]
    fn settled_history_is_read_except_near_the_newest_messages() {
        let cfg = ScenarioConfig {
            creators: 3,
            fans_per_creator: 30,
            tip_share: 0.2,
            ..small()
        };
        let w = generate(&cfg, 5, 1_767_225_600_000);
        assert!(w.tips.len() > 50, "plenty of tips: {}", w.tips.len());
        let mut unread_chats = 0;
        for c in &w.chats {
            let n = c.messages.len();
            let unread: Vec<usize> = c
                .messages
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    let m = &w.messages[**m as usize];
                    !m.from_creator && !m.is_read
                })
                .map(|(i, _)| i)
                .collect();
            assert_eq!(unread.len() as u32, c.unread);
            // Only the newest few messages (plus the tips landing among them) are unread.
            assert!(unread.iter().all(|i| i + 8 >= n), "{unread:?} of {n}");
            unread_chats += usize::from(!unread.is_empty());
        }
        assert!(
            unread_chats * 10 < w.chats.len() * 6,
            "{unread_chats} of {} chats unread",
            w.chats.len()
        );
    }

    #[test]
    fn live_team_reply_emits_no_webhook_but_fan_message_does() {
        let cfg = small();
        let mut w = generate(&cfg, 9, 1_767_225_600_000);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let texts = Texts::new();
        let before = w.messages.len();
        team_reply(&mut w, &mut rng, &texts, &cfg, 0, 1_767_225_700_000);
        assert_eq!(w.messages.len(), before + 1);
        assert!(w.messages.last().unwrap().sent_by.is_some());
        let ev = fan_message(&mut w, &mut rng, &texts, 0, 1_767_225_700_001);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EventKind::MessageReceived);
    }
}
