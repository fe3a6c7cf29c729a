//! Settings shared by the benchmarks: a scratch database on the local
//! server (`BENCH_DATABASE_URL`, default the local Postgres), no Fanvue app,
//! no webhook secret, no background workers. Each bench overrides what it
//! measures.

use switchboard::config::Settings;

/// The shipped defaults (`Settings::for_tests`: no background workers, the
/// benches drive sync and processing themselves) on a scratch database.
pub fn bench_settings(database: &str) -> anyhow::Result<Settings> {
    let server = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut url = url::Url::parse(&server)?;
    url.set_path(&format!("/{database}"));
    Ok(Settings::for_tests(url.as_str()))
}

/// The dashboard rollups' triggers on the tables ingest writes.
const ROLLUP_TRIGGERS: [(&str, &str); 7] = [
    ("messages", "dash_messages_insert"),
    ("messages", "dash_messages_update"),
    ("sales", "dash_sales_insert"),
    ("sales", "dash_sales_update"),
    ("sales", "dash_sales_delete"),
    ("outbound_sends", "dash_sends_insert"),
    ("outbound_sends", "dash_sends_update"),
];

/// `BENCH_DASHBOARD_ROLLUPS=off` disables the dashboard rollups' triggers in
/// the scratch database: the "before" against which the cost of keeping the
/// rollups during ingest is measured (replies, and so `reply_daily`, follow
/// from the messages' triggers). Returns the mode, for the report.
#[allow(dead_code)] // only the ingest benches use it
pub async fn rollups_knob(pool: &sqlx::PgPool) -> anyhow::Result<&'static str> {
    if !std::env::var("BENCH_DASHBOARD_ROLLUPS").is_ok_and(|v| v == "off") {
        return Ok("on");
    }
    for (table, trigger) in ROLLUP_TRIGGERS {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {table} DISABLE TRIGGER {trigger}"
        )))
        .execute(pool)
        .await?;
    }
    Ok("off")
}

/// Recomputes every reply the writes left pending (migration 26), as the
/// application's housekeeping would, and says how long it took: the ingest
/// benches count it in the time of the work that left them.
#[allow(dead_code)] // only the ingest benches use it
pub async fn flush_pending_replies(pool: &sqlx::PgPool) -> anyhow::Result<(f64, i64)> {
    const ROUND: i32 = 2_000;
    let t0 = std::time::Instant::now();
    let mut total = 0i64;
    loop {
        let n = switchboard::store::dashboard::flush_replies(pool, None, ROUND).await?;
        total += i64::from(n);
        if n < ROUND {
            return Ok((t0.elapsed().as_secs_f64(), total));
        }
    }
}
