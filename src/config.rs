//! Settings, layered: built-in defaults, then an optional TOML file, then
//! environment variables (`SWITCHBOARD__SECTION__KEY`, plus the documented
//! plain names such as `DATABASE_URL`). Secrets are wrapped so that `Debug`
//! and logs never show them; a missing or malformed secret stops start-up
//! with a message naming the variable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;
use url::Url;

/// The plain environment names documented in the README, mapped to their
/// keys in the layered configuration.
const PLAIN_ENV: &[(&str, &str)] = &[
    ("DATABASE_URL", "database_url"),
    ("SWITCHBOARD_SECRET_KEY", "secret_key"),
    ("PUBLIC_URL", "public_url"),
    ("SWITCHBOARD_CONFIG", "config_file"),
    ("LOG_FORMAT", "log_format"),
];

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

/// The 32-byte installation key (token encryption, cookie keys).
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn from_base64(s: &str) -> Result<Self, ConfigError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| {
                ConfigError::Malformed(
                    "SWITCHBOARD_SECRET_KEY",
                    "expected base64 of 32 random bytes (try `openssl rand -base64 32`)".into(),
                )
            })?;
        let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            ConfigError::Malformed(
                "SWITCHBOARD_SECRET_KEY",
                format!("decodes to {} bytes, expected exactly 32", b.len()),
            )
        })?;
        Ok(Self(arr))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Derives a purpose-specific subkey, so the cookie key and the token
    /// encryption key are never the same bytes.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
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
    max_form_bytes: usize,
    auth: AuthSettings,
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
    /// Largest accepted form body; larger requests get 413.
    pub max_form_bytes: usize,
    pub auth: AuthSettings,
}

impl Settings {
    /// Loads settings from defaults, the optional file and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut b = config::Config::builder()
            .set_default("public_url", "http://127.0.0.1:8080")?
            .set_default("host", "127.0.0.1")?
            .set_default("port", 8080)?
            .set_default("log_format", "text")?
            .set_default("log_filter", "info,sqlx=warn")?
            .set_default("trust_forwarded_for", false)?
            .set_default("max_form_bytes", 64 * 1024)?
            .set_default("auth.session_idle_minutes", 120)?
            .set_default("auth.session_absolute_hours", 12)?
            .set_default("auth.throttle_window_secs", 900)?
            .set_default("auth.max_failures_per_account", 5)?
            .set_default("auth.max_failures_per_ip", 30)?
            .set_default("auth.invite_ttl_hours", 72)?;
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
        let secret_key = SecretKey::from_base64(secret.expose_secret())?;
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
        Ok(Self {
            database_url,
            secret_key,
            public_url,
            host: raw.host,
            port: raw.port,
            log_format: raw.log_format,
            log_filter: raw.log_filter,
            trust_forwarded_for: raw.trust_forwarded_for,
            max_form_bytes: raw.max_form_bytes,
            auth: raw.auth,
        })
    }

    /// Cookies get `Secure` when the public address is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    pub fn connect_options(&self) -> Result<PgConnectOptions, ConfigError> {
        self.database_url
            .expose_secret()
            .parse()
            .map_err(|e: sqlx::Error| ConfigError::Malformed("DATABASE_URL", e.to_string()))
    }

    /// An absolute URL under `PUBLIC_URL` (invite links, OAuth redirects).
    pub fn public_link(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            max_form_bytes: 1024,
            auth: AuthSettings {
                session_idle_minutes: 1,
                session_absolute_hours: 1,
                throttle_window_secs: 1,
                max_failures_per_account: 1,
                max_failures_per_ip: 1,
                invite_ttl_hours: 1,
            },
        }
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
    fn debug_output_hides_secrets() {
        let s = Settings::from_raw(raw()).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("postgres://"), "{dbg}");
        assert!(dbg.contains("REDACTED"), "{dbg}");
        assert!(!s.secure_cookies());
    }
}
