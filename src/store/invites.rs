//! Staff invitations. Only a SHA-256 of the link token is stored; the link
//! itself is shown once to the admin who created it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::StoreError;
use crate::domain::{AgencyId, DisplayName, Email, InviteId, Role, StaffId};

const COLUMNS: &str = "id, agency_id, email, display_name, role, created_by, created_at, expires_at, accepted_at, revoked_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invite {
    pub id: InviteId,
    pub agency_id: AgencyId,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_by: Option<StaffId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub struct NewInvite<'a> {
    pub agency_id: AgencyId,
    pub email: &'a Email,
    pub display_name: &'a DisplayName,
    pub role: Role,
    pub token_hash: &'a str,
    pub created_by: StaffId,
    pub expires_at: DateTime<Utc>,
}

#[tracing::instrument(skip_all, fields(agency_id = %new.agency_id))]
pub async fn create(db: impl PgExecutor<'_>, new: NewInvite<'_>) -> Result<InviteId, StoreError> {
    let id = InviteId::new();
    sqlx::query(
        "INSERT INTO invites (id, agency_id, email, display_name, role, token_hash, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(new.agency_id)
    .bind(new.email.as_str())
    .bind(new.display_name.as_str())
    .bind(new.role.as_str())
    .bind(new.token_hash)
    .bind(new.created_by)
    .bind(new.expires_at)
    .execute(db)
    .await?;
    Ok(id)
}

/// Invites not yet accepted, revoked or expired.
#[tracing::instrument(skip_all, fields(agency_id = %agency))]
pub async fn list_pending(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
) -> Result<Vec<Invite>, StoreError> {
    Ok(sqlx::query_as::<_, Invite>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invites
         WHERE agency_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
         ORDER BY created_at DESC"
    )))
    .bind(agency)
    .fetch_all(db)
    .await?)
}

#[tracing::instrument(skip_all, fields(agency_id = %agency, invite_id = %id))]
pub async fn revoke(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    id: InviteId,
) -> Result<Invite, StoreError> {
    sqlx::query_as::<_, Invite>(sqlx::AssertSqlSafe(format!(
        "UPDATE invites SET revoked_at = now()
         WHERE agency_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL
         RETURNING {COLUMNS}"
    )))
    .bind(agency)
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(StoreError::NotFound)
}

/// A usable invite (not accepted, revoked or expired) for the link token.
#[tracing::instrument(skip_all)]
pub async fn find_usable(
    db: impl PgExecutor<'_>,
    token_hash: &str,
) -> Result<Option<Invite>, StoreError> {
    Ok(sqlx::query_as::<_, Invite>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invites
         WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()"
    )))
    .bind(token_hash)
    .fetch_optional(db)
    .await?)
}

/// Marks the invite used; returns None if it was already used, revoked or
/// expired. Run in the transaction that creates the account so a link can
/// never create two.
#[tracing::instrument(skip_all)]
pub async fn consume(
    conn: &mut PgConnection,
    token_hash: &str,
) -> Result<Option<Invite>, StoreError> {
    Ok(sqlx::query_as::<_, Invite>(sqlx::AssertSqlSafe(format!(
        "UPDATE invites SET accepted_at = now()
         WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
         RETURNING {COLUMNS}"
    )))
    .bind(token_hash)
    .fetch_optional(conn)
    .await?)
}

/// A pending invite (not accepted or revoked), locked for a check before
/// it is revoked.
#[tracing::instrument(skip_all, fields(agency_id = %agency, invite_id = %id))]
pub async fn get_pending_for_update(
    conn: &mut PgConnection,
    agency: AgencyId,
    id: InviteId,
) -> Result<Invite, StoreError> {
    sqlx::query_as::<_, Invite>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invites
         WHERE agency_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL
         FOR UPDATE"
    )))
    .bind(agency)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Revokes the pending invites `inviter` created that they may no longer
/// grant: every one when `now` is None (deactivated), else those for roles
/// `now` may not give (`Role::may_manage`). Returns how many.
#[tracing::instrument(skip_all, fields(agency_id = %agency, staff_id = %inviter))]
pub async fn revoke_ungrantable(
    db: impl PgExecutor<'_>,
    agency: AgencyId,
    inviter: StaffId,
    now: Option<Role>,
) -> Result<u64, StoreError> {
    let roles: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|r| now.is_none_or(|n| !n.may_manage(*r)))
        .map(Role::as_str)
        .collect();
    let r = sqlx::query(
        "UPDATE invites SET revoked_at = now()
         WHERE agency_id = $1 AND created_by = $2 AND role = ANY($3)
           AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(agency)
    .bind(inviter)
    .bind(&roles)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

/// Whether the invite's creator may still grant its role: they exist, are
/// active and `Role::may_manage` it. Revoking on demotion or deactivation
/// covers the usual path; this covers a demotion racing the invite's
/// creation and changes made outside the UI.
#[tracing::instrument(skip_all, fields(agency_id = %invite.agency_id))]
pub async fn inviter_may_grant(
    db: impl PgExecutor<'_>,
    invite: &Invite,
) -> Result<bool, StoreError> {
    let inviter: Option<(String, bool)> =
        sqlx::query_as("SELECT role, active FROM staff WHERE agency_id = $1 AND id = $2")
            .bind(invite.agency_id)
            .bind(invite.created_by)
            .fetch_optional(db)
            .await?;
    Ok(match inviter {
        Some((role, true)) => Role::parse(&role).is_ok_and(|r| r.may_manage(invite.role)),
        _ => false,
    })
}
