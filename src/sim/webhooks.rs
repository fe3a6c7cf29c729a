//! Webhook delivery: registered endpoints, signed POSTs (`X-Fanvue-Signature:
//! t=<unix>,v0=<hex HMAC-SHA256("{t}.{body}")>`), retries with exponential backoff, the
//! delivery-fault switches, and a bounded delivery log. Never logs the signing secret.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::mpsc;

use super::config::WebhookConfig;
use super::events::{Event, EventKind};
use super::state::Sim;

/// Hex HMAC-SHA256 of `"{t}.{body}"` with `secret`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; fall back to an empty tag.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Full header value for a body signed at unix time `t`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v0={}", sign(secret, t, body))
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub id: u64,
    pub url: String,
    /// Empty = every event.
    pub events: Vec<EventKind>,
    pub enabled: bool,
}

/// One row of the delivery log (one attempt, or one drop).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub event_id: String,
    pub event: &'static str,
    pub url: String,
    pub attempt: u32,
    pub status: Option<u16>,
    /// `delivered`, `http_error`, `transport_error`, `dropped`.
    pub outcome: &'static str,
    pub error: Option<String>,
    pub at_unix_ms: i64,
    pub body: Arc<str>,
}

#[derive(Debug, Clone)]
struct Outgoing {
    event_id: String,
    kind: EventKind,
    url: String,
    body: Arc<str>,
}

pub struct Webhooks {
    cfg: WebhookConfig,
    endpoints: RwLock<Vec<Endpoint>>,
    next_endpoint: AtomicU64,
    log: Mutex<VecDeque<DeliveryRecord>>,
    tx: mpsc::UnboundedSender<Outgoing>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Outgoing>>>,
    client: reqwest::Client,
    sent: AtomicU64,
    /// Deliveries queued, held back or in flight (retries included), so a client can wait
    /// for the simulator to have nothing left to deliver.
    pending: AtomicU64,
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Webhooks {
    pub fn new(cfg: WebhookConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms.max(1)))
            .no_proxy()
            .build()
            .unwrap_or_default();
        let me = Self {
            endpoints: RwLock::new(Vec::new()),
            next_endpoint: AtomicU64::new(1),
            log: Mutex::new(VecDeque::new()),
            tx,
            rx: Mutex::new(Some(rx)),
            client,
            sent: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            cfg,
        };
        for e in me.cfg.endpoints.clone() {
            let kinds = e
                .events
                .iter()
                .filter_map(|k| EventKind::parse(k))
                .collect();
            me.register(e.url, kinds);
        }
        me
    }

    pub fn secret(&self) -> &str {
        &self.cfg.signing_secret
    }

    /// Adds an endpoint for the given events (empty = all). Returns its id.
    pub fn register(&self, url: String, events: Vec<EventKind>) -> u64 {
        let id = self.next_endpoint.fetch_add(1, Ordering::Relaxed);
        self.endpoints.write().push(Endpoint {
            id,
            url,
            events,
            enabled: true,
        });
        id
    }

    pub fn unregister(&self, id: u64) -> bool {
        let mut e = self.endpoints.write();
        let before = e.len();
        e.retain(|x| x.id != id);
        e.len() != before
    }

    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.endpoints.read().clone()
    }

    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.log.lock().iter().cloned().collect()
    }

    /// Deliveries not finished yet: queued, held by a pause or a reorder, or being tried.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn clear_log(&self) {
        self.log.lock().clear();
    }

    /// Queues one event for every endpoint subscribed to its kind.
    pub fn enqueue(&self, event: &Event) {
        let body: Arc<str> = Arc::from(event.body.to_string());
        let event_id = uuid::Uuid::new_v4().to_string();
        for ep in self.endpoints.read().iter() {
            if !ep.enabled || !(ep.events.is_empty() || ep.events.contains(&event.kind)) {
                continue;
            }
            self.pending.fetch_add(1, Ordering::Relaxed);
            let _ = self.tx.send(Outgoing {
                event_id: event_id.clone(),
                kind: event.kind,
                url: ep.url.clone(),
                body: body.clone(),
            });
        }
    }

    fn record(&self, r: DeliveryRecord) {
        let mut log = self.log.lock();
        if log.len() >= self.cfg.log_capacity.max(1) {
            log.pop_front();
        }
        log.push_back(r);
    }

    /// Starts the delivery worker on the current tokio runtime (once).
    pub fn spawn_worker(sim: Arc<Sim>) -> tokio::task::JoinHandle<()> {
        let rx = sim.webhooks.rx.lock().take();
        tokio::spawn(async move {
            if let Some(rx) = rx {
                worker(sim, rx).await;
            }
        })
    }
}

async fn worker(sim: Arc<Sim>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut held: VecDeque<Outgoing> = VecDeque::new();
    let mut slot: Option<(Outgoing, Instant)> = None;
    loop {
        let next = tokio::select! {
            m = rx.recv() => match m { Some(o) => Some(o), None => break },
            _ = tokio::time::sleep(Duration::from_millis(50)) => None,
        };
        let faults = sim.faults.get();
        if let Some(o) = next {
            if faults.webhook_paused {
                held.push_back(o);
            } else if sim.faults.roll(faults.webhook_drop_rate) {
                sim.webhooks.record(DeliveryRecord {
                    event_id: o.event_id,
                    event: o.kind.topic(),
                    url: o.url,
                    attempt: 0,
                    status: None,
                    outcome: "dropped",
                    error: None,
                    at_unix_ms: unix_ms(),
                    body: o.body,
                });
                sim.webhooks.pending.fetch_sub(1, Ordering::Relaxed);
            } else if faults.webhook_reorder {
                match slot.take() {
                    Some((prev, _)) => {
                        launch(&sim, o, Duration::ZERO);
                        // Both go out concurrently; the held one starts a little later so
                        // the swap reliably shows at the receiver, not just in spawn order.
                        launch(&sim, prev, REORDER_GAP);
                    }
                    None => slot = Some((o, Instant::now())),
                }
            } else {
                launch(&sim, o, Duration::ZERO);
            }
        }
        if !faults.webhook_paused {
            while let Some(o) = held.pop_front() {
                launch(&sim, o, Duration::ZERO);
            }
        }
        // A held-back delivery goes out alone if nothing overtakes it within a second.
        if let Some((_, since)) = &slot
            && (since.elapsed() > Duration::from_secs(1) || !faults.webhook_reorder)
            && let Some((o, _)) = slot.take()
        {
            launch(&sim, o, Duration::ZERO);
        }
    }
}

/// How much later the held-back delivery of a reordered pair starts.
const REORDER_GAP: Duration = Duration::from_millis(100);

fn launch(sim: &Arc<Sim>, o: Outgoing, extra_delay: Duration) {
    let dup = sim.faults.roll(sim.faults.read().webhook_duplicate_rate);
    if dup {
        sim.webhooks.pending.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(deliver(sim.clone(), o.clone(), extra_delay));
    }
    tokio::spawn(deliver(sim.clone(), o, extra_delay));
}

async fn deliver(sim: Arc<Sim>, o: Outgoing, extra_delay: Duration) {
    try_deliver(&sim, &o, extra_delay).await;
    sim.webhooks.pending.fetch_sub(1, Ordering::Relaxed);
}

/// Tries one delivery with its retries; records every attempt.
async fn try_deliver(sim: &Arc<Sim>, o: &Outgoing, extra_delay: Duration) {
    if !extra_delay.is_zero() {
        tokio::time::sleep(extra_delay).await;
    }
    let delay = sim.faults.read().webhook_delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let wh = &sim.webhooks;
    let cfg = &wh.cfg;
    let mut backoff = cfg.initial_backoff_ms;
    for attempt in 1..=cfg.max_attempts.max(1) {
        let t = unix_ms() / 1000;
        let mut req = wh
            .client
            .post(&o.url)
            .header("Content-Type", "application/json")
            .header(
                "X-Fanvue-Signature",
                signature_header(&cfg.signing_secret, t, o.body.as_bytes()),
            )
            .body(o.body.to_string());
        if let Some(h) = &cfg.topic_header {
            req = req.header(h.as_str(), o.kind.topic());
        }
        if let Some(h) = &cfg.event_id_header {
            req = req.header(h.as_str(), o.event_id.as_str());
        }
        let (status, outcome, error) = match req.send().await {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), "delivered", None),
            Ok(r) => (Some(r.status().as_u16()), "http_error", None),
            Err(e) => (None, "transport_error", Some(e.to_string())),
        };
        wh.record(DeliveryRecord {
            event_id: o.event_id.clone(),
            event: o.kind.topic(),
            url: o.url.clone(),
            attempt,
            status,
            outcome,
            error,
            at_unix_ms: unix_ms(),
            body: o.body.clone(),
        });
        if outcome == "delivered" {
            wh.sent.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tracing::debug!(url = %o.url, attempt, "webhook delivery failed; will retry");
        if attempt < cfg.max_attempts {
            tokio::time::sleep(Duration::from_millis(backoff)).await;
            backoff = backoff.saturating_mul(u64::from(cfg.backoff_factor.max(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // Independent check: compute the HMAC by hand from the definition (RFC 2104).
        let secret = b"k";
        let msg = b"1700000000.{\"a\":1}";
        let mut key = [0u8; 64];
        key[..secret.len()].copy_from_slice(secret);
        let ipad: Vec<u8> = key.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = key.iter().map(|b| b ^ 0x5c).collect();
        use sha2::Digest;
        let inner = Sha256::digest([ipad.as_slice(), msg].concat());
        let outer = Sha256::digest([opad.as_slice(), inner.as_slice()].concat());
        assert_eq!(sign("k", 1_700_000_000, b"{\"a\":1}"), hex::encode(outer));
        assert_eq!(
            signature_header("k", 5, b"x"),
            format!("t=5,v0={}", sign("k", 5, b"x"))
        );
    }
}
