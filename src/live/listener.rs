//! One LISTEN connection per instance. Each NOTIFY names the event rows of
//! one statement (`tx:first:last`); a reading task hands them on at once,
//! and the publishing side reads everything that queued up meanwhile in one
//! query and publishes it to the hub. A lost
//! connection is re-established and the gap read back from the table; when
//! that is not possible every stream is told to resync, so a lost listener
//! never means silence. Housekeeping prunes old events every minute.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use uuid::Uuid;

use super::{CHANNEL, COMMIT_MARGIN, LiveEvent, LiveHub, RETENTION};
use crate::store::live::{LiveEventRow, Notified};
use crate::store::{self, StoreError};
use crate::task::AbortOnDrop;

/// Notifications read back in one query.
const BATCH: usize = 256;
/// Most events read back after a lost connection before giving up (resync).
const CATCH_UP_LIMIT: i64 = 5000;
/// How often the listener checks its own connection (a notification it
/// sends itself must come back before the next check).
const CHECK_EVERY: Duration = Duration::from_secs(10);
/// Ids already published, remembered to drop duplicates after a catch-up.
const RECENT: usize = 16_384;
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Runs the listener and the pruning until `stop` turns true.
pub fn spawn(pool: PgPool, hub: Arc<LiveHub>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let prune = prune_loop(pool.clone(), stop.clone());
        let listen = listen_loop(pool, hub, stop.clone());
        tokio::select! {
            () = prune => {}
            () = listen => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    })
}

async fn prune_loop(pool: PgPool, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match store::live::prune(&pool, RETENTION).await {
            Ok(n) if n > 0 => tracing::debug!(removed = n, "pruned live events"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "live-event prune failed"),
        }
    }
}

/// Ids published recently, bounded.
struct Recent {
    order: VecDeque<i64>,
    set: HashSet<i64>,
}

impl Recent {
    fn new() -> Self {
        Self {
            order: VecDeque::with_capacity(RECENT),
            set: HashSet::with_capacity(RECENT),
        }
    }

    /// False when `id` was already published.
    fn insert(&mut self, id: i64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > RECENT
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

fn publish(hub: &LiveHub, recent: &mut Recent, rows: Vec<LiveEventRow>) {
    for row in rows {
        if !recent.insert(row.id) {
            continue;
        }
        match LiveEvent::from_row(row) {
            Some(ev) => hub.publish(ev),
            None => tracing::warn!("live event of an unknown kind skipped"),
        }
    }
}

/// A dedicated one-connection pool, so the listener never holds one of the
/// request pool's connections. A fresh one for every connect: a silent
/// (half-open) connection being given up is still held by its pool while
/// its drop tries to UNLISTEN on it.
fn listen_pool(pool: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with((*pool.connect_options()).clone())
}

async fn connect(pool: &PgPool, check_channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut l = PgListener::connect_with(&listen_pool(pool)).await?;
    l.listen(CHANNEL).await?;
    l.listen(check_channel).await?;
    Ok(l)
}

/// Reads back what was written since everything was last known heard
/// (less the commit margin); `false` when that is unknown, failed or was
/// too much (the caller resyncs everyone).
async fn catch_up(
    pool: &PgPool,
    hub: &LiveHub,
    recent: &mut Recent,
    heard_until: Option<DateTime<Utc>>,
) -> bool {
    let Some(heard_until) = heard_until else {
        return false;
    };
    let since = heard_until - chrono::Duration::from_std(COMMIT_MARGIN).unwrap_or_default();
    match store::live::written_since(pool, since, CATCH_UP_LIMIT + 1).await {
        Ok(rows) if rows.len() as i64 <= CATCH_UP_LIMIT => {
            tracing::info!(events = rows.len(), "live listener caught up");
            publish(hub, recent, rows);
            true
        }
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(error = %e, "live listener catch-up failed");
            false
        }
    }
}

/// What the reading task heard.
enum Heard {
    Note(Notified),
    /// The listener's own check came back.
    Check(String),
    /// The connection dropped and sqlx re-established it.
    Lost,
    /// The connection is gone for good; reconnect.
    Failed,
}

/// Reads notifications as fast as they come, so that the publishing side
/// can take everything that queued up during its last query as one batch.
async fn read_notifications(
    mut listener: PgListener,
    check_channel: String,
    tx: mpsc::Sender<Heard>,
) {
    loop {
        let heard = match listener.try_recv().await {
            Ok(Some(n)) if n.channel() == check_channel => Heard::Check(n.payload().to_owned()),
            Ok(Some(n)) => match Notified::parse(n.payload()) {
                Some(p) => Heard::Note(p),
                None => {
                    tracing::warn!("unreadable live notification skipped");
                    continue;
                }
            },
            Ok(None) => Heard::Lost,
            Err(e) => {
                tracing::warn!(error = %e, "live listener failed; reconnecting");
                let _ = tx.send(Heard::Failed).await;
                return;
            }
        };
        if tx.send(heard).await.is_err() {
            return;
        }
    }
}

/// A check sent on the listener's own channel, not yet back.
struct Pending {
    nonce: String,
    sent_at: DateTime<Utc>,
}

async fn listen_loop(pool: PgPool, hub: Arc<LiveHub>, stop: watch::Receiver<bool>) {
    let check_channel = format!("switchboard_live_check_{}", Uuid::new_v4().simple());
    let mut recent = Recent::new();
    // Database time before which every commit's notification was heard
    // (the send time of the last check that came back).
    let mut heard_until: Option<DateTime<Utc>> = None;
    // Set while events may have been missed.
    let mut lost = false;
    let mut backoff = Duration::from_millis(250);
    loop {
        if *stop.borrow() {
            return;
        }
        let listener = match connect(&pool, &check_channel).await {
            Ok(l) => l,
            Err(e) => {
                if !lost {
                    // A listener that cannot listen: streams must not trust silence.
                    hub.resync_all();
                    lost = true;
                }
                tracing::warn!(error = %e, "live listener cannot connect; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(250);
        if std::mem::take(&mut lost) && !catch_up(&pool, &hub, &mut recent, heard_until).await {
            hub.resync_all();
        }
        tracing::debug!("live listener listening");
        let (tx, mut rx) = mpsc::channel(4 * BATCH);
        let _reader = AbortOnDrop::spawn(read_notifications(listener, check_channel.clone(), tx));
        let mut heard = Vec::with_capacity(BATCH);
        let mut batch = Vec::with_capacity(BATCH);
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending: Option<Pending> = None;
        'connected: loop {
            tokio::select! {
                n = rx.recv_many(&mut heard, BATCH) => if n == 0 { break 'connected },
                _ = check.tick() => {
                    if pending.is_some() {
                        // A whole period without our own notification: the
                        // connection is silent (half-open, or not listening).
                        tracing::warn!("live listener silent; reconnecting");
                        lost = true;
                        break 'connected;
                    }
                    pending = send_check(&pool, &check_channel).await;
                    continue;
                }
            }
            for h in heard.drain(..) {
                match h {
                    Heard::Note(n) => batch.push(n),
                    Heard::Check(nonce) => {
                        if let Some(p) = pending.take_if(|p| p.nonce == nonce) {
                            heard_until = Some(p.sent_at);
                        }
                    }
                    Heard::Lost => {
                        // A check in flight went to the lost connection.
                        pending = None;
                        flush(&pool, &hub, &mut recent, &mut batch).await;
                        tracing::warn!("live listener connection lost; catching up");
                        if !catch_up(&pool, &hub, &mut recent, heard_until).await {
                            hub.resync_all();
                        }
                    }
                    Heard::Failed => {
                        flush(&pool, &hub, &mut recent, &mut batch).await;
                        hub.resync_all();
                        lost = true;
                        break 'connected;
                    }
                }
            }
            flush(&pool, &hub, &mut recent, &mut batch).await;
        }
        flush(&pool, &hub, &mut recent, &mut batch).await;
    }
}

/// Sends a check; `None` when it could not be sent (the database is busy or
/// down: that says nothing about the listening connection).
async fn send_check(pool: &PgPool, channel: &str) -> Option<Pending> {
    let nonce = Uuid::new_v4().simple().to_string();
    match tokio::time::timeout(CHECK_EVERY, store::live::ping(pool, channel, &nonce)).await {
        Ok(Ok(sent_at)) => Some(Pending { nonce, sent_at }),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "live listener check not sent");
            None
        }
        Err(_) => None,
    }
}

/// Reads and publishes the batch's events (then empties it); a failed read
/// resyncs every stream.
async fn flush(pool: &PgPool, hub: &LiveHub, recent: &mut Recent, batch: &mut Vec<Notified>) {
    if let Err(e) = read_and_publish(pool, hub, recent, batch).await {
        tracing::warn!(error = %e, "live events could not be read; resync");
        hub.resync_all();
    }
    batch.clear();
}

async fn read_and_publish(
    pool: &PgPool,
    hub: &LiveHub,
    recent: &mut Recent,
    batch: &[Notified],
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let rows = store::live::notified(pool, batch).await?;
    publish(hub, recent, rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_drop_duplicates_and_stay_bounded() {
        let mut r = Recent::new();
        assert!(r.insert(1));
        assert!(!r.insert(1));
        for i in 2..(RECENT as i64 + 10) {
            r.insert(i);
        }
        assert!(r.set.len() <= RECENT);
        assert!(r.insert(1), "forgotten after the window");
    }
}
