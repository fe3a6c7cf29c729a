//! Mirror sync (DESIGN §5): a one-time batched backfill, older history in
//! the background, periodic incremental reconcile, and purchase refresh —
//! each step a function the scheduler (or a test) can run once. Reads never
//! mark chats read (invariant 7); writes go through the lease so two
//! instances never sync one creator at once.

mod backfill;
pub(crate) mod convert;
mod earnings;
mod history;
mod lease;
mod purchases;
mod reconcile;
mod worker;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

pub use lease::Lease;
pub use worker::{Outcome, Step, spawn_workers};

use crate::config::SyncSettings;
use crate::connections::{ConnectionError, Connections};
use crate::fanvue::Meter;
use crate::store::StoreError;

/// Chats per batch request and messages per chat (Fanvue's maximums).
pub const BATCH_CHATS: usize = 50;
pub const PAGE_SIZE: u32 = 50;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("lease lost: another worker owns this creator now")]
    LeaseLost,
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What one run did; becomes a `sync_runs` row.
#[derive(Debug, Default)]
pub struct RunStats {
    pub meter: Arc<Meter>,
    pub messages_upserted: u64,
    pub chats: BTreeSet<Uuid>,
    pub skipped: Vec<serde_json::Value>,
}

impl RunStats {
    pub fn skip(&mut self, at: impl Into<String>, reason: impl Into<String>) {
        self.skipped
            .push(json!({ "at": at.into(), "reason": reason.into() }));
    }
}

/// Everything a sync step needs.
#[derive(Clone)]
pub struct SyncEngine {
    pub pool: PgPool,
    pub connections: Connections,
    pub settings: SyncSettings,
}

impl SyncEngine {
    pub fn new(pool: PgPool, connections: Connections, settings: SyncSettings) -> Self {
        Self {
            pool,
            connections,
            settings,
        }
    }
}

use std::collections::BTreeMap;

use crate::domain::{CreatorId, MessageSource};
use crate::fanvue::models::{BatchChat, BatchEntry, BatchRequest, Chat, Message};
use crate::fanvue::{FanvueError, Priority};
use crate::store;

impl SyncEngine {
    /// The creator's Fanvue user uuid (direction of messages).
    async fn creator_uuid(&self, id: CreatorId) -> Result<Uuid, SyncError> {
        Ok(store::creators::tokens(&self.pool, id).await?.fanvue_uuid)
    }

    /// Writes chat rows from the chat list, under the lease.
    async fn write_chats(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        chats: &[Chat],
    ) -> Result<(), SyncError> {
        let rows: Vec<_> = chats.iter().map(convert::chat).collect();
        let mut tx = lease.begin(&self.pool).await?;
        store::chats::upsert_chats(&mut tx, lease.agency_id, lease.creator_id, &rows).await?;
        tx.commit().await?;
        stats.chats.extend(chats.iter().map(|c| c.user.uuid));
        Ok(())
    }

    /// Writes messages of several chats (fan → messages) in one statement.
    async fn write_messages(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        creator: Uuid,
        by_fan: &[(Uuid, &[Message])],
        source: MessageSource,
    ) -> Result<(), SyncError> {
        let rows: Vec<_> = by_fan
            .iter()
            .flat_map(|(fan, msgs)| msgs.iter().map(move |m| convert::message(m, creator, *fan)))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = lease.begin(&self.pool).await?;
        let n = store::messages::upsert_messages(
            &mut tx,
            lease.agency_id,
            lease.creator_id,
            &rows,
            source,
        )
        .await?;
        tx.commit().await?;
        stats.messages_upserted += n;
        stats.chats.extend(by_fan.iter().map(|(f, _)| *f));
        Ok(())
    }

    /// Pages `GET /chats` (most recent first), writing every row, and
    /// returns the fans (with their last message's uuid) whose last message
    /// is at or after `since` — all of them when `since` is None. Stops at
    /// the first older row.
    async fn walk_chats(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        since: Option<chrono::DateTime<chrono::Utc>>,
        filter: Option<&str>,
    ) -> Result<Vec<(Uuid, Option<Uuid>)>, SyncError> {
        let client = self.connections.client();
        let mut fans = Vec::new();
        let mut page = 1;
        loop {
            let q = crate::fanvue::client::ChatsQuery {
                page,
                size: PAGE_SIZE,
                filters: filter.map(str::to_owned).into_iter().collect(),
                ..Default::default()
            };
            let resp = self
                .connections
                .call_metered(
                    lease.creator_id,
                    Priority::Background,
                    Some(stats.meter.clone()),
                    |a| {
                        let q = q.clone();
                        async move { client.chats(&a, &q).await }
                    },
                )
                .await?;
            for s in &resp.skipped {
                stats.skip(format!("chats page {page} item {}", s.at), s.reason.clone());
            }
            let mut reached_older = false;
            let mut keep = Vec::new();
            for c in &resp.items {
                match (since, c.last_message_at) {
                    (Some(cut), Some(at)) if at < cut => reached_older = true,
                    (Some(_), None) => {}
                    _ => keep.push(c.clone()),
                }
            }
            // Older rows on this page are refreshed too (their metadata is
            // current), but only changed chats are fetched.
            self.write_chats(lease, stats, &resp.items).await?;
            fans.extend(
                keep.iter()
                    .map(|c| (c.user.uuid, c.last_message.as_ref().map(|m| m.uuid))),
            );
            lease.renew(&self.pool).await?;
            if reached_older || !resp.has_more {
                return Ok(fans);
            }
            page += 1;
        }
    }

    /// One batch request with per-key error handling: `internal` keys are
    /// retried alone once; other per-key errors are recorded and skipped.
    async fn batch(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        fans: &[Uuid],
        since: Option<Uuid>,
    ) -> Result<BTreeMap<Uuid, BatchChat>, SyncError> {
        let client = self.connections.client();
        let mut out = BTreeMap::new();
        let mut keys = fans.to_vec();
        for attempt in 0..2 {
            let req = BatchRequest {
                chat_uuids: keys.clone(),
                since_message_uuid: since,
                limit: Some(PAGE_SIZE),
            };
            let resp = self
                .connections
                .call_metered(
                    lease.creator_id,
                    Priority::Background,
                    Some(stats.meter.clone()),
                    |a| {
                        let req = req.clone();
                        async move { client.messages_batch(&a, &req).await }
                    },
                )
                .await?;
            for s in &resp.skipped {
                stats.skip(format!("batch key {}", s.at), s.reason.clone());
            }
            let mut retry = Vec::new();
            for (fan, entry) in resp.by_chat {
                match entry {
                    BatchEntry::Ok(chat) => {
                        for s in &chat.skipped {
                            stats.skip(format!("message {}", s.at), s.reason.clone());
                        }
                        out.insert(fan, chat);
                    }
                    BatchEntry::Error(e) if e == "internal" && attempt == 0 => retry.push(fan),
                    BatchEntry::Error(e) => stats.skip(format!("chat {fan}"), e),
                }
            }
            if retry.is_empty() {
                break;
            }
            keys = retry;
        }
        Ok(out)
    }

    /// Default-mode batches (newest 50 per chat) for `fans`; with `history`
    /// set, records which chats have older messages left to fetch.
    async fn default_batches(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        creator: Uuid,
        fans: &[Uuid],
        history: bool,
        source: MessageSource,
    ) -> Result<(), SyncError> {
        for chunk in fans.chunks(BATCH_CHATS) {
            let got = self.batch(lease, stats, chunk, None).await?;
            let by_fan: Vec<(Uuid, &[Message])> = got
                .iter()
                .map(|(f, c)| (*f, c.messages.as_slice()))
                .collect();
            self.write_messages(lease, stats, creator, &by_fan, source)
                .await?;
            if history {
                let marks: Vec<(Uuid, i32, bool)> =
                    got.iter().map(|(f, c)| (*f, 1, !c.has_more)).collect();
                let mut tx = lease.begin(&self.pool).await?;
                store::chats::set_history(&mut tx, lease.creator_id, &marks).await?;
                tx.commit().await?;
            }
            lease.renew(&self.pool).await?;
        }
        Ok(())
    }

    /// Writes a `sync_runs` row for a finished (or failed) run.
    async fn record(
        &self,
        lease: &Lease,
        kind: &str,
        started: chrono::DateTime<chrono::Utc>,
        stats: &RunStats,
        error: Option<&SyncError>,
    ) -> Result<(), SyncError> {
        let err = error.map(ToString::to_string);
        store::sync::record_run(
            &self.pool,
            store::sync::NewRun {
                agency_id: lease.agency_id,
                creator_id: lease.creator_id,
                kind,
                worker: &lease.worker,
                started_at: started,
                api_requests: stats.meter.requests() as i64,
                rate_limited: stats.meter.rate_limited() as i64,
                messages_upserted: stats.messages_upserted as i64,
                chats_touched: stats.chats.len() as i64,
                skipped: serde_json::Value::Array(stats.skipped.clone()),
                error: err.as_deref(),
            },
        )
        .await?;
        Ok(())
    }
}

/// Whether an API refusal of an incremental batch means its cursor is gone.
/// The last step of a backfill or reconcile, in its final transaction:
/// sends that ended `unknown` are settled against what was just mirrored,
/// and the creator's new high-water mark is read.
async fn finish_run(
    tx: &mut sqlx::PgConnection,
    lease: &Lease,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, SyncError> {
    store::sends::resolve_unknown(
        &mut *tx,
        lease.agency_id,
        lease.creator_id,
        crate::inbox::send::UNKNOWN_WINDOW,
    )
    .await?;
    Ok(store::chats::high_water(tx, lease.creator_id).await?)
}

fn cursor_rejected(e: &SyncError) -> bool {
    matches!(
        e,
        SyncError::Connection(ConnectionError::Api(FanvueError::Validation(_)))
    )
}
