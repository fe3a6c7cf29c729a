//! `/sales` (the drill-down: filtered, keyset-paged, newest first),
//! `/sales/export.csv` (the same sales as a streamed CSV), `/sales/{id}`
//! (one sale: credit in force beside the computed one, history) and its
//! reassign / revert forms.
//! Managers and above only; every lookup is scoped by the agency.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;

use crate::domain::{
    AgencyZone, AuditAction, Cents, CreatorId, FieldErrors, SaleBasis, SaleId, StaffId,
};
use crate::http::client_ip::ClientIp;
use crate::store;
use crate::store::creators::Creator;
use crate::store::sales::{
    CreditFilter, ListedSale, ReassignError, Reassignment, Sale, SalesFilter,
};
use crate::store::staff::Staff;
use crate::web::error::WebError;
use crate::web::extract::ManagerStaff;
use crate::web::render::{PageCtx, html, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};
use crate::web::{AppState, csv};

/// Sales per page of the drill-down.
const PAGE: i64 = 100;
const REASON_MAX_CHARS: usize = 500;

#[derive(Template)]
#[template(path = "attribution/sales.html")]
pub struct SalesPage {
    pub ctx: PageCtx,
    pub zone: AgencyZone,
    pub sales: Vec<ListedSale>,
    pub bases: Vec<SaleBasis>,
    pub kinds: &'static [&'static str],
    pub creators: Vec<Creator>,
    pub staff: Vec<Staff>,
    /// The filters as given (echoed in the form and the links).
    pub q: ListQuery,
    pub error: Option<String>,
    /// The query string of the next page, when there is one.
    pub next: Option<String>,
    /// The same filters without the cursor (the CSV link).
    pub filters: String,
}

#[derive(Template)]
#[template(path = "attribution/sale.html")]
pub struct SalePage {
    pub ctx: PageCtx,
    pub sale: Sale,
    pub history: Vec<Reassignment>,
    pub staff: Vec<Staff>,
    pub reason_input: String,
    pub errors: FieldErrors,
}

impl SalesPage {
    pub fn money(cents: &i64) -> String {
        Cents::new(*cents).to_string()
    }
    pub fn when(&self, at: &DateTime<Utc>) -> String {
        self.zone.date_time(*at)
    }
    /// Whether the query's `value` is `option` (a select's current choice).
    pub fn is(value: &Option<String>, option: impl AsRef<str>) -> bool {
        value.as_deref() == Some(option.as_ref())
    }
}

impl SalePage {
    pub fn money(cents: &i64) -> String {
        Cents::new(*cents).to_string()
    }
    pub fn basis_label(basis: &str) -> &str {
        SaleBasis::label_of(basis)
    }
}

/// The drill-down's query contract (the dashboard links its cells here):
/// `from`/`to` inclusive local days (`YYYY-MM-DD`, agency zone),
/// `creator=<uuid>`, `staff=<uuid>|none`, `basis`, `kind` (as stored), and
/// `after`, the keyset cursor of the next page. All optional.
#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub creator: Option<String>,
    pub staff: Option<String>,
    pub basis: Option<String>,
    pub kind: Option<String>,
    pub after: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ListQuery {
    /// Parses every filter; the first bad one is explained.
    fn filter(&self, zone: AgencyZone) -> Result<SalesFilter, String> {
        let day = |v: &Option<String>, what: &str| {
            given(v)
                .map(|s| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .map_err(|_| format!("The {what} date must look like 2026-12-01."))
                })
                .transpose()
        };
        let from = day(&self.from, "start")?;
        let to = day(&self.to, "end")?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err("The start date is after the end date.".into());
        }
        let creator = given(&self.creator)
            .map(|s| {
                s.parse::<CreatorId>()
                    .map_err(|_| "That creator is not one of this agency's.".to_owned())
            })
            .transpose()?;
        let credit = match given(&self.staff) {
            None => CreditFilter::Anyone,
            Some("none") => CreditFilter::Nobody,
            Some(s) => CreditFilter::Staff(s.parse::<StaffId>().map_err(|_| {
                "Credited to: choose a staff member, or \"none\" for uncredited sales.".to_owned()
            })?),
        };
        let basis = given(&self.basis)
            .map(|b| SaleBasis::parse(b).map_err(|_| format!("There is no basis \"{b}\".")))
            .transpose()?;
        let kind = given(&self.kind)
            .map(|k| {
                store::sales::KINDS
                    .iter()
                    .find(|x| **x == k)
                    .copied()
                    .ok_or_else(|| format!("There is no sale type \"{k}\"."))
            })
            .transpose()?;
        Ok(SalesFilter {
            zone,
            from,
            to,
            creator,
            credit,
            basis,
            kind,
        })
    }

    /// `<micros>.<sale id>`: the last sale of the previous page.
    fn cursor(&self) -> Result<Option<(DateTime<Utc>, SaleId)>, String> {
        let Some(raw) = given(&self.after) else {
            return Ok(None);
        };
        let bad = || "That page link is not valid any more; start from the first page.".to_owned();
        let (micros, id) = raw.split_once('.').ok_or_else(bad)?;
        let at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .ok_or_else(bad)?;
        Ok(Some((at, id.parse().map_err(|_| bad())?)))
    }

    /// The filters as a query string (no cursor), URL-encoded.
    fn encoded(&self) -> String {
        let pairs = [
            ("from", &self.from),
            ("to", &self.to),
            ("creator", &self.creator),
            ("staff", &self.staff),
            ("basis", &self.basis),
            ("kind", &self.kind),
        ];
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if let Some(v) = given(v) {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }

    /// What the audit entry of an export names.
    fn audited(&self) -> serde_json::Value {
        serde_json::json!({
            "from": given(&self.from), "to": given(&self.to), "creator": given(&self.creator),
            "staff": given(&self.staff), "basis": given(&self.basis), "kind": given(&self.kind),
        })
    }
}

/// The agency's creators and staff exist for the ids the filter names
/// (another agency's id is an unknown one).
fn foreign_ids(f: &SalesFilter, creators: &[Creator], staff: &[Staff]) -> Option<String> {
    if let Some(c) = f.creator
        && !creators.iter().any(|x| x.id == c)
    {
        return Some("That creator is not one of this agency's.".into());
    }
    if let CreditFilter::Staff(s) = f.credit
        && !staff.iter().any(|x| x.id == s)
    {
        return Some("That staff member is not one of this agency's.".into());
    }
    None
}

pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let q = q.into_inner();
    let zone = store::agency_settings::time_zone(&state.pool, me.agency_id).await?;
    let creators = store::creators::list(&state.pool, me.agency_id).await?;
    let staff = store::staff::list(&state.pool, me.agency_id).await?;
    let parsed = q
        .filter(zone)
        .and_then(|f| q.cursor().map(|c| (f, c)))
        .and_then(|(f, c)| match foreign_ids(&f, &creators, &staff) {
            Some(msg) => Err(msg),
            None => Ok((f, c)),
        });
    let (mut sales, error) = match parsed {
        Ok((f, after)) => (
            store::sales::list(&state.pool, me.agency_id, &f, after, PAGE + 1).await?,
            None,
        ),
        Err(msg) => (Vec::new(), Some(msg)),
    };
    let filters = q.encoded();
    let next = if sales.len() as i64 > PAGE {
        sales.truncate(PAGE as usize);
        sales.last().map(|s| {
            let cursor = format!("{}.{}", s.occurred_at.timestamp_micros(), s.id);
            let mut out = url::form_urlencoded::Serializer::new(filters.clone());
            out.append_pair("after", &cursor);
            out.finish()
        })
    } else {
        None
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    html_status(
        status,
        &SalesPage {
            ctx: PageCtx::new(&session, Some(&me), "sales")?,
            zone,
            sales,
            bases: SaleBasis::ALL.to_vec(),
            kinds: store::sales::KINDS,
            creators,
            staff,
            q,
            error,
            next,
            filters,
        },
    )
}

/// `GET /sales/export.csv`: the sales the same filters select, one row per
/// sale, times in the agency's zone and in UTC, amounts in cents; streamed
/// from the database and audited (`data.exported`, naming the filters).
pub async fn export(
    state: web::Data<AppState>,
    me: ManagerStaff,
    ip: ClientIp,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let q = q.into_inner();
    let zone = store::agency_settings::time_zone(&state.pool, me.agency_id).await?;
    let creators = store::creators::list(&state.pool, me.agency_id).await?;
    let staff = store::staff::list(&state.pool, me.agency_id).await?;
    let f = q.filter(zone).map_err(WebError::BadRequest)?;
    if let Some(msg) = foreign_ids(&f, &creators, &staff) {
        return Err(WebError::BadRequest(msg));
    }
    store::audit::record(
        &state.pool,
        me.audit(
            AuditAction::DataExported,
            "sales.csv",
            serde_json::json!({ "export": "sales", "filters": q.audited() }),
            &ip,
        ),
    )
    .await?;
    let head = csv::header(&[
        "sale_id",
        "time_local",
        "time_zone",
        "time_utc",
        "creator",
        "fan",
        "fan_uuid",
        "type",
        "gross_cents",
        "net_cents",
        "net_estimated",
        "currency",
        "credited_to",
        "credited_staff_id",
        "basis",
        "basis_detail",
        "computed_basis",
        "message_link",
        "transaction_id",
        "reverses_sale_id",
    ]);
    let rows = store::sales::export(state.pool.clone(), me.agency_id, f)
        .map(move |r| r.map(|s| csv_row(&s, zone)).map_err(WebError::from));
    Ok(csv::download("sales.csv", head, rows))
}

fn opt(v: Option<impl ToString>) -> String {
    csv::text(&v.map(|x| x.to_string()).unwrap_or_default())
}

fn message_link(s: &ListedSale) -> Option<String> {
    let chat = s.chat_id?;
    Some(match s.message_uuid {
        Some(m) => format!("/inbox/chats/{chat}#msg-{m}"),
        None => format!("/inbox/chats/{chat}"),
    })
}

fn csv_row(s: &ListedSale, zone: AgencyZone) -> String {
    csv::record(&[
        csv::text(&s.id.to_string()),
        // Local time with its offset (a bare "+0545" cell would read as a
        // formula and be neutralised), then the zone's name.
        csv::text(
            &zone
                .local(s.occurred_at)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
        ),
        csv::text(zone.name()),
        csv::text(&s.occurred_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        csv::text(&s.creator_name),
        opt(s.fan_name.as_deref()),
        opt(s.fan_uuid),
        csv::text(&s.kind),
        csv::number(s.gross_cents),
        csv::number(s.net_cents),
        csv::text(if s.net_estimated { "yes" } else { "no" }),
        csv::text(&s.currency),
        opt(s.credited_name.as_deref()),
        opt(s.credited_staff_id),
        csv::text(&s.basis),
        csv::text(&s.basis_detail),
        csv::text(&s.auto_basis),
        opt(message_link(s)),
        opt(s.transaction_id.as_deref()),
        opt(s.reverses_sale_id),
    ])
}

fn parse_id(raw: &str) -> Result<SaleId, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
}

async fn page(
    state: &AppState,
    session: &Session,
    me: &ManagerStaff,
    id: SaleId,
    reason_input: String,
    errors: FieldErrors,
) -> Result<SalePage, WebError> {
    let sale = store::sales::get(&state.pool, me.agency_id, id).await?;
    let history = store::sales::history(&state.pool, me.agency_id, id).await?;
    let staff = store::staff::list(&state.pool, me.agency_id)
        .await?
        .into_iter()
        .filter(|s| s.active)
        .collect();
    Ok(SalePage {
        ctx: PageCtx::new(session, Some(me), "sales")?,
        sale,
        history,
        staff,
        reason_input,
        errors,
    })
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = parse_id(&id)?;
    html(
        &page(
            &state,
            &session,
            &me,
            id,
            String::new(),
            FieldErrors::default(),
        )
        .await?,
    )
}

#[derive(Deserialize)]
pub struct ReassignForm {
    /// Empty: credit nobody.
    staff_id: String,
    reason: String,
}

#[derive(Deserialize)]
pub struct RevertForm {
    reason: String,
}

fn parse_reason(raw: &str) -> Result<String, &'static str> {
    let r = raw.trim();
    if r.is_empty() {
        return Err("Say why: the reason is kept with the change.");
    }
    if r.chars().count() > REASON_MAX_CHARS {
        return Err("Keep the reason under 500 characters.");
    }
    Ok(r.to_owned())
}

async fn invalid(
    state: &AppState,
    session: &Session,
    me: &ManagerStaff,
    id: SaleId,
    raw: String,
    msg: &str,
) -> Result<HttpResponse, WebError> {
    let mut errors = FieldErrors::default();
    errors.add("reason", msg);
    let p = page(state, session, me, id, raw, errors).await?;
    html_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
}

fn reassign_error(e: ReassignError) -> Result<&'static str, WebError> {
    match e {
        ReassignError::NotFound => Err(WebError::NotFound),
        ReassignError::Reversal => Ok("A refund follows its sale: reassign the sale it reverses."),
        ReassignError::NothingToRevert => Ok("This sale has no reassignment to revert."),
        ReassignError::Store(e) => Err(e.into()),
    }
}

pub async fn reassign(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    ip: ClientIp,
    id: web::Path<String>,
    form: web::Form<ReassignForm>,
) -> Result<HttpResponse, WebError> {
    let id = parse_id(&id)?;
    let form = form.into_inner();
    let staff: Option<StaffId> = match form.staff_id.trim() {
        "" => None,
        raw => Some(raw.parse().map_err(|_| WebError::NotFound)?),
    };
    let reason = match parse_reason(&form.reason) {
        Ok(r) => r,
        Err(msg) => return invalid(&state, &session, &me, id, form.reason, msg).await,
    };
    let mut tx = state.pool.begin().await?;
    let before =
        match store::sales::reassign(&mut tx, me.agency_id, id, staff, &reason, me.id).await {
            Ok(b) => b,
            Err(e) => {
                drop(tx);
                let msg = reassign_error(e)?;
                return invalid(&state, &session, &me, id, form.reason, msg).await;
            }
        };
    store::audit::record(
        &mut *tx,
        me.audit(
            AuditAction::SaleReassigned,
            &id.to_string(),
            serde_json::json!({
                "sale_id": id,
                "from_basis": before.basis,
                "from_staff_id": before.staff,
                "to_staff_id": staff,
                "reason": reason,
            }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    TypedSession(&session).flash(FlashKind::Success, "Sale reassigned.");
    Ok(see_other(&format!("/sales/{id}")))
}

pub async fn revert(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    ip: ClientIp,
    id: web::Path<String>,
    form: web::Form<RevertForm>,
) -> Result<HttpResponse, WebError> {
    let id = parse_id(&id)?;
    let form = form.into_inner();
    let reason = match parse_reason(&form.reason) {
        Ok(r) => r,
        Err(msg) => return invalid(&state, &session, &me, id, form.reason, msg).await,
    };
    let mut tx = state.pool.begin().await?;
    let before = match store::sales::revert(&mut tx, me.agency_id, id, &reason, me.id).await {
        Ok(b) => b,
        Err(e) => {
            drop(tx);
            let msg = reassign_error(e)?;
            return invalid(&state, &session, &me, id, form.reason, msg).await;
        }
    };
    store::audit::record(
        &mut *tx,
        me.audit(
            AuditAction::SaleReassignmentReverted,
            &id.to_string(),
            serde_json::json!({
                "sale_id": id,
                "from_staff_id": before.staff,
                "reason": reason,
            }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    TypedSession(&session).flash(
        FlashKind::Success,
        "Reassignment reverted: the sale is credited by its basis again.",
    );
    Ok(see_other(&format!("/sales/{id}")))
}
