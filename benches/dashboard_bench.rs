//! Dashboard benchmark (`cargo bench --bench dashboard_bench`).
//!
//! 1. Seeds a scratch database with one agency of 100 creators and 50 chatters (each
//!    creator worked by two chatters, each chatter mapped to a Fanvue team member),
//!    10,000,000 messages in chats of 40 (fan messages and replies alternating, a tenth
//!    of the replies PPVs, half of those bought, some automated, some sent by the
//!    creator directly) spread over a year, and 1,000,000 sales (PPVs and tips, 5 %
//!    credited to nobody). Rows are generated in SQL with the triggers bypassed for the
//!    seeding session only; the rollups are then built by `dashboard_rollups_rebuild`,
//!    `dash_replies_refresh` and `dash_reply_daily_rebuild` (what the triggers would have
//!    kept), then `ANALYZE`.
//! 2. Measures, on the store functions the page calls, side by side in the same run:
//!    the 30-day agency dashboard (per-staff figures, totals, per-creator figures and the
//!    per-day chart: the four reads of `/dashboard`), the per-chatter table alone, and the
//!    same per-staff figures computed from the raw tables in one query
//!    (`store::dashboard::raw_by_staff`), checking both give the same figures.
//! 3. The full `/dashboard?period=30d` page over HTTP as a manager (render included).
//! 4. The sales drill-down for one chatter and one month: the agency's sales credited to
//!    that staff member in the month's local days, newest first, first 200 (the
//!    `sales_credited_idx` read the `/sales?staff=…&from=…&to=…` list makes).
//!
//! Knobs (environment): DASH_BENCH_CREATORS (100), DASH_BENCH_CHATTERS (50),
//! DASH_BENCH_MESSAGES (10000000), DASH_BENCH_SALES (1000000), DASH_BENCH_DAYS (365),
//! DASH_BENCH_ITERS (40), DASH_BENCH_RAW_ITERS (3). Prints a table with the targets and
//! writes `target/bench/dashboard_bench.json`.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgPool};
use switchboard::domain::{AgencyId, Period, Role};
use switchboard::startup::Application;
use switchboard::store::dashboard::{Filter, Group, Stack};
use switchboard::{bootstrap, store};
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";
const PER_CHAT: i64 = 40;

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[derive(Debug, Clone, serde::Serialize)]
struct Timing {
    name: String,
    runs: usize,
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

fn timing(name: &str, mut ms: Vec<f64>) -> Timing {
    ms.sort_by(f64::total_cmp);
    Timing {
        name: name.to_owned(),
        runs: ms.len(),
        p50_ms: pct(&ms, 0.5),
        p95_ms: pct(&ms, 0.95),
        max_ms: ms.last().copied().unwrap_or(0.0),
    }
}

struct Shape {
    creators: i64,
    chatters: i64,
    messages: i64,
    sales: i64,
    days: i64,
}

/// Runs seeding statements on one connection with the triggers bypassed
/// (seeding only; the rollups are built afterwards from the raw rows).
async fn seed(pool: &PgPool, agency: AgencyId, shape: &Shape) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut conn = pool.acquire().await?;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await?;
    let chats = (shape.messages / PER_CHAT).max(1);
    let statements: Vec<(String, &str)> = vec![
        (
            format!(
                "CREATE UNLOGGED TABLE bench_creators AS
                 SELECT g - 1 AS idx, gen_random_uuid() AS id FROM generate_series(1, {}) g",
                shape.creators
            ),
            "creators",
        ),
        (
            format!(
                "INSERT INTO creators (id, agency_id, fanvue_uuid, handle, display_name, status)
                 SELECT id, '{agency}', gen_random_uuid(), 'creator' || idx, 'Creator ' || idx, 'disconnected'
                 FROM bench_creators"
            ),
            "creators",
        ),
        (
            format!(
                "CREATE UNLOGGED TABLE bench_staff AS
                 SELECT g - 1 AS idx, gen_random_uuid() AS id, gen_random_uuid() AS tm
                 FROM generate_series(1, {}) g",
                shape.chatters
            ),
            "chatters",
        ),
        (
            format!(
                "INSERT INTO staff (id, agency_id, email, display_name, password_hash, role, fanvue_user_uuid)
                 SELECT id, '{agency}', 'chatter' || idx || '@bench.test', 'Chatter ' || idx, 'x', 'chatter', tm
                 FROM bench_staff"
            ),
            "chatters",
        ),
        (
            format!(
                "INSERT INTO creator_assignments (creator_id, staff_id, agency_id)
                 SELECT c.id, s.id, '{agency}' FROM bench_creators c
                 JOIN bench_staff s ON s.idx IN ((c.idx * 2) % {n}, (c.idx * 2 + 1) % {n})
                 ON CONFLICT DO NOTHING",
                n = shape.chatters
            ),
            "assignments",
        ),
        (
            format!(
                "CREATE UNLOGGED TABLE bench_chats AS
                 SELECT gen_random_uuid() AS id, c.id AS creator_id,
                     s.tm::text AS tm,
                     now() - random() * interval '{days} days' AS start
                 FROM generate_series(0, {chats} - 1) g
                 JOIN bench_creators c ON c.idx = g % {nc}
                 JOIN bench_staff s ON s.idx = (c.idx * 2 + (g / {nc}) % 2) % {ns}",
                days = shape.days,
                nc = shape.creators,
                ns = shape.chatters
            ),
            "chats",
        ),
        (
            format!(
                "INSERT INTO chats (id, agency_id, creator_id, fan_uuid, last_message_at)
                 SELECT id, '{agency}', creator_id, gen_random_uuid(), start FROM bench_chats"
            ),
            "chats",
        ),
        (
            format!(
                "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, direction, sent_at, kind, source,
                     sent_by_user_uuid, price_cents, purchased_at, first_seen_at)
                 SELECT ch.creator_id, gen_random_uuid(), '{agency}', ch.id,
                     CASE WHEN g % 2 = 1 THEN 'in' ELSE 'out' END,
                     ch.start + g * interval '30 minutes' + random() * interval '20 minutes',
                     CASE WHEN g % 2 = 0 AND g % 14 = 0 THEN 'AUTOMATED_NEW_FOLLOWER' ELSE 'SINGLE_RECIPIENT' END,
                     'backfill',
                     CASE WHEN g % 2 = 0 AND g % 18 <> 0 THEN ch.tm END,
                     CASE WHEN g % 2 = 0 AND g % 10 = 0 THEN 500 + (g % 7) * 100 END,
                     CASE WHEN g % 2 = 0 AND g % 20 = 0 THEN ch.start + g * interval '31 minutes' END,
                     ch.start + g * interval '30 minutes'
                 FROM bench_chats ch CROSS JOIN generate_series(1, {PER_CHAT}) g"
            ),
            "messages",
        ),
        (
            format!(
                "INSERT INTO sales (agency_id, creator_id, kind, fan_uuid, message_uuid, gross_cents, net_cents,
                     net_estimated, amount_source, occurred_at, auto_basis, auto_detail, auto_staff_id)
                 SELECT '{agency}', c.id, CASE WHEN g % 4 = 0 THEN 'tip' ELSE 'ppv' END, gen_random_uuid(),
                     CASE WHEN g % 4 <> 0 THEN gen_random_uuid() END,
                     500 + (g % 20) * 100, (500 + (g % 20) * 100) * 8 / 10, true, 'mirror',
                     now() - random() * interval '{days} days',
                     CASE WHEN g % 20 = 0 THEN 'creator_direct' WHEN g % 4 = 0 THEN 'window_rule'
                          ELSE 'sent_by_user_id' END,
                     'seeded',
                     CASE WHEN g % 20 <> 0 THEN s.id END
                 FROM generate_series(0, {sales} - 1) g
                 JOIN bench_creators c ON c.idx = g % {nc}
                 JOIN bench_staff s ON s.idx = (c.idx * 2 + (g / {nc}) % 2) % {ns}",
                days = shape.days,
                sales = shape.sales,
                nc = shape.creators,
                ns = shape.chatters
            ),
            "sales",
        ),
    ];
    for (sql, what) in statements {
        let t = Instant::now();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .with_context(|| format!("seeding {what}"))?;
        println!("  seeded {what} in {:.1} s", t.elapsed().as_secs_f64());
    }
    sqlx::query("SET session_replication_role = DEFAULT")
        .execute(&mut *conn)
        .await?;
    sqlx::query("ANALYZE").execute(&mut *conn).await?;
    let t = Instant::now();
    store::dashboard::rebuild(&mut *conn, agency).await?;
    println!("  rollups rebuilt in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    // The reply rollup is recounted once below rather than through the
    // per-statement deltas of four million inserted replies.
    sqlx::query("SELECT set_config('switchboard.reply_deltas_off', 'on', false)")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "SELECT dash_replies_refresh(ARRAY(SELECT id FROM bench_chats ORDER BY id),
            ARRAY(SELECT '-infinity'::timestamptz FROM bench_chats ORDER BY id),
            ARRAY(SELECT 'infinity'::timestamptz FROM bench_chats ORDER BY id))",
    )
    .execute(&mut *conn)
    .await?;
    println!("  replies computed in {:.1} s", t.elapsed().as_secs_f64());
    sqlx::query("SELECT set_config('switchboard.reply_deltas_off', 'off', false)")
        .execute(&mut *conn)
        .await?;
    let t = Instant::now();
    sqlx::query("SELECT dash_reply_daily_rebuild($1)")
        .bind(agency)
        .execute(&mut *conn)
        .await?;
    println!("  reply rollup built in {:.1} s", t.elapsed().as_secs_f64());
    for t in ["bench_chats", "bench_creators", "bench_staff"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {t}")))
            .execute(&mut *conn)
            .await?;
    }
    drop(conn);
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    println!(
        "seeded {} creators, {} chatters, {} messages, {} sales in {:.1} s",
        shape.creators,
        shape.chatters,
        chats * PER_CHAT,
        shape.sales,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn login(base: &str, email: &str) -> anyhow::Result<reqwest::Client> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await?
        .text()
        .await?;
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).context("csrf")? + marker.len();
    let end = page[start..].find('"').context("csrf end")? + start;
    let csrf = page[start..end].to_owned();
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
        bail!("login answered {}", r.status());
    }
    Ok(client)
}

/// The reads of the dashboard page: one of each rollup for its three tables, then the chart.
async fn dashboard_reads(pool: &PgPool, agency: AgencyId, p: &Period) -> anyhow::Result<()> {
    let f = Filter::default();
    store::dashboard::overview(pool, agency, p, f).await?;
    store::dashboard::daily(pool, agency, p, f, Stack::Staff).await?;
    Ok(())
}

async fn run(settings: &switchboard::config::Settings, pool: &PgPool) -> anyhow::Result<()> {
    let shape = Shape {
        creators: env_or("DASH_BENCH_CREATORS", 100),
        chatters: env_or("DASH_BENCH_CHATTERS", 50),
        messages: env_or("DASH_BENCH_MESSAGES", 10_000_000),
        sales: env_or("DASH_BENCH_SALES", 1_000_000),
        days: env_or("DASH_BENCH_DAYS", 365),
    };
    let iters: usize = env_or("DASH_BENCH_ITERS", 40);
    let raw_iters: usize = env_or("DASH_BENCH_RAW_ITERS", 3);
    // A kept database (DASH_BENCH_DB) is measured as it is, after any new migrations.
    let existing: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM agencies WHERE name = 'Bench Agency'")
            .fetch_optional(pool)
            .await?;
    let agency = match existing {
        Some(id) => {
            println!("reusing the seeded agency {id}");
            AgencyId::from_uuid(id)
        }
        None => {
            let (agency, _) = bootstrap::create_agency_with_staff(
                pool,
                "Bench Agency",
                &[(
                    "manager@bench.test",
                    "Manager",
                    Role::Owner,
                    SecretString::from(PASSWORD),
                )],
            )
            .await?;
            seed(pool, agency, &shape).await?;
            agency
        }
    };

    let today = store::dashboard::local_today(pool, agency).await?;
    let p30 = Period::resolve(Some("30d"), None, None, today).map_err(|e| anyhow::anyhow!(e.0))?;

    // Correctness first: the rollups and the raw query agree.
    let rolled =
        store::dashboard::figures(pool, agency, &p30, Filter::default(), Group::Staff).await?;
    let raw = store::dashboard::raw_by_staff(pool, agency, &p30).await?;
    type Counts = (Option<Uuid>, i64, i64, i64, i64, i64);
    let strip = |v: &[store::dashboard::Keyed]| -> Vec<Counts> {
        v.iter()
            .filter(|k| k.cur != store::dashboard::Figures::default())
            .map(|k| {
                (
                    k.key,
                    k.cur.gross,
                    k.cur.messages_sent,
                    k.cur.replies,
                    k.cur.ppvs_unlocked,
                    k.cur.chats_answered,
                )
            })
            .collect()
    };
    let same = strip(&rolled) == strip(&raw);
    println!("rollups equal the raw query (counts and money): {same}");
    // The histogram's percentiles against the raw query's exact ones.
    let mut worst: f64 = 0.0;
    for r in &raw {
        let Some(g) = rolled.iter().find(|g| g.key == r.key) else {
            continue;
        };
        for (est, exact) in [
            (g.cur.median_secs, r.cur.median_secs),
            (g.cur.p90_secs, r.cur.p90_secs),
        ] {
            if let (Some(e), Some(x)) = (est, exact)
                && x > 0.0
            {
                worst = worst.max((e - x).abs() / x);
            }
        }
    }
    println!(
        "response-time percentiles: largest difference from the exact figure {:.1} %",
        worst * 100.0
    );

    // Warm-up, then interleaved rounds.
    dashboard_reads(pool, agency, &p30).await?;
    let (mut dash, mut table) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        let t = Instant::now();
        dashboard_reads(pool, agency, &p30).await?;
        dash.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        store::dashboard::figures(pool, agency, &p30, Filter::default(), Group::Staff).await?;
        table.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut raw_ms = Vec::new();
    for _ in 0..raw_iters {
        let t = Instant::now();
        store::dashboard::raw_by_staff(pool, agency, &p30).await?;
        raw_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    // The page over HTTP.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut settings = settings.clone();
    settings.public_url = url::Url::parse(&format!("http://127.0.0.1:{port}"))?;
    let app = Application::build_with_listener(settings, pool.clone(), listener)?;
    tokio::spawn(app.run_until_stopped());
    let base = format!("http://127.0.0.1:{port}");
    let client = login(&base, "manager@bench.test").await?;
    let mut page = Vec::new();
    for i in 0..=iters.min(20) {
        let t = Instant::now();
        let r = client
            .get(format!("{base}/dashboard?period=30d"))
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::OK {
            bail!("dashboard answered {}", r.status());
        }
        r.bytes().await?;
        if i > 0 {
            page.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }

    // The drill-down: one chatter, one month of local days.
    let staff: Uuid = sqlx::query_scalar(
        "SELECT credited_staff_id FROM sales WHERE agency_id = $1 AND credited_staff_id IS NOT NULL LIMIT 1",
    )
    .bind(agency)
    .fetch_one(pool)
    .await?;
    let month =
        Period::resolve(Some("last_month"), None, None, today).map_err(|e| anyhow::anyhow!(e.0))?;
    let mut drill = Vec::new();
    let mut drilled = 0usize;
    for _ in 0..iters {
        let t = Instant::now();
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT s.id, s.gross_cents FROM sales s JOIN agencies a ON a.id = s.agency_id
             WHERE s.agency_id = $1 AND s.credited_staff_id = $2
               AND s.occurred_at >= $3::date::timestamp AT TIME ZONE a.time_zone
               AND s.occurred_at < ($4::date + 1)::timestamp AT TIME ZONE a.time_zone
             ORDER BY s.occurred_at DESC, s.id DESC LIMIT 200",
        )
        .bind(agency)
        .bind(staff)
        .bind(month.from)
        .bind(month.to)
        .fetch_all(pool)
        .await?;
        drilled = rows.len();
        drill.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    let dash_t = timing("30-day agency dashboard (4 reads)", dash);
    let table_t = timing("per-chatter table (rollups)", table);
    let raw_t = timing("per-chatter table (raw tables, one query)", raw_ms);
    let page_t = timing("GET /dashboard?period=30d (HTTP, rendered)", page);
    let drill_t = timing("sales drill-down: one chatter, one month", drill);
    let speedup = if table_t.p50_ms > 0.0 {
        raw_t.p50_ms / table_t.p50_ms
    } else {
        0.0
    };
    println!();
    println!(
        "{:<48} {:>6} {:>10} {:>10} {:>10}  target",
        "measure", "runs", "p50 ms", "p95 ms", "max ms"
    );
    for (t, target) in [
        (&dash_t, "p95 < 150 ms"),
        (&table_t, "p95 < 150 ms"),
        (&raw_t, "(reference)"),
        (&page_t, "(for information)"),
        (&drill_t, "p95 < 50 ms"),
    ] {
        println!(
            "{:<48} {:>6} {:>10.1} {:>10.1} {:>10.1}  {target}",
            t.name, t.runs, t.p50_ms, t.p95_ms, t.max_ms
        );
    }
    println!(
        "rollups vs raw (p50): {speedup:.0}x faster (target >= 20x); drill-down returned {drilled} rows"
    );
    let mut missed = Vec::new();
    if dash_t.p95_ms >= 150.0 {
        missed.push("dashboard p95");
    }
    if table_t.p95_ms >= 150.0 {
        missed.push("per-chatter table p95");
    }
    if speedup < 20.0 {
        missed.push("20x over raw");
    }
    if drill_t.p95_ms >= 50.0 {
        missed.push("drill-down p95");
    }
    if !same {
        missed.push("rollups differ from the raw query");
    }
    if !missed.is_empty() {
        println!("targets missed: {}", missed.join(", "));
    }
    std::fs::create_dir_all("target/bench")?;
    let json = serde_json::json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "creators": shape.creators,
        "chatters": shape.chatters,
        "messages": (shape.messages / PER_CHAT).max(1) * PER_CHAT,
        "sales": shape.sales,
        "days": shape.days,
        "rollups_equal_raw": same,
        "percentile_worst_relative_error": worst,
        "timings": [dash_t, table_t, raw_t, page_t, drill_t],
        "speedup_p50": speedup,
        "targets_missed": missed,
    });
    std::fs::write(
        "target/bench/dashboard_bench.json",
        serde_json::to_vec_pretty(&json)?,
    )?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    // DASH_BENCH_DB names a database to reuse (seeded once, kept); otherwise a
    // scratch one is seeded and dropped unless DASH_BENCH_KEEP_DB=1.
    let named = std::env::var("DASH_BENCH_DB").ok();
    let keep = named.is_some() || std::env::var("DASH_BENCH_KEEP_DB").is_ok_and(|v| v == "1");
    let database = named.unwrap_or_else(|| format!("sbbench_dash_{}", Uuid::new_v4().simple()));
    let settings = common::bench_settings(&database)?;
    let opts: PgConnectOptions = settings.connect_options()?;
    let pool = store::connect_and_migrate(opts.clone(), 10).await?;
    let result = run(&settings, &pool).await;
    pool.close().await;
    if keep {
        println!("kept the database {database} (DASH_BENCH_DB={database} reuses it)");
        return result;
    }
    let mut admin = sqlx::PgConnection::connect_with(&opts.clone().database("postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    result
}
