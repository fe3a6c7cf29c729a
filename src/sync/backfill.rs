//! Backfill (DESIGN §5.3): every chat from the chat list, then the newest 50
//! messages of 50 chats per batch request, so the inbox is usable after
//! `ceil(chats/50)` × 2 requests. Older history continues in `history`.

use super::{Lease, RunStats, SyncEngine, SyncError, finish_run};
use crate::domain::MessageSource;
use crate::store;

impl SyncEngine {
    pub async fn backfill(&self, lease: &Lease, stats: &mut RunStats) -> Result<(), SyncError> {
        let creator = self.creator_uuid(lease.creator_id).await?;
        let fans: Vec<_> = self
            .walk_chats(lease, stats, None, None)
            .await?
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        self.default_batches(lease, stats, creator, &fans, true, MessageSource::Backfill)
            .await?;
        let mut tx = lease.begin(&self.pool).await?;
        let hw = finish_run(&mut tx, lease).await?;
        store::sync::mark_backfilled(&mut tx, lease.creator_id, hw).await?;
        tx.commit().await?;
        Ok(())
    }
}
