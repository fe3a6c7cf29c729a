//! The agency's settings row (columns of `agencies`): read by the settings
//! page, the inbox (minimum PPV price, time zone, mark-read-on-open) and
//! the sales ledger (fee, tip window). Written only by the settings page,
//! one statement for all fields, inside the transaction that audits them.

use sqlx::{PgConnection, PgExecutor};

use super::StoreError;
use crate::domain::{AgencyId, AgencyZone, MinPpvPrice, PlatformFee, TipWindow};

/// Every setting, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgencySettings {
    pub time_zone: AgencyZone,
    pub platform_fee: PlatformFee,
    pub tip_window: TipWindow,
    pub min_ppv_price: MinPpvPrice,
    pub mark_read_on_open: bool,
    /// Before each send, one extra read of the chat's newest messages on
    /// Fanvue (collision check), off by default.
    pub check_fanvue_before_send: bool,
    /// Most chats one chatter may hold claimed at once (None: no cap).
    pub claim_cap: Option<i32>,
}

impl Default for AgencySettings {
    /// What a new agency starts with (the columns' defaults).
    fn default() -> Self {
        Self {
            time_zone: AgencyZone::UTC,
            platform_fee: PlatformFee::DEFAULT,
            tip_window: TipWindow::DEFAULT,
            min_ppv_price: MinPpvPrice::DEFAULT,
            mark_read_on_open: false,
            check_fanvue_before_send: false,
            claim_cap: None,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    time_zone: String,
    platform_fee_bps: i32,
    tip_window_minutes: i32,
    min_ppv_price_cents: i64,
    mark_read_on_open: bool,
    check_fanvue_before_send: bool,
    claim_cap: Option<i32>,
}

impl From<Row> for AgencySettings {
    fn from(r: Row) -> Self {
        Self {
            time_zone: AgencyZone::from_db(&r.time_zone),
            platform_fee: PlatformFee::from_bps(r.platform_fee_bps),
            tip_window: TipWindow::from_minutes(r.tip_window_minutes),
            min_ppv_price: MinPpvPrice::from_cents(r.min_ppv_price_cents),
            mark_read_on_open: r.mark_read_on_open,
            check_fanvue_before_send: r.check_fanvue_before_send,
            claim_cap: r.claim_cap,
        }
    }
}

#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn get(db: impl PgExecutor<'_>, agency: AgencyId) -> Result<AgencySettings, StoreError> {
    sqlx::query_as::<_, Row>(
        "SELECT time_zone, platform_fee_bps, tip_window_minutes, min_ppv_price_cents,
                mark_read_on_open, check_fanvue_before_send, claim_cap
           FROM agencies WHERE id = $1",
    )
    .bind(agency)
    .fetch_optional(db)
    .await?
    .map(Into::into)
    .ok_or(StoreError::NotFound)
}

/// The settings, with the row locked until the transaction ends (so two
/// admins saving at once audit each other's values as the "old" ones).
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn get_for_update(
    conn: &mut PgConnection,
    agency: AgencyId,
) -> Result<AgencySettings, StoreError> {
    sqlx::query_as::<_, Row>(
        "SELECT time_zone, platform_fee_bps, tip_window_minutes, min_ppv_price_cents,
                mark_read_on_open, check_fanvue_before_send, claim_cap
           FROM agencies WHERE id = $1 FOR UPDATE",
    )
    .bind(agency)
    .fetch_optional(conn)
    .await?
    .map(Into::into)
    .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn save(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    s: &AgencySettings,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "UPDATE agencies
            SET time_zone = $2, platform_fee_bps = $3, tip_window_minutes = $4,
                min_ppv_price_cents = $5, mark_read_on_open = $6,
                check_fanvue_before_send = $7, claim_cap = $8
          WHERE id = $1",
    )
    .bind(agency)
    .bind(s.time_zone.name())
    .bind(s.platform_fee.bps())
    .bind(s.tip_window.minutes())
    .bind(s.min_ppv_price.cents().get())
    .bind(s.mark_read_on_open)
    .bind(s.check_fanvue_before_send)
    .bind(s.claim_cap)
    .execute(db)
    .await?;
    super::expect_found(r)
}

/// The agency's time zone alone (the inbox formats dates with it).
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn time_zone(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
) -> Result<AgencyZone, StoreError> {
    let name: Option<String> = sqlx::query_scalar("SELECT time_zone FROM agencies WHERE id = $1")
        .bind(agency)
        .fetch_optional(db)
        .await?;
    name.map(|n| AgencyZone::from_db(&n))
        .ok_or(StoreError::NotFound)
}

/// The lowest price a PPV of this agency may carry.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn min_ppv_price(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
) -> Result<MinPpvPrice, StoreError> {
    let c: Option<i64> =
        sqlx::query_scalar("SELECT min_ppv_price_cents FROM agencies WHERE id = $1")
            .bind(agency)
            .fetch_optional(db)
            .await?;
    c.map(MinPpvPrice::from_cents).ok_or(StoreError::NotFound)
}

/// Whether Postgres's own tz database knows `zone`: days are cut in SQL
/// (`AT TIME ZONE`), so a zone the application knows but the server does
/// not would fail every dashboard query.
#[tracing::instrument(skip_all, fields(time_zone = zone.name()))]
pub async fn database_knows_zone(
    db: impl PgExecutor<'_>,
    zone: AgencyZone,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
            .bind(zone.name())
            .fetch_one(db)
            .await?,
    )
}
