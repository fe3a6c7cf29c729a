//! The Fanvue rate budget shared across instances (`fanvue::budget` keeps
//! the per-process part: probing an unknown bucket, requests in flight).
//! Times are the database's, so instances with skewed clocks agree.

use std::time::Duration;

use sqlx::PgPool;

use super::StoreError;

/// What taking one request's token decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Take {
    Taken,
    /// Nothing left above the caller's floor; the window resets in this long.
    Wait(Duration),
    /// No instance has seen a response for this bucket yet.
    Unknown,
}

/// A snapshot for status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shared {
    pub limit: u32,
    pub remaining: u32,
    pub resets_in: Duration,
}

/// A new window after its reset assumes the server's own length (Fanvue's
/// documented one); the next response corrects it.
const WINDOW_SECS: f64 = 60.0;

fn secs(d: Option<f64>) -> Duration {
    Duration::from_secs_f64(d.unwrap_or(0.0).max(0.0))
}

/// Takes one token of `bucket` unless that would leave `floor_percent` of
/// the limit or less (the share background work leaves to people).
pub async fn take(pool: &PgPool, bucket: &str, floor_percent: u32) -> Result<Take, StoreError> {
    let row: Option<(bool, Option<f64>)> = sqlx::query_as(
        "WITH t AS (
            UPDATE rate_budgets SET
                remaining = CASE WHEN reset_at <= now() THEN lim ELSE remaining END - 1,
                reset_at = CASE WHEN reset_at <= now() THEN now() + make_interval(secs => $3)
                                ELSE reset_at END
            WHERE bucket = $1
              AND CASE WHEN reset_at <= now() THEN lim ELSE remaining END > ceil(lim * $2::int / 100.0)
            RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM t), extract(epoch FROM b.reset_at - now())::float8
         FROM rate_budgets b WHERE b.bucket = $1",
    )
    .bind(bucket)
    .bind(i32::try_from(floor_percent).unwrap_or(100))
    .bind(WINDOW_SECS)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => Take::Unknown,
        Some((true, _)) => Take::Taken,
        Some((false, wait)) => Take::Wait(secs(wait)),
    })
}

/// Records what a response reported: `remaining` (already less this
/// instance's requests still in flight) until `reset_in` from now. A later
/// reset than the stored one is a new window and is taken as reported;
/// within a window the budget only goes down.
pub async fn observe(
    pool: &PgPool,
    bucket: &str,
    limit: u32,
    remaining: u32,
    reset_in: Duration,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rate_budgets AS r (bucket, lim, remaining, reset_at)
         VALUES ($1, GREATEST($2, 1), GREATEST($3, 0), now() + make_interval(secs => $4))
         ON CONFLICT (bucket) DO UPDATE SET
            lim = EXCLUDED.lim,
            remaining = CASE WHEN EXCLUDED.reset_at > r.reset_at + interval '500 milliseconds'
                             THEN EXCLUDED.remaining
                             ELSE LEAST(r.remaining, EXCLUDED.remaining) END,
            reset_at = EXCLUDED.reset_at",
    )
    .bind(bucket)
    .bind(i32::try_from(limit).unwrap_or(i32::MAX))
    .bind(i32::try_from(remaining).unwrap_or(i32::MAX))
    .bind(reset_in.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// A 429: nothing more under `bucket`, from any instance, for `retry_after`.
pub async fn penalize(
    pool: &PgPool,
    bucket: &str,
    default_limit: u32,
    retry_after: Duration,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rate_budgets AS r (bucket, lim, remaining, reset_at, penalized_until)
         VALUES ($1, $2, 0, now() + make_interval(secs => $3), now() + make_interval(secs => $3))
         ON CONFLICT (bucket) DO UPDATE SET
            remaining = 0, reset_at = EXCLUDED.reset_at, penalized_until = EXCLUDED.penalized_until",
    )
    .bind(bucket)
    .bind(i32::try_from(default_limit.max(1)).unwrap_or(i32::MAX))
    .bind(retry_after.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// How long the last 429 of `bucket` still holds every instance back.
pub async fn penalty(pool: &PgPool, bucket: &str) -> Result<Option<Duration>, StoreError> {
    let left: Option<Option<f64>> = sqlx::query_scalar(
        "SELECT extract(epoch FROM penalized_until - now())::float8 FROM rate_budgets
         WHERE bucket = $1 AND remaining = 0 AND penalized_until > now()",
    )
    .bind(bucket)
    .fetch_optional(pool)
    .await?;
    Ok(left.map(secs))
}

pub async fn status(pool: &PgPool, bucket: &str) -> Result<Option<Shared>, StoreError> {
    let row: Option<(i32, i32, Option<f64>)> = sqlx::query_as(
        "SELECT lim, CASE WHEN reset_at <= now() THEN lim ELSE remaining END,
                extract(epoch FROM GREATEST(reset_at - now(), interval '0'))::float8
         FROM rate_budgets WHERE bucket = $1",
    )
    .bind(bucket)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(l, r, s)| Shared {
        limit: u32::try_from(l).unwrap_or(0),
        remaining: u32::try_from(r).unwrap_or(0),
        resets_in: secs(s),
    }))
}
