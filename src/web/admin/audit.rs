//! The agency's audit log, newest first, paginated.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::store::{self, audit::AuditRow};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html};

pub const PER_PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub ctx: PageCtx,
    pub rows: Vec<AuditRow>,
    pub page: i64,
    pub pages: i64,
    pub total: i64,
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<i64>,
}

impl AuditPage {
    pub fn details_text(row: &AuditRow) -> String {
        match &row.details {
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            serde_json::Value::Object(m) => m
                .iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, WebError> {
    let page = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let (rows, total) = store::audit::page(&state.pool, me.agency_id, page, PER_PAGE).await?;
    let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    html(&AuditPage {
        ctx: PageCtx::new(&session, Some(&me), "audit")?,
        rows,
        page,
        pages,
        total,
    })
}
