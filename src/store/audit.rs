//! The audit log: who did what to whom, from where, when. Append-only.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::StoreError;
use crate::domain::{AgencyId, AuditAction, StaffId};

pub struct AuditEntry<'a> {
    /// None only for events not tied to an agency (a failed login for an
    /// unknown email).
    pub agency_id: Option<AgencyId>,
    pub actor_id: Option<StaffId>,
    pub action: AuditAction,
    pub target: Option<&'a str>,
    pub details: serde_json::Value,
    pub client_ip: Option<&'a str>,
}

/// Records `e` unless an entry with the same action and the same target or
/// client address was recorded within `within`: for events an anonymous
/// client can repeat at will (throttled logins), so they cannot grow the log
/// without bound. Returns whether a row was written.
#[tracing::instrument(skip_all, fields(agency_id = ?e.agency_id, action = e.action.as_str()))]
pub async fn record_unless_recent(
    db: impl PgExecutor<'_>,
    e: AuditEntry<'_>,
    within: std::time::Duration,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO audit_log (agency_id, actor_id, action, target, details, client_ip)
         SELECT $1, $2, $3, $4, $5, $6
          WHERE NOT EXISTS (
            SELECT 1 FROM audit_log
             WHERE action = $3 AND at > now() - make_interval(secs => $7)
               AND (target IS NOT DISTINCT FROM $4 OR client_ip IS NOT DISTINCT FROM $6))",
    )
    .bind(e.agency_id)
    .bind(e.actor_id)
    .bind(e.action.as_str())
    .bind(e.target)
    .bind(e.details)
    .bind(e.client_ip)
    .bind(within.as_secs_f64())
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[tracing::instrument(skip_all, fields(agency_id = ?e.agency_id, action = e.action.as_str()))]
pub async fn record(db: impl PgExecutor<'_>, e: AuditEntry<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (agency_id, actor_id, action, target, details, client_ip)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.agency_id)
    .bind(e.actor_id)
    .bind(e.action.as_str())
    .bind(e.target)
    .bind(&e.details)
    .bind(e.client_ip)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub action: String,
    pub actor_name: Option<String>,
    pub target: Option<String>,
    pub details: serde_json::Value,
    pub client_ip: Option<String>,
    pub at: DateTime<Utc>,
}

/// One page of the agency's log, newest first, plus the total count.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn page(
    db: impl PgExecutor<'_> + Copy,
    agency: AgencyId,
    page: i64,
    per_page: i64,
) -> Result<(Vec<AuditRow>, i64), StoreError> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE agency_id = $1")
        .bind(agency)
        .fetch_one(db)
        .await?;
    let rows = sqlx::query_as::<_, AuditRow>(
        "SELECT a.id, a.action, s.display_name AS actor_name, a.target, a.details, a.client_ip, a.at
         FROM audit_log a LEFT JOIN staff s ON s.id = a.actor_id AND s.agency_id = a.agency_id
         WHERE a.agency_id = $1
         ORDER BY a.id DESC
         LIMIT $2 OFFSET $3",
    )
    .bind(agency)
    .bind(per_page)
    .bind((page.max(1) - 1) * per_page)
    .fetch_all(db)
    .await?;
    Ok((rows, total))
}
