//! `/sales` (newest sales, by basis), `/sales/{id}` (one sale: credit in
//! force beside the computed one, history) and its reassign / revert forms.
//! Managers and above only; every lookup is scoped by the agency.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::{AuditAction, Cents, FieldErrors, SaleBasis, SaleId, StaffId};
use crate::http::client_ip::ClientIp;
use crate::store;
use crate::store::sales::{ReassignError, Reassignment, Sale};
use crate::store::staff::Staff;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::ManagerStaff;
use crate::web::render::{PageCtx, html, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

const LIST_LIMIT: i64 = 200;
const REASON_MAX_CHARS: usize = 500;

#[derive(Template)]
#[template(path = "attribution/sales.html")]
pub struct SalesPage {
    pub ctx: PageCtx,
    pub sales: Vec<Sale>,
    pub bases: Vec<SaleBasis>,
    pub basis: Option<SaleBasis>,
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
}

impl SalePage {
    pub fn money(cents: &i64) -> String {
        Cents::new(*cents).to_string()
    }
    pub fn basis_label(basis: &str) -> &str {
        SaleBasis::label_of(basis)
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    basis: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    me: ManagerStaff,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let basis = match q.basis.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(SaleBasis::parse(b).map_err(|e| WebError::BadRequest(e.0))?),
    };
    let sales = store::sales::recent(&state.pool, me.agency_id, basis, LIST_LIMIT).await?;
    html(&SalesPage {
        ctx: PageCtx::new(&session, Some(&me), "sales")?,
        sales,
        bases: SaleBasis::ALL.to_vec(),
        basis,
    })
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
