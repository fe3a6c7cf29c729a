//! The simulated Fanvue REST API. Every request passes one pipeline ([`run`]): injected
//! latency → version header (400/410) → bearer token (401) → rate-limit bucket (429, and
//! `X-RateLimit-*` headers on everything after this point) → injected 5xx → scopes (403)
//! → creator access → the route body. Error bodies follow the documented shapes.

mod agency;
mod chats;
mod insights;
mod lists;
mod media;
mod messages;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use super::state::Sim;
use super::world::{Role, UserId};

/// Static description of one route: its counter name, scopes, and whether the rate-limit
/// key includes the creator from the path.
pub struct RouteSpec {
    pub name: &'static str,
    pub scopes: &'static [&'static str],
    pub creator_scoped: bool,
}

/// The authenticated caller and who they act for.
pub struct Ctx {
    pub user: UserId,
    /// The inbox owner: the creator of the path on creator routes, else the caller if a creator.
    pub creator: Option<UserId>,
    /// Set when a team member acts for a creator (becomes `sentByUserId`).
    pub sent_by: Option<UserId>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<String>),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("unsupported version")]
    UnsupportedVersion(String),
    #[error("sunset version")]
    Sunset(String),
}

impl ApiError {
    fn response(&self, sim: &Sim) -> HttpResponse {
        use serde_json::json;
        let (status, body) = match self {
            ApiError::Validation(errors) => (400, json!({ "errors": errors })),
            ApiError::BadRequest(m) => (400, json!({ "message": m })),
            ApiError::Unauthorized => (401, json!({ "error": "Unauthorized" })),
            ApiError::Forbidden(m) => (403, json!({ "error": m })),
            ApiError::NotFound(m) => (404, json!({ "message": m })),
            ApiError::UnsupportedVersion(m) => (
                400,
                json!({ "error": "Unsupported API version", "message": m }),
            ),
            ApiError::Sunset(v) => (
                410,
                json!({
                    "error": "API version no longer supported",
                    "message": format!("API version '{v}' was sunset on {}", sim.config.api.sunset_date),
                    "nextVersion": sim.config.api.current_version,
                }),
            ),
        };
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
            .json(body)
    }
}

pub type ApiResult = Result<HttpResponse, ApiError>;

/// A JSON response from pre-rendered bytes.
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

fn check_version(sim: &Sim, req: &HttpRequest) -> Result<(), ApiError> {
    let api = &sim.config.api;
    let Some(v) = req
        .headers()
        .get("x-fanvue-api-version")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::UnsupportedVersion(
            "The X-Fanvue-API-Version header is required".into(),
        ));
    };
    if v == api.current_version {
        Ok(())
    } else if api.sunset_versions.iter().any(|s| s == v) {
        Err(ApiError::Sunset(v.to_string()))
    } else {
        Err(ApiError::UnsupportedVersion(format!(
            "API version '{v}' is not supported"
        )))
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Parses a uuid path segment; documented 400 `{message}` when malformed.
pub fn path_uuid(req: &HttpRequest, name: &str) -> Result<Uuid, ApiError> {
    req.match_info()
        .get(name)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::BadRequest(format!("Invalid UUID: {name}")))
}

/// Runs one API request through the pipeline.
pub async fn run<F>(req: &HttpRequest, sim: &Sim, spec: &RouteSpec, body: F) -> HttpResponse
where
    F: FnOnce(&Ctx) -> ApiResult,
{
    let latency = sim.faults.read().api_latency_ms;
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let mut bucket: Option<String> = None;
    let mut decision = None;
    let mut resp = pipeline(req, sim, spec, body, &mut bucket, &mut decision);
    if let Some(d) = decision {
        let h = resp.headers_mut();
        let put = |h: &mut actix_web::http::header::HeaderMap, k: &'static str, v: String| {
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&v) {
                h.insert(actix_web::http::header::HeaderName::from_static(k), v);
            }
        };
        put(h, "x-ratelimit-limit", d.limit.to_string());
        put(h, "x-ratelimit-remaining", d.remaining.to_string());
        // The simulated clock usually runs far from real time (fixed epoch, advances), but
        // clients compare the reset with their own clock, as they would against Fanvue: send
        // the refill instant on the wall clock, keeping its distance from "now".
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_millis() as i64)
            .unwrap_or(0);
        let reset_wall_ms = d.reset_ms - sim.clock.now_ms() + wall_ms;
        put(
            h,
            "x-ratelimit-reset",
            (reset_wall_ms + 999).div_euclid(1000).to_string(),
        );
        if !d.allowed {
            put(h, "retry-after", d.retry_after.to_string());
        }
    }
    sim.record_request(spec.name, bucket.as_deref(), resp.status().as_u16());
    resp
}

fn pipeline<F>(
    req: &HttpRequest,
    sim: &Sim,
    spec: &RouteSpec,
    body: F,
    bucket: &mut Option<String>,
    decision: &mut Option<super::rate_limit::Decision>,
) -> HttpResponse
where
    F: FnOnce(&Ctx) -> ApiResult,
{
    if let Err(e) = check_version(sim, req) {
        return e.response(sim);
    }
    let now = sim.clock.now_ms();
    let info = bearer(req).and_then(|t| sim.oauth.lock().authenticate(t, now));
    let Some(info) = info else {
        return ApiError::Unauthorized.response(sim);
    };
    let path_creator = if spec.creator_scoped {
        match path_uuid(req, "creatorUserUuid") {
            Ok(u) => Some(u),
            Err(e) => return e.response(sim),
        }
    } else {
        None
    };
    let user_uuid = sim.world.read().user(info.user).uuid;
    let key = match path_creator {
        Some(c) => format!("{}:{}:{}", info.client_id, user_uuid, c),
        None => format!("{}:{}", info.client_id, user_uuid),
    };
    let faults = sim.faults.read().clone();
    if sim.config.rate_limit.enabled || faults.force_429 {
        // Endpoints with their own limit draw from their own bucket, and report that limit
        // even when the forced-429 fault answers for them.
        let (bucket_key, limit) = match sim.config.rate_limit.overrides.get(spec.name) {
            Some(limit) => (format!("{key}#{}", spec.name), *limit),
            None => (key.clone(), sim.limiter.limit()),
        };
        let d = if faults.force_429 {
            sim.limiter.forced(&bucket_key, now, limit)
        } else {
            sim.limiter.take_with_limit(&bucket_key, now, limit)
        };
        *decision = Some(d);
        if !d.allowed {
            *bucket = Some(key);
            return HttpResponse::TooManyRequests()
                .json(serde_json::json!({"error": "Too many requests"}));
        }
    }
    *bucket = Some(key);
    if sim.faults.roll(faults.api_error_rate) {
        sim.stats.lock().injected_errors += 1;
        let status = StatusCode::from_u16(faults.api_error_status)
            .ok()
            .filter(|s| s.is_server_error())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return HttpResponse::build(status)
            .json(serde_json::json!({"error": "Internal server error"}));
    }
    if !spec
        .scopes
        .iter()
        .all(|s| info.scopes.iter().any(|g| g == s))
    {
        return ApiError::Forbidden("Insufficient scopes").response(sim);
    }
    let ctx = {
        let w = sim.world.read();
        let caller = w.user(info.user);
        match path_creator {
            Some(c) => {
                let Some(cid) = w.user_id(&c).filter(|id| w.user(*id).role == Role::Creator) else {
                    return ApiError::NotFound("Creator not found".into()).response(sim);
                };
                if !w.can_act_for(info.user, cid) {
                    return ApiError::Forbidden("You do not manage this creator").response(sim);
                }
                Ctx {
                    user: info.user,
                    creator: Some(cid),
                    sent_by: (caller.role == Role::TeamMember).then_some(info.user),
                }
            }
            None => Ctx {
                user: info.user,
                creator: (caller.role == Role::Creator).then_some(info.user),
                sent_by: None,
            },
        }
    };
    match body(&ctx) {
        Ok(r) => r,
        Err(e) => e.response(sim),
    }
}

/// Query string as ordered pairs (repeated keys allowed, e.g. `filter`).
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

fn first<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

/// `page` (≥1, default 1) and `size` (1–50, default 15), collecting validation errors.
pub fn page_size(q: &[(String, String)], errors: &mut Vec<String>) -> (usize, usize) {
    let page = match first(q, "page") {
        None => 1,
        Some(v) => match v.parse::<usize>() {
            Ok(p) if p >= 1 => p,
            _ => {
                errors.push("page must be an integer greater than or equal to 1".into());
                1
            }
        },
    };
    let size = match first(q, "size") {
        None => 15,
        Some(v) => match v.parse::<usize>() {
            Ok(s) if (1..=50).contains(&s) => s,
            _ => {
                errors.push("size must be an integer between 1 and 50".into());
                15
            }
        },
    };
    (page, size)
}

/// Pagination envelope tail: `"pagination":{page,size,hasMore}` where size is the count
/// returned (as documented).
pub fn write_pagination(b: &mut Vec<u8>, page: usize, returned: usize, has_more: bool) {
    b.extend_from_slice(
        format!("\"pagination\":{{\"page\":{page},\"size\":{returned},\"hasMore\":{has_more}}}")
            .as_bytes(),
    );
}

/// Mounts every API route under `base` (the configured API base path).
pub fn configure(cfg: &mut web::ServiceConfig, base: &str) {
    use web::{delete, get, patch, post};
    let c = "/creators/{creatorUserUuid}";
    cfg.service(
        web::scope(base)
            .route("/users/me", get().to(agency::users_me))
            .route("/creators", get().to(agency::list_creators))
            .route("/agencies/team-members", get().to(agency::team_members))
            .route("/agencies/chats", get().to(agency::agency_chats))
            .route("/chats", get().to(chats::list))
            .route("/chats/unread", get().to(chats::unread))
            .route("/chats/templates", get().to(chats::templates))
            .route("/chats/lists/smart", get().to(chats::smart_lists))
            .route("/chats/lists/custom", get().to(lists::lists))
            .route("/chats/lists/custom/{uuid}", get().to(lists::members))
            .route("/chats/lists/custom/{uuid}/members", post().to(lists::add))
            .route(
                "/chats/lists/custom/{uuid}/members/{userUuid}",
                delete().to(lists::remove),
            )
            .route(
                &format!("{c}/chats/lists/custom"),
                get().to(lists::lists_for_creator),
            )
            .route(
                &format!("{c}/chats/lists/custom/{{uuid}}"),
                get().to(lists::members_for_creator),
            )
            .route(
                &format!("{c}/chats/lists/custom/{{uuid}}/members"),
                post().to(lists::add_for_creator),
            )
            .route(
                &format!("{c}/chats/lists/custom/{{uuid}}/members/{{userUuid}}"),
                delete().to(lists::remove_for_creator),
            )
            .route("/chats/messages/batch", post().to(messages::batch))
            .route("/insights/earnings", get().to(insights::earnings))
            .route("/insights/spending", get().to(insights::spending))
            .route(
                &format!("{c}/insights/earnings"),
                get().to(insights::earnings_for_creator),
            )
            .route(
                &format!("{c}/insights/spending"),
                get().to(insights::spending_for_creator),
            )
            .route("/media", get().to(media::list))
            .route("/media/{uuid}", get().to(media::one))
            .route(&format!("{c}/media"), get().to(media::list_for_creator))
            .route(
                &format!("{c}/media/{{uuid}}"),
                get().to(media::one_for_creator),
            )
            .route("/chats/{userUuid}", patch().to(chats::update))
            .route("/chats/{userUuid}/messages", get().to(messages::list))
            .route("/chats/{userUuid}/message", post().to(messages::send))
            .route(
                "/chats/{userUuid}/messages/{messageUuid}",
                delete().to(messages::delete),
            )
            .route(&format!("{c}/chats"), get().to(chats::list_for_creator))
            .route(
                &format!("{c}/chats/messages/batch"),
                post().to(messages::batch_for_creator),
            )
            .route(
                &format!("{c}/chats/{{userUuid}}"),
                patch().to(chats::update_for_creator),
            )
            .route(
                &format!("{c}/chats/{{userUuid}}/messages"),
                get().to(messages::list_for_creator),
            )
            .route(
                &format!("{c}/chats/{{userUuid}}/message"),
                post().to(messages::send_for_creator),
            )
            .route(
                &format!("{c}/chats/{{userUuid}}/messages/{{messageUuid}}"),
                delete().to(messages::delete_for_creator),
            ),
    );
}

/// Inbox owner or 404 when the caller has no inbox (e.g. a team member on a self route).
pub fn inbox(ctx: &Ctx) -> Result<UserId, ApiError> {
    ctx.creator
        .ok_or_else(|| ApiError::NotFound("No conversation found with the given user".into()))
}
