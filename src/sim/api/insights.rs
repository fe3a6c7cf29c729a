//! Insights feeds: `GET /insights/earnings` and `GET /insights/spending` (self routes, the
//! creator's token) and their `/creators/{c}/insights/…` twins. Cursor paging (newest
//! first, keyset cursor), `startDate` (inclusive) / `endDate` (exclusive) as ISO date or
//! date-time, `source` as a comma list, `size` 1–50 (default 20). Lines come from
//! `sim::earnings`, consistent with the world's purchases, tips and subscriptions.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{ApiError, ApiResult, Ctx, RouteSpec, first, query_pairs, run};
use crate::sim::earnings::{self, Feed};
use crate::sim::faults::Faults;
use crate::sim::render;
use crate::sim::state::Sim;

const EARNINGS: RouteSpec = RouteSpec {
    name: "GET /insights/earnings",
    scopes: &["read:insights"],
    creator_scoped: false,
};
const EARNINGS_FOR_CREATOR: RouteSpec = RouteSpec {
    name: "GET /creators/{creatorUserUuid}/insights/earnings",
    scopes: &["read:insights", "read:creator"],
    creator_scoped: true,
};
const SPENDING: RouteSpec = RouteSpec {
    name: "GET /insights/spending",
    scopes: &["read:insights"],
    creator_scoped: false,
};
const SPENDING_FOR_CREATOR: RouteSpec = RouteSpec {
    name: "GET /creators/{creatorUserUuid}/insights/spending",
    scopes: &["read:insights", "read:creator"],
    creator_scoped: true,
};

pub async fn earnings(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &EARNINGS, |ctx| {
        feed(&req, &sim, ctx, Feed::Earnings)
    })
    .await
}

pub async fn earnings_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &EARNINGS_FOR_CREATOR, |ctx| {
        feed(&req, &sim, ctx, Feed::Earnings)
    })
    .await
}

pub async fn spending(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &SPENDING, |ctx| {
        feed(&req, &sim, ctx, Feed::Spending)
    })
    .await
}

pub async fn spending_for_creator(req: HttpRequest, sim: web::Data<Sim>) -> HttpResponse {
    run(&req, &sim, &SPENDING_FOR_CREATOR, |ctx| {
        feed(&req, &sim, ctx, Feed::Spending)
    })
    .await
}

/// `startDate`/`endDate`: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 date-time.
fn parse_date(v: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc).timestamp_millis());
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
}

/// Keyset cursor: the (date, order id) of the last line returned.
fn parse_cursor(v: &str) -> Option<(i64, Uuid)> {
    let (ms, id) = v.split_once('.')?;
    Some((ms.parse().ok()?, id.parse().ok()?))
}

fn feed(req: &HttpRequest, sim: &Sim, ctx: &Ctx, which: Feed) -> ApiResult {
    let Some(creator) = ctx.creator else {
        return Err(ApiError::Forbidden("Only creators have insights"));
    };
    let q = query_pairs(req);
    let mut errors = Vec::new();
    let mut date = |k: &str| match first(&q, k) {
        None => None,
        Some(v) => {
            let d = parse_date(v);
            if d.is_none() {
                errors.push(format!("{k} must be an ISO 8601 date"));
            }
            d
        }
    };
    let start = date("startDate");
    let end = date("endDate");
    let size = match first(&q, "size") {
        None => 20,
        Some(v) => match v.parse::<usize>() {
            Ok(s) if (1..=50).contains(&s) => s,
            _ => {
                errors.push("size must be an integer between 1 and 50".into());
                20
            }
        },
    };
    let cursor = match first(&q, "cursor") {
        None | Some("") => None,
        Some(v) => {
            let c = parse_cursor(v);
            if c.is_none() {
                errors.push("cursor is invalid".into());
            }
            c
        }
    };
    let sources: Option<Vec<&str>> = first(&q, "source")
        .filter(|s| !s.is_empty() && *s != "all")
        .map(|s| s.split(',').map(str::trim).collect());
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let faults = sim.faults.read().clone();
    let w = sim.world.read();
    let all = earnings::lines(
        &w,
        &sim.config.scenario,
        &faults,
        creator,
        which,
        sim.clock.now_ms(),
    );
    let mut page = all.iter().filter(|l| {
        start.is_none_or(|s| l.date_ms >= s)
            && end.is_none_or(|e| l.date_ms < e)
            && sources.as_ref().is_none_or(|s| s.contains(&l.source))
            && cursor.is_none_or(|c| (l.date_ms, l.order_id) < c)
    });
    let mut data = Vec::with_capacity(size);
    let mut last = None;
    for l in page.by_ref().take(size) {
        data.push(render_line(&w, creator, l, &faults));
        last = Some((l.date_ms, l.order_id));
    }
    let more = page.next().is_some();
    let next = last
        .filter(|_| more)
        .map(|(ms, id)| Value::String(format!("{ms}.{id}")))
        .unwrap_or(Value::Null);
    Ok(HttpResponse::Ok().json(json!({ "data": data, "nextCursor": next })))
}

fn render_line(
    w: &crate::sim::world::World,
    creator: crate::sim::world::UserId,
    l: &earnings::Line,
    faults: &Faults,
) -> Value {
    let fan = w.user(l.fan);
    let nickname = w
        .chat_of(creator, l.fan)
        .and_then(|c| w.chats[c as usize].nickname.clone());
    let mut o = Map::new();
    o.insert("date".into(), Value::String(render::iso(l.date_ms)));
    o.insert("gross".into(), json!(l.gross));
    o.insert("net".into(), json!(l.net()));
    o.insert("currency".into(), json!("USD"));
    o.insert("source".into(), json!(l.source));
    o.insert(
        "user".into(),
        json!({
            "uuid": fan.uuid, "handle": fan.handle, "displayName": fan.display_name,
            "nickname": nickname, "isTopSpender": fan.is_top_spender,
        }),
    );
    // The SDK-only fields, unless this line is rendered in the bare documented shape.
    if !Faults::stable_share(&l.order_id, 0x3c, faults.earnings_missing_uuid_rate) {
        o.insert("messageUuid".into(), json!(l.message_uuid));
        o.insert("postUuid".into(), json!(l.post_uuid));
        o.insert("transactionOrderId".into(), json!(l.order_id));
        o.insert("transactionOrderStatus".into(), json!("COMPLETED"));
    }
    Value::Object(o)
}
