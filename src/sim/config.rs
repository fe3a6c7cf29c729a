//! Simulator configuration: every knob with its default, buildable in code
//! (`SimConfig::default()` plus field updates) or loaded from a TOML/JSON scenario file.
//! Defaults follow the Fanvue docs; where the docs are silent the default is documented
//! in `docs/SIMULATOR.md` and can be changed here.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Who may use the control and truth API under [`SimConfig::control_prefix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SimMode {
    /// Control API on; used by the test suite.
    #[default]
    Test,
    /// Control API on; used by the demo.
    Demo,
    /// Control API off: only what Fanvue itself exposes.
    Plain,
}

/// Top-level simulator configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Interface to bind; loopback only by design.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Seed for the world generator and the live driver.
    pub seed: u64,
    pub mode: SimMode,
    /// Path prefix of the Fanvue API routes ("" = served at the root like api.fanvue.com).
    pub api_base_path: String,
    /// Reserved prefix of the control and truth API.
    pub control_prefix: String,
    /// Simulated "now" when the simulator starts; history ends here. Fixed by default so
    /// that the same seed yields the same ground truth.
    pub epoch: DateTime<Utc>,
    /// HTTP worker threads (0 = number of CPUs).
    pub workers: usize,
    pub oauth: OAuthConfig,
    pub api: ApiConfig,
    pub rate_limit: RateLimitConfig,
    pub webhooks: WebhookConfig,
    pub scenario: ScenarioConfig,
    pub live: LiveConfig,
    pub faults: super::faults::Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            seed: 1,
            mode: SimMode::Test,
            api_base_path: String::new(),
            control_prefix: "/_sim".into(),
            epoch: default_epoch(),
            workers: 2,
            oauth: OAuthConfig::default(),
            api: ApiConfig::default(),
            rate_limit: RateLimitConfig::default(),
            webhooks: WebhookConfig::default(),
            scenario: ScenarioConfig::default(),
            live: LiveConfig::default(),
            faults: super::faults::Faults::default(),
        }
    }
}

fn default_epoch() -> DateTime<Utc> {
    // 2026-01-01T00:00:00Z; a constant keeps generated history reproducible.
    Utc.timestamp_opt(1_767_225_600, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Errors while reading a scenario file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read scenario file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid TOML scenario {path}")]
    Toml {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid JSON scenario {path}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl SimConfig {
    /// Loads a scenario file (`.json` is JSON, anything else TOML). Missing keys keep defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            serde_json::from_str(&text).map_err(|source| ConfigError::Json {
                path: shown,
                source,
            })
        } else {
            toml::from_str(&text).map_err(|source| ConfigError::Toml {
                path: shown,
                source,
            })
        }
    }

    /// True when the control and truth API is mounted.
    pub fn control_enabled(&self) -> bool {
        self.mode != SimMode::Plain
    }
}

/// The OAuth application registered with the simulated Fanvue, and token policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Exact-match list; empty means any `http://127.0.0.1…`/`http://localhost…` URI is
    /// registered on first use (handy for demos), which Fanvue never does.
    pub redirect_uris: Vec<String>,
    /// Scopes the app is allowed to request.
    pub allowed_scopes: Vec<String>,
    pub access_token_ttl_secs: i64,
    pub code_ttl_secs: i64,
    /// When set, `/oauth2/auth` skips the consent page and this user (a creator or team
    /// member uuid, or a handle) approves at once.
    pub auto_approve: Option<String>,
    /// Accept `client_secret` in the form body as well as HTTP Basic (unconfirmed upstream).
    pub allow_client_secret_in_body: bool,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            redirect_uris: Vec::new(),
            allowed_scopes: [
                "openid",
                "offline_access",
                "offline",
                "read:self",
                "read:chat",
                "write:chat",
                "read:fan",
                "read:creator",
                "write:creator",
                "read:media",
                "write:media",
                "read:post",
                "write:post",
                "read:insights",
                "read:tracking_links",
                "write:tracking_links",
                "read:agency",
                "write:agency",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            access_token_ttl_secs: 3600,
            code_ttl_secs: 600,
            auto_approve: None,
            allow_client_secret_in_body: true,
        }
    }
}

/// API-level behaviour where the docs leave room.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    pub current_version: String,
    /// Versions answered with 410 and `nextVersion`.
    pub sunset_versions: Vec<String>,
    /// Date quoted in the 410 message.
    pub sunset_date: String,
    /// Fire `message.read` when an API call (markAsRead, PATCH isRead) marks fan messages read.
    pub read_webhook_on_api_reads: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            current_version: "2025-06-26".into(),
            sunset_versions: vec!["2024-01-01".into()],
            sunset_date: "2024-12-31T00:00:00.000Z".into(),
            read_webhook_on_api_reads: true,
        }
    }
}

/// Token-bucket limits, keyed `client:user[:creator]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub limit: u32,
    /// Window after which a bucket refills to full, in milliseconds.
    pub window_ms: u64,
    /// Per-endpoint limits keyed by route name as counted in the stats (e.g.
    /// `"GET /chats/unread" = 80`); such routes get their own bucket per key.
    pub overrides: std::collections::BTreeMap<String, u32>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            limit: 200,
            window_ms: 60_000,
            overrides: std::collections::BTreeMap::new(),
        }
    }
}

/// Webhook signing and delivery policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    pub signing_secret: String,
    /// Name of the optional topic header (e.g. `X-Fanvue-Topic`); `None` = not sent.
    pub topic_header: Option<String>,
    /// Name of the optional event-id header; `None` = not sent.
    pub event_id_header: Option<String>,
    /// Total attempts per delivery including the first.
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub backoff_factor: u32,
    pub timeout_ms: u64,
    /// Maximum delivery-log rows kept (oldest dropped first).
    pub log_capacity: usize,
    /// Endpoints registered at start: `{url, events}` (empty events = all).
    pub endpoints: Vec<EndpointConfig>,
    /// Deliver only for creators covered by an active grant (the creator's own, or a team
    /// member's who manages them); message events also need `read:chat`. Fanvue behaves
    /// this way; off by default so demos see events before anyone connects.
    pub require_grant: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            signing_secret: "sim-webhook-secret".into(),
            topic_header: None,
            event_id_header: None,
            max_attempts: 5,
            initial_backoff_ms: 500,
            backoff_factor: 2,
            timeout_ms: 5_000,
            log_capacity: 10_000,
            endpoints: Vec::new(),
            require_grant: false,
        }
    }
}

/// A webhook endpoint registered from configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
}

/// What the seeded world contains.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScenarioConfig {
    pub agencies: usize,
    pub creators: usize,
    pub fans_per_creator: usize,
    pub team_members_per_agency: usize,
    /// Messages per chat at the epoch.
    pub messages_per_chat: usize,
    /// History spreads over this many days before the epoch.
    pub history_days: u32,
    /// Share of outgoing messages that are pay-to-view.
    pub ppv_share: f64,
    /// PPV prices in cents (each ≥ 300), picked uniformly.
    pub ppv_prices: Vec<u32>,
    pub purchase_probability: f64,
    /// Purchase happens this many seconds after the PPV at most (uniform from 60 s).
    pub purchase_max_delay_secs: u64,
    /// Share of fan messages followed by a tip on that message.
    pub tip_share: f64,
    pub tip_amounts: Vec<u32>,
    /// Share of outgoing messages that are automated.
    pub automated_share: f64,
    /// Share of messages with media and no text.
    pub media_only_share: f64,
    /// Share of outgoing messages sent by a team member (`sentByUserId`).
    pub team_member_share: f64,
    /// Share of fans who cannot be messaged (send → 400 contactability).
    pub uncontactable_share: f64,
    pub templates_per_creator: usize,
    pub custom_lists_per_creator: usize,
    /// Hostile input (see `sim::hostile`): markup, RTL overrides, zero-width joiners, a
    /// 5,000-character word and emoji in some fans' names and in some messages. Off by default.
    pub hostile_names: bool,
    /// Monthly subscription price in cents: each subscribed fan yields a `subscription`
    /// earnings line at `subscribedAt` and a `renewal` line every 30 days after.
    pub subscription_price_cents: u32,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        Self {
            agencies: 1,
            creators: 3,
            fans_per_creator: 20,
            team_members_per_agency: 3,
            messages_per_chat: 30,
            history_days: 30,
            ppv_share: 0.15,
            ppv_prices: vec![500, 999, 1500, 2500],
            purchase_probability: 0.4,
            purchase_max_delay_secs: 6 * 3600,
            tip_share: 0.03,
            tip_amounts: vec![300, 500, 1000, 2000],
            automated_share: 0.05,
            media_only_share: 0.05,
            team_member_share: 0.6,
            uncontactable_share: 0.05,
            templates_per_creator: 5,
            custom_lists_per_creator: 2,
            hostile_names: false,
            subscription_price_cents: 999,
        }
    }
}

/// Live activity after start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Activity events per second generated in the background (0 = off; use `tick`/
    /// `generate_activity` from tests instead).
    pub events_per_sec: f64,
    /// Probability that a live step creates a new fan (follower or subscriber).
    pub new_fan_share: f64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            events_per_sec: 0.0,
            new_fan_share: 0.02,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_scenario_overrides_only_given_keys() {
        let cfg: SimConfig = toml::from_str(
            "seed = 7\n[scenario]\ncreators = 5\n[rate_limit]\nlimit = 10\nwindow_ms = 1000\n",
        )
        .unwrap();
        assert_eq!(cfg.seed, 7);
        assert_eq!(cfg.scenario.creators, 5);
        assert_eq!(cfg.scenario.fans_per_creator, 20);
        assert_eq!(cfg.rate_limit.limit, 10);
        assert_eq!(cfg.oauth.access_token_ttl_secs, 3600);
    }

    #[test]
    fn json_scenario_parses_and_plain_mode_disables_control() {
        let cfg: SimConfig = serde_json::from_str(r#"{"mode":"plain","port":9}"#).unwrap();
        assert_eq!(cfg.port, 9);
        assert!(!cfg.control_enabled());
        assert!(SimConfig::default().control_enabled());
    }

    #[test]
    fn from_file_reads_json_and_toml_and_reports_bad_files() {
        let dir = std::env::temp_dir().join(format!("sim-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json = dir.join("s.json");
        std::fs::write(&json, r#"{"seed": 11, "scenario": {"creators": 4}}"#).unwrap();
        let toml_path = dir.join("s.toml");
        std::fs::write(&toml_path, "seed = 12\n[live]\nevents_per_sec = 2.5\n").unwrap();
        let a = SimConfig::from_file(&json).unwrap();
        assert_eq!((a.seed, a.scenario.creators), (11, 4));
        let b = SimConfig::from_file(&toml_path).unwrap();
        assert_eq!((b.seed, b.live.events_per_sec), (12, 2.5));
        std::fs::write(&toml_path, "no_such_key = 1\n").unwrap();
        assert!(matches!(
            SimConfig::from_file(&toml_path),
            Err(ConfigError::Toml { .. })
        ));
        assert!(matches!(
            SimConfig::from_file(&dir.join("missing.toml")),
            Err(ConfigError::Read { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn documented_example_scenario_parses() {
        let doc = include_str!("../../docs/SIMULATOR.md");
        let block = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap();
        let cfg: SimConfig = toml::from_str(block).unwrap();
        assert_eq!(cfg.seed, 42);
        assert_eq!(cfg.mode, SimMode::Demo);
        assert_eq!(cfg.webhooks.endpoints.len(), 1);
        assert_eq!(cfg.webhooks.topic_header.as_deref(), Some("X-Fanvue-Topic"));
    }
}
