//! Reads of `live_events` (the triggers write it) and its pruning. The
//! listener reads what a NOTIFY named; streams resume after `Last-Event-ID`
//! within their viewer's agency and creators.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId, StaffId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveEventRow {
    pub id: i64,
    pub agency_id: AgencyId,
    pub creator_id: Option<CreatorId>,
    pub chat_id: Option<Uuid>,
    pub kind: String,
    pub message_uuid: Option<Uuid>,
    pub send_id: Option<Uuid>,
    pub staff_id: Option<StaffId>,
    pub tx: i64,
}

const COLUMNS: &str =
    "id, agency_id, creator_id, chat_id, kind, message_uuid, send_id, staff_id, tx";

/// Ids expanded from notifications beyond this are read by range instead.
const MAX_EXPANDED_IDS: usize = 20_000;

/// What one NOTIFY names: a transaction and the id range one statement of
/// it wrote (other transactions' ids inside the range are not its rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notified {
    pub tx: i64,
    pub first: i64,
    pub last: i64,
}

impl Notified {
    /// Parses the payload `tx:first:last`.
    pub fn parse(payload: &str) -> Option<Self> {
        let mut it = payload.split(':').map(|p| p.parse::<i64>().ok());
        let n = Self {
            tx: it.next()??,
            first: it.next()??,
            last: it.next()??,
        };
        (it.next().is_none() && n.first <= n.last).then_some(n)
    }
}

/// The rows of these notifications, by id. Small ranges (nearly always one
/// id each) are read as `id = ANY(…)`, a plan that stays a primary-key
/// lookup however the table grows; rows of other transactions inside a
/// range are dropped. Not tenant-scoped: the listener serves every agency
/// and each stream filters.
#[tracing::instrument(skip_all, fields(notifications = batch.len()))]
pub async fn notified(
    db: impl PgExecutor<'_>,
    batch: &[Notified],
) -> Result<Vec<LiveEventRow>, StoreError> {
    let span: usize = batch.iter().map(|n| (n.last - n.first + 1) as usize).sum();
    let rows: Vec<LiveEventRow> = if span <= MAX_EXPANDED_IDS {
        let ids: Vec<i64> = batch.iter().flat_map(|n| n.first..=n.last).collect();
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM live_events WHERE id = ANY($1) ORDER BY id"
        )))
        .bind(ids)
        .fetch_all(db)
        .await?
    } else {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT e.* FROM UNNEST($1::int8[], $2::int8[], $3::int8[]) AS n(tx, lo, hi)
             CROSS JOIN LATERAL (
                 SELECT {COLUMNS} FROM live_events
                 WHERE id BETWEEN n.lo AND n.hi AND tx = n.tx) e
             ORDER BY e.id"
        )))
        .bind(batch.iter().map(|n| n.tx).collect::<Vec<_>>())
        .bind(batch.iter().map(|n| n.first).collect::<Vec<_>>())
        .bind(batch.iter().map(|n| n.last).collect::<Vec<_>>())
        .fetch_all(db)
        .await?
    };
    Ok(rows
        .into_iter()
        .filter(|r| {
            batch
                .iter()
                .any(|n| n.tx == r.tx && (n.first..=n.last).contains(&r.id))
        })
        .collect())
}

/// Every agency's events written since `since` (listener catch-up after a
/// lost connection), at most `limit`. Not tenant-scoped, like [`notified`].
#[tracing::instrument(skip_all)]
pub async fn written_since(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<LiveEventRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM live_events WHERE at >= $1 ORDER BY id LIMIT $2"
    )))
    .bind(since)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Sends `nonce` on the listener's own check channel and returns the
/// database time just before it was sent: once it arrives, every
/// notification committed before that time has arrived too (notifications
/// are delivered in commit order).
#[tracing::instrument(skip_all)]
pub async fn ping(
    db: impl PgExecutor<'_>,
    channel: &str,
    nonce: &str,
) -> Result<DateTime<Utc>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT statement_timestamp() FROM pg_notify($1, $2)")
            .bind(channel)
            .bind(nonce)
            .fetch_one(db)
            .await?,
    )
}

/// Whether events after `after` can still be replayed: `after` is neither
/// newer than anything ever written (the table was reset) nor older than
/// what pruning kept.
#[tracing::instrument(skip_all)]
pub async fn resumable_after(db: impl PgExecutor<'_>, after: i64) -> Result<bool, StoreError> {
    let (oldest, issued): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT min(id) FROM live_events), pg_sequence_last_value('live_events_id_seq')",
    )
    .fetch_one(db)
    .await?;
    let issued = issued.unwrap_or(0);
    Ok(match oldest {
        _ if after > issued || after < 0 => false,
        Some(oldest) => after >= oldest - 1,
        // Nothing kept: fine only if nothing was written since.
        None => after == issued,
    })
}

/// The newest committed event id: what a page rendered now has seen. Read
/// before the page's data, so that a stream opened with it replays
/// everything the page may lack. With nothing kept, the last id issued
/// (resuming after it is valid when nothing was written since).
#[tracing::instrument(skip_all)]
pub async fn current_id(db: impl PgExecutor<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE((SELECT max(id) FROM live_events),
                         pg_sequence_last_value('live_events_id_seq'), 0)",
    )
    .fetch_one(db)
    .await?)
}

/// `agency`'s events of `creators` after `after`, oldest first, at most
/// `limit` (`access` events are internal and not replayed). Ids are taken
/// at insert but become visible at commit, so a transaction that took a
/// smaller id may commit after `after` was seen: events up to `margin`
/// older than the event `after` (by `at`, the writing transaction's start)
/// are replayed too. Repeats are harmless (pages refetch fragments).
#[tracing::instrument(skip_all, fields(agency_id = %agency, after))]
pub async fn replay(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creators: &[CreatorId],
    after: i64,
    margin: std::time::Duration,
    limit: i64,
) -> Result<Vec<LiveEventRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM live_events
         WHERE agency_id = $2 AND creator_id = ANY($3) AND kind <> 'access'
           AND (id > $1
                OR at >= (SELECT at FROM live_events WHERE id <= $1 ORDER BY id DESC LIMIT 1)
                         - $5 * interval '1 second')
         ORDER BY id LIMIT $4"
    )))
    .bind(after)
    .bind(agency)
    .bind(creators)
    .bind(limit)
    .bind(margin.as_secs_f64())
    .fetch_all(db)
    .await?)
}

/// Whether `staff`'s login `login_id` still has a live session (not signed
/// out, ended elsewhere, or expired): an open stream ends when it has none.
#[tracing::instrument(skip_all, fields(staff_id = %staff))]
pub async fn login_alive(
    db: impl PgExecutor<'_>,
    staff: StaffId,
    login_id: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions
                        WHERE staff_id = $1 AND login_id = $2 AND expires_at > now())",
    )
    .bind(staff)
    .bind(login_id)
    .fetch_one(db)
    .await?)
}

/// Drops events older than `keep`.
#[tracing::instrument(skip_all)]
pub async fn prune(db: impl PgExecutor<'_>, keep: std::time::Duration) -> Result<u64, StoreError> {
    let cutoff = Utc::now()
        - chrono::Duration::from_std(keep).unwrap_or_else(|_| chrono::Duration::minutes(15));
    Ok(sqlx::query("DELETE FROM live_events WHERE at < $1")
        .bind(cutoff)
        .execute(db)
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::Notified;

    #[test]
    fn payloads_parse_strictly() {
        assert_eq!(
            Notified::parse("812:5:9"),
            Some(Notified {
                tx: 812,
                first: 5,
                last: 9
            })
        );
        for bad in ["", "1:2", "1:2:3:4", "a:1:2", "1:9:5", "1::2"] {
            assert_eq!(Notified::parse(bad), None, "{bad}");
        }
    }
}
