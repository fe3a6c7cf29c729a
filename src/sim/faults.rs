//! Fault switches, changeable at runtime through the control API or the in-process handle.
//! They only ever make the simulator *less* reliable; all are off by default.

use parking_lot::{Mutex, RwLock};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The full set of switches. Rates are probabilities in `0.0..=1.0`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Webhook deliveries silently dropped (never attempted).
    pub webhook_drop_rate: f64,
    /// Webhook deliveries sent twice.
    pub webhook_duplicate_rate: f64,
    /// Hold each delivery back and send it after the next one (pairwise swap).
    pub webhook_reorder: bool,
    /// Extra delay before each webhook delivery, in milliseconds.
    pub webhook_delay_ms: u64,
    /// Outage: deliveries queue up and are sent when unpaused.
    pub webhook_paused: bool,
    /// Share of API requests answered with [`Faults::api_error_status`].
    pub api_error_rate: f64,
    /// Status used for injected server errors (500 when 0).
    pub api_error_status: u16,
    /// Added latency on every API request, in milliseconds.
    pub api_latency_ms: u64,
    /// Every API request gets 429 as if its bucket were empty.
    pub force_429: bool,
    /// One message of each batch response is replaced by a malformed object.
    pub batch_malformed_item: bool,
    /// Share of batch keys answered `{"error":"internal"}`.
    pub batch_internal_rate: f64,
    /// Share of messages (chosen stably per message) rendered with [`Faults::unknown_type_value`].
    pub unknown_type_rate: f64,
    /// The new, undocumented message `type` used by `unknown_type_rate`.
    pub unknown_type_value: String,
    /// Share of sends (`POST …/message`) whose message IS created, then answered 500: a
    /// timeout or 5xx after Fanvue got the request.
    pub send_fail_after_commit_rate: f64,
    /// Share of sends refused with the contactability 400 (`{message}`), nothing created.
    /// For one fan, prefer the per-fan `contactable` flag (`POST {control}/fans/{uuid}`).
    pub send_contactability_rate: f64,
    /// Share of earnings and spending lines (chosen stably per line) rendered in the bare
    /// documented shape: no `messageUuid`, `postUuid`, `transactionOrderId` or
    /// `transactionOrderStatus`.
    pub earnings_missing_uuid_rate: f64,
    /// Share of purchases (chosen stably per message) refunded: a `refund` line on
    /// `/insights/spending`, dated [`Faults::reversal_after_secs`] after the purchase.
    pub refund_rate: f64,
    /// Share of the remaining purchases charged back (a `chargeback` line).
    pub chargeback_rate: f64,
    /// Delay between a purchase and its reversal (at least 1 s).
    pub reversal_after_secs: u64,
    /// Lagging feed: a line appears on the earnings and spending feeds only this many
    /// seconds after its date.
    pub earnings_lag_secs: u64,
    /// Scheduled work (fans buying a PPV some time after it was sent) is held while set,
    /// and fires when unset: a world that stands still while a test reads its truth.
    pub scheduled_paused: bool,
}

/// Partial update of [`Faults`]: only given fields change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsPatch {
    pub webhook_drop_rate: Option<f64>,
    pub webhook_duplicate_rate: Option<f64>,
    pub webhook_reorder: Option<bool>,
    pub webhook_delay_ms: Option<u64>,
    pub webhook_paused: Option<bool>,
    pub api_error_rate: Option<f64>,
    pub api_error_status: Option<u16>,
    pub api_latency_ms: Option<u64>,
    pub force_429: Option<bool>,
    pub batch_malformed_item: Option<bool>,
    pub batch_internal_rate: Option<f64>,
    pub unknown_type_rate: Option<f64>,
    pub unknown_type_value: Option<String>,
    pub send_fail_after_commit_rate: Option<f64>,
    pub send_contactability_rate: Option<f64>,
    pub earnings_missing_uuid_rate: Option<f64>,
    pub refund_rate: Option<f64>,
    pub chargeback_rate: Option<f64>,
    pub reversal_after_secs: Option<u64>,
    pub earnings_lag_secs: Option<u64>,
    pub scheduled_paused: Option<bool>,
}

impl Faults {
    pub fn apply(&mut self, p: FaultsPatch) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = p.$f { self.$f = v; } )* };
        }
        set!(
            webhook_drop_rate,
            webhook_duplicate_rate,
            webhook_reorder,
            webhook_delay_ms,
            webhook_paused,
            api_error_rate,
            api_error_status,
            api_latency_ms,
            force_429,
            batch_malformed_item,
            batch_internal_rate,
            unknown_type_rate,
            unknown_type_value,
            send_fail_after_commit_rate,
            send_contactability_rate,
            earnings_missing_uuid_rate,
            refund_rate,
            chargeback_rate,
            reversal_after_secs,
            earnings_lag_secs,
            scheduled_paused
        );
    }

    /// The type string used for "unknown type" injection.
    pub fn unknown_type(&self) -> &str {
        if self.unknown_type_value.is_empty() {
            "AUTOMATED_SIM_UNKNOWN_TYPE"
        } else {
            &self.unknown_type_value
        }
    }

    /// Stable per-id share decision: the same id always lands on the same side of `rate`.
    pub fn stable_share(id: &uuid::Uuid, salt: u8, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let b = id.as_bytes();
        let v = u16::from_le_bytes([b[12] ^ salt, b[13]]) as f64 / 65_536.0;
        v < rate
    }

    /// Stable per-message decision so a message keeps its odd type across reads.
    pub fn message_has_unknown_type(&self, message_uuid: &uuid::Uuid) -> bool {
        if self.unknown_type_rate <= 0.0 {
            return false;
        }
        let b = message_uuid.as_bytes();
        let v = u16::from_le_bytes([b[14], b[15]]) as f64 / 65_536.0;
        v < self.unknown_type_rate
    }
}

/// Runtime holder: the switches plus a seeded RNG for the probabilistic ones.
pub struct FaultState {
    switches: RwLock<Faults>,
    rng: Mutex<ChaCha8Rng>,
}

impl FaultState {
    pub fn new(initial: Faults, seed: u64) -> Self {
        Self {
            switches: RwLock::new(initial),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0xfa17_fa17)),
        }
    }

    pub fn get(&self) -> Faults {
        self.switches.read().clone()
    }

    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, Faults> {
        self.switches.read()
    }

    pub fn set(&self, f: Faults) {
        *self.switches.write() = f;
    }

    pub fn patch(&self, p: FaultsPatch) -> Faults {
        let mut w = self.switches.write();
        w.apply(p);
        w.clone()
    }

    /// True with probability `rate`.
    pub fn roll(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        self.rng.lock().random_bool(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_changes_only_given_fields() {
        let mut f = Faults {
            api_latency_ms: 5,
            ..Faults::default()
        };
        f.apply(FaultsPatch {
            force_429: Some(true),
            ..FaultsPatch::default()
        });
        assert!(f.force_429);
        assert_eq!(f.api_latency_ms, 5);
    }

    #[test]
    fn roll_respects_bounds() {
        let s = FaultState::new(Faults::default(), 3);
        assert!(!s.roll(0.0));
        assert!(s.roll(1.0));
        let hits = (0..1000).filter(|_| s.roll(0.5)).count();
        assert!((350..650).contains(&hits), "hits={hits}");
    }

    #[test]
    fn unknown_type_is_stable_per_message() {
        let f = Faults {
            unknown_type_rate: 1.0,
            ..Faults::default()
        };
        let id = uuid::Uuid::from_u128(42);
        assert!(f.message_has_unknown_type(&id));
        assert!(!Faults::default().message_has_unknown_type(&id));
        assert_eq!(f.unknown_type(), "AUTOMATED_SIM_UNKNOWN_TYPE");
    }
}
