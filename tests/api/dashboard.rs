//! The dashboard's rollups and pages: figures equal a brute-force
//! computation over the raw tables (and the raw one-query reference) for a
//! seeded history written out of order; days are cut in the agency's zone
//! (a DST day, a +05:45 zone) and rebuilt when the zone changes; re-credit
//! and manual reassignment move figures; chatters see only their own
//! figures and their rank; other agencies' ids are 404s; the per-chatter CSV
//! is audited.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use switchboard::domain::{FanvueUserUuid, MessageKind, Period, StaffId};
use switchboard::store;
use switchboard::store::dashboard::{Figures, Filter, Group, Keyed, StaffFilter};
use uuid::Uuid;

use crate::helpers::*;

const TM_CHATTER: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const TM_MANAGER: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const TM_UNMAPPED: &str = "aaaaaaaa-0000-4000-8000-000000000003";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn period(from: &str, to: &str) -> Period {
    Period::resolve(Some("custom"), Some(from), Some(to), day("2026-12-01")).unwrap()
}

async fn map(c: &ConnectedCreator, staff: StaffId, tm: Option<&str>) {
    store::staff::set_fanvue_user_uuid(
        &c.app.pool,
        c.acme.id,
        staff,
        tm.map(|t| FanvueUserUuid::parse(t).unwrap()),
    )
    .await
    .unwrap();
}

/// The chatter mapped to one team member, the manager to another.
async fn mapped() -> ConnectedCreator {
    let c = TestApp::with_connected_creator().await;
    map(&c, c.acme.chatter, Some(TM_CHATTER)).await;
    map(&c, c.acme.manager, Some(TM_MANAGER)).await;
    c
}

fn seed(c: &ConnectedCreator) -> MirrorSeed<'_> {
    MirrorSeed {
        pool: &c.app.pool,
        agency: c.acme.id,
        creator: c.id,
    }
}

/// An outbound message sent by `tm` (None: the creator directly).
fn out(fan: Uuid, t: DateTime<Utc>, tm: Option<&str>) -> store::messages::MessageUpsert {
    let mut m = seed_message(fan, true, Some("hi"), t);
    m.sent_by_user_uuid = tm.map(str::to_owned);
    m
}

/// A PPV by `tm`, bought at `bought` if given.
fn ppv(
    fan: Uuid,
    t: DateTime<Utc>,
    tm: Option<&str>,
    price: i64,
    bought: Option<DateTime<Utc>>,
) -> store::messages::MessageUpsert {
    let mut m = out(fan, t, tm);
    m.price_cents = Some(price);
    m.purchased_at = bought;
    m
}

async fn figures(c: &ConnectedCreator, p: &Period, group: Group) -> Vec<Keyed> {
    store::dashboard::figures(&c.app.pool, c.acme.id, p, Filter::default(), group)
        .await
        .unwrap()
}

fn of(rows: &[Keyed], staff: Option<StaffId>) -> Figures {
    rows.iter()
        .find(|k| k.key == staff.map(|s| s.as_uuid()))
        .map(|k| k.cur.clone())
        .unwrap_or_default()
}

async fn set_zone(c: &ConnectedCreator, zone: &str) {
    // The settings page's own store call (the trigger on agencies rebuilds).
    let mut s = store::agency_settings::get(&c.app.pool, c.acme.id)
        .await
        .unwrap();
    s.time_zone = switchboard::domain::AgencyZone::parse(zone).unwrap();
    store::agency_settings::save(&c.app.pool, c.acme.id, &s)
        .await
        .unwrap();
}

// --- a seeded history and a brute force over it ---

/// A deterministic pseudo-random sequence (no dependency for one test).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the dashboard's histogram gives for these waits.
fn estimate(waits: &[f64], p: f64) -> Option<f64> {
    let mut counts = [0i32; store::dashboard::WAIT_BUCKETS];
    for w in waits {
        counts[store::dashboard::Waits::bucket(*w as i64)] += 1;
    }
    store::dashboard::Waits::from_counts(&counts).percentile(p)
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

#[tokio::test]
async fn the_wait_buckets_of_sql_and_rust_agree() {
    let app = TestApp::spawn().await;
    let mut secs: Vec<i64> = vec![
        0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 59, 60, 61, 3_599, 3_600,
    ];
    secs.extend((0..22).map(|i| 1i64 << i));
    secs.extend((0..22).map(|i| (1i64 << i) - 1));
    secs.extend([86_400, 604_800, 2_000_000, i64::from(i32::MAX)]);
    for s in secs {
        let sql: i32 = sqlx::query_scalar("SELECT dash_wait_bucket($1)")
            .bind(s as i32)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(sql as usize, store::dashboard::Waits::bucket(s), "{s} s");
    }
    // A lone wait is read as its bucket's middle, within 12.5 %.
    for w in [5.0, 90.0, 3_600.0, 100_000.0] {
        let e = estimate(&[w], 0.5).unwrap();
        assert!((e - w).abs() <= 0.125 * w, "{w}: {e}");
    }
}

#[tokio::test]
async fn rollups_equal_a_brute_force_over_the_raw_tables_in_any_zone() {
    let c = mapped().await;
    let s = seed(&c);
    let fans: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    for (i, f) in fans.iter().enumerate() {
        s.chat(fan_chat(*f, &format!("Fan {i}"))).await;
    }
    let senders = [Some(TM_CHATTER), Some(TM_MANAGER), None, Some(TM_UNMAPPED)];
    let mut rng = Lcg(42);
    let start = at("2026-11-01T00:00:00Z");
    let mut all: Vec<store::messages::MessageUpsert> = Vec::new();
    for f in &fans {
        let mut t = start + chrono::Duration::minutes(rng.below(600) as i64);
        for _ in 0..60 {
            t += chrono::Duration::minutes(1 + rng.below(400) as i64);
            let m = match rng.below(10) {
                0..=3 => seed_message(*f, false, Some("fan"), t),
                4 => {
                    let mut m = seed_message(*f, false, None, t);
                    m.kind = MessageKind::from("AUTOMATED_NEW_FOLLOWER".to_owned());
                    m
                }
                5 => {
                    let mut m = out(*f, t, senders[rng.below(4) as usize]);
                    m.kind = MessageKind::from("BROADCAST".to_owned());
                    m
                }
                6 | 7 => {
                    let bought = (rng.below(2) == 0)
                        .then(|| t + chrono::Duration::minutes(5 + rng.below(3000) as i64));
                    ppv(
                        *f,
                        t,
                        senders[rng.below(4) as usize],
                        300 + 100 * rng.below(20) as i64,
                        bought,
                    )
                }
                _ => out(*f, t, senders[rng.below(4) as usize]),
            };
            all.push(m);
        }
    }
    // Written out of order, as backfill (newest first) and reconcile do.
    let mut batches: Vec<Vec<store::messages::MessageUpsert>> = vec![Vec::new(); 4];
    for (i, m) in all.iter().enumerate() {
        batches[(i * 7 + i / 13) % 4].push(m.clone());
    }
    for b in batches.iter().rev() {
        s.messages(b).await;
    }
    s.tip(fans[0], 1_234, at("2026-11-03T12:00:00Z")).await;

    let p = period("2026-11-02", "2026-11-09");
    for zone in ["UTC", "Asia/Kathmandu", "America/New_York"] {
        set_zone(&c, zone).await;
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        let local = |t: DateTime<Utc>| tz.from_utc_datetime(&t.naive_utc()).date_naive();
        let in_p = |t: DateTime<Utc>| (p.from..=p.to).contains(&local(t));
        let staff_of = |tm: Option<&str>| match tm {
            Some(TM_CHATTER) => Some(c.acme.chatter),
            Some(TM_MANAGER) => Some(c.acme.manager),
            _ => None,
        };
        let human = |m: &store::messages::MessageUpsert| {
            m.outbound && m.kind.as_str() == "SINGLE_RECIPIENT"
        };
        let fan_msg = |m: &store::messages::MessageUpsert| {
            !m.outbound && m.kind.as_str() == "SINGLE_RECIPIENT"
        };

        // Brute force in Rust over what was written.
        let mut expect: BTreeMap<Option<StaffId>, Figures> = BTreeMap::new();
        for m in &all {
            let who = staff_of(m.sent_by_user_uuid.as_deref());
            if human(m) && in_p(m.sent_at.unwrap()) {
                let e = expect.entry(who).or_default();
                e.messages_sent += 1;
                if m.price_cents.is_some() {
                    e.ppvs_sent += 1;
                    e.ppvs_unlocked += i64::from(m.purchased_at.is_some());
                }
            }
            if let (true, Some(price), Some(b)) = (m.outbound, m.price_cents, m.purchased_at) {
                // Mass-message PPVs are credited to nobody ("Mass message").
                let who = if m.kind.as_str() == "BROADCAST" {
                    None
                } else {
                    who
                };
                if in_p(b) {
                    let e = expect.entry(who).or_default();
                    e.gross += price;
                    e.ppv += price;
                    e.sales += 1;
                }
            }
        }
        // Per staff member: every wait, and the (fan, local day) chat-days.
        type WaitsAndChatDays = (Vec<f64>, std::collections::BTreeSet<(Uuid, NaiveDate)>);
        let mut waits: BTreeMap<Option<StaffId>, WaitsAndChatDays> = BTreeMap::new();
        for f in &fans {
            let mut chat: Vec<&store::messages::MessageUpsert> =
                all.iter().filter(|m| m.fan_uuid == *f).collect();
            chat.sort_by_key(|m| (m.sent_at, m.uuid));
            let mut wait_from: Option<DateTime<Utc>> = None;
            for m in chat {
                if fan_msg(m) && wait_from.is_none() {
                    wait_from = m.sent_at;
                } else if human(m)
                    && let Some(w) = wait_from.take()
                {
                    let t = m.sent_at.unwrap();
                    if in_p(t) {
                        let who = staff_of(m.sent_by_user_uuid.as_deref());
                        let e = waits.entry(who).or_default();
                        e.0.push((t - w).num_seconds() as f64);
                        e.1.insert((*f, local(t)));
                    }
                }
            }
        }
        // The rollups estimate percentiles from a histogram of the waits;
        // the raw query's are exact, and the estimate stays within 12.5 %.
        let mut exact: BTreeMap<Option<StaffId>, (Option<f64>, Option<f64>)> = BTreeMap::new();
        for (who, (mut v, chats)) in waits {
            v.sort_by(f64::total_cmp);
            let e = expect.entry(who).or_default();
            e.replies = v.len() as i64;
            e.chats_answered = chats.len() as i64;
            e.median_secs = estimate(&v, 0.5);
            e.p90_secs = estimate(&v, 0.9);
            exact.insert(who, (percentile(&v, 0.5), percentile(&v, 0.9)));
        }
        // The tip: no message named, no human reply in the 24 h window
        // before it may be credited by the window rule; read its credit.
        let tip: (Option<Uuid>, DateTime<Utc>) =
            sqlx::query_as("SELECT credited_staff_id, occurred_at FROM sales WHERE kind = 'tip' AND creator_id = $1")
                .bind(c.id)
                .fetch_one(&c.app.pool)
                .await
                .unwrap();
        if in_p(tip.1) {
            let e = expect.entry(tip.0.map(StaffId::from_uuid)).or_default();
            e.gross += 1_234;
            e.tips += 1_234;
            e.sales += 1;
        }

        let got = figures(&c, &p, Group::Staff).await;
        let raw = store::dashboard::raw_by_staff(&c.app.pool, c.acme.id, &p)
            .await
            .unwrap();
        let keys = |rows: &[Keyed]| -> Vec<Option<StaffId>> {
            rows.iter()
                .filter(|k| k.cur != Figures::default())
                .map(|k| k.key.map(StaffId::from_uuid))
                .collect()
        };
        let expected_keys: Vec<Option<StaffId>> = expect.keys().copied().collect();
        assert_eq!(keys(&got), expected_keys, "{zone}: the same staff");
        assert_eq!(keys(&raw), expected_keys, "{zone}: the same staff");
        for (who, e) in &expect {
            let g = of(&got, *who);
            let r = of(&raw, *who);
            // Net is estimated from the fee: checked against the raw sales.
            let mut g_cmp = g.clone();
            g_cmp.net = 0;
            let mut r_cmp = r.clone();
            r_cmp.net = 0;
            let (median, p90) = exact.get(who).copied().unwrap_or_default();
            assert_eq!(
                (r.median_secs, r.p90_secs),
                (median, p90),
                "{zone}: exact percentiles of {who:?}"
            );
            for (est, exact) in [(e.median_secs, median), (e.p90_secs, p90)] {
                if let (Some(est), Some(exact)) = (est, exact) {
                    assert!(
                        (est - exact).abs() <= 0.125 * exact.max(1.0),
                        "{zone}: estimate {est} of {exact} for {who:?}"
                    );
                }
            }
            r_cmp.median_secs = e.median_secs;
            r_cmp.p90_secs = e.p90_secs;
            assert_eq!(
                &g_cmp, e,
                "{zone}: rollups of {who:?} equal the brute force"
            );
            assert_eq!(
                &r_cmp, e,
                "{zone}: the raw query of {who:?} equals the brute force"
            );
            assert_eq!(g.net, r.net, "{zone}: net of {who:?}");
        }
        assert!(
            expect
                .get(&Some(c.acme.chatter))
                .is_some_and(|f| f.gross > 0 && f.replies > 3)
        );

        // Totals and per-creator figures agree with the per-staff ones.
        let total = figures(&c, &p, Group::Total).await;
        let sum: i64 = got.iter().map(|k| k.cur.gross).sum();
        assert_eq!(total[0].cur.gross, sum);
        let per_creator = figures(&c, &p, Group::Creator).await;
        assert_eq!(
            per_creator[0].cur.messages_sent,
            got.iter().map(|k| k.cur.messages_sent).sum::<i64>()
        );

        // The page's one-read overview: everyone is every staff row; under a
        // chatter's filter the totals and the creator row are that chatter's.
        let chatter = Some(c.acme.chatter);
        let only = Filter {
            creator: None,
            staff: Some(StaffFilter::Staff(c.acme.chatter)),
        };
        let o = store::dashboard::overview(&c.app.pool, c.acme.id, &p, only)
            .await
            .unwrap();
        assert_eq!(o.everyone, got, "{zone}: everyone ignores the staff filter");
        let mine = got
            .iter()
            .find(|k| k.key == chatter.map(|s| s.as_uuid()))
            .unwrap();
        assert_eq!((&o.totals.cur, &o.totals.prev), (&mine.cur, &mine.prev));
        assert_eq!(o.by_creator.len(), 1);
        assert_eq!(
            o.by_creator[0].cur, mine.cur,
            "{zone}: one creator, one chatter"
        );
    }

    // Folding the delta rows changes no figure.
    let before = figures(&c, &p, Group::Staff).await;
    store::dashboard::compact(&c.app.pool).await.unwrap();
    assert_eq!(figures(&c, &p, Group::Staff).await, before);
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM sales_daily GROUP BY agency_id, creator_id, day, staff_id, kind, basis HAVING count(*) > 1) x",
    )
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(rows, 0, "one row per key after folding");
}

// --- days cut in the agency's zone ---

#[tokio::test]
async fn days_are_cut_in_the_agency_zone_across_dst_and_quarter_hour_offsets() {
    let c = mapped().await;
    let s = seed(&c);
    let fan = Uuid::new_v4();
    s.chat(fan_chat(fan, "Dana")).await;
    set_zone(&c, "Europe/London").await;
    // Clocks go back at 01:00 UTC on 2026-10-25: 00:30 local (BST) is
    // 23:30 UTC the day before. Clocks go forward on 2026-03-29 at 01:00
    // UTC: 00:30 local is 00:30 UTC (GMT).
    s.messages(&[
        ppv(
            fan,
            at("2026-10-24T20:00:00Z"),
            Some(TM_CHATTER),
            1_100,
            Some(at("2026-10-24T23:30:00Z")),
        ),
        ppv(
            fan,
            at("2026-03-28T20:00:00Z"),
            Some(TM_CHATTER),
            700,
            Some(at("2026-03-29T00:30:00Z")),
        ),
        ppv(
            fan,
            at("2026-03-28T20:00:00Z"),
            Some(TM_CHATTER),
            300,
            Some(at("2026-03-28T23:59:00Z")),
        ),
    ])
    .await;
    let gross = |rows: Vec<Keyed>| of(&rows, Some(c.acme.chatter)).gross;
    assert_eq!(
        gross(figures(&c, &period("2026-10-25", "2026-10-25"), Group::Staff).await),
        1_100
    );
    assert_eq!(
        gross(figures(&c, &period("2026-10-24", "2026-10-24"), Group::Staff).await),
        0
    );
    assert_eq!(
        gross(figures(&c, &period("2026-03-29", "2026-03-29"), Group::Staff).await),
        700
    );
    assert_eq!(
        gross(figures(&c, &period("2026-03-28", "2026-03-28"), Group::Staff).await),
        300
    );

    // Asia/Kathmandu is UTC+05:45: its day starts at 18:15 UTC.
    set_zone(&c, "Asia/Kathmandu").await;
    s.messages(&[
        ppv(
            fan,
            at("2026-11-10T10:00:00Z"),
            Some(TM_CHATTER),
            2_000,
            Some(at("2026-11-10T18:14:00Z")),
        ),
        ppv(
            fan,
            at("2026-11-10T10:00:00Z"),
            Some(TM_CHATTER),
            5_000,
            Some(at("2026-11-10T18:16:00Z")),
        ),
    ])
    .await;
    assert_eq!(
        gross(figures(&c, &period("2026-11-10", "2026-11-10"), Group::Staff).await),
        2_000
    );
    assert_eq!(
        gross(figures(&c, &period("2026-11-11", "2026-11-11"), Group::Staff).await),
        5_000
    );
    // The earlier sales were moved by the zone change: 23:30 UTC on
    // 2026-10-24 is 05:15 on the 25th in Kathmandu as well, and 23:59 UTC on
    // 2026-03-28 is the 29th there.
    assert_eq!(
        gross(figures(&c, &period("2026-03-29", "2026-03-29"), Group::Staff).await),
        1_000
    );

    // Changing the zone rebuilds: back in UTC, 18:16 UTC is the 10th.
    set_zone(&c, "UTC").await;
    assert_eq!(
        gross(figures(&c, &period("2026-11-10", "2026-11-10"), Group::Staff).await),
        7_000
    );
    assert_eq!(
        gross(figures(&c, &period("2026-11-11", "2026-11-11"), Group::Staff).await),
        0
    );
    assert_eq!(
        gross(figures(&c, &period("2026-10-24", "2026-10-24"), Group::Staff).await),
        1_100
    );

    // And a page in Kathmandu labels its days so.
    set_zone(&c, "Asia/Kathmandu").await;
    let (status, body) = c
        .admin
        .get_html("/dashboard?from=2026-11-11&to=2026-11-11")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("days in Asia/Kathmandu"), "{body}");
    assert!(
        body.contains("$50.00"),
        "the 18:16 UTC sale is on the 11th there"
    );
}

// --- re-credit and reassignment ---

#[tokio::test]
async fn re_credit_and_manual_reassignment_move_the_figures() {
    let c = mapped().await;
    let s = seed(&c);
    let fan = Uuid::new_v4();
    s.chat(fan_chat(fan, "Eve")).await;
    let sold = ppv(
        fan,
        at("2026-11-05T10:00:00Z"),
        Some(TM_UNMAPPED),
        4_200,
        Some(at("2026-11-05T11:00:00Z")),
    );
    s.messages(&[
        seed_message(fan, false, Some("hello?"), at("2026-11-05T09:00:00Z")),
        sold.clone(),
    ])
    .await;
    let p = period("2026-11-05", "2026-11-05");
    let rows = figures(&c, &p, Group::Staff).await;
    assert_eq!(
        of(&rows, None).gross,
        4_200,
        "an unmapped team member: nobody is credited"
    );
    assert_eq!(of(&rows, None).messages_sent, 1);
    assert_eq!(of(&rows, None).median_secs, estimate(&[3_600.0], 0.5));

    // Mapping the team member to the chatter re-credits sale and activity.
    map(&c, c.acme.chatter, Some(TM_UNMAPPED)).await;
    let rows = figures(&c, &p, Group::Staff).await;
    let mine = of(&rows, Some(c.acme.chatter));
    assert_eq!(
        (
            mine.gross,
            mine.messages_sent,
            mine.ppvs_unlocked,
            mine.replies
        ),
        (4_200, 1, 1, 1)
    );
    assert_eq!(of(&rows, None), Figures::default());

    // A manual reassignment (through the page) moves the revenue only.
    let sale: Uuid = sqlx::query_scalar("SELECT id FROM sales WHERE message_uuid = $1")
        .bind(sold.uuid)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    manager.get_html(&format!("/sales/{sale}")).await;
    let r = manager
        .post_form(
            &format!("/sales/{sale}/reassign"),
            &[
                ("staff_id", &c.acme.manager.to_string()),
                ("reason", "Covered the shift"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let rows = figures(&c, &p, Group::Staff).await;
    assert_eq!(of(&rows, Some(c.acme.manager)).gross, 4_200);
    assert_eq!(of(&rows, Some(c.acme.chatter)).gross, 0);
    assert_eq!(
        of(&rows, Some(c.acme.chatter)).messages_sent,
        1,
        "who sent it is unchanged"
    );

    // A message sent through Switchboard is the ledger sender's.
    let replied = out(fan, at("2026-11-05T12:00:00Z"), Some(TM_MANAGER));
    s.messages(&[
        seed_message(fan, false, Some("more"), at("2026-11-05T11:30:00Z")),
        replied.clone(),
    ])
    .await;
    assert_eq!(
        of(&figures(&c, &p, Group::Staff).await, Some(c.acme.manager)).replies,
        1
    );
    let chat: Uuid = sqlx::query_scalar("SELECT id FROM chats WHERE fan_uuid = $1")
        .bind(fan)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO outbound_sends (id, agency_id, creator_id, chat_id, staff_id, idempotency_key, status, message_uuid)
         VALUES ($1, $2, $3, $4, $5, $6, 'sent', $7)",
    )
    .bind(Uuid::now_v7())
    .bind(c.acme.id)
    .bind(c.id)
    .bind(chat)
    .bind(c.acme.chatter)
    .bind(Uuid::new_v4().to_string())
    .bind(replied.uuid)
    .execute(&c.app.pool)
    .await
    .unwrap();
    let rows = figures(&c, &p, Group::Staff).await;
    assert_eq!(of(&rows, Some(c.acme.manager)).replies, 0);
    assert_eq!(of(&rows, Some(c.acme.manager)).messages_sent, 0);
    let mine = of(&rows, Some(c.acme.chatter));
    assert_eq!(
        (mine.messages_sent, mine.replies, mine.chats_answered),
        (2, 2, 1)
    );
    assert_eq!(mine.median_secs, estimate(&[1_800.0, 3_600.0], 0.5));
}

// --- who sees what ---

async fn history_for_two(c: &ConnectedCreator) {
    let s = seed(c);
    let fan = Uuid::new_v4();
    s.chat(fan_chat(fan, "Fay")).await;
    let now = Utc::now();
    let h = chrono::Duration::hours;
    s.messages(&[
        seed_message(fan, false, Some("hey"), now - h(5)),
        ppv(fan, now - h(4), Some(TM_CHATTER), 1_234, Some(now - h(3))),
        seed_message(fan, false, Some("and?"), now - h(3)),
        ppv(fan, now - h(2), Some(TM_MANAGER), 56_789, Some(now - h(1))),
    ])
    .await;
}

#[tokio::test]
async fn a_chatter_sees_only_their_own_figures_and_their_rank() {
    let c = mapped().await;
    history_for_two(&c).await;
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;
    let (status, body) = chatter.get_html("/dashboard?period=7d").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("href=\"/dashboard\""), "in the navigation");
    assert!(body.contains("$12.34"), "their own revenue");
    assert!(!body.contains("$567.89"), "not the manager's revenue");
    assert!(!body.contains("Acme Manager"), "not another's row");
    assert!(body.contains("id=\"my-rank\""));
    assert!(body.contains("Not ranked yet"), "one sale is not a rank");
    assert!(body.contains("id=\"response-time-definition\""));
    assert!(
        !body.contains("href=\"/sales?"),
        "no drill-down into the agency's sales"
    );
    // Naming someone else, or nobody, is not theirs to see.
    let manager_id = c.acme.manager.to_string();
    for q in [format!("staff={manager_id}"), "staff=none".to_owned()] {
        let (status, _) = chatter.get_html(&format!("/dashboard?{q}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{q}");
        let (status, _) = chatter
            .get_html(&format!("/dashboard/chatters.csv?{q}"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "csv {q}");
    }
    // A creator not assigned to them is a 404 too.
    let (status, _) = chatter
        .get_html(&format!("/dashboard?creator={}", c.id))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Their CSV holds their own row only.
    let csv = chatter.get("/dashboard/chatters.csv?period=7d").await;
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with(&c.acme.chatter.to_string()), "{text}");
    assert!(lines[1].contains(",1234,"), "{text}");

    // A manager sees both, with drill-down links following the contract.
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    let (_, body) = manager.get_html("/dashboard?period=7d").await;
    assert!(body.contains("$12.34") && body.contains("$567.89"));
    assert!(body.contains(&format!("staff={}", c.acme.chatter)));
    assert!(body.contains("id=\"leaderboard-rule\""));
    assert!(body.contains("<svg class=\"chart\""));
    assert!(!body.contains("style="), "CSP: no inline styles");
    let (status, body) = manager
        .get_html(&format!("/dashboard?period=7d&staff={}", c.acme.chatter))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("$12.34") && !body.contains("$567.89"),
        "the chatter filter"
    );
}

#[tokio::test]
async fn the_chatters_csv_is_audited_and_other_agencies_ids_are_404() {
    let c = mapped().await;
    history_for_two(&c).await;
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    let r = manager
        .get(&format!(
            "/dashboard/chatters.csv?period=7d&creator={}",
            c.id
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("attachment"))
    );
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with("staff_id,staff,from,to,time_zone,gross_cents"),
        "{text}"
    );
    assert!(
        text.contains(",Acme Manager,") && text.contains(",56789,"),
        "{text}"
    );
    c.app.assert_audited(c.acme.id, "data.exported").await;
    let detail: serde_json::Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE agency_id = $1 AND action = 'data.exported'",
    )
    .bind(c.acme.id)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(detail["creator"], serde_json::json!(c.id));
    assert_eq!(detail["export"], "dashboard_chatters");

    // Another agency's manager cannot name Acme's creator or staff.
    let other: TestAgency = c.app.agency("Globex").await;
    let globex = c.app.signed_in(&other.email("manager")).await;
    for q in [
        format!("creator={}", c.id),
        format!("staff={}", c.acme.chatter),
        "creator=not-a-uuid".to_owned(),
    ] {
        for path in ["/dashboard", "/dashboard/chatters.csv"] {
            let (status, _) = globex.get_html(&format!("{path}?{q}")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}?{q}");
        }
    }
    // And their own dashboard shows none of Acme's figures.
    let (status, body) = globex.get_html("/dashboard?period=7d").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("$567.89") && !body.contains("$12.34"));
    let (status, _) = globex
        .get_html("/dashboard?period=custom&from=2026-02-01&to=2026-01-01")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A transaction holding the lock every replies flush takes.
async fn hold_flush_lock(c: &ConnectedCreator) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = c.app.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(store::locks::REPLIES_FLUSH)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

async fn pending_replies(c: &ConnectedCreator) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM dash_replies_pending WHERE agency_id = $1")
        .bind(c.acme.id)
        .fetch_one(&c.app.pool)
        .await
        .unwrap()
}

async fn stored_replies(c: &ConnectedCreator) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM message_replies WHERE agency_id = $1")
        .bind(c.acme.id)
        .fetch_one(&c.app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn replies_are_recomputed_after_the_write_and_before_every_read() {
    let c = mapped().await;
    let s = seed(&c);
    let fan = Uuid::new_v4();
    s.chat(fan_chat(fan, "Ida")).await;
    // A fan message nobody has answered yet changes no reply: nothing pending.
    s.messages(&[seed_message(
        fan,
        false,
        Some("anyone?"),
        at("2026-11-07T09:00:00Z"),
    )])
    .await;
    assert_eq!(pending_replies(&c).await, 0);
    // The answer is recorded for later; the write did not recompute it.
    // (Holding the flush lock keeps housekeeping from flushing meanwhile.)
    let hold = hold_flush_lock(&c).await;
    s.messages(&[seed_message(
        fan,
        true,
        Some("here"),
        at("2026-11-07T10:00:00Z"),
    )])
    .await;
    assert!(pending_replies(&c).await >= 1);
    assert_eq!(stored_replies(&c).await, 0, "not computed in the write");
    hold.commit().await.unwrap();
    // A read flushes the agency's pending replies first.
    let p = period("2026-11-07", "2026-11-07");
    let rows = figures(&c, &p, Group::Staff).await;
    assert_eq!(of(&rows, None).median_secs, estimate(&[3_600.0], 0.5));
    assert_eq!(pending_replies(&c).await, 0);
    assert_eq!(stored_replies(&c).await, 1);
    // Older history arriving later (before the answer) lengthens the wait:
    // a fan message with a reply after it is recorded.
    let hold = hold_flush_lock(&c).await;
    s.messages(&[seed_message(
        fan,
        false,
        Some("earlier"),
        at("2026-11-07T08:00:00Z"),
    )])
    .await;
    assert!(pending_replies(&c).await >= 1);
    hold.commit().await.unwrap();
    // Housekeeping's flush (any agency) does the same as a read (it may
    // already have run since the lock was released).
    store::dashboard::flush_replies(&c.app.pool, None, 10)
        .await
        .unwrap();
    assert_eq!(pending_replies(&c).await, 0);
    let rows = figures(&c, &p, Group::Staff).await;
    assert_eq!(of(&rows, None).median_secs, estimate(&[7_200.0], 0.5));
}
