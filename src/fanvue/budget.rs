//! The rate-limit budget (DESIGN invariant 5). Fanvue keys buckets by app ×
//! authorizing user (× creator on creator routes) and reports them in
//! `X-RateLimit-Limit/Remaining/Reset`. We keep one local bucket per key,
//! learn the real limit from the headers, count requests in flight, and wait
//! before a request would be refused instead of collecting 429s. Background
//! work (sync) may not dip into the share reserved for interactive sends.
//! With a database (`Budget::shared`), the tokens are counted there, so every
//! instance spends one budget as Fanvue does; this process still probes an
//! unknown bucket alone and counts its own requests in flight, and falls back
//! to its own figures when the database does not answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::store::rate_budgets::{self, Take};

/// Who is asking: sync (background) or a person (interactive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Background,
    Interactive,
}

/// Guess for a bucket not seen yet; replaced by the first response's headers.
const DEFAULT_LIMIT: u32 = 200;
const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// Never sleep longer than this on a single wait, whatever a header says
/// (clock skew must not park a worker for hours).
const MAX_WAIT: Duration = Duration::from_secs(120);
const RECHECK: Duration = Duration::from_millis(250);

#[derive(Debug)]
struct Bucket {
    limit: u32,
    remaining: u32,
    reset_at: Instant,
    /// Whether any response has taught us the real figures yet.
    known: bool,
    in_flight: u32,
    /// Until when the last 429's `Retry-After` holds requests back.
    penalized_until: Option<Instant>,
}

/// Rate-limit budget shared by every call made with one client.
#[derive(Debug)]
pub struct Budget {
    reserve_percent: u32,
    buckets: std::sync::Mutex<HashMap<String, Arc<Mutex<Bucket>>>>,
    shared: Option<PgPool>,
}

/// What the budget saw in one response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    /// Unix seconds.
    pub reset: Option<i64>,
}

/// A snapshot for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketStatus {
    pub limit: u32,
    pub remaining: u32,
    pub resets_in: Duration,
    pub known: bool,
}

impl Budget {
    pub fn new(reserve_percent: u32) -> Self {
        Self {
            reserve_percent: reserve_percent.min(90),
            buckets: std::sync::Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counts tokens in the database behind `pool`, shared with every other
    /// instance on it (a small pool of its own, so that a request never
    /// waits for a connection its caller holds).
    pub fn shared(mut self, pool: PgPool) -> Self {
        self.shared = Some(pool);
        self
    }

    fn floor_percent(&self, priority: Priority) -> u32 {
        match priority {
            Priority::Interactive => 0,
            Priority::Background => self.reserve_percent,
        }
    }

    fn bucket(&self, key: &str) -> Arc<Mutex<Bucket>> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Bucket {
                    limit: DEFAULT_LIMIT,
                    remaining: DEFAULT_LIMIT,
                    reset_at: Instant::now() + DEFAULT_WINDOW,
                    known: false,
                    in_flight: 0,
                    penalized_until: None,
                }))
            })
            .clone()
    }

    fn floor(&self, limit: u32, priority: Priority) -> u32 {
        match priority {
            Priority::Interactive => 0,
            Priority::Background => (limit * self.reserve_percent).div_ceil(100),
        }
    }

    /// Waits until a request may be sent under `key`, then counts it.
    pub async fn acquire(&self, key: &str, priority: Priority) {
        let bucket = self.bucket(key);
        loop {
            let wait = {
                let mut b = bucket.lock().await;
                match self.take_shared(key, priority).await {
                    Some(Take::Taken) => {
                        b.remaining = b.remaining.saturating_sub(1);
                        b.in_flight += 1;
                        return;
                    }
                    Some(Take::Wait(left)) => left.clamp(Duration::from_millis(5), RECHECK),
                    // Nobody has learnt this bucket yet, or the database did
                    // not answer: this process's own figures decide.
                    Some(Take::Unknown) | None => match self.take_local(&mut b, priority) {
                        None => return,
                        Some(wait) => wait,
                    },
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn take_shared(&self, key: &str, priority: Priority) -> Option<Take> {
        let pool = self.shared.as_ref()?;
        match rate_budgets::take(pool, key, self.floor_percent(priority)).await {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "shared rate budget unavailable; using this instance's");
                None
            }
        }
    }

    /// Counts a request against this process's figures (None), or says how
    /// long to wait before asking again.
    fn take_local(&self, b: &mut Bucket, priority: Priority) -> Option<Duration> {
        let now = Instant::now();
        if now >= b.reset_at && b.known {
            // The server's window has ended: a full bucket again.
            b.remaining = b.limit;
            b.reset_at = now + DEFAULT_WINDOW;
        }
        if !b.known && b.in_flight > 0 {
            // Until one response teaches us the real limit, probe with a
            // single request rather than a guessed burst.
            Some(Duration::from_millis(5))
        } else if b.remaining > self.floor(b.limit, priority) {
            b.remaining -= 1;
            b.in_flight += 1;
            None
        } else {
            // Re-check at least every 250 ms: a response in flight may move
            // the reset time earlier.
            Some(
                b.reset_at
                    .saturating_duration_since(now)
                    .clamp(Duration::from_millis(5), RECHECK),
            )
        }
    }

    /// Records a response's headers (or their absence) for `key`.
    pub async fn observe(&self, key: &str, seen: Observed) {
        let bucket = self.bucket(key);
        let mut b = bucket.lock().await;
        b.in_flight = b.in_flight.saturating_sub(1);
        let (Some(limit), Some(remaining)) = (seen.limit, seen.remaining) else {
            return;
        };
        let reset_at = seen
            .reset
            .map_or(Instant::now() + DEFAULT_WINDOW, reset_instant);
        // Requests still in flight may not be counted in `remaining` yet.
        let remaining = remaining.saturating_sub(b.in_flight);
        let new_window = !b.known || reset_at > b.reset_at + Duration::from_millis(500);
        b.limit = limit.max(1);
        b.remaining = if new_window {
            remaining
        } else {
            b.remaining.min(remaining)
        };
        b.reset_at = reset_at;
        b.known = true;
        if let Some(pool) = &self.shared {
            let reset_in = reset_at.saturating_duration_since(Instant::now());
            if let Err(e) = rate_budgets::observe(pool, key, b.limit, remaining, reset_in).await {
                tracing::warn!(error = %e, "shared rate budget not updated");
            }
        }
    }

    /// A 429 arrived: nothing more under `key` until `retry_after` passes.
    pub async fn penalize(&self, key: &str, retry_after: Duration) {
        let bucket = self.bucket(key);
        let mut b = bucket.lock().await;
        b.in_flight = b.in_flight.saturating_sub(1);
        b.remaining = 0;
        b.reset_at = Instant::now() + retry_after.min(MAX_WAIT);
        b.penalized_until = Some(b.reset_at);
        b.known = true;
        if let Some(pool) = &self.shared
            && let Err(e) =
                rate_budgets::penalize(pool, key, b.limit, retry_after.min(MAX_WAIT)).await
        {
            tracing::warn!(error = %e, "shared rate budget not penalized");
        }
    }

    /// How long the last 429 still holds `key` back, if it does; for
    /// callers that would rather not wait (an interactive send).
    pub async fn penalty(&self, key: &str) -> Option<Duration> {
        if let Some(pool) = &self.shared {
            match rate_budgets::penalty(pool, key).await {
                Ok(left) => return left,
                Err(e) => tracing::warn!(error = %e, "shared rate budget unavailable"),
            }
        }
        let bucket = self.bucket(key);
        let b = bucket.lock().await;
        let until = b.penalized_until?;
        let left = until.saturating_duration_since(Instant::now());
        (b.remaining == 0 && !left.is_zero()).then_some(left)
    }

    /// Returns the request's slot without news (transport failure).
    pub async fn release(&self, key: &str) {
        let bucket = self.bucket(key);
        let mut b = bucket.lock().await;
        b.in_flight = b.in_flight.saturating_sub(1);
    }

    pub async fn status(&self, key: &str) -> Option<BucketStatus> {
        if let Some(pool) = &self.shared
            && let Ok(Some(st)) = rate_budgets::status(pool, key).await
        {
            return Some(BucketStatus {
                limit: st.limit,
                remaining: st.remaining,
                resets_in: st.resets_in,
                known: true,
            });
        }
        let bucket = {
            let map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            map.get(key).cloned()?
        };
        let b = bucket.lock().await;
        Some(BucketStatus {
            limit: b.limit,
            remaining: b.remaining,
            resets_in: b.reset_at.saturating_duration_since(Instant::now()),
            known: b.known,
        })
    }
}

/// Converts a unix-seconds reset time to a local instant. The header has
/// one-second resolution, rounded up by the server, so waiting until it is
/// never early.
fn reset_instant(unix: i64) -> Instant {
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let secs = (unix as f64 - now_unix).clamp(0.0, MAX_WAIT.as_secs_f64());
    Instant::now() + Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_in(secs: i64) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + secs
    }

    #[tokio::test]
    async fn learns_the_limit_and_keeps_a_reserve_for_interactive_sends() {
        let b = Budget::new(20);
        b.acquire("k", Priority::Background).await;
        b.observe(
            "k",
            Observed {
                limit: Some(10),
                remaining: Some(9),
                reset: Some(unix_in(30)),
            },
        )
        .await;
        // Background may use 10 - ceil(10*20%) = 8 in total; 1 is used.
        for _ in 0..7 {
            b.acquire("k", Priority::Background).await;
        }
        let st = b.status("k").await.unwrap();
        assert_eq!((st.limit, st.remaining), (10, 2));
        // Background now has to wait ...
        let blocked = tokio::time::timeout(
            Duration::from_millis(50),
            b.acquire("k", Priority::Background),
        )
        .await;
        assert!(blocked.is_err(), "background must not use the reserve");
        // ... but a chatter's send goes through, twice.
        b.acquire("k", Priority::Interactive).await;
        b.acquire("k", Priority::Interactive).await;
        assert_eq!(b.status("k").await.unwrap().remaining, 0);
    }

    #[tokio::test]
    async fn penalty_blocks_until_retry_after() {
        let b = Budget::new(0);
        b.acquire("k", Priority::Interactive).await;
        b.penalize("k", Duration::from_millis(300)).await;
        let start = Instant::now();
        b.acquire("k", Priority::Interactive).await;
        assert!(
            start.elapsed() >= Duration::from_millis(290),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn in_flight_requests_are_not_double_counted_as_free() {
        let b = Budget::new(0);
        b.acquire("k", Priority::Interactive).await;
        b.observe(
            "k",
            Observed {
                limit: Some(5),
                remaining: Some(4),
                reset: Some(unix_in(30)),
            },
        )
        .await;
        for _ in 0..3 {
            b.acquire("k", Priority::Interactive).await;
        }
        // One of the three answers: the server says 3 left, but two more are
        // still in flight, so only one is really free.
        b.observe(
            "k",
            Observed {
                limit: Some(5),
                remaining: Some(3),
                reset: Some(unix_in(30)),
            },
        )
        .await;
        assert_eq!(b.status("k").await.unwrap().remaining, 1);
    }
}
