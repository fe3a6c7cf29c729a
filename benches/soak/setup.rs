//! The soak's world: the simulator, the scratch database with one agency, its staff (two
//! mapped to Fanvue team members) and ten connected creators, and two `switchboard serve`
//! processes on that database.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use switchboard::config::Settings;
use switchboard::connections::{access_context, refresh_context};
use switchboard::crypto::TokenCipher;
use switchboard::domain::{AgencyId, CreatorId, FanvueUserUuid, Role, StaffId};
use switchboard::sim::SimConfig;
use switchboard::sim::events::EventKind;
use switchboard::{bootstrap, store};
use uuid::Uuid;

use super::Profile;
use super::remote::RemoteSim;

pub const PASSWORD: &str = "soak-password-correct-horse";
pub const METRICS_TOKEN: &str = "soak-metrics-token-0123456789abcdef";
/// The key `Settings::for_tests` uses: the bench encrypts the creators' tokens with it and
/// both instances decrypt them with it.
const SECRET_KEY: &str = "c3dpdGNoYm9hcmQtdGVzdC1rZXktMzItYnl0ZXMhISE=";
const SCOPES: &[&str] = &[
    "openid",
    "offline_access",
    "offline",
    "read:self",
    "read:chat",
    "write:chat",
    "read:fan",
    "read:insights",
    "read:media",
];

pub struct Staffer {
    pub email: String,
    pub id: StaffId,
}

pub struct World {
    pub sim: RemoteSim,
    pub pool: PgPool,
    pub settings: Settings,
    pub db: String,
    pub agency: AgencyId,
    pub staff: Vec<Staffer>,
    /// (simulator uuid, mirror id) per creator.
    pub creators: Vec<(Uuid, CreatorId)>,
    /// Team member uuid → the staff member it is mapped to.
    pub mapped: Vec<(Uuid, StaffId)>,
    /// The owner of a second agency, which has no creators: the hostile burst
    /// uses it to ask for the first agency's chats.
    pub intruder: String,
}

pub fn sim_config(p: &Profile) -> SimConfig {
    let mut cfg = SimConfig::default();
    cfg.scenario.agencies = 1;
    cfg.scenario.creators = 10;
    cfg.scenario.fans_per_creator = p.fans_per_creator;
    cfg.scenario.messages_per_chat = p.messages_per_chat;
    cfg.scenario.team_members_per_agency = 4;
    // Every chat accepts a staff send, so a send that fails is a fault, not a fan's flag.
    cfg.scenario.uncontactable_share = 0.0;
    cfg.scenario.purchase_max_delay_secs = 120;
    // No new fans: a new chat is found by reconcile, which the convergence clock would wait for.
    cfg.live.new_fan_share = 0.0;
    cfg.epoch = Utc::now();
    cfg.workers = 2;
    cfg.webhooks.topic_header = Some("X-Fanvue-Topic".to_owned());
    cfg.webhooks.event_id_header = Some("X-Fanvue-Event-Id".to_owned());
    cfg.webhooks.log_capacity = 1_000_000;
    cfg.rate_limit.window_ms = p.rate_window_secs * 1000;
    cfg
}

pub async fn world(p: &Profile) -> anyhow::Result<World> {
    let mut cfg = sim_config(p);
    cfg.port = free_port()?;
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    let sim = RemoteSim::start(&cfg, &dir, &dir.join("simulator.log")).await?;
    let db = format!("sbsoak_{}", Uuid::new_v4().simple());
    let settings = super::common::bench_settings(&db)?;
    let opts: PgConnectOptions = settings.connect_options()?;
    let pool = store::connect_and_migrate(opts, 8).await?;
    let people: Vec<(String, String, Role)> = vec![
        ("owner@soak.test".into(), "Owner".into(), Role::Owner),
        (
            "manager1@soak.test".into(),
            "Manager One".into(),
            Role::Manager,
        ),
        (
            "manager2@soak.test".into(),
            "Manager Two".into(),
            Role::Manager,
        ),
        (
            "manager3@soak.test".into(),
            "Manager Three".into(),
            Role::Manager,
        ),
    ];
    let rows: Vec<(&str, &str, Role, SecretString)> = people
        .iter()
        .map(|(e, n, r)| (e.as_str(), n.as_str(), *r, SecretString::from(PASSWORD)))
        .collect();
    let (agency, ids) = bootstrap::create_agency_with_staff(&pool, "Soak Agency", &rows).await?;
    let staff: Vec<Staffer> = people
        .iter()
        .zip(&ids)
        .map(|((e, _, _), id)| Staffer {
            email: e.clone(),
            id: *id,
        })
        .collect();
    // Two of the four simulated team members are mapped (their Fanvue-UI sales credit a
    // staff member); the other two stay unmapped.
    let members = sim.team_members.clone();
    let mut mapped = Vec::new();
    for (tm, s) in members.iter().zip(staff.iter().skip(1)).take(2) {
        store::staff::set_fanvue_user_uuid(
            &pool,
            agency,
            s.id,
            Some(FanvueUserUuid::parse(&tm.to_string())?),
        )
        .await?;
        mapped.push((*tm, s.id));
    }
    let intruder = "owner@intruder.test".to_owned();
    bootstrap::create_agency_with_staff(
        &pool,
        "Intruder Agency",
        &[(
            intruder.as_str(),
            "Intruder",
            Role::Owner,
            SecretString::from(PASSWORD),
        )],
    )
    .await?;
    let cipher = TokenCipher::new(&settings.secret_key);
    let scopes: Vec<String> = SCOPES.iter().map(|s| (*s).to_owned()).collect();
    let mut creators = Vec::new();
    for (i, uuid) in sim.creators.clone().into_iter().enumerate() {
        let t = sim
            .issue_token(&uuid.to_string(), SCOPES)
            .await
            .context("simulator issues a token")?;
        let id = CreatorId::new();
        let access = cipher.encrypt(
            &SecretString::from(t.access_token.clone()),
            &access_context(id),
        )?;
        let refresh = match &t.refresh_token {
            Some(r) => Some(cipher.encrypt(&SecretString::from(r.clone()), &refresh_context(id))?),
            None => None,
        };
        let handle = format!("soak-creator-{i}");
        let mut conn = pool.acquire().await?;
        store::creators::upsert_connected(
            &mut conn,
            store::creators::Connected {
                id,
                agency_id: agency,
                fanvue_uuid: uuid,
                handle: &handle,
                display_name: &handle,
                avatar_url: None,
                scopes: &scopes,
                access_token_enc: &access,
                refresh_token_enc: refresh.as_deref(),
                token_expires_at: Some(Utc::now() + chrono::Duration::seconds(t.expires_in)),
                connected_by: staff[0].id,
            },
        )
        .await?;
        drop(conn);
        store::sync::ensure(&pool, agency, id).await?;
        creators.push((uuid, id));
    }
    Ok(World {
        sim,
        pool,
        settings,
        db,
        agency,
        staff,
        creators,
        mapped,
        intruder,
    })
}

pub async fn drop_database(w: &World) -> anyhow::Result<()> {
    w.pool.close().await;
    let opts: PgConnectOptions = w.settings.connect_options()?;
    let mut conn =
        <sqlx::PgConnection as sqlx::Connection>::connect_with(&opts.database("postgres")).await?;
    let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", w.db);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    sqlx::Connection::close(conn).await?;
    Ok(())
}

/// One `switchboard serve` process.
pub struct Instance {
    pub name: &'static str,
    pub port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Highest VmHWM (KiB) seen over every process this instance has been.
    pub peak_rss_kib: u64,
    pub restarts: u32,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/soak")
}

impl Instance {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Writes the instance's configuration file (web, sync and webhook workers on).
    pub fn configure(name: &'static str, w: &World, p: &Profile) -> anyhow::Result<Instance> {
        let port = free_port()?;
        let dir = out_dir();
        std::fs::create_dir_all(&dir)?;
        let config = dir.join(format!("{name}.toml"));
        let db_url = w.settings.database_url.expose_secret().to_owned();
        let sim = &w.sim;
        let toml = format!(
            r#"database_url = "{db_url}"
secret_key = "{SECRET_KEY}"
public_url = "http://127.0.0.1:{port}"
host = "127.0.0.1"
port = {port}
log_filter = "warn,switchboard=info,sqlx=warn"

[fanvue]
client_id = "{cid}"
client_secret = "{csecret}"
api_url = "{api}"
auth_url = "{auth}"
api_version = "{ver}"
request_timeout_secs = 10

[sync]
enabled = true
workers = 2
reconcile_interval_secs = {reconcile}
lease_secs = {lease}
poll_interval_ms = 500
# Every chat's read state in the one reconcile of the quiesce (shipped: 100 per run).
read_refresh_chats = {read_refresh}

[webhooks]
secret = "{whsecret}"
enabled = true
workers = 1

[metrics]
token = "{METRICS_TOKEN}"
"#,
            cid = sim.client_id,
            csecret = sim.client_secret,
            api = sim.api_base_url,
            auth = sim.base_url,
            ver = sim.api_version,
            reconcile = p.reconcile_secs,
            lease = p.lease_secs,
            read_refresh = p.fans_per_creator,
            whsecret = sim.webhook_secret,
        );
        std::fs::File::create(&config)?.write_all(toml.as_bytes())?;
        Ok(Instance {
            name,
            port,
            config,
            log: dir.join(format!("{name}.log")),
            child: None,
            peak_rss_kib: 0,
            restarts: 0,
        })
    }

    /// Starts the process and waits until `/healthz` answers.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("SWITCHBOARD_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn switchboard serve")?;
        self.child = Some(child);
        let client = reqwest::Client::new();
        let t = Instant::now();
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!(
                    "{} exited at start: {status} (see {})",
                    self.name,
                    self.log.display()
                );
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.base())).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if t.elapsed() > Duration::from_secs(60) {
                bail!("{} did not answer /healthz within 60 s", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Samples the process's peak resident set (VmHWM).
    pub fn sample_rss(&mut self) {
        if let Some(pid) = self.pid()
            && let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            self.peak_rss_kib = self.peak_rss_kib.max(kb);
        }
    }

    /// `kill -9`: no shutdown, no lease release, claims left as they are.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.sample_rss();
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait (the end of the run).
    pub fn stop(&mut self) {
        self.sample_rss();
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(15) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Webhooks split by type between the two instances: messages and reads to A; purchases,
/// tips, follows and subscriptions to B.
pub async fn register_webhooks(sim: &RemoteSim, a: &Instance, b: &Instance) -> anyhow::Result<()> {
    let topics = |kinds: &[EventKind]| kinds.iter().map(|k| k.topic()).collect::<Vec<_>>();
    sim.register_webhook(
        &format!("{}/webhooks/fanvue", a.base()),
        &topics(&[EventKind::MessageReceived, EventKind::MessageRead]),
    )
    .await?;
    sim.register_webhook(
        &format!("{}/webhooks/fanvue", b.base()),
        &topics(&[
            EventKind::Purchase,
            EventKind::Tip,
            EventKind::NewFollower,
            EventKind::NewSubscriber,
        ]),
    )
    .await
}
