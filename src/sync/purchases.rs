//! Purchase refresh (DESIGN §5.4): a PPV's `purchasedAt` changes after the
//! message was mirrored and the incremental cursor (publish time) never
//! sees it again, so chats holding unpurchased PPVs younger than the horizon
//! are re-read in default mode. The purchase webhook makes this faster; this
//! makes it certain.

use super::{Lease, RunStats, SyncEngine, SyncError};
use crate::domain::MessageSource;
use crate::store;

impl SyncEngine {
    pub async fn refresh_purchases(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
    ) -> Result<(), SyncError> {
        let creator = self.creator_uuid(lease.creator_id).await?;
        let since = chrono::Utc::now()
            - chrono::Duration::hours(self.settings.purchase_horizon_hours as i64);
        let fans = {
            let mut conn = self.pool.acquire().await?;
            store::messages::fans_with_open_ppvs(&mut conn, lease.creator_id, since).await?
        };
        self.default_batches(
            lease,
            stats,
            creator,
            &fans,
            false,
            MessageSource::Purchases,
        )
        .await
    }
}
