//! Settings shared by the benchmarks: a scratch database on the local
//! server (`BENCH_DATABASE_URL`, default the local Postgres), no Fanvue app,
//! no webhook secret, no background workers. Each bench overrides what it
//! measures.

use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use switchboard::config::{
    AuthSettings, DEFAULT_SCOPES, FanvueSettings, LogFormat, SecretKey, Settings, SyncSettings,
    TokenAuth, WebhookSettings,
};

pub fn bench_settings(database: &str) -> anyhow::Result<Settings> {
    let server = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut url = url::Url::parse(&server)?;
    url.set_path(&format!("/{database}"));
    Ok(Settings {
        database_url: SecretString::from(url.to_string()),
        secret_key: SecretKey::from_base64("c3dpdGNoYm9hcmQtYmVuY2gta2V5LTMyLWJ5dGVzISE=")
            .context("bench key")?,
        public_url: url::Url::parse("http://127.0.0.1:8080")?,
        host: "127.0.0.1".into(),
        port: 0,
        log_format: LogFormat::Text,
        log_filter: "warn".into(),
        trust_forwarded_for: false,
        trusted_proxy_hops: 1,
        max_form_bytes: 64 * 1024,
        auth: AuthSettings {
            session_idle_minutes: 60,
            session_absolute_hours: 12,
            throttle_window_secs: 900,
            max_failures_per_account: 5,
            max_failures_per_ip: 30,
            invite_ttl_hours: 72,
        },
        fanvue: FanvueSettings {
            app: None,
            api_url: url::Url::parse("http://127.0.0.1:9")?,
            auth_url: url::Url::parse("http://127.0.0.1:9")?,
            api_version: "2025-06-26".into(),
            scopes: DEFAULT_SCOPES
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            token_auth: TokenAuth::Basic,
            interactive_reserve_percent: 20,
            request_timeout: Duration::from_secs(10),
        },
        webhooks: WebhookSettings {
            secret: None,
            previous_secret: None,
            tolerance_secs: 300,
            max_attempts: 3,
            workers: 1,
            enabled: false,
            intake_writers: 2,
            intake_batch: 256,
        },
        // The benches drive sync and processing themselves; shipped defaults.
        sync: SyncSettings {
            enabled: false,
            workers: 1,
            reconcile_interval_secs: 300,
            overlap_secs: 120,
            history_depth: 1000,
            purchase_horizon_hours: 72,
            lease_secs: 30,
            poll_interval_ms: 200,
        },
    })
}
