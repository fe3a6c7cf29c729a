//! The simulator's clock: starts at the configured epoch, runs with real time, and can be
//! advanced (token expiry, scheduled purchases) or frozen (identical timestamps in tests).

use std::time::Instant;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

struct Inner {
    /// Simulated milliseconds at `anchor`.
    base_ms: i64,
    anchor: Instant,
    frozen: bool,
}

pub struct SimClock {
    inner: Mutex<Inner>,
}

impl SimClock {
    pub fn new(epoch: DateTime<Utc>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                base_ms: epoch.timestamp_millis(),
                anchor: Instant::now(),
                frozen: false,
            }),
        }
    }

    /// Simulated now, in unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        let i = self.inner.lock();
        if i.frozen {
            i.base_ms
        } else {
            i.base_ms + i.anchor.elapsed().as_millis() as i64
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// Moves simulated time forward (negative values are ignored: time never goes back).
    pub fn advance_ms(&self, ms: i64) {
        let mut i = self.inner.lock();
        i.base_ms += ms.max(0);
    }

    /// Stops (true) or restarts (false) the passage of real time.
    pub fn set_frozen(&self, frozen: bool) {
        let mut i = self.inner.lock();
        if frozen == i.frozen {
            return;
        }
        if frozen {
            i.base_ms += i.anchor.elapsed().as_millis() as i64;
        }
        i.anchor = Instant::now();
        i.frozen = frozen;
    }

    pub fn is_frozen(&self) -> bool {
        self.inner.lock().frozen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_only_moves_when_advanced() {
        let c = SimClock::new(DateTime::from_timestamp(1_000, 0).unwrap());
        c.set_frozen(true);
        let t0 = c.now_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(c.now_ms(), t0);
        c.advance_ms(3_600_000);
        assert_eq!(c.now_ms(), t0 + 3_600_000);
        c.advance_ms(-5);
        assert_eq!(c.now_ms(), t0 + 3_600_000);
    }

    #[test]
    fn running_clock_starts_at_epoch() {
        let c = SimClock::new(DateTime::from_timestamp(1_000, 0).unwrap());
        let t = c.now_ms();
        assert!((1_000_000..1_001_000).contains(&t));
    }
}
