//! Chat-level routes: list (filters, search, sort, pagination), unread counts, chat update,
//! templates and smart lists (custom lists: `lists.rs`). Listing walks the per-creator recency index, so the
//! default sort costs O(page), not O(inbox).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{
    ApiError, ApiResult, Ctx, RouteSpec, first, inbox, json_bytes, page_size, path_uuid,
    query_pairs, run, write_pagination,
};
use crate::sim::state::Sim;
use crate::sim::world::{Chat, ChatId, Role, User, UserId, World};
use crate::sim::{events, render};

const LIST: RouteSpec = RouteSpec {
    name: "GET /chats",
    scopes: &["read:chat"],
    creator_scoped: false,
};
const LIST_C: RouteSpec = RouteSpec {
    name: "GET /creators/{creatorUserUuid}/chats",
    scopes: &["read:chat", "read:creator"],
    creator_scoped: true,
};
const UNREAD: RouteSpec = RouteSpec {
    name: "GET /chats/unread",
    scopes: &["read:chat"],
    creator_scoped: false,
};
const UPDATE: RouteSpec = RouteSpec {
    name: "PATCH /chats/{userUuid}",
    scopes: &["write:chat"],
    creator_scoped: false,
};
const UPDATE_C: RouteSpec = RouteSpec {
    name: "PATCH /creators/{creatorUserUuid}/chats/{userUuid}",
    scopes: &["write:chat", "write:creator"],
    creator_scoped: true,
};
const TEMPLATES: RouteSpec = RouteSpec {
    name: "GET /chats/templates",
    scopes: &["read:chat"],
    creator_scoped: false,
};
const SMART: RouteSpec = RouteSpec {
    name: "GET /chats/lists/smart",
    scopes: &["read:chat", "read:fan"],
    creator_scoped: false,
};

const FILTERS: &[&str] = &[
    "unread",
    "online",
    "subscribed_to",
    "not_muted",
    "subscribers",
    "followers",
    "recent_subscribers",
    "not_answered",
    "spent_more_than_50",
    "on_free_trial",
    "has_tipped",
    "spenders",
    "exclude_creators",
];
const PUBLIC_FILTERS: &[&str] = &["unread", "online", "subscribed_to", "not_muted"];
const SMART_LISTS: &[(&str, &str)] = &[
    ("subscribers", "Subscribers"),
    ("auto_renewing", "Auto-renewing"),
    ("non_renewing", "Non-renewing"),
    ("followers", "Followers"),
    ("free_trial_subscribers", "Free trial subscribers"),
    ("expired_subscribers", "Expired subscribers"),
    ("spent_more_than_50", "Spent more than $50"),
];
const SORTS: &[&str] = &[
    "most_recent_messages",
    "online_now",
    "most_unanswered_chats",
];

fn matches(name: &str, w: &World, chat: &Chat, fan: &User, now: i64) -> bool {
    let last_from_fan = chat
        .messages
        .last()
        .is_some_and(|m| !w.messages[*m as usize].from_creator);
    match name {
        "unread" => chat.unread > 0 || chat.marked_unread,
        "online" => fan.online,
        "subscribed_to" => false,
        "not_muted" => !chat.is_muted,
        "subscribers" => fan.is_subscriber,
        "auto_renewing" => fan.is_subscriber && !fan.on_free_trial,
        "non_renewing" => fan.is_subscriber && fan.on_free_trial,
        "followers" => fan.is_follower,
        "recent_subscribers" => fan.subscribed_at.is_some_and(|t| now - t < 30 * 86_400_000),
        "not_answered" => last_from_fan,
        "spent_more_than_50" => chat.spent > 5_000,
        "on_free_trial" | "free_trial_subscribers" => fan.on_free_trial,
        "has_tipped" => chat.tipped,
        "spenders" => chat.spent > 0,
        "exclude_creators" => fan.role != Role::Creator,
        "expired_subscribers" => !fan.is_subscriber && fan.subscribed_at.is_some(),
        _ => true,
    }
}

pub async fn list(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &LIST, |ctx| list_body(&sim, &req, ctx)).await
}

pub async fn list_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &LIST_C, |ctx| list_body(&sim, &req, ctx)).await
}

fn list_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx) -> ApiResult {
    let q = query_pairs(req);
    let mut errors = Vec::new();
    let (page, size) = page_size(&q, &mut errors);
    let mut conds: Vec<String> = Vec::new();
    for (k, v) in &q {
        match k.as_str() {
            "filter" | "filter[]" => {
                if FILTERS.contains(&v.as_str()) {
                    conds.push(v.clone());
                } else {
                    errors.push(format!("filter must be one of: {}", FILTERS.join(", ")));
                }
            }
            "smartListIds" | "smartListIds[]" => {
                if SMART_LISTS.iter().any(|(id, _)| id == v) {
                    conds.push(v.clone());
                } else {
                    errors.push("smartListIds contains an unknown smart list".into());
                }
            }
            _ => {}
        }
    }
    let search = first(&q, "search").map(str::to_lowercase);
    if search.as_ref().is_some_and(|s| s.chars().count() > 100) {
        errors.push("search must be at most 100 characters".into());
    }
    let sort = first(&q, "sortBy").unwrap_or("most_recent_messages");
    if !SORTS.contains(&sort) {
        errors.push(format!("sortBy must be one of: {}", SORTS.join(", ")));
    }
    let custom = match first(&q, "customListId").map(str::parse::<uuid::Uuid>) {
        None => None,
        Some(Ok(u)) => Some(u),
        Some(Err(_)) => {
            errors.push("customListId must be a UUID".into());
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let creator_only = conds.iter().any(|c| !PUBLIC_FILTERS.contains(&c.as_str()));
    if creator_only && ctx.creator.is_none() {
        return Err(ApiError::Forbidden(
            "This filter is only available to creators",
        ));
    }
    let now = sim.clock.now_ms();
    let w = sim.world.read();
    let faults = sim.faults.read().clone();
    let mut out = Vec::with_capacity(size * 700 + 64);
    out.extend_from_slice(b"{\"data\":[");
    let mut returned = 0usize;
    let mut has_more = false;
    if let Some(cd) = ctx.creator.and_then(|c| w.creator_data.get(&c)) {
        let members: Option<&Vec<UserId>> = match custom {
            Some(u) => match cd.custom_lists.iter().find(|l| l.uuid == u) {
                Some(l) => Some(&l.members),
                None => return Err(ApiError::NotFound("Custom list not found".into())),
            },
            None => None,
        };
        let keep = |chat: ChatId| {
            let c = &w.chats[chat as usize];
            let fan = w.user(c.fan);
            conds.iter().all(|f| matches(f, &w, c, fan, now))
                && members.is_none_or(|m| m.contains(&c.fan))
                && search.as_ref().is_none_or(|s| {
                    fan.handle.to_lowercase().contains(s)
                        || fan.display_name.to_lowercase().contains(s)
                        || c.nickname
                            .as_ref()
                            .is_some_and(|n| n.to_lowercase().contains(s))
                })
        };
        let ordered: Box<dyn Iterator<Item = ChatId>> = match sort {
            "most_recent_messages" => Box::new(cd.by_recent.iter().map(|(_, c)| *c)),
            other => {
                let mut all: Vec<ChatId> = cd.by_recent.iter().map(|(_, c)| *c).collect();
                if other == "online_now" {
                    all.sort_by_key(|c| !w.user(w.chats[*c as usize].fan).online);
                } else {
                    all.sort_by_key(|c| std::cmp::Reverse(w.chats[*c as usize].unread));
                }
                Box::new(all.into_iter())
            }
        };
        let skip = (page - 1) * size;
        for chat in ordered.filter(|c| keep(*c)).skip(skip) {
            if returned == size {
                has_more = true;
                break;
            }
            if returned > 0 {
                out.push(b',');
            }
            render::write_chat_row(&mut out, &w, chat, &faults);
            returned += 1;
        }
    }
    out.extend_from_slice(b"],");
    write_pagination(&mut out, page, returned, has_more);
    out.push(b'}');
    Ok(json_bytes(StatusCode::OK, out))
}

pub async fn unread(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &UNREAD, |ctx| {
        let w = sim.world.read();
        let (mut chats, mut msgs) = (0u64, 0u64);
        let mut notes = Default::default();
        if let Some(cd) = ctx.creator.and_then(|c| w.creator_data.get(&c)) {
            for chat in cd.by_fan.values() {
                let c = &w.chats[*chat as usize];
                if c.unread > 0 || c.marked_unread {
                    chats += 1;
                }
                msgs += u64::from(c.unread);
            }
            notes = cd.notifications;
        }
        Ok(HttpResponse::Ok().json(serde_json::json!({
            "unreadChatsCount": chats,
            "unreadMessagesCount": msgs,
            "unreadNotifications": notes,
        })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    is_read: Option<bool>,
    is_muted: Option<bool>,
    #[serde(default, with = "double_option")]
    nickname: Option<Option<String>>,
}

/// Distinguishes an absent `nickname` from an explicit `null` (which clears it).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

pub async fn update(req: HttpRequest, sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    run(&req, &sim, &UPDATE, |ctx| {
        update_body(&sim, &req, ctx, &body)
    })
    .await
}

pub async fn update_for_creator(
    req: HttpRequest,
    sim: web::Data<Sim>,
    body: web::Bytes,
) -> HttpResponse {
    run(&req, &sim, &UPDATE_C, |ctx| {
        update_body(&sim, &req, ctx, &body)
    })
    .await
}

fn update_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx, body: &[u8]) -> ApiResult {
    let fan = path_uuid(req, "userUuid")?;
    let b: UpdateBody = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| ApiError::Validation(vec![e.to_string()]))?;
    if let Some(Some(n)) = &b.nickname
        && n.chars().count() > 30
    {
        return Err(ApiError::Validation(vec![
            "nickname must be at most 30 characters".into(),
        ]));
    }
    let creator = inbox(ctx)?;
    let now = sim.clock.now_ms();
    let event = {
        let mut w = sim.world.write();
        let chat = w
            .user_id(&fan)
            .and_then(|f| w.chat_of(creator, f))
            .ok_or_else(|| ApiError::NotFound("Chat not found".into()))?;
        let c = &mut w.chats[chat as usize];
        if let Some(m) = b.is_muted {
            c.is_muted = m;
        }
        if let Some(n) = b.nickname {
            c.nickname = n;
        }
        match b.is_read {
            Some(true) => {
                let n = w.mark_chat_read(chat);
                (n > 0 && sim.config.api.read_webhook_on_api_reads)
                    .then(|| events::message_read(&w, chat, n, now))
            }
            Some(false) => {
                w.chats[chat as usize].marked_unread = true;
                None
            }
            None => None,
        }
    };
    if let Some(e) = event {
        sim.dispatch(&[e]);
    }
    Ok(HttpResponse::NoContent().finish())
}

pub async fn templates(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &TEMPLATES, |ctx| {
        let q = query_pairs(&req);
        let mut errors = Vec::new();
        let (page, size) = page_size(&q, &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let folder = first(&q, "folderName").map(str::to_lowercase);
        let w = sim.world.read();
        let all: Vec<&crate::sim::world::Template> = ctx
            .creator
            .and_then(|c| w.creator_data.get(&c))
            .map(|cd| {
                cd.templates
                    .iter()
                    .filter(|t| {
                        folder.as_ref().is_none_or(|f| {
                            t.folder_name
                                .as_ref()
                                .is_some_and(|n| n.to_lowercase().contains(f))
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let data: Vec<_> = all.iter().skip((page - 1) * size).take(size).collect();
        let has_more = all.len() > page * size;
        Ok(HttpResponse::Ok().json(serde_json::json!({
            "data": data,
            "pagination": {"page": page, "size": data.len(), "hasMore": has_more},
        })))
    })
    .await
}

pub async fn smart_lists(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &SMART, |ctx| {
        let now = sim.clock.now_ms();
        let w = sim.world.read();
        let cd = ctx.creator.and_then(|c| w.creator_data.get(&c));
        let lists: Vec<serde_json::Value> = SMART_LISTS
            .iter()
            .map(|(id, name)| {
                let count = cd
                    .map(|cd| {
                        cd.by_fan
                            .values()
                            .filter(|chat| {
                                let c = &w.chats[**chat as usize];
                                matches(id, &w, c, w.user(c.fan), now)
                            })
                            .count()
                    })
                    .unwrap_or(0);
                serde_json::json!({"name": name, "uuid": id, "count": count})
            })
            .collect();
        Ok(HttpResponse::Ok().json(lists))
    })
    .await
}
