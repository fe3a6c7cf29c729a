//! Load while the faults run: fan activity on the simulator, staff sends through both
//! instances' inboxes (signed-in HTTP clients), dashboard reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::remote::Activity;
use super::setup::PASSWORD;

/// Counters the load tasks share with the phase loop.
#[derive(Default)]
pub struct Load {
    pub stop: AtomicBool,
    /// Fan activity paused (quiesce) without stopping the tasks.
    pub activity_on: AtomicBool,
    pub sends_on: AtomicBool,
    pub events: AtomicU64,
    pub sends_ok: AtomicU64,
    pub sends_err: AtomicU64,
    /// Send requests sent and not answered yet.
    pub sends_in_flight: AtomicU64,
    pub dashboard_ok: AtomicU64,
    pub dashboard_err: AtomicU64,
    /// Every send attempted: (idempotency key, text).
    pub attempted: Mutex<Vec<(String, String)>>,
}

pub async fn login(base: &str, email: &str) -> anyhow::Result<reqwest::Client> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()?;
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = csrf_in(&page).context("login page has a CSRF token")?;
    let r = client
        .post(format!("{base}/login"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("next", "/"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("login at {base} answered {}", r.status());
    }
    Ok(client)
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Fan activity at `rate` events/s in steps of 100 ms.
pub fn spawn_activity(sim: Activity, load: Arc<Load>, rate: f64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut carry = 0.0;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !load.stop.load(Ordering::Relaxed) {
            tick.tick().await;
            if !load.activity_on.load(Ordering::Relaxed) {
                continue;
            }
            carry += rate / 10.0;
            let n = carry.floor() as usize;
            carry -= n as f64;
            if n > 0 {
                // A lost tick is load not driven, not a result: the checks compare the
                // mirror with whatever the simulator holds.
                match sim.generate_activity(n).await {
                    Ok(done) => {
                        load.events.fetch_add(done as u64, Ordering::Relaxed);
                    }
                    Err(e) => eprintln!("activity tick failed: {e:#}"),
                }
            }
        }
    })
}

/// One staff member sending replies through one instance, one every `every`.
pub fn spawn_sender(
    base: String,
    email: String,
    chats: Arc<Vec<Uuid>>,
    load: Arc<Load>,
    every: Duration,
    seed: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut client: Option<(reqwest::Client, String)> = None;
        let mut n = 0u64;
        while !load.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(every).await;
            if !load.sends_on.load(Ordering::Relaxed) || chats.is_empty() {
                continue;
            }
            let chat = chats[rng.random_range(0..chats.len())];
            if client.is_none() {
                // A restarted instance keeps the session (Postgres rows); a failed login
                // (instance down) is retried at the next tick.
                match signed_in(&base, &email, chat).await {
                    Ok(c) => client = Some(c),
                    Err(_) => {
                        load.sends_err.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            }
            let Some((c, csrf)) = client.as_ref() else {
                continue;
            };
            n += 1;
            let key = Uuid::new_v4().to_string();
            let text = format!("soak send {seed}-{n} {}", &key[..8]);
            load.attempted.lock().push((key.clone(), text.clone()));
            load.sends_in_flight.fetch_add(1, Ordering::Relaxed);
            let r = c
                .post(format!("{base}/inbox/chats/{chat}/send"))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("idempotency_key", key.as_str()),
                    ("text", text.as_str()),
                    ("price", ""),
                ])
                .send()
                .await;
            load.sends_in_flight.fetch_sub(1, Ordering::Relaxed);
            match r {
                Ok(r) if r.status().is_success() || r.status().is_redirection() => {
                    load.sends_ok.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    load.sends_err.fetch_add(1, Ordering::Relaxed);
                    client = None;
                }
            }
        }
    })
}

async fn signed_in(
    base: &str,
    email: &str,
    chat: Uuid,
) -> anyhow::Result<(reqwest::Client, String)> {
    let c = login(base, email).await?;
    let page = c
        .get(format!("{base}/inbox/chats/{chat}"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = csrf_in(&page).context("thread page has a CSRF token")?;
    Ok((c, csrf))
}

/// A manager reading the dashboard every `every`.
pub fn spawn_dashboard(
    base: String,
    email: String,
    load: Arc<Load>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut client: Option<reqwest::Client> = None;
        while !load.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(every).await;
            if !load.sends_on.load(Ordering::Relaxed) {
                continue;
            }
            if client.is_none() {
                client = login(&base, &email).await.ok();
            }
            let Some(c) = client.as_ref() else {
                load.dashboard_err.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            match c.get(format!("{base}/dashboard")).send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    load.dashboard_ok.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    load.dashboard_err.fetch_add(1, Ordering::Relaxed);
                    client = None;
                }
            }
        }
    })
}

/// Pool storm: `n` concurrent dashboard reads at once against one instance, repeated for
/// `secs`; answers are counted, not required to succeed.
pub async fn pool_storm(base: &str, email: &str, n: usize, secs: u64) -> (u64, u64) {
    let Ok(c) = login(base, email).await else {
        return (0, 0);
    };
    // A short client timeout: the storm is the load, not a wait for each answer.
    let timeout = Duration::from_secs(5);
    let ok = Arc::new(AtomicU64::new(0));
    let err = Arc::new(AtomicU64::new(0));
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..n {
        let c = c.clone();
        let url = format!("{base}/dashboard");
        let (ok, err) = (ok.clone(), err.clone());
        tasks.push(tokio::spawn(async move {
            while std::time::Instant::now() < until {
                match c.get(&url).timeout(timeout).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        err.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (ok.load(Ordering::Relaxed), err.load(Ordering::Relaxed))
}

/// A Postgres connection storm: opens connections to the server until all but `spare`
/// of its slots are taken (or the server refuses one), holds them for `hold`, then lets
/// them go. The instances' pools can open almost nothing new meanwhile. Returns how many
/// were held.
pub async fn connection_storm(
    opts: &sqlx::postgres::PgConnectOptions,
    spare: i64,
    hold: Duration,
) -> anyhow::Result<usize> {
    use sqlx::Connection;
    let mut probe = sqlx::PgConnection::connect_with(opts).await?;
    let (max, reserved, used): (i64, i64, i64) = sqlx::query_as(
        "SELECT current_setting('max_connections')::bigint,
                current_setting('superuser_reserved_connections')::bigint,
                (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
    )
    .fetch_one(&mut probe)
    .await?;
    probe.close().await?;
    // The probe's own slot is free again.
    let room = (max - reserved - (used - 1) - spare).max(0) as usize;
    let mut held = Vec::with_capacity(room);
    for _ in 0..room {
        match sqlx::PgConnection::connect_with(opts).await {
            Ok(c) => held.push(c),
            Err(_) => break,
        }
    }
    let n = held.len();
    tokio::time::sleep(hold).await;
    for c in held {
        let _ = c.close().await;
    }
    Ok(n)
}
