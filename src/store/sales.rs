//! The sales ledger. Sales are written by database triggers on the mirror
//! (migration `…14_sales_ledger.sql`), never here: this module reads them,
//! records manual reassignments (append-only, reversible), lists unmapped
//! team members, and is the earnings reconcile's entry to the ledger. It
//! never computes a credit itself.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgencyId, CreatorId, SaleBasis, SaleId, StaffId};

const SALE_COLUMNS: &str =
    "s.id, s.creator_id, cr.display_name AS creator_name, s.kind, s.fan_uuid,
    s.chat_id, s.message_uuid, s.tip_message_uuid, s.transaction_id, s.gross_cents, s.net_cents,
    s.net_estimated, s.currency, s.occurred_at, s.basis, s.basis_detail, s.credited_staff_id,
    cs.display_name AS credited_name, s.auto_basis, s.auto_detail, s.auto_staff_id,
    au.display_name AS auto_name, s.team_member_uuid, s.manual_id IS NOT NULL AS is_manual,
    s.reverses_sale_id";

const SALE_JOINS: &str = "FROM sales s
    JOIN creators cr ON cr.id = s.creator_id
    LEFT JOIN staff cs ON cs.id = s.credited_staff_id
    LEFT JOIN staff au ON au.id = s.auto_staff_id";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Sale {
    pub id: SaleId,
    pub creator_id: CreatorId,
    pub creator_name: String,
    pub kind: String,
    pub fan_uuid: Option<Uuid>,
    pub chat_id: Option<Uuid>,
    pub message_uuid: Option<Uuid>,
    pub tip_message_uuid: Option<Uuid>,
    pub transaction_id: Option<String>,
    pub gross_cents: i64,
    pub net_cents: i64,
    pub net_estimated: bool,
    pub currency: String,
    pub occurred_at: DateTime<Utc>,
    /// In force: `manual` while a reassignment stands.
    pub basis: String,
    pub basis_detail: String,
    pub credited_staff_id: Option<StaffId>,
    pub credited_name: Option<String>,
    /// The computed credit, shown beside a manual one.
    pub auto_basis: String,
    pub auto_detail: String,
    pub auto_staff_id: Option<StaffId>,
    pub auto_name: Option<String>,
    pub team_member_uuid: Option<String>,
    pub is_manual: bool,
    pub reverses_sale_id: Option<Uuid>,
}

impl Sale {
    pub fn basis_label(&self) -> &str {
        SaleBasis::label_of(&self.basis)
    }
    pub fn auto_basis_label(&self) -> &str {
        SaleBasis::label_of(&self.auto_basis)
    }
    /// Whether `staff` is credited now (the reassign form preselects them).
    pub fn credits(&self, staff: &StaffId) -> bool {
        self.credited_staff_id == Some(*staff)
    }
}

/// One sale of the agency (404 for another agency's id).
#[tracing::instrument(skip_all, fields(agency_id = %agency, sale_id = %id))]
pub async fn get(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: SaleId,
) -> Result<Sale, StoreError> {
    let sql = format!("SELECT {SALE_COLUMNS} {SALE_JOINS} WHERE s.agency_id = $1 AND s.id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The agency's newest sales, optionally of one basis (in force).
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn recent(
    db: &PgPool,
    agency: AgencyId,
    basis: Option<SaleBasis>,
    limit: i64,
) -> Result<Vec<Sale>, StoreError> {
    let sql = format!(
        "SELECT {SALE_COLUMNS} {SALE_JOINS}
         WHERE s.agency_id = $1 AND ($2::text IS NULL OR s.basis = $2)
         ORDER BY s.occurred_at DESC, s.id DESC LIMIT $3"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .bind(basis.map(SaleBasis::as_str))
        .bind(limit)
        .fetch_all(db)
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reassignment {
    pub action: String,
    pub staff_name: Option<String>,
    pub from_basis: String,
    pub from_staff_name: Option<String>,
    pub reason: String,
    pub actor_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A sale's reassignment history, oldest first.
#[tracing::instrument(skip_all, fields(agency_id = %agency, sale_id = %sale))]
pub async fn history(
    db: &PgPool,
    agency: AgencyId,
    sale: SaleId,
) -> Result<Vec<Reassignment>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT r.action, st.display_name AS staff_name, r.from_basis, fs.display_name AS from_staff_name,
            r.reason, a.display_name AS actor_name, r.created_at
         FROM sale_reassignments r
         LEFT JOIN staff st ON st.id = r.staff_id
         LEFT JOIN staff fs ON fs.id = r.from_staff_id
         LEFT JOIN staff a ON a.id = r.actor_id
         WHERE r.agency_id = $1 AND r.sale_id = $2
         ORDER BY r.created_at, r.id",
    )
    .bind(agency)
    .bind(sale)
    .fetch_all(db)
    .await?)
}

#[derive(Debug, thiserror::Error)]
pub enum ReassignError {
    #[error("not found")]
    NotFound,
    /// A reversal follows its sale; reassign the sale instead.
    #[error("a reversal follows its sale")]
    Reversal,
    /// Revert asked of a sale with no reassignment in force.
    #[error("no reassignment to revert")]
    NothingToRevert,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReassignError {
    fn from(e: sqlx::Error) -> Self {
        ReassignError::Store(StoreError::Db(e))
    }
}

/// The credit in force before a change, recorded with it.
#[derive(Debug, Clone)]
pub struct Before {
    pub basis: String,
    pub staff: Option<StaffId>,
}

/// Credits `sale` to `staff` (None: nobody) for `reason`, inside the
/// caller's transaction (which also writes the audit row). The computed
/// credit is kept and shown beside it; recomputation never touches it.
#[tracing::instrument(skip_all, fields(agency_id = %agency, sale_id = %sale))]
pub async fn reassign(
    conn: &mut PgConnection,
    agency: AgencyId,
    sale: SaleId,
    staff: Option<StaffId>,
    reason: &str,
    actor: StaffId,
) -> Result<Before, ReassignError> {
    let before = lock(conn, agency, sale).await?;
    if let Some(s) = staff {
        // The new credit must be one of this agency's staff.
        let ok: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM staff WHERE agency_id = $1 AND id = $2)",
        )
        .bind(agency)
        .bind(s)
        .fetch_one(&mut *conn)
        .await?;
        if !ok {
            return Err(ReassignError::NotFound);
        }
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO sale_reassignments (id, agency_id, sale_id, action, staff_id, from_basis, from_staff_id, reason, actor_id)
         VALUES ($1, $2, $3, 'reassign', $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(agency)
    .bind(sale)
    .bind(staff)
    .bind(&before.basis)
    .bind(before.staff)
    .bind(reason)
    .bind(actor)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE sales SET manual_id = $3, manual_staff_id = $4, manual_reason = $5, updated_at = now()
         WHERE agency_id = $1 AND id = $2",
    )
    .bind(agency)
    .bind(sale)
    .bind(id)
    .bind(staff)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(before)
}

/// Ends the reassignment in force: the sale returns to its computed credit
/// (as it is now, not as it was). Recorded as its own history entry.
#[tracing::instrument(skip_all, fields(agency_id = %agency, sale_id = %sale))]
pub async fn revert(
    conn: &mut PgConnection,
    agency: AgencyId,
    sale: SaleId,
    reason: &str,
    actor: StaffId,
) -> Result<Before, ReassignError> {
    let before = lock(conn, agency, sale).await?;
    if before.basis != SaleBasis::Manual.as_str() {
        return Err(ReassignError::NothingToRevert);
    }
    sqlx::query(
        "INSERT INTO sale_reassignments (id, agency_id, sale_id, action, staff_id, from_basis, from_staff_id, reason, actor_id)
         SELECT $1, $2, $3, 'revert', s.auto_staff_id, 'manual', s.manual_staff_id, $4, $5
         FROM sales s WHERE s.agency_id = $2 AND s.id = $3",
    )
    .bind(Uuid::now_v7())
    .bind(agency)
    .bind(sale)
    .bind(reason)
    .bind(actor)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE sales SET manual_id = NULL, manual_staff_id = NULL, manual_reason = NULL, updated_at = now()
         WHERE agency_id = $1 AND id = $2",
    )
    .bind(agency)
    .bind(sale)
    .execute(&mut *conn)
    .await?;
    Ok(before)
}

async fn lock(
    conn: &mut PgConnection,
    agency: AgencyId,
    sale: SaleId,
) -> Result<Before, ReassignError> {
    let row: Option<(String, Option<StaffId>, bool)> = sqlx::query_as(
        "SELECT basis, credited_staff_id, reverses_sale_id IS NOT NULL FROM sales
         WHERE agency_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(agency)
    .bind(sale)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Err(ReassignError::NotFound),
        Some((_, _, true)) => Err(ReassignError::Reversal),
        Some((basis, staff, false)) => Ok(Before { basis, staff }),
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnmappedTeamMember {
    /// The `sentByUserId` as Fanvue sent it (lower case).
    pub team_member_uuid: String,
    pub messages: i64,
    pub last_seen: Option<DateTime<Utc>>,
    /// Sales this uuid decides, in cents (they move when it is mapped).
    pub revenue_cents: i64,
    pub sales: i64,
}

/// Every `sentByUserId` in the agency's mirror that no staff member carries,
/// with its message count and the revenue it decides, most revenue first.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn unmapped_team_members(
    db: &PgPool,
    agency: AgencyId,
) -> Result<Vec<UnmappedTeamMember>, StoreError> {
    Ok(sqlx::query_as(
        "WITH seen AS (
            SELECT lower(m.sent_by_user_uuid) AS tm, count(*) AS messages,
                   max(COALESCE(m.sent_at, m.first_seen_at)) AS last_seen
            FROM messages m
            WHERE m.agency_id = $1 AND m.sent_by_user_uuid IS NOT NULL
            GROUP BY 1)
         SELECT seen.tm AS team_member_uuid, seen.messages, seen.last_seen,
                COALESCE(r.revenue, 0)::int8 AS revenue_cents, COALESCE(r.sales, 0)::int8 AS sales
         FROM seen
         LEFT JOIN LATERAL (
            SELECT sum(s.gross_cents) AS revenue, count(*) AS sales FROM sales s
            WHERE s.agency_id = $1 AND s.team_member_uuid = seen.tm) r ON true
         WHERE NOT EXISTS (
            SELECT 1 FROM staff st WHERE st.agency_id = $1 AND st.fanvue_user_uuid::text = seen.tm)
         ORDER BY revenue_cents DESC, seen.messages DESC, seen.tm",
    )
    .bind(agency)
    .fetch_all(db)
    .await?)
}

/// What an earnings-feed line tells the ledger (amounts in cents).
#[derive(Debug, Clone)]
pub struct EarningsLine<'a> {
    pub line_id: i64,
    pub fan_uuid: Option<Uuid>,
    pub message_uuid: Option<Uuid>,
    pub gross_cents: i64,
    pub net_cents: Option<i64>,
    pub currency: Option<&'a str>,
    pub occurred_at: DateTime<Utc>,
    pub transaction_id: Option<&'a str>,
}

/// A `message` or `tip` line proved a sale: the feed's amounts replace the
/// estimate. Call after the line has marked the PPV purchased in the mirror
/// (the trigger then made the sale). A PPV line names its message; a tip
/// line is matched to the tip event by fan, amount and time, or becomes the
/// tip's sale when its webhook was lost. `None`: nothing matched, keep the
/// line unmatched.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn confirm_from_earnings(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    tip: bool,
    line: &EarningsLine<'_>,
) -> Result<Option<SaleId>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT sales_confirm_from_earnings($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(agency)
    .bind(creator)
    .bind(line.line_id)
    .bind(if tip { "tip" } else { "ppv" })
    .bind(line.message_uuid)
    .bind(line.fan_uuid)
    .bind(line.gross_cents)
    .bind(line.net_cents.unwrap_or(line.gross_cents))
    .bind(line.currency)
    .bind(line.occurred_at)
    .bind(line.transaction_id)
    .fetch_one(db)
    .await?)
}

/// Subscription, renewal, post, referral or other revenue: a sale credited
/// to no chatter, once per `natural_key`.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn record_non_chat(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    kind: NonChatKind,
    line: &EarningsLine<'_>,
    natural_key: &str,
) -> Result<Option<SaleId>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT sales_record_non_chat($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(agency)
    .bind(creator)
    .bind(line.line_id)
    .bind(kind.as_str())
    .bind(line.fan_uuid)
    .bind(line.gross_cents)
    .bind(line.net_cents)
    .bind(line.currency)
    .bind(line.occurred_at)
    .bind(line.transaction_id)
    .bind(natural_key)
    .fetch_one(db)
    .await?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonChatKind {
    Subscription,
    Renewal,
    Post,
    Referral,
    Other,
}

impl NonChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NonChatKind::Subscription => "subscription",
            NonChatKind::Renewal => "renewal",
            NonChatKind::Post => "post",
            NonChatKind::Referral => "referral",
            NonChatKind::Other => "other",
        }
    }
}

/// A refund (`chargeback: false`) or chargeback of `sale`: a negative row
/// linked to it and credited as it is, once per `natural_key`. The original
/// sale is left as it was. `None` when `sale` is not the agency's (or is
/// itself a reversal).
#[tracing::instrument(skip_all, fields(agency_id = %agency, sale_id = %sale))]
pub async fn record_reversal(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    sale: SaleId,
    chargeback: bool,
    line: &EarningsLine<'_>,
    natural_key: &str,
) -> Result<Option<SaleId>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT sales_record_reversal($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(agency)
            .bind(sale)
            .bind(if chargeback { "chargeback" } else { "refund" })
            .bind(line.line_id)
            .bind(line.gross_cents)
            .bind(line.net_cents)
            .bind(line.occurred_at)
            .bind(natural_key)
            .fetch_one(db)
            .await?,
    )
}

/// The PPV sale of a message, for matching a reversal line to its sale.
#[tracing::instrument(skip_all, fields(agency_id = %agency, creator_id = %creator))]
pub async fn ppv_sale_of(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    creator: CreatorId,
    message: Uuid,
) -> Result<Option<SaleId>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM sales WHERE agency_id = $1 AND creator_id = $2 AND kind = 'ppv' AND message_uuid = $3",
    )
    .bind(agency)
    .bind(creator)
    .bind(message)
    .fetch_optional(db)
    .await?)
}

/// Whom a listed sale must be credited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreditFilter {
    #[default]
    Anyone,
    /// Credited to nobody (`staff=none`).
    Nobody,
    Staff(StaffId),
}

/// The drill-down's filters: inclusive local days in the agency's zone,
/// a creator, the credited staff member, a basis and a kind (as stored).
#[derive(Debug, Clone, Default)]
pub struct SalesFilter {
    pub zone: crate::domain::AgencyZone,
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
    pub creator: Option<CreatorId>,
    pub credit: CreditFilter,
    pub basis: Option<SaleBasis>,
    pub kind: Option<&'static str>,
}

/// Every `sales.kind` value.
pub const KINDS: &[&str] = &[
    "ppv",
    "tip",
    "subscription",
    "renewal",
    "post",
    "referral",
    "other",
    "refund",
    "chargeback",
];

/// A sale as the drill-down and its CSV show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedSale {
    pub id: SaleId,
    pub occurred_at: DateTime<Utc>,
    pub creator_id: CreatorId,
    pub creator_name: String,
    pub fan_uuid: Option<Uuid>,
    pub fan_name: Option<String>,
    pub kind: String,
    pub gross_cents: i64,
    pub net_cents: i64,
    pub net_estimated: bool,
    pub currency: String,
    pub credited_staff_id: Option<StaffId>,
    pub credited_name: Option<String>,
    pub basis: String,
    pub basis_detail: String,
    pub auto_basis: String,
    pub is_manual: bool,
    pub chat_id: Option<Uuid>,
    /// The message to open in the thread: the PPV, the tipped message or
    /// the tip's own TIP message.
    pub message_uuid: Option<Uuid>,
    pub transaction_id: Option<String>,
    pub reverses_sale_id: Option<Uuid>,
}

impl ListedSale {
    pub fn basis_label(&self) -> &str {
        SaleBasis::label_of(&self.basis)
    }
    pub fn auto_basis_label(&self) -> &str {
        SaleBasis::label_of(&self.auto_basis)
    }
}

/// `SELECT … FROM … WHERE` of the drill-down; $1 agency, $2 zone, $3/$4
/// local days, $5 creator, $6 credit mode, $7 staff, $8 basis, $9 kind.
const LIST_SQL: &str = "SELECT s.id, s.occurred_at, s.creator_id, cr.display_name AS creator_name, s.fan_uuid,
        COALESCE(NULLIF(ch.fan_nickname, ''), NULLIF(ch.fan_display_name, ''), ch.fan_handle) AS fan_name,
        s.kind, s.gross_cents, s.net_cents, s.net_estimated, s.currency, s.credited_staff_id,
        cs.display_name AS credited_name, s.basis, s.basis_detail, s.auto_basis,
        s.manual_id IS NOT NULL AS is_manual, s.chat_id,
        COALESCE(s.message_uuid, s.tip_message_uuid) AS message_uuid, s.transaction_id, s.reverses_sale_id
    FROM sales s
    JOIN creators cr ON cr.id = s.creator_id AND cr.agency_id = s.agency_id
    LEFT JOIN staff cs ON cs.id = s.credited_staff_id
    LEFT JOIN chats ch ON ch.id = s.chat_id AND ch.agency_id = s.agency_id
    WHERE s.agency_id = $1
      AND ($3::date IS NULL OR s.occurred_at >= ($3::date::timestamp AT TIME ZONE $2))
      AND ($4::date IS NULL OR s.occurred_at < (($4::date + 1)::timestamp AT TIME ZONE $2))
      AND ($5::uuid IS NULL OR s.creator_id = $5)
      AND ($6 = 'anyone' OR ($6 = 'nobody' AND s.credited_staff_id IS NULL)
           OR ($6 = 'staff' AND s.credited_staff_id = $7))
      AND ($8::text IS NULL OR s.basis = $8)
      AND ($9::text IS NULL OR s.kind = $9)";

fn bind_filter<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    agency: AgencyId,
    f: &SalesFilter,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let (mode, staff) = match f.credit {
        CreditFilter::Anyone => ("anyone", None),
        CreditFilter::Nobody => ("nobody", None),
        CreditFilter::Staff(s) => ("staff", Some(s)),
    };
    q.bind(agency)
        .bind(f.zone.name())
        .bind(f.from)
        .bind(f.to)
        .bind(f.creator)
        .bind(mode)
        .bind(staff)
        .bind(f.basis.map(SaleBasis::as_str))
        .bind(f.kind)
}

/// One keyset page of the drill-down, newest first: the sales strictly
/// before `after` (occurred at, id), at most `limit`.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn list(
    db: &PgPool,
    agency: AgencyId,
    f: &SalesFilter,
    after: Option<(DateTime<Utc>, SaleId)>,
    limit: i64,
) -> Result<Vec<ListedSale>, StoreError> {
    let sql = format!(
        "{LIST_SQL}
      AND ($10::timestamptz IS NULL OR (s.occurred_at, s.id) < ($10, $11))
    ORDER BY s.occurred_at DESC, s.id DESC LIMIT $12"
    );
    Ok(
        bind_filter(sqlx::query_as(sqlx::AssertSqlSafe(sql)), agency, f)
            .bind(after.map(|a| a.0))
            .bind(after.map(|a| a.1))
            .bind(limit)
            .fetch_all(db)
            .await?,
    )
}

/// Every sale the filter selects, newest first, as a stream read from the
/// database while the caller writes it out (a bounded channel between a
/// task holding the query and the caller), so an export never holds the
/// whole period in memory.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub fn export(
    db: PgPool,
    agency: AgencyId,
    f: SalesFilter,
) -> impl futures_util::Stream<Item = Result<ListedSale, StoreError>> + 'static {
    use futures_util::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<ListedSale, StoreError>>(64);
    let span = tracing::Span::current();
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            let sql = format!("{LIST_SQL} ORDER BY s.occurred_at DESC, s.id DESC");
            let mut rows =
                bind_filter(sqlx::query_as(sqlx::AssertSqlSafe(sql)), agency, &f).fetch(&db);
            while let Some(row) = rows.next().await {
                let failed = row.is_err();
                // The receiver is gone (client left): stop reading.
                if tx.send(row.map_err(StoreError::from)).await.is_err() || failed {
                    break;
                }
            }
        },
        span,
    ));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
