//! Webhook intake benchmark (`cargo bench --bench webhook_bench`).
//!
//! 1. Creates a scratch database, an agency and one connected creator (with its sync
//!    state row, as a real connection leaves it), and starts the full application on a
//!    loopback port with sync and background webhook processing off.
//! 2. For each concurrency level, an in-process client (keep-alive connections) sends
//!    signed `message.received` deliveries, each with a fresh `messageUuid`, for a fixed
//!    time to `POST /webhooks/fanvue/message-received`: first to a bare actix-web server
//!    whose handler only answers 200 (same client, same bodies, same signatures), then to
//!    Switchboard. Each run has a 0.5 s warm-up whose deliveries count in the ledger but
//!    not in the rates.
//! 3. Ledger: every delivery Switchboard acknowledged must be a row in `webhook_events`;
//!    then `process::drain` applies them all (timed), and every acknowledged delivery must
//!    be `processed` with its message in `messages`.
//!
//! The client shares the machine's cores with the server and with Postgres, so rates are
//! the three together. Knobs (environment): WH_BENCH_SECS (default 5),
//! WH_BENCH_CONCURRENCY (comma list, default 1,8,32,64), WH_BENCH_POOL (database pool
//! size, default 10 as `Application::build` uses), WH_BENCH_FANS (distinct senders,
//! default 200), WH_BENCH_DRAIN (`batched`, the default, or `per-event`: rounds applied
//! with per-event statements, as processing worked before batching, for a before/after
//! in one build), WH_BENCH_DRAIN_WORKERS (concurrent processors of the batched drain,
//! default 1, as `webhooks.workers`), WH_BENCH_BATCH (events per round, default
//! `webhooks.apply_batch`), BENCH_DASHBOARD_ROLLUPS (`off` disables the dashboard rollups' triggers:
//! the before of their cost to processing). Writes `target/bench/webhook_bench.json`.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use secrecy::SecretString;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgPool};
use switchboard::config::{DEFAULT_SCOPES, Settings};
use switchboard::crypto::TokenCipher;
use switchboard::domain::CreatorId;
use switchboard::startup::Application;
use switchboard::webhooks::{process, signature};
use switchboard::{bootstrap, store};
use uuid::Uuid;

const PATH: &str = "/webhooks/fanvue/message-received";
const WARM_UP: Duration = Duration::from_millis(500);

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// utime + stime of one /proc/<pid>/stat, in seconds (USER_HZ is 100 on Linux).
fn stat_cpu_secs(stat: &str) -> Option<f64> {
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds this process (server and client threads) has used.
fn process_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| stat_cpu_secs(&s))
        .unwrap_or(0.0)
}

/// CPU seconds used so far by the Postgres backends serving this benchmark's database
/// (the pool's connections, which live for the whole run; other databases on the same
/// server are not counted).
async fn postgres_cpu_secs(pool: &PgPool) -> f64 {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|s| stat_cpu_secs(&s))
        .sum()
}

fn settings(database: &str) -> anyhow::Result<Settings> {
    let mut s = common::bench_settings(database)?;
    // The benchmark drains on its own, after the intake runs.
    s.webhooks.secret = Some(SecretString::from("bench-webhook-secret"));
    s.webhooks.apply_batch = env_or("WH_BENCH_BATCH", s.webhooks.apply_batch);
    Ok(s)
}

/// The baseline: a bare actix-web server whose handler reads the body and answers 200
/// with the same JSON Switchboard answers on success. Same worker count (actix default).
async fn bare_handler(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "accepted" }))
}

fn start_bare() -> anyhow::Result<(String, actix_web::dev::ServerHandle)> {
    let server = HttpServer::new(|| {
        App::new().route("/webhooks/fanvue/{event}", web::post().to(bare_handler))
    })
    .bind(("127.0.0.1", 0))?;
    let port = server
        .addrs()
        .first()
        .map(|a| a.port())
        .context("bare server has no address")?;
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((format!("http://127.0.0.1:{port}"), handle))
}

/// What one message.received delivery looks like (see the API tests' `received`).
fn body(creator: Uuid, fan: Uuid, msg: Uuid, n: u64) -> Vec<u8> {
    // A fan's handle is stable: each delivery of one fan names the same.
    let handle = fan.simple();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!(
        r#"{{"messageUuid":"{msg}","message":{{"uuid":"{msg}","text":"bench message {n}","hasMedia":false,"mediaUuids":[],"price":null,"createdAt":"{now}"}},"sender":{{"uuid":"{fan}","handle":"fan-{handle}","displayName":"Bench Fan","avatarUrl":null}},"recipientUuid":"{creator}","isMuted":false,"timestamp":"{now}"}}"#
    )
    .into_bytes()
}

struct Target {
    creator: Uuid,
    fans: Arc<Vec<Uuid>>,
    secret: SecretString,
}

#[derive(Default)]
struct Load {
    /// Requests started after the warm-up (the measured ones).
    measured: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Every request sent, warm-up included.
    sent: u64,
    /// Answered 200 `{"status":"accepted"}` (warm-up included).
    accepted: Vec<Uuid>,
    /// Anything else: transport errors, other statuses, other bodies (warm-up included).
    errors: u64,
    /// CPU ms per request, this process and its Postgres backends, over the run.
    cpu_ms_per_req: f64,
    pg_cpu_ms_per_req: f64,
}

async fn drive(
    client: &reqwest::Client,
    base: &str,
    concurrency: usize,
    secs: u64,
    t: &Target,
    pool: &PgPool,
) -> Load {
    let url = Arc::new(format!("{base}{PATH}"));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let measure_from = start + WARM_UP;
    let (cpu0, pg0) = (process_cpu_secs(), postgres_cpu_secs(pool).await);
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
        let (creator, fans, secret) = (t.creator, t.fans.clone(), t.secret.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat_us: Vec<u32> = Vec::new();
            let (mut sent, mut errors, mut measured) = (0u64, 0u64, 0u64);
            let mut accepted = Vec::new();
            let mut n = worker as u64;
            while !stop.load(Ordering::Relaxed) {
                let msg = Uuid::new_v4();
                let fan = fans[(n as usize) % fans.len()];
                let raw = body(creator, fan, msg, n);
                let sig = signature::sign(&secret, chrono::Utc::now().timestamp(), &raw);
                n += concurrency as u64;
                let t0 = Instant::now();
                let r = client
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .header(switchboard::webhooks::receive::SIGNATURE_HEADER, sig)
                    .body(raw)
                    .send()
                    .await;
                let ok = match r {
                    Ok(r) if r.status() == reqwest::StatusCode::OK => r
                        .bytes()
                        .await
                        .is_ok_and(|b| b.as_ref() == br#"{"status":"accepted"}"#),
                    Ok(r) => {
                        let _ = r.bytes().await;
                        false
                    }
                    Err(_) => false,
                };
                let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
                sent += 1;
                if ok {
                    accepted.push(msg);
                } else {
                    errors += 1;
                }
                if t0 >= measure_from {
                    measured += 1;
                    lat_us.push(us);
                }
            }
            (lat_us, sent, errors, measured, accepted)
        }));
    }
    tokio::time::sleep(WARM_UP + Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut load = Load::default();
    let mut lat: Vec<u32> = Vec::new();
    for task in tasks {
        if let Ok((l, sent, errors, measured, accepted)) = task.await {
            lat.extend(l);
            load.sent += sent;
            load.errors += errors;
            load.measured += measured;
            load.accepted.extend(accepted);
        }
    }
    load.secs = measure_from.elapsed().as_secs_f64();
    let (cpu, pg) = (
        process_cpu_secs() - cpu0,
        postgres_cpu_secs(pool).await - pg0,
    );
    load.cpu_ms_per_req = cpu * 1000.0 / load.sent.max(1) as f64;
    load.pg_cpu_ms_per_req = pg * 1000.0 / load.sent.max(1) as f64;
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            0.0
        } else {
            let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
            lat[i] as f64 / 1000.0
        }
    };
    load.p50_ms = pct(0.50);
    load.p99_ms = pct(0.99);
    load.max_ms = lat.last().map_or(0.0, |v| *v as f64 / 1000.0);
    load
}

async fn count(pool: &PgPool, sql: &'static str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; test runners that list or run every target do not,
    // and get nothing to run rather than a debug-build benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let secs: u64 = env_or("WH_BENCH_SECS", 5);
    let levels: Vec<usize> = std::env::var("WH_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,8,32,64".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .filter(|c| *c > 0)
        .collect();
    let pool_size: u32 = env_or("WH_BENCH_POOL", 10);
    let fan_count: usize = env_or("WH_BENCH_FANS", 200).max(1);
    let load_start = loadavg();

    let database = format!("sbbench_wh_{}", Uuid::new_v4().simple());
    let settings = settings(&database)?;
    let opts: PgConnectOptions = settings.connect_options()?;
    let pool = store::connect_and_migrate(opts.clone(), pool_size).await?;
    let result = run(
        &settings,
        &pool,
        secs,
        &levels,
        pool_size,
        fan_count,
        &load_start,
    )
    .await;

    // Drop the scratch database whatever happened.
    pool.close().await;
    let mut admin = sqlx::PgConnection::connect_with(&opts.clone().database("postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    result
}

async fn run(
    settings: &Settings,
    pool: &PgPool,
    secs: u64,
    levels: &[usize],
    pool_size: u32,
    fan_count: usize,
    load_start: &str,
) -> anyhow::Result<()> {
    let per_event = std::env::var("WH_BENCH_DRAIN").is_ok_and(|v| v == "per-event");
    let drain_workers: usize = env_or("WH_BENCH_DRAIN_WORKERS", 1).max(1);
    let rollups = common::rollups_knob(pool).await?;
    // One connected creator, as the OAuth connect flow leaves it (creator + sync state).
    let (agency, owner) = bootstrap::create_agency_with_owner(
        pool,
        "Bench",
        "o@b.test",
        "Owner",
        SecretString::from("correct horse battery staple"),
    )
    .await?;
    let creator_uuid = Uuid::new_v4();
    let creator_id = CreatorId::new();
    let cipher = TokenCipher::new(&settings.secret_key);
    let access = cipher.encrypt(&SecretString::from("bench-access-token"), "bench access")?;
    let scopes: Vec<String> = DEFAULT_SCOPES
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut conn = pool.acquire().await?;
    store::creators::upsert_connected(
        &mut conn,
        store::creators::Connected {
            id: creator_id,
            agency_id: agency,
            fanvue_uuid: creator_uuid,
            handle: "bench-creator",
            display_name: "Bench Creator",
            avatar_url: None,
            scopes: &scopes,
            access_token_enc: &access,
            refresh_token_enc: None,
            token_expires_at: None,
            connected_by: owner,
        },
    )
    .await?;
    store::sync::ensure(&mut *conn, agency, creator_id).await?;
    drop(conn);

    let app = Application::build_with_pool(settings.clone(), pool.clone())?;
    let ours = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let (bare, bare_handle) = start_bare()?;

    let target = Target {
        creator: creator_uuid,
        fans: Arc::new((0..fan_count).map(|_| Uuid::new_v4()).collect()),
        secret: settings.webhooks.secret.clone().context("webhook secret")?,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build()?;

    // Interleaved per level (bare, then ours) so both see the same machine load.
    let mut runs: Vec<(usize, Load, Load)> = Vec::new();
    let mut acked: Vec<Uuid> = Vec::new();
    let (mut sent_total, mut errors_total) = (0u64, 0u64);
    for &c in levels {
        let b = drive(&client, &bare, c, secs, &target, pool).await;
        let mut o = drive(&client, &ours, c, secs, &target, pool).await;
        sent_total += o.sent;
        errors_total += o.errors;
        acked.append(&mut o.accepted);
        runs.push((c, b, o));
    }
    bare_handle.stop(true).await;

    // Ledger: every acknowledged delivery is a stored row.
    let rows = count(pool, "SELECT count(*) FROM webhook_events").await?;
    let rejections = count(pool, "SELECT count(*) FROM webhook_rejections").await?;
    let stored: HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT payload->>'messageUuid' FROM webhook_events")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let acked_missing = acked
        .iter()
        .filter(|u| !stored.contains(&u.to_string()))
        .count();

    // Processing: drain everything, timed.
    let pending = count(
        pool,
        "SELECT count(*) FROM webhook_events WHERE status = 'pending'",
    )
    .await?;
    let t0 = Instant::now();
    let (cpu0, pg0) = (process_cpu_secs(), postgres_cpu_secs(pool).await);
    let drained = if per_event {
        process::drain_per_event(pool, &settings.webhooks).await?
    } else {
        process::drain_concurrently(pool, &settings.webhooks, drain_workers).await?
    };
    // The replies the drain left pending are part of its work.
    let (flush_secs, flushed) = common::flush_pending_replies(pool).await?;
    let drain_secs = t0.elapsed().as_secs_f64();
    let drain_cpu_ms = (process_cpu_secs() - cpu0) * 1000.0 / drained.max(1) as f64;
    let drain_pg_cpu_ms = (postgres_cpu_secs(pool).await - pg0) * 1000.0 / drained.max(1) as f64;
    let processed = count(
        pool,
        "SELECT count(*) FROM webhook_events WHERE status = 'processed'",
    )
    .await?;
    let messages = count(pool, "SELECT count(*) FROM messages").await?;
    let applied: HashSet<Uuid> = sqlx::query_scalar::<_, Uuid>("SELECT uuid FROM messages")
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
    let unapplied = acked.iter().filter(|u| !applied.contains(u)).count();
    let zero_lost = acked_missing == 0
        && unapplied == 0
        && rows as usize == acked.len()
        && processed == rows
        && messages == rows;
    let load_end = loadavg();

    // Report.
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let rate = |l: &Load| l.measured as f64 / l.secs.max(1e-9);
    println!();
    println!(
        "Webhook intake: signed message.received deliveries over loopback ({cores} cores, \
         client in-process, pool {pool_size}, {secs} s per run after a 0.5 s warm-up)"
    );
    println!("  load average at start: {load_start}; at end: {load_end}");
    println!(
        "  {:>4} | {:>9} {:>7} {:>7} {:>6} | {:>9} {:>7} {:>7} {:>7} {:>6} {:>7} {:>7} | {:>6}",
        "conc",
        "bare/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "ours/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "cpu ms",
        "pg ms",
        "ratio"
    );
    for (c, b, o) in &runs {
        println!(
            "  {:>4} | {:>9.0} {:>7.2} {:>7.2} {:>6} | {:>9.0} {:>7.2} {:>7.2} {:>7.1} {:>6} {:>7.3} {:>7.3} | {:>6.3}",
            c,
            rate(b),
            b.p50_ms,
            b.p99_ms,
            b.errors,
            rate(o),
            o.p50_ms,
            o.p99_ms,
            o.max_ms,
            o.errors,
            o.cpu_ms_per_req,
            o.pg_cpu_ms_per_req,
            rate(o) / rate(b).max(1e-9)
        );
    }
    println!(
        "  (cpu ms / pg ms: CPU per delivery of this process and of the Postgres backends serving it)"
    );
    println!(
        "  ledger: sent {sent_total}, acknowledged {}, errors {errors_total}, rows {rows}, \
         acknowledged-but-missing {acked_missing}, rejections {rejections}",
        acked.len()
    );
    println!(
        "  drain ({}, {drain_workers} worker(s), rounds of {}, dashboard rollups {rollups}): {drained} of {pending} pending applied in {drain_secs:.2} s = {:.0} events/s \
         (cpu {drain_cpu_ms:.3} ms + pg {drain_pg_cpu_ms:.3} ms per event); processed {processed}, \
         messages {messages}, acknowledged-but-unapplied {unapplied}; \
         of which {flush_secs:.2} s recomputing {flushed} pending reply records",
        if per_event { "per-event" } else { "batched" },
        settings.webhooks.apply_batch,
        drained as f64 / drain_secs.max(1e-9)
    );
    println!("  zero lost: {}", if zero_lost { "yes" } else { "NO" });
    if let Some((c, _, o)) = runs.iter().find(|(c, _, _)| *c == 64) {
        let met = rate(o) >= 2000.0 && o.p99_ms < 50.0;
        println!(
            "  target at {c} senders (>= 2,000/s, p99 < 50 ms): {:.0}/s, p99 {:.1} ms -> {}",
            rate(o),
            o.p99_ms,
            if met { "met" } else { "NOT met" }
        );
    }

    let load_json = |l: &Load| {
        json!({
            "deliveries_per_sec": rate(l),
            "measured": l.measured,
            "secs": l.secs,
            "p50_ms": l.p50_ms,
            "p99_ms": l.p99_ms,
            "max_ms": l.max_ms,
            "sent_incl_warmup": l.sent,
            "errors": l.errors,
            "cpu_ms_per_request": l.cpu_ms_per_req,
            "postgres_cpu_ms_per_request": l.pg_cpu_ms_per_req,
        })
    };
    let out = json!({
        "cores": cores,
        "secs_per_run": secs,
        "pool_size": pool_size,
        "fans": fan_count,
        "dashboard_rollups": rollups,
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "runs": runs.iter().map(|(c, b, o)| json!({
            "concurrency": c,
            "bare": load_json(b),
            "switchboard": load_json(o),
            "ratio": rate(o) / rate(b).max(1e-9),
        })).collect::<Vec<_>>(),
        "ledger": {
            "sent": sent_total,
            "acknowledged": acked.len(),
            "errors": errors_total,
            "rows": rows,
            "acknowledged_missing": acked_missing,
            "rejections": rejections,
        },
        "drain": {
            "mode": if per_event { "per-event" } else { "batched" },
            "workers": drain_workers,
            "round": settings.webhooks.apply_batch,
            "pending": pending,
            "applied": drained,
            "secs": drain_secs,
            "events_per_sec": drained as f64 / drain_secs.max(1e-9),
            "cpu_ms_per_event": drain_cpu_ms,
            "postgres_cpu_ms_per_event": drain_pg_cpu_ms,
            "processed": processed,
            "messages": messages,
            "acknowledged_unapplied": unapplied,
        },
        "zero_lost": zero_lost,
    });
    std::fs::create_dir_all("target/bench")?;
    std::fs::write(
        "target/bench/webhook_bench.json",
        serde_json::to_vec_pretty(&out)?,
    )?;
    println!("  wrote target/bench/webhook_bench.json");
    anyhow::ensure!(zero_lost, "deliveries were lost (see the ledger above)");
    Ok(())
}
