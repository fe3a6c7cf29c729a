//! First-run set-up shared by the `create-admin` command, the tests and the
//! demo: a new agency and its first owner, created in one transaction.

use secrecy::SecretString;
use sqlx::PgPool;

use crate::credentials::password;
use crate::domain::{
    AgencyId, AgencyName, AuditAction, DisplayName, Email, NewPassword, ParseError, Role, StaffId,
};
use crate::store::{self, StoreError, audit::AuditEntry};

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{field}: {error}")]
    Invalid {
        field: &'static str,
        error: ParseError,
    },
    #[error("a staff account with email {0} already exists")]
    EmailTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] password::PasswordError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn field<T>(field: &'static str, r: Result<T, ParseError>) -> Result<T, BootstrapError> {
    r.map_err(|error| BootstrapError::Invalid { field, error })
}

/// Creates an agency and its owner. Returns both ids.
pub async fn create_agency_with_owner(
    pool: &PgPool,
    agency: &str,
    email: &str,
    name: &str,
    password: SecretString,
) -> Result<(AgencyId, StaffId), BootstrapError> {
    create_agency_with_staff(pool, agency, &[(email, name, Role::Owner, password)])
        .await
        .map(|(a, ids)| (a, ids[0]))
}

/// Creates an agency with several staff members at once (tests, demo).
pub async fn create_agency_with_staff(
    pool: &PgPool,
    agency: &str,
    people: &[(&str, &str, Role, SecretString)],
) -> Result<(AgencyId, Vec<StaffId>), BootstrapError> {
    let agency_name = field("agency", AgencyName::parse(agency))?;
    let mut parsed = Vec::with_capacity(people.len());
    for (email, name, role, pw) in people {
        let email = field("email", Email::parse(email))?;
        let name = field("name", DisplayName::parse(name))?;
        let pw = field("password", NewPassword::parse(pw.clone()))?;
        let hash = password::hash(pw.secret().clone()).await?;
        parsed.push((email, name, *role, hash));
    }
    let mut tx = pool.begin().await?;
    let created = store::agencies::create(&mut tx, &agency_name).await?;
    let mut ids = Vec::with_capacity(parsed.len());
    for (email, name, role, hash) in &parsed {
        let id = store::staff::insert(
            &mut *tx,
            store::staff::NewStaff {
                agency_id: created.id,
                email,
                display_name: name,
                password_hash: hash,
                role: *role,
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => BootstrapError::EmailTaken(email.to_string()),
            other => other.into(),
        })?;
        ids.push(id);
    }
    store::audit::record(
        &mut *tx,
        AuditEntry {
            agency_id: Some(created.id),
            actor_id: ids.first().copied(),
            action: AuditAction::AgencyCreated,
            target: Some(agency_name.as_str()),
            details: serde_json::json!({ "slug": created.slug, "staff": ids.len() }),
            client_ip: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((created.id, ids))
}
