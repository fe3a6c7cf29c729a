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
