//! `switchboard demo` (DESIGN §9): the simulator in-process with live
//! activity, a demo agency (owner, manager, three chatters mapped to the
//! simulator's team members), the demo creators connected through the real
//! OAuth flow, webhooks registered, backfilled — then it prints the URL and
//! logins. Needs nothing but Postgres.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;
use sqlx::PgPool;

use crate::config::{EXAMPLE_SECRET_KEY, FanvueApp, Settings};
use crate::domain::{FanvueUserUuid, Role, StaffId};
use crate::sim::{EventKind, SimConfig, SimHandle, SimMode};
use crate::startup::{self, Application, Running};
use crate::{bootstrap, store};

pub const DEMO_PASSWORD: &str = "switchboard-demo";
pub const OWNER_EMAIL: &str = "owner@demo.switchboard.test";

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Port of the Switchboard web server.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// World seed of the simulator.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Simulated creators to connect.
    #[arg(long, default_value_t = 3)]
    pub creators: usize,
    /// Fans (chats) per creator.
    #[arg(long, default_value_t = 40)]
    pub fans: usize,
    /// Messages per chat of history.
    #[arg(long, default_value_t = 40)]
    pub messages: usize,
    /// Live activity in the simulator, events per second.
    #[arg(long, default_value_t = 0.5)]
    pub live_rate: f64,
    /// Give some fans hostile names and messages (markup, RTL overrides, a
    /// 5,000-character word) to see that pages render them harmlessly.
    #[arg(long)]
    pub hostile: bool,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            port: 8080,
            seed: 7,
            creators: 3,
            fans: 40,
            messages: 40,
            live_rate: 0.5,
            hostile: false,
        }
    }
}

/// A running demo.
pub struct Demo {
    pub url: String,
    pub pool: PgPool,
    pub sim: SimHandle,
    pub logins: Vec<(String, &'static str)>,
    /// Each chatter's email and the display names of the creators assigned to them.
    pub assignments: Vec<(String, Vec<String>)>,
    pub started_in: Duration,
    running: Running,
}

impl Demo {
    /// Stops the instance (server, workers), then the simulator.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let stopped = self.running.stop().await;
        self.sim.stop().await;
        stopped
    }

    /// Runs until `stop` resolves (see [`startup::stop_signal`]), then
    /// stops like [`Demo::shutdown`].
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stopped = self.running.run_until(stop).await;
        self.sim.stop().await;
        stopped
    }
}

const DEMO_PEOPLE: [(&str, &str, Role); 5] = [
    (OWNER_EMAIL, "Olivia Owner", Role::Owner),
    (
        "manager@demo.switchboard.test",
        "Max Manager",
        Role::Manager,
    ),
    (
        "chatter1@demo.switchboard.test",
        "Chloe Chatter",
        Role::Chatter,
    ),
    (
        "chatter2@demo.switchboard.test",
        "Carlos Chatter",
        Role::Chatter,
    ),
    (
        "chatter3@demo.switchboard.test",
        "Cora Chatter",
        Role::Chatter,
    ),
];

/// Starts everything; `settings` decides the database (and may override
/// the rest); Fanvue URLs, credentials and the webhook secret are the
/// simulator's.
pub async fn start(args: &DemoArgs, mut settings: Settings) -> anyhow::Result<Demo> {
    let started = Instant::now();
    let mut cfg = SimConfig {
        mode: SimMode::Demo,
        seed: args.seed,
        epoch: chrono::Utc::now(),
        ..SimConfig::default()
    };
    cfg.scenario.creators = args.creators.max(1);
    cfg.scenario.fans_per_creator = args.fans.max(1);
    cfg.scenario.messages_per_chat = args.messages.max(1);
    cfg.scenario.team_members_per_agency = cfg.scenario.team_members_per_agency.max(3);
    cfg.live.events_per_sec = args.live_rate.max(0.0);
    cfg.scenario.hostile_names = args.hostile;
    let sim = crate::sim::start(cfg)
        .await
        .context("starting the simulator")?;

    let listener = TcpListener::bind((settings.host.as_str(), args.port))
        .with_context(|| format!("port {} is taken; pass --port", args.port))?;
    let port = listener.local_addr()?.port();
    settings.public_url = url::Url::parse(&format!("http://127.0.0.1:{port}"))?;
    settings.fanvue.app = Some(FanvueApp {
        client_id: sim.client_id().to_owned(),
        client_secret: SecretString::from(sim.client_secret().to_owned()),
    });
    settings.fanvue.api_url = url::Url::parse(&sim.api_base_url())?;
    settings.fanvue.auth_url = url::Url::parse(sim.auth_base_url())?;
    settings.webhooks.secret = Some(SecretString::from(sim.webhook_secret().to_owned()));
    // A livelier cadence than production: the demo is watched.
    settings.sync.reconcile_interval_secs = settings.sync.reconcile_interval_secs.min(60);
    // The demo is nothing without its workers, whatever the settings say.
    settings.sync.enabled = true;
    settings.sync.workers = settings.sync.workers.max(2);
    settings.webhooks.enabled = true;

    let pool = store::connect_and_migrate(settings.connect_options()?, 10).await?;
    let staff = ensure_agency(&pool).await?;
    // The chatters are the simulator's team members, so Fanvue's
    // `sentByUserId` attributes to them.
    let members = sim.team_member_uuids();
    let chatters = DEMO_PEOPLE
        .iter()
        .zip(&staff)
        .filter(|((_, _, r), _)| *r == Role::Chatter)
        .map(|(_, id)| *id);
    for (id, member) in chatters.zip(members.iter()) {
        let agency = store::staff::for_session(&pool, id)
            .await?
            .context("demo staff")?
            .agency_id;
        store::staff::set_fanvue_user_uuid(
            &pool,
            agency,
            id,
            Some(FanvueUserUuid::parse(&member.to_string())?),
        )
        .await?;
    }

    let running = Application::build_with_listener(settings, pool.clone(), listener)?.start("demo");
    let url = format!("http://127.0.0.1:{port}");

    connect_creators(&url, &sim)
        .await
        .context("connecting the demo creators")?;
    let assignments = assign_chatters(&pool, &sim, &staff).await?;
    for kind in [
        EventKind::MessageReceived,
        EventKind::MessageRead,
        EventKind::Purchase,
        EventKind::Tip,
        EventKind::NewFollower,
        EventKind::NewSubscriber,
    ] {
        let slug = crate::webhooks::events::EventType::from_topic(kind.topic())
            .map_or("message-received", |t| t.slug());
        sim.register_webhook(&format!("{url}/webhooks/fanvue/{slug}"), &[kind]);
    }
    wait_for_backfill(&pool, Duration::from_secs(55)).await?;
    seed_notes_and_tags(&pool, &staff).await?;

    Ok(Demo {
        url,
        pool,
        sim,
        logins: DEMO_PEOPLE
            .iter()
            .map(|(e, _, r)| (e.to_string(), r.label()))
            .collect(),
        assignments,
        started_in: started.elapsed(),
        running,
    })
}

/// Which creators (by index in the simulator's order) the `i`-th of `chatters` works:
/// each one creator of their own, the last chatter the first chatter's creator too, so
/// every chatter has an inbox, the inboxes differ by login and two chatters share one.
fn chatter_creators(i: usize, chatters: usize, creators: usize) -> Vec<usize> {
    if creators == 0 {
        return Vec::new();
    }
    let mut v = vec![i % creators];
    if i + 1 == chatters && creators > 1 {
        // The first chatter's creator: two chatters share an inbox (presence
        // and claims have someone to show), whatever the number of creators.
        let extra = 0;
        if !v.contains(&extra) {
            v.push(extra);
        }
    }
    v
}

/// Assigns the demo chatters to the connected demo creators (idempotent on restart).
/// Returns each chatter's email with the assigned creators' display names.
async fn assign_chatters(
    pool: &PgPool,
    sim: &SimHandle,
    staff: &[StaffId],
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let owner = *staff.first().context("demo owner")?;
    let agency = store::staff::for_session(pool, owner)
        .await?
        .context("demo owner")?
        .agency_id;
    let connected = store::creators::list(pool, agency).await?;
    // The simulator's order, so the same seed gives the same assignment.
    let creators: Vec<&store::creators::Creator> = sim
        .creator_uuids()
        .iter()
        .filter_map(|u| connected.iter().find(|c| c.fanvue_uuid == *u))
        .collect();
    let chatters: Vec<(&str, StaffId)> = DEMO_PEOPLE
        .iter()
        .zip(staff)
        .filter(|((_, _, r), _)| *r == Role::Chatter)
        .map(|((e, _, _), id)| (*e, *id))
        .collect();
    let mut out = Vec::new();
    for (i, (email, id)) in chatters.iter().enumerate() {
        let mut names = Vec::new();
        for k in chatter_creators(i, chatters.len(), creators.len()) {
            let c = creators[k];
            store::creators::assign(pool, agency, c.id, *id, owner).await?;
            names.push(c.display_name.clone());
        }
        out.push((email.to_string(), names));
    }
    Ok(out)
}

/// The demo agency and its people (created once; reused on restart).
async fn ensure_agency(pool: &PgPool) -> anyhow::Result<Vec<StaffId>> {
    let owner = crate::domain::Email::parse(OWNER_EMAIL)?;
    if let Some(c) = store::staff::credentials_by_email(pool, &owner).await? {
        let all = store::staff::list(pool, c.agency_id).await?;
        return Ok(DEMO_PEOPLE
            .iter()
            .filter_map(|(e, _, _)| all.iter().find(|s| s.email == *e).map(|s| s.id))
            .collect());
    }
    let people: Vec<(&str, &str, Role, SecretString)> = DEMO_PEOPLE
        .iter()
        .map(|(e, n, r)| (*e, *n, *r, SecretString::from(DEMO_PASSWORD)))
        .collect();
    let (agency, ids) = bootstrap::create_agency_with_staff(pool, "Demo Agency", &people).await?;
    seed_snippets(pool, agency, ids[0]).await?;
    Ok(ids)
}

/// A few fan tags, tags on the newest fans and notes about some of them, so
/// the fan panel and the list's tag filter show something (once: skipped
/// when the agency already has tags, e.g. on a restart).
async fn seed_notes_and_tags(pool: &PgPool, staff: &[StaffId]) -> anyhow::Result<()> {
    use crate::domain::{NoteBody, TagColour, TagName};
    let (Some(manager), Some(chatter)) = (staff.get(1), staff.get(2)) else {
        return Ok(());
    };
    let agency = store::staff::for_session(pool, *manager)
        .await?
        .context("demo manager")?
        .agency_id;
    if !store::fan_tags::list(pool, agency).await?.is_empty() {
        return Ok(());
    }
    let mut tags = Vec::new();
    for (name, colour) in [
        ("VIP", TagColour::Purple),
        ("Big spender", TagColour::Green),
        ("Birthday soon", TagColour::Pink),
        ("Timewaster", TagColour::Grey),
    ] {
        tags.push(store::fan_tags::create(pool, agency, &TagName::parse(name)?, colour).await?);
    }
    let creators: Vec<_> = store::creators::list(pool, agency)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let filter = store::inbox::ChatFilter {
        creators,
        ..Default::default()
    };
    let rows = store::inbox::list_chats(pool, agency, &filter, None, None, 6).await?;
    let notes = [
        (
            *manager,
            "Prefers short voice notes over long texts; reacts well to personalised PPV.",
        ),
        (
            *chatter,
            "Birthday on the 14th. Mentioned a dog called Biscuit.",
        ),
        (
            *chatter,
            "Asked twice for a discount: hold firm, offer a bundle instead.",
        ),
    ];
    for (i, row) in rows.iter().enumerate() {
        let on: &[usize] = match i {
            0 => &[0, 1],
            1 => &[2],
            2 => &[3],
            3 => &[0],
            _ => &[],
        };
        for t in on {
            store::fan_tags::tag_fan(pool, agency, tags[*t], row.fan_uuid, *manager).await?;
        }
        if let Some((author, text)) = notes.get(i) {
            store::fan_notes::insert(pool, agency, row.fan_uuid, *author, &NoteBody::parse(text)?)
                .await?;
        }
    }
    Ok(())
}

/// A few agency-wide saved replies, so the compose box's `/` picker has
/// something to show on a fresh demo.
async fn seed_snippets(
    pool: &PgPool,
    agency: crate::domain::AgencyId,
    by: StaffId,
) -> anyhow::Result<()> {
    const SNIPPETS: [(&str, &str); 3] = [
        (
            "Welcome",
            "Hey {fan_name}! So happy you're here \u{2014} it's {creator_name}. What made you subscribe?",
        ),
        (
            "Good morning",
            "Good morning {fan_name} \u{2600}\u{fe0f} how did you sleep?",
        ),
        (
            "Back soon",
            "Stepping away for a bit, {fan_name} \u{2014} I'll message you as soon as I'm back!",
        ),
    ];
    for (title, body) in SNIPPETS {
        store::canned::insert(
            pool,
            agency,
            &store::canned::NewCanned {
                owner: None,
                title,
                body,
                created_by: by,
            },
        )
        .await?;
    }
    Ok(())
}

fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Signs in as the owner and runs Switchboard's own connect flow for every
/// simulated creator, with the simulator approving as that creator.
async fn connect_creators(url: &str, sim: &SimHandle) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = http
        .get(format!("{url}/login"))
        .send()
        .await?
        .text()
        .await?;
    let token = csrf_in(&login).context("login page has a CSRF token")?;
    let r = http
        .post(format!("{url}/login"))
        .form(&[
            ("email", OWNER_EMAIL),
            ("password", DEMO_PASSWORD),
            ("csrf_token", &token),
            ("next", "/"),
        ])
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("demo owner could not sign in ({})", r.status());
    }
    for creator in sim.creator_uuids() {
        sim.set_auto_approve(Some(&creator.to_string()))?;
        let page = http
            .get(format!("{url}/admin/creators"))
            .send()
            .await?
            .text()
            .await?;
        let token = csrf_in(&page).context("creators page has a CSRF token")?;
        let start = http
            .post(format!("{url}/admin/creators/connect"))
            .form(&[("csrf_token", &token)])
            .send()
            .await?;
        let authorize = location(&start).context("connect redirects to Fanvue")?;
        let consent = http.get(&authorize).send().await?;
        let callback = location(&consent).context("Fanvue redirects back")?;
        let done = http.get(&callback).send().await?;
        if done.status() != reqwest::StatusCode::SEE_OTHER {
            bail!("connecting {creator} failed ({})", done.status());
        }
    }
    sim.set_auto_approve(None)?;
    Ok(())
}

fn location(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()
        .map(str::to_owned)
}

async fn wait_for_backfill(pool: &PgPool, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let pending = store::sync::backfills_pending(pool).await?;
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("backfill did not finish in time ({pending} creators pending)");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `switchboard demo`: start, print, run until SIGINT (Ctrl-C) or SIGTERM.
pub async fn run(args: DemoArgs, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let stop = startup::stop_signal()?;
    let settings = Settings::load_with_defaults(
        file,
        &[
            (
                "database_url",
                "postgres://postgres@127.0.0.1:5432/switchboard_demo",
            ),
            ("secret_key", EXAMPLE_SECRET_KEY),
        ],
    )?;
    crate::telemetry::init(settings.log_format, "warn,switchboard=info");
    let demo = start(&args, settings).await?;
    println!();
    println!(
        "  Switchboard demo is running at {}   (ready in {:.1} s)",
        demo.url,
        demo.started_in.as_secs_f64()
    );
    println!("  Simulated Fanvue: {}", demo.sim.base_url());
    println!();
    println!("  Sign in with any of these (password: {DEMO_PASSWORD}):");
    for (email, role) in &demo.logins {
        match demo.assignments.iter().find(|(e, _)| e == email) {
            Some((_, creators)) => {
                println!("    {role:<8} {email:<32} works {}", creators.join(", "))
            }
            None => println!("    {role:<8} {email:<32} works every creator"),
        }
    }
    println!();
    println!("  Live activity flows in through webhooks; press Ctrl-C to stop.");
    demo.run_until(stop).await
}

#[cfg(test)]
mod tests {
    use super::chatter_creators;

    #[test]
    fn every_chatter_gets_a_creator_and_not_everyone_gets_all() {
        for creators in 1..=5 {
            let sets: Vec<Vec<usize>> = (0..3).map(|i| chatter_creators(i, 3, creators)).collect();
            assert!(sets.iter().all(|s| !s.is_empty()), "{creators}: {sets:?}");
            assert!(sets.iter().flatten().all(|k| *k < creators));
            if creators > 1 {
                assert!(
                    sets.iter().any(|s| s.len() < creators),
                    "{creators}: {sets:?}"
                );
                assert!(sets.windows(2).any(|w| w[0] != w[1]));
            }
        }
        assert_eq!(chatter_creators(0, 3, 3), vec![0]);
        assert_eq!(chatter_creators(2, 3, 3), vec![2, 0]);
        assert_eq!(chatter_creators(0, 3, 0), Vec::<usize>::new());
    }

    #[test]
    fn two_chatters_share_a_creator_so_collaboration_shows() {
        for creators in 1..=5 {
            let sets: Vec<Vec<usize>> = (0..3).map(|i| chatter_creators(i, 3, creators)).collect();
            let shared = (0..creators).any(|k| sets.iter().filter(|s| s.contains(&k)).count() >= 2);
            assert!(shared, "{creators}: {sets:?}");
        }
    }
}
