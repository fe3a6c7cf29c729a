//! Identity and agency routes: `GET /users/me`, `GET /creators`, `GET /agencies/team-members`
//! (bare array, admin only) and `GET /agencies/chats` (chat rows across creators).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{
    ApiError, ApiResult, Ctx, RouteSpec, json_bytes, page_size, query_pairs, run, write_pagination,
};
use crate::sim::render;
use crate::sim::state::Sim;
use crate::sim::world::{ChatId, Role};

const ME: RouteSpec = RouteSpec {
    name: "GET /users/me",
    scopes: &["read:self"],
    creator_scoped: false,
};
const CREATORS: RouteSpec = RouteSpec {
    name: "GET /creators",
    scopes: &["read:creator"],
    creator_scoped: false,
};
const TEAM: RouteSpec = RouteSpec {
    name: "GET /agencies/team-members",
    scopes: &["read:agency"],
    creator_scoped: false,
};
const AGENCY_CHATS: RouteSpec = RouteSpec {
    name: "GET /agencies/chats",
    scopes: &["read:agency", "read:chat"],
    creator_scoped: false,
};

pub async fn users_me(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &ME, |ctx| {
        let w = sim.world.read();
        let u = w.user(ctx.user);
        let is_creator = u.role == Role::Creator;
        let (followers, subscribers) = if is_creator {
            w.creator_data
                .get(&ctx.user)
                .map(|cd| {
                    cd.by_fan.keys().fold((0u64, 0u64), |(f, s), fan| {
                        let x = w.user(*fan);
                        (f + u64::from(x.is_follower), s + u64::from(x.is_subscriber))
                    })
                })
                .unwrap_or_default()
        } else {
            (0, 0)
        };
        let date = render::iso(u.registered_at);
        Ok(HttpResponse::Ok().json(serde_json::json!({
            "uuid": u.uuid,
            "email": u.email,
            "handle": u.handle,
            "bio": "",
            "displayName": u.display_name,
            "isCreator": is_creator,
            "createdAt": date,
            "updatedAt": date,
            "avatarUrl": u.avatar_url,
            "bannerUrl": null,
            "likesCount": 0,
            "fanCounts": {"followersCount": followers, "subscribersCount": subscribers},
            "contentCounts": {"imageCount": 0, "videoCount": 0, "audioCount": 0,
                              "postCount": 0, "payToViewPostCount": 0},
        })))
    })
    .await
}

pub async fn list_creators(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &CREATORS, |ctx| {
        let q = query_pairs(&req);
        let mut errors = Vec::new();
        let (page, size) = page_size(&q, &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let w = sim.world.read();
        let me = w.user(ctx.user);
        let all: Vec<serde_json::Value> = if me.role == Role::TeamMember {
            me.creator_access
                .iter()
                .map(|(c, role)| {
                    let u = w.user(*c);
                    serde_json::json!({
                        "uuid": u.uuid, "handle": u.handle, "displayName": u.display_name,
                        "nickname": null, "isTopSpender": false, "avatarUrl": u.avatar_url,
                        "registeredAt": render::iso(u.registered_at), "role": role,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let has_more = all.len() > page * size;
        let data: Vec<_> = all.into_iter().skip((page - 1) * size).take(size).collect();
        Ok(HttpResponse::Ok().json(serde_json::json!({
            "data": data,
            "pagination": {"page": page, "size": data.len(), "hasMore": has_more},
        })))
    })
    .await
}

fn require_admin(sim: &Sim, ctx: &Ctx) -> Result<u32, ApiError> {
    let w = sim.world.read();
    let u = w.user(ctx.user);
    match (u.role, u.is_admin, u.agency) {
        (Role::TeamMember, true, Some(a)) => Ok(a),
        _ => Err(ApiError::Forbidden("Agency admin access required")),
    }
}

pub async fn team_members(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &TEAM, |ctx| {
        let agency = require_admin(&sim, ctx)?;
        let w = sim.world.read();
        let members: Vec<serde_json::Value> = w.agencies[agency as usize]
            .members
            .iter()
            .map(|m| {
                let u = w.user(*m);
                serde_json::json!({
                    "uuid": u.uuid,
                    "isAdmin": u.is_admin,
                    "nickname": null,
                    "email": u.email,
                    "displayName": u.display_name,
                    "creatorAccess": u.creator_access.iter()
                        .map(|(c, r)| serde_json::json!({"uuid": w.user(*c).uuid, "role": r}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        Ok(HttpResponse::Ok().json(members))
    })
    .await
}

pub async fn agency_chats(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &AGENCY_CHATS, |ctx| {
        agency_chats_body(&sim, &req, ctx)
    })
    .await
}

fn agency_chats_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx) -> ApiResult {
    let q = query_pairs(req);
    let mut errors = Vec::new();
    let (page, size) = page_size(&q, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let agency = require_admin(sim, ctx)?;
    let w = sim.world.read();
    let faults = sim.faults.read().clone();
    // Merge the creators' recency indexes; agencies are small enough to sort the union.
    let mut all: Vec<(i64, ChatId)> = w.agencies[agency as usize]
        .creators
        .iter()
        .filter_map(|c| w.creator_data.get(c))
        .flat_map(|cd| cd.by_recent.iter().map(|(t, c)| (t.0, *c)))
        .collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    let skip = (page - 1) * size;
    let slice: Vec<ChatId> = all.iter().skip(skip).take(size).map(|x| x.1).collect();
    let mut out = Vec::with_capacity(slice.len() * 800 + 64);
    out.extend_from_slice(b"{\"data\":[");
    for (i, chat) in slice.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Chat row plus the owning creator.
        render::write_chat_row(&mut out, &w, *chat, &faults);
        out.pop();
        out.extend_from_slice(b",\"creatorUuid\":");
        render::write_uuid(&mut out, &w.user(w.chats[*chat as usize].creator).uuid);
        out.push(b'}');
    }
    out.extend_from_slice(b"],");
    write_pagination(&mut out, page, slice.len(), all.len() > skip + slice.len());
    out.push(b'}');
    Ok(json_bytes(StatusCode::OK, out))
}
