//! Earnings lines (issue 14, the earnings reconcile): every line of a
//! creator's Fanvue earnings and spending feeds, stored once on a natural
//! key, and what each proved in the mirror. A message-source line marks
//! its PPV purchased when no webhook or refresh had; a line that cannot be
//! matched stays visible as unmatched (and is retried every walk); a refund
//! or chargeback is its own line, linked to the line it reverses.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId};

/// The two feeds, as stored in `earnings_lines.feed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Earnings,
    Spending,
}

impl Feed {
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Earnings => "earnings",
            Feed::Spending => "spending",
        }
    }
}

/// A line as received, ready to store.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub natural_key: String,
    pub source: String,
    pub fan_uuid: Option<Uuid>,
    pub gross_cents: i64,
    pub net_cents: i64,
    pub currency: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub message_uuid: Option<Uuid>,
    pub post_uuid: Option<Uuid>,
    pub transaction_order_id: Option<String>,
    pub transaction_order_status: Option<String>,
    pub raw: serde_json::Value,
}

/// Lines the matcher must look at: message-source earnings lines (they
/// prove a PPV purchase) and every reversal (it names what it reverses).
fn needs_match(feed: Feed, source: &str) -> bool {
    feed == Feed::Spending || source == "message"
}

/// Stores lines not seen before (one statement); returns how many were new.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator, n = lines.len()))]
pub async fn insert_lines(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    feed: Feed,
    lines: &[NewLine],
) -> Result<u64, StoreError> {
    if lines.is_empty() {
        return Ok(0);
    }
    // The insert's trigger turns tip lines into sales, adopting a tip
    // event's sale: one writer at a time per creator (`locks::tip_sales`).
    if lines.iter().any(|l| l.source == "tip") {
        super::locks::tip_sales(&mut *conn, &[creator]).await?;
    }
    let col = |f: fn(&NewLine) -> Option<String>| lines.iter().map(f).collect::<Vec<_>>();
    let r = sqlx::query(
        "INSERT INTO earnings_lines (agency_id, creator_id, feed, natural_key, source, fan_uuid,
             gross_cents, net_cents, currency, occurred_at, message_uuid, post_uuid,
             transaction_order_id, transaction_order_status, unmatched_reason, raw)
         SELECT $1, $2, $3, t.* FROM UNNEST($4::text[], $5::text[], $6::uuid[], $7::int8[], $8::int8[],
             $9::text[], $10::timestamptz[], $11::uuid[], $12::uuid[], $13::text[], $14::text[],
             $15::text[], $16::jsonb[]) AS t
         ON CONFLICT (creator_id, natural_key) DO NOTHING",
    )
    .bind(agency)
    .bind(creator)
    .bind(feed.as_str())
    .bind(lines.iter().map(|l| l.natural_key.clone()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.source.clone()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.fan_uuid).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.gross_cents).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.net_cents).collect::<Vec<_>>())
    .bind(col(|l| l.currency.clone()))
    .bind(lines.iter().map(|l| l.occurred_at).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.message_uuid).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.post_uuid).collect::<Vec<_>>())
    .bind(col(|l| l.transaction_order_id.clone()))
    .bind(col(|l| l.transaction_order_status.clone()))
    .bind(
        lines
            .iter()
            .map(|l| needs_match(feed, &l.source).then(|| "pending".to_owned()))
            .collect::<Vec<_>>(),
    )
    .bind(lines.iter().map(|l| l.raw.clone()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// What one matching pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MatchStats {
    /// Lines newly joined to a mirrored message (or, reversals, to a line).
    pub matched: u64,
    /// Of those, PPVs this pass marked purchased.
    pub marked_purchased: u64,
    /// Lines left unmatched after the pass.
    pub unmatched: u64,
}

#[derive(sqlx::FromRow)]
struct Pending {
    id: i64,
    feed: String,
    fan_uuid: Option<Uuid>,
    gross_cents: i64,
    occurred_at: DateTime<Utc>,
    message_uuid: Option<Uuid>,
}

/// How a line without `messageUuid` is matched: the PPV to that fan at that
/// price, sent at most `window` before the line, not proved by another
/// line, and either still unbought or bought within `tolerance` of it.
#[derive(Debug, Clone, Copy)]
pub struct MatchRules {
    pub window: Duration,
    pub tolerance: Duration,
}

/// Matches every line still waiting (new ones and earlier misses): joins
/// message lines to their PPV and marks it purchased if it was not, and
/// links reversals to the line they reverse. A miss keeps its reason.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn match_pending(
    conn: &mut PgConnection,
    agency: AgencyId,
    creator: CreatorId,
    rules: MatchRules,
) -> Result<MatchStats, StoreError> {
    let pending: Vec<Pending> = sqlx::query_as(
        "SELECT id, feed, fan_uuid, gross_cents, occurred_at, message_uuid FROM earnings_lines
         WHERE creator_id = $1 AND agency_id = $2 AND unmatched_reason IS NOT NULL
         ORDER BY feed, occurred_at, id",
    )
    .bind(creator)
    .bind(agency)
    .fetch_all(&mut *conn)
    .await?;
    let mut stats = MatchStats::default();
    for p in pending {
        let outcome = if p.feed == "spending" {
            match_reversal(conn, creator, &p).await?
        } else {
            match_purchase(conn, creator, &p, rules).await?
        };
        match outcome {
            Ok(marked) => {
                stats.matched += 1;
                stats.marked_purchased += u64::from(marked);
            }
            Err(reason) => {
                stats.unmatched += 1;
                // Unchanged reasons are not rewritten: the sales trigger on
                // this table then has nothing to look at.
                sqlx::query(
                    "UPDATE earnings_lines SET unmatched_reason = $2
                     WHERE id = $1 AND unmatched_reason IS DISTINCT FROM $2",
                )
                .bind(p.id)
                .bind(reason)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(stats)
}

/// Ok(marked purchased now) or Err(unmatched reason).
async fn match_purchase(
    conn: &mut PgConnection,
    creator: CreatorId,
    p: &Pending,
    rules: MatchRules,
) -> Result<Result<bool, &'static str>, StoreError> {
    let (target, basis) = match p.message_uuid {
        Some(m) => {
            let known: Option<Uuid> =
                sqlx::query_scalar("SELECT uuid FROM messages WHERE creator_id = $1 AND uuid = $2")
                    .bind(creator)
                    .bind(m)
                    .fetch_optional(&mut *conn)
                    .await?;
            if known.is_none() {
                return Ok(Err("not_mirrored"));
            }
            (m, "message_uuid")
        }
        None => {
            let Some(fan) = p.fan_uuid else {
                return Ok(Err("no_candidate"));
            };
            // Candidates, already-bought ones (at this time) first.
            let found: Vec<(Uuid, bool)> = sqlx::query_as(
                "SELECT m.uuid, m.purchased_at IS NOT NULL FROM messages m JOIN chats c ON c.id = m.chat_id
                 WHERE m.creator_id = $1 AND c.creator_id = $1 AND c.fan_uuid = $2
                   AND m.direction = 'out' AND m.price_cents = $3
                   AND m.sent_at <= $4 AND m.sent_at > $4 - $5::interval
                   AND (m.purchased_at IS NULL OR m.purchased_at BETWEEN $4 - $6::interval AND $4 + $6::interval)
                   AND NOT EXISTS (SELECT 1 FROM earnings_lines e WHERE e.creator_id = $1
                                   AND e.feed = 'earnings' AND e.matched_message_uuid = m.uuid)",
            )
            .bind(creator)
            .bind(fan)
            .bind(p.gross_cents)
            .bind(p.occurred_at)
            .bind(interval(rules.window))
            .bind(interval(rules.tolerance))
            .fetch_all(&mut *conn)
            .await?;
            let bought: Vec<Uuid> = found.iter().filter(|f| f.1).map(|f| f.0).collect();
            let open: Vec<Uuid> = found.iter().filter(|f| !f.1).map(|f| f.0).collect();
            let pick = match (bought.as_slice(), open.as_slice()) {
                ([one], _) => *one,
                ([], [one]) => *one,
                ([], []) => return Ok(Err("no_candidate")),
                _ => return Ok(Err("ambiguous")),
            };
            (pick, "fan_price_time")
        }
    };
    // Another line already proves this message (say, one seen before
    // Fanvue added the order id): this one is a duplicate view of it.
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM earnings_lines WHERE creator_id = $1 AND feed = 'earnings'
                        AND matched_message_uuid = $2 AND id <> $3)",
    )
    .bind(creator)
    .bind(target)
    .bind(p.id)
    .fetch_one(&mut *conn)
    .await?;
    if taken {
        return Ok(Err("already_matched"));
    }
    super::chats::lock_for_message_uuids(&mut *conn, creator, &[target]).await?;
    let marked = sqlx::query(
        "UPDATE messages SET purchased_at = $3, updated_at = now()
         WHERE creator_id = $1 AND uuid = $2 AND purchased_at IS NULL",
    )
    .bind(creator)
    .bind(target)
    .bind(p.occurred_at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    sqlx::query(
        "UPDATE earnings_lines SET matched_message_uuid = $2, match_basis = $3,
             unmatched_reason = NULL, marked_purchase = $4 WHERE id = $1",
    )
    .bind(p.id)
    .bind(target)
    .bind(basis)
    .bind(marked)
    .execute(&mut *conn)
    .await?;
    Ok(Ok(marked))
}

/// Links a refund or chargeback to the earnings line it reverses: by
/// message uuid when given, else the one earlier line of that fan and
/// amount not reversed yet.
async fn match_reversal(
    conn: &mut PgConnection,
    creator: CreatorId,
    p: &Pending,
) -> Result<Result<bool, &'static str>, StoreError> {
    let found: Vec<i64> = sqlx::query_scalar(
        "SELECT e.id FROM earnings_lines e
         WHERE e.creator_id = $1 AND e.feed = 'earnings' AND e.occurred_at <= $4
           AND CASE WHEN $5::uuid IS NOT NULL
                    THEN $5 IN (e.message_uuid, e.matched_message_uuid)
                    ELSE e.fan_uuid = $2 AND e.gross_cents = $3 END
           AND NOT EXISTS (SELECT 1 FROM earnings_lines r WHERE r.reverses_line_id = e.id)
         LIMIT 2",
    )
    .bind(creator)
    .bind(p.fan_uuid)
    .bind(p.gross_cents)
    .bind(p.occurred_at)
    .bind(p.message_uuid)
    .fetch_all(&mut *conn)
    .await?;
    let original = match found.as_slice() {
        [one] => *one,
        [] => return Ok(Err("no_candidate")),
        _ => return Ok(Err("ambiguous")),
    };
    sqlx::query(
        "UPDATE earnings_lines SET reverses_line_id = $2, match_basis = $3, unmatched_reason = NULL
         WHERE id = $1",
    )
    .bind(p.id)
    .bind(original)
    .bind(if p.message_uuid.is_some() {
        "message_uuid"
    } else {
        "fan_price_time"
    })
    .execute(&mut *conn)
    .await?;
    Ok(Ok(false))
}

fn interval(d: Duration) -> String {
    format!("{} seconds", d.num_seconds())
}

/// The newest line date stored for `feed` (the walk's high-water mark).
pub async fn high_water(
    db: impl PgExecutor<'_>,
    creator: CreatorId,
    feed: Feed,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT high_water_at FROM earnings_sync_state WHERE creator_id = $1 AND feed = $2",
    )
    .bind(creator)
    .bind(feed.as_str())
    .fetch_optional(db)
    .await?
    .flatten())
}

/// How one walk of one feed ended.
pub struct WalkResult<'a> {
    pub high_water_at: Option<DateTime<Utc>>,
    pub requests: i64,
    pub new_lines: i64,
    pub error: Option<&'a str>,
}

/// Records a walk; the high-water mark only moves forward (and not at all
/// on a failed walk, which passes None).
pub async fn finish_walk(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    feed: Feed,
    r: WalkResult<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO earnings_sync_state (creator_id, feed, agency_id, high_water_at, last_run_at,
             last_requests, last_new_lines, last_error)
         VALUES ($1, $2, $3, $4, now(), $5, $6, $7)
         ON CONFLICT (creator_id, feed) DO UPDATE SET
             high_water_at = GREATEST(earnings_sync_state.high_water_at, EXCLUDED.high_water_at),
             last_run_at = now(), last_requests = EXCLUDED.last_requests,
             last_new_lines = EXCLUDED.last_new_lines, last_error = EXCLUDED.last_error",
    )
    .bind(creator)
    .bind(feed.as_str())
    .bind(agency)
    .bind(r.high_water_at)
    .bind(r.requests)
    .bind(r.new_lines)
    .bind(r.error)
    .execute(db)
    .await?;
    Ok(())
}

/// Fans with message lines that fit more than one mirrored PPV: the
/// purchase refresh re-reads exactly these chats (the feed proved a
/// purchase there, Fanvue's `purchasedAt` tells which). Other misses
/// (a PPV the mirror does not hold) a re-read of the newest messages would
/// not fix. Only lines first seen since `since`, so a line that stays
/// ambiguous costs a refresh for a bounded time and then just stays visible.
pub async fn fans_with_unmatched_purchases(
    db: impl PgExecutor<'_>,
    creator: CreatorId,
    since: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT fan_uuid FROM earnings_lines
         WHERE creator_id = $1 AND feed = 'earnings' AND unmatched_reason IS NOT NULL
           AND fan_uuid IS NOT NULL AND unmatched_reason = 'ambiguous'
           AND first_seen_at >= $2",
    )
    .bind(creator)
    .bind(since)
    .fetch_all(db)
    .await?)
}

/// The sync page's summary of the earnings walk.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub lines: i64,
    pub unmatched: i64,
    pub marked_purchased: i64,
    pub reversals: i64,
    pub last_run_at: Option<DateTime<Utc>>,
    pub high_water_at: Option<DateTime<Utc>>,
    pub last_requests: i64,
    pub last_new_lines: i64,
    pub last_error: Option<String>,
}

/// last run, earnings high-water mark, requests, new lines, errors.
type StateRow = (
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    i64,
    i64,
    Option<String>,
);

#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn summary(
    db: impl PgExecutor<'_> + Copy,
    agency: AgencyId,
    creator: CreatorId,
) -> Result<Summary, StoreError> {
    let (lines, unmatched, marked, reversals): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE unmatched_reason IS NOT NULL),
                count(*) FILTER (WHERE marked_purchase), count(*) FILTER (WHERE feed = 'spending')
         FROM earnings_lines WHERE creator_id = $1 AND agency_id = $2",
    )
    .bind(creator)
    .bind(agency)
    .fetch_one(db)
    .await?;
    let state: Option<StateRow> = sqlx::query_as(
        "SELECT max(last_run_at), max(high_water_at) FILTER (WHERE feed = 'earnings'),
                sum(last_requests)::int8, sum(last_new_lines)::int8,
                string_agg(feed || ': ' || last_error, '; ')
         FROM earnings_sync_state WHERE creator_id = $1 AND agency_id = $2 HAVING count(*) > 0",
    )
    .bind(creator)
    .bind(agency)
    .fetch_optional(db)
    .await?;
    let mut s = Summary {
        lines,
        unmatched,
        marked_purchased: marked,
        reversals,
        ..Summary::default()
    };
    if let Some((run, hw, req, new, err)) = state {
        s.last_run_at = run;
        s.high_water_at = hw;
        s.last_requests = req;
        s.last_new_lines = new;
        s.last_error = err;
    }
    Ok(s)
}

/// An unmatched line as the sync page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Unmatched {
    pub feed: String,
    pub source: String,
    pub fan_uuid: Option<Uuid>,
    pub gross_cents: i64,
    pub occurred_at: DateTime<Utc>,
    pub unmatched_reason: String,
}

pub async fn unmatched(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    limit: i64,
) -> Result<Vec<Unmatched>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT feed, source, fan_uuid, gross_cents, occurred_at, unmatched_reason FROM earnings_lines
         WHERE creator_id = $1 AND agency_id = $2 AND unmatched_reason IS NOT NULL
         ORDER BY occurred_at DESC LIMIT $3",
    )
    .bind(creator)
    .bind(agency)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// When `feed` was last walked for the creator.
pub async fn summary_last_run(
    db: impl PgExecutor<'_>,
    creator: CreatorId,
    feed: Feed,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT last_run_at FROM earnings_sync_state WHERE creator_id = $1 AND feed = $2",
    )
    .bind(creator)
    .bind(feed.as_str())
    .fetch_optional(db)
    .await?
    .flatten())
}
