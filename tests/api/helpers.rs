//! The test harness: `TestApp::spawn()` creates a fresh database, runs the
//! migrations and starts the app on port 0; `TestApp::client()` gives a
//! browser-like client with its own cookie jar and CSRF bookkeeping.

use std::sync::{Arc, LazyLock, Mutex};

use reqwest::cookie::CookieStore;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use switchboard::config::{FanvueApp, LogFormat, Settings};
use switchboard::domain::{AgencyId, CreatorId, Role, StaffId};
use switchboard::sim::{SimConfig, SimHandle};
use switchboard::startup::{Application, SESSION_COOKIE};
use switchboard::sync::{Outcome, Step, SyncEngine};
use switchboard::{bootstrap, store};

pub const PASSWORD: &str = "correct horse battery staple";

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        switchboard::telemetry::init(LogFormat::Text, "info,sqlx=warn");
    }
});

/// Postgres server for tests; each test gets its own database on it.
fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The shipped defaults (`Settings::for_tests`) on a fresh database, with the
/// few changes the API tests rely on.
pub fn test_settings(database: &str) -> Settings {
    let mut url = url::Url::parse(&server_url()).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{database}"));
    let mut settings = Settings::for_tests(url.as_str());
    // Webhook intake refuses everything unsigned: tests sign with this one.
    settings.webhooks.secret = Some(SecretString::from("test-webhook-secret"));
    // Dead-lettering is reached in three drains instead of eight.
    settings.webhooks.max_attempts = 3;
    settings
}

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    /// The simulated Fanvue, when the test asked for one.
    pub sim: Option<SimHandle>,
    #[allow(dead_code)]
    pub settings: Settings,
    /// Drops this test's database when the test ends.
    _database: DropDatabase,
}

/// The name of a database a test created; dropping it drops the database.
pub struct DropDatabase(String);

impl DropDatabase {
    pub fn new(name: &str) -> Self {
        Self(name.to_owned())
    }
}

impl Drop for DropDatabase {
    /// `Drop` cannot await, and the test's runtime may be shutting down, so
    /// a thread with its own runtime and connection does it. `FORCE` closes
    /// the app's pool connections, which the app, still running, would hold.
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.0);
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&server_url()).await?;
                // The name is ours: `sbtest_` and a uuid.
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        // A failed drop only leaves a database for the test script to clear;
        // never turn a passing test into a panic (or a panic into an abort).
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test database: {e}");
        }
    }
}

/// Agency "Acme" on an app wired to the simulator, its admin signed in and
/// the first simulated creator connected: the start of most tests that
/// need a creator.
pub struct ConnectedCreator {
    pub app: TestApp,
    pub acme: TestAgency,
    pub admin: TestClient,
    /// The creator's uuid at (simulated) Fanvue.
    pub fanvue: uuid::Uuid,
    /// The creator's Switchboard id.
    pub id: CreatorId,
}

/// An agency created for a test, with its people's ids by role label.
pub struct TestAgency {
    pub id: AgencyId,
    pub owner: StaffId,
    pub admin: StaffId,
    pub manager: StaffId,
    pub chatter: StaffId,
    pub prefix: String,
}

impl TestAgency {
    pub fn email(&self, who: &str) -> String {
        format!("{who}@{}.test", self.prefix)
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        LazyLock::force(&TRACING);
        let db = format!("sbtest_{}", uuid::Uuid::new_v4().simple());
        let mut settings = test_settings(&db);
        // PUBLIC_URL names the real address: the CSRF Origin check compares
        // with it, as a browser's Origin header would.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        settings.public_url = url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        let database = DropDatabase::new(&db);
        tweak(&mut settings);
        let opts: PgConnectOptions = settings.connect_options().expect("db url");
        let pool = store::connect_and_migrate(opts, 5)
            .await
            .expect("test database");
        let app = Application::build_with_listener(settings.clone(), pool.clone(), listener)
            .expect("app builds");
        let address = format!("http://127.0.0.1:{port}");
        tokio::spawn(app.run_until_stopped());
        Self {
            address,
            pool,
            settings,
            sim: None,
            _database: database,
        }
    }

    /// The app wired to a fresh in-process Fanvue simulator, with
    /// `PUBLIC_URL` naming the app's real address (the OAuth redirect URI).
    pub async fn spawn_with_sim(
        tweak_sim: impl FnOnce(&mut SimConfig),
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        LazyLock::force(&TRACING);
        let mut sim_cfg = SimConfig::default();
        sim_cfg.scenario.creators = 3;
        sim_cfg.scenario.fans_per_creator = 6;
        sim_cfg.scenario.messages_per_chat = 8;
        // Simulated history ends now, so "recent" means the same on both sides.
        sim_cfg.epoch = chrono::Utc::now();
        tweak_sim(&mut sim_cfg);
        let sim = switchboard::sim::start(sim_cfg)
            .await
            .expect("simulator starts");
        let db = format!("sbtest_{}", uuid::Uuid::new_v4().simple());
        let mut settings = test_settings(&db);
        let database = DropDatabase::new(&db);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        settings.public_url = url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        settings.fanvue.app = Some(FanvueApp {
            client_id: sim.client_id().to_owned(),
            client_secret: SecretString::from(sim.client_secret().to_owned()),
        });
        settings.fanvue.api_url = url::Url::parse(&sim.api_base_url()).expect("sim api url");
        settings.fanvue.auth_url = url::Url::parse(sim.auth_base_url()).expect("sim auth url");
        settings.webhooks.secret = Some(SecretString::from(sim.webhook_secret().to_owned()));
        tweak(&mut settings);
        let opts: PgConnectOptions = settings.connect_options().expect("db url");
        let pool = store::connect_and_migrate(opts, 10)
            .await
            .expect("test database");
        let app = Application::build_with_listener(settings.clone(), pool.clone(), listener)
            .expect("app builds");
        let address = format!("http://127.0.0.1:{port}");
        tokio::spawn(app.run_until_stopped());
        Self {
            address,
            pool,
            settings,
            sim: Some(sim),
            _database: database,
        }
    }

    /// `with_connected_creator_in` with the default simulator and settings.
    pub async fn with_connected_creator() -> ConnectedCreator {
        Self::with_connected_creator_in(|_| {}, |_| {}).await
    }

    /// An app on a simulator tweaked by `tweak_sim`, agency "Acme", its admin
    /// signed in, and the first simulated creator connected.
    pub async fn with_connected_creator_in(
        tweak_sim: impl FnOnce(&mut SimConfig),
        tweak: impl FnOnce(&mut Settings),
    ) -> ConnectedCreator {
        let app = Self::spawn_with_sim(tweak_sim, tweak).await;
        let acme = app.agency("Acme").await;
        let admin = app.signed_in(&acme.email("admin")).await;
        let fanvue = app.sim().creator_uuids()[0];
        let id = app.connect(&admin, fanvue).await;
        ConnectedCreator {
            app,
            acme,
            admin,
            fanvue,
            id,
        }
    }

    /// A second "instance" of the token machinery on this app's database.
    pub fn connections(&self) -> switchboard::connections::Connections {
        let settings = std::sync::Arc::new(self.settings.clone());
        let client = switchboard::fanvue::FanvueClient::new(&settings.fanvue).expect("client");
        switchboard::connections::Connections::new(
            self.pool.clone(),
            settings,
            std::sync::Arc::new(client),
        )
    }

    /// A sync engine (its own tokens and budget) with tweaked sync settings.
    pub fn sync_engine_with(
        &self,
        tweak: impl FnOnce(&mut switchboard::config::SyncSettings),
    ) -> SyncEngine {
        let mut sync = self.settings.sync.clone();
        tweak(&mut sync);
        SyncEngine::new(self.pool.clone(), self.connections(), sync)
    }

    pub fn sync_engine(&self) -> SyncEngine {
        self.sync_engine_with(|_| {})
    }

    pub fn sim(&self) -> &SimHandle {
        self.sim.as_ref().expect("this test app has no simulator")
    }

    /// Runs the whole connect flow as `admin` with the simulated creator
    /// `creator` approving; returns the final response of the callback.
    pub async fn connect_flow(&self, admin: &TestClient, creator: uuid::Uuid) -> Response {
        self.sim()
            .set_auto_approve(Some(&creator.to_string()))
            .expect("auto-approve");
        let start = admin.post_form("/admin/creators/connect", &[]).await;
        assert_eq!(
            start.status(),
            StatusCode::SEE_OTHER,
            "connect starts with a redirect to Fanvue"
        );
        let authorize = location(&start);
        assert!(
            authorize.starts_with(&self.sim().authorize_url()),
            "{authorize}"
        );
        let consent = admin.http.get(&authorize).send().await.expect("authorize");
        assert!(
            consent.status().is_redirection(),
            "auto-approve redirects back: {}",
            consent.status()
        );
        let callback = location(&consent);
        assert!(
            callback.starts_with(&format!("{}/connect/fanvue/callback?", self.address)),
            "{callback}"
        );
        admin.http.get(&callback).send().await.expect("callback")
    }

    /// Connects `creator` and returns its Switchboard id.
    pub async fn connect(&self, admin: &TestClient, creator: uuid::Uuid) -> CreatorId {
        let r = self.connect_flow(admin, creator).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "callback succeeds");
        let loc = location(&r);
        let id = loc
            .strip_prefix("/admin/creators/")
            .expect("redirect to the creator page");
        id.parse().expect("creator id")
    }

    pub fn client(&self) -> TestClient {
        TestClient::new(&self.address)
    }

    /// An agency with an owner, an admin, a manager and a chatter, all with
    /// the password `PASSWORD`; emails are `role@prefix.test`.
    pub async fn agency(&self, name: &str) -> TestAgency {
        let prefix: String = name
            .to_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let people: Vec<(String, String, Role)> = [
            ("owner", Role::Owner),
            ("admin", Role::Admin),
            ("manager", Role::Manager),
            ("chatter", Role::Chatter),
        ]
        .into_iter()
        .map(|(who, role)| {
            (
                format!("{who}@{prefix}.test"),
                format!("{name} {}", role.label()),
                role,
            )
        })
        .collect();
        let refs: Vec<(&str, &str, Role, SecretString)> = people
            .iter()
            .map(|(e, n, r)| (e.as_str(), n.as_str(), *r, SecretString::from(PASSWORD)))
            .collect();
        let (id, ids) = bootstrap::create_agency_with_staff(&self.pool, name, &refs)
            .await
            .expect("agency");
        TestAgency {
            id,
            owner: ids[0],
            admin: ids[1],
            manager: ids[2],
            chatter: ids[3],
            prefix,
        }
    }

    /// A client already signed in as `email`.
    pub async fn signed_in(&self, email: &str) -> TestClient {
        let c = self.client();
        let r = c.login(email, PASSWORD).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "login of {email} should succeed"
        );
        c
    }

    pub async fn staff_role(&self, id: StaffId) -> String {
        sqlx::query_scalar("SELECT role FROM staff WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("role")
    }

    pub async fn staff_active(&self, id: StaffId) -> bool {
        sqlx::query_scalar("SELECT active FROM staff WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("active")
    }

    pub async fn audit_actions(&self, agency: AgencyId) -> Vec<String> {
        sqlx::query_scalar("SELECT action FROM audit_log WHERE agency_id = $1 ORDER BY id")
            .bind(agency)
            .fetch_all(&self.pool)
            .await
            .expect("audit")
    }

    /// A creator's connection status (`connected`, `needs_reauth`, ...).
    pub async fn creator_status(&self, id: CreatorId) -> String {
        sqlx::query_scalar("SELECT status FROM creators WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("creator status")
    }

    /// Fails unless `agency`'s audit log holds `action`.
    pub async fn assert_audited(&self, agency: AgencyId, action: &str) {
        let actions = self.audit_actions(agency).await;
        assert!(
            actions.iter().any(|a| a == action),
            "expected {action:?} in the audit log, found {actions:?}"
        );
    }

    /// How many times `agency`'s audit log holds `action`.
    pub async fn audited_count(&self, agency: AgencyId, action: &str) -> usize {
        let actions = self.audit_actions(agency).await;
        actions.iter().filter(|a| *a == action).count()
    }

    /// Moves every recorded failed login `by` into the past (as if that
    /// much time had gone by), instead of sleeping out the throttle window.
    pub async fn age_login_failures(&self, by: std::time::Duration) {
        sqlx::query("UPDATE login_failures SET at = at - make_interval(secs => $1)")
            .bind(by.as_secs_f64())
            .execute(&self.pool)
            .await
            .expect("age login failures");
    }

    /// Lets `creator`'s sync lease run out now, whoever holds it.
    pub async fn expire_sync_lease(&self, creator: CreatorId) {
        sqlx::query(
            "UPDATE sync_state SET lease_expires_at = now() - interval '1 second' WHERE creator_id = $1",
        )
        .bind(creator)
        .execute(&self.pool)
        .await
        .expect("expire lease");
    }

    /// Lets every webhook processing claim run out now (a crashed worker's
    /// claim lapsing).
    pub async fn expire_webhook_claims(&self) {
        sqlx::query(
            "UPDATE webhook_events SET locked_until = now() - interval '1 second' WHERE status = 'processing'",
        )
        .execute(&self.pool)
        .await
        .expect("expire claims");
    }

    /// The status of every stored webhook event, oldest first.
    pub async fn webhook_statuses(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT status FROM webhook_events ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("webhook statuses")
    }

    /// The status of the only stored webhook event.
    pub async fn webhook_status(&self) -> String {
        let all = self.webhook_statuses().await;
        assert_eq!(all.len(), 1, "expected exactly one webhook event: {all:?}");
        all.into_iter().next().expect("one event")
    }

    /// How many stored webhook events have `status`.
    pub async fn webhooks_with_status(&self, status: &str) -> usize {
        let all = self.webhook_statuses().await;
        all.iter().filter(|s| *s == status).count()
    }
}

/// A browser stand-in: keeps cookies, never follows redirects, remembers the
/// last CSRF token it saw in a page.
pub struct TestClient {
    pub http: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
    csrf: Mutex<Option<String>>,
}

/// The value of the hidden `csrf_token` field in a page, if any.
pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

impl TestClient {
    pub fn new(base: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            // Below the server's keep-alive (5 s): never reuse a connection
            // the server may be closing (a client-side race, not a bug).
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            http,
            jar,
            base: base.to_owned(),
            csrf: Mutex::new(None),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// GET a page and return status and body; remembers its CSRF token.
    pub async fn get_html(&self, path: &str) -> (StatusCode, String) {
        let r = self.get(path).await;
        let status = r.status();
        let body = r.text().await.expect("body");
        if let Some(t) = csrf_in(&body) {
            *self.csrf.lock().expect("lock") = Some(t);
        }
        (status, body)
    }

    /// The session's CSRF token, fetched from a page if none was seen yet.
    pub async fn csrf(&self) -> String {
        if let Some(t) = self.csrf.lock().expect("lock").clone() {
            return t;
        }
        let (_, body) = self.get_html("/login").await;
        if let Some(t) = csrf_in(&body) {
            return t;
        }
        let (_, body) = self.get_html("/account").await;
        csrf_in(&body).expect("a page with a CSRF token")
    }

    /// POST a form with this session's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(path, &all).await
    }

    /// POST exactly these fields (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        let r = self
            .post_form(
                "/login",
                &[("email", email), ("password", password), ("next", "/")],
            )
            .await;
        // The session (and its CSRF token) is renewed at login.
        *self.csrf.lock().expect("lock") = None;
        r
    }

    /// Submits the password-change form: `current`, then `new` twice.
    #[allow(dead_code)]
    pub async fn change_password(&self, current: &str, new: &str) -> Response {
        self.post_form(
            "/account/password",
            &[
                ("current_password", current),
                ("new_password", new),
                ("new_password_confirm", new),
            ],
        )
        .await
    }

    pub fn session_cookie(&self) -> Option<String> {
        let url = reqwest::Url::parse(&self.base).expect("base url");
        let header = self.jar.cookies(&url)?;
        let all = header.to_str().ok()?.to_owned();
        all.split("; ").find_map(|kv| {
            kv.strip_prefix(&format!("{SESSION_COOKIE}="))
                .map(str::to_owned)
        })
    }

    /// A new client carrying only the given session cookie.
    pub fn with_cookie(base: &str, cookie: &str) -> Self {
        let c = Self::new(base);
        let url = reqwest::Url::parse(base).expect("base url");
        c.jar
            .add_cookie_str(&format!("{SESSION_COOKIE}={cookie}; Path=/"), &url);
        c
    }
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub fn assert_redirects_to(r: &Response, prefix: &str) {
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "expected a redirect to {prefix}"
    );
    let loc = location(r);
    assert!(
        loc.starts_with(prefix),
        "redirect to {loc:?}, expected {prefix:?}"
    );
}

impl TestAgency {
    pub fn id_of(&self, who: &str) -> StaffId {
        match who {
            "owner" => self.owner,
            "admin" => self.admin,
            "manager" => self.manager,
            "chatter" => self.chatter,
            other => panic!("no {other} in a test agency"),
        }
    }
}

/// Runs one creator's due work until nothing is due; returns kinds run.
pub async fn sync_until_idle(engine: &SyncEngine, creator: CreatorId) -> Vec<Step> {
    let mut all = Vec::new();
    for _ in 0..50 {
        match engine
            .run_once("test-worker", Some(creator))
            .await
            .expect("sync run")
        {
            Outcome::Idle => return all,
            Outcome::Ran { kinds, .. } => all.extend(kinds),
        }
    }
    panic!("sync never became idle: {all:?}");
}

/// Creates an invitation through the admin UI as `admin`; returns the link
/// path (`/invite/<token>`).
pub async fn create_invite(admin: &TestClient, email: &str, name: &str, role: &str) -> String {
    let r = admin
        .post_form(
            "/admin/staff/invite",
            &[("email", email), ("display_name", name), ("role", role)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "invite for {email} created");
    let body = r.text().await.expect("body");
    let start = body.find("/invite/").expect("invite link on the page");
    let end = body[start..].find('"').expect("end of link") + start;
    body[start..end].to_owned()
}

/// Whether an invite link still opens its join page.
pub async fn invite_usable(app: &TestApp, link: &str) -> bool {
    let (status, _) = app.client().get_html(link).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::NOT_FOUND,
        "{link}: {status}"
    );
    status == StatusCode::OK
}

// === READ (inbox list and thread): seeding the mirror through the store ===

/// Writes chats and messages of one creator into the mirror with the
/// store's own write functions, as sync and webhooks do.
pub struct MirrorSeed<'a> {
    pub pool: &'a PgPool,
    pub agency: AgencyId,
    pub creator: CreatorId,
}

/// A fan's chat as the chat list would report it (all else default).
pub fn fan_chat(fan: uuid::Uuid, display_name: &str) -> store::chats::ChatUpsert {
    store::chats::ChatUpsert {
        fan_uuid: fan,
        display_name: Some(display_name.to_owned()),
        handle: Some(format!("h{}", &fan.simple().to_string()[..8])),
        is_read: true,
        ..Default::default()
    }
}

/// Waits (up to 10 s) until the backend `pid` waits on a lock; false if it
/// never does. Tests of two transactions at once use it to order them.
pub async fn waits_on_a_lock(pool: &sqlx::PgPool, pid: i32) -> bool {
    for _ in 0..500 {
        let w: Option<String> =
            sqlx::query_scalar("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1")
                .bind(pid)
                .fetch_one(pool)
                .await
                .expect("pg_stat_activity");
        if w.as_deref() == Some("Lock") {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// A plain message of the chat with `fan`.
pub fn seed_message(
    fan: uuid::Uuid,
    outbound: bool,
    text: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> store::messages::MessageUpsert {
    store::messages::MessageUpsert {
        uuid: uuid::Uuid::now_v7(),
        fan_uuid: fan,
        sender_uuid: (!outbound).then_some(fan),
        recipient_uuid: outbound.then_some(fan),
        outbound,
        text: text.map(str::to_owned),
        sent_at: Some(at),
        kind: switchboard::domain::MessageKind::single_recipient(),
        has_media: Some(false),
        media_type: None,
        media_uuids: Vec::new(),
        price_cents: None,
        purchased_at: None,
        sent_by_user_uuid: None,
        is_read: false,
    }
}

impl MirrorSeed<'_> {
    /// Upserts chats; returns the chat id of each, in order.
    pub async fn chats(&self, chats: &[store::chats::ChatUpsert]) -> Vec<uuid::Uuid> {
        let mut conn = self.pool.acquire().await.expect("conn");
        let ids = store::chats::upsert_chats(&mut conn, self.agency, self.creator, chats)
            .await
            .expect("chats upserted");
        chats.iter().map(|c| ids[&c.fan_uuid]).collect()
    }

    pub async fn chat(&self, chat: store::chats::ChatUpsert) -> uuid::Uuid {
        self.chats(&[chat]).await[0]
    }

    pub async fn messages(&self, messages: &[store::messages::MessageUpsert]) {
        let mut conn = self.pool.acquire().await.expect("conn");
        store::messages::upsert_messages(
            &mut conn,
            self.agency,
            self.creator,
            messages,
            switchboard::domain::MessageSource::Reconcile,
        )
        .await
        .expect("messages upserted");
    }

    pub async fn tip(&self, fan: uuid::Uuid, cents: i64, at: chrono::DateTime<chrono::Utc>) {
        let key = format!("tip-{}", uuid::Uuid::new_v4());
        let mut tx = self.pool.begin().await.expect("tx");
        store::purchases::record_tip(
            &mut tx,
            self.agency,
            self.creator,
            store::purchases::Tip {
                fan_uuid: Some(fan),
                amount_cents: cents,
                tipped_at: at,
                context: "message",
                tipped_message_uuid: None,
                dedupe_key: &key,
            },
        )
        .await
        .expect("tip recorded");
        tx.commit().await.expect("tip committed");
    }

    pub async fn delete(&self, message: uuid::Uuid) {
        let mut conn = self.pool.acquire().await.expect("conn");
        store::messages::mark_deleted(&mut conn, self.creator, message)
            .await
            .expect("marked deleted");
    }
}

/// The `<li>` of message `uuid` in a thread page or fragment.
pub fn message_li(html: &str, uuid: uuid::Uuid) -> &str {
    let at = html
        .find(&format!("id=\"msg-{uuid}\""))
        .unwrap_or_else(|| panic!("message {uuid} not on the page"));
    let start = html[..at].rfind("<li").expect("li start");
    let end = html[at..].find("</li>").expect("li end") + at;
    &html[start..end]
}

/// The `<li>` of chat `id` in a list page or fragment, if present.
pub fn chat_li(html: &str, id: uuid::Uuid) -> Option<&str> {
    let at = html.find(&format!("id=\"chat-{id}\""))?;
    let start = html[..at].rfind("<li").expect("li start");
    let end = html[at..].find("</li>").expect("li end") + at;
    Some(&html[start..end])
}

/// The chat ids of the rows on a list page or fragment, in order.
pub fn chat_ids(html: &str) -> Vec<uuid::Uuid> {
    html.split("data-chat-id=\"")
        .skip(1)
        .filter_map(|s| s.get(..36)?.parse().ok())
        .collect()
}
// --- live (issue 12): a second instance on the same database ---

impl TestApp {
    /// Starts another instance of the app (its own pool, listener and HTTP
    /// server) on this app's database, as a second `serve` behind the same
    /// address would run; returns its base address.
    #[allow(dead_code)]
    pub async fn second_instance(&self) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut settings = self.settings.clone();
        settings.public_url = url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        let opts: PgConnectOptions = settings.connect_options().expect("db url");
        let pool = store::connect_and_migrate(opts, 5)
            .await
            .expect("second pool");
        let app = Application::build_with_listener(settings, pool, listener).expect("app builds");
        tokio::spawn(app.run_until_stopped());
        format!("http://127.0.0.1:{port}")
    }
}
