//! Control and truth API under the reserved prefix (default `/_sim`), mounted only in test
//! and demo modes. Not part of Fanvue: it lets tests and the demo flip faults, move the
//! clock, drive activity and read the ground truth. Requests here are never rate-limited
//! or counted as API traffic.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::events::{self, Event, EventKind};
use super::faults::{Faults, FaultsPatch};
use super::render;
use super::state::{HookError, Sim, Stats};
use super::world::Role;

pub fn configure(cfg: &mut web::ServiceConfig, prefix: &str) {
    use web::{delete, get, post, put};
    cfg.service(
        web::scope(prefix)
            .route("/info", get().to(info))
            .route("/stats", get().to(stats))
            .route("/stats/reset", post().to(stats_reset))
            .route("/faults", get().to(faults_get))
            .route("/faults", post().to(faults_patch))
            .route("/faults", put().to(faults_put))
            .route("/clock", get().to(clock_get))
            .route("/clock/advance", post().to(clock_advance))
            .route("/clock/freeze", post().to(clock_freeze))
            .route("/truth", get().to(truth))
            .route("/truth/creators/{uuid}", get().to(truth_creator))
            .route("/truth/fan-messages", get().to(truth_fan_messages))
            .route("/webhooks/endpoints", get().to(endpoints))
            .route("/webhooks/endpoints", post().to(endpoint_add))
            .route("/webhooks/endpoints/{id}", delete().to(endpoint_delete))
            .route("/webhooks/deliveries", get().to(deliveries))
            .route("/webhooks/deliveries", delete().to(deliveries_clear))
            .route("/webhooks/test", post().to(webhook_test))
            .route("/oauth/auto-approve", post().to(auto_approve))
            .route("/oauth/revoke", post().to(revoke))
            .route("/oauth/tokens", post().to(issue_tokens))
            .route("/activity", post().to(activity))
            .route("/tick", post().to(tick))
            .route("/fans/{uuid}", post().to(fan_update))
            .route("/fans/{uuid}/message", post().to(fan_says))
            .route("/fans/{uuid}/tip", post().to(fan_tips))
            .route("/messages/{uuid}/purchase", post().to(fan_buys))
            .route("/media/{creator}", get().to(media_library)),
    );
}

fn bad(msg: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({ "error": msg }))
}

async fn info(sim: web::Data<Sim>) -> HttpResponse {
    let w = sim.world.read();
    let base = sim.base_url.get().cloned().unwrap_or_default();
    let creators: Vec<_> = w
        .creators
        .iter()
        .map(|c| {
            let u = w.user(*c);
            serde_json::json!({"uuid": u.uuid, "handle": u.handle, "displayName": u.display_name,
                               "email": u.email, "agency": u.agency})
        })
        .collect();
    let members: Vec<_> = w
        .users
        .iter()
        .filter(|u| u.role == Role::TeamMember)
        .map(|u| {
            serde_json::json!({"uuid": u.uuid, "handle": u.handle, "displayName": u.display_name,
                               "isAdmin": u.is_admin, "agency": u.agency})
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({
        "baseUrl": base,
        "apiBaseUrl": format!("{base}{}", sim.config.api_base_path),
        "authorizeUrl": format!("{base}/oauth2/auth"),
        "tokenUrl": format!("{base}/oauth2/token"),
        "clientId": sim.config.oauth.client_id,
        "clientSecret": sim.config.oauth.client_secret,
        "webhookSecret": sim.config.webhooks.signing_secret,
        "apiVersion": sim.config.api.current_version,
        "seed": sim.config.seed,
        "creators": creators,
        "teamMembers": members,
        "chats": w.chats.len(),
        "messages": w.messages.len(),
    }))
}

async fn stats(sim: web::Data<Sim>) -> HttpResponse {
    let mut s = sim.stats.lock().clone();
    s.webhooks_pending = sim.webhooks.pending();
    HttpResponse::Ok().json(s)
}

async fn stats_reset(sim: web::Data<Sim>) -> HttpResponse {
    *sim.stats.lock() = Stats::default();
    sim.limiter.reset();
    HttpResponse::NoContent().finish()
}

async fn faults_get(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.faults.get())
}

async fn faults_patch(sim: web::Data<Sim>, body: web::Json<FaultsPatch>) -> HttpResponse {
    HttpResponse::Ok().json(sim.faults.patch(body.into_inner()))
}

async fn faults_put(sim: web::Data<Sim>, body: web::Json<Faults>) -> HttpResponse {
    sim.faults.set(body.into_inner());
    HttpResponse::Ok().json(sim.faults.get())
}

fn clock_json(sim: &Sim) -> serde_json::Value {
    let now = sim.clock.now_ms();
    serde_json::json!({"now": render::iso(now), "nowUnixMs": now, "frozen": sim.clock.is_frozen()})
}

async fn clock_get(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(clock_json(&sim))
}

#[derive(Deserialize)]
struct Advance {
    seconds: f64,
}

async fn clock_advance(sim: web::Data<Sim>, body: web::Json<Advance>) -> HttpResponse {
    sim.clock.advance_ms((body.seconds * 1000.0) as i64);
    sim.tick();
    HttpResponse::Ok().json(clock_json(&sim))
}

#[derive(Deserialize)]
struct Freeze {
    frozen: bool,
}

async fn clock_freeze(sim: web::Data<Sim>, body: web::Json<Freeze>) -> HttpResponse {
    sim.clock.set_frozen(body.frozen);
    HttpResponse::Ok().json(clock_json(&sim))
}

async fn truth(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(sim.truth_bytes(None))
}

/// `GET {control}/truth/fan-messages`: the uuids of every message a fan sent, for a
/// client that waits for a mirror to catch up without reading the whole truth.
async fn truth_fan_messages(sim: web::Data<Sim>) -> HttpResponse {
    let uuids: Vec<uuid::Uuid> = {
        let w = sim.world.read();
        w.messages
            .iter()
            .filter(|m| !m.from_creator)
            .map(|m| m.uuid)
            .collect()
    };
    HttpResponse::Ok().json(uuids)
}

async fn truth_creator(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    let who = req.match_info().get("uuid").unwrap_or_default();
    match sim.resolve_user(who) {
        Some(c) if sim.world.read().user(c).role == Role::Creator => HttpResponse::Ok()
            .content_type("application/json")
            .body(sim.truth_bytes(Some(c))),
        _ => HttpResponse::NotFound().json(serde_json::json!({"error": "unknown creator"})),
    }
}

async fn endpoints(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.webhooks.endpoints())
}

#[derive(Deserialize)]
struct NewEndpoint {
    url: String,
    #[serde(default)]
    events: Vec<String>,
}

async fn endpoint_add(sim: web::Data<Sim>, body: web::Json<NewEndpoint>) -> HttpResponse {
    let b = body.into_inner();
    let mut kinds = Vec::new();
    for e in &b.events {
        match EventKind::parse(e) {
            Some(k) => kinds.push(k),
            None => return bad(&format!("unknown event {e}")),
        }
    }
    if url::Url::parse(&b.url).is_err() {
        return bad("url is not a URL");
    }
    let id = sim.webhooks.register(b.url, kinds);
    HttpResponse::Created().json(serde_json::json!({ "id": id }))
}

async fn endpoint_delete(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    let id = req
        .match_info()
        .get("id")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if sim.webhooks.unregister(id) {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::NotFound().json(serde_json::json!({"error": "unknown endpoint"}))
    }
}

async fn deliveries(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.webhooks.deliveries())
}

async fn deliveries_clear(sim: web::Data<Sim>) -> HttpResponse {
    sim.webhooks.clear_log();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct TestEvent {
    event: String,
}

/// Sends a sample payload of a kind (the Events tab's "Test" button).
async fn webhook_test(sim: web::Data<Sim>, body: web::Json<TestEvent>) -> HttpResponse {
    let Some(kind) = EventKind::parse(&body.event) else {
        return bad("unknown event");
    };
    let event = {
        let w = sim.world.read();
        let Some(&chat_msg) = w.chats.first().and_then(|c| {
            c.messages
                .iter()
                .find(|m| !w.messages[**m as usize].from_creator)
        }) else {
            return bad("world has no fan message to sample");
        };
        let chat = w.messages[chat_msg as usize].chat;
        let (creator, fan) = (w.chats[chat as usize].creator, w.chats[chat as usize].fan);
        let now = sim.clock.now_ms();
        // Samples carry the same documented fields as real events of their kind, so a
        // receiver tested with them sees nothing new when real traffic starts.
        let creator_uuid = w.user(creator).uuid;
        let fan_uuid = w.user(fan).uuid;
        let ppv = w.chats[chat as usize]
            .messages
            .iter()
            .map(|m| &w.messages[*m as usize])
            .find(|m| m.price.is_some());
        let tipped = w.chats[chat as usize]
            .messages
            .iter()
            .map(|m| &w.messages[*m as usize])
            .find(|m| m.from_creator);
        let body = match kind {
            EventKind::MessageReceived => {
                let mut e = events::message_received(&w, chat_msg);
                e.body["timestamp"] = serde_json::json!(render::iso(now));
                e.body
            }
            EventKind::MessageRead => events::message_read(&w, chat, 1, now).body,
            EventKind::Purchase => serde_json::json!({
                "routeUuid": ppv.map(|m| m.uuid).unwrap_or_else(uuid::Uuid::new_v4),
                "price": ppv.and_then(|m| m.price).unwrap_or(500),
                "recipientUuid": creator_uuid,
                "sender": events::sender(&w, fan),
                "timestamp": render::iso(now),
            }),
            EventKind::Tip => {
                let mut b = serde_json::json!({
                    "recipientUuid": creator_uuid,
                    "senderUuid": fan_uuid,
                    "price": 500,
                    "sender": events::sender(&w, fan),
                    "timestamp": render::iso(now),
                });
                if let Some(obj) = b.as_object_mut() {
                    match tipped {
                        Some(m) => {
                            obj.insert("context".into(), "message".into());
                            obj.insert("messageUuid".into(), serde_json::json!(m.uuid));
                        }
                        None => {
                            obj.insert("context".into(), "post".into());
                            obj.insert("postUuid".into(), serde_json::json!(uuid::Uuid::new_v4()));
                        }
                    }
                }
                b
            }
            EventKind::NewFollower => serde_json::json!({
                "recipientUuid": creator_uuid,
                "sender": events::sender(&w, fan),
                "timestamp": render::iso(now),
            }),
            EventKind::NewSubscriber => serde_json::json!({
                "price": 999,
                "recipientUuid": creator_uuid,
                "sender": events::sender(&w, fan),
                "timestamp": render::iso(now),
            }),
        };
        Event::new(kind, creator, body)
    };
    sim.dispatch(&[event]);
    HttpResponse::Accepted().finish()
}

#[derive(Deserialize)]
struct WhoBody {
    user: Option<String>,
}

async fn auto_approve(sim: web::Data<Sim>, body: web::Json<WhoBody>) -> HttpResponse {
    let user = match &body.user {
        None => None,
        Some(u) => match sim.resolve_user(u) {
            Some(id) => Some(id),
            None => return bad("unknown user"),
        },
    };
    sim.oauth.lock().auto_approve = user;
    HttpResponse::NoContent().finish()
}

async fn revoke(sim: web::Data<Sim>, body: web::Json<WhoBody>) -> HttpResponse {
    let user = match &body.user {
        None => None,
        Some(u) => match sim.resolve_user(u) {
            Some(id) => Some(id),
            None => return bad("unknown user"),
        },
    };
    let n = sim.oauth.lock().revoke(user);
    HttpResponse::Ok().json(serde_json::json!({ "revokedGrants": n }))
}

#[derive(Deserialize)]
struct TokensBody {
    user: String,
    scopes: Vec<String>,
}

async fn issue_tokens(sim: web::Data<Sim>, body: web::Json<TokensBody>) -> HttpResponse {
    let Some(user) = sim.resolve_user(&body.user) else {
        return bad("unknown user");
    };
    let scopes: Vec<&str> = body.scopes.iter().map(String::as_str).collect();
    HttpResponse::Ok().json(sim.issue_token(user, &scopes))
}

#[derive(Deserialize)]
struct ActivityBody {
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

async fn activity(sim: web::Data<Sim>, body: web::Json<ActivityBody>) -> HttpResponse {
    let n = sim.generate_activity(body.count.min(100_000));
    HttpResponse::Ok().json(serde_json::json!({ "events": n }))
}

async fn tick(sim: web::Data<Sim>) -> HttpResponse {
    let n = sim.tick();
    HttpResponse::Ok().json(serde_json::json!({ "events": n }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FanUpdate {
    contactable: Option<bool>,
    blocked: Option<bool>,
    online: Option<bool>,
}

async fn fan_update(
    sim: web::Data<Sim>,
    req: HttpRequest,
    body: web::Json<FanUpdate>,
) -> HttpResponse {
    let who = req.match_info().get("uuid").unwrap_or_default();
    let Some(id) = sim.resolve_user(who) else {
        return bad("unknown user");
    };
    let mut w = sim.world.write();
    let u = &mut w.users[id as usize];
    if let Some(v) = body.contactable {
        u.contactable = v;
    }
    if let Some(v) = body.blocked {
        u.blocked = v;
    }
    if let Some(v) = body.online {
        u.online = v;
    }
    HttpResponse::NoContent().finish()
}

fn hook_error(e: HookError) -> HttpResponse {
    match e {
        HookError::UnknownUser(_) | HookError::NoChat | HookError::UnknownMessage => {
            HttpResponse::NotFound().json(serde_json::json!({ "error": e.to_string() }))
        }
        _ => bad(&e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaysBody {
    creator: String,
    text: String,
}

/// `POST {control}/fans/{fan}/message` `{creator, text}`: the fan writes now.
async fn fan_says(
    sim: web::Data<Sim>,
    req: HttpRequest,
    body: web::Json<SaysBody>,
) -> HttpResponse {
    let fan = req.match_info().get("uuid").unwrap_or_default();
    match sim.fan_says(&body.creator, fan, &body.text) {
        Ok(u) => HttpResponse::Created().json(serde_json::json!({ "messageUuid": u })),
        Err(e) => hook_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TipBody {
    creator: String,
    amount: u32,
    #[serde(default)]
    message_uuid: Option<uuid::Uuid>,
}

/// `POST {control}/fans/{fan}/tip` `{creator, amount, messageUuid?}`.
async fn fan_tips(sim: web::Data<Sim>, req: HttpRequest, body: web::Json<TipBody>) -> HttpResponse {
    let fan = req.match_info().get("uuid").unwrap_or_default();
    match sim.fan_tips(&body.creator, fan, body.amount, body.message_uuid.as_ref()) {
        Ok(u) => HttpResponse::Created().json(serde_json::json!({ "tipMessageUuid": u })),
        Err(e) => hook_error(e),
    }
}

/// `POST {control}/messages/{uuid}/purchase`: the fan buys that PPV now.
async fn fan_buys(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    let Some(msg) = req
        .match_info()
        .get("uuid")
        .and_then(|s| s.parse::<uuid::Uuid>().ok())
    else {
        return bad("message uuid expected");
    };
    match sim.fan_buys(&msg) {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "messageUuid": msg })),
        Err(e) => hook_error(e),
    }
}

/// `GET {control}/media/{creator}`: the creator's whole library (truth, unpaged).
async fn media_library(sim: web::Data<Sim>, req: HttpRequest) -> HttpResponse {
    let who = req.match_info().get("creator").unwrap_or_default();
    let Some(c) = sim.resolve_user(who) else {
        return HttpResponse::NotFound().json(serde_json::json!({"error": "unknown creator"}));
    };
    let w = sim.world.read();
    let items: Vec<serde_json::Value> = w
        .creator_data
        .get(&c)
        .map(|cd| {
            cd.media
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "uuid": m.uuid,
                        "mediaType": m.media_type.as_str(),
                        "name": m.name,
                        "folderName": m.folder_name,
                        "recommendedPrice": m.recommended_price,
                        "usage": m.usage.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    HttpResponse::Ok().json(items)
}
