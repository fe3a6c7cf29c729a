//! Postgres advisory locks: work that must happen once across instances.
//! Every namespace (the first key of the two-key form) is named here, so two
//! features can never pick the same number by accident.

use sqlx::PgConnection;

use super::StoreError;
use crate::domain::CreatorId;

/// Namespace of the per-creator token-refresh lock.
pub const TOKEN_REFRESH: i32 = 7201;

/// Namespace of the installation-wide webhook rejection-log lock (the
/// per-minute cap is a count, then an insert).
pub const REJECTION_LOG: i32 = 7202;

/// Namespace of the per-creator tip-sales lock: a tip event and an earnings
/// tip line of the same tip, written by two instances at once, would each
/// miss the other's uncommitted sale and both become sales.
pub const TIP_SALES: i32 = 7203;

/// Namespace of the installation-wide lock `dash_replies_flush` (migration
/// 26, in SQL) takes: two flushes never recompute one chat's replies at once.
pub const REPLIES_FLUSH: i32 = 7204;

/// Namespace of the per-account and per-address login-attempt locks, which
/// serialise the throttle's check-and-count.
pub const LOGIN_ATTEMPT: i32 = 7301;

/// The second key for a creator: its id folded to 31 bits. Two creators may
/// share a key; they then only wait for each other, which is harmless.
fn creator_key(id: CreatorId) -> i32 {
    let b = id.as_uuid().as_u128();
    let folded = (b as u64 ^ (b >> 64) as u64) as i64;
    (folded & 0x7fff_ffff) as i32
}

/// Takes the creator's token-refresh lock for the rest of the transaction
/// `tx` (released on commit or rollback). Waits while another holds it.
#[tracing::instrument(skip_all, fields(creator_id = %creator))]
pub async fn token_refresh(tx: &mut PgConnection, creator: CreatorId) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(TOKEN_REFRESH)
        .bind(creator_key(creator))
        .execute(tx)
        .await?;
    Ok(())
}

/// Takes the creators' tip-sales locks (in key order, so two holders of
/// several never deadlock each other) for the rest of the transaction `tx`.
#[tracing::instrument(skip_all)]
pub async fn tip_sales(tx: &mut PgConnection, creators: &[CreatorId]) -> Result<(), StoreError> {
    let mut keys: Vec<i32> = creators.iter().map(|c| creator_key(*c)).collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(TIP_SALES)
            .bind(k)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Serialises rejection logging for the rest of the transaction `tx`.
#[tracing::instrument(skip_all)]
pub async fn rejection_log(tx: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(REJECTION_LOG)
        .execute(tx)
        .await?;
    Ok(())
}

/// Takes the login-attempt locks of `email` and `client_ip` (always in that
/// order, so two attempts never deadlock) for the rest of the transaction.
#[tracing::instrument(skip_all)]
pub async fn login_attempt(
    tx: &mut PgConnection,
    email: &str,
    client_ip: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock($1, hashtext($2)), pg_advisory_xact_lock($1, hashtext($3))",
    )
    .bind(LOGIN_ATTEMPT)
    .bind(format!("email:{email}"))
    .bind(format!("ip:{client_ip}"))
    .execute(tx)
    .await?;
    Ok(())
}
