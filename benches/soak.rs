//! The soak under faults (`cargo bench --bench soak`; `SOAK_PROFILE=ci` for the short run,
//! `cargo bench --profile dev --bench soak` without an optimised build). docs/RELIABILITY.md
//! describes it.
//!
//! 1. Starts the simulator as its own process (`switchboard sim` with the soak's scenario
//!    file: 10 creators, thousands of chats, team members of which two are mapped to staff),
//!    driven and read only through its control API, a scratch database with the agency and the connected creators, and
//!    two `switchboard serve` processes on it (web, sync and webhook workers each). Webhooks
//!    are split between the two by type. Instance B is killed (`kill -9`) while it holds a
//!    backfill lease and restarted.
//! 2. Drives load — fan activity on the simulator, staff sends through both instances'
//!    inboxes, dashboard reads — through the fault schedule, each fault logged with its time;
//!    after each fault, waits until the mirror has every fan message that existed when the
//!    fault ended (the convergence time).
//! 3. Quiesces (faults off, load stopped, one reconcile per creator) and checks the mirror,
//!    the sales, the webhook ledger, the sends and the leases against the simulator's truth,
//!    printing a table; any mismatch prints the offending rows and exits non-zero.
//!
//! Figures per phase: events/s, webhook intake p50/p99 (from each instance's `/metrics`
//! histogram), convergence time, key `/metrics` series; peak RSS per instance. Writes
//! `target/bench/soak.json`. Knobs: SOAK_PROFILE (`ci` or `full`, default `full`),
//! BENCH_DATABASE_URL (the Postgres server), SOAK_KEEP_DB=1 (keep the scratch database).

#[path = "soak/checks.rs"]
mod checks;
mod common;
#[path = "soak/hostile.rs"]
mod hostile;
#[path = "soak/load.rs"]
mod load;
#[path = "soak/remote.rs"]
mod remote;
#[path = "soak/scrape.rs"]
mod scrape;
#[path = "soak/setup.rs"]
mod setup;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use secrecy::SecretString;
use switchboard::connections::{access_context, refresh_context};
use switchboard::crypto::TokenCipher;
use switchboard::sim::faults::FaultsPatch;
use uuid::Uuid;

use load::Load;
use scrape::Series;
use setup::{Instance, World};

pub struct Profile {
    pub name: &'static str,
    pub fans_per_creator: usize,
    pub messages_per_chat: usize,
    pub rate: f64,
    /// Length of an ordinary fault phase.
    pub phase_secs: u64,
    pub outage_secs: u64,
    pub burst_429_secs: u64,
    pub reconcile_secs: u64,
    pub lease_secs: u64,
    pub converge_timeout_secs: u64,
    pub send_every_ms: u64,
    /// The simulator's rate-limit window (200 requests per creator in each). A 429's
    /// Retry-After runs to the window's end, so it bounds how long the forced-429 burst
    /// holds every request back.
    pub rate_window_secs: u64,
}

fn profile() -> Profile {
    match std::env::var("SOAK_PROFILE").as_deref() {
        Ok("ci") => Profile {
            name: "ci",
            fans_per_creator: 200,
            messages_per_chat: 8,
            rate: 15.0,
            phase_secs: 6,
            outage_secs: 8,
            burst_429_secs: 3,
            reconcile_secs: 10,
            lease_secs: 10,
            converge_timeout_secs: 15,
            send_every_ms: 700,
            // Fanvue's minute window would hold every request back for up to 60 s after
            // the 429 burst, more than a 3-minute run can wait; 15 s windows keep the
            // fault and shorten the hold (and the bucket keeps its size: the quiesce's
            // reconciles need the burst room).
            rate_window_secs: 15,
        },
        _ => Profile {
            name: "full",
            fans_per_creator: 400,
            messages_per_chat: 20,
            rate: 30.0,
            phase_secs: 45,
            outage_secs: 60,
            burst_429_secs: 10,
            reconcile_secs: 30,
            lease_secs: 20,
            converge_timeout_secs: 120,
            send_every_ms: 400,
            rate_window_secs: 60,
        },
    }
}

/// The run's log: every fault and step with its time.
struct Timeline {
    t0: Instant,
    lines: Vec<String>,
}

impl Timeline {
    fn log(&mut self, what: impl AsRef<str>) {
        let line = format!(
            "[{:>7.1}s {}] {}",
            self.t0.elapsed().as_secs_f64(),
            Utc::now().format("%H:%M:%S%.3f"),
            what.as_ref()
        );
        println!("{line}");
        self.lines.push(line);
    }
}

#[derive(serde::Serialize, Default)]
struct PhaseFigures {
    name: String,
    secs: f64,
    events: u64,
    events_per_sec: f64,
    intake_p50_ms: [Option<f64>; 2],
    intake_p99_ms: [Option<f64>; 2],
    converge_secs: Option<f64>,
    sim_429: u64,
    forced_429: bool,
    sim_injected_errors: u64,
    /// Per instance: accepted, duplicate, rejected deliveries; Fanvue requests; Fanvue 429s;
    /// HTTP 5xx answers; webhook lag (s) and DB pool in use at the end of the phase.
    series: [Vec<(String, f64)>; 2],
}

struct Soak {
    w: World,
    inst: [Instance; 2],
    load: Arc<Load>,
    tl: Timeline,
    phases: Vec<PhaseFigures>,
    profile: Profile,
    hostile: hostile::Outcome,
    /// Sync runs finished and items they skipped during the malformed-items phase.
    malformed: (i64, i64),
}

/// (column, metric name, label filter) of the series printed per phase.
type KeySeries = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const KEY_SERIES: &[KeySeries] = &[
    (
        "accepted",
        "switchboard_webhook_deliveries_total",
        &[("result", "accepted")],
    ),
    (
        "duplicate",
        "switchboard_webhook_deliveries_total",
        &[("result", "duplicate")],
    ),
    (
        "rejected",
        "switchboard_webhook_deliveries_total",
        &[("result", "rejected")],
    ),
    ("fanvue_requests", "switchboard_fanvue_requests_total", &[]),
    ("fanvue_429", "switchboard_fanvue_rate_limited_total", &[]),
];

impl Soak {
    async fn scrape_both(&self) -> [Series; 2] {
        let a = scrape::scrape(&self.inst[0].base())
            .await
            .unwrap_or_default();
        let b = scrape::scrape(&self.inst[1].base())
            .await
            .unwrap_or_default();
        [a, b]
    }

    fn sample_rss(&mut self) {
        for i in &mut self.inst {
            i.sample_rss();
        }
    }

    /// Runs `secs` of load under whatever faults are on, sampling memory, and records the
    /// phase's figures.
    async fn phase<F>(
        &mut self,
        name: &str,
        secs: u64,
        forced_429: bool,
        during: F,
    ) -> anyhow::Result<()>
    where
        F: AsyncFnOnce(&mut Soak) -> anyhow::Result<()>,
    {
        let before = self.scrape_both().await;
        let stats0 = self.w.sim.stats().await?;
        let ev0 = self.load.events.load(Ordering::Relaxed);
        let t = Instant::now();
        self.tl.log(format!("phase {name}: start"));
        during(self).await?;
        while t.elapsed() < Duration::from_secs(secs) {
            self.sample_rss();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let after = self.scrape_both().await;
        let stats1 = self.w.sim.stats().await?;
        let events = self.load.events.load(Ordering::Relaxed) - ev0;
        let elapsed = t.elapsed().as_secs_f64();
        let mut f = PhaseFigures {
            name: name.to_owned(),
            secs: elapsed,
            events,
            events_per_sec: events as f64 / elapsed,
            sim_429: stats1.rate_limited.saturating_sub(stats0.rate_limited),
            forced_429,
            sim_injected_errors: stats1
                .injected_errors
                .saturating_sub(stats0.injected_errors),
            ..Default::default()
        };
        let route = [("route", "/webhooks/fanvue")];
        for i in 0..2 {
            f.intake_p50_ms[i] = after[i]
                .quantile_since(
                    &before[i],
                    "switchboard_http_request_duration_seconds",
                    &route,
                    0.5,
                )
                .map(|s| s * 1000.0);
            f.intake_p99_ms[i] = after[i]
                .quantile_since(
                    &before[i],
                    "switchboard_http_request_duration_seconds",
                    &route,
                    0.99,
                )
                .map(|s| s * 1000.0);
            let mut s: Vec<(String, f64)> = KEY_SERIES
                .iter()
                .map(|(label, n, with)| ((*label).to_owned(), after[i].delta(&before[i], n, with)))
                .collect();
            let http5xx: f64 = ["500", "502", "503", "504"]
                .iter()
                .map(|st| {
                    after[i].delta(
                        &before[i],
                        "switchboard_http_requests_total",
                        &[("status", st)],
                    )
                })
                .sum();
            s.push(("http_5xx".into(), http5xx));
            s.push((
                "webhook_lag_s".into(),
                after[i].sum("switchboard_webhook_lag_seconds", &[]),
            ));
            s.push((
                "pool_in_use".into(),
                after[i].sum("switchboard_db_pool_connections", &[("state", "in_use")]),
            ));
            f.series[i] = s;
        }
        self.tl.log(format!(
            "phase {name}: end ({events} events, {:.1}/s, simulator 429s {}, injected errors {})",
            f.events_per_sec, f.sim_429, f.sim_injected_errors
        ));
        self.phases.push(f);
        Ok(())
    }

    /// Waits until the mirror holds every fan message that exists now and the webhook
    /// backlog received until now is applied; records the time on the last phase.
    async fn converge(&mut self, what: &str) -> anyhow::Result<()> {
        let t = Instant::now();
        let wanted: Vec<Uuid> = self.w.sim.fan_messages().await?;
        let since = Utc::now();
        let timeout = Duration::from_secs(self.profile.converge_timeout_secs);
        let mut done = None;
        let mut first_wait = None;
        // Fan messages missing and events open at the last check that was not done.
        let mut last_short = (0, 0);
        // Time spent on the diagnosis below, which is not the mirror's to count.
        let mut aside = Duration::ZERO;
        let waited = |aside: Duration| t.elapsed().saturating_sub(aside);
        while waited(aside) < timeout {
            self.sample_rss();
            let have: i64 =
                sqlx::query_scalar("SELECT count(*) FROM messages WHERE uuid = ANY($1)")
                    .bind(&wanted)
                    .fetch_one(&self.w.pool)
                    .await?;
            let open: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM webhook_events WHERE status IN ('pending', 'processing') AND received_at <= $1",
            )
            .bind(since)
            .fetch_one(&self.w.pool)
            .await?;
            if have as usize >= wanted.len() && open == 0 {
                done = Some(waited(aside).as_secs_f64());
                break;
            }
            last_short = (wanted.len().saturating_sub(have as usize), open);
            // What the wait is for, as of its first second: printed if it turns out slow.
            if first_wait.is_none() && waited(aside) > Duration::from_secs(1) {
                let d = Instant::now();
                first_wait = Some(self.not_converged(&wanted, since).await?);
                aside += d.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        match done {
            Some(s) => self.tl.log(format!(
                "converged after {what} in {s:.1} s{}",
                first_wait
                    .filter(|_| s > 3.0)
                    .map(|w| format!(
                        " (after 1 s: {w}; at the last check before: {} fan messages missing, {} events open)",
                        last_short.0, last_short.1
                    ))
                    .unwrap_or_default()
            )),
            None => {
                let why = self.not_converged(&wanted, since).await?;
                self.tl.log(format!(
                    "NOT converged after {what} within {} s: {why}",
                    timeout.as_secs()
                ))
            }
        }
        if let Some(p) = self.phases.last_mut() {
            p.converge_secs = done;
        }
        Ok(())
    }

    /// What a convergence wait was still waiting for: fan messages the mirror lacks (and
    /// whether a stored webhook names them) and open webhook events by status.
    async fn not_converged(
        &self,
        wanted: &[Uuid],
        since: chrono::DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let missing: Vec<(Uuid, bool)> = sqlx::query_as(
            "SELECT w, EXISTS (SELECT 1 FROM webhook_events e WHERE e.payload->>'messageUuid' = w::text)
               FROM unnest($1::uuid[]) w WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.uuid = w)",
        )
        .bind(wanted)
        .fetch_all(&self.w.pool)
        .await?;
        let in_webhooks = missing.iter().filter(|(_, stored)| *stored).count();
        // The simulator's last delivery outcome of each missing message's webhook.
        let deliveries = if missing.is_empty() {
            Vec::new()
        } else {
            self.w.sim.deliveries().await.unwrap_or_default()
        };
        let mut outcomes: std::collections::BTreeMap<String, usize> = Default::default();
        for (uuid, _) in &missing {
            let needle = uuid.to_string();
            let last = deliveries
                .iter()
                .rev()
                .find(|d| d.body.contains(&needle))
                .map(|d| format!("{} {:?}", d.outcome, d.status))
                .unwrap_or_else(|| "no delivery logged".to_owned());
            *outcomes.entry(last).or_default() += 1;
        }
        // And their kinds, from the truth.
        let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
        if !missing.is_empty() {
            let wanted: HashSet<String> = missing.iter().map(|(u, _)| u.to_string()).collect();
            let truth = self.w.sim.truth().await.unwrap_or_default();
            let msgs = truth["creators"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["chats"].as_array().into_iter().flatten())
                .flat_map(|ch| ch["messages"].as_array().into_iter().flatten());
            for m in msgs {
                if m["uuid"].as_str().is_some_and(|u| wanted.contains(u)) {
                    let kind = m["type"].as_str().unwrap_or("?").to_owned();
                    *kinds.entry(kind).or_default() += 1;
                }
            }
        }
        let missing = missing.len();
        let open: Vec<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT status || CASE WHEN locked_until > now() THEN ' (claimed)' ELSE '' END, count(*), max(error)
               FROM webhook_events WHERE status IN ('pending', 'processing') AND received_at <= $1
              GROUP BY 1",
        )
        .bind(since)
        .fetch_all(&self.w.pool)
        .await?;
        let open: Vec<String> = open
            .iter()
            .map(|(st, n, e)| {
                format!(
                    "{n} {st}{}",
                    e.as_deref().map(|e| format!(" [{e}]")).unwrap_or_default()
                )
            })
            .collect();
        Ok(format!(
            "{missing} fan messages missing ({in_webhooks} of them in a stored webhook; last deliveries: {outcomes:?}; kinds: {kinds:?}); open events: {}",
            if open.is_empty() {
                "none".to_owned()
            } else {
                open.join(", ")
            }
        ))
    }

    async fn faults(&mut self, what: &str, p: FaultsPatch) -> anyhow::Result<()> {
        self.w.sim.patch_faults(&p).await?;
        self.tl.log(format!("fault: {what}"));
        Ok(())
    }
}

async fn wait_backfill(soak: &mut Soak, timeout: Duration) -> anyhow::Result<f64> {
    let t = Instant::now();
    loop {
        soak.sample_rss();
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sync_state WHERE backfill_done_at IS NULL OR history_done_at IS NULL",
        )
        .fetch_one(&soak.w.pool)
        .await?;
        if left == 0 {
            return Ok(t.elapsed().as_secs_f64());
        }
        if t.elapsed() > timeout {
            anyhow::bail!(
                "backfill not done within {} s ({left} creators left)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Moves the creation of every send row in `status` back to `secs` ago (those not older
/// already); returns how many.
async fn age_sends(pool: &sqlx::PgPool, status: &str, secs: i32) -> anyhow::Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbound_sends SET created_at = now() - make_interval(secs => $2)
         WHERE status = $1 AND created_at > now() - make_interval(secs => $2)",
    )
    .bind(status)
    .bind(f64::from(secs))
    .execute(pool)
    .await?
    .rows_affected())
}

/// A worker name of the instance with this pid holds a sync lease.
async fn holds_lease(pool: &sqlx::PgPool, pid: u32) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sync_state WHERE lease_owner LIKE $1 AND lease_expires_at > now()",
    )
    .bind(format!("%-{pid}%"))
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}

/// Reconnects one creator as the connect flow would: fresh tokens, status connected.
async fn reconnect(w: &World, creator: usize) -> anyhow::Result<()> {
    let (uuid, id) = w.creators[creator];
    let t = w
        .sim
        .issue_token(
            &uuid.to_string(),
            &[
                "openid",
                "offline_access",
                "offline",
                "read:self",
                "read:chat",
                "write:chat",
                "read:fan",
                "read:insights",
                "read:media",
            ],
        )
        .await
        .context("token for the reconnect")?;
    let cipher = TokenCipher::new(&w.settings.secret_key);
    let access = cipher.encrypt(
        &SecretString::from(t.access_token.clone()),
        &access_context(id),
    )?;
    let refresh = match &t.refresh_token {
        Some(r) => Some(cipher.encrypt(&SecretString::from(r.clone()), &refresh_context(id))?),
        None => None,
    };
    let scopes: Vec<String> = t.scope.split_whitespace().map(str::to_owned).collect();
    let handle = format!("soak-creator-{creator}");
    let mut conn = w.pool.acquire().await?;
    switchboard::store::creators::upsert_connected(
        &mut conn,
        switchboard::store::creators::Connected {
            id,
            agency_id: w.agency,
            fanvue_uuid: uuid,
            handle: &handle,
            display_name: &handle,
            avatar_url: None,
            scopes: &scopes,
            access_token_enc: &access,
            refresh_token_enc: refresh.as_deref(),
            token_expires_at: Some(Utc::now() + chrono::Duration::seconds(t.expires_in)),
            connected_by: w.staff[0].id,
        },
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let profile = profile();
    let started = Instant::now();
    let mut tl = Timeline {
        t0: started,
        lines: Vec::new(),
    };
    tl.log(format!("soak profile {}: setting up", profile.name));
    let w = setup::world(&profile).await?;
    let chats_total = w.sim.chats_at_start;
    let msgs_total = w.sim.messages_at_start;
    tl.log(format!(
        "simulator: {} creators, {chats_total} chats, {msgs_total} messages, {} team members mapped to staff; database {}",
        w.creators.len(),
        w.mapped.len(),
        w.db
    ));
    let a = Instance::configure("instance-a", &w, &profile)?;
    let b = Instance::configure("instance-b", &w, &profile)?;
    setup::register_webhooks(&w.sim, &a, &b).await?;
    let mut soak = Soak {
        w,
        inst: [a, b],
        load: Arc::new(Load::default()),
        tl,
        phases: Vec::new(),
        profile,
        hostile: hostile::Outcome::default(),
        malformed: (0, 0),
    };
    let result = run(&mut soak).await;
    for i in &mut soak.inst {
        i.stop();
    }
    soak.load.stop.store(true, Ordering::Relaxed);
    let verdict = match result {
        Ok(ok) => ok,
        Err(e) => {
            soak.tl.log(format!("soak aborted: {e:#}"));
            false
        }
    };
    if std::env::var("SOAK_KEEP_DB").as_deref() != Ok("1") {
        setup::drop_database(&soak.w).await?;
    }
    soak.tl.log(format!(
        "soak {} in {:.0} s",
        if verdict { "PASSED" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    ));
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("soak.json"),
        serde_json::to_vec_pretty(&serde_json::json!({
            "profile": soak.profile.name,
            "passed": verdict,
            "wall_secs": started.elapsed().as_secs_f64(),
            "phases": soak.phases,
            "peak_rss_mib": soak.inst.iter().map(|i| i.peak_rss_kib as f64 / 1024.0).collect::<Vec<_>>(),
            "timeline": soak.tl.lines,
        }))?,
    )?;
    if !verdict {
        std::process::exit(1);
    }
    Ok(())
}

async fn run(s: &mut Soak) -> anyhow::Result<bool> {
    let p_secs = s.profile.phase_secs;
    // Start both; kill B while it holds a backfill lease, restart it.
    s.inst[0].start().await?;
    s.tl.log(format!(
        "instance-a up on {} (pid {:?})",
        s.inst[0].base(),
        s.inst[0].pid()
    ));
    s.inst[1].start().await?;
    s.tl.log(format!(
        "instance-b up on {} (pid {:?})",
        s.inst[1].base(),
        s.inst[1].pid()
    ));
    let t = Instant::now();
    let pid_b = s.inst[1].pid().unwrap_or(0);
    while !holds_lease(&s.w.pool, pid_b).await? && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = holds_lease(&s.w.pool, pid_b).await?;
    s.inst[1].kill9()?;
    s.tl.log(format!(
        "fault: kill -9 instance-b mid-backfill (held a lease: {held})"
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.inst[1].start().await?;
    s.inst[1].restarts += 1;
    s.tl.log(format!("instance-b restarted (pid {:?})", s.inst[1].pid()));
    let secs = wait_backfill(s, Duration::from_secs(300)).await?;
    s.tl.log(format!("backfill and history done {secs:.1} s after the restart (waits out the dead instance's lease)"));

    // Load.
    let chats: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM chats ORDER BY id")
        .fetch_all(&s.w.pool)
        .await?;
    let chats = Arc::new(chats);
    let mut tasks = vec![load::spawn_activity(
        s.w.sim.handle(),
        s.load.clone(),
        s.profile.rate,
    )];
    let every = Duration::from_millis(s.profile.send_every_ms);
    for (k, (inst, staff)) in [(0usize, 1usize), (1, 2), (0, 3), (1, 3)]
        .iter()
        .enumerate()
    {
        tasks.push(load::spawn_sender(
            s.inst[*inst].base(),
            s.w.staff[*staff].email.clone(),
            chats.clone(),
            s.load.clone(),
            every,
            k as u64 + 1,
        ));
    }
    tasks.push(load::spawn_dashboard(
        s.inst[0].base(),
        s.w.staff[1].email.clone(),
        s.load.clone(),
        Duration::from_secs(2),
    ));
    tasks.push(load::spawn_dashboard(
        s.inst[1].base(),
        s.w.staff[2].email.clone(),
        s.load.clone(),
        Duration::from_secs(2),
    ));
    s.load.activity_on.store(true, Ordering::Relaxed);
    s.load.sends_on.store(true, Ordering::Relaxed);

    s.phase("steady", p_secs, false, async |_| Ok(())).await?;
    s.converge("steady load").await?;

    s.phase(
        "webhook drop 30% / duplicate 20% / reorder",
        p_secs,
        false,
        async |s| {
            s.faults(
                "webhook drop 0.3, duplicate 0.2, reorder on",
                FaultsPatch {
                    webhook_drop_rate: Some(0.3),
                    webhook_duplicate_rate: Some(0.2),
                    webhook_reorder: Some(true),
                    ..Default::default()
                },
            )
            .await?;
            Ok(())
        },
    )
    .await?;
    s.faults(
        "webhook drop/duplicate/reorder off",
        FaultsPatch {
            webhook_drop_rate: Some(0.0),
            webhook_duplicate_rate: Some(0.0),
            webhook_reorder: Some(false),
            ..Default::default()
        },
    )
    .await?;
    s.converge("webhook drop/duplicate/reorder").await?;

    let outage = s.profile.outage_secs;
    s.phase("webhook outage", outage, false, async |s| {
        s.faults(
            "webhook outage (deliveries paused)",
            FaultsPatch {
                webhook_paused: Some(true),
                ..Default::default()
            },
        )
        .await?;
        Ok(())
    })
    .await?;
    s.faults(
        "webhook outage over",
        FaultsPatch {
            webhook_paused: Some(false),
            ..Default::default()
        },
    )
    .await?;
    s.converge("webhook outage").await?;

    s.phase("API 5xx 10%", p_secs, false, async |s| {
        s.faults(
            "API 5xx at 10 %",
            FaultsPatch {
                api_error_rate: Some(0.1),
                ..Default::default()
            },
        )
        .await?;
        Ok(())
    })
    .await?;
    s.faults(
        "API 5xx off",
        FaultsPatch {
            api_error_rate: Some(0.0),
            ..Default::default()
        },
    )
    .await?;
    s.converge("API 5xx").await?;

    let malformed_from = Utc::now();
    s.phase("malformed API items", p_secs, false, async |s| {
        s.faults(
            "batch responses carry a malformed message item",
            FaultsPatch {
                batch_malformed_item: Some(true),
                ..Default::default()
            },
        )
        .await?;
        // Every creator's reconcile now, so batch requests meet the fault.
        sqlx::query("UPDATE sync_state SET next_reconcile_at = now()")
            .execute(&s.w.pool)
            .await?;
        Ok(())
    })
    .await?;
    s.faults(
        "malformed API items off",
        FaultsPatch {
            batch_malformed_item: Some(false),
            ..Default::default()
        },
    )
    .await?;
    s.malformed = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE error IS NULL),
                COALESCE(sum(jsonb_array_length(skipped)), 0)::bigint
         FROM sync_runs WHERE started_at >= $1",
    )
    .bind(malformed_from)
    .fetch_one(&s.w.pool)
    .await?;
    s.tl.log(format!(
        "malformed API items: {} sync runs finished, {} items skipped and recorded",
        s.malformed.0, s.malformed.1
    ));
    s.converge("malformed API items").await?;

    let burst = s.profile.burst_429_secs;
    s.phase("forced 429 burst", burst, true, async |s| {
        s.faults(
            "forced 429 burst",
            FaultsPatch {
                force_429: Some(true),
                ..Default::default()
            },
        )
        .await?;
        Ok(())
    })
    .await?;
    s.faults(
        "forced 429 off",
        FaultsPatch {
            force_429: Some(false),
            ..Default::default()
        },
    )
    .await?;
    s.converge("forced 429 burst").await?;

    s.phase(
        "kill -9 instance-a in a webhook burst",
        p_secs,
        false,
        async |s| {
            let n = s.w.sim.generate_activity(300).await?;
            s.load.events.fetch_add(n as u64, Ordering::Relaxed);
            s.tl.log(format!("webhook burst: {n} events"));
            tokio::time::sleep(Duration::from_millis(300)).await;
            s.inst[0].kill9()?;
            s.tl.log("fault: kill -9 instance-a");
            tokio::time::sleep(Duration::from_secs(2)).await;
            s.inst[0].start().await?;
            s.inst[0].restarts += 1;
            s.tl.log(format!("instance-a restarted (pid {:?})", s.inst[0].pid()));
            Ok(())
        },
    )
    .await?;
    s.converge("kill -9 of instance-a").await?;

    s.phase("hostile input burst", 3, false, async |s| {
        s.tl.log("fault: hostile input burst to both instances");
        let bases = [s.inst[0].base(), s.inst[1].base()];
        s.hostile = hostile::burst(&bases, &s.w.sim.webhook_secret, &s.w.creators).await;
        let theirs: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM chats ORDER BY id LIMIT 3")
            .fetch_all(&s.w.pool)
            .await?;
        hostile::cross_tenant(&bases, &s.w.intruder, &theirs, &mut s.hostile).await;
        s.tl.log(format!(
            "fault: another agency's owner asked for {} of this agency's chats on both instances",
            theirs.len()
        ));
        s.tl.log(format!(
            "hostile: {} sent, {} answered 4xx, {} otherwise",
            s.hostile.sent,
            s.hostile.refused_4xx,
            s.hostile.other.len()
        ));
        Ok(())
    })
    .await?;

    s.phase("token expiry and refresh race", p_secs, false, async |s| {
        sqlx::query("UPDATE creators SET token_expires_at = now() - interval '1 second'")
            .execute(&s.w.pool)
            .await?;
        s.tl.log("fault: every creator's access token marked expired (both instances refresh)");
        Ok(())
    })
    .await?;
    s.converge("token expiry").await?;

    s.phase(
        "revoked creator token and reconnect",
        p_secs,
        false,
        async |s| {
            let who = s.w.creators[0].0.to_string();
            let n = s.w.sim.revoke_tokens(&who).await?;
            s.tl.log(format!("fault: creator 0's tokens revoked ({n})"));
            let t = Instant::now();
            let mut status = String::new();
            while t.elapsed() < Duration::from_secs(20) {
                status = sqlx::query_scalar("SELECT status FROM creators WHERE id = $1")
                    .bind(s.w.creators[0].1)
                    .fetch_one(&s.w.pool)
                    .await?;
                if status == "needs_reauth" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            s.tl.log(format!(
                "creator 0 status {status} after {:.1} s",
                t.elapsed().as_secs_f64()
            ));
            reconnect(&s.w, 0).await?;
            s.tl.log("creator 0 reconnected");
            Ok(())
        },
    )
    .await?;
    s.converge("revoke and reconnect").await?;

    s.phase("pool and connection storm", 4, false, async |s| {
        s.tl.log("fault: pool storm (32 concurrent dashboard reads per instance for 3 s)");
        let (a, b) = (s.inst[0].base(), s.inst[1].base());
        let e1 = s.w.staff[1].email.clone();
        let e2 = s.w.staff[2].email.clone();
        let opts = s.w.settings.connect_options()?;
        let ((ok_a, err_a), (ok_b, err_b), held) = tokio::join!(
            load::pool_storm(&a, &e1, 32, 3),
            load::pool_storm(&b, &e2, 32, 3),
            load::connection_storm(&opts, 2, Duration::from_secs(3))
        );
        s.tl.log(format!(
            "fault: Postgres connection storm ({} connections held for 3 s, 2 slots left)",
            held?
        ));
        s.tl.log(format!(
            "pool storm: {} answered 200, {} not",
            ok_a + ok_b,
            err_a + err_b
        ));
        Ok(())
    })
    .await?;
    s.converge("pool and connection storm").await?;

    // Quiesce.
    s.load.activity_on.store(false, Ordering::Relaxed);
    s.load.sends_on.store(false, Ordering::Relaxed);
    s.w.sim.clear_faults().await?;
    // Fans' delayed purchases are activity too: without this, a purchase due after the
    // quiesce lands between a check's read of the truth and its read of the database.
    s.w.sim
        .patch_faults(&FaultsPatch {
            scheduled_paused: Some(true),
            ..Default::default()
        })
        .await?;
    s.tl.log("quiesce: faults off, activity, fans' scheduled purchases and sends stopped");
    // In-flight deliveries (retries with backoff) finish within their 7.5 s schedule, and
    // send requests within the client's 20 s timeout.
    let t = Instant::now();
    while (s.w.sim.stats().await?.webhooks_pending > 0
        || s.load.sends_in_flight.load(Ordering::Relaxed) > 0)
        && t.elapsed() < Duration::from_secs(25)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.tl.log(format!(
        "quiesce: the simulator's deliveries and the staff's send requests finished in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    // Every send request has its answer now, so a row still `pending` lost its process
    // (the instance killed mid-send). The product turns such a row `unknown` once it is
    // 2 minutes old, then settles it at the end of its match window; the soak ages it
    // past both, as it does the `unknown` rows below.
    let interrupted = age_sends(&s.w.pool, "pending", 721).await?;
    if interrupted > 0 {
        s.tl.log(format!(
            "quiesce: {interrupted} sends left pending by a killed instance aged past the 2-minute sweep and their match window"
        ));
    }
    // A send whose answer never came stays `unknown` for its 10-minute match window, then
    // the next sync settles it. Rather than wait, the soak moves each such row's window to
    // its end (created 601 s ago): a message sent for it in the seconds after the request
    // still falls inside the window, so the settlement is the one waiting would give.
    let aged = age_sends(&s.w.pool, "unknown", 601).await?;
    if aged > 0 {
        s.tl.log(format!(
            "quiesce: {aged} unknown sends moved to the end of their match window"
        ));
    }
    let asked = Utc::now();
    sqlx::query("UPDATE sync_state SET reconcile_requested_at = now(), next_reconcile_at = now()")
        .execute(&s.w.pool)
        .await?;
    s.tl.log("quiesce: one reconcile requested for every creator");
    let t = Instant::now();
    loop {
        s.sample_rss();
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sync_state WHERE last_reconcile_at IS NULL OR last_reconcile_at < $1",
        )
        .bind(asked)
        .fetch_one(&s.w.pool)
        .await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_events WHERE status IN ('pending', 'processing')",
        )
        .fetch_one(&s.w.pool)
        .await?;
        if left == 0 && open == 0 {
            break;
        }
        if t.elapsed() > Duration::from_secs(120) {
            s.tl.log(format!(
                "quiesce: {left} creators not reconciled, {open} webhook events open after 120 s"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    s.tl.log(format!(
        "quiesce: reconciled and drained in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    s.load.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    s.sample_rss();

    // Checks.
    let (mc, cc) = checks::mirror(&s.w).await?;
    let mut all = vec![
        mc,
        cc,
        checks::sales(&s.w).await?,
        checks::webhooks(&s.w).await?,
    ];
    let attempted = s.load.attempted.lock().clone();
    all.push(checks::sends(&s.w, &attempted).await?);
    let mut self_429 = checks::Check {
        name: "no self-caused 429 outside the forced bursts",
        compared: s.phases.len() as u64,
        bad: Vec::new(),
    };
    for p in &s.phases {
        if !p.forced_429 && p.sim_429 > 0 {
            self_429
                .bad
                .push(format!("phase {:?}: {} 429s", p.name, p.sim_429));
        }
    }
    all.push(self_429);
    all.push(checks::leases(&s.w.pool).await?);
    all.push(hostile::check(&s.w.pool, &s.hostile).await?);
    let mut malformed = checks::Check {
        name: "malformed API items skipped and recorded, runs finished",
        compared: s.malformed.0 as u64,
        bad: Vec::new(),
    };
    if s.malformed.0 == 0 || s.malformed.1 == 0 {
        malformed.bad.push(format!(
            "{} sync runs finished and {} items were recorded as skipped while batches carried malformed items",
            s.malformed.0, s.malformed.1
        ));
    }
    all.push(malformed);

    print_report(s, &all);
    Ok(all.iter().all(|c| c.bad.is_empty()))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.1}"))
}

fn print_report(s: &Soak, checks: &[checks::Check]) {
    let mut out = String::new();
    let _ = writeln!(out, "\n== phases ==");
    let _ = writeln!(
        out,
        "{:<44} {:>6} {:>7} {:>8} {:>15} {:>15} {:>9} {:>5} {:>5}",
        "phase",
        "secs",
        "events",
        "ev/s",
        "intake p50 A/B",
        "intake p99 A/B",
        "converge",
        "429",
        "5xx"
    );
    for p in &s.phases {
        let _ = writeln!(
            out,
            "{:<44} {:>6.1} {:>7} {:>8.1} {:>15} {:>15} {:>9} {:>5} {:>5}",
            p.name,
            p.secs,
            p.events,
            p.events_per_sec,
            format!("{}/{}", ms(p.intake_p50_ms[0]), ms(p.intake_p50_ms[1])),
            format!("{}/{}", ms(p.intake_p99_ms[0]), ms(p.intake_p99_ms[1])),
            p.converge_secs
                .map_or("–".to_owned(), |c| format!("{c:.1}s")),
            p.sim_429,
            p.sim_injected_errors,
        );
    }
    let _ = writeln!(out, "\n== /metrics per phase (instance A | instance B) ==");
    for p in &s.phases {
        let fmt = |v: &Vec<(String, f64)>| {
            v.iter()
                .map(|(k, x)| format!("{k}={x:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(
            out,
            "{:<44} {} | {}",
            p.name,
            fmt(&p.series[0]),
            fmt(&p.series[1])
        );
    }
    let _ = writeln!(out, "\n== memory ==");
    for i in &s.inst {
        let _ = writeln!(
            out,
            "{}: peak RSS {:.1} MiB (restarts {})",
            i.name,
            i.peak_rss_kib as f64 / 1024.0,
            i.restarts
        );
    }
    let _ = writeln!(
        out,
        "sends: {} answered, {} not; dashboard reads: {} ok, {} not",
        s.load.sends_ok.load(Ordering::Relaxed),
        s.load.sends_err.load(Ordering::Relaxed),
        s.load.dashboard_ok.load(Ordering::Relaxed),
        s.load.dashboard_err.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "\n== checks ==");
    let _ = writeln!(
        out,
        "{:<66} {:>9} {:>9}  result",
        "check", "compared", "bad"
    );
    for c in checks {
        let _ = writeln!(
            out,
            "{:<66} {:>9} {:>9}  {}",
            c.name,
            c.compared,
            c.bad.len(),
            if c.bad.is_empty() { "ok" } else { "MISMATCH" }
        );
    }
    let mut seen = HashSet::new();
    for c in checks.iter().filter(|c| !c.bad.is_empty()) {
        if seen.insert(c.name) {
            let _ = writeln!(out, "\n-- {} ({} rows, first 25) --", c.name, c.bad.len());
            for row in c.bad.iter().take(25) {
                let _ = writeln!(out, "  {row}");
            }
        }
    }
    println!("{out}");
}
