//! The earnings and spending feeds, derived from the world's truth on every read so they
//! can never disagree with it: a `message` line per PPV purchase, a `tip` line per tip, a
//! `subscription` line per subscribed fan and a `renewal` every 30 days after; reversal
//! lines (`refund`, `chargeback`) for the purchases the fault knobs pick.

use uuid::Uuid;

use super::config::ScenarioConfig;
use super::faults::Faults;
use super::world::{UserId, World};

const DAY_MS: i64 = 86_400_000;
/// Fanvue's platform fee: net is 80 % of gross.
const NET_PERCENT: u64 = 80;

/// Which feed a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Earnings,
    Spending,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub date_ms: i64,
    pub source: &'static str,
    pub gross: u32,
    pub fan: UserId,
    pub message_uuid: Option<Uuid>,
    pub post_uuid: Option<Uuid>,
    /// Stable per line: also the keyset cursor's tie-breaker.
    pub order_id: Uuid,
}

impl Line {
    pub fn net(&self) -> u64 {
        u64::from(self.gross) * NET_PERCENT / 100
    }
}

/// A derived id: `base` mixed with a per-kind salt (stable across reads).
fn derive(base: Uuid, salt: u128) -> Uuid {
    Uuid::from_u128(base.as_u128() ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
}

/// Reversal decided for a purchase by the fault knobs, if any.
fn reversal(f: &Faults, message: &Uuid) -> Option<&'static str> {
    if Faults::stable_share(message, 0x5a, f.refund_rate) {
        Some("refund")
    } else if Faults::stable_share(message, 0xa5, f.chargeback_rate) {
        Some("chargeback")
    } else {
        None
    }
}

/// Every line of `creator` on `feed` visible at `now_ms` (the lag fault hides the
/// newest), newest first, ties by order id.
pub fn lines(
    w: &World,
    cfg: &ScenarioConfig,
    faults: &Faults,
    creator: UserId,
    feed: Feed,
    now_ms: i64,
) -> Vec<Line> {
    let visible_until = now_ms - (faults.earnings_lag_secs as i64) * 1000;
    let mut out = Vec::new();
    for p in &w.purchases {
        let m = &w.messages[p.message as usize];
        let chat = &w.chats[m.chat as usize];
        if chat.creator != creator {
            continue;
        }
        match feed {
            Feed::Earnings => out.push(Line {
                date_ms: p.at,
                source: "message",
                gross: p.price,
                fan: chat.fan,
                message_uuid: Some(m.uuid),
                post_uuid: None,
                order_id: derive(m.uuid, 1),
            }),
            Feed::Spending => {
                if let Some(kind) = reversal(faults, &m.uuid) {
                    out.push(Line {
                        date_ms: p.at + (faults.reversal_after_secs.max(1) as i64) * 1000,
                        source: kind,
                        gross: p.price,
                        fan: chat.fan,
                        message_uuid: Some(m.uuid),
                        post_uuid: None,
                        order_id: derive(m.uuid, 2),
                    });
                }
            }
        }
    }
    if feed == Feed::Earnings {
        for t in &w.tips {
            let chat = &w.chats[t.chat as usize];
            if chat.creator != creator {
                continue;
            }
            out.push(Line {
                date_ms: t.at,
                source: "tip",
                gross: t.amount,
                fan: chat.fan,
                message_uuid: t.tipped_message.map(|m| w.messages[m as usize].uuid),
                post_uuid: t.post_uuid,
                order_id: derive(w.messages[t.history_message as usize].uuid, 3),
            });
        }
        if let Some(cd) = w.creator_data.get(&creator) {
            let creator_uuid = w.user(creator).uuid;
            for &fan in cd.by_fan.keys() {
                let u = w.user(fan);
                let Some(start) = u.subscribed_at.filter(|_| u.is_subscriber) else {
                    continue;
                };
                if u.on_free_trial || cfg.subscription_price_cents == 0 {
                    continue;
                }
                let mut at = start;
                let mut n: u128 = 0;
                while at <= now_ms {
                    out.push(Line {
                        date_ms: at,
                        source: if n == 0 { "subscription" } else { "renewal" },
                        gross: cfg.subscription_price_cents,
                        fan,
                        message_uuid: None,
                        post_uuid: None,
                        order_id: derive(
                            Uuid::from_u128(u.uuid.as_u128() ^ creator_uuid.as_u128()),
                            16 + n,
                        ),
                    });
                    n += 1;
                    at += 30 * DAY_MS;
                }
            }
        }
    }
    out.retain(|l| l.date_ms <= visible_until);
    out.sort_by_key(|l| std::cmp::Reverse((l.date_ms, l.order_id)));
    out
}
