//! Staff accounts. Every function except the login lookup and the session
//! lookup is scoped by agency.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{StoreError, expect_found};
use crate::domain::{AgencyId, DisplayName, Email, FanvueUserUuid, Role, StaffId};

const COLUMNS: &str = "id, agency_id, email, display_name, role, fanvue_user_uuid, active, created_at, last_login_at, password_changed_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Staff {
    pub id: StaffId,
    pub agency_id: AgencyId,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub fanvue_user_uuid: Option<Uuid>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub password_changed_at: DateTime<Utc>,
}

/// What login needs: looked up by email across agencies (emails are unique
/// installation-wide), before anyone is authenticated.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credentials {
    pub id: StaffId,
    pub agency_id: AgencyId,
    pub password_hash: String,
    pub active: bool,
}

pub struct NewStaff<'a> {
    pub agency_id: AgencyId,
    pub email: &'a Email,
    pub display_name: &'a DisplayName,
    pub password_hash: &'a str,
    pub role: Role,
}

#[tracing::instrument(skip_all, fields(agency_id = %new.agency_id))]
pub async fn insert(db: impl PgExecutor<'_>, new: NewStaff<'_>) -> Result<StaffId, StoreError> {
    let id = StaffId::new();
    sqlx::query(
        "INSERT INTO staff (id, agency_id, email, display_name, password_hash, role)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(new.agency_id)
    .bind(new.email.as_str())
    .bind(new.display_name.as_str())
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .execute(db)
    .await
    .map_err(|e| StoreError::on_unique(e, "staff_email_key", "email"))?;
    Ok(id)
}

#[tracing::instrument(skip_all)]
pub async fn credentials_by_email(
    db: impl PgExecutor<'_>,
    email: &Email,
) -> Result<Option<Credentials>, StoreError> {
    Ok(sqlx::query_as::<_, Credentials>(
        "SELECT id, agency_id, password_hash, active FROM staff WHERE lower(email) = $1",
    )
    .bind(email.as_str())
    .fetch_optional(db)
    .await?)
}

#[tracing::instrument(skip_all)]
pub async fn email_exists(db: impl PgExecutor<'_>, email: &Email) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM staff WHERE lower(email) = $1)")
            .bind(email.as_str())
            .fetch_one(db)
            .await?,
    )
}

/// The staff member a session belongs to, with their agency's name for the
/// navigation. The agency comes from this row, never from the request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionStaff {
    pub id: StaffId,
    pub agency_id: AgencyId,
    pub agency_name: String,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub active: bool,
    /// The agency's settings pages read on every view, in the same
    /// statement (one round-trip instead of one per setting).
    pub time_zone: String,
    pub min_ppv_price_cents: i64,
    pub mark_read_on_open: bool,
}

#[tracing::instrument(skip_all, fields(staff_id = %id))]
pub async fn for_session(
    db: impl PgExecutor<'_>,
    id: StaffId,
) -> Result<Option<SessionStaff>, StoreError> {
    Ok(sqlx::query_as::<_, SessionStaff>(
        "SELECT s.id, s.agency_id, a.name AS agency_name, s.email, s.display_name, s.role, s.active,
            a.time_zone, a.min_ppv_price_cents, a.mark_read_on_open
         FROM staff s JOIN agencies a ON a.id = s.agency_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %id))]
pub async fn get(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: StaffId,
) -> Result<Staff, StoreError> {
    sqlx::query_as::<_, Staff>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM staff WHERE agency_id = $1 AND id = $2"
    )))
    .bind(agency)
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Like `get`, but locks the row for a read-check-write in a transaction.
#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %id))]
pub async fn get_for_update(
    conn: &mut PgConnection,
    agency: AgencyId,
    id: StaffId,
) -> Result<Staff, StoreError> {
    sqlx::query_as::<_, Staff>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM staff WHERE agency_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(agency)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn list(db: impl PgExecutor<'_>, agency: AgencyId) -> Result<Vec<Staff>, StoreError> {
    Ok(sqlx::query_as::<_, Staff>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM staff WHERE agency_id = $1 ORDER BY active DESC, lower(display_name), id"
    )))
    .bind(agency)
    .fetch_all(db)
    .await?)
}

/// Active owners of the agency, locked so two concurrent demotions cannot
/// both see "another owner remains".
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn lock_active_owners(
    conn: &mut PgConnection,
    agency: AgencyId,
) -> Result<Vec<StaffId>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM staff WHERE agency_id = $1 AND role = 'owner' AND active ORDER BY id FOR UPDATE",
    )
    .bind(agency)
    .fetch_all(conn)
    .await?)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %id))]
pub async fn set_role(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: StaffId,
    role: Role,
) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE staff SET role = $3 WHERE agency_id = $1 AND id = $2")
        .bind(agency)
        .bind(id)
        .bind(role.as_str())
        .execute(db)
        .await?;
    expect_found(r)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %id))]
pub async fn set_active(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: StaffId,
    active: bool,
) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE staff SET active = $3 WHERE agency_id = $1 AND id = $2")
        .bind(agency)
        .bind(id)
        .bind(active)
        .execute(db)
        .await?;
    expect_found(r)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %id))]
pub async fn set_fanvue_user_uuid(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: StaffId,
    uuid: Option<FanvueUserUuid>,
) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE staff SET fanvue_user_uuid = $3 WHERE agency_id = $1 AND id = $2")
        .bind(agency)
        .bind(id)
        .bind(uuid.map(|u| u.as_uuid()))
        .execute(db)
        .await
        .map_err(|e| {
            StoreError::on_unique(e, "staff_fanvue_user_key", "Fanvue team-member UUID")
        })?;
    expect_found(r)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %id))]
pub async fn password_hash(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: StaffId,
) -> Result<String, StoreError> {
    sqlx::query_scalar("SELECT password_hash FROM staff WHERE agency_id = $1 AND id = $2")
        .bind(agency)
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %id))]
pub async fn set_password_hash(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: StaffId,
    hash: &str,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "UPDATE staff SET password_hash = $3, password_changed_at = now() WHERE agency_id = $1 AND id = $2",
    )
    .bind(agency)
    .bind(id)
    .bind(hash)
    .execute(db)
    .await?;
    expect_found(r)
}

#[tracing::instrument(skip_all, fields(staff_id = %id))]
pub async fn record_login(db: impl PgExecutor<'_>, id: StaffId) -> Result<(), StoreError> {
    sqlx::query("UPDATE staff SET last_login_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether `person` is the agency's last active owner, so demoting or
/// deactivating them would leave it without one. Locks the active owners so
/// two concurrent demotions cannot both see "another owner remains"; call it
/// in the transaction that makes the change.
#[tracing::instrument(skip_all, fields(agency_id = %person.agency_id, staff_id = %person.id))]
pub async fn is_last_active_owner(
    conn: &mut PgConnection,
    person: &Staff,
) -> Result<bool, StoreError> {
    if person.role != Role::Owner {
        return Ok(false);
    }
    let owners = lock_active_owners(conn, person.agency_id).await?;
    Ok(owners.iter().all(|o| *o == person.id))
}
