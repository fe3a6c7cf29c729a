//! Token buckets keyed `clientId:userUuid[:creatorUserUuid]`, refilled to full when their
//! window ends (Fanvue's documented model), on the simulator clock.

use std::collections::HashMap;

use parking_lot::Mutex;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    remaining: u32,
    reset_ms: i64,
}

/// Outcome of taking one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the bucket refills, on the simulator clock.
    pub reset_unix: i64,
    /// The same instant in milliseconds, on the simulator clock.
    pub reset_ms: i64,
    /// Seconds to wait (only meaningful when not allowed).
    pub retry_after: i64,
}

pub struct RateLimiter {
    limit: u32,
    window_ms: i64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window_ms: u64) -> Self {
        Self {
            limit,
            window_ms: window_ms.max(1) as i64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Takes one token from `key` at simulated time `now_ms`.
    pub fn take(&self, key: &str, now_ms: i64) -> Decision {
        self.take_with_limit(key, now_ms, self.limit)
    }

    /// Like [`RateLimiter::take`] for a bucket with its own size (per-endpoint limits).
    pub fn take_with_limit(&self, key: &str, now_ms: i64, limit: u32) -> Decision {
        let mut map = self.buckets.lock();
        let b = match map.get_mut(key) {
            Some(b) => b,
            None => map.entry(key.to_string()).or_insert(Bucket {
                remaining: limit,
                reset_ms: now_ms + self.window_ms,
            }),
        };
        if now_ms >= b.reset_ms {
            b.remaining = limit;
            b.reset_ms = now_ms + self.window_ms;
        }
        let allowed = b.remaining > 0;
        if allowed {
            b.remaining -= 1;
        }
        let wait_ms = (b.reset_ms - now_ms).max(0);
        Decision {
            allowed,
            limit,
            remaining: b.remaining,
            reset_unix: (b.reset_ms + 999).div_euclid(1000),
            reset_ms: b.reset_ms,
            retry_after: ((wait_ms + 999) / 1000).max(1),
        }
    }

    /// A 429 decision for a bucket of size `limit` without touching it (forced-429 fault).
    pub fn forced(&self, key: &str, now_ms: i64, limit: u32) -> Decision {
        let map = self.buckets.lock();
        let reset_ms = map
            .get(key)
            .map(|b| b.reset_ms)
            .unwrap_or(now_ms + self.window_ms);
        Decision {
            allowed: false,
            limit,
            remaining: 0,
            reset_unix: (reset_ms + 999).div_euclid(1000),
            reset_ms,
            retry_after: (((reset_ms - now_ms).max(0) + 999) / 1000).max(1),
        }
    }

    pub fn reset(&self) {
        self.buckets.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_after_limit_and_refills_after_window() {
        let rl = RateLimiter::new(3, 60_000);
        let t = 1_000_000;
        let r: Vec<u32> = (0..3).map(|_| rl.take("k", t).remaining).collect();
        assert_eq!(r, vec![2, 1, 0]);
        let d = rl.take("k", t + 1000);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, 59);
        assert_eq!(d.reset_unix, (t + 60_000) / 1000);
        assert!(rl.take("other", t).allowed);
        assert!(rl.take("k", t + 60_000).allowed);
    }
}
