//! The Fanvue cross-check (`/earnings`): per creator and local day (cut in
//! the agency's time zone by Postgres, so DST and +05:45 zones are exact),
//! the sales ledger's totals beside the earnings feed's, and the lines
//! behind a difference. Reversals count negative on both sides (refund
//! rows in the ledger, spending lines in the feed).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, AgencyZone, CreatorId};

/// One creator on one local day.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DayTotals {
    pub creator_id: CreatorId,
    pub creator_name: String,
    pub day: NaiveDate,
    pub sales: i64,
    pub sales_cents: i64,
    pub lines: i64,
    pub feed_cents: i64,
    /// Feed lines no sale stands for (unmatched, or not applied yet).
    pub lines_without_sale: i64,
    /// Sales the feed has no line for (webhook or mirror only).
    pub sales_without_line: i64,
}

impl DayTotals {
    /// Switchboard minus the feed; zero is the goal.
    pub fn difference_cents(&self) -> i64 {
        self.sales_cents - self.feed_cents
    }
    pub fn differs(&self) -> bool {
        self.difference_cents() != 0 || self.lines_without_sale > 0 || self.sales_without_line > 0
    }
}

/// Inclusive local days `from..=to` in `zone`, optionally one creator,
/// newest day first.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn days(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    zone: AgencyZone,
    from: NaiveDate,
    to: NaiveDate,
    creator: Option<CreatorId>,
) -> Result<Vec<DayTotals>, StoreError> {
    Ok(sqlx::query_as(
        "WITH bounds AS (
            SELECT ($3::date::timestamp AT TIME ZONE $2) AS lo,
                   (($4::date + 1)::timestamp AT TIME ZONE $2) AS hi),
         s AS (
            SELECT s.creator_id, (s.occurred_at AT TIME ZONE $2)::date AS day, count(*) AS n,
                   sum(s.gross_cents) AS cents, count(*) FILTER (WHERE s.earnings_line_id IS NULL) AS no_line
            FROM sales s, bounds b
            WHERE s.agency_id = $1 AND s.occurred_at >= b.lo AND s.occurred_at < b.hi
              AND ($5::uuid IS NULL OR s.creator_id = $5)
            GROUP BY 1, 2),
         e AS (
            SELECT e.creator_id, (e.occurred_at AT TIME ZONE $2)::date AS day, count(*) AS n,
                   sum(CASE WHEN e.feed = 'spending' THEN -abs(e.gross_cents) ELSE e.gross_cents END) AS cents,
                   count(*) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM sales x WHERE x.earnings_line_id = e.id)) AS no_sale
            FROM earnings_lines e, bounds b
            WHERE e.agency_id = $1 AND e.occurred_at >= b.lo AND e.occurred_at < b.hi
              AND ($5::uuid IS NULL OR e.creator_id = $5)
            GROUP BY 1, 2)
         SELECT cr.id AS creator_id, cr.display_name AS creator_name, d.day,
                COALESCE(s.n, 0)::int8 AS sales, COALESCE(s.cents, 0)::int8 AS sales_cents,
                COALESCE(e.n, 0)::int8 AS lines, COALESCE(e.cents, 0)::int8 AS feed_cents,
                COALESCE(e.no_sale, 0)::int8 AS lines_without_sale,
                COALESCE(s.no_line, 0)::int8 AS sales_without_line
         FROM (SELECT creator_id, day FROM s UNION SELECT creator_id, day FROM e) d
         JOIN creators cr ON cr.id = d.creator_id AND cr.agency_id = $1
         LEFT JOIN s ON s.creator_id = d.creator_id AND s.day = d.day
         LEFT JOIN e ON e.creator_id = d.creator_id AND e.day = d.day
         ORDER BY d.day DESC, cr.display_name, cr.id",
    )
    .bind(agency)
    .bind(zone.name())
    .bind(from)
    .bind(to)
    .bind(creator)
    .fetch_all(db)
    .await?)
}

/// An earnings or spending line of one creator's day, with its sale.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DayLine {
    pub id: i64,
    pub feed: String,
    pub source: String,
    pub fan_uuid: Option<Uuid>,
    pub gross_cents: i64,
    pub net_cents: i64,
    pub occurred_at: DateTime<Utc>,
    pub transaction_order_id: Option<String>,
    pub unmatched_reason: Option<String>,
    pub sale_id: Option<Uuid>,
    pub sale_cents: Option<i64>,
}

/// A sale of one creator's day that no feed line confirmed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DaySale {
    pub id: Uuid,
    pub kind: String,
    pub fan_uuid: Option<Uuid>,
    pub gross_cents: i64,
    pub occurred_at: DateTime<Utc>,
    pub basis: String,
    pub amount_source: String,
}

/// What stands behind one creator's local day: every feed line (matched or
/// not), and the sales without a line.
pub struct DayDetail {
    pub lines: Vec<DayLine>,
    pub sales_without_line: Vec<DaySale>,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn day_detail(
    db: impl PgExecutor<'_> + Copy,
    agency: AgencyId,
    zone: AgencyZone,
    creator: CreatorId,
    day: NaiveDate,
) -> Result<DayDetail, StoreError> {
    let lines = sqlx::query_as(
        "SELECT e.id, e.feed, e.source, e.fan_uuid,
                CASE WHEN e.feed = 'spending' THEN -abs(e.gross_cents) ELSE e.gross_cents END AS gross_cents,
                e.net_cents, e.occurred_at, e.transaction_order_id, e.unmatched_reason,
                s.id AS sale_id, s.gross_cents AS sale_cents
         FROM earnings_lines e
         LEFT JOIN sales s ON s.earnings_line_id = e.id AND s.agency_id = $1
         WHERE e.agency_id = $1 AND e.creator_id = $2
           AND e.occurred_at >= ($4::date::timestamp AT TIME ZONE $3)
           AND e.occurred_at < (($4::date + 1)::timestamp AT TIME ZONE $3)
         ORDER BY (s.id IS NULL) DESC, e.occurred_at, e.id",
    )
    .bind(agency)
    .bind(creator)
    .bind(zone.name())
    .bind(day)
    .fetch_all(db)
    .await?;
    let sales_without_line = sqlx::query_as(
        "SELECT s.id, s.kind, s.fan_uuid, s.gross_cents, s.occurred_at, s.basis, s.amount_source
         FROM sales s
         WHERE s.agency_id = $1 AND s.creator_id = $2 AND s.earnings_line_id IS NULL
           AND s.occurred_at >= ($4::date::timestamp AT TIME ZONE $3)
           AND s.occurred_at < (($4::date + 1)::timestamp AT TIME ZONE $3)
         ORDER BY s.occurred_at, s.id",
    )
    .bind(agency)
    .bind(creator)
    .bind(zone.name())
    .bind(day)
    .fetch_all(db)
    .await?;
    Ok(DayDetail {
        lines,
        sales_without_line,
    })
}
