//! Failed login attempts, counted per account and per client address for
//! throttling. Rows older than the window are irrelevant and purged.
//! An attempt is counted *before* its password is verified, under a lock,
//! so parallel requests cannot all pass the check before any is counted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use super::StoreError;

/// Stored emails (and the throttle key) are cut to this many characters:
/// the longest valid address, so a 64 KiB "email" cannot bloat rows.
pub const MAX_KEY_CHARS: usize = 254;

/// `s` cut to at most `MAX_KEY_CHARS` characters.
pub fn capped(s: &str) -> &str {
    match s.char_indices().nth(MAX_KEY_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The outcome of asking to make one more attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Locked until then; nothing was counted.
    Locked(DateTime<Utc>),
    /// Counted as a failure (row id) until a success clears it.
    Counted(i64),
}

/// Atomically: if `email` or `client_ip` is locked, say until when;
/// otherwise count this attempt as a failure now. Holding per-email and
/// per-address advisory locks (always in that order) across the check and
/// the insert means N parallel attempts are counted one after another.
#[tracing::instrument(skip_all)]
pub async fn begin_attempt(
    pool: &PgPool,
    email: &str,
    client_ip: &str,
    window: Duration,
    max_per_account: i64,
    max_per_ip: i64,
) -> Result<Attempt, StoreError> {
    let email = capped(email);
    let mut tx = pool.begin().await?;
    super::locks::login_attempt(&mut tx, email, client_ip).await?;
    if let Some(until) = locked_until(
        &mut *tx,
        email,
        client_ip,
        window,
        max_per_account,
        max_per_ip,
    )
    .await?
    {
        tx.commit().await?;
        return Ok(Attempt::Locked(until));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO login_failures (email, client_ip) VALUES ($1, $2) RETURNING id",
    )
    .bind(email)
    .bind(client_ip)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Attempt::Counted(id))
}

/// Takes back a counted attempt whose password was never checked (the
/// server was too busy to verify it).
#[tracing::instrument(skip_all)]
pub async fn uncount(db: impl PgExecutor<'_>, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_failures WHERE id = $1")
        .bind(id)
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
        .bind(capped(email))
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
