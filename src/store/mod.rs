//! All SQL lives here, one file per aggregate. Every function that reads or
//! writes tenant data takes the `AgencyId` of the logged-in staff member and
//! scopes its query by it; a row of another agency is simply "not found".

pub mod agencies;
pub mod agency_settings;
pub mod audit;
pub mod canned;
pub mod chats;
pub mod claims;
pub mod creators;
pub mod cross_check;
pub mod dashboard;
pub mod earnings;
pub mod fan_notes;
pub mod fan_tags;
pub mod inbox;
pub mod invites;
pub mod live;
pub mod locks;
pub mod login_failures;
pub mod messages;
pub mod metrics;
pub mod mirror_stats;
pub mod nagle;
pub mod oauth_flows;
pub mod presence;
pub mod purchases;
pub mod rate_budgets;
pub mod read_state;
pub mod sales;
pub mod sends;
pub mod sessions;
pub mod staff;
pub mod sync;
pub mod webhook_apply;
pub mod webhooks;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult};
use sqlx::{ConnectOptions, Connection};
use sqlx::{PgExecutor, PgPool};

/// Migrations embedded at compile time; run at start-up and by `migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Errors from the store that callers act on; anything else is unexpected.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("a row with this {0} already exists")]
    Conflict(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    /// Turns a unique violation on `constraint` into `Conflict(what)`.
    pub fn on_unique(err: sqlx::Error, constraint: &str, what: &'static str) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.constraint() == Some(constraint)
        {
            return StoreError::Conflict(what);
        }
        StoreError::Db(err)
    }
}

/// `NotFound` when a write matched no row: the row does not exist, or it
/// belongs to another agency and the scoped `WHERE` did not see it.
fn expect_found(r: PgQueryResult) -> Result<(), StoreError> {
    if r.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// One round trip to the database: the readiness probe.
#[tracing::instrument(skip_all)]
pub async fn ping(db: impl PgExecutor<'_>) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(db).await?;
    Ok(())
}

/// Creates the database named in `opts` if it does not exist yet.
#[tracing::instrument(skip_all)]
pub async fn create_database_if_missing(opts: &PgConnectOptions) -> anyhow::Result<()> {
    let name = opts.get_database().unwrap_or("postgres").to_owned();
    let admin = opts.clone().database("postgres");
    let mut conn = admin
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach Postgres to create database {name:?}: {e}"))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // Identifiers cannot be bound; quote it the way Postgres does.
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
        tracing::info!(database = %name, "created database");
    }
    conn.close().await?;
    Ok(())
}

/// Connects the pool, creating the database and running migrations first.
#[tracing::instrument(skip_all)]
pub async fn connect_and_migrate(
    opts: PgConnectOptions,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    create_database_if_missing(&opts).await?;
    let port = opts.get_port();
    let over_tcp = opts.get_socket().is_none();
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |_conn, _meta| {
            Box::pin(async move {
                if over_tcp {
                    nagle::disable_on_peer_port(port);
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}
