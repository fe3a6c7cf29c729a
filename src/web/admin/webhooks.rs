//! Webhook status for admins: the URLs to register in Fanvue's Events tab,
//! what arrived (per event type), per-creator freshness with a gap alert,
//! the agency's own rejected deliveries (with a count of the rest), and
//! dead letters with a retry button.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};

use crate::domain::{AuditAction, WebhookEventId, WebhookEventType as EventType};
use crate::http::client_ip::ClientIp;
use crate::store::webhooks::{DeadLetter, Rejection, TypeSummary};
use crate::store::{self};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html, see_other};
use crate::web::session::{FlashKind, TypedSession};

pub struct EndpointRow {
    pub label: &'static str,
    pub topic: &'static str,
    pub url: String,
    pub total: i64,
    pub last: Option<DateTime<Utc>>,
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
pub struct WebhooksPage {
    pub ctx: PageCtx,
    pub shared_url: String,
    pub endpoints: Vec<EndpointRow>,
    pub freshness: Vec<store::sync::Freshness>,
    /// Those whose signed body named one of this agency's creators.
    pub rejections: Vec<Rejection>,
    /// Refused deliveries not shown (forged, another agency's, or beyond the
    /// logging cap), counted.
    pub rejections_elsewhere: i64,
    pub dead: Vec<DeadLetter>,
    pub secret_configured: bool,
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
) -> Result<HttpResponse, WebError> {
    let summary: Vec<TypeSummary> = store::webhooks::summary(&state.pool, me.agency_id).await?;
    let endpoints = EventType::ALL
        .into_iter()
        .map(|t| {
            let s = summary.iter().find(|s| s.event_type == t.topic());
            EndpointRow {
                label: t.label(),
                topic: t.topic(),
                url: state
                    .settings
                    .public_link(&format!("/webhooks/fanvue/{}", t.slug())),
                total: s.map_or(0, |s| s.total),
                last: s.and_then(|s| s.last_received_at),
            }
        })
        .collect();
    html(&WebhooksPage {
        ctx: PageCtx::new(&session, Some(&me), "webhooks")?,
        shared_url: state.settings.public_link("/webhooks/fanvue"),
        endpoints,
        freshness: store::sync::freshness(&state.pool, me.agency_id).await?,
        rejections: store::webhooks::recent_rejections(&state.pool, me.agency_id, 20).await?,
        rejections_elsewhere: store::webhooks::rejections_elsewhere(&state.pool, me.agency_id)
            .await?,
        dead: store::webhooks::dead_letters(&state.pool, me.agency_id).await?,
        secret_configured: state.settings.webhooks.secret.is_some(),
    })
}

pub async fn retry(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id: WebhookEventId = id.parse().map_err(|_| WebError::NotFound)?;
    let mut tx = state.pool.begin().await?;
    store::webhooks::retry_dead(&mut *tx, me.agency_id, id).await?;
    store::audit::record(
        &mut *tx,
        me.audit(
            AuditAction::WebhookRetried,
            "webhook",
            serde_json::json!({ "event_id": id }),
            &ip,
        ),
    )
    .await?;
    tx.commit().await?;
    TypedSession(&session).flash(FlashKind::Success, "The event will be processed again.");
    Ok(see_other("/admin/webhooks"))
}
