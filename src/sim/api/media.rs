//! The media library: `GET /media` (and one item) for the creator's own library, and the
//! creator-scoped twins for team members. Page/size pagination, newest first, with the
//! `mediaType`, `folderName`, `usage`, `status`, `variants` and `purchasedBy` filters.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use super::{
    ApiError, ApiResult, Ctx, RouteSpec, first, json_bytes, page_size, path_uuid, query_pairs, run,
    write_pagination,
};
use crate::sim::render;
use crate::sim::state::Sim;
use crate::sim::world::{MediaItem, MediaType, MediaUsage, UserId, World};

const LIST: RouteSpec = RouteSpec {
    name: "GET /media",
    scopes: &["read:media"],
    creator_scoped: false,
};
const LIST_C: RouteSpec = RouteSpec {
    name: "GET /creators/{creatorUserUuid}/media",
    scopes: &["read:creator", "read:media"],
    creator_scoped: true,
};
const ONE: RouteSpec = RouteSpec {
    name: "GET /media/{uuid}",
    scopes: &["read:media"],
    creator_scoped: false,
};
const ONE_C: RouteSpec = RouteSpec {
    name: "GET /creators/{creatorUserUuid}/media/{uuid}",
    scopes: &["read:creator", "read:media"],
    creator_scoped: true,
};

/// Statuses an item can have; every generated item is `ready`.
const STATUSES: &[&str] = &["ready", "processing", "error"];
const VARIANT_TYPES: &[&str] = &["main", "thumbnail", "blurred"];

pub async fn list(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &LIST, |ctx| list_body(&sim, &req, ctx)).await
}

pub async fn list_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &LIST_C, |ctx| list_body(&sim, &req, ctx)).await
}

pub async fn one(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &ONE, |ctx| one_body(&sim, &req, ctx)).await
}

pub async fn one_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &ONE_C, |ctx| one_body(&sim, &req, ctx)).await
}

fn library_owner(ctx: &Ctx) -> Result<UserId, ApiError> {
    ctx.creator
        .ok_or_else(|| ApiError::NotFound("No media library for this user".into()))
}

/// Parsed list filters.
struct Filters {
    page: usize,
    size: usize,
    media_type: Option<MediaType>,
    folder: Option<String>,
    usage: Option<MediaUsage>,
    purchased_by: Option<Uuid>,
    statuses: Option<Vec<String>>,
    variants: Option<Vec<String>>,
}

fn comma_list(
    v: &str,
    allowed: &[&str],
    name: &str,
    errors: &mut Vec<String>,
) -> Option<Vec<String>> {
    let items: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if items.is_empty() || items.iter().any(|s| !allowed.contains(&s.as_str())) {
        errors.push(format!(
            "{name} must be a comma-separated list of: {}",
            allowed.join(", ")
        ));
        return None;
    }
    Some(items)
}

fn parse_filters(q: &[(String, String)]) -> Result<Filters, ApiError> {
    let mut errors = Vec::new();
    let (page, size) = page_size(q, &mut errors);
    let media_type = first(q, "mediaType").and_then(|v| {
        let t = MediaType::parse(v);
        if t.is_none() {
            errors.push("mediaType must be one of: image, video, audio, document".into());
        }
        t
    });
    let usage = first(q, "usage").and_then(|v| {
        let u = MediaUsage::parse(v);
        if u.is_none() {
            errors.push("usage must be one of: chat, post, vault".into());
        }
        u
    });
    let purchased_by = first(q, "purchasedBy").and_then(|v| {
        let u = v.parse::<Uuid>().ok();
        if u.is_none() {
            errors.push("purchasedBy must be a UUID".into());
        }
        u
    });
    let statuses = first(q, "status").and_then(|v| comma_list(v, STATUSES, "status", &mut errors));
    let variants =
        first(q, "variants").and_then(|v| comma_list(v, VARIANT_TYPES, "variants", &mut errors));
    let folder = first(q, "folderName").map(str::to_string);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(Filters {
        page,
        size,
        media_type,
        folder,
        usage,
        purchased_by,
        statuses,
        variants,
    })
}

fn matches(m: &MediaItem, f: &Filters) -> bool {
    f.media_type.is_none_or(|t| m.media_type == t)
        && f.folder
            .as_deref()
            .is_none_or(|n| m.folder_name.as_deref() == Some(n))
        && f.usage.is_none_or(|u| m.usage.contains(&u))
        && f.statuses
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == "ready"))
}

fn list_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx) -> ApiResult {
    let f = parse_filters(&query_pairs(req))?;
    let creator = library_owner(ctx)?;
    let w = sim.world.read();
    let purchased = f.purchased_by.map(|fan| purchased_set(&w, creator, &fan));
    let lib = w
        .creator_data
        .get(&creator)
        .map(|cd| &cd.media[..])
        .unwrap_or(&[]);
    let skip = (f.page - 1) * f.size;
    let mut hits = lib.iter().filter(|m| matches(m, &f)).skip(skip);
    let page: Vec<&MediaItem> = hits.by_ref().take(f.size).collect();
    let has_more = hits.next().is_some();
    let mut out = Vec::with_capacity(page.len() * 700 + 64);
    out.extend_from_slice(b"{\"data\":[");
    for (i, m) in page.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_item(&mut out, m, f.variants.as_deref(), purchased.as_ref());
    }
    out.extend_from_slice(b"],");
    write_pagination(&mut out, f.page, page.len(), has_more);
    out.push(b'}');
    Ok(json_bytes(StatusCode::OK, out))
}

fn one_body(sim: &Sim, req: &HttpRequest, ctx: &Ctx) -> ApiResult {
    let uuid = path_uuid(req, "uuid")?;
    let q = query_pairs(req);
    let mut errors = Vec::new();
    let variants =
        first(&q, "variants").and_then(|v| comma_list(v, VARIANT_TYPES, "variants", &mut errors));
    let purchased_by = first(&q, "purchasedBy").and_then(|v| {
        let u = v.parse::<Uuid>().ok();
        if u.is_none() {
            errors.push("purchasedBy must be a UUID".into());
        }
        u
    });
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let creator = library_owner(ctx)?;
    let w = sim.world.read();
    let item = w
        .media_item(creator, &uuid)
        .ok_or_else(|| ApiError::NotFound("Media not found".into()))?;
    let purchased = purchased_by.map(|fan| purchased_set(&w, creator, &fan));
    let mut out = Vec::with_capacity(800);
    write_item(&mut out, item, variants.as_deref(), purchased.as_ref());
    Ok(json_bytes(StatusCode::OK, out))
}

fn purchased_set(w: &World, creator: UserId, fan: &Uuid) -> std::collections::HashSet<Uuid> {
    w.user_id(fan)
        .and_then(|f| w.chat_of(creator, f))
        .map(|chat| w.purchased_media(chat))
        .unwrap_or_default()
}

fn write_opt_num(b: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => b.extend_from_slice(v.to_string().as_bytes()),
        None => b.extend_from_slice(b"null"),
    }
}

/// One media object in the documented shape.
fn write_item(
    b: &mut Vec<u8>,
    m: &MediaItem,
    variants: Option<&[String]>,
    purchased: Option<&std::collections::HashSet<Uuid>>,
) {
    b.extend_from_slice(b"{\"uuid\":");
    render::write_uuid(b, &m.uuid);
    b.extend_from_slice(b",\"status\":\"ready\",\"createdAt\":");
    render::write_iso(b, m.created_at);
    b.extend_from_slice(b",\"name\":");
    render::write_str(b, &m.name);
    b.extend_from_slice(b",\"caption\":");
    render::write_opt_str(b, m.caption.as_deref());
    b.extend_from_slice(b",\"description\":");
    render::write_opt_str(b, m.description.as_deref());
    b.extend_from_slice(b",\"mediaType\":");
    render::write_str(b, m.media_type.as_str());
    b.extend_from_slice(b",\"folderName\":");
    render::write_opt_str(b, m.folder_name.as_deref());
    b.extend_from_slice(b",\"recommendedPrice\":");
    write_opt_num(b, m.recommended_price.map(u64::from));
    b.extend_from_slice(b",\"variants\":[");
    let mut firstv = true;
    for v in &m.variants {
        if variants.is_some_and(|want| !want.iter().any(|x| x == v.variant_type)) {
            continue;
        }
        if !firstv {
            b.push(b',');
        }
        firstv = false;
        b.extend_from_slice(b"{\"uuid\":");
        render::write_uuid(b, &v.uuid);
        b.extend_from_slice(b",\"variantType\":");
        render::write_str(b, v.variant_type);
        b.extend_from_slice(b",\"displayPosition\":");
        b.extend_from_slice(v.display_position.to_string().as_bytes());
        b.extend_from_slice(b",\"url\":");
        render::write_str(b, &v.url);
        b.extend_from_slice(b",\"width\":");
        write_opt_num(b, v.width.map(u64::from));
        b.extend_from_slice(b",\"height\":");
        write_opt_num(b, v.height.map(u64::from));
        b.extend_from_slice(b",\"lengthMs\":");
        write_opt_num(b, v.length_ms);
        b.push(b'}');
    }
    b.push(b']');
    if let Some(p) = purchased {
        b.extend_from_slice(b",\"purchasedByFan\":");
        b.extend_from_slice(if p.contains(&m.uuid) {
            b"true"
        } else {
            b"false"
        });
    }
    b.push(b'}');
}
