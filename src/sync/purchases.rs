//! Purchase refresh (DESIGN §5.4): a PPV's `purchasedAt` changes after the
//! message was mirrored and the incremental cursor (publish time) never
//! sees it again, so chats holding unpurchased PPVs younger than the horizon
//! are re-read in default mode. The purchase webhook makes this faster; this
//! makes it certain. Since the earnings walk proves purchases of any age,
//! the scheduled refresh is `targeted`: only the chats where the walk saw a
//! purchase it could not match to a mirrored PPV (say, two open PPVs of the
//! same price), after which the walk's lines are matched again. When the
//! feed could not be read, it re-reads every chat with an open PPV younger
//! than the horizon, as before.

use super::{Lease, RunStats, SyncEngine, SyncError};
use crate::domain::MessageSource;
use crate::store;

impl SyncEngine {
    pub async fn refresh_purchases(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        targeted: bool,
    ) -> Result<(), SyncError> {
        let creator = self.creator_uuid(lease.creator_id).await?;
        let since = chrono::Utc::now()
            - chrono::Duration::hours(self.settings.purchase_horizon_hours as i64);
        let fans = if targeted {
            store::earnings::fans_with_unmatched_purchases(&self.pool, lease.creator_id, since)
                .await?
        } else {
            let mut conn = self.pool.acquire().await?;
            store::messages::fans_with_open_ppvs(&mut conn, lease.creator_id, since).await?
        };
        if fans.is_empty() {
            return Ok(());
        }
        self.default_batches(
            lease,
            stats,
            creator,
            &fans,
            false,
            MessageSource::Purchases,
        )
        .await?;
        if targeted {
            self.rematch(lease).await?;
        }
        Ok(())
    }
}
