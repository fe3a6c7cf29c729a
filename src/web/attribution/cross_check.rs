//! `/earnings`: the Fanvue cross-check. Per creator and local day (the
//! agency's time zone), the sales ledger's total beside the earnings feed's,
//! with the difference highlighted (zero is the goal); a differing day links
//! to `/earnings/creators/{id}?day=`, the lines behind it. Managers and
//! above; every query is scoped by the agency.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;

use crate::domain::{AgencyZone, Cents, CreatorId};
use crate::store;
use crate::store::creators::Creator;
use crate::store::cross_check::{DayLine, DaySale, DayTotals};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::ManagerStaff;
use crate::web::render::{PageCtx, html_status};

/// The default period: the last 30 local days, today included.
const DEFAULT_DAYS: u64 = 30;
/// The longest period one page shows.
const MAX_DAYS: i64 = 366;

fn money(cents: i64) -> String {
    Cents::new(cents).to_string()
}

#[derive(Template)]
#[template(path = "attribution/cross_check.html")]
pub struct CrossCheckPage {
    pub ctx: PageCtx,
    pub zone: AgencyZone,
    pub from: String,
    pub to: String,
    pub creator: Option<CreatorId>,
    pub creators: Vec<Creator>,
    pub rows: Vec<DayTotals>,
    pub error: Option<String>,
    pub sales_cents: i64,
    pub feed_cents: i64,
    pub differing_days: usize,
}

impl CrossCheckPage {
    /// Cents as money; takes a field (by reference) or a computed value.
    pub fn money(cents: impl std::borrow::Borrow<i64>) -> String {
        money(*cents.borrow())
    }
    pub fn selected(&self, c: &Creator) -> bool {
        self.creator == Some(c.id)
    }
    pub fn difference(&self) -> i64 {
        self.sales_cents - self.feed_cents
    }
}

#[derive(Template)]
#[template(path = "attribution/cross_check_day.html")]
pub struct DayPage {
    pub ctx: PageCtx,
    pub zone: AgencyZone,
    pub creator: Creator,
    pub day: NaiveDate,
    pub lines: Vec<DayLine>,
    pub sales_without_line: Vec<DaySale>,
    pub sales_cents: i64,
    pub feed_cents: i64,
}

impl DayPage {
    /// Cents as money; takes a field (by reference) or a computed value.
    pub fn money(cents: impl std::borrow::Borrow<i64>) -> String {
        money(*cents.borrow())
    }
    pub fn when(&self, at: &DateTime<Utc>) -> String {
        self.zone.date_time(*at)
    }
    pub fn difference(&self) -> i64 {
        self.sales_cents - self.feed_cents
    }
}

/// Raw query: every field optional, parsed below so a bad value is a
/// message on the page rather than a framework error.
#[derive(Deserialize, Default)]
pub struct Query {
    from: Option<String>,
    to: Option<String>,
    creator: Option<String>,
}

/// The period and filter, parsed.
struct Period {
    from: NaiveDate,
    to: NaiveDate,
    creator: Option<CreatorId>,
}

fn parse_day(raw: &str, what: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| format!("The {what} date must look like 2026-12-01."))
}

fn parse(q: &Query, today: NaiveDate) -> Result<Period, String> {
    let to = match q.to.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => parse_day(s, "end")?,
        None => today,
    };
    let from = match q.from.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => parse_day(s, "start")?,
        None => to
            .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
            .unwrap_or(to),
    };
    if from > to {
        return Err("The start date is after the end date.".into());
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(format!("Choose at most {MAX_DAYS} days."));
    }
    let creator = match q
        .creator
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(
            s.parse::<CreatorId>()
                .map_err(|_| "That creator is not one of this agency's.".to_owned())?,
        ),
        None => None,
    };
    Ok(Period { from, to, creator })
}

fn today_in(zone: AgencyZone) -> NaiveDate {
    zone.local(Utc::now()).date_naive()
}

pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    q: web::Query<Query>,
) -> Result<HttpResponse, WebError> {
    let zone = store::agency_settings::time_zone(&state.pool, me.agency_id).await?;
    let creators = store::creators::list(&state.pool, me.agency_id).await?;
    let today = today_in(zone);
    let (period, error) = match parse(&q, today) {
        Ok(p) if p.creator.is_none_or(|c| creators.iter().any(|x| x.id == c)) => (p, None),
        Ok(_) => (
            parse(&Query::default(), today).map_err(WebError::BadRequest)?,
            Some("That creator is not one of this agency's.".to_owned()),
        ),
        Err(msg) => (
            parse(&Query::default(), today).map_err(WebError::BadRequest)?,
            Some(msg),
        ),
    };
    let rows = if error.is_some() {
        Vec::new()
    } else {
        store::cross_check::days(
            &state.pool,
            me.agency_id,
            zone,
            period.from,
            period.to,
            period.creator,
        )
        .await?
    };
    let page = CrossCheckPage {
        ctx: PageCtx::new(&session, Some(&me), "earnings")?,
        zone,
        from: period.from.to_string(),
        to: period.to.to_string(),
        creator: period.creator,
        creators,
        sales_cents: rows.iter().map(|r| r.sales_cents).sum(),
        feed_cents: rows.iter().map(|r| r.feed_cents).sum(),
        differing_days: rows.iter().filter(|r| r.differs()).count(),
        rows,
        error,
    };
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    html_status(status, &page)
}

#[derive(Deserialize)]
pub struct DayQuery {
    day: Option<String>,
}

pub async fn day(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    id: web::Path<String>,
    q: web::Query<DayQuery>,
) -> Result<HttpResponse, WebError> {
    let id: CreatorId = id.parse().map_err(|_| WebError::NotFound)?;
    let creator = store::creators::get(&state.pool, me.agency_id, id).await?;
    let zone = store::agency_settings::time_zone(&state.pool, me.agency_id).await?;
    let day = match q.day.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => parse_day(s, "day's").map_err(WebError::BadRequest)?,
        None => today_in(zone),
    };
    let d = store::cross_check::day_detail(&state.pool, me.agency_id, zone, id, day).await?;
    let sales_cents = d
        .lines
        .iter()
        .filter_map(|l| l.sale_cents)
        .chain(d.sales_without_line.iter().map(|s| s.gross_cents))
        .sum();
    let feed_cents = d.lines.iter().map(|l| l.gross_cents).sum();
    html_status(
        StatusCode::OK,
        &DayPage {
            ctx: PageCtx::new(&session, Some(&me), "earnings")?,
            zone,
            creator,
            day,
            lines: d.lines,
            sales_without_line: d.sales_without_line,
            sales_cents,
            feed_cents,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: Option<&str>, to: Option<&str>, creator: Option<&str>) -> Query {
        Query {
            from: from.map(Into::into),
            to: to.map(Into::into),
            creator: creator.map(Into::into),
        }
    }

    #[test]
    fn the_default_period_is_the_last_thirty_days() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let p = parse(&q(None, None, None), today).unwrap();
        assert_eq!(p.to, today);
        assert_eq!(p.from, NaiveDate::from_ymd_opt(2026, 11, 3).unwrap());
        assert_eq!((p.to - p.from).num_days(), 29);
    }

    #[test]
    fn bad_periods_are_explained() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert!(parse(&q(Some("yesterday"), None, None), today).is_err());
        assert!(parse(&q(Some("2026-12-03"), Some("2026-12-01"), None), today).is_err());
        assert!(parse(&q(Some("2024-01-01"), Some("2026-12-01"), None), today).is_err());
        assert!(parse(&q(None, None, Some("nope")), today).is_err());
        assert!(parse(&q(Some(""), Some(" "), Some("")), today).is_ok());
    }
}
