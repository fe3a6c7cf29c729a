//! Fanvue webhooks (DESIGN §5.1, invariant 3): `receive` verifies, dedupes
//! and commits each delivery before answering 2xx — no API call and no
//! mirror write in the request; `process` applies stored events to the
//! mirror afterwards, idempotently, with retries and dead letters;
//! `group_commit` stores concurrent deliveries with one statement per batch.
//! Intake has its own routes and state: it never imports the web face.

pub mod batch;
pub mod events;
pub mod group_commit;
pub mod process;
pub mod receive;
pub mod signature;

use std::sync::Arc;

use actix_web::web;
use sqlx::PgPool;

use crate::config::Settings;
use group_commit::IntakeWriter;

/// Webhook bodies larger than this get 413 before anything else happens.
pub const WEBHOOK_BODY_LIMIT: usize = 256 * 1024;

/// Refused deliveries logged one by one per minute, installation-wide;
/// beyond this only a per-minute count is kept (any unsigned POST is one).
pub const REJECTIONS_PER_MINUTE: i64 = 60;

/// What intake handlers share (through `web::Data`).
pub struct IntakeState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    /// The group commit (one statement per batch of deliveries).
    pub writer: IntakeWriter,
}

impl IntakeState {
    /// Starts the group-commit writer on the current runtime.
    pub fn start(pool: PgPool, settings: Arc<Settings>) -> Self {
        let writer = IntakeWriter::spawn(
            pool.clone(),
            settings.webhooks.intake_writers,
            settings.webhooks.intake_batch,
        );
        Self {
            pool,
            settings,
            writer,
        }
    }
}

/// The intake routes: one URL per event type, and one shared URL.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/webhooks")
            .app_data(web::PayloadConfig::new(WEBHOOK_BODY_LIMIT))
            .route("/fanvue", web::post().to(receive::shared))
            .route("/fanvue/{event}", web::post().to(receive::per_event)),
    );
}
