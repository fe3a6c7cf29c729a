//! When a Fanvue call is tried again: transport errors and 5xx only for
//! idempotent requests, with exponential backoff and jitter; a 429 for any
//! request (Fanvue refuses a rate-limited request unprocessed), a bounded
//! number of times. Never sleeps for a 429 itself: the rate-limit budget
//! waits out the penalty before the next attempt.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts for idempotent requests on 5xx/transport errors.
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// 429s tolerated per call (each waits for `Retry-After`).
    pub max_rate_limited: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_rate_limited: 5,
        }
    }
}

/// The retry state of one call.
#[derive(Debug)]
pub(super) struct Attempts {
    policy: RetryPolicy,
    idempotent: bool,
    failures: u32,
    limited: u32,
}

impl Attempts {
    pub(super) fn new(policy: RetryPolicy, idempotent: bool) -> Self {
        Self {
            policy,
            idempotent,
            failures: 0,
            limited: 0,
        }
    }

    /// Failures so far (for logs).
    pub(super) fn failures(&self) -> u32 {
        self.failures
    }

    /// After a transport error or a 5xx: how long to wait before trying
    /// again, or `None` to give up.
    pub(super) fn after_failure(&mut self) -> Option<Duration> {
        self.failures += 1;
        (self.idempotent && self.failures < self.policy.max_attempts)
            .then(|| backoff(self.policy.base_delay, self.failures))
    }

    /// After a 429: whether to try again.
    pub(super) fn after_rate_limit(&mut self) -> bool {
        self.limited += 1;
        self.limited <= self.policy.max_rate_limited
    }
}

/// `base · 2^attempt`, plus up to as much again of random jitter.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let base = base.saturating_mul(2u32.saturating_pow(attempt));
    let jitter = rand::rng().random_range(0..=base.as_millis().max(1) as u64);
    base + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_rate_limited: 2,
        }
    }

    #[test]
    fn idempotent_calls_retry_failures_up_to_the_limit_with_growing_delays() {
        let mut a = Attempts::new(policy(), true);
        let first = a.after_failure().expect("second attempt");
        assert!((Duration::from_millis(20)..=Duration::from_millis(40)).contains(&first));
        let second = a.after_failure().expect("third attempt");
        assert!((Duration::from_millis(40)..=Duration::from_millis(80)).contains(&second));
        assert_eq!(a.after_failure(), None, "three attempts in all");
    }

    #[test]
    fn a_send_is_never_retried_after_a_failure_but_is_after_a_429() {
        let mut a = Attempts::new(policy(), false);
        assert!(a.after_rate_limit());
        assert!(a.after_rate_limit());
        assert!(!a.after_rate_limit(), "two 429s tolerated");
        assert_eq!(a.after_failure(), None);
    }
}
