//! Message routes: per-chat history (newest first, `markAsRead`), the batch endpoint
//! (default and incremental modes, per-key errors), send, and delete.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use uuid::Uuid;

use super::{
    ApiError, ApiResult, Ctx, RouteSpec, first, inbox, json_bytes, page_size, path_uuid,
    query_pairs, run, write_pagination,
};
use crate::sim::state::Sim;
use crate::sim::world::{MsgType, NewMessage, WorldError};
use crate::sim::{events, render};

const LIST: RouteSpec = RouteSpec {
    name: "GET /chats/{userUuid}/messages",
    scopes: &["read:chat"],
    creator_scoped: false,
};
const LIST_C: RouteSpec = RouteSpec {
    name: "GET /creators/{creatorUserUuid}/chats/{userUuid}/messages",
    scopes: &["read:chat", "read:creator"],
    creator_scoped: true,
};
const BATCH: RouteSpec = RouteSpec {
    name: "POST /chats/messages/batch",
    scopes: &["read:chat"],
    creator_scoped: false,
};
const BATCH_C: RouteSpec = RouteSpec {
    name: "POST /creators/{creatorUserUuid}/chats/messages/batch",
    scopes: &["read:chat", "read:creator"],
    creator_scoped: true,
};
const SEND: RouteSpec = RouteSpec {
    name: "POST /chats/{userUuid}/message",
    scopes: &["write:chat"],
    creator_scoped: false,
};
const SEND_C: RouteSpec = RouteSpec {
    name: "POST /creators/{creatorUserUuid}/chats/{userUuid}/message",
    scopes: &["write:chat", "write:creator"],
    creator_scoped: true,
};
const DELETE: RouteSpec = RouteSpec {
    name: "DELETE /chats/{userUuid}/messages/{messageUuid}",
    scopes: &["write:chat"],
    creator_scoped: false,
};
const DELETE_C: RouteSpec = RouteSpec {
    name: "DELETE /creators/{creatorUserUuid}/chats/{userUuid}/messages/{messageUuid}",
    scopes: &["write:chat", "write:creator"],
    creator_scoped: true,
};

const NO_CONVERSATION: &str = "No conversation found with the given user";
/// The contactability 400 (`{message}`): not subscribed, blocked, or otherwise unreachable.
pub const NOT_CONTACTABLE: &str = "This user cannot be messaged";

pub async fn list(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &LIST, |ctx| list_body(&sim, &req, ctx)).await
}

pub async fn list_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &LIST_C, |ctx| list_body(&sim, &req, ctx)).await
}

fn list_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx) -> ApiResult {
    let fan = path_uuid(req, "userUuid")?;
    let q = query_pairs(req);
    let mut errors = Vec::new();
    let (page, size) = page_size(&q, &mut errors);
    let mark = match first(&q, "markAsRead") {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => {
            errors.push("markAsRead must be a boolean".into());
            true
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let creator = inbox(ctx)?;
    let chat = {
        let w = sim.world.read();
        w.user_id(&fan).and_then(|f| w.chat_of(creator, f))
    }
    .ok_or_else(|| ApiError::NotFound(NO_CONVERSATION.into()))?;
    // Most reads find nothing unread; checking under the read lock first keeps those from
    // taking the world's write lock, which would stall concurrent readers.
    let needs_mark = mark && {
        let w = sim.world.read();
        let c = &w.chats[chat as usize];
        c.unread > 0 || c.marked_unread
    };
    if needs_mark {
        let now = sim.clock.now_ms();
        let event = {
            let mut w = sim.world.write();
            let n = w.mark_chat_read(chat);
            (n > 0 && sim.config.api.read_webhook_on_api_reads)
                .then(|| events::message_read(&w, chat, n, now))
        };
        if let Some(e) = event {
            sim.dispatch(&[e]);
        }
    }
    let w = sim.world.read();
    let faults = sim.faults.read().clone();
    let msgs = &w.chats[chat as usize].messages;
    let skip = (page - 1) * size;
    let end = msgs.len().saturating_sub(skip);
    let start = end.saturating_sub(size);
    let mut out = Vec::with_capacity((end - start) * 800 + 64);
    out.extend_from_slice(b"{\"data\":[");
    for (i, m) in msgs[start..end].iter().rev().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        render::write_message(&mut out, &w, &w.messages[*m as usize], &faults);
    }
    out.extend_from_slice(b"],");
    write_pagination(&mut out, page, end - start, start > 0);
    out.push(b'}');
    Ok(json_bytes(StatusCode::OK, out))
}

pub async fn batch(req: HttpRequest, sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    run(&req, &sim, &BATCH, |ctx| batch_body(&sim, ctx, &body)).await
}

pub async fn batch_for_creator(
    req: HttpRequest,
    sim: web::Data<Sim>,
    body: web::Bytes,
) -> HttpResponse {
    run(&req, &sim, &BATCH_C, |ctx| batch_body(&sim, ctx, &body)).await
}

/// Validated batch request.
struct BatchReq {
    chats: Vec<Uuid>,
    since: Option<Uuid>,
    limit: usize,
}

fn parse_batch(body: &[u8]) -> Result<BatchReq, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::Validation(vec!["Request body must be valid JSON".into()]))?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::Validation(vec![
            "Request body must be a JSON object".into(),
        ]));
    };
    let mut errors = Vec::new();
    let mut chats = Vec::new();
    match obj.get("chatUuids") {
        None | Some(Value::Null) => errors.push("chatUuids is required".into()),
        Some(Value::Array(a)) => {
            if a.is_empty() || a.len() > 50 {
                errors.push("chatUuids must contain between 1 and 50 items".into());
            }
            for (i, x) in a.iter().enumerate() {
                match x.as_str().and_then(|s| s.parse::<Uuid>().ok()) {
                    Some(u) => chats.push(u),
                    None => errors.push(format!("chatUuids[{i}] must be a UUID")),
                }
            }
        }
        Some(_) => errors.push("chatUuids must be an array of UUIDs".into()),
    }
    let since = match obj.get("sinceMessageUuid") {
        None | Some(Value::Null) => None,
        Some(x) => match x.as_str().and_then(|s| s.parse::<Uuid>().ok()) {
            Some(u) => Some(u),
            None => {
                errors.push("sinceMessageUuid must be a UUID".into());
                None
            }
        },
    };
    let limit = match obj.get("limit") {
        None | Some(Value::Null) => 20,
        Some(x) => match x.as_u64() {
            Some(n) if (1..=50).contains(&n) => n as usize,
            _ => {
                errors.push("limit must be an integer between 1 and 50".into());
                20
            }
        },
    };
    if errors.is_empty() {
        Ok(BatchReq {
            chats,
            since,
            limit,
        })
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn batch_body(sim: &Sim, ctx: &Ctx, body: &[u8]) -> ApiResult {
    let r = parse_batch(body)?;
    let faults = sim.faults.read().clone();
    let w = sim.world.read();
    let creator = ctx.creator;
    // The cursor is a publish-time cut-off, shared by every chat in the request.
    let cutoff = match r.since {
        None => None,
        Some(u) => {
            let m = w
                .msg_by_uuid
                .get(&u)
                .map(|id| &w.messages[*id as usize])
                .filter(|m| !m.deleted && Some(w.chats[m.chat as usize].creator) == creator);
            match m {
                Some(m) => Some(m.sent_at),
                None => {
                    return Err(ApiError::Validation(vec![
                        "sinceMessageUuid does not match a message in your chats".into(),
                    ]));
                }
            }
        }
    };
    let mut out = Vec::with_capacity(r.chats.len() * r.limit * 800 + 64);
    out.extend_from_slice(b"{\"byChat\":{");
    let mut seen = std::collections::HashSet::with_capacity(r.chats.len());
    let mut malformed_pending = faults.batch_malformed_item;
    let mut first_key = true;
    for key in &r.chats {
        if !seen.insert(*key) {
            continue;
        }
        if !first_key {
            out.push(b',');
        }
        first_key = false;
        render::write_uuid(&mut out, key);
        out.push(b':');
        if sim.faults.roll(faults.batch_internal_rate) {
            out.extend_from_slice(b"{\"error\":\"internal\"}");
            continue;
        }
        let chat = creator.and_then(|c| w.user_id(key).and_then(|f| w.chat_of(c, f)));
        let Some(chat) = chat else {
            out.extend_from_slice(b"{\"error\":\"not_found\"}");
            continue;
        };
        if w.user(w.chats[chat as usize].fan).blocked {
            out.extend_from_slice(b"{\"error\":\"forbidden\"}");
            continue;
        }
        let pool = match cutoff {
            Some(t) => w.messages_after(chat, t),
            None => &w.chats[chat as usize].messages[..],
        };
        let start = pool.len().saturating_sub(r.limit);
        let page = &pool[start..];
        out.extend_from_slice(b"{\"messages\":[");
        for (i, m) in page.iter().rev().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if malformed_pending {
                render::write_malformed_message(&mut out);
                malformed_pending = false;
            } else {
                render::write_message(&mut out, &w, &w.messages[*m as usize], &faults);
            }
        }
        out.extend_from_slice(b"],\"hasMore\":");
        out.extend_from_slice(if start > 0 { b"true" } else { b"false" });
        out.extend_from_slice(b",\"oldestMessageUuid\":");
        match page.first() {
            Some(m) => render::write_uuid(&mut out, &w.messages[*m as usize].uuid),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"}}");
    Ok(json_bytes(StatusCode::OK, out))
}

pub async fn send(req: HttpRequest, sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    run(&req, &sim, &SEND, |ctx| send_body(&sim, &req, ctx, &body)).await
}

pub async fn send_for_creator(
    req: HttpRequest,
    sim: web::Data<Sim>,
    body: web::Bytes,
) -> HttpResponse {
    run(&req, &sim, &SEND_C, |ctx| send_body(&sim, &req, ctx, &body)).await
}

fn send_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx, body: &[u8]) -> ApiResult {
    let fan = path_uuid(req, "userUuid")?;
    let v: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|_| ApiError::Validation(vec!["Request body must be valid JSON".into()]))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::Validation(vec!["Request body must be a JSON object".into()]))?;
    let mut errors = Vec::new();
    let mut text: Option<String> = match obj.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if !(1..=5000).contains(&n) {
                errors.push("text must be between 1 and 5000 characters".into());
            }
            Some(s.clone())
        }
        Some(_) => {
            errors.push("text must be a string".into());
            None
        }
    };
    let mut media: Vec<Uuid> = Vec::new();
    match obj.get("mediaUuids") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for (i, x) in a.iter().enumerate() {
                match x.as_str().and_then(|s| s.parse().ok()) {
                    Some(u) => media.push(u),
                    None => errors.push(format!("mediaUuids[{i}] must be a UUID")),
                }
            }
        }
        Some(_) => errors.push("mediaUuids must be an array of UUIDs".into()),
    }
    let mut price: Option<u32> = match obj.get("price") {
        None | Some(Value::Null) => None,
        Some(x) => match x.as_u64() {
            Some(p) if p >= 300 && p <= u64::from(u32::MAX) => Some(p as u32),
            _ => {
                errors.push("price must be an integer of at least 300 (cents) or null".into());
                None
            }
        },
    };
    let template = match obj.get("templateUuid") {
        None | Some(Value::Null) => None,
        Some(x) => match x.as_str().and_then(|s| s.parse::<Uuid>().ok()) {
            Some(u) => Some(u),
            None => {
                errors.push("templateUuid must be a UUID".into());
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let creator = inbox(ctx)?;
    let now = sim.clock.now_ms();
    let msg_uuid = Uuid::new_v4();
    let faults = sim.faults.read().clone();
    {
        let mut w = sim.world.write();
        if let Some(t) = template {
            let tpl = w
                .creator_data
                .get(&creator)
                .and_then(|cd| cd.templates.iter().find(|x| x.uuid == t).cloned())
                .ok_or_else(|| {
                    ApiError::Validation(vec!["templateUuid does not match a template".into()])
                })?;
            text = text.or(tpl.text);
            if media.is_empty() {
                media = tpl.media_uuids;
            }
            price = price.or(tpl.price);
        }
        if text.is_none() && media.is_empty() {
            return Err(ApiError::Validation(vec![
                "A message needs text, mediaUuids or a templateUuid".into(),
            ]));
        }
        // Media must come from this creator's library; a PPV needs some.
        let mut errors = Vec::new();
        let mut media_type = None;
        for (i, u) in media.iter().enumerate() {
            match w.media_item(creator, u) {
                Some(item) => {
                    media_type = media_type.or(Some(item.media_type));
                }
                None => errors.push(format!(
                    "mediaUuids[{i}] does not match a media item in your library"
                )),
            }
        }
        if price.is_some() && media.is_empty() {
            errors.push("price requires at least one item in mediaUuids".into());
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let chat = w
            .user_id(&fan)
            .and_then(|f| w.chat_of(creator, f))
            .filter(|c| {
                let u = w.user(w.chats[*c as usize].fan);
                u.contactable && !u.blocked
            })
            .filter(|_| !sim.faults.roll(faults.send_contactability_rate))
            .ok_or_else(|| ApiError::BadRequest(NOT_CONTACTABLE.into()))?;
        let id = w.insert_message(
            chat,
            msg_uuid,
            NewMessage {
                from_creator: true,
                text: text.map(Arc::from),
                sent_at: now,
                kind: MsgType::SingleRecipient,
                price,
                sent_by: ctx.sent_by,
                media,
                media_type,
            },
        );
        if price.is_some() {
            sim.schedule_purchase(&mut w, id, now);
        }
    }
    let fail = sim.faults.roll(faults.send_fail_after_commit_rate);
    {
        let mut s = sim.stats.lock();
        s.messages_sent += 1;
        if fail {
            s.injected_errors += 1;
        }
    }
    if fail {
        return Ok(HttpResponse::InternalServerError()
            .json(serde_json::json!({"error": "Internal server error"})));
    }
    Ok(HttpResponse::Created().json(serde_json::json!({ "messageUuid": msg_uuid })))
}

pub async fn delete(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &DELETE, |ctx| delete_body(&sim, &req, ctx)).await
}

pub async fn delete_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &DELETE_C, |ctx| delete_body(&sim, &req, ctx)).await
}

fn delete_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx) -> ApiResult {
    let fan = path_uuid(req, "userUuid")?;
    let msg = path_uuid(req, "messageUuid")?;
    let creator = inbox(ctx)?;
    let mut w = sim.world.write();
    let chat = w
        .user_id(&fan)
        .and_then(|f| w.chat_of(creator, f))
        .ok_or_else(|| ApiError::NotFound("Message not found".into()))?;
    match w.delete_message(chat, &msg) {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(WorldError::Purchased) => Err(ApiError::BadRequest(
            "Purchased messages cannot be deleted".into(),
        )),
        Err(WorldError::NotSender) => Err(ApiError::Forbidden(
            "Only the sender can delete this message",
        )),
        Err(_) => Err(ApiError::NotFound("Message not found".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(body: &str) -> Vec<String> {
        match parse_batch(body.as_bytes()) {
            Err(ApiError::Validation(e)) => e,
            _ => Vec::new(),
        }
    }

    #[test]
    fn batch_bounds() {
        let ids = |n: usize| {
            (0..n)
                .map(|i| format!("\"{}\"", Uuid::from_u128(i as u128 + 1)))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(!errs(&format!("{{\"chatUuids\":[{}]}}", ids(0))).is_empty());
        assert!(errs(&format!("{{\"chatUuids\":[{}]}}", ids(1))).is_empty());
        assert!(errs(&format!("{{\"chatUuids\":[{}]}}", ids(50))).is_empty());
        assert!(!errs(&format!("{{\"chatUuids\":[{}]}}", ids(51))).is_empty());
        let one = ids(1);
        for (limit, ok) in [(0, false), (1, true), (50, true), (51, false)] {
            let e = errs(&format!("{{\"chatUuids\":[{one}],\"limit\":{limit}}}"));
            assert_eq!(e.is_empty(), ok, "limit={limit}");
        }
        let r = parse_batch(format!("{{\"chatUuids\":[{one}]}}").as_bytes()).ok();
        assert_eq!(r.map(|r| r.limit), Some(20));
        assert_eq!(errs("{}"), vec!["chatUuids is required".to_string()]);
    }
}
