//! A creator's sync status for admins: backfill and history progress, the
//! last reconcile and its cost, the rate-limit budget, recent runs, and a
//! "Reconcile now" button (audited, at most once a minute).

use std::time::Duration;

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::domain::AuditAction;
use crate::domain::CreatorId;
use crate::fanvue::budget::BucketStatus;
use crate::http::client_ip::ClientIp;
use crate::store::creators::Creator;
use crate::store::mirror_stats::MirrorStats;
use crate::store::sync::{Run, State};
use crate::store::{self};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html, see_other};
use crate::web::session::{FlashKind, TypedSession};

/// "Reconcile now" may be pressed this often per creator.
const RECONCILE_NOW_GAP: Duration = Duration::from_secs(60);

#[derive(Template)]
#[template(path = "admin/creator_sync.html")]
pub struct SyncPage {
    pub ctx: PageCtx,
    pub creator: Creator,
    pub state: Option<State>,
    pub mirror: MirrorStats,
    pub runs: Vec<Run>,
    pub last_reconcile: Option<Run>,
    pub budget: Option<BucketStatus>,
    pub earnings: store::earnings::Summary,
    pub unmatched: Vec<store::earnings::Unmatched>,
    /// Lines per earnings-feed request (the cost statement).
    pub page_size: u32,
    pub overlap_mins: u64,
}

impl SyncPage {
    pub fn skipped_count(run: &Run) -> usize {
        run.skipped.as_array().map_or(0, Vec::len)
    }
    pub fn duration_ms(run: &Run) -> i64 {
        (run.finished_at - run.started_at).num_milliseconds()
    }
    pub fn dollars(cents: &i64) -> String {
        crate::domain::Cents(*cents).to_string()
    }
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id: CreatorId = id.parse().map_err(|_| WebError::NotFound)?;
    let creator = store::creators::get(&state.pool, me.agency_id, id).await?;
    let sync_state = store::sync::state(&state.pool, me.agency_id, id).await?;
    let mut conn = state.pool.acquire().await?;
    let mirror = store::mirror_stats::stats(&mut conn, me.agency_id, id).await?;
    let runs = store::sync::recent_runs(&state.pool, me.agency_id, id, 25).await?;
    let last_reconcile = runs.iter().find(|r| r.kind == "reconcile").cloned();
    let earnings = store::earnings::summary(&state.pool, me.agency_id, id).await?;
    let unmatched = store::earnings::unmatched(&state.pool, me.agency_id, id, 20).await?;
    let budget = state
        .connections
        .client()
        .budget()
        .status(&creator.fanvue_uuid.to_string())
        .await;
    html(&SyncPage {
        ctx: PageCtx::new(&session, Some(&me), "creators")?,
        creator,
        state: sync_state,
        mirror,
        runs,
        last_reconcile,
        budget,
        earnings,
        unmatched,
        page_size: crate::sync::PAGE_SIZE,
        overlap_mins: state.settings.sync.earnings_overlap_secs / 60,
    })
}

pub async fn reconcile_now(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id: CreatorId = id.parse().map_err(|_| WebError::NotFound)?;
    let creator = store::creators::get(&state.pool, me.agency_id, id).await?;
    let mut tx = state.pool.begin().await?;
    let queued =
        store::sync::request_reconcile(&mut *tx, me.agency_id, id, RECONCILE_NOW_GAP).await?;
    if queued {
        store::audit::record(
            &mut *tx,
            me.audit(
                AuditAction::ReconcileRequested,
                &creator.handle,
                serde_json::json!({ "creator_id": id }),
                &ip,
            ),
        )
        .await?;
    }
    tx.commit().await?;
    if queued {
        TypedSession(&session).flash(
            FlashKind::Success,
            "Reconcile queued; it starts within seconds.",
        );
    } else {
        TypedSession(&session).flash(
            FlashKind::Info,
            "A reconcile ran or was requested less than a minute ago; try again shortly.",
        );
    }
    Ok(see_other(&format!("/admin/creators/{id}/sync")))
}
