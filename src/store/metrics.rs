//! Installation-wide figures for `/metrics` (operator telemetry, never shown
//! to an agency): open and dead webhook events, processing lag, creators by
//! connection status, recent sends and sync runs. Each query reads an index
//! or a recent window, so a scrape stays cheap as the tables grow.

use sqlx::PgExecutor;

use super::StoreError;

#[derive(Debug, Clone, Default)]
pub struct DbSamples {
    /// Pending or being processed.
    pub webhooks_open: i64,
    /// Dead-lettered (attempts exhausted).
    pub webhooks_dead: i64,
    /// Age of the oldest open event (0 when none): the processing lag.
    pub webhook_lag_secs: f64,
    /// Since the newest delivery was received (a webhook gap shows here).
    pub webhook_last_received_age_secs: f64,
    /// Every status, zero included.
    pub creators: Vec<(String, i64)>,
    pub sends_last_hour: Vec<(String, i64)>,
    /// (kind, ok, count) of runs started in the last hour.
    pub sync_runs_last_hour: Vec<(String, bool, i64)>,
}

#[tracing::instrument(skip_all)]
pub async fn sample(db: impl PgExecutor<'_> + Copy) -> Result<DbSamples, StoreError> {
    let (webhooks_open, webhook_lag_secs): (i64, f64) = sqlx::query_as(
        "SELECT count(*),
                COALESCE(EXTRACT(EPOCH FROM now() - min(received_at))::float8, 0)
           FROM webhook_events WHERE status IN ('pending', 'processing')",
    )
    .fetch_one(db)
    .await?;
    let webhooks_dead: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_events WHERE status = 'dead'")
            .fetch_one(db)
            .await?;
    // The newest row by id is the newest received (ids are a sequence).
    let webhook_last_received_age_secs: f64 = sqlx::query_scalar(
        "SELECT COALESCE(
                  (SELECT EXTRACT(EPOCH FROM now() - received_at)::float8
                     FROM webhook_events ORDER BY id DESC LIMIT 1), 0)",
    )
    .fetch_one(db)
    .await?;
    let creators = sqlx::query_as(
        "SELECT s.status, count(c.id)
           FROM (VALUES ('connected'), ('needs_reauth'), ('disconnected')) AS s(status)
           LEFT JOIN creators c ON c.status = s.status
          GROUP BY s.status ORDER BY s.status",
    )
    .fetch_all(db)
    .await?;
    let sends_last_hour = sqlx::query_as(
        "SELECT s.status, count(o.id)
           FROM (VALUES ('pending'), ('sent'), ('failed'), ('unknown')) AS s(status)
           LEFT JOIN outbound_sends o
             ON o.status = s.status AND o.created_at > now() - interval '1 hour'
          GROUP BY s.status ORDER BY s.status",
    )
    .fetch_all(db)
    .await?;
    let sync_runs_last_hour = sqlx::query_as(
        "SELECT kind, error IS NULL, count(*) FROM sync_runs
          WHERE started_at > now() - interval '1 hour'
          GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(db)
    .await?;
    Ok(DbSamples {
        webhooks_open,
        webhooks_dead,
        webhook_lag_secs,
        webhook_last_received_age_secs,
        creators,
        sends_last_hour,
        sync_runs_last_hour,
    })
}
