//! Fanvue simulator: a seeded, fault-injecting stand-in for the parts of Fanvue's API,
//! OAuth server and webhooks that Switchboard uses. Used by tests, the demo and benchmarks;
//! product request paths never depend on it. The same [`start`] serves the CLI
//! (`switchboard sim`) and in-process use. See `docs/SIMULATOR.md`.

mod api;
pub mod clock;
pub mod config;
mod control;
pub mod earnings;
pub mod events;
pub mod faults;
pub mod hostile;
pub mod library;
pub mod oauth;
pub mod rate_limit;
pub mod render;
pub mod scenario;
pub mod state;
pub mod webhooks;
pub mod world;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use tokio::task::JoinHandle;

pub use config::{SimConfig, SimMode};
pub use events::EventKind;
pub use faults::{Faults, FaultsPatch};
pub use oauth::TokenResponse;
pub use state::{HookError, Sim, Stats};
pub use webhooks::{DeliveryRecord, sign as sign_webhook, signature_header};

/// `switchboard sim` arguments. Flags override the scenario file, which overrides defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Interface to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// World seed (same seed ⇒ same world).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenario file (TOML, or JSON when it ends in .json).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// test | demo (control API on) or plain (Fanvue surface only).
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<SimMode>,
    /// Background activity, events per second (0 = off).
    #[arg(long)]
    pub live_rate: Option<f64>,
    /// End history at the real current time instead of the fixed epoch.
    #[arg(long)]
    pub epoch_now: bool,
    /// Skip the consent page: this creator/team member (uuid or handle) approves.
    #[arg(long)]
    pub auto_approve: Option<String>,
    /// Requests per bucket per window.
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Rate-limit window in milliseconds.
    #[arg(long)]
    pub rate_window_ms: Option<u64>,
    /// Access-token lifetime in seconds.
    #[arg(long)]
    pub token_ttl: Option<i64>,
    /// Webhook endpoint URL receiving every event (repeatable).
    #[arg(long = "webhook")]
    pub webhooks: Vec<String>,
}

fn parse_mode(s: &str) -> Result<SimMode, String> {
    match s {
        "test" => Ok(SimMode::Test),
        "demo" => Ok(SimMode::Demo),
        "plain" => Ok(SimMode::Plain),
        _ => Err("mode must be test, demo or plain".into()),
    }
}

impl SimArgs {
    /// Resolves the effective configuration.
    pub fn to_config(&self) -> anyhow::Result<SimConfig> {
        let mut c = match &self.scenario {
            Some(p) => SimConfig::from_file(p)?,
            None => SimConfig {
                mode: SimMode::Demo,
                ..SimConfig::default()
            },
        };
        c.port = self.port;
        c.host = self.host.clone();
        if let Some(s) = self.seed {
            c.seed = s;
        }
        if let Some(m) = self.mode {
            c.mode = m;
        }
        if let Some(r) = self.live_rate {
            c.live.events_per_sec = r;
        }
        if self.epoch_now {
            c.epoch = chrono::Utc::now();
        }
        if let Some(a) = &self.auto_approve {
            c.oauth.auto_approve = Some(a.clone());
        }
        if let Some(l) = self.rate_limit {
            c.rate_limit.limit = l;
        }
        if let Some(w) = self.rate_window_ms {
            c.rate_limit.window_ms = w;
        }
        if let Some(t) = self.token_ttl {
            c.oauth.access_token_ttl_secs = t;
        }
        for url in &self.webhooks {
            c.webhooks.endpoints.push(config::EndpointConfig {
                url: url.clone(),
                events: Vec::new(),
            });
        }
        Ok(c)
    }
}

/// A running simulator. Dropping it does not stop the server; call [`SimHandle::stop`].
pub struct SimHandle {
    sim: Arc<Sim>,
    base_url: String,
    server: actix_web::dev::ServerHandle,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts the simulator on `config.host:config.port` (0 = random port) and returns once
/// it accepts connections.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .with_context(|| format!("binding simulator to {}:{}", config.host, config.port))?;
    let addr = listener.local_addr().context("reading bound address")?;
    let base_url = format!("http://{addr}");
    let workers = if config.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        config.workers
    };
    let sim = Arc::new(Sim::new(config));
    let _ = sim.base_url.set(base_url.clone());
    let data = web::Data::from(sim.clone());
    let server = HttpServer::new(move || {
        let cfg = &data.config;
        let mut app = App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(1 << 20))
            .route("/oauth2/auth", web::get().to(oauth::authorize))
            .route("/oauth2/auth/decision", web::post().to(oauth::decision))
            .route("/oauth2/token", web::post().to(oauth::token));
        if cfg.control_enabled() {
            let prefix = cfg.control_prefix.clone();
            app = app.configure(|c| control::configure(c, &prefix));
        }
        let base = cfg.api_base_path.clone();
        app.configure(|c| api::configure(c, &base))
            .default_service(web::to(|| async {
                HttpResponse::NotFound().json(serde_json::json!({"message": "Not Found"}))
            }))
    })
    .workers(workers)
    .disable_signals()
    .listen(listener)
    .context("starting HTTP server")?
    .run();
    let server_handle = server.handle();
    let mut tasks = vec![tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "simulator server stopped with an error");
        }
    })];
    tasks.push(webhooks::Webhooks::spawn_worker(sim.clone()));
    tasks.push(tokio::spawn(ticker(sim.clone())));
    if sim.config.live.events_per_sec > 0.0 {
        tasks.push(tokio::spawn(live(sim.clone())));
    }
    tracing::info!(base_url = %base_url, "fanvue simulator listening");
    Ok(SimHandle {
        sim,
        base_url,
        server: server_handle,
        tasks,
    })
}

/// Fires scheduled purchases as simulated time passes.
async fn ticker(sim: Arc<Sim>) {
    let mut iv = tokio::time::interval(Duration::from_millis(500));
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        iv.tick().await;
        sim.tick();
    }
}

/// Background live activity at the configured rate.
async fn live(sim: Arc<Sim>) {
    let rate = sim.config.live.events_per_sec;
    let period = Duration::from_secs_f64((1.0 / rate).clamp(0.001, 3600.0));
    let mut iv = tokio::time::interval(period);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        iv.tick().await;
        sim.generate_activity(1);
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` — OAuth lives at `/oauth2/*`, control at the control prefix.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    /// Base URL of the Fanvue API routes (base URL + configured API base path).
    pub fn api_base_url(&self) -> String {
        format!("{}{}", self.base_url, self.sim.config.api_base_path)
    }
    /// Base URL of the authorization server (`{auth}/oauth2/auth`, `{auth}/oauth2/token`).
    pub fn auth_base_url(&self) -> &str {
        &self.base_url
    }
    pub fn authorize_url(&self) -> String {
        format!("{}/oauth2/auth", self.base_url)
    }
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.base_url)
    }
    /// Control and truth API base (`None` in plain mode).
    pub fn control_url(&self) -> Option<String> {
        self.sim
            .config
            .control_enabled()
            .then(|| format!("{}{}", self.base_url, self.sim.config.control_prefix))
    }
    pub fn client_id(&self) -> &str {
        &self.sim.config.oauth.client_id
    }
    pub fn client_secret(&self) -> &str {
        &self.sim.config.oauth.client_secret
    }
    pub fn webhook_secret(&self) -> &str {
        &self.sim.config.webhooks.signing_secret
    }
    pub fn api_version(&self) -> &str {
        &self.sim.config.api.current_version
    }
    /// Direct access to the shared state (world lock, stores, counters).
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }

    pub fn faults(&self) -> Faults {
        self.sim.faults.get()
    }
    pub fn set_faults(&self, f: Faults) {
        self.sim.faults.set(f);
    }
    pub fn patch_faults(&self, p: FaultsPatch) -> Faults {
        self.sim.faults.patch(p)
    }

    pub fn stats(&self) -> Stats {
        self.sim.stats.lock().clone()
    }
    /// Clears counters and refills every rate-limit bucket.
    pub fn reset_stats(&self) {
        *self.sim.stats.lock() = Stats::default();
        self.sim.limiter.reset();
    }

    /// Moves simulated time forward (token expiry, due purchases) and runs due work.
    pub fn advance_clock(&self, by: Duration) {
        self.sim.clock.advance_ms(by.as_millis() as i64);
        self.sim.tick();
    }
    pub fn freeze_clock(&self, frozen: bool) {
        self.sim.clock.set_frozen(frozen);
    }
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.sim.clock.now()
    }

    /// Ground truth: chats, messages, purchases, tips (see `docs/SIMULATOR.md`).
    pub fn truth(&self) -> serde_json::Value {
        self.sim.truth()
    }

    pub fn register_webhook(&self, url: &str, events: &[EventKind]) -> u64 {
        self.sim.webhooks.register(url.to_string(), events.to_vec())
    }
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.sim.webhooks.deliveries()
    }

    /// Sets (or clears) the user who auto-approves the consent page. Errors on unknown users.
    pub fn set_auto_approve(&self, who: Option<&str>) -> anyhow::Result<()> {
        let id = match who {
            Some(w) => Some(
                self.sim
                    .resolve_user(w)
                    .with_context(|| format!("unknown simulated user {w}"))?,
            ),
            None => None,
        };
        self.sim.oauth.lock().auto_approve = id;
        Ok(())
    }
    /// Revokes the grants of one user (uuid or handle) or of everyone. Returns the count.
    pub fn revoke_tokens(&self, who: Option<&str>) -> usize {
        let id = who.and_then(|w| self.sim.resolve_user(w));
        if who.is_some() && id.is_none() {
            return 0;
        }
        self.sim.oauth.lock().revoke(id)
    }
    /// Issues tokens for a user without the browser flow.
    pub fn issue_token(&self, who: &str, scopes: &[&str]) -> Option<TokenResponse> {
        self.sim
            .resolve_user(who)
            .map(|u| self.sim.issue_token(u, scopes))
    }

    /// Uuids of the simulated creators, in generation order.
    pub fn creator_uuids(&self) -> Vec<uuid::Uuid> {
        let w = self.sim.world.read();
        w.creators.iter().map(|c| w.user(*c).uuid).collect()
    }
    /// Uuids of team members; the first of each agency is its admin.
    pub fn team_member_uuids(&self) -> Vec<uuid::Uuid> {
        let w = self.sim.world.read();
        w.agencies
            .iter()
            .flat_map(|a| a.members.iter().map(|m| w.user(*m).uuid))
            .collect()
    }
    /// Fans (chat counterparts) of a creator, newest activity first.
    pub fn fan_uuids(&self, creator: &uuid::Uuid) -> Vec<uuid::Uuid> {
        let w = self.sim.world.read();
        let Some(c) = w.user_id(creator) else {
            return Vec::new();
        };
        w.creator_data
            .get(&c)
            .map(|cd| {
                cd.by_recent
                    .iter()
                    .map(|(_, chat)| w.user(w.chats[*chat as usize].fan).uuid)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs due scheduled work now. Returns webhook events sent.
    pub fn tick(&self) -> usize {
        self.sim.tick()
    }
    /// Generates `n` live activity steps now. Returns webhook events sent.
    pub fn generate_activity(&self, n: usize) -> usize {
        self.sim.generate_activity(n)
    }

    /// Fan says `text` to `creator` now (message + `message.received` webhook). Returns
    /// the new message's uuid.
    pub fn fan_says(
        &self,
        creator: &uuid::Uuid,
        fan: &uuid::Uuid,
        text: &str,
    ) -> Result<uuid::Uuid, HookError> {
        self.sim
            .fan_says(&creator.to_string(), &fan.to_string(), text)
    }
    /// The fan of PPV `message` buys it now (purchase + `purchase.new` webhook).
    pub fn fan_buys(&self, message: &uuid::Uuid) -> Result<(), HookError> {
        self.sim.fan_buys(message)
    }
    /// Fan tips `creator` `amount_cents` now, on `message` (a creator message of their
    /// chat) or on a post; TIP message + `tip.new` webhook. Returns the TIP message uuid.
    pub fn fan_tips(
        &self,
        creator: &uuid::Uuid,
        fan: &uuid::Uuid,
        amount_cents: u32,
        message: Option<&uuid::Uuid>,
    ) -> Result<uuid::Uuid, HookError> {
        self.sim.fan_tips(
            &creator.to_string(),
            &fan.to_string(),
            amount_cents,
            message,
        )
    }
    /// Per-fan contactability (false → sends to them get the contactability 400).
    pub fn set_fan_contactable(
        &self,
        fan: &uuid::Uuid,
        contactable: bool,
    ) -> Result<(), HookError> {
        self.sim.set_fan_contactable(&fan.to_string(), contactable)
    }
    /// Messages created through the API send routes since start (or the last
    /// [`SimHandle::reset_stats`]), including fail-after-commit ones.
    pub fn messages_sent(&self) -> u64 {
        self.sim.stats.lock().messages_sent
    }
    /// A creator's media library (uuid, mediaType, recommendedPrice), newest first.
    pub fn media_library(
        &self,
        creator: &uuid::Uuid,
    ) -> Vec<(uuid::Uuid, &'static str, Option<u32>)> {
        let w = self.sim.world.read();
        w.user_id(creator)
            .and_then(|c| w.creator_data.get(&c))
            .map(|cd| {
                cd.media
                    .iter()
                    .map(|m| (m.uuid, m.media_type.as_str(), m.recommended_price))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// Library media the fan has bought from the creator (media of purchased PPVs).
    pub fn purchased_media(&self, creator: &uuid::Uuid, fan: &uuid::Uuid) -> Vec<uuid::Uuid> {
        let w = self.sim.world.read();
        let Some(chat) = w
            .user_id(creator)
            .zip(w.user_id(fan))
            .and_then(|(c, f)| w.chat_of(c, f))
        else {
            return Vec::new();
        };
        let mut v: Vec<uuid::Uuid> = w.purchased_media(chat).into_iter().collect();
        v.sort_unstable();
        v
    }

    /// Stops the server and background tasks.
    pub async fn stop(self) {
        self.server.stop(true).await;
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Entry point of `switchboard sim`: starts, prints how to connect, runs until Ctrl-C.
pub async fn run_cli(args: SimArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let handle = start(config).await?;
    let (creators, members) = (handle.creator_uuids(), handle.team_member_uuids());
    println!("Fanvue simulator listening on {}", handle.base_url());
    println!("  API base URL:      {}", handle.api_base_url());
    println!("  API version:       {}", handle.api_version());
    println!("  OAuth authorize:   {}", handle.authorize_url());
    println!("  OAuth token:       {}", handle.token_url());
    println!("  OAuth client id:   {}", handle.client_id());
    println!("  OAuth secret:      {}", handle.client_secret());
    println!("  Webhook secret:    {}", handle.webhook_secret());
    match handle.control_url() {
        Some(c) => println!("  Control API:       {c}  (try {c}/info)"),
        None => println!("  Control API:       disabled (plain mode)"),
    }
    println!(
        "  World:             {} creators, {} team members (seed {})",
        creators.len(),
        members.len(),
        handle.sim().config.seed
    );
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.stop().await;
    Ok(())
}
