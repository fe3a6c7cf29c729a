//! Custom lists (`/chats/lists/custom…` and the creator twins): list the
//! creator's lists with member counts (paged, `search` by name), a list's
//! members (paged), add members (`{userUuids}` ≤ 100, existing ones
//! skipped, 201 `{added, skipped}`) and remove one member (204). Reads need
//! `read:chat` + `read:fan`, changes `write:chat` (twins add the creator
//! scope). Changes edit the world, so `/_sim/truth` and later reads agree.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{
    ApiError, ApiResult, Ctx, RouteSpec, first, inbox, page_size, path_uuid, query_pairs, run,
};
use crate::sim::render;
use crate::sim::state::Sim;

const LISTS: RouteSpec = RouteSpec {
    name: "GET /chats/lists/custom",
    scopes: &["read:chat", "read:fan"],
    creator_scoped: false,
};
const LISTS_C: RouteSpec = RouteSpec {
    name: "GET /creators/{creatorUserUuid}/chats/lists/custom",
    scopes: &["read:chat", "read:fan", "read:creator"],
    creator_scoped: true,
};
const MEMBERS: RouteSpec = RouteSpec {
    name: "GET /chats/lists/custom/{uuid}",
    scopes: &["read:chat", "read:fan"],
    creator_scoped: false,
};
const MEMBERS_C: RouteSpec = RouteSpec {
    name: "GET /creators/{creatorUserUuid}/chats/lists/custom/{uuid}",
    scopes: &["read:chat", "read:fan", "read:creator"],
    creator_scoped: true,
};
const ADD: RouteSpec = RouteSpec {
    name: "POST /chats/lists/custom/{uuid}/members",
    scopes: &["write:chat"],
    creator_scoped: false,
};
const ADD_C: RouteSpec = RouteSpec {
    name: "POST /creators/{creatorUserUuid}/chats/lists/custom/{uuid}/members",
    scopes: &["write:chat", "write:creator"],
    creator_scoped: true,
};
const REMOVE: RouteSpec = RouteSpec {
    name: "DELETE /chats/lists/custom/{uuid}/members/{userUuid}",
    scopes: &["write:chat"],
    creator_scoped: false,
};
const REMOVE_C: RouteSpec = RouteSpec {
    name: "DELETE /creators/{creatorUserUuid}/chats/lists/custom/{uuid}/members/{userUuid}",
    scopes: &["write:chat", "write:creator"],
    creator_scoped: true,
};

/// The most user uuids one add request may carry (documented).
pub const MAX_ADD: usize = 100;

fn not_found() -> ApiError {
    ApiError::NotFound("Custom list not found".into())
}

fn lists_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx) -> ApiResult {
    let q = query_pairs(req);
    let mut errors = Vec::new();
    let (page, size) = page_size(&q, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let search = first(&q, "search").map(str::to_lowercase);
    let w = sim.world.read();
    let lists: Vec<serde_json::Value> = ctx
        .creator
        .and_then(|c| w.creator_data.get(&c))
        .map(|cd| {
            cd.custom_lists
                .iter()
                .filter(|l| {
                    search
                        .as_ref()
                        .is_none_or(|s| l.name.to_lowercase().contains(s))
                })
                .map(|l| {
                    serde_json::json!({
                        "uuid": l.uuid,
                        "name": l.name,
                        "membersCount": l.members.len(),
                        "createdAt": render::iso(l.created_at),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let has_more = lists.len() > page * size;
    let data: Vec<_> = lists
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "data": data,
        "pagination": {"page": page, "size": data.len(), "hasMore": has_more},
    })))
}

pub async fn lists(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &LISTS, |ctx| lists_body(&sim, &req, ctx)).await
}

pub async fn lists_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &LISTS_C, |ctx| lists_body(&sim, &req, ctx)).await
}

fn members_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx) -> ApiResult {
    let list = path_uuid(req, "uuid")?;
    let q = query_pairs(req);
    let mut errors = Vec::new();
    let (page, size) = page_size(&q, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let creator = inbox(ctx).map_err(|_| not_found())?;
    let w = sim.world.read();
    let l = w
        .creator_data
        .get(&creator)
        .and_then(|cd| cd.custom_lists.iter().find(|l| l.uuid == list))
        .ok_or_else(not_found)?;
    let data: Vec<serde_json::Value> = l
        .members
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|m| {
            let u = w.user(*m);
            serde_json::json!({
                "uuid": u.uuid,
                "displayName": u.display_name,
                "handle": u.handle,
                "isCreator": u.role == crate::sim::world::Role::Creator,
            })
        })
        .collect();
    let has_more = l.members.len() > page * size;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "data": data,
        "pagination": {"page": page, "size": data.len(), "hasMore": has_more},
    })))
}

pub async fn members(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &MEMBERS, |ctx| members_body(&sim, &req, ctx)).await
}

pub async fn members_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &MEMBERS_C, |ctx| members_body(&sim, &req, ctx)).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddBody {
    user_uuids: Vec<uuid::Uuid>,
}

fn add_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx, body: &[u8]) -> ApiResult {
    let list = path_uuid(req, "uuid")?;
    let b: AddBody = serde_json::from_slice(body)
        .map_err(|_| ApiError::Validation(vec!["userUuids must be an array of UUIDs".into()]))?;
    if b.user_uuids.is_empty() || b.user_uuids.len() > MAX_ADD {
        return Err(ApiError::Validation(vec![format!(
            "userUuids must contain between 1 and {MAX_ADD} UUIDs"
        )]));
    }
    let creator = inbox(ctx).map_err(|_| not_found())?;
    let mut w = sim.world.write();
    let ids: Vec<Option<crate::sim::world::UserId>> =
        b.user_uuids.iter().map(|u| w.user_id(u)).collect();
    let l = w
        .creator_data
        .get_mut(&creator)
        .and_then(|cd| cd.custom_lists.iter_mut().find(|l| l.uuid == list))
        .ok_or_else(not_found)?;
    let (mut added, mut skipped) = (0u32, 0u32);
    for id in ids {
        match id {
            Some(id) if !l.members.contains(&id) => {
                l.members.push(id);
                added += 1;
            }
            // Existing members are skipped (documented); so, here, are
            // users the simulator does not know.
            _ => skipped += 1,
        }
    }
    Ok(HttpResponse::Created().json(serde_json::json!({ "added": added, "skipped": skipped })))
}

pub async fn add(req: HttpRequest, sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    run(&req, &sim, &ADD, |ctx| add_body(&sim, &req, ctx, &body)).await
}

pub async fn add_for_creator(
    req: HttpRequest,
    sim: web::Data<Sim>,
    body: web::Bytes,
) -> HttpResponse {
    run(&req, &sim, &ADD_C, |ctx| add_body(&sim, &req, ctx, &body)).await
}

fn remove_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx) -> ApiResult {
    let list = path_uuid(req, "uuid")?;
    let user = path_uuid(req, "userUuid")?;
    let creator = inbox(ctx).map_err(|_| not_found())?;
    let mut w = sim.world.write();
    let id = w.user_id(&user);
    let l = w
        .creator_data
        .get_mut(&creator)
        .and_then(|cd| cd.custom_lists.iter_mut().find(|l| l.uuid == list))
        .ok_or_else(not_found)?;
    // Removing someone who is not on the list changes nothing (not an error).
    if let Some(id) = id {
        l.members.retain(|m| *m != id);
    }
    Ok(HttpResponse::NoContent().finish())
}

pub async fn remove(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &REMOVE, |ctx| remove_body(&sim, &req, ctx)).await
}

pub async fn remove_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &REMOVE_C, |ctx| remove_body(&sim, &req, ctx)).await
}
