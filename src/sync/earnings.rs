//! The earnings reconcile (issue 14): revenue must not depend on a webhook
//! arriving. Each scheduled cycle walks the creator's earnings feed
//! (`GET /insights/earnings`, the creator's token) from its high-water mark
//! minus an overlap, page by page to the end, storing every line once; the
//! spending feed (refunds, chargebacks) the same way, at most every
//! `spending_interval_secs`. Then the matcher joins message lines to their
//! mirrored PPV (marking it purchased if it was not) and reversals to the
//! line they reverse. Cost: one request per page of lines dated after the
//! high-water mark minus the overlap (at least one).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Lease, PAGE_SIZE, RunStats, SyncEngine, SyncError};
use crate::fanvue::Priority;
use crate::fanvue::client::FeedQuery;
use crate::fanvue::models::EarningsLine;
use crate::store;
use crate::store::earnings::{Feed, MatchRules, NewLine, WalkResult};

/// The natural key of a line: Fanvue's order id when it sends one, else
/// the documented fields that identify a line (source, time, fan, amount).
pub fn natural_key(feed: Feed, l: &EarningsLine) -> String {
    match &l.transaction_order_id {
        Some(id) => format!("{}:order:{id}", feed.as_str()),
        None => format!(
            "{}:{}:{}:{}:{}",
            feed.as_str(),
            l.source,
            l.date.timestamp_millis(),
            l.user
                .as_ref()
                .map(|u| u.uuid.to_string())
                .unwrap_or_default(),
            l.gross
        ),
    }
}

fn to_row(feed: Feed, l: &EarningsLine) -> NewLine {
    NewLine {
        natural_key: natural_key(feed, l),
        source: l.source.clone(),
        fan_uuid: l.user.as_ref().map(|u| u.uuid),
        gross_cents: l.gross,
        // Fanvue always sends net; a line without it is stored at gross
        // rather than dropped (the raw line is kept beside it).
        net_cents: l.net.unwrap_or(l.gross),
        currency: l.currency.clone(),
        occurred_at: l.date,
        message_uuid: l.message_uuid,
        post_uuid: l.post_uuid,
        transaction_order_id: l.transaction_order_id.clone(),
        transaction_order_status: l.transaction_order_status.clone(),
        raw: json!({
            "date": l.date, "gross": l.gross, "net": l.net, "currency": l.currency,
            "source": l.source, "user": l.user, "messageUuid": l.message_uuid,
            "postUuid": l.post_uuid, "transactionOrderId": l.transaction_order_id,
            "transactionOrderStatus": l.transaction_order_status, "extra": l.extra,
        }),
    }
}

impl SyncEngine {
    fn match_rules(&self) -> MatchRules {
        MatchRules {
            window: chrono::Duration::hours(self.settings.earnings_match_window_hours as i64),
            // A webhook's purchase time and the feed's date may differ a little.
            tolerance: chrono::Duration::minutes(5),
        }
    }

    /// One earnings-reconcile step: the earnings feed, the spending feed
    /// when due, then the matcher.
    pub async fn walk_earnings(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
    ) -> Result<(), SyncError> {
        self.walk_feed(lease, stats, Feed::Earnings).await?;
        // The spending feed is known only from an SDK: if Fanvue refuses it,
        // the earnings walk still counts (its error shows on the sync page).
        if self.spending_due(lease).await?
            && let Err(e) = self.walk_feed(lease, stats, Feed::Spending).await
        {
            if matches!(e, SyncError::LeaseLost) {
                return Err(e);
            }
            stats.skip("spending feed", e.to_string());
        }
        self.rematch(lease).await?;
        Ok(())
    }

    /// Runs the matcher over every waiting line of the creator.
    pub(super) async fn rematch(
        &self,
        lease: &Lease,
    ) -> Result<store::earnings::MatchStats, SyncError> {
        let mut tx = lease.begin(&self.pool).await?;
        let m = store::earnings::match_pending(
            &mut tx,
            lease.agency_id,
            lease.creator_id,
            self.match_rules(),
        )
        .await?;
        tx.commit().await?;
        Ok(m)
    }

    async fn spending_due(&self, lease: &Lease) -> Result<bool, SyncError> {
        let last: Option<DateTime<Utc>> =
            store::earnings::summary_last_run(&self.pool, lease.creator_id, Feed::Spending).await?;
        let gap = chrono::Duration::seconds(self.settings.spending_interval_secs as i64);
        Ok(last.is_none_or(|t| Utc::now() - t >= gap))
    }

    /// Walks one feed from its high-water mark minus the overlap to the end.
    async fn walk_feed(
        &self,
        lease: &Lease,
        stats: &mut RunStats,
        feed: Feed,
    ) -> Result<(), SyncError> {
        let hw = store::earnings::high_water(&self.pool, lease.creator_id, feed).await?;
        let overlap = chrono::Duration::seconds(self.settings.earnings_overlap_secs as i64);
        let before = stats.meter.requests();
        let mut newest = hw;
        let mut new_lines = 0i64;
        let result = async {
            let client = self.connections.client();
            let mut query = FeedQuery {
                start_date: hw.map(|h| h - overlap),
                size: PAGE_SIZE,
                ..FeedQuery::default()
            };
            loop {
                let q = query.clone();
                let page = self
                    .connections
                    .call_metered(
                        lease.creator_id,
                        Priority::Background,
                        Some(stats.meter.clone()),
                        |a| {
                            let q = q.clone();
                            async move {
                                match feed {
                                    Feed::Earnings => client.earnings(&a, &q).await,
                                    Feed::Spending => client.spending(&a, &q).await,
                                }
                            }
                        },
                    )
                    .await?;
                for s in &page.skipped {
                    stats.skip(format!("{} line {}", feed.as_str(), s.at), s.reason.clone());
                }
                let rows: Vec<NewLine> = page.items.iter().map(|l| to_row(feed, l)).collect();
                newest = newest.max(page.items.iter().map(|l| l.date).max());
                let mut tx = lease.begin(&self.pool).await?;
                new_lines += store::earnings::insert_lines(
                    &mut tx,
                    lease.agency_id,
                    lease.creator_id,
                    feed,
                    &rows,
                )
                .await? as i64;
                tx.commit().await?;
                lease.renew(&self.pool).await?;
                match page.next_cursor {
                    // A cursor that does not move would loop forever.
                    Some(c) if query.cursor.as_deref() != Some(c.as_str()) => {
                        query.cursor = Some(c)
                    }
                    _ => return Ok::<(), SyncError>(()),
                }
            }
        }
        .await;
        let requests = (stats.meter.requests() - before) as i64;
        let err = result.as_ref().err().map(ToString::to_string);
        // A failed walk keeps what it stored but not a new high-water mark:
        // the next walk covers the same span again.
        store::earnings::finish_walk(
            &self.pool,
            lease.agency_id,
            lease.creator_id,
            feed,
            WalkResult {
                high_water_at: if result.is_ok() { newest } else { None },
                requests,
                new_lines,
                error: err.as_deref(),
            },
        )
        .await?;
        result
    }
}
