//! A claimed creator. Every write of a sync step begins with
//! `Lease::begin`, which re-checks the lease inside the write transaction
//! (it does not extend it): a worker whose lease expired and was taken over
//! writes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use super::SyncError;
use crate::domain::{AgencyId, CreatorId};
use crate::store;
use crate::task::AbortOnDrop;

#[derive(Debug, Clone)]
pub struct Lease {
    pub creator_id: CreatorId,
    pub agency_id: AgencyId,
    pub worker: String,
    pub lease: Duration,
    pub backfill_done_at: Option<DateTime<Utc>>,
    pub history_done_at: Option<DateTime<Utc>>,
    pub high_water_at: Option<DateTime<Utc>>,
    pub reconcile_due: bool,
    /// The database's time of the claim.
    pub claimed_at: DateTime<Utc>,
}

impl Lease {
    /// Claims the next due creator (or `only` that one) for `worker`.
    pub async fn claim(
        pool: &PgPool,
        worker: &str,
        lease: Duration,
        only: Option<CreatorId>,
    ) -> Result<Option<Lease>, SyncError> {
        Ok(store::sync::claim(pool, worker, lease, only)
            .await?
            .map(|c| Lease {
                creator_id: c.creator_id,
                agency_id: c.agency_id,
                worker: worker.to_owned(),
                lease,
                backfill_done_at: c.backfill_done_at,
                history_done_at: c.history_done_at,
                high_water_at: c.high_water_at,
                reconcile_due: c.reconcile_due,
                claimed_at: c.claimed_at,
            }))
    }

    /// A write transaction, valid only while the lease is ours.
    pub async fn begin(&self, pool: &PgPool) -> Result<Transaction<'static, Postgres>, SyncError> {
        let mut tx = pool.begin().await?;
        if !store::sync::holds_lease(&mut tx, self.creator_id, &self.worker).await? {
            return Err(SyncError::LeaseLost);
        }
        Ok(tx)
    }

    /// Extends the lease between long steps.
    pub async fn renew(&self, pool: &PgPool) -> Result<(), SyncError> {
        if store::sync::renew(pool, self.creator_id, &self.worker, self.lease).await? {
            Ok(())
        } else {
            Err(SyncError::LeaseLost)
        }
    }

    /// Keeps the lease alive for as long as the returned guard lives, renewing it every
    /// third of its length. A run can wait on the creator's rate budget for up to a whole
    /// rate window, longer than a lease; without this it would lose the lease mid-run and
    /// another worker would redo (and re-spend) its work. A crashed process stops renewing
    /// and its lease runs out as before.
    pub fn keep_alive(&self, pool: &PgPool) -> AbortOnDrop {
        let (pool, creator, worker, lease) = (
            pool.clone(),
            self.creator_id,
            self.worker.clone(),
            self.lease,
        );
        let every = (lease / 3).max(Duration::from_millis(100));
        AbortOnDrop::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match store::sync::renew(&pool, creator, &worker, lease).await {
                    Ok(true) => {}
                    // Lost (or released): the run's next write finds out.
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(creator_id = %creator, error = %e, "sync lease renewal failed")
                    }
                }
            }
        })
    }

    pub async fn release(
        &self,
        pool: &PgPool,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<(), SyncError> {
        store::sync::release(pool, self.creator_id, &self.worker, next_at).await?;
        Ok(())
    }
}
