//! Scheduling: claim a due creator, run what is due (backfill, else
//! reconcile, the earnings walk and purchase refresh; then a history step), record each run,
//! release the lease. `run_once` is the steppable unit tests drive; the
//! workers loop over it until shutdown.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::{Lease, RunStats, SyncEngine, SyncError};
use crate::domain::CreatorId;

/// What `run_once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    /// Steps run for a creator, in order.
    Ran {
        creator: CreatorId,
        kinds: Vec<Step>,
    },
}

impl SyncEngine {
    /// Claims one due creator (or `only` that one) and runs what is due.
    pub async fn run_once(
        &self,
        worker: &str,
        only: Option<CreatorId>,
    ) -> Result<Outcome, SyncError> {
        let Some(lease) = Lease::claim(
            &self.pool,
            worker,
            Duration::from_secs(self.settings.lease_secs),
            only,
        )
        .await?
        else {
            return Ok(Outcome::Idle);
        };
        let mut kinds = Vec::new();
        let alive = lease.keep_alive(&self.pool);
        let result = self.run_claimed(&lease, &mut kinds).await;
        drop(alive);
        // A backfill or reconcile schedules the next reconcile; a history
        // step alone leaves the schedule (a creator stays claimable while
        // its history is pending).
        let reconciled = kinds
            .iter()
            .any(|k| matches!(k, Step::Backfill | Step::Reconcile));
        let next = reconciled.then(|| {
            Utc::now() + chrono::Duration::seconds(self.settings.reconcile_interval_secs as i64)
        });
        if !matches!(result, Err(SyncError::LeaseLost)) {
            lease.release(&self.pool, next).await?;
        }
        result.map(|_| Outcome::Ran {
            creator: lease.creator_id,
            kinds,
        })
    }

    /// Returns Ok(true) when the creator is fully synced (history done).
    async fn run_claimed(&self, lease: &Lease, kinds: &mut Vec<Step>) -> Result<bool, SyncError> {
        if lease.backfill_done_at.is_none() {
            self.step(lease, Step::Backfill, kinds).await?;
        } else if lease.reconcile_due {
            self.step(lease, Step::Reconcile, kinds).await?;
            // The earnings walk proves purchases of any age, so the purchase
            // refresh only re-reads chats where a proved purchase could not
            // be matched; when the feed cannot be read (say, a grant without
            // `read:insights`) it falls back to every chat with an open PPV
            // younger than the horizon.
            let walked = match self.step(lease, Step::Earnings, kinds).await {
                Ok(_) => true,
                Err(SyncError::LeaseLost) => return Err(SyncError::LeaseLost),
                Err(_) => false,
            };
            self.step_with(lease, Step::Purchases, kinds, walked)
                .await?;
        }
        if lease.history_done_at.is_some() {
            return Ok(true);
        }
        let done = self.step(lease, Step::History, kinds).await?;
        if done {
            let mut tx = lease.begin(&self.pool).await?;
            crate::store::sync::mark_history_done(&mut tx, lease.creator_id).await?;
            tx.commit().await?;
        }
        Ok(done)
    }

    /// Runs one step and records it as a `sync_runs` row, failed or not.
    /// Returns the history step's "all done" (true for other steps).
    async fn step(
        &self,
        lease: &Lease,
        step: Step,
        kinds: &mut Vec<Step>,
    ) -> Result<bool, SyncError> {
        self.step_with(lease, step, kinds, false).await
    }

    /// `step`, with the purchase refresh targeted at what the earnings walk
    /// could not match (`targeted`) or at the whole horizon.
    async fn step_with(
        &self,
        lease: &Lease,
        step: Step,
        kinds: &mut Vec<Step>,
        targeted: bool,
    ) -> Result<bool, SyncError> {
        let mut stats = RunStats::default();
        let started = Utc::now();
        let result = match step {
            Step::Backfill => self.backfill(lease, &mut stats).await.map(|()| true),
            Step::Reconcile => self.reconcile(lease, &mut stats).await.map(|()| true),
            Step::Earnings => self.walk_earnings(lease, &mut stats).await.map(|()| true),
            Step::Purchases => self
                .refresh_purchases(lease, &mut stats, targeted)
                .await
                .map(|()| true),
            Step::History => self.history_step(lease, &mut stats).await,
        };
        if let Err(e) = &result {
            tracing::warn!(creator_id = %lease.creator_id, kind = step.kind(), error = %e, "sync step failed");
        }
        self.record(lease, step.kind(), started, &stats, result.as_ref().err())
            .await?;
        kinds.push(step);
        result
    }
}

/// One kind of sync work; its `kind()` is the `sync_runs.kind` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Backfill,
    Reconcile,
    Earnings,
    Purchases,
    History,
}

impl Step {
    pub fn kind(self) -> &'static str {
        match self {
            Step::Backfill => "backfill",
            Step::Reconcile => "reconcile",
            Step::Earnings => "earnings",
            Step::Purchases => "purchases",
            Step::History => "history",
        }
    }
}

/// Starts `n` sync workers that run until `shutdown` turns true; each
/// finishes (or abandons, releasing) its current creator first.
pub fn spawn_workers(
    engine: SyncEngine,
    n: usize,
    instance: &str,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let engine = engine.clone();
            let mut shutdown = shutdown.clone();
            let worker = format!("{instance}-{i}");
            tokio::spawn(async move {
                let idle = Duration::from_millis(engine.settings.poll_interval_ms.max(10));
                loop {
                    if *shutdown.borrow() {
                        break;
                    }
                    match engine.run_once(&worker, None).await {
                        Ok(Outcome::Ran { .. }) => continue,
                        Ok(Outcome::Idle) => {}
                        Err(e) => tracing::warn!(worker, error = %e, "sync run failed"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(idle) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                tracing::info!(worker, "sync worker stopped");
            })
        })
        .collect()
}
