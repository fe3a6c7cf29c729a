//! Older history, page by page per chat (`GET /chats/{fan}/messages`,
//! `markAsRead=false`), after the backfill and at background priority, up
//! to the configured depth.

use super::{Lease, PAGE_SIZE, RunStats, SyncEngine, SyncError};
use crate::domain::MessageSource;
use crate::fanvue::Priority;
use crate::store;

/// Chats advanced per history step, so reconciles are not held up.
const CHATS_PER_STEP: i64 = 25;

impl SyncEngine {
    /// Fetches more history for some chats; returns true when every chat's
    /// history is complete.
    pub async fn history_step(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
    ) -> Result<bool, SyncError> {
        let creator = self.creator_uuid(lease.creator_id).await?;
        let max_pages = (self.settings.history_depth.div_ceil(PAGE_SIZE)).max(1) as i32;
        let pending = {
            let mut conn = self.pool.acquire().await?;
            store::chats::chats_needing_history(&mut conn, lease.creator_id, CHATS_PER_STEP).await?
        };
        if pending.is_empty() {
            return Ok(true);
        }
        let client = self.connections.client();
        let mut marks = Vec::new();
        for (_, fan, pages) in pending {
            let mut page = pages;
            let mut done = page >= max_pages;
            while !done {
                let next = page as u32 + 1;
                let resp = self
                    .connections
                    .call_metered(
                        lease.creator_id,
                        Priority::Background,
                        Some(stats.meter.clone()),
                        |a| async move { client.chat_messages(&a, fan, next, PAGE_SIZE).await },
                    )
                    .await?;
                for s in &resp.skipped {
                    stats.skip(
                        format!("chat {fan} page {next} item {}", s.at),
                        s.reason.clone(),
                    );
                }
                self.write_messages(
                    lease,
                    stats,
                    creator,
                    &[(fan, &resp.items)],
                    MessageSource::History,
                )
                .await?;
                page += 1;
                done = !resp.has_more || page >= max_pages;
            }
            marks.push((fan, page, true));
            lease.renew(&self.pool).await?;
        }
        let mut tx = lease.begin(&self.pool).await?;
        store::chats::set_history(&mut tx, lease.creator_id, &marks).await?;
        tx.commit().await?;
        let mut conn = self.pool.acquire().await?;
        Ok(
            store::chats::chats_needing_history(&mut conn, lease.creator_id, 1)
                .await?
                .is_empty(),
        )
    }
}
