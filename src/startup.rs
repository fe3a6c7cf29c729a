//! Builds the application from settings and runs a whole instance: the web
//! server, the sync and webhook workers and housekeeping, until SIGINT or
//! SIGTERM. `serve` and `demo` both run through [`Application::start`] and
//! [`Running::run_until`]; the tests build the server alone, bind port 0
//! and read the chosen port back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::connections::Connections;
use crate::fanvue::FanvueClient;
use crate::http::client_ip::TrustedProxies;
use crate::live::LiveHub;
use crate::store;
use crate::sync::SyncEngine;
use crate::web::error::WebError;
use crate::web::session_store::PgSessionStore;
use crate::web::{AppState, csrf, headers, routes};
use crate::webhooks::IntakeState;

pub const SESSION_COOKIE: &str = "sb_session";

/// The session cookie's name: with the `__Host-` prefix over https, so the
/// browser only accepts it Secure, for this exact host and path `/` (no
/// sibling subdomain can plant one).
pub fn session_cookie_name(settings: &Settings) -> String {
    if settings.public_url.scheme() == "https" {
        format!("__Host-{SESSION_COOKIE}")
    } else {
        SESSION_COOKIE.to_owned()
    }
}

pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    settings: Arc<Settings>,
    connections: Connections,
    live: LiveRuntime,
}

/// The live-event hub and the listener feeding it; runs as long as the web
/// face does.
struct LiveRuntime {
    hub: Arc<LiveHub>,
    stop: watch::Sender<bool>,
    listener: JoinHandle<()>,
}

impl LiveRuntime {
    fn start(pool: &PgPool) -> Self {
        let hub = LiveHub::new(crate::live::HUB_CAPACITY);
        let (stop, stopped) = watch::channel(false);
        let listener = crate::live::listener::spawn(pool.clone(), hub.clone(), stopped);
        Self {
            hub,
            stop,
            listener,
        }
    }

    /// Ends every open stream (before the server's graceful stop, which
    /// would otherwise wait its whole grace period for them).
    fn close_streams(&self) {
        self.hub.close();
    }

    async fn stop(self) {
        self.hub.close();
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(5), self.listener)
            .await
            .is_err()
        {
            tracing::warn!("the live listener did not stop in time; abandoning it");
        }
    }
}

impl Application {
    /// Connects (creating the database and running migrations), then binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = store::connect_and_migrate(settings.connect_options()?, 10).await?;
        Self::build_with_pool(settings, pool)
    }

    pub fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
        Self::build_with_listener(settings, pool, listener)
    }

    /// With a listener bound by the caller (tests bind first so that
    /// `PUBLIC_URL` can name the real port).
    pub fn build_with_listener(
        settings: Settings,
        pool: PgPool,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        crate::credentials::password::warm_up();
        if settings.metrics.token.is_some() {
            crate::metrics::install();
        }
        let settings = Arc::new(settings);
        // The rate budget's own small pool: a caller holding connections of
        // the main pool never waits on the budget for one more.
        let budget_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .min_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(1))
            .connect_lazy_with((*pool.connect_options()).clone());
        let client = FanvueClient::new(&settings.fanvue)
            .map_err(|e| anyhow::anyhow!("Fanvue client: {e}"))?
            .with_shared_budget(budget_pool);
        let connections = Connections::new(pool.clone(), settings.clone(), Arc::new(client));
        let live = LiveRuntime::start(&pool);
        let server = run(
            listener,
            pool.clone(),
            settings.clone(),
            connections.clone(),
            live.hub.clone(),
        )?;
        Ok(Self {
            port,
            server,
            pool,
            settings,
            connections,
            live,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// This instance's live-event hub.
    pub fn live_hub(&self) -> Arc<LiveHub> {
        self.live.hub.clone()
    }

    /// The sync engine sharing this app's pool, tokens and rate budget.
    pub fn sync_engine(&self) -> SyncEngine {
        SyncEngine::new(
            self.pool.clone(),
            self.connections.clone(),
            self.settings.sync.clone(),
        )
    }

    /// Serves HTTP only (no workers, no housekeeping) until the server is
    /// stopped or the process ends: what the tests need.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Starts everything one instance runs: the web server, the sync and
    /// webhook workers the settings enable, and housekeeping. `instance`
    /// names this instance's sync workers (lease owners).
    pub fn start(self, instance: &str) -> Running {
        let (stop_workers, shutdown) = watch::channel(false);
        let mut workers = Vec::new();
        if self.settings.sync.enabled {
            workers.extend(crate::sync::spawn_workers(
                self.sync_engine(),
                self.settings.sync.workers,
                instance,
                shutdown.clone(),
            ));
        }
        if self.settings.webhooks.enabled {
            workers.extend(crate::webhooks::process::spawn_workers(
                self.pool.clone(),
                self.settings.webhooks.clone(),
                shutdown,
            ));
        }
        let maintenance = spawn_maintenance(self.pool.clone(), self.settings.clone());
        let handle = self.server.handle();
        Running {
            port: self.port,
            handle,
            server: tokio::spawn(self.server),
            stop_workers,
            workers,
            maintenance,
            live: self.live,
        }
    }
}

/// A started instance; stop it with [`Running::stop`] or run it until a
/// signal with [`Running::run_until`].
pub struct Running {
    port: u16,
    handle: ServerHandle,
    server: JoinHandle<std::io::Result<()>>,
    stop_workers: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    maintenance: JoinHandle<()>,
    live: LiveRuntime,
}

/// How long workers get to finish their current creator or batch.
const WORKER_GRACE: Duration = Duration::from_secs(30);

impl Running {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until `stop` resolves (see [`stop_signal`]) or the server ends
    /// on its own, then stops everything in order.
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let ended = tokio::select! {
            () = stop => None,
            ended = &mut self.server => Some(ended),
        };
        match ended {
            None => self.stop().await,
            Some(ended) => {
                self.stop_background().await;
                Ok(ended??)
            }
        }
    }

    /// Stops the server (requests in flight get its grace period), then
    /// the workers (each finishes its current creator and releases its
    /// lease), then housekeeping.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.live.close_streams();
        self.handle.stop(true).await;
        let served = (&mut self.server).await;
        self.stop_background().await;
        Ok(served??)
    }

    async fn stop_background(self) {
        self.maintenance.abort();
        self.live.stop().await;
        let _ = self.stop_workers.send(true);
        for w in self.workers {
            if tokio::time::timeout(WORKER_GRACE, w).await.is_err() {
                tracing::warn!("a worker did not stop in time; abandoning it");
            }
        }
    }
}

/// Listens for SIGINT and SIGTERM from now on (so a signal that arrives
/// during start-up is not lost) and returns a future that resolves at the
/// first. The server itself ignores signals: this is the one place that
/// decides to stop.
pub fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            tracing::info!(signal = name, "stopping");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("stopping");
        })
    }
}

/// A label for this instance's sync workers (lease owners): host and pid.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "switchboard".to_owned());
    format!("{host}-{}", std::process::id())
}

/// The cookie key: 64 bytes derived from the installation secret, so every
/// instance (and every restart) signs cookies the same way.
fn cookie_key(settings: &Settings) -> Key {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&settings.secret_key.derive("switchboard cookie signing"));
    bytes[32..].copy_from_slice(&settings.secret_key.derive("switchboard cookie encryption"));
    Key::from(&bytes)
}

fn run(
    listener: TcpListener,
    pool: PgPool,
    settings: Arc<Settings>,
    connections: Connections,
    live: Arc<LiveHub>,
) -> anyhow::Result<Server> {
    let key = cookie_key(&settings);
    let csp = headers::content_security_policy(&settings.fanvue.auth_url);
    let state = web::Data::new(AppState {
        pool: pool.clone(),
        settings: settings.clone(),
        connections,
        csp,
        live,
    });
    let intake = web::Data::new(IntakeState::start(pool.clone(), settings.clone()));
    let proxies = TrustedProxies::from_settings(&settings);
    let idle = actix_web::cookie::time::Duration::seconds(settings.auth.idle().as_secs() as i64);
    let form_limit = settings.max_form_bytes;
    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(PgSessionStore::new(pool.clone()), key.clone())
            .cookie_name(session_cookie_name(&settings))
            .cookie_secure(settings.secure_cookies())
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_content_security(CookieContentSecurity::Signed)
            .session_lifecycle(
                BrowserSession::default()
                    .state_ttl(idle)
                    .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
            )
            .build();
        App::new()
            .app_data(state.clone())
            .app_data(intake.clone())
            .app_data(proxies)
            .app_data(web::FormConfig::default().limit(form_limit).error_handler(
                |err, _| match err {
                    actix_web::error::UrlencodedError::Overflow { .. } => {
                        WebError::PayloadTooLarge.into()
                    }
                    other => {
                        WebError::BadRequest(format!("The form could not be read: {other}")).into()
                    }
                },
            ))
            .app_data(web::PathConfig::default().error_handler(|_, _| WebError::NotFound.into()))
            .app_data(web::QueryConfig::default().error_handler(|_, _| {
                WebError::BadRequest("The address has an invalid parameter.".into()).into()
            }))
            .configure(crate::webhooks::routes)
            .configure(routes)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(WebError::NotFound)
            }))
            // Last wrap runs first: headers → tracing → session → CSRF → routes.
            .wrap(from_fn(csrf::guard))
            .wrap(sessions)
            .wrap(TracingLogger::<crate::web::root_span::RedactedRootSpan>::new())
            .wrap(from_fn(crate::metrics::track_http))
            .wrap(from_fn(headers::security))
    })
    .shutdown_timeout(10)
    // `stop_signal` decides when to stop, so that workers stop with the server.
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// How often the inbox's tab tallies are folded: every statement that
/// changes a tab's count appends a row, and a count reads all of them.
const FOLD_TALLIES_EVERY: Duration = Duration::from_secs(5);
/// Pending reply records recomputed per flush statement.
const FLUSH_REPLIES_ROUND: i32 = 2_000;
/// The rest of the housekeeping.
const MAINTAIN_EVERY: Duration = Duration::from_secs(600);

/// Periodic housekeeping: the inbox's tab tallies, the replies pending
/// recompute, the dashboard rollups' delta rows, expired sessions and stale
/// login failures.
fn spawn_maintenance(pool: PgPool, settings: Arc<Settings>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FOLD_TALLIES_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_full: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            match store::inbox::compact_tab_tallies(&pool).await {
                Ok(n) if n > 0 => tracing::debug!(removed = n, "folded inbox tab tallies"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "tab-tally fold failed"),
            }
            // Replies the messages' writes left pending (migration 26), in
            // rounds so one busy agency cannot hold the lock for long.
            loop {
                match store::dashboard::flush_replies(&pool, None, FLUSH_REPLIES_ROUND).await {
                    Ok(n) if n == FLUSH_REPLIES_ROUND => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "replies flush failed");
                        break;
                    }
                }
            }
            // Presence older than its expiry and expired claims: pages see
            // them go within seconds.
            if let Err(e) = crate::inbox::presence::prune(&pool).await {
                tracing::warn!(error = %e, "presence prune failed");
            }
            if last_full.is_some_and(|t| t.elapsed() < MAINTAIN_EVERY) {
                continue;
            }
            last_full = Some(tokio::time::Instant::now());
            match store::sessions::purge_expired(&pool).await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "purged expired sessions"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "session purge failed"),
            }
            let keep = settings.auth.throttle_window() * 2;
            if let Err(e) = store::login_failures::purge_older_than(&pool, keep).await {
                tracing::warn!(error = %e, "login-failure purge failed");
            }
            match store::dashboard::compact(&pool).await {
                Ok(n) if n > 0 => tracing::debug!(removed = n, "folded dashboard rollups"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "dashboard rollup fold failed"),
            }
            if let Err(e) = store::oauth_flows::purge_expired(&pool).await {
                tracing::warn!(error = %e, "connect-flow purge failed");
            }
            if let Err(e) = store::webhooks::purge_rejections(&pool, 7).await {
                tracing::warn!(error = %e, "webhook-rejection purge failed");
            }
            if let Err(e) = store::webhooks::purge_dropped_rejections(&pool, 7).await {
                tracing::warn!(error = %e, "webhook-rejection count purge failed");
            }
        }
    })
}
