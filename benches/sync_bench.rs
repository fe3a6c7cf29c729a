//! Mirror sync benchmark (`cargo bench --bench sync_bench`).
//!
//! Runs the real sync engine (`SyncEngine::run_once` on several concurrent workers) against
//! the in-process Fanvue simulator and a scratch Postgres database, and measures what the
//! "Performance" section of the mirror-sync issue asks for:
//!
//! 1. **Backfill cost**: API requests of backfill + history against the lower bound
//!    `Σ creators (ceil(chats/50) list pages + ceil(chats/50) batches + Σ chats (ceil(n/50) − 1))`,
//!    with `n` each chat's message count in the simulator. Measured with rate limiting off
//!    (pass A) and again with a short rate-limit window on (pass B, where 429s are counted).
//! 2. **Reconcile cost** after a share of the chats got a new message: requests of the
//!    reconcile runs against `Σ creators 2 × ceil(changed/50)`, and in the same run the naive
//!    poller (one `GET /chats/{fan}/messages` per chat) as the baseline.
//! 3. **Ingest throughput**: the mirror's rows written again through
//!    `store::messages::upsert_messages` in the batches sync uses (50 chats × 50 messages), against
//!    `COPY` of the same rows into scratch tables (without and with the mirror's indexes).
//! 4. **Wall time and memory** of the whole backfill with rate limits off; peak resident memory
//!    (VmHWM) of the process, and the simulator's share (measured after it generated the world).
//!
//! Knobs (environment): SYNC_BENCH_CREATORS / SYNC_BENCH_CHATS / SYNC_BENCH_MESSAGES
//! (default 100 / 50 / 100), SYNC_BENCH_WORKERS (concurrent sync workers, default 4),
//! SYNC_BENCH_CHANGED_PCT (share of chats changed before the reconcile, default 10),
//! SYNC_BENCH_LIMITED_CREATORS (creators in the rate-limited pass B, default 25; 0 skips
//! it), SYNC_BENCH_RL_LIMIT / SYNC_BENCH_RL_WINDOW_MS (pass B limit, default 20 per 1000 ms),
//! BENCH_DATABASE_URL (Postgres server, default postgres://postgres@127.0.0.1:5432/postgres),
//! BENCH_DASHBOARD_ROLLUPS (`off` disables the dashboard rollups' triggers: the before of
//! their cost to ingest). Writes `target/bench/sync_bench.json`.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use switchboard::config::{FanvueApp, Settings};
use switchboard::connections::{Connections, access_context, refresh_context};
use switchboard::crypto::TokenCipher;
use switchboard::domain::{AgencyId, CreatorId, MessageKind, MessageSource};
use switchboard::fanvue::models::SendMessage;
use switchboard::fanvue::{CallAuth, FanvueClient, Priority};
use switchboard::sim::{self, SimConfig, SimHandle};
use switchboard::store::{self, messages::MessageUpsert};
use switchboard::sync::{Outcome, SyncEngine};
use uuid::Uuid;

const PAGE: usize = 50;
const SCOPES: &[&str] = &[
    "openid",
    "offline_access",
    "offline",
    "read:self",
    "read:chat",
    "write:chat",
    "read:fan",
    "read:insights",
];

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Peak resident set size in MiB, from /proc/self/status (Linux).
fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn settings_for(database: &str, sim: &SimHandle) -> anyhow::Result<Settings> {
    let mut s = common::bench_settings(database)?;
    s.fanvue.app = Some(FanvueApp {
        client_id: sim.client_id().to_owned(),
        client_secret: SecretString::from(sim.client_secret().to_owned()),
    });
    s.fanvue.api_url = url::Url::parse(&sim.api_base_url())?;
    s.fanvue.auth_url = url::Url::parse(sim.auth_base_url())?;
    s.fanvue.api_version = sim.api_version().to_owned();
    s.fanvue.request_timeout = Duration::from_secs(30);
    Ok(s)
}

struct Creator {
    uuid: Uuid,
    token: String,
    /// Fans, newest activity first (as the simulator lists them).
    fans: Vec<Uuid>,
    /// Messages per chat in the simulator, same order as `fans`.
    sizes: Vec<usize>,
}

struct Bench {
    sim: SimHandle,
    pool: PgPool,
    settings: Settings,
    db: String,
    agency: AgencyId,
    creators: Vec<Creator>,
}

fn sim_config(creators: usize, chats: usize, messages: usize) -> SimConfig {
    let mut cfg = SimConfig::default();
    cfg.scenario.creators = creators;
    cfg.scenario.fans_per_creator = chats;
    cfg.scenario.messages_per_chat = messages;
    cfg.scenario.agencies = 1;
    // Every changed chat must accept the creator's message.
    cfg.scenario.uncontactable_share = 0.0;
    // Simulated history ends now, so "recent" means the same on both sides.
    cfg.epoch = Utc::now();
    cfg.workers = 2;
    cfg
}

/// Starts the simulator, creates the scratch database, an agency and one connected creator
/// per simulated creator (tokens issued directly, encrypted as the connect flow stores them).
async fn setup(cfg: SimConfig, pool_size: u32) -> anyhow::Result<(Bench, f64, f64)> {
    let t0 = Instant::now();
    let sim = sim::start(cfg).await?;
    let sim_start_secs = t0.elapsed().as_secs_f64();
    let sim_hwm = vm_hwm_mib();
    let db = format!("sbbench_{}", Uuid::new_v4().simple());
    let settings = settings_for(&db, &sim)?;
    let opts: PgConnectOptions = settings.connect_options()?;
    let pool = store::connect_and_migrate(opts, pool_size).await?;
    let rollups = common::rollups_knob(&pool).await?;
    println!("dashboard rollups' triggers: {rollups}");
    let (agency, owner) = switchboard::bootstrap::create_agency_with_owner(
        &pool,
        "Bench",
        "owner@bench.test",
        "Owner",
        SecretString::from("correct horse battery staple"),
    )
    .await?;
    let cipher = TokenCipher::new(&settings.secret_key);
    let scopes: Vec<String> = SCOPES.iter().map(|s| (*s).to_owned()).collect();
    let mut creators = Vec::new();
    for (i, uuid) in sim.creator_uuids().into_iter().enumerate() {
        let t = sim
            .issue_token(&uuid.to_string(), SCOPES)
            .context("simulator issues a token")?;
        let id = CreatorId::new();
        let access_enc = cipher.encrypt(
            &SecretString::from(t.access_token.clone()),
            &access_context(id),
        )?;
        let refresh_enc = match &t.refresh_token {
            Some(r) => Some(cipher.encrypt(&SecretString::from(r.clone()), &refresh_context(id))?),
            None => None,
        };
        let handle = format!("bench-creator-{i}");
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
                access_token_enc: &access_enc,
                refresh_token_enc: refresh_enc.as_deref(),
                token_expires_at: Some(Utc::now() + chrono::Duration::seconds(t.expires_in)),
                connected_by: owner,
            },
        )
        .await?;
        drop(conn);
        store::sync::ensure(&pool, agency, id).await?;
        let fans = sim.fan_uuids(&uuid);
        let sizes = {
            let w = sim.sim().world.read();
            let c = w.user_id(&uuid).context("creator in world")?;
            fans.iter()
                .map(|f| {
                    w.user_id(f)
                        .and_then(|f| w.chat_of(c, f))
                        .map_or(0, |ch| w.chats[ch as usize].messages.len())
                })
                .collect()
        };
        creators.push(Creator {
            uuid,
            token: t.access_token,
            fans,
            sizes,
        });
    }
    Ok((
        Bench {
            sim,
            pool,
            settings,
            db,
            agency,
            creators,
        },
        sim_start_secs,
        sim_hwm,
    ))
}

async fn teardown(b: Bench) -> anyhow::Result<()> {
    b.pool.close().await;
    b.sim.stop().await;
    let opts: PgConnectOptions = b.settings.connect_options()?;
    let mut conn =
        <sqlx::PgConnection as sqlx::Connection>::connect_with(&opts.database("postgres")).await?;
    let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", b.db);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    sqlx::Connection::close(conn).await?;
    Ok(())
}

fn engine(b: &Bench) -> anyhow::Result<SyncEngine> {
    let settings = Arc::new(b.settings.clone());
    let client = Arc::new(FanvueClient::new(&settings.fanvue)?);
    let conns = Connections::new(b.pool.clone(), settings.clone(), client);
    Ok(SyncEngine::new(
        b.pool.clone(),
        conns,
        settings.sync.clone(),
    ))
}

/// Runs `workers` concurrent sync workers until no creator has work due.
async fn drain_all(engine: &SyncEngine, workers: usize) -> anyhow::Result<u64> {
    let mut runs = 0u64;
    for _ in 0..1000 {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..workers {
            let e = engine.clone();
            set.spawn(async move {
                let name = format!("bench-{i}");
                let mut n = 0u64;
                loop {
                    match e.run_once(&name, None).await? {
                        Outcome::Idle => return anyhow::Ok(n),
                        Outcome::Ran { .. } => n += 1,
                    }
                }
            });
        }
        while let Some(r) = set.join_next().await {
            runs += r??;
        }
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sync_state WHERE backfill_done_at IS NULL
               OR history_done_at IS NULL OR next_reconcile_at <= now()",
        )
        .fetch_one(&engine.pool)
        .await?;
        if pending == 0 {
            return Ok(runs);
        }
    }
    anyhow::bail!("sync never became idle")
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct KindTotals {
    runs: i64,
    api_requests: i64,
    rate_limited: i64,
    messages_upserted: i64,
    chats_touched: i64,
    errors: i64,
}

async fn last_run_id(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT max(id)::int8 FROM sync_runs")
            .fetch_one(pool)
            .await?
            .unwrap_or(0),
    )
}

/// `sync_runs` totals by kind for runs after `after_id`.
async fn runs_by_kind(
    pool: &PgPool,
    after_id: i64,
) -> anyhow::Result<BTreeMap<String, KindTotals>> {
    let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT kind, count(*), COALESCE(sum(api_requests), 0)::int8, COALESCE(sum(rate_limited), 0)::int8,
                COALESCE(sum(messages_upserted), 0)::int8, COALESCE(sum(chats_touched), 0)::int8,
                count(*) FILTER (WHERE error IS NOT NULL)
         FROM sync_runs WHERE id > $1 GROUP BY kind ORDER BY kind",
    )
    .bind(after_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(k, runs, req, rl, msgs, chats, errors)| {
            (
                k,
                KindTotals {
                    runs,
                    api_requests: req,
                    rate_limited: rl,
                    messages_upserted: msgs,
                    chats_touched: chats,
                    errors,
                },
            )
        })
        .collect())
}

/// Lower bound of backfill + history requests for the world.
fn backfill_lower_bound(creators: &[Creator], history_depth: u32) -> u64 {
    let max_pages = (history_depth as usize).div_ceil(PAGE).max(1);
    creators
        .iter()
        .map(|c| {
            let lists = c.fans.len().div_ceil(PAGE).max(1) as u64;
            let batches = c.fans.len().div_ceil(PAGE) as u64;
            let history: u64 = c
                .sizes
                .iter()
                .map(|n| (n.div_ceil(PAGE).min(max_pages)).saturating_sub(1) as u64)
                .sum();
            lists + batches + history
        })
        .sum()
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

struct BackfillResult {
    json: serde_json::Value,
    wall_secs: f64,
    sim_requests: u64,
    sync_requests: i64,
    lower_bound: u64,
    rate_limited_sim: u64,
    rate_limited_sync: i64,
    messages_upserted: i64,
    mirrored: i64,
    by_endpoint: BTreeMap<String, u64>,
    by_kind: BTreeMap<String, KindTotals>,
}

async fn backfill(b: &Bench, workers: usize) -> anyhow::Result<BackfillResult> {
    let engine = engine(b)?;
    let before = last_run_id(&b.pool).await?;
    b.sim.reset_stats();
    let t0 = Instant::now();
    drain_all(&engine, workers).await?;
    // The replies the backfill left pending are part of its work.
    let (flush_secs, flushed) = common::flush_pending_replies(&b.pool).await?;
    let wall_secs = t0.elapsed().as_secs_f64();
    let stats = b.sim.stats();
    let by_kind = runs_by_kind(&b.pool, before).await?;
    let sync_requests: i64 = by_kind.values().map(|k| k.api_requests).sum();
    let rate_limited_sync: i64 = by_kind.values().map(|k| k.rate_limited).sum();
    let messages_upserted: i64 = by_kind.values().map(|k| k.messages_upserted).sum();
    let errors: i64 = by_kind.values().map(|k| k.errors).sum();
    anyhow::ensure!(errors == 0, "{errors} sync runs failed during backfill");
    let mirrored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(&b.pool)
        .await?;
    let truth_messages: usize = b.creators.iter().flat_map(|c| c.sizes.iter()).sum();
    let lower_bound = backfill_lower_bound(&b.creators, b.settings.sync.history_depth);
    let json = json!({
        "wall_secs": wall_secs,
        "workers": workers,
        "sim_requests": stats.total_requests,
        "sim_by_endpoint": stats.by_endpoint,
        "sim_rate_limited": stats.rate_limited,
        "sync_runs_api_requests": sync_requests,
        "sync_runs_rate_limited": rate_limited_sync,
        "sync_runs_by_kind": by_kind,
        "lower_bound": lower_bound,
        "ratio_sim": ratio(stats.total_requests as f64, lower_bound as f64),
        "ratio_sync_runs": ratio(sync_requests as f64, lower_bound as f64),
        "messages_upserted": messages_upserted,
        "messages_mirrored": mirrored,
        "messages_in_simulator": truth_messages,
        "messages_per_sec_end_to_end": messages_upserted as f64 / wall_secs,
        "replies_flush_secs": flush_secs,
        "replies_flushed": flushed,
    });
    Ok(BackfillResult {
        json,
        wall_secs,
        sim_requests: stats.total_requests,
        sync_requests,
        lower_bound,
        rate_limited_sim: stats.rate_limited,
        rate_limited_sync,
        messages_upserted,
        mirrored,
        by_endpoint: stats.by_endpoint,
        by_kind,
    })
}

struct ReconcileResult {
    json: serde_json::Value,
    changed: usize,
    sim_requests: u64,
    reconcile_requests: i64,
    purchases_requests: i64,
    earnings_requests: i64,
    lower_bound: u64,
    naive_requests: u64,
    idle_reconcile: i64,
    idle_purchases: i64,
    idle_earnings: i64,
    creators: usize,
    wall_secs: f64,
    naive_secs: f64,
}

fn creator_auth(c: &Creator, priority: Priority, bucket: String) -> CallAuth {
    CallAuth {
        token: SecretString::from(c.token.clone()),
        bucket,
        priority,
        meter: None,
    }
}

async fn reconcile(b: &Bench, workers: usize, pct: usize) -> anyhow::Result<ReconcileResult> {
    // Time passes on Fanvue beyond the sync overlap, then a share of every creator's chats
    // gets one new message, spread over the chat list (by recency).
    b.sim.advance_clock(Duration::from_secs(600));
    let driver = FanvueClient::new(&b.settings.fanvue)?;
    let mut sends = Vec::new();
    let mut lower_bound = 0u64;
    for c in &b.creators {
        let n = c.fans.len();
        let k = (n * pct).div_ceil(100).min(n);
        lower_bound += 2 * k.div_ceil(PAGE) as u64;
        for i in 0..k {
            sends.push((c, c.fans[i * n / k], i));
        }
    }
    let changed = sends.len();
    let failures: usize = stream::iter(sends)
        .map(|(c, fan, i)| {
            let auth = creator_auth(c, Priority::Interactive, format!("driver-{}", c.uuid));
            let driver = &driver;
            async move {
                let msg = SendMessage {
                    text: Some(format!("bench change {i}")),
                    media_uuids: Vec::new(),
                    price: None,
                    template_uuid: None,
                };
                usize::from(driver.send_message(&auth, fan, &msg).await.is_err())
            }
        })
        .buffer_unordered(8)
        .fold(0, |a, f| async move { a + f })
        .await;
    anyhow::ensure!(failures == 0, "{failures} of {changed} sends failed");

    let engine = engine(b)?;
    let before = last_run_id(&b.pool).await?;
    b.sim.reset_stats();
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now()")
        .execute(&b.pool)
        .await?;
    let t0 = Instant::now();
    drain_all(&engine, workers).await?;
    let wall_secs = t0.elapsed().as_secs_f64();
    let stats = b.sim.stats();
    let by_kind = runs_by_kind(&b.pool, before).await?;
    let errors: i64 = by_kind.values().map(|k| k.errors).sum();
    anyhow::ensure!(errors == 0, "{errors} sync runs failed during reconcile");
    let get = |k: &str| by_kind.get(k).copied().unwrap_or_default();
    let (rec, pur, earn) = (get("reconcile"), get("purchases"), get("earnings"));
    let mirrored_changes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE text LIKE 'bench change %'")
            .fetch_one(&b.pool)
            .await?;
    anyhow::ensure!(
        mirrored_changes as usize == changed,
        "reconcile mirrored {mirrored_changes} of {changed} new messages"
    );

    // A second scheduled cycle right after, with nothing changed: the fixed cost per creator
    // (lower bound: one chat-list page).
    let before_idle = last_run_id(&b.pool).await?;
    b.sim.reset_stats();
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now()")
        .execute(&b.pool)
        .await?;
    drain_all(&engine, workers).await?;
    let idle_stats = b.sim.stats();
    let idle_by_kind = runs_by_kind(&b.pool, before_idle).await?;
    let idle_get = |k: &str| idle_by_kind.get(k).copied().unwrap_or_default();
    let idle_reconcile = idle_get("reconcile").api_requests;
    let idle_purchases = idle_get("purchases").api_requests;
    // The earnings walk took over the purchase refresh's place in the cycle.
    let idle_earnings = idle_get("earnings").api_requests;

    // The naive poller, same world, same moment: one messages request per chat.
    let client = FanvueClient::new(&b.settings.fanvue)?;
    let chats: Vec<(&Creator, Uuid)> = b
        .creators
        .iter()
        .flat_map(|c| c.fans.iter().map(move |f| (c, *f)))
        .collect();
    b.sim.reset_stats();
    let t1 = Instant::now();
    let naive_errors: usize = stream::iter(chats)
        .map(|(c, fan)| {
            let auth = creator_auth(c, Priority::Background, c.uuid.to_string());
            let client = &client;
            async move {
                usize::from(
                    client
                        .chat_messages(&auth, fan, 1, PAGE as u32)
                        .await
                        .is_err(),
                )
            }
        })
        .buffer_unordered(8)
        .fold(0, |a, f| async move { a + f })
        .await;
    let naive_secs = t1.elapsed().as_secs_f64();
    anyhow::ensure!(
        naive_errors == 0,
        "{naive_errors} naive poller requests failed"
    );
    let naive_requests = b.sim.stats().total_requests;

    let json = json!({
        "changed_chats": changed,
        "changed_percent": pct,
        "wall_secs": wall_secs,
        "sim_requests": stats.total_requests,
        "sim_by_endpoint": stats.by_endpoint,
        "sim_rate_limited": stats.rate_limited,
        "sync_runs_by_kind": by_kind,
        "lower_bound": lower_bound,
        "ratio_reconcile": ratio(rec.api_requests as f64, lower_bound as f64),
        "earnings_walk_requests": earn.api_requests,
        "ratio_reconcile_and_purchases": ratio((rec.api_requests + pur.api_requests) as f64, lower_bound as f64),
        "ratio_sim_total": ratio(stats.total_requests as f64, lower_bound as f64),
        "idle_cycle": {
            "sim_requests": idle_stats.total_requests,
            "sim_by_endpoint": idle_stats.by_endpoint,
            "sync_runs_by_kind": idle_by_kind,
            "lower_bound": b.creators.len(),
        },
        "naive_requests": naive_requests,
        "naive_secs": naive_secs,
        "naive_over_reconcile": ratio(naive_requests as f64, rec.api_requests as f64),
        "naive_over_reconcile_and_purchases": ratio(naive_requests as f64, (rec.api_requests + pur.api_requests) as f64),
    });
    Ok(ReconcileResult {
        json,
        changed,
        sim_requests: stats.total_requests,
        reconcile_requests: rec.api_requests,
        purchases_requests: pur.api_requests,
        earnings_requests: earn.api_requests,
        lower_bound,
        naive_requests,
        idle_reconcile,
        idle_purchases,
        idle_earnings,
        creators: b.creators.len(),
        wall_secs,
        naive_secs,
    })
}

#[derive(sqlx::FromRow)]
struct StoredMessage {
    creator_id: CreatorId,
    fan_uuid: Uuid,
    uuid: Uuid,
    sender_uuid: Option<Uuid>,
    recipient_uuid: Option<Uuid>,
    direction: String,
    text: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    kind: String,
    has_media: Option<bool>,
    media_type: Option<String>,
    media_uuids: Vec<Uuid>,
    price_cents: Option<i64>,
    purchased_at: Option<DateTime<Utc>>,
    sent_by_user_uuid: Option<String>,
    is_read: bool,
    chat_id: Uuid,
}

/// One write batch as sync makes it: one creator, up to 50 chats × 50 messages.
struct WriteBatch {
    creator: CreatorId,
    rows: Vec<MessageUpsert>,
    chat_ids: Vec<Uuid>,
}

fn to_upsert(m: &StoredMessage) -> MessageUpsert {
    MessageUpsert {
        uuid: m.uuid,
        fan_uuid: m.fan_uuid,
        sender_uuid: m.sender_uuid,
        recipient_uuid: m.recipient_uuid,
        outbound: m.direction == "out",
        text: m.text.clone(),
        sent_at: m.sent_at,
        kind: MessageKind::from(m.kind.clone()),
        has_media: m.has_media,
        media_type: m.media_type.clone(),
        media_uuids: m.media_uuids.clone(),
        price_cents: m.price_cents,
        purchased_at: m.purchased_at,
        sent_by_user_uuid: m.sent_by_user_uuid.clone(),
        is_read: m.is_read,
    }
}

/// Groups the mirror's rows like backfill and history write them: per creator, chats in
/// groups of 50, each contributing its next 50 messages (newest first).
fn batches(rows: &[StoredMessage]) -> Vec<WriteBatch> {
    let mut by_creator: BTreeMap<CreatorId, BTreeMap<Uuid, Vec<&StoredMessage>>> = BTreeMap::new();
    for m in rows {
        by_creator
            .entry(m.creator_id)
            .or_default()
            .entry(m.fan_uuid)
            .or_default()
            .push(m);
    }
    let mut out = Vec::new();
    for (creator, chats) in by_creator {
        let chats: Vec<Vec<&StoredMessage>> = chats.into_values().collect();
        for group in chats.chunks(PAGE) {
            let deepest = group.iter().map(Vec::len).max().unwrap_or(0);
            for p in 0..deepest.div_ceil(PAGE) {
                let mut b = WriteBatch {
                    creator,
                    rows: Vec::new(),
                    chat_ids: Vec::new(),
                };
                for chat in group {
                    for m in chat.iter().skip(p * PAGE).take(PAGE) {
                        b.rows.push(to_upsert(m));
                        b.chat_ids.push(m.chat_id);
                    }
                }
                if !b.rows.is_empty() {
                    out.push(b);
                }
            }
        }
    }
    out
}

fn copy_field(buf: &mut String, v: Option<&str>) {
    match v {
        None => buf.push_str("\\N"),
        Some(s) => {
            for ch in s.chars() {
                match ch {
                    '\\' => buf.push_str("\\\\"),
                    '\t' => buf.push_str("\\t"),
                    '\n' => buf.push_str("\\n"),
                    '\r' => buf.push_str("\\r"),
                    c => buf.push(c),
                }
            }
        }
    }
}

const COPY_COLUMNS: &str = "creator_id, uuid, agency_id, chat_id, sender_uuid, recipient_uuid, direction, text, \
     sent_at, kind, has_media, media_type, media_uuids, price_cents, purchased_at, sent_by_user_uuid, is_read, source";

/// COPY text format for the columns the upsert writes.
fn copy_text(agency: AgencyId, b: &WriteBatch) -> String {
    let mut buf = String::with_capacity(b.rows.len() * 256);
    let opt_uuid = |u: Option<Uuid>| u.map(|u| u.to_string());
    let opt_ts = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
    let opt_bool = |v: Option<bool>| v.map(|v| if v { "t" } else { "f" }.to_owned());
    for (m, chat) in b.rows.iter().zip(&b.chat_ids) {
        let media = format!(
            "{{{}}}",
            m.media_uuids
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let fields: [Option<String>; 18] = [
            Some(b.creator.to_string()),
            Some(m.uuid.to_string()),
            Some(agency.to_string()),
            Some(chat.to_string()),
            opt_uuid(m.sender_uuid),
            opt_uuid(m.recipient_uuid),
            Some(if m.outbound { "out" } else { "in" }.to_owned()),
            m.text.clone(),
            opt_ts(m.sent_at),
            Some(m.kind.as_str().to_owned()),
            opt_bool(m.has_media),
            m.media_type.clone(),
            Some(media),
            m.price_cents.map(|p| p.to_string()),
            opt_ts(m.purchased_at),
            m.sent_by_user_uuid.clone(),
            opt_bool(Some(m.is_read)),
            Some(MessageSource::Backfill.as_str().to_owned()),
        ];
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                buf.push('\t');
            }
            copy_field(&mut buf, f.as_deref());
        }
        buf.push('\n');
    }
    buf
}

async fn copy_batches(
    pool: &PgPool,
    table: &str,
    agency: AgencyId,
    batches: &[WriteBatch],
) -> anyhow::Result<f64> {
    let mut conn = pool.acquire().await?;
    let stmt = format!("COPY {table} ({COPY_COLUMNS}) FROM STDIN");
    let t0 = Instant::now();
    for b in batches {
        let text = copy_text(agency, b);
        let mut copy = conn.copy_in_raw(&stmt).await?;
        copy.send(text.as_bytes()).await?;
        copy.finish().await?;
    }
    Ok(t0.elapsed().as_secs_f64())
}

struct IngestResult {
    json: serde_json::Value,
    rows: usize,
    batches: usize,
    upsert_secs: f64,
    copy_plain_secs: f64,
    copy_indexed_secs: f64,
}

/// Writes the mirror's rows again through the sync write path (into an emptied `messages`
/// table, so every row is an insert as in a backfill) and with COPY into scratch tables.
async fn ingest(b: &Bench) -> anyhow::Result<IngestResult> {
    let rows: Vec<StoredMessage> = sqlx::query_as(
        "SELECT m.creator_id, c.fan_uuid, m.uuid, m.sender_uuid, m.recipient_uuid, m.direction, m.text,
                m.sent_at, m.kind, m.has_media, m.media_type, m.media_uuids, m.price_cents, m.purchased_at,
                m.sent_by_user_uuid, m.is_read, m.chat_id
         FROM messages m JOIN chats c ON c.id = m.chat_id
         ORDER BY m.creator_id, c.fan_uuid, m.sent_at DESC, m.uuid DESC",
    )
    .fetch_all(&b.pool)
    .await?;
    let batches = batches(&rows);
    let n = rows.len();
    drop(rows);
    sqlx::query("TRUNCATE messages").execute(&b.pool).await?;
    sqlx::query("CHECKPOINT").execute(&b.pool).await?;

    let t0 = Instant::now();
    let mut upserted = 0u64;
    for batch in &batches {
        let mut tx = b.pool.begin().await?;
        upserted += store::messages::upsert_messages(
            &mut tx,
            b.agency,
            batch.creator,
            &batch.rows,
            MessageSource::Backfill,
        )
        .await?;
        tx.commit().await?;
    }
    common::flush_pending_replies(&b.pool).await?;
    let upsert_secs = t0.elapsed().as_secs_f64();
    anyhow::ensure!(
        upserted as usize == n,
        "upsert wrote {upserted} of {n} rows"
    );

    sqlx::query("CREATE TABLE bench_copy_plain (LIKE messages INCLUDING DEFAULTS)")
        .execute(&b.pool)
        .await?;
    sqlx::query("CREATE TABLE bench_copy_indexed (LIKE messages INCLUDING ALL)")
        .execute(&b.pool)
        .await?;
    sqlx::query("CHECKPOINT").execute(&b.pool).await?;
    let copy_plain_secs = copy_batches(&b.pool, "bench_copy_plain", b.agency, &batches).await?;
    sqlx::query("CHECKPOINT").execute(&b.pool).await?;
    let copy_indexed_secs = copy_batches(&b.pool, "bench_copy_indexed", b.agency, &batches).await?;
    let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_copy_indexed")
        .fetch_one(&b.pool)
        .await?;
    anyhow::ensure!(copied as usize == n, "COPY wrote {copied} of {n} rows");

    let rate = |secs: f64| n as f64 / secs;
    let json = json!({
        "rows": n,
        "batches": batches.len(),
        "rows_per_batch_max": batches.iter().map(|b| b.rows.len()).max().unwrap_or(0),
        "upsert_secs": upsert_secs,
        "upsert_rows_per_sec": rate(upsert_secs),
        "copy_plain_secs": copy_plain_secs,
        "copy_plain_rows_per_sec": rate(copy_plain_secs),
        "copy_indexed_secs": copy_indexed_secs,
        "copy_indexed_rows_per_sec": rate(copy_indexed_secs),
        "upsert_over_copy_plain": copy_plain_secs / upsert_secs,
        "upsert_over_copy_indexed": copy_indexed_secs / upsert_secs,
    });
    Ok(IngestResult {
        json,
        rows: n,
        batches: batches.len(),
        upsert_secs,
        copy_plain_secs,
        copy_indexed_secs,
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; test runners that list or run every
    // target (`cargo test --all-targets`, nextest `--list`) do not, and get
    // nothing to run rather than a debug-build benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let creators: usize = env_or("SYNC_BENCH_CREATORS", 100);
    let chats: usize = env_or("SYNC_BENCH_CHATS", 50);
    let messages: usize = env_or("SYNC_BENCH_MESSAGES", 100);
    let workers: usize = env_or("SYNC_BENCH_WORKERS", 4).max(1);
    let pct: usize = env_or("SYNC_BENCH_CHANGED_PCT", 10).clamp(1, 100);
    let limited_creators: usize = env_or("SYNC_BENCH_LIMITED_CREATORS", 25.min(creators));
    let rl_limit: u32 = env_or("SYNC_BENCH_RL_LIMIT", 20);
    let rl_window_ms: u64 = env_or("SYNC_BENCH_RL_WINDOW_MS", 1000);
    let load_start = load_avg();
    let started = Instant::now();
    println!(
        "sync_bench: {creators} creators x {chats} chats x {messages} messages, {workers} sync workers, load average {load_start}"
    );

    // Pass A: rate limiting off.
    let mut cfg = sim_config(creators, chats, messages);
    cfg.rate_limit.enabled = false;
    let (bench, sim_start_secs, sim_hwm) = setup(cfg, (workers as u32 * 2).max(8)).await?;
    let pass_a = async {
        let bf = backfill(&bench, workers).await?;
        let hwm_after_backfill = vm_hwm_mib();
        let rc = reconcile(&bench, workers, pct).await?;
        let ing = ingest(&bench).await?;
        anyhow::Ok((bf, hwm_after_backfill, rc, ing))
    }
    .await;
    teardown(bench).await?;
    let (bf, hwm_after_backfill, rc, ing) = pass_a?;
    let hwm_end_a = vm_hwm_mib();

    // Pass B: a short rate-limit window on, for the 429 count.
    let limited = if limited_creators > 0 {
        let mut cfg = sim_config(limited_creators, chats, messages);
        cfg.rate_limit.enabled = true;
        cfg.rate_limit.limit = rl_limit;
        cfg.rate_limit.window_ms = rl_window_ms;
        let (bench, _, _) = setup(cfg, (workers as u32 * 2).max(8)).await?;
        let r = backfill(&bench, workers).await;
        teardown(bench).await?;
        Some(r?)
    } else {
        None
    };
    let load_end = load_avg();

    // Report.
    let lb = bf.lower_bound as f64;
    let bf_ratio = ratio(bf.sim_requests as f64, lb);
    let rc_ratio = ratio(rc.reconcile_requests as f64, rc.lower_bound as f64);
    let rc_all = rc.reconcile_requests + rc.purchases_requests + rc.earnings_requests;
    let rc_all_ratio = ratio(rc_all as f64, rc.lower_bound as f64);
    let copy_ratio = ing.copy_plain_secs / ing.upsert_secs;
    let copy_idx_ratio = ing.copy_indexed_secs / ing.upsert_secs;
    let mut t = String::new();
    let _ = writeln!(t, "| Figure | Target | Measured | Verdict |");
    let _ = writeln!(t, "|---|---|---|---|");
    let _ = writeln!(
        t,
        "| Backfill + history requests (rate limits off) | ≤ 1.05 × lower bound | {} (sync_runs {}) vs lower bound {} = {:.3}× | {} |",
        bf.sim_requests,
        bf.sync_requests,
        bf.lower_bound,
        bf_ratio,
        verdict(bf_ratio <= 1.05)
    );
    if let Some(l) = &limited {
        let r = ratio(l.sim_requests as f64, l.lower_bound as f64);
        let _ = writeln!(
            t,
            "| Backfill + history, {} creators, limit {} per {} ms | ≤ 1.05 ×, zero 429s | {} vs {} = {:.3}×; 429s: {} (simulator), {} (sync_runs); {:.1} s | {} |",
            limited_creators,
            rl_limit,
            rl_window_ms,
            l.sim_requests,
            l.lower_bound,
            r,
            l.rate_limited_sim,
            l.rate_limited_sync,
            l.wall_secs,
            verdict(r <= 1.05 && l.rate_limited_sim == 0)
        );
    }
    let _ = writeln!(
        t,
        "| Reconcile requests, {} changed chats ({} %) | ≤ 1.1 × 2·ceil(changed/50) per creator | {} vs {} = {:.3}× | {} |",
        rc.changed,
        pct,
        rc.reconcile_requests,
        rc.lower_bound,
        rc_ratio,
        verdict(rc_ratio <= 1.1)
    );
    let _ = writeln!(
        t,
        "| Reconcile + earnings walk + purchase refresh requests (one scheduled cycle; the creators' first earnings walk reads their whole feed) | — | {} (+{} earnings, +{} purchases; simulator saw {}) = {:.3}× | — |",
        rc_all, rc.earnings_requests, rc.purchases_requests, rc.sim_requests, rc_all_ratio
    );
    let _ = writeln!(
        t,
        "| Reconcile requests, next cycle with nothing changed | lower bound 1 list page per creator | {} reconcile + {} earnings walk + {} purchases vs {} = {:.2}× (reconcile alone {:.2}×) | — |",
        rc.idle_reconcile,
        rc.idle_earnings,
        rc.idle_purchases,
        rc.creators,
        ratio(
            (rc.idle_reconcile + rc.idle_earnings + rc.idle_purchases) as f64,
            rc.creators as f64
        ),
        ratio(rc.idle_reconcile as f64, rc.creators as f64)
    );
    let _ = writeln!(
        t,
        "| Naive poller, same moment | baseline | {} requests in {:.2} s = {:.1}× the reconcile, {:.1}× reconcile + purchases | — |",
        rc.naive_requests,
        rc.naive_secs,
        ratio(rc.naive_requests as f64, rc.reconcile_requests as f64),
        ratio(rc.naive_requests as f64, rc_all as f64)
    );
    let _ = writeln!(
        t,
        "| Ingest: upsert_messages, {} rows in {} batches | ≥ 0.5 × COPY | {:.0} rows/s | {} |",
        ing.rows,
        ing.batches,
        ing.rows as f64 / ing.upsert_secs,
        verdict(copy_ratio >= 0.5)
    );
    let _ = writeln!(
        t,
        "| Ingest: COPY same rows/batches, scratch table without indexes | — | {:.0} rows/s (upsert = {:.2}× COPY) | — |",
        ing.rows as f64 / ing.copy_plain_secs,
        copy_ratio
    );
    let _ = writeln!(
        t,
        "| Ingest: COPY same rows/batches, scratch table with the mirror's indexes | — | {:.0} rows/s (upsert = {:.2}× COPY) | — |",
        ing.rows as f64 / ing.copy_indexed_secs,
        copy_idx_ratio
    );
    let _ = writeln!(
        t,
        "| End-to-end backfill (rate limits off, {} workers) | — | {:.1} s, {} messages upserted ({} mirrored), {:.0} messages/s | — |",
        workers,
        bf.wall_secs,
        bf.messages_upserted,
        bf.mirrored,
        bf.messages_upserted as f64 / bf.wall_secs
    );
    let _ = writeln!(
        t,
        "| Peak memory (VmHWM), whole process after backfill | < 500 MB app | {:.0} MiB (simulator alone {:.0} MiB → app ≈ {:.0} MiB) | {} |",
        hwm_after_backfill,
        sim_hwm,
        hwm_after_backfill - sim_hwm,
        verdict(hwm_after_backfill - sim_hwm < 500.0)
    );
    let _ = writeln!(
        t,
        "| Peak memory (VmHWM) after reconcile, naive poller and ingest | — | {:.0} MiB | — |",
        hwm_end_a
    );
    println!("{t}");
    println!(
        "  backfill simulator requests by endpoint: {:?}",
        bf.by_endpoint
    );
    println!("  backfill sync_runs by kind: {:?}", bf.by_kind);
    println!(
        "  reconcile wall {:.2} s; simulator world generated and started in {:.2} s",
        rc.wall_secs, sim_start_secs
    );
    println!(
        "  load average at start {load_start}, at end {load_end}; total {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!("  rerun: cargo bench --bench sync_bench");

    let out = json!({
        "world": { "creators": creators, "chats_per_creator": chats, "messages_per_chat": messages },
        "workers": workers,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "load_average_start": load_start,
        "load_average_end": load_end,
        "sim_start_secs": sim_start_secs,
        "memory_mib": {
            "sim_only_after_world": sim_hwm,
            "peak_after_backfill": hwm_after_backfill,
            "app_share_after_backfill": hwm_after_backfill - sim_hwm,
            "peak_end_of_pass_a": hwm_end_a,
        },
        "backfill": bf.json,
        "backfill_rate_limited": limited.as_ref().map(|l| json!({
            "creators": limited_creators,
            "limit": rl_limit,
            "window_ms": rl_window_ms,
            "run": l.json,
        })),
        "reconcile": rc.json,
        "ingest": ing.json,
        "total_secs": started.elapsed().as_secs_f64(),
    });
    std::fs::create_dir_all("target/bench")?;
    std::fs::write(
        "target/bench/sync_bench.json",
        serde_json::to_vec_pretty(&out)?,
    )?;
    println!("  wrote target/bench/sync_bench.json");
    Ok(())
}
