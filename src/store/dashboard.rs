//! Dashboard figures, read from the rollups the database keeps (migration
//! `…19_dashboard_rollups.sql`): `sales_daily` (revenue by local day,
//! creator, credited staff, kind and basis), `activity_daily` (messages and
//! PPVs sent by local day, creator and sender) and `reply_daily` (migration
//! `…23_reply_histograms.sql`: replies, chat-days and a histogram of waits by
//! local day, creator and sender). Every read is one agency and a range of
//! local days, so it is an index-only scan of a few thousand rows whatever
//! the size of the mirror.
//!
//! `raw_by_staff` computes the same per-staff figures from the raw tables in
//! one query: the reference the tests and the benchmark compare with.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId, Period, StaffId};

/// Whose figures: one staff member, or what no staff member is credited
/// with (`staff=none` in the drill-down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffFilter {
    Staff(StaffId),
    Nobody,
}

/// What a read is narrowed to (both optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    pub creator: Option<CreatorId>,
    pub staff: Option<StaffFilter>,
}

impl Filter {
    fn creator_param(&self) -> Option<Uuid> {
        self.creator.map(|c| c.as_uuid())
    }
    fn staff_param(&self) -> Option<Uuid> {
        match self.staff {
            Some(StaffFilter::Staff(s)) => Some(s.as_uuid()),
            _ => None,
        }
    }
    /// Whether a row credited to `key` passes the staff filter.
    fn admits(&self, key: Option<Uuid>) -> bool {
        match self.staff {
            None => true,
            Some(StaffFilter::Nobody) => key.is_none(),
            Some(StaffFilter::Staff(id)) => key == Some(id.as_uuid()),
        }
    }
    fn nobody_param(&self) -> bool {
        self.staff == Some(StaffFilter::Nobody)
    }
}

/// How figures are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// By credited staff member (None: nobody).
    Staff,
    Creator,
    /// One row for everything.
    Total,
}

/// One period's figures for one key. Amounts are cents; refunds and
/// chargebacks are negative rows, so they are subtracted from gross and net.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub gross: i64,
    pub net: i64,
    /// Gross of PPV purchases.
    pub ppv: i64,
    /// Gross of tips.
    pub tips: i64,
    /// Creator revenue from the earnings feed (subscriptions, posts…).
    pub non_chat: i64,
    /// Sales (refunds and chargebacks not counted).
    pub sales: i64,
    pub messages_sent: i64,
    pub ppvs_sent: i64,
    pub ppvs_unlocked: i64,
    /// Replies that answered a waiting fan.
    pub replies: i64,
    /// Chats answered, each counted once per local day it was answered
    /// (per sender: so days add up over a period).
    pub chats_answered: i64,
    pub median_secs: Option<f64>,
    pub p90_secs: Option<f64>,
}

/// The figures of one key in the period and in the previous one.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyed {
    pub key: Option<Uuid>,
    pub cur: Figures,
    pub prev: Figures,
}

#[derive(sqlx::FromRow)]
struct SalesRow {
    key: Option<Uuid>,
    creator_id: Uuid,
    cur: bool,
    gross: i64,
    net: i64,
    ppv: i64,
    tips: i64,
    non_chat: i64,
    sales: i64,
}

#[derive(sqlx::FromRow)]
struct ActivityRow {
    key: Option<Uuid>,
    creator_id: Uuid,
    cur: bool,
    messages_sent: i64,
    ppvs_sent: i64,
    ppvs_unlocked: i64,
}

/// One `reply_daily` row.
#[derive(sqlx::FromRow)]
struct ReplyCell {
    key: Option<Uuid>,
    creator_id: Uuid,
    cur: bool,
    replies: i64,
    chat_days: i64,
    /// The non-empty buckets, with their counts.
    wait_buckets: Vec<i32>,
    wait_counts: Vec<i32>,
}

/// Buckets of the response-time histogram: 0 holds waits under a second,
/// bucket k holds [2^((k-1)/3), 2^(k/3)) seconds (the SQL `dash_wait_bucket`).
pub const WAIT_BUCKETS: usize = 64;

/// A response-time histogram, summed in Rust from the rows' non-empty
/// buckets: summing arrays in SQL costs more than sending the rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Waits([i64; WAIT_BUCKETS]);

impl Default for Waits {
    fn default() -> Self {
        Self([0; WAIT_BUCKETS])
    }
}

impl Waits {
    /// Adds counts of the given buckets (out-of-range buckets are ignored:
    /// the SQL never writes one).
    fn add(&mut self, buckets: &[i32], counts: &[i32]) {
        for (b, c) in buckets.iter().zip(counts) {
            if let Some(sum) = usize::try_from(*b).ok().and_then(|b| self.0.get_mut(b)) {
                *sum += i64::from(*c);
            }
        }
    }

    /// Counts per bucket, bucket 0 first (tests build histograms with it).
    pub fn from_counts(counts: &[i32]) -> Self {
        let mut w = Self::default();
        for (sum, c) in w.0.iter_mut().zip(counts) {
            *sum += i64::from(*c);
        }
        w
    }

    /// The bucket a wait falls in (the SQL `dash_wait_bucket`).
    pub fn bucket(secs: i64) -> usize {
        if secs < 1 {
            return 0;
        }
        let k = 1 + (3.0 * (secs as f64).log2() + 1e-9).floor() as usize;
        k.min(WAIT_BUCKETS - 1)
    }

    /// The geometric middle of bucket k: within a factor 2^(1/6) (12.3 %)
    /// of any wait in it.
    fn middle(k: usize) -> f64 {
        if k == 0 {
            0.0
        } else {
            2f64.powf((k as f64 - 0.5) / 3.0)
        }
    }

    /// The wait of 0-based rank `r`, as its bucket's middle.
    fn ranked(&self, r: i64) -> f64 {
        let mut before = 0i64;
        let mut last = 0;
        for (k, &c) in self.0.iter().enumerate() {
            if c <= 0 {
                continue;
            }
            last = k;
            if before + c > r {
                return Self::middle(k);
            }
            before += c;
        }
        Self::middle(last)
    }

    /// The `p` quantile the way `percentile_cont` takes it (rank p·(n−1),
    /// interpolated between the two waits around it), each wait read as its
    /// bucket's middle: so within 12.3 % of the exact figure.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let n: i64 = self.0.iter().sum();
        if n <= 0 {
            return None;
        }
        let rank = p.clamp(0.0, 1.0) * (n - 1) as f64;
        let (lo, hi) = (rank.floor() as i64, rank.ceil() as i64);
        let (a, b) = (self.ranked(lo), self.ranked(hi));
        Some(a + (b - a) * (rank - lo as f64))
    }
}

const SALES_SUMS: &str = "COALESCE(sum(d.gross_cents), 0)::int8 AS gross,
    COALESCE(sum(d.net_cents), 0)::int8 AS net,
    COALESCE(sum(d.gross_cents) FILTER (WHERE d.kind = 'ppv'), 0)::int8 AS ppv,
    COALESCE(sum(d.gross_cents) FILTER (WHERE d.kind = 'tip'), 0)::int8 AS tips,
    COALESCE(sum(d.gross_cents) FILTER (WHERE d.basis = 'non_chat'), 0)::int8 AS non_chat,
    COALESCE(sum(d.sales) FILTER (WHERE d.kind NOT IN ('refund', 'chargeback')), 0)::int8 AS sales";

// The staff member behind a team-member uuid, mapped when read (so mapping
// one re-credits its activity with no rewrite).
const ACTIVITY_JOIN: &str = "LEFT JOIN staff st ON st.agency_id = $1 AND d.ledger_staff_id IS NULL
    AND st.fanvue_user_uuid::text = d.team_member_uuid";

/// Figures of `period` and the previous period of equal length, grouped.
#[tracing::instrument(skip_all, fields(agency_id = %agency, from = %period.from, to = %period.to))]
pub async fn figures<'c, E>(
    db: E,
    agency: AgencyId,
    period: &Period,
    filter: Filter,
    group: Group,
) -> Result<Vec<Keyed>, StoreError>
where
    E: PgExecutor<'c> + Copy,
{
    Ok(Cells::read(db, agency, period, filter.creator)
        .await?
        .group(group, filter))
}

/// The dashboard's three tables from one read of each rollup: everyone's
/// per-staff figures (narrowed by creator only: the leaderboard ranks all),
/// and the totals and per-creator figures under the whole filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub everyone: Vec<Keyed>,
    pub totals: Keyed,
    pub by_creator: Vec<Keyed>,
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, from = %period.from, to = %period.to))]
pub async fn overview<'c, E>(
    db: E,
    agency: AgencyId,
    period: &Period,
    filter: Filter,
) -> Result<Overview, StoreError>
where
    E: PgExecutor<'c> + Copy,
{
    let cells = Cells::read(db, agency, period, filter.creator).await?;
    let everyone = cells.group(
        Group::Staff,
        Filter {
            creator: filter.creator,
            staff: None,
        },
    );
    let totals = cells
        .group(Group::Total, filter)
        .into_iter()
        .next()
        .unwrap_or(Keyed {
            key: None,
            cur: Figures::default(),
            prev: Figures::default(),
        });
    let by_creator = cells.group(Group::Creator, filter);
    Ok(Overview {
        everyone,
        totals,
        by_creator,
    })
}

/// The rollup rows of a period and the previous one, by staff member and
/// creator: small enough (a few thousand) to group in Rust every way the
/// page needs, so each rollup is read once per view.
struct Cells {
    sales: Vec<SalesRow>,
    activity: Vec<ActivityRow>,
    replies: Vec<ReplyCell>,
}

impl Cells {
    async fn read<'c, E>(
        db: E,
        agency: AgencyId,
        period: &Period,
        creator: Option<CreatorId>,
    ) -> Result<Self, StoreError>
    where
        E: PgExecutor<'c> + Copy,
    {
        // Replies still pending from recent writes first, so the page is
        // never behind the mirror.
        flush_replies(db, Some(agency), READ_FLUSH_LIMIT).await?;
        let prev = period.previous();
        let creator = creator.map(|c| c.as_uuid());
        // $1 agency, $2 first day read, $3 last day, $4 first day of the
        // period itself, $5 creator.
        let sales: Vec<SalesRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT d.staff_id AS key, d.creator_id, d.day >= $4 AS cur, {SALES_SUMS}
             FROM sales_daily d
             WHERE d.agency_id = $1 AND d.day BETWEEN $2 AND $3
               AND ($5::uuid IS NULL OR d.creator_id = $5)
             GROUP BY 1, 2, 3"
        )))
        .bind(agency)
        .bind(prev.from)
        .bind(period.to)
        .bind(period.from)
        .bind(creator)
        .fetch_all(db)
        .await?;
        let activity: Vec<ActivityRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COALESCE(d.ledger_staff_id, st.id) AS key, d.creator_id, d.day >= $4 AS cur,
                COALESCE(sum(d.messages_sent), 0)::int8 AS messages_sent,
                COALESCE(sum(d.ppvs_sent), 0)::int8 AS ppvs_sent,
                COALESCE(sum(d.ppvs_unlocked), 0)::int8 AS ppvs_unlocked
             FROM activity_daily d {ACTIVITY_JOIN}
             WHERE d.agency_id = $1 AND d.day BETWEEN $2 AND $3
               AND ($5::uuid IS NULL OR d.creator_id = $5)
             GROUP BY 1, 2, 3"
        )))
        .bind(agency)
        .bind(prev.from)
        .bind(period.to)
        .bind(period.from)
        .bind(creator)
        .fetch_all(db)
        .await?;
        let replies: Vec<ReplyCell> = sqlx::query_as(
            "SELECT d.staff_id AS key, d.creator_id, d.day >= $4 AS cur, d.replies, d.chat_days, d.wait_buckets, d.wait_counts
             FROM reply_daily d
             WHERE d.agency_id = $1 AND d.day BETWEEN $2 AND $3
               AND ($5::uuid IS NULL OR d.creator_id = $5)",
        )
        .bind(agency)
        .bind(prev.from)
        .bind(period.to)
        .bind(period.from)
        .bind(creator)
        .fetch_all(db)
        .await?;
        Ok(Self {
            sales,
            activity,
            replies,
        })
    }

    /// Groups the rows admitted by `filter`'s staff part (the creator part
    /// was applied when reading).
    fn group(&self, group: Group, filter: Filter) -> Vec<Keyed> {
        let key_of = |staff: Option<Uuid>, creator: Uuid| match group {
            Group::Staff => staff,
            Group::Creator => Some(creator),
            Group::Total => None,
        };
        let mut out: BTreeMap<Option<Uuid>, Keyed> = BTreeMap::new();
        fn slot(
            out: &mut BTreeMap<Option<Uuid>, Keyed>,
            key: Option<Uuid>,
            cur: bool,
        ) -> &mut Figures {
            let k = out.entry(key).or_insert_with(|| Keyed {
                key,
                cur: Figures::default(),
                prev: Figures::default(),
            });
            if cur { &mut k.cur } else { &mut k.prev }
        }
        for r in self.sales.iter().filter(|r| filter.admits(r.key)) {
            let f = slot(&mut out, key_of(r.key, r.creator_id), r.cur);
            f.gross += r.gross;
            f.net += r.net;
            f.ppv += r.ppv;
            f.tips += r.tips;
            f.non_chat += r.non_chat;
            f.sales += r.sales;
        }
        for r in self.activity.iter().filter(|r| filter.admits(r.key)) {
            let f = slot(&mut out, key_of(r.key, r.creator_id), r.cur);
            f.messages_sent += r.messages_sent;
            f.ppvs_sent += r.ppvs_sent;
            f.ppvs_unlocked += r.ppvs_unlocked;
        }
        let mut waits: BTreeMap<(Option<Uuid>, bool), Waits> = BTreeMap::new();
        for c in self.replies.iter().filter(|c| filter.admits(c.key)) {
            let key = key_of(c.key, c.creator_id);
            let f = slot(&mut out, key, c.cur);
            f.replies += c.replies;
            f.chats_answered += c.chat_days;
            waits
                .entry((key, c.cur))
                .or_default()
                .add(&c.wait_buckets, &c.wait_counts);
        }
        for ((key, cur), w) in waits {
            let f = slot(&mut out, key, cur);
            f.median_secs = w.percentile(0.5);
            f.p90_secs = w.percentile(0.9);
        }
        // Keys whose only rows were folded-away deltas.
        out.retain(|_, k| k.cur != Figures::default() || k.prev != Figures::default());
        out.into_values().collect()
    }
}

/// One stacked segment of the per-day chart: a day, a series (a staff id,
/// `none`, or a sale kind) and its gross.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DayPoint {
    pub day: NaiveDate,
    pub series: String,
    pub gross: i64,
}

/// What the chart's bars are stacked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    Staff,
    Source,
}

/// Gross per local day of `period`, split by staff or by kind.
#[tracing::instrument(skip_all, fields(agency_id = %agency, from = %period.from, to = %period.to))]
pub async fn daily(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    period: &Period,
    filter: Filter,
    stack: Stack,
) -> Result<Vec<DayPoint>, StoreError> {
    let series = match stack {
        Stack::Staff => "COALESCE(d.staff_id::text, 'none')",
        Stack::Source => "d.kind",
    };
    let sql = format!(
        "SELECT d.day, {series} AS series, COALESCE(sum(d.gross_cents), 0)::int8 AS gross
         FROM sales_daily d
         WHERE d.agency_id = $1 AND d.day BETWEEN $2 AND $3
           AND ($4::uuid IS NULL OR d.creator_id = $4)
           AND ($5::uuid IS NULL OR d.staff_id = $5)
           AND (NOT $6 OR d.staff_id IS NULL)
         GROUP BY 1, 2
         HAVING sum(d.gross_cents) <> 0
         ORDER BY 1, 2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .bind(period.from)
        .bind(period.to)
        .bind(filter.creator_param())
        .bind(filter.staff_param())
        .bind(filter.nobody_param())
        .fetch_all(db)
        .await?)
}

/// Pending records a dashboard read flushes for its agency: all of them in
/// practice (housekeeping keeps the backlog to a few seconds of writes).
const READ_FLUSH_LIMIT: i32 = 1_000_000;

/// Recomputes the replies of up to `limit` pending records (migration 26),
/// one agency's or, with `None`, any; returns how many were taken.
#[tracing::instrument(skip_all)]
pub async fn flush_replies(
    db: impl PgExecutor<'_>,
    agency: Option<AgencyId>,
    limit: i32,
) -> Result<i32, StoreError> {
    Ok(sqlx::query_scalar("SELECT dash_replies_flush($1, $2)")
        .bind(agency)
        .bind(limit)
        .fetch_one(db)
        .await?)
}

/// Folds the rollups' delta rows (housekeeping); returns the rows removed.
#[tracing::instrument(skip_all)]
pub async fn compact(db: impl PgExecutor<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT dashboard_rollups_compact()")
        .fetch_one(db)
        .await?)
}

/// Recounts one agency's rollups from the raw tables (after a bulk load
/// that bypassed the triggers; a time-zone change does it by itself).
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn rebuild(db: impl PgExecutor<'_>, agency: AgencyId) -> Result<(), StoreError> {
    sqlx::query("SELECT dashboard_rollups_rebuild($1)")
        .bind(agency)
        .execute(db)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct RawRow {
    key: Option<Uuid>,
    gross: i64,
    net: i64,
    ppv: i64,
    tips: i64,
    non_chat: i64,
    sales: i64,
    messages_sent: i64,
    ppvs_sent: i64,
    ppvs_unlocked: i64,
    replies: i64,
    chats_answered: i64,
    median_secs: Option<f64>,
    p90_secs: Option<f64>,
}

/// The per-staff figures of `period` computed from the raw tables (sales,
/// messages, the send ledger, staff) in one query, without the rollups:
/// days cut from the agency's zone, senders and response times derived
/// from the messages themselves. Slow by design; the reference the rollups
/// are checked and benchmarked against.
#[tracing::instrument(skip_all, fields(agency_id = %agency, from = %period.from, to = %period.to))]
pub async fn raw_by_staff(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    period: &Period,
) -> Result<Vec<Keyed>, StoreError> {
    let rows: Vec<RawRow> = sqlx::query_as(
        "WITH b AS (
            SELECT $2::date::timestamp AT TIME ZONE a.time_zone AS t0,
                   ($3::date + 1)::timestamp AT TIME ZONE a.time_zone AS t1, a.time_zone AS zone
            FROM agencies a WHERE a.id = $1
         ), s AS (
            SELECT s.credited_staff_id AS key,
                sum(s.gross_cents)::int8 AS gross, sum(s.net_cents)::int8 AS net,
                COALESCE(sum(s.gross_cents) FILTER (WHERE s.kind = 'ppv'), 0)::int8 AS ppv,
                COALESCE(sum(s.gross_cents) FILTER (WHERE s.kind = 'tip'), 0)::int8 AS tips,
                COALESCE(sum(s.gross_cents) FILTER (WHERE s.basis = 'non_chat'), 0)::int8 AS non_chat,
                count(*) FILTER (WHERE s.kind NOT IN ('refund', 'chargeback'))::int8 AS sales
            FROM sales s, b
            WHERE s.agency_id = $1 AND s.occurred_at >= b.t0 AND s.occurred_at < b.t1
            GROUP BY 1
         ), m AS (
            SELECT m.chat_id, m.uuid, m.sent_at, COALESCE(m.sent_at, m.first_seen_at) AS at,
                m.price_cents, m.purchased_at,
                m.direction = 'out' AND m.kind NOT LIKE 'AUTOMATED\\_%' AND m.kind NOT IN ('BROADCAST', 'TIP')
                    AND m.deleted_at IS NULL AS human,
                m.direction = 'in' AND m.kind NOT LIKE 'AUTOMATED\\_%' AND m.deleted_at IS NULL AS fan,
                COALESCE((SELECT o.staff_id FROM outbound_sends o
                          WHERE o.creator_id = m.creator_id AND o.message_uuid = m.uuid
                          ORDER BY o.created_at LIMIT 1), st.id) AS key
            FROM messages m CROSS JOIN b
            LEFT JOIN staff st ON st.agency_id = $1 AND st.fanvue_user_uuid::text = lower(m.sent_by_user_uuid)
            WHERE m.agency_id = $1 AND COALESCE(m.sent_at, m.first_seen_at) < b.t1
         ), act AS (
            SELECT m.key, count(*)::int8 AS messages_sent,
                count(*) FILTER (WHERE m.price_cents IS NOT NULL)::int8 AS ppvs_sent,
                count(*) FILTER (WHERE m.price_cents IS NOT NULL AND m.purchased_at IS NOT NULL)::int8 AS ppvs_unlocked
            FROM m, b WHERE m.human AND m.at >= b.t0
            GROUP BY 1
         ), w AS (
            SELECT g.*, min(g.sent_at) FILTER (WHERE g.fan) OVER (PARTITION BY g.chat_id, g.k) AS wait_from
            FROM (
                SELECT m.*, count(*) FILTER (WHERE m.human) OVER (PARTITION BY m.chat_id ORDER BY m.sent_at, m.uuid
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - m.human::int AS k
                FROM m WHERE m.sent_at IS NOT NULL
            ) g
         ), rep AS (
            SELECT w.key, count(*)::int8 AS replies, count(DISTINCT (w.chat_id, (w.sent_at AT TIME ZONE b.zone)::date))::int8 AS chats_answered,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY GREATEST(0, round(extract(epoch FROM w.sent_at - w.wait_from)))) AS median_secs,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY GREATEST(0, round(extract(epoch FROM w.sent_at - w.wait_from)))) AS p90_secs
            FROM w, b WHERE w.human AND w.wait_from IS NOT NULL AND w.sent_at >= b.t0
            GROUP BY 1
         ), keys AS (
            SELECT key FROM s UNION SELECT key FROM act UNION SELECT key FROM rep
         )
         SELECT k.key,
            COALESCE(s.gross, 0) AS gross, COALESCE(s.net, 0) AS net, COALESCE(s.ppv, 0) AS ppv,
            COALESCE(s.tips, 0) AS tips, COALESCE(s.non_chat, 0) AS non_chat, COALESCE(s.sales, 0) AS sales,
            COALESCE(act.messages_sent, 0) AS messages_sent, COALESCE(act.ppvs_sent, 0) AS ppvs_sent,
            COALESCE(act.ppvs_unlocked, 0) AS ppvs_unlocked, COALESCE(rep.replies, 0) AS replies,
            COALESCE(rep.chats_answered, 0) AS chats_answered, rep.median_secs, rep.p90_secs
         FROM keys k
         LEFT JOIN s ON s.key IS NOT DISTINCT FROM k.key
         LEFT JOIN act ON act.key IS NOT DISTINCT FROM k.key
         LEFT JOIN rep ON rep.key IS NOT DISTINCT FROM k.key
         ORDER BY k.key NULLS FIRST",
    )
    .bind(agency)
    .bind(period.from)
    .bind(period.to)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Keyed {
            key: r.key,
            cur: Figures {
                gross: r.gross,
                net: r.net,
                ppv: r.ppv,
                tips: r.tips,
                non_chat: r.non_chat,
                sales: r.sales,
                messages_sent: r.messages_sent,
                ppvs_sent: r.ppvs_sent,
                ppvs_unlocked: r.ppvs_unlocked,
                replies: r.replies,
                chats_answered: r.chats_answered,
                median_secs: r.median_secs,
                p90_secs: r.p90_secs,
            },
            prev: Figures::default(),
        })
        .collect())
}

/// Today's date in the agency's zone, as Postgres computes it (the same
/// clock and tz database that cut the rollups' days).
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn local_today(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
) -> Result<NaiveDate, StoreError> {
    sqlx::query_scalar("SELECT dash_local_day(now(), time_zone) FROM agencies WHERE id = $1")
        .bind(agency)
        .fetch_optional(db)
        .await?
        .ok_or(StoreError::NotFound)
}
