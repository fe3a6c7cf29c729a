//! Settings, layered: built-in defaults, then an optional TOML file, then
//! environment variables (`SWITCHBOARD__SECTION__KEY`, plus the documented
//! plain names such as `DATABASE_URL`). Secrets are wrapped so that `Debug`
//! and logs never show them; a missing or malformed secret stops start-up
//! with a message naming the variable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;
use url::Url;

// Re-exported because the settings carry one; it lives in `crypto`.
pub use crate::crypto::SecretKey;

/// The plain environment names documented in the README, mapped to their
/// keys in the layered configuration.
const PLAIN_ENV: &[(&str, &str)] = &[
    ("DATABASE_URL", "database_url"),
    ("SWITCHBOARD_SECRET_KEY", "secret_key"),
    ("PUBLIC_URL", "public_url"),
    ("SWITCHBOARD_CONFIG", "config_file"),
    ("LOG_FORMAT", "log_format"),
    ("FANVUE_CLIENT_ID", "fanvue.client_id"),
    ("FANVUE_CLIENT_SECRET", "fanvue.client_secret"),
    ("FANVUE_API_URL", "fanvue.api_url"),
    ("FANVUE_AUTH_URL", "fanvue.auth_url"),
    ("FANVUE_SCOPES", "fanvue.scopes"),
    ("FANVUE_TOKEN_AUTH", "fanvue.token_auth"),
    ("FANVUE_API_VERSION", "fanvue.api_version"),
    ("FANVUE_WEBHOOK_SECRET", "webhooks.secret"),
    ("FANVUE_WEBHOOK_PREVIOUS_SECRET", "webhooks.previous_secret"),
    ("FANVUE_WEBHOOK_PREVIOUS_UNTIL", "webhooks.previous_until"),
];

/// Scopes requested when connecting a creator (Fanvue's starter always adds
/// `openid offline_access offline`; the rest is what sync and the inbox use).
pub const DEFAULT_SCOPES: &str = "openid offline_access offline read:self read:chat write:chat read:fan read:insights read:media";

/// A well-known key from `.env.example`; refused when served over https.
pub const EXAMPLE_SECRET_KEY: &str = "ZGV2LW9ubHktc2VjcmV0LWtleS1kby1ub3QtdXNlISE=";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set. {1}")]
    Missing(&'static str, &'static str),
    #[error("{0} is malformed: {1}")]
    Malformed(&'static str, String),
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Raw, layered values before validation.
#[derive(Debug, Deserialize)]
struct Raw {
    database_url: Option<SecretString>,
    secret_key: Option<SecretString>,
    public_url: String,
    host: String,
    port: u16,
    log_format: LogFormat,
    log_filter: String,
    trust_forwarded_for: bool,
    trusted_proxy_hops: usize,
    max_form_bytes: usize,
    auth: AuthSettings,
    fanvue: RawFanvue,
    sync: SyncSettings,
    webhooks: RawWebhooks,
    #[serde(default)]
    inbox: RawRemoved,
    #[serde(default)]
    metrics: MetricsSettings,
}

#[derive(Debug, Deserialize)]
struct RawWebhooks {
    secret: Option<SecretString>,
    previous_secret: Option<SecretString>,
    previous_until: Option<String>,
    tolerance_secs: i64,
    max_attempts: i32,
    workers: usize,
    enabled: bool,
    intake_writers: usize,
    intake_batch: usize,
    apply_batch: usize,
}

/// Webhook intake and processing.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The signing secret Fanvue shows for the endpoint. Without it every
    /// delivery is refused (nothing unsigned is ever accepted).
    pub secret: Option<SecretString>,
    /// The secret before a rotation, accepted until `previous_until`.
    pub previous_secret: Option<(SecretString, chrono::DateTime<chrono::Utc>)>,
    /// Maximum |now − t| of a signature.
    pub tolerance_secs: i64,
    /// Attempts before an event is dead-lettered.
    pub max_attempts: i32,
    pub workers: usize,
    /// Process events in this instance.
    pub enabled: bool,
    /// Intake batch statements that may run at once (group commit).
    pub intake_writers: usize,
    /// Most deliveries stored by one intake statement.
    pub intake_batch: usize,
    /// Most events one processing round claims and applies together.
    pub apply_batch: usize,
}

/// `/metrics` (Prometheus). Off unless a token is set; scrapers send it as
/// `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetricsSettings {
    /// `SWITCHBOARD__METRICS__TOKEN`; at least 16 characters.
    pub token: Option<SecretString>,
}

/// Settings that moved out of the configuration. Read only to refuse them
/// at start-up, so an operator who set one learns where it went instead of
/// having it silently ignored.
#[derive(Debug, Default, Deserialize)]
struct RawRemoved {
    /// Now the agency's "Minimum PPV price" (Administration → Settings).
    min_ppv_price_cents: Option<serde::de::IgnoredAny>,
}

/// Mirror sync: scheduling and depth (DESIGN §5).
#[derive(Debug, Clone, Deserialize)]
pub struct SyncSettings {
    /// Run sync workers in this process (`serve`); off for web-only instances.
    pub enabled: bool,
    pub workers: usize,
    /// Periodic reconcile per creator.
    pub reconcile_interval_secs: u64,
    /// How far before the high-water mark reconcile starts (covers equal
    /// timestamps and late writes).
    pub overlap_secs: u64,
    /// Older history per chat, in messages (0 = only the newest 50).
    pub history_depth: u32,
    /// PPVs younger than this are re-read until bought (the fallback when
    /// the earnings feed cannot be read).
    pub purchase_horizon_hours: u64,
    /// How far before its high-water mark the earnings walk starts (lines
    /// that Fanvue publishes late, equal timestamps).
    pub earnings_overlap_secs: u64,
    /// A message line without `messageUuid` matches a PPV sent at most this
    /// long before it (fan + price + time).
    pub earnings_match_window_hours: u64,
    /// The spending feed (refunds, chargebacks) is walked at most this often.
    pub spending_interval_secs: u64,
    /// Chats per creator whose read state reconcile re-reads per run: chats
    /// holding unread outbound messages, least recently checked first (no
    /// webhook reports a fan reading the creator's message).
    pub read_refresh_chats: usize,
    pub lease_secs: u64,
    /// How often an idle worker looks for due work.
    pub poll_interval_ms: u64,
}

#[derive(Debug, Deserialize)]
struct RawFanvue {
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    api_url: String,
    auth_url: String,
    api_version: String,
    scopes: String,
    token_auth: TokenAuth,
    interactive_reserve_percent: u32,
    request_timeout_secs: u64,
}

/// How the token endpoint receives the client credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenAuth {
    /// HTTP Basic (what Fanvue's own starter app does).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// The OAuth app registered with Fanvue. Absent until an operator configures
/// one; connect pages then explain what is missing.
#[derive(Debug, Clone)]
pub struct FanvueApp {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Where and how to reach Fanvue. Pointing the two URLs at the simulator is
/// the only difference between a demo and production.
#[derive(Debug, Clone)]
pub struct FanvueSettings {
    pub app: Option<FanvueApp>,
    /// API base, e.g. `https://api.fanvue.com`.
    pub api_url: Url,
    /// OAuth base; `/oauth2/auth` and `/oauth2/token` live under it.
    pub auth_url: Url,
    pub api_version: String,
    pub scopes: Vec<String>,
    pub token_auth: TokenAuth,
    /// Share of each creator's rate-limit budget kept for chatters' sends.
    pub interactive_reserve_percent: u32,
    pub request_timeout: Duration,
}

impl FanvueSettings {
    pub fn authorize_endpoint(&self) -> String {
        format!(
            "{}/oauth2/auth",
            self.auth_url.as_str().trim_end_matches('/')
        )
    }
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/oauth2/token",
            self.auth_url.as_str().trim_end_matches('/')
        )
    }
}

/// Login, session and invitation policy.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// A session with no request for this long ends.
    pub session_idle_minutes: u64,
    /// A session ends this long after login, however active.
    pub session_absolute_hours: u64,
    /// Failed logins are counted over this window.
    pub throttle_window_secs: u64,
    pub max_failures_per_account: i64,
    pub max_failures_per_ip: i64,
    pub invite_ttl_hours: i64,
}

impl AuthSettings {
    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_minutes * 60)
    }
    pub fn absolute(&self) -> Duration {
        Duration::from_secs(self.session_absolute_hours * 3600)
    }
    pub fn throttle_window(&self) -> Duration {
        Duration::from_secs(self.throttle_window_secs)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: SecretString,
    pub secret_key: SecretKey,
    pub public_url: Url,
    pub host: String,
    pub port: u16,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Trust `X-Forwarded-For` for the client address (only behind a proxy
    /// that sets it; otherwise clients could dodge throttling).
    pub trust_forwarded_for: bool,
    /// How many proxies in front append to `X-Forwarded-For` (≥ 1; used only
    /// with `trust_forwarded_for`): the client is that many entries from the
    /// right.
    pub trusted_proxy_hops: usize,
    /// Largest accepted form body; larger requests get 413.
    pub max_form_bytes: usize,
    pub auth: AuthSettings,
    pub fanvue: FanvueSettings,
    pub sync: SyncSettings,
    pub webhooks: WebhookSettings,
    pub metrics: MetricsSettings,
}

impl Settings {
    /// Loads settings from defaults, the optional file and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_defaults(file, &[])
    }

    /// Like `load`, with extra defaults that the file and the environment
    /// still override (the demo's throwaway database and key).
    pub fn load_with_defaults(
        file: Option<&Path>,
        defaults: &[(&str, &str)],
    ) -> Result<Self, ConfigError> {
        let mut b = shipped_defaults()?;
        for (k, v) in defaults {
            b = b.set_default(*k, *v)?;
        }
        let file: Option<PathBuf> = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("SWITCHBOARD_CONFIG").map(PathBuf::from));
        match file {
            Some(path) => b = b.add_source(config::File::from(path).required(true)),
            None => b = b.add_source(config::File::with_name("switchboard").required(false)),
        }
        b = b.add_source(
            config::Environment::with_prefix("SWITCHBOARD")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        for (env, key) in PLAIN_ENV {
            if let Ok(v) = std::env::var(env)
                && *key != "config_file"
            {
                b = b.set_override(*key, v)?;
            }
        }
        let raw: Raw = b.build()?.try_deserialize()?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Self, ConfigError> {
        let database_url = raw.database_url.ok_or(ConfigError::Missing(
            "DATABASE_URL",
            "Set it to a Postgres URL, e.g. postgres://postgres@127.0.0.1:5432/switchboard",
        ))?;
        let parsed_db: PgConnectOptions = database_url
            .expose_secret()
            .parse()
            .map_err(|e: sqlx::Error| ConfigError::Malformed("DATABASE_URL", e.to_string()))?;
        drop(parsed_db);
        let secret = raw.secret_key.ok_or(ConfigError::Missing(
            "SWITCHBOARD_SECRET_KEY",
            "Generate one with `openssl rand -base64 32` and keep it stable: it encrypts stored tokens.",
        ))?;
        let secret_key = SecretKey::from_base64(secret.expose_secret())
            .map_err(|e| ConfigError::Malformed("SWITCHBOARD_SECRET_KEY", e.to_string()))?;
        let public_url = Url::parse(&raw.public_url)
            .map_err(|e| ConfigError::Malformed("PUBLIC_URL", e.to_string()))?;
        if !matches!(public_url.scheme(), "http" | "https") {
            return Err(ConfigError::Malformed(
                "PUBLIC_URL",
                "must start with http:// or https://".into(),
            ));
        }
        if public_url.scheme() == "https" && secret.expose_secret().trim() == EXAMPLE_SECRET_KEY {
            return Err(ConfigError::Malformed(
                "SWITCHBOARD_SECRET_KEY",
                "is the public example key from .env.example; generate your own for an https deployment".into(),
            ));
        }
        if raw.auth.session_idle_minutes == 0 || raw.auth.session_absolute_hours == 0 {
            return Err(ConfigError::Malformed(
                "auth session lifetimes",
                "must be greater than zero".into(),
            ));
        }
        let fanvue = Self::fanvue_from_raw(raw.fanvue)?;
        if raw.sync.lease_secs < 5 || raw.sync.workers == 0 && raw.sync.enabled {
            return Err(ConfigError::Malformed(
                "sync",
                "lease_secs must be ≥ 5 and workers ≥ 1".into(),
            ));
        }
        if raw.trusted_proxy_hops == 0 {
            return Err(ConfigError::Malformed(
                "trusted_proxy_hops",
                "must be ≥ 1 (turn trust_forwarded_for off to trust no proxy)".into(),
            ));
        }
        let webhooks = Self::webhooks_from_raw(raw.webhooks)?;
        if raw.inbox.min_ppv_price_cents.is_some() {
            return Err(ConfigError::Malformed(
                "inbox.min_ppv_price_cents",
                "is no longer a configuration setting: each agency sets its minimum PPV price on its settings page (Administration → Settings). Remove it.".into(),
            ));
        }
        let metrics = MetricsSettings {
            token: raw
                .metrics
                .token
                .filter(|t| !t.expose_secret().trim().is_empty()),
        };
        if metrics
            .token
            .as_ref()
            .is_some_and(|t| t.expose_secret().trim().chars().count() < 16)
        {
            return Err(ConfigError::Malformed(
                "SWITCHBOARD__METRICS__TOKEN",
                "must be at least 16 characters (generate one with `openssl rand -hex 24`)".into(),
            ));
        }
        Ok(Self {
            metrics,
            fanvue,
            webhooks,
            sync: raw.sync,
            database_url,
            secret_key,
            public_url,
            host: raw.host,
            port: raw.port,
            log_format: raw.log_format,
            log_filter: raw.log_filter,
            trust_forwarded_for: raw.trust_forwarded_for,
            trusted_proxy_hops: raw.trusted_proxy_hops,
            max_form_bytes: raw.max_form_bytes,
            auth: raw.auth,
        })
    }

    fn fanvue_from_raw(raw: RawFanvue) -> Result<FanvueSettings, ConfigError> {
        let url = |name: &'static str, v: &str| -> Result<Url, ConfigError> {
            let u = Url::parse(v).map_err(|e| ConfigError::Malformed(name, e.to_string()))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(ConfigError::Malformed(
                    name,
                    "must be an http(s) URL".into(),
                ));
            }
            Ok(u)
        };
        let client_id = raw.client_id.filter(|s| !s.trim().is_empty());
        let client_secret = raw
            .client_secret
            .filter(|s| !s.expose_secret().trim().is_empty());
        // The two belong together: one without the other is a mistake.
        let app = match (client_id, client_secret) {
            (Some(client_id), Some(client_secret)) => Some(FanvueApp {
                client_id,
                client_secret,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Missing(
                    "FANVUE_CLIENT_SECRET",
                    "It is required when FANVUE_CLIENT_ID is set.",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing(
                    "FANVUE_CLIENT_ID",
                    "It is required when FANVUE_CLIENT_SECRET is set.",
                ));
            }
        };
        let scopes: Vec<String> = raw.scopes.split_whitespace().map(str::to_owned).collect();
        if scopes.is_empty() {
            return Err(ConfigError::Malformed(
                "FANVUE_SCOPES",
                "lists no scope".into(),
            ));
        }
        if raw.interactive_reserve_percent > 90 {
            return Err(ConfigError::Malformed(
                "fanvue.interactive_reserve_percent",
                "must be at most 90".into(),
            ));
        }
        Ok(FanvueSettings {
            app,
            api_url: url("FANVUE_API_URL", &raw.api_url)?,
            auth_url: url("FANVUE_AUTH_URL", &raw.auth_url)?,
            api_version: raw.api_version,
            scopes,
            token_auth: raw.token_auth,
            interactive_reserve_percent: raw.interactive_reserve_percent,
            request_timeout: Duration::from_secs(raw.request_timeout_secs.max(1)),
        })
    }

    fn webhooks_from_raw(raw: RawWebhooks) -> Result<WebhookSettings, ConfigError> {
        let nonempty = |s: Option<SecretString>| s.filter(|s| !s.expose_secret().trim().is_empty());
        let previous = match (
            nonempty(raw.previous_secret),
            raw.previous_until.filter(|s| !s.trim().is_empty()),
        ) {
            (Some(secret), Some(until)) => {
                let until = chrono::DateTime::parse_from_rfc3339(until.trim()).map_err(|e| {
                    ConfigError::Malformed(
                        "FANVUE_WEBHOOK_PREVIOUS_UNTIL",
                        format!("not an RFC 3339 time: {e}"),
                    )
                })?;
                Some((secret, until.with_timezone(&chrono::Utc)))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Missing(
                    "FANVUE_WEBHOOK_PREVIOUS_UNTIL",
                    "Say until when the previous webhook secret stays valid (RFC 3339).",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing(
                    "FANVUE_WEBHOOK_PREVIOUS_SECRET",
                    "It is required with FANVUE_WEBHOOK_PREVIOUS_UNTIL.",
                ));
            }
        };
        Ok(WebhookSettings {
            secret: nonempty(raw.secret),
            previous_secret: previous,
            tolerance_secs: raw.tolerance_secs.max(1),
            max_attempts: raw.max_attempts.max(1),
            workers: raw.workers.max(1),
            enabled: raw.enabled,
            intake_writers: raw.intake_writers.clamp(1, 16),
            intake_batch: raw.intake_batch.clamp(1, 5_000),
            apply_batch: raw.apply_batch.clamp(1, 5_000),
        })
    }

    /// The OAuth redirect URI registered with Fanvue.
    pub fn oauth_redirect_uri(&self) -> String {
        self.public_link("/connect/fanvue/callback")
    }

    /// Cookies get `Secure` when the public address is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    pub fn connect_options(&self) -> Result<PgConnectOptions, ConfigError> {
        let opts: PgConnectOptions = self
            .database_url
            .expose_secret()
            .parse()
            .map_err(|e: sqlx::Error| ConfigError::Malformed("DATABASE_URL", e.to_string()))?;
        // Every query here is short and indexed; Postgres's JIT compiles the
        // costlier-looking ones (a month of dashboard rollups) for longer
        // than they run (measured: 157 ms without, 424 ms with).
        Ok(opts.options([("jit", "off")]))
    }

    /// An absolute URL under `PUBLIC_URL` (invite links, OAuth redirects).
    pub fn public_link(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

/// The shipped defaults: every setting except the database URL and the
/// secret key has one here, and nowhere else.
fn shipped_defaults()
-> Result<config::builder::ConfigBuilder<config::builder::DefaultState>, ConfigError> {
    Ok(config::Config::builder()
        .set_default("public_url", "http://127.0.0.1:8080")?
        .set_default("host", "127.0.0.1")?
        .set_default("port", 8080)?
        .set_default("log_format", "text")?
        .set_default("log_filter", "info,sqlx=warn")?
        .set_default("trust_forwarded_for", false)?
        .set_default("trusted_proxy_hops", 1)?
        .set_default("max_form_bytes", 64 * 1024)?
        .set_default("auth.session_idle_minutes", 120)?
        .set_default("auth.session_absolute_hours", 12)?
        .set_default("auth.throttle_window_secs", 900)?
        .set_default("auth.max_failures_per_account", 5)?
        .set_default("auth.max_failures_per_ip", 30)?
        .set_default("auth.invite_ttl_hours", 72)?
        .set_default("fanvue.api_url", "https://api.fanvue.com")?
        .set_default("fanvue.auth_url", "https://auth.fanvue.com")?
        .set_default("fanvue.api_version", "2025-06-26")?
        .set_default("fanvue.scopes", DEFAULT_SCOPES)?
        .set_default("fanvue.token_auth", "basic")?
        .set_default("fanvue.interactive_reserve_percent", 20)?
        .set_default("fanvue.request_timeout_secs", 20)?
        .set_default("sync.enabled", true)?
        .set_default("sync.workers", 2)?
        .set_default("sync.reconcile_interval_secs", 300)?
        .set_default("sync.overlap_secs", 120)?
        .set_default("sync.history_depth", 1000)?
        .set_default("sync.purchase_horizon_hours", 72)?
        .set_default("sync.earnings_overlap_secs", 3600)?
        .set_default("sync.earnings_match_window_hours", 720)?
        .set_default("sync.spending_interval_secs", 3600)?
        .set_default("sync.read_refresh_chats", 100)?
        .set_default("sync.lease_secs", 60)?
        .set_default("sync.poll_interval_ms", 1000)?
        .set_default("webhooks.tolerance_secs", 300)?
        .set_default("webhooks.max_attempts", 8)?
        .set_default("webhooks.workers", 1)?
        .set_default("webhooks.enabled", true)?
        .set_default("webhooks.intake_writers", 2)?
        .set_default("webhooks.intake_batch", 256)?
        .set_default("webhooks.apply_batch", 500)?)
}

/// Settings for integration tests and benchmarks: the shipped defaults
/// (through the same validation as `load`), never a file or the
/// environment, and only these overrides:
/// - the given database and a fixed, non-example secret key;
/// - port 0, so parallel apps never collide;
/// - Fanvue URLs pointing at a closed local port, so nothing can reach the
///   real Fanvue by accident (tests point them at the simulator);
/// - no background sync or webhook workers: tests and benches drive each
///   step themselves, so results do not depend on timing.
impl Settings {
    pub fn for_tests(database_url: &str) -> Self {
        const TEST_KEY: &str = "c3dpdGNoYm9hcmQtdGVzdC1rZXktMzItYnl0ZXMhISE=";
        let overrides: [(&str, &str); 7] = [
            ("database_url", database_url),
            ("secret_key", TEST_KEY),
            ("port", "0"),
            ("fanvue.api_url", "http://127.0.0.1:9"),
            ("fanvue.auth_url", "http://127.0.0.1:9"),
            ("sync.enabled", "false"),
            ("webhooks.enabled", "false"),
        ];
        let build = || -> Result<Self, ConfigError> {
            let mut b = shipped_defaults()?;
            for (k, v) in overrides {
                b = b.set_override(k, v)?;
            }
            Self::from_raw(b.build()?.try_deserialize()?)
        };
        build().expect("the shipped defaults with test overrides are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn raw() -> Raw {
        Raw {
            database_url: Some("postgres://postgres@127.0.0.1/x".to_owned().into()),
            secret_key: Some(
                base64::engine::general_purpose::STANDARD
                    .encode([7u8; 32])
                    .into(),
            ),
            public_url: "http://127.0.0.1:8080".into(),
            host: "127.0.0.1".into(),
            port: 8080,
            log_format: LogFormat::Text,
            log_filter: "info".into(),
            trust_forwarded_for: false,
            trusted_proxy_hops: 1,
            max_form_bytes: 1024,
            auth: AuthSettings {
                session_idle_minutes: 1,
                session_absolute_hours: 1,
                throttle_window_secs: 1,
                max_failures_per_account: 1,
                max_failures_per_ip: 1,
                invite_ttl_hours: 1,
            },
            fanvue: RawFanvue {
                client_id: None,
                client_secret: None,
                api_url: "https://api.fanvue.com".into(),
                auth_url: "https://auth.fanvue.com".into(),
                api_version: "2025-06-26".into(),
                scopes: DEFAULT_SCOPES.into(),
                token_auth: TokenAuth::Basic,
                interactive_reserve_percent: 20,
                request_timeout_secs: 20,
            },
            webhooks: RawWebhooks {
                secret: None,
                previous_secret: None,
                previous_until: None,
                tolerance_secs: 300,
                max_attempts: 8,
                workers: 1,
                enabled: true,
                intake_writers: 2,
                intake_batch: 256,
                apply_batch: 500,
            },
            sync: SyncSettings {
                enabled: true,
                workers: 1,
                reconcile_interval_secs: 300,
                overlap_secs: 120,
                history_depth: 1000,
                purchase_horizon_hours: 72,
                earnings_overlap_secs: 3600,
                earnings_match_window_hours: 720,
                spending_interval_secs: 3600,
                read_refresh_chats: 100,
                lease_secs: 60,
                poll_interval_ms: 1000,
            },
            inbox: RawRemoved::default(),
            metrics: MetricsSettings::default(),
        }
    }

    #[test]
    fn fanvue_client_id_and_secret_go_together() {
        let mut r = raw();
        r.fanvue.client_id = Some("abc".into());
        let err = Settings::from_raw(r).unwrap_err().to_string();
        assert!(err.starts_with("FANVUE_CLIENT_SECRET is not set"), "{err}");
        let mut r = raw();
        r.fanvue.client_id = Some("abc".into());
        r.fanvue.client_secret = Some("s3cret-value".to_owned().into());
        let s = Settings::from_raw(r).unwrap();
        assert_eq!(s.fanvue.app.as_ref().unwrap().client_id, "abc");
        assert!(!format!("{s:?}").contains("s3cret-value"));
        assert_eq!(
            s.fanvue.token_endpoint(),
            "https://auth.fanvue.com/oauth2/token"
        );
        assert!(s.fanvue.scopes.contains(&"offline_access".to_owned()));
    }

    #[test]
    fn missing_secret_names_the_variable() {
        let mut r = raw();
        r.secret_key = None;
        let err = Settings::from_raw(r).unwrap_err().to_string();
        assert!(
            err.starts_with("SWITCHBOARD_SECRET_KEY is not set"),
            "{err}"
        );
    }

    #[test]
    fn short_secret_is_malformed() {
        let mut r = raw();
        r.secret_key = Some(
            base64::engine::general_purpose::STANDARD
                .encode([1u8; 16])
                .into(),
        );
        let err = Settings::from_raw(r).unwrap_err().to_string();
        assert!(err.contains("decodes to 16 bytes"), "{err}");
        let mut r = raw();
        r.secret_key = Some("not base64 !!".to_owned().into());
        assert!(
            Settings::from_raw(r)
                .unwrap_err()
                .to_string()
                .contains("base64")
        );
    }

    #[test]
    fn example_key_refused_over_https() {
        let mut r = raw();
        r.secret_key = Some(EXAMPLE_SECRET_KEY.to_owned().into());
        r.public_url = "https://crm.example.com".into();
        assert!(Settings::from_raw(r).is_err());
    }

    #[test]
    fn the_moved_minimum_ppv_price_is_refused_with_directions() {
        let mut r = raw();
        r.inbox.min_ppv_price_cents = Some(serde::de::IgnoredAny);
        let err = Settings::from_raw(r).unwrap_err().to_string();
        assert!(err.contains("settings page"), "{err}");
        assert!(Settings::from_raw(raw()).is_ok());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = Settings::from_raw(raw()).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("postgres://"), "{dbg}");
        assert!(dbg.contains("REDACTED"), "{dbg}");
        assert!(!s.secure_cookies());
    }

    #[test]
    fn test_settings_keep_the_shipped_defaults() {
        let s = Settings::for_tests("postgres://postgres@127.0.0.1/x");
        assert_eq!(s.sync.lease_secs, 60);
        assert_eq!(s.sync.poll_interval_ms, 1000);
        assert_eq!(s.webhooks.max_attempts, 8);
        assert_eq!(s.auth.session_idle_minutes, 120);
        assert_eq!(s.port, 0);
        assert!(!s.sync.enabled && !s.webhooks.enabled);
        assert!(s.webhooks.secret.is_none() && s.fanvue.app.is_none());
    }
}
