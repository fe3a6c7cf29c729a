//! Failed login attempts, counted per account and per client address for
//! throttling. Rows older than the window are irrelevant and purged.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::StoreError;

#[tracing::instrument(skip_all)]
pub async fn record(
    db: impl PgExecutor<'_>,
    email: &str,
    client_ip: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO login_failures (email, client_ip) VALUES ($1, $2)")
        .bind(email)
        .bind(client_ip)
        .execute(db)
        .await?;
    Ok(())
}

/// If `email` or `client_ip` has at least its limit of failures inside the
/// window, the moment the oldest failure that keeps it locked leaves the
/// window (the later of the two); otherwise None.
#[tracing::instrument(skip_all)]
pub async fn locked_until(
    db: impl PgExecutor<'_>,
    email: &str,
    client_ip: &str,
    window: Duration,
    max_per_account: i64,
    max_per_ip: i64,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let secs = window.as_secs_f64();
    // The `max`-th newest failure in the window: while it is inside the
    // window, the count is at least `max`.
    let until: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT max(t) FROM (
            (SELECT at + make_interval(secs => $3) AS t FROM login_failures
              WHERE email = $1 AND at > now() - make_interval(secs => $3)
              ORDER BY at DESC OFFSET $4 - 1 LIMIT 1)
            UNION ALL
            (SELECT at + make_interval(secs => $3) AS t FROM login_failures
              WHERE client_ip = $2 AND at > now() - make_interval(secs => $3)
              ORDER BY at DESC OFFSET $5 - 1 LIMIT 1)
         ) locks",
    )
    .bind(email)
    .bind(client_ip)
    .bind(secs)
    .bind(max_per_account)
    .bind(max_per_ip)
    .fetch_one(db)
    .await?;
    Ok(until)
}

/// A successful login forgives the account's earlier failures.
#[tracing::instrument(skip_all)]
pub async fn clear_for_email(db: impl PgExecutor<'_>, email: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(email)
        .execute(db)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn purge_older_than(
    db: impl PgExecutor<'_>,
    window: Duration,
) -> Result<u64, StoreError> {
    let r = sqlx::query("DELETE FROM login_failures WHERE at < now() - make_interval(secs => $1)")
        .bind(window.as_secs_f64())
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}
