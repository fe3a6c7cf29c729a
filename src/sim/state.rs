//! Shared simulator state (`Sim`): the world behind a read-write lock, OAuth store, rate
//! limiter, faults, counters and webhook dispatcher, plus the operations both the control
//! API and the in-process handle call (tick, live activity, ground truth).

use std::collections::BTreeMap;

use parking_lot::{Mutex, RwLock};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::clock::SimClock;
use super::config::SimConfig;
use super::events::Event;
use super::faults::{FaultState, Faults};
use super::oauth::{OAuthStore, TokenResponse};
use super::rate_limit::RateLimiter;
use super::render;
use super::scenario;
use super::webhooks::Webhooks;
use super::world::{Role, UserId, World};

/// Request counters exposed by the control API.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total_requests: u64,
    /// `"GET /chats"` → count (route templates, not concrete paths).
    pub by_endpoint: BTreeMap<String, u64>,
    /// Rate-limit bucket key → requests charged to it.
    pub by_bucket: BTreeMap<String, u64>,
    pub by_status: BTreeMap<u16, u64>,
    pub rate_limited: u64,
    pub injected_errors: u64,
    /// Messages created by the send routes (`POST …/chats/{userUuid}/message`, both twins),
    /// including those answered 500 by `send_fail_after_commit_rate`: exactly what reached
    /// the fans.
    pub messages_sent: u64,
    /// Webhook deliveries not finished at the time of the read (queued, held or being
    /// retried); filled in by `GET {control}/stats`.
    pub webhooks_pending: u64,
}

/// Why a targeted control hook (fan says / buys / tips) was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HookError {
    #[error("unknown simulated user {0}")]
    UnknownUser(String),
    #[error("that fan has no chat with that creator")]
    NoChat,
    #[error("unknown message")]
    UnknownMessage,
    #[error("not an unbought PPV message")]
    NotPurchasable,
    #[error("the tipped message must be a creator message of that chat")]
    NotTippable,
    #[error("{0}")]
    Invalid(&'static str),
}

pub struct Sim {
    pub config: SimConfig,
    pub clock: SimClock,
    pub world: RwLock<World>,
    pub oauth: Mutex<OAuthStore>,
    pub limiter: RateLimiter,
    pub faults: FaultState,
    pub stats: Mutex<Stats>,
    pub webhooks: Webhooks,
    /// `http://host:port` once bound.
    pub base_url: std::sync::OnceLock<String>,
    live_rng: Mutex<ChaCha8Rng>,
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        let epoch_ms = config.epoch.timestamp_millis();
        let world = scenario::generate(&config.scenario, config.seed, epoch_ms);
        let mut oauth = OAuthStore::default();
        if let Some(who) = &config.oauth.auto_approve {
            oauth.auto_approve = find_user(&world, who);
        }
        Self {
            clock: SimClock::new(config.epoch),
            world: RwLock::new(world),
            oauth: Mutex::new(oauth),
            limiter: RateLimiter::new(config.rate_limit.limit, config.rate_limit.window_ms),
            faults: FaultState::new(config.faults.clone(), config.seed),
            stats: Mutex::new(Stats::default()),
            webhooks: Webhooks::new(config.webhooks.clone()),
            base_url: std::sync::OnceLock::new(),
            live_rng: Mutex::new(ChaCha8Rng::seed_from_u64(config.seed ^ 0x11fe_11fe)),
            config,
        }
    }

    /// Finds a user by uuid or handle.
    pub fn resolve_user(&self, who: &str) -> Option<UserId> {
        find_user(&self.world.read(), who)
    }

    pub fn dispatch(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let grants = self
            .config
            .webhooks
            .require_grant
            .then(|| self.oauth.lock().granted_users());
        for e in events {
            if let Some(grants) = &grants
                && !self.event_is_granted(e, grants)
            {
                continue;
            }
            self.webhooks.enqueue(e);
        }
    }

    fn event_is_granted(&self, e: &Event, grants: &[(UserId, Vec<String>)]) -> bool {
        use super::events::EventKind;
        let needs_chat = matches!(e.kind, EventKind::MessageReceived | EventKind::MessageRead);
        let w = self.world.read();
        grants.iter().any(|(user, scopes)| {
            w.can_act_for(*user, e.creator)
                && (!needs_chat || scopes.iter().any(|s| s == "read:chat"))
        })
    }

    /// Applies scheduled work that is due (purchases after their PPV). Returns events sent.
    pub fn tick(&self) -> usize {
        if self.faults.read().scheduled_paused {
            return 0;
        }
        let now = self.clock.now_ms();
        let events = self.world.write().run_due_purchases(now);
        self.dispatch(&events);
        events.len()
    }

    /// Runs `n` live steps now and dispatches their webhooks. Returns events sent.
    pub fn generate_activity(&self, n: usize) -> usize {
        let mut sent = self.tick();
        for _ in 0..n {
            let now = self.clock.now_ms();
            let events = {
                let mut w = self.world.write();
                let mut rng = self.live_rng.lock();
                scenario::live_step(
                    &mut w,
                    &mut rng,
                    &self.config.scenario,
                    &self.config.live,
                    now,
                )
            };
            sent += events.len();
            self.dispatch(&events);
        }
        sent
    }

    /// Maybe schedules the purchase of a just-sent PPV (purchase probability and delay
    /// from the scenario), using the live RNG.
    pub fn schedule_purchase(&self, w: &mut World, msg: u32, sent_at: i64) {
        let mut rng = self.live_rng.lock();
        scenario::schedule_purchase(w, &mut rng, &self.config.scenario, msg, sent_at);
    }

    fn chat_for(&self, creator: &str, fan: &str) -> Result<super::world::ChatId, HookError> {
        let c = self
            .resolve_user(creator)
            .filter(|c| self.world.read().user(*c).role == Role::Creator)
            .ok_or_else(|| HookError::UnknownUser(creator.to_string()))?;
        let f = self
            .resolve_user(fan)
            .ok_or_else(|| HookError::UnknownUser(fan.to_string()))?;
        self.world.read().chat_of(c, f).ok_or(HookError::NoChat)
    }

    /// Fan `fan` (uuid or handle) writes `text` to `creator` now: the message is stored and
    /// its `message.received` webhook dispatched, exactly as live activity does.
    pub fn fan_says(&self, creator: &str, fan: &str, text: &str) -> Result<uuid::Uuid, HookError> {
        if !(1..=5000).contains(&text.chars().count()) {
            return Err(HookError::Invalid(
                "text must be between 1 and 5000 characters",
            ));
        }
        let chat = self.chat_for(creator, fan)?;
        let uuid = uuid::Uuid::new_v4();
        let now = self.clock.now_ms();
        let (_, event) = self.world.write().fan_message(
            chat,
            uuid,
            Some(std::sync::Arc::from(text)),
            Vec::new(),
            None,
            now,
        );
        self.dispatch(&[event]);
        Ok(uuid)
    }

    /// The fan of a PPV message buys it now (purchase + `purchase.new` webhook). Its media
    /// then count as bought by that fan (`purchasedBy`).
    pub fn fan_buys(&self, message: &uuid::Uuid) -> Result<(), HookError> {
        let now = self.clock.now_ms();
        let event = {
            let mut w = self.world.write();
            let id = *w
                .msg_by_uuid
                .get(message)
                .ok_or(HookError::UnknownMessage)?;
            if !w.messages[id as usize].from_creator {
                return Err(HookError::NotPurchasable);
            }
            w.purchase(id, now).ok_or(HookError::NotPurchasable)?
        };
        self.dispatch(&[event]);
        Ok(())
    }

    /// The fan tips `creator` `amount` cents now, on `message` (a creator message of their
    /// chat; context "message") or else on a post (context "post"): the TIP message and
    /// the `tip.new` webhook, as live activity makes them. Returns the TIP message's uuid.
    pub fn fan_tips(
        &self,
        creator: &str,
        fan: &str,
        amount: u32,
        message: Option<&uuid::Uuid>,
    ) -> Result<uuid::Uuid, HookError> {
        if amount == 0 {
            return Err(HookError::Invalid(
                "amount must be a positive number of cents",
            ));
        }
        let chat = self.chat_for(creator, fan)?;
        let now = self.clock.now_ms();
        let hist = uuid::Uuid::new_v4();
        let event = {
            let mut w = self.world.write();
            let tipped = match message {
                None => None,
                Some(u) => {
                    let id = *w.msg_by_uuid.get(u).ok_or(HookError::UnknownMessage)?;
                    let m = &w.messages[id as usize];
                    if m.chat != chat || !m.from_creator || m.deleted {
                        return Err(HookError::NotTippable);
                    }
                    Some(id)
                }
            };
            let post = tipped.is_none().then(uuid::Uuid::new_v4);
            w.tip(chat, amount, now, tipped, post, hist)
        };
        self.dispatch(&[event]);
        Ok(hist)
    }

    /// Sets whether the creator side may message this fan (false → sends get the
    /// contactability 400).
    pub fn set_fan_contactable(&self, fan: &str, contactable: bool) -> Result<(), HookError> {
        let id = self
            .resolve_user(fan)
            .ok_or_else(|| HookError::UnknownUser(fan.to_string()))?;
        self.world.write().users[id as usize].contactable = contactable;
        Ok(())
    }

    /// Issues tokens for a user without the browser flow.
    pub fn issue_token(&self, user: UserId, scopes: &[&str]) -> TokenResponse {
        self.oauth.lock().issue_direct(
            &self.config.oauth.client_id,
            user,
            scopes.iter().map(|s| s.to_string()).collect(),
            self.clock.now_ms(),
            self.config.oauth.access_token_ttl_secs,
        )
    }

    pub fn record_request(&self, endpoint: &str, bucket: Option<&str>, status: u16) {
        let mut s = self.stats.lock();
        s.total_requests += 1;
        *s.by_endpoint.entry(endpoint.to_string()).or_default() += 1;
        if let Some(b) = bucket {
            *s.by_bucket.entry(b.to_string()).or_default() += 1;
        }
        *s.by_status.entry(status).or_default() += 1;
        if status == 429 {
            s.rate_limited += 1;
        }
    }

    /// Ground truth as JSON bytes: every creator's chats with all live messages (oldest
    /// first, documented message objects without injected faults), purchases and tips.
    pub fn truth_bytes(&self, only_creator: Option<UserId>) -> Vec<u8> {
        let w = self.world.read();
        let clean = Faults::default();
        let mut b = Vec::with_capacity(1 << 16);
        b.extend_from_slice(b"{\"epoch\":");
        render::write_iso(&mut b, self.config.epoch.timestamp_millis());
        b.extend_from_slice(b",\"now\":");
        render::write_iso(&mut b, self.clock.now_ms());
        b.extend_from_slice(b",\"creators\":[");
        let creators: Vec<UserId> = w
            .creators
            .iter()
            .copied()
            .filter(|c| only_creator.is_none_or(|o| o == *c))
            .collect();
        for (ci, &c) in creators.iter().enumerate() {
            if ci > 0 {
                b.push(b',');
            }
            let u = w.user(c);
            b.extend_from_slice(b"{\"user\":");
            render::write_user(&mut b, &w, c, None);
            b.extend_from_slice(b",\"email\":");
            render::write_str(&mut b, &u.email);
            b.extend_from_slice(b",\"chats\":[");
            let mut chats: Vec<u32> = w
                .creator_data
                .get(&c)
                .map(|cd| cd.by_fan.values().copied().collect())
                .unwrap_or_default();
            chats.sort_unstable();
            for (i, chat) in chats.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                let ch = &w.chats[*chat as usize];
                let fan = w.user(ch.fan);
                b.extend_from_slice(b"{\"fan\":");
                render::write_user(&mut b, &w, ch.fan, ch.nickname.as_deref());
                b.extend_from_slice(b",\"contactable\":");
                b.extend_from_slice(if fan.contactable { b"true" } else { b"false" });
                b.extend_from_slice(b",\"row\":");
                render::write_chat_row(&mut b, &w, *chat, &clean);
                b.extend_from_slice(b",\"messages\":[");
                for (j, m) in ch.messages.iter().enumerate() {
                    if j > 0 {
                        b.push(b',');
                    }
                    let msg = &w.messages[*m as usize];
                    render::write_message(&mut b, &w, msg, &clean);
                    if msg.deleted {
                        // Truth only: the API shows a deleted message as it was.
                        b.pop();
                        b.extend_from_slice(b",\"deleted\":true}");
                    }
                }
                b.extend_from_slice(b"]}");
            }
            b.extend_from_slice(b"]}");
        }
        b.extend_from_slice(b"],\"teamMembers\":");
        let members: Vec<serde_json::Value> = w
            .users
            .iter()
            .filter(|u| u.role == Role::TeamMember)
            .map(|u| {
                serde_json::json!({
                    "uuid": u.uuid, "handle": u.handle, "displayName": u.display_name,
                    "email": u.email, "isAdmin": u.is_admin,
                    "creatorAccess": u.creator_access.iter().map(|(c, r)| serde_json::json!({
                        "uuid": w.user(*c).uuid, "role": r })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let _ = serde_json::to_writer(&mut b, &members);
        b.extend_from_slice(b",\"purchases\":");
        let purchases: Vec<serde_json::Value> = w
            .purchases
            .iter()
            .filter(|p| {
                let chat = &w.chats[w.messages[p.message as usize].chat as usize];
                only_creator.is_none_or(|o| o == chat.creator)
            })
            .map(|p| {
                let m = &w.messages[p.message as usize];
                let chat = &w.chats[m.chat as usize];
                serde_json::json!({
                    "messageUuid": m.uuid,
                    "creatorUuid": w.user(chat.creator).uuid,
                    "fanUuid": w.user(chat.fan).uuid,
                    "price": p.price,
                    "purchasedAt": render::iso(p.at),
                    "sentByUserId": m.sent_by.map(|u| w.user(u).uuid),
                })
            })
            .collect();
        let _ = serde_json::to_writer(&mut b, &purchases);
        b.extend_from_slice(b",\"tips\":");
        let tips: Vec<serde_json::Value> = w
            .tips
            .iter()
            .filter(|t| only_creator.is_none_or(|o| o == w.chats[t.chat as usize].creator))
            .map(|t| {
                let chat = &w.chats[t.chat as usize];
                serde_json::json!({
                    "creatorUuid": w.user(chat.creator).uuid,
                    "fanUuid": w.user(chat.fan).uuid,
                    "amount": t.amount,
                    "at": render::iso(t.at),
                    "context": if t.tipped_message.is_some() { "message" } else { "post" },
                    "messageUuid": t.tipped_message.map(|m| w.messages[m as usize].uuid),
                    "postUuid": t.post_uuid,
                    "tipMessageUuid": w.messages[t.history_message as usize].uuid,
                })
            })
            .collect();
        let _ = serde_json::to_writer(&mut b, &tips);
        b.extend_from_slice(b",\"pendingPurchases\":");
        b.extend_from_slice(w.pending_purchases.len().to_string().as_bytes());
        b.push(b'}');
        b
    }

    /// Ground truth as a JSON value (see [`Sim::truth_bytes`]).
    pub fn truth(&self) -> serde_json::Value {
        serde_json::from_slice(&self.truth_bytes(None)).unwrap_or(serde_json::Value::Null)
    }
}

fn find_user(w: &World, who: &str) -> Option<UserId> {
    if let Ok(u) = who.parse::<uuid::Uuid>() {
        return w.user_id(&u);
    }
    let h = who.trim_start_matches('@');
    w.users
        .iter()
        .position(|u| u.handle == h)
        .map(|i| i as UserId)
}
