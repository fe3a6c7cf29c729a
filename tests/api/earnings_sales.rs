//! Earnings lines → the sales ledger, proved against the simulator's truth:
//! with team members mapped to staff, after backfill, live activity and
//! webhook drops (or duplicated, reordered deliveries), every purchased PPV
//! is one sale credited to whoever sent it, to the cent; tips follow their
//! rules; totals equal the earnings feed; a refund reverses exactly its
//! sale, also when it is seen before that sale's line is matched.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use switchboard::domain::{CreatorId, StaffId};
use switchboard::fanvue::models::{Message, SendMessage};
use switchboard::fanvue::{CallAuth, FanvueClient, Priority};
use switchboard::sim::{EventKind, FaultsPatch};
use switchboard::store;
use switchboard::sync::SyncEngine;
use switchboard::webhooks::process;
use uuid::Uuid;

use crate::helpers::*;

/// A world with three team members sending for the creator, live purchases
/// and tips; webhooks registered for every event, with `faults` applied.
async fn world(faults: FaultsPatch) -> ConnectedCreator {
    let c = TestApp::with_connected_creator_in(
        |s| {
            s.scenario.creators = 2;
            s.scenario.fans_per_creator = 10;
            s.scenario.messages_per_chat = 24;
            s.scenario.team_members_per_agency = 3;
            s.scenario.uncontactable_share = 0.0;
            s.scenario.ppv_share = 0.4;
            s.scenario.purchase_probability = 0.5;
            s.scenario.tip_share = 0.15;
        },
        |_| {},
    )
    .await;
    c.app.sim().patch_faults(faults);
    for (kind, slug) in [
        (EventKind::MessageReceived, "message-received"),
        (EventKind::MessageRead, "message-read"),
        (EventKind::Purchase, "purchase"),
        (EventKind::Tip, "tip"),
        (EventKind::NewFollower, "new-follower"),
        (EventKind::NewSubscriber, "new-subscriber"),
    ] {
        c.app.sim().register_webhook(
            &format!("{}/webhooks/fanvue/{slug}", c.app.address),
            &[kind],
        );
    }
    c
}

/// Maps the first two team members to the chatter and the manager through
/// the staff page; the third stays unmapped. Returns uuid → staff.
async fn map_members(c: &ConnectedCreator) -> HashMap<String, StaffId> {
    let members = c.app.sim().team_member_uuids();
    assert!(members.len() >= 3, "three team members: {members:?}");
    let mut map = HashMap::new();
    for (tm, staff) in members.iter().zip([c.acme.chatter, c.acme.manager]) {
        let r = c
            .admin
            .post_form(
                &format!("/admin/staff/{staff}/fanvue-uuid"),
                &[("fanvue_user_uuid", &tm.to_string())],
            )
            .await;
        assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
        map.insert(tm.to_string(), staff);
    }
    map
}

fn engine(app: &TestApp) -> SyncEngine {
    app.sync_engine_with(|s| s.spending_interval_secs = 0)
}

async fn cycle(app: &TestApp, e: &SyncEngine, id: CreatorId) {
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now() WHERE creator_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    sync_until_idle(e, id).await;
}

/// Live activity in rounds, the simulated clock moving on between them;
/// waits until the simulator has handled every event (delivered, dropped
/// or duplicated), then applies what arrived.
async fn live(c: &ConnectedCreator, e: &SyncEngine, rounds: usize) {
    for _ in 0..rounds {
        let sent = c.app.sim().generate_activity(40);
        let mut waited = 0;
        loop {
            let seen: std::collections::HashSet<String> = c
                .app
                .sim()
                .deliveries()
                .into_iter()
                .map(|d| d.event_id)
                .collect();
            if seen.len() >= sent || waited > 100 {
                break;
            }
            waited += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Retries and reordered deliveries land a moment later.
        tokio::time::sleep(Duration::from_millis(300)).await;
        process::drain(&c.app.pool, &c.app.settings.webhooks)
            .await
            .unwrap();
        c.app.sim().advance_clock(Duration::from_secs(900));
        cycle(&c.app, e, c.id).await;
    }
}

/// The simulator's truth for one creator.
struct Truth {
    /// message uuid → (message, fan)
    messages: HashMap<Uuid, (Message, Uuid)>,
    /// (message uuid, price)
    purchases: Vec<(Uuid, i64)>,
    /// (fan, amount, at, tipped message)
    tips: Vec<(Uuid, i64, DateTime<Utc>, Option<Uuid>)>,
}

fn truth(c: &ConnectedCreator) -> Truth {
    let t = c.app.sim().truth();
    let me = c.fanvue.to_string();
    let mut messages = HashMap::new();
    for cr in t["creators"].as_array().unwrap() {
        if cr["user"]["uuid"].as_str() != Some(&me) {
            continue;
        }
        for chat in cr["chats"].as_array().unwrap() {
            let fan: Uuid = chat["fan"]["uuid"].as_str().unwrap().parse().unwrap();
            for m in chat["messages"].as_array().unwrap() {
                let m: Message = serde_json::from_value(m.clone()).unwrap();
                messages.insert(m.uuid, (m, fan));
            }
        }
    }
    let purchases = t["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["creatorUuid"].as_str() == Some(&me))
        .map(|p| {
            (
                p["messageUuid"].as_str().unwrap().parse().unwrap(),
                p["price"].as_i64().unwrap(),
            )
        })
        .collect();
    let tips = t["tips"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["creatorUuid"].as_str() == Some(&me))
        .map(|p| {
            (
                p["fanUuid"].as_str().unwrap().parse().unwrap(),
                p["amount"].as_i64().unwrap(),
                p["at"].as_str().unwrap().parse().unwrap(),
                p["messageUuid"].as_str().map(|u| u.parse().unwrap()),
            )
        })
        .collect();
    Truth {
        messages,
        purchases,
        tips,
    }
}

/// Who a creator-side message credits, as a key: a mapped staff member,
/// an unmapped team member, the creator, or the mass-message line.
fn sender_key(m: &Message, mapped: &HashMap<String, StaffId>) -> String {
    if m.kind == "BROADCAST" {
        return "mass".into();
    }
    match m.sent_by_user_id.as_deref().map(str::to_lowercase) {
        None => "creator".into(),
        Some(tm) => match mapped.get(&tm) {
            Some(s) => format!("staff:{s}"),
            None => format!("unmapped:{tm}"),
        },
    }
}

/// The window rule on the truth: the last human outbound message of the
/// fan's chat within 24 h before the tip.
fn window_message(t: &Truth, fan: Uuid, at: DateTime<Utc>, creator: Uuid) -> Option<&Message> {
    t.messages
        .values()
        .filter(|(m, f)| {
            *f == fan
                && m.sender.as_ref().is_some_and(|s| s.uuid == creator)
                && !m.kind.starts_with("AUTOMATED_")
                && m.kind != "BROADCAST"
                && m.kind != "TIP"
                && m.sent_at
                    .is_some_and(|s| s <= at && s >= at - chrono::Duration::hours(24))
        })
        .map(|(m, _)| m)
        .max_by_key(|m| (m.sent_at, m.uuid))
}

#[derive(Debug, sqlx::FromRow)]
struct SaleRow {
    id: Uuid,
    kind: String,
    message_uuid: Option<Uuid>,
    gross_cents: i64,
    net_cents: i64,
    net_estimated: bool,
    basis: String,
    credited_staff_id: Option<Uuid>,
    team_member_uuid: Option<String>,
    earnings_line_id: Option<i64>,
    reverses_sale_id: Option<Uuid>,
}

async fn sales(app: &TestApp, id: CreatorId) -> Vec<SaleRow> {
    sqlx::query_as(
        "SELECT id, kind, message_uuid, gross_cents, net_cents, net_estimated, basis, credited_staff_id,
                team_member_uuid, earnings_line_id, reverses_sale_id
         FROM sales WHERE creator_id = $1 ORDER BY occurred_at, id",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

fn sale_key(s: &SaleRow) -> String {
    match (s.basis.as_str(), s.credited_staff_id, &s.team_member_uuid) {
        ("sent_by_user_id", Some(st), _) => format!("staff:{st}"),
        ("unmapped_team_member", _, Some(tm)) => format!("unmapped:{tm}"),
        ("creator_direct", None, None) => "creator".into(),
        ("mass_message", None, None) => "mass".into(),
        (b, st, tm) => format!("other:{b}:{st:?}:{tm:?}"),
    }
}

/// A tip's credit as a key: its basis and whom it credits.
fn tip_key(basis: &str, staff: Option<Uuid>, tm: Option<&str>) -> String {
    match (staff, tm) {
        (Some(s), _) => format!("{basis}/staff:{s}"),
        (None, Some(tm)) => format!("{basis}/unmapped:{tm}"),
        (None, None) => format!("{basis}/none"),
    }
}

fn sum_by(pairs: impl IntoIterator<Item = (String, i64)>) -> BTreeMap<String, (i64, i64)> {
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (k, v) in pairs {
        let e = out.entry(k).or_default();
        e.0 += v;
        e.1 += 1;
    }
    out
}

/// The ledger against the truth and the earnings feed.
async fn assert_ledger_is_the_truth(c: &ConnectedCreator, mapped: &HashMap<String, StaffId>) {
    let t = truth(c);
    let all = sales(&c.app, c.id).await;
    assert!(t.purchases.len() >= 10, "purchases: {}", t.purchases.len());
    assert!(t.tips.len() >= 3, "tips: {}", t.tips.len());

    // PPV revenue per team member (mapped, unmapped), creator-direct and
    // mass messages: the sum of purchased prices with that sender, and as
    // many sales as purchases.
    let want = sum_by(t.purchases.iter().map(|(m, price)| {
        let (msg, _) = t.messages.get(m).expect("purchased message in the truth");
        (sender_key(msg, mapped), *price)
    }));
    let got = sum_by(
        all.iter()
            .filter(|s| s.kind == "ppv")
            .map(|s| (sale_key(s), s.gross_cents)),
    );
    assert_eq!(got, want, "PPV revenue per credit");
    assert!(
        want.keys().any(|k| k.starts_with("staff:"))
            && want.keys().any(|k| k.starts_with("unmapped:")),
        "the world has mapped and unmapped team members' sales: {want:?}"
    );
    for (_, staff) in mapped.iter() {
        let k = format!("staff:{staff}");
        assert_eq!(got.get(&k), want.get(&k), "{k}");
    }

    // Tips: one sale each, on a message by its sender, else the window rule.
    let want = sum_by(t.tips.iter().map(|(fan, amount, at, on)| {
        let key = match on.and_then(|m| t.messages.get(&m)) {
            Some((m, _)) => {
                let k = sender_key(m, mapped);
                match k.as_str() {
                    "mass" | "creator" => "tipped_message/none".to_owned(),
                    k => format!("tipped_message/{k}"),
                }
            }
            None => match window_message(&t, *fan, *at, c.fanvue) {
                Some(m) => match sender_key(m, mapped).as_str() {
                    "creator" => "window_rule/none".to_owned(),
                    k => format!("window_rule/{k}"),
                },
                None => "unattributed/none".to_owned(),
            },
        };
        (key, *amount)
    }));
    let got = sum_by(all.iter().filter(|s| s.kind == "tip").map(|s| {
        (
            tip_key(&s.basis, s.credited_staff_id, s.team_member_uuid.as_deref()),
            s.gross_cents,
        )
    }));
    assert_eq!(got, want, "tips per credit");

    // Totals equal the earnings feed: every feed line is one sale, with the
    // feed's gross and net (no estimate left).
    let (lines, gross, net): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(gross_cents), 0)::int8, COALESCE(sum(net_cents), 0)::int8
         FROM earnings_lines WHERE creator_id = $1 AND feed = 'earnings'",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    let sold: Vec<&SaleRow> = all
        .iter()
        .filter(|s| s.reverses_sale_id.is_none())
        .collect();
    assert_eq!(sold.len() as i64, lines, "one sale per earnings line");
    assert!(
        sold.iter().all(|s| s.earnings_line_id.is_some()),
        "every sale confirmed"
    );
    assert!(sold.iter().all(|s| !s.net_estimated), "nets from the feed");
    assert_eq!(sold.iter().map(|s| s.gross_cents).sum::<i64>(), gross);
    assert_eq!(sold.iter().map(|s| s.net_cents).sum::<i64>(), net);
    let non_chat = sold
        .iter()
        .filter(|s| !["ppv", "tip"].contains(&s.kind.as_str()))
        .collect::<Vec<_>>();
    assert!(!non_chat.is_empty(), "subscriptions are in the feed");
    assert!(
        non_chat
            .iter()
            .all(|s| s.basis == "non_chat" && s.credited_staff_id.is_none())
    );
}

#[tokio::test]
async fn attributed_revenue_equals_the_truth_after_backfill_live_activity_and_webhook_drops() {
    let c = world(FaultsPatch {
        webhook_drop_rate: Some(0.6),
        ..FaultsPatch::default()
    })
    .await;
    let mapped = map_members(&c).await;
    let e = engine(&c.app);
    sync_until_idle(&e, c.id).await;
    live(&c, &e, 4).await;
    let dropped = c
        .app
        .sim()
        .deliveries()
        .iter()
        .filter(|d| d.outcome == "dropped")
        .count();
    assert!(dropped > 0, "webhooks were dropped");
    // Some purchase was proved by the earnings feed alone.
    let marked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM earnings_lines WHERE creator_id = $1 AND marked_purchase",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert!(
        marked > 0,
        "the feed recorded purchases no webhook reported"
    );
    assert_ledger_is_the_truth(&c, &mapped).await;
}

#[tokio::test]
async fn no_sale_is_counted_twice_under_duplicated_reordered_webhooks_reconcile_and_earnings() {
    let c = world(FaultsPatch {
        webhook_duplicate_rate: Some(1.0),
        webhook_reorder: Some(true),
        ..FaultsPatch::default()
    })
    .await;
    let mapped = map_members(&c).await;
    let e = engine(&c.app);
    sync_until_idle(&e, c.id).await;
    live(&c, &e, 4).await;
    let tips: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_events WHERE event_type = 'tip.new' AND creator_id = $1",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert!(tips > 0, "tip webhooks arrived");
    // The whole feed again, from scratch, and another cycle.
    sqlx::query("UPDATE earnings_sync_state SET high_water_at = NULL WHERE creator_id = $1")
        .bind(c.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    cycle(&c.app, &e, c.id).await;
    cycle(&c.app, &e, c.id).await;
    assert_ledger_is_the_truth(&c, &mapped).await;
}

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    id: i64,
    reverses_line_id: Option<i64>,
    gross_cents: i64,
}

#[tokio::test]
async fn a_refund_reverses_exactly_its_sale_even_when_seen_before_the_sale_is_matched() {
    let c = world(FaultsPatch {
        webhook_drop_rate: Some(1.0),
        ..FaultsPatch::default()
    })
    .await;
    let mapped = map_members(&c).await;
    let e = engine(&c.app);
    sync_until_idle(&e, c.id).await;
    cycle(&c.app, &e, c.id).await;
    let before = sales(&c.app, c.id).await;
    // A purchased PPV sent by a mapped team member, with no open PPV of
    // that price in the chat (so fan + price + time can only mean it).
    let t = truth(&c);
    let mut pick = None;
    for (m, price) in &t.purchases {
        let (msg, fan) = &t.messages[m];
        let open_twins = t
            .messages
            .values()
            .filter(|(o, f)| {
                f == fan && o.price_cents() == Some(*price) && o.purchased_at.is_none()
            })
            .count();
        if open_twins == 0 && sender_key(msg, &mapped).starts_with("staff:") {
            pick = Some((*m, *price));
            break;
        }
    }
    let (ppv, price) = pick.expect("a mapped member's purchase");
    let sale = before
        .iter()
        .find(|s| s.kind == "ppv" && s.message_uuid == Some(ppv))
        .expect("its sale");
    // Its line is not matched yet: the mirror loses the message and its
    // sale, and the line names no message (fan + price + time only).
    sqlx::query("DELETE FROM sales WHERE id = $1")
        .bind(sale.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM messages WHERE creator_id = $1 AND uuid = $2")
        .bind(c.id)
        .bind(ppv)
        .execute(&c.app.pool)
        .await
        .unwrap();
    let line_id: i64 = sqlx::query_scalar(
        "UPDATE earnings_lines SET matched_message_uuid = NULL, match_basis = NULL,
             unmatched_reason = 'pending', message_uuid = NULL
         WHERE creator_id = $1 AND matched_message_uuid = $2 RETURNING id",
    )
    .bind(c.id)
    .bind(ppv)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    // Fanvue refunds every purchase; the walk sees them all.
    c.app.sim().patch_faults(FaultsPatch {
        refund_rate: Some(1.0),
        reversal_after_secs: Some(1),
        ..FaultsPatch::default()
    });
    c.app.sim().advance_clock(Duration::from_secs(2));
    cycle(&c.app, &e, c.id).await;
    let refund_of = |m: Uuid| {
        let pool = c.app.pool.clone();
        async move {
            sqlx::query_as::<_, LineRow>(
                "SELECT id, reverses_line_id, gross_cents FROM earnings_lines
                 WHERE feed = 'spending' AND message_uuid = $1",
            )
            .bind(m)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let mine = refund_of(ppv).await;
    assert_eq!(mine.gross_cents, price);
    assert_eq!(
        mine.reverses_line_id, None,
        "its purchase is not matched yet"
    );
    let now = sales(&c.app, c.id).await;
    assert!(
        !now.iter().any(|s| s.earnings_line_id == Some(mine.id)),
        "no sale to reverse yet"
    );
    assert!(
        now.iter().any(|s| s.reverses_sale_id.is_some()),
        "the other refunds are applied at once"
    );

    // The message comes back (a fresh backfill); the next walk matches the
    // line, which confirms the sale and applies the waiting refund.
    sqlx::query(
        "UPDATE sync_state SET backfill_done_at = NULL, next_reconcile_at = now() WHERE creator_id = $1",
    )
    .bind(c.id)
    .execute(&c.app.pool)
    .await
    .unwrap();
    sync_until_idle(&e, c.id).await;
    cycle(&c.app, &e, c.id).await;
    cycle(&c.app, &e, c.id).await;
    let now = sales(&c.app, c.id).await;
    let sale = now
        .iter()
        .find(|s| s.kind == "ppv" && s.message_uuid == Some(ppv))
        .expect("the sale is back");
    assert_eq!(sale.earnings_line_id, Some(line_id));
    assert_eq!(sale.gross_cents, price, "the original stays as it was");
    let reversals: Vec<&SaleRow> = now
        .iter()
        .filter(|s| s.reverses_sale_id == Some(sale.id))
        .collect();
    assert_eq!(reversals.len(), 1, "reversed once");
    let r = reversals[0];
    assert_eq!(r.kind, "refund");
    assert_eq!(r.gross_cents, -price);
    assert_eq!(r.net_cents, -sale.net_cents);
    assert_eq!(r.credited_staff_id, sale.credited_staff_id);
    assert!(sale.credited_staff_id.is_some());
    assert_eq!(r.earnings_line_id, Some(mine.id));
    assert_eq!(refund_of(ppv).await.reverses_line_id, Some(line_id));
    let refunds: Vec<LineRow> = sqlx::query_as(
        "SELECT id, reverses_line_id, gross_cents FROM earnings_lines
         WHERE creator_id = $1 AND feed = 'spending' ORDER BY id",
    )
    .bind(c.id)
    .fetch_all(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(refunds.len(), t.purchases.len(), "every purchase refunded");

    // Every refund line reverses exactly the sale of the line it names.
    let by_line: HashMap<i64, &SaleRow> = now
        .iter()
        .filter_map(|s| s.earnings_line_id.map(|l| (l, s)))
        .collect();
    let mut applied = 0;
    for r in &refunds {
        let Some(orig) = r.reverses_line_id.and_then(|l| by_line.get(&l)) else {
            assert!(!by_line.contains_key(&r.id), "a reversal without its sale");
            continue;
        };
        let rev = by_line
            .get(&r.id)
            .expect("a linked refund of a sale is applied");
        assert_eq!(rev.reverses_sale_id, Some(orig.id));
        assert_eq!(rev.gross_cents, -orig.gross_cents);
        assert_eq!(rev.gross_cents, -r.gross_cents);
        applied += 1;
    }
    assert!(applied >= 2, "refunds applied: {applied}");
    let reversal_rows = now.iter().filter(|s| s.reverses_sale_id.is_some()).count();
    assert_eq!(reversal_rows, applied, "no reversal without its line");
    // Re-walking changes nothing.
    cycle(&c.app, &e, c.id).await;
    assert_eq!(sales(&c.app, c.id).await.len(), now.len());
}

/// A PPV the creator sends through the simulated Fanvue API (not through
/// Switchboard), at a price nothing else in the world has.
async fn send_ppv(c: &ConnectedCreator, fan: Uuid, cents: i64) -> Uuid {
    let t = c
        .app
        .sim()
        .issue_token(
            &c.fanvue.to_string(),
            &["read:self", "read:chat", "write:chat"],
        )
        .unwrap();
    let auth = CallAuth {
        token: SecretString::from(t.access_token),
        bucket: format!("driver-{}", c.fanvue),
        priority: Priority::Interactive,
        meter: None,
    };
    let ppv = SendMessage {
        text: Some("only one of these".into()),
        media_uuids: vec![c.app.sim().media_library(&c.fanvue)[0].0],
        price: Some(cents),
        template_uuid: None,
    };
    FanvueClient::new(&c.app.settings.fanvue)
        .unwrap()
        .send_message(&auth, fan, &ppv)
        .await
        .unwrap()
        .message_uuid
}

/// A text from the creator to `fan` ten minutes later: earlier messages
/// fall out of the incremental reconcile's overlap.
async fn later_text(c: &ConnectedCreator, fan: Uuid) {
    c.app.sim().advance_clock(Duration::from_secs(600));
    let t = c
        .app
        .sim()
        .issue_token(
            &c.fanvue.to_string(),
            &["read:self", "read:chat", "write:chat"],
        )
        .unwrap();
    let auth = CallAuth {
        token: SecretString::from(t.access_token),
        bucket: format!("driver-{}", c.fanvue),
        priority: Priority::Interactive,
        meter: None,
    };
    let text = SendMessage {
        text: Some("later".into()),
        media_uuids: vec![],
        price: None,
        template_uuid: None,
    };
    FanvueClient::new(&c.app.settings.fanvue)
        .unwrap()
        .send_message(&auth, fan, &text)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refund_linked_to_an_unmatched_line_is_applied_once_that_line_is_matched() {
    // Feed lines name no message (fan + price + time only), from the start.
    let c = world(FaultsPatch {
        webhook_drop_rate: Some(1.0),
        earnings_missing_uuid_rate: Some(1.0),
        ..FaultsPatch::default()
    })
    .await;
    // Without the targeted purchase refresh, an ambiguous line stays so
    // (and without the read-state refresh, which re-reads chats with unread
    // PPVs and would find the purchase too).
    let stuck = c.app.sync_engine_with(|s| {
        s.spending_interval_secs = 0;
        s.purchase_horizon_hours = 0;
        s.read_refresh_chats = 0;
    });
    let e = engine(&c.app);
    sync_until_idle(&e, c.id).await;
    let fan = c.app.sim().fan_uuids(&c.fanvue)[0];
    // Two PPVs at a price nothing else has; the fan buys the second.
    let a = send_ppv(&c, fan, 2222).await;
    let b = send_ppv(&c, fan, 2222).await;
    later_text(&c, fan).await;
    cycle(&c.app, &stuck, c.id).await;
    c.app.sim().fan_buys(&b).unwrap();
    // Fanvue refunds it (and every other purchase) a second later.
    c.app.sim().patch_faults(FaultsPatch {
        refund_rate: Some(1.0),
        reversal_after_secs: Some(1),
        ..FaultsPatch::default()
    });
    c.app.sim().advance_clock(Duration::from_secs(2));
    cycle(&c.app, &stuck, c.id).await;
    let line: (i64, Option<String>) = sqlx::query_as(
        "SELECT id, unmatched_reason FROM earnings_lines
         WHERE creator_id = $1 AND feed = 'earnings' AND fan_uuid = $2 AND gross_cents = 2222",
    )
    .bind(c.id)
    .bind(fan)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(
        line.1.as_deref(),
        Some("ambiguous"),
        "the purchase is not matched"
    );
    // The refund is linked to that line already, with no sale to reverse.
    let refund: LineRow = sqlx::query_as(
        "SELECT id, reverses_line_id, gross_cents FROM earnings_lines
         WHERE creator_id = $1 AND feed = 'spending' AND fan_uuid = $2 AND gross_cents = 2222",
    )
    .bind(c.id)
    .bind(fan)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(refund.reverses_line_id, Some(line.0));
    let reversal = |pool: sqlx::PgPool, line: i64| async move {
        sqlx::query_as::<_, (Uuid, i64, Option<Uuid>)>(
            "SELECT id, gross_cents, reverses_sale_id FROM sales WHERE earnings_line_id = $1",
        )
        .bind(line)
        .fetch_optional(&pool)
        .await
        .unwrap()
    };
    assert_eq!(reversal(c.app.pool.clone(), refund.id).await, None);

    // A later walk (with the refresh that tells the twins apart) matches
    // the line; the waiting refund is applied then, once.
    cycle(&c.app, &e, c.id).await;
    let (sale, gross): (Uuid, i64) = sqlx::query_as(
        "SELECT id, gross_cents FROM sales WHERE creator_id = $1 AND kind = 'ppv' AND message_uuid = $2
           AND earnings_line_id = $3",
    )
    .bind(c.id)
    .bind(b)
    .bind(line.0)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(gross, 2222);
    let (_, rev_gross, reverses) = reversal(c.app.pool.clone(), refund.id)
        .await
        .expect("the refund is applied");
    assert_eq!((rev_gross, reverses), (-2222, Some(sale)));
    cycle(&c.app, &e, c.id).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sales WHERE reverses_sale_id = $1")
        .bind(sale)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let twin: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sales WHERE creator_id = $1 AND message_uuid = $2",
    )
    .bind(c.id)
    .bind(a)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(twin, 0, "the twin was not bought");
}

/// A tip reported by its webhook on one instance while another stores the earnings line of
/// the same tip: the second waits for the first and adopts its sale — one sale, not two.
#[tokio::test]
async fn a_tip_event_and_its_earnings_line_written_at_once_make_one_sale() {
    let c = TestApp::with_connected_creator().await;
    let fan = Uuid::new_v4();
    let at = Utc::now() - chrono::Duration::minutes(5);
    // The webhook's tip, in a transaction not yet committed …
    let mut webhook = c.app.pool.begin().await.unwrap();
    store::purchases::record_tip(
        &mut webhook,
        c.acme.id,
        c.id,
        store::purchases::Tip {
            fan_uuid: Some(fan),
            amount_cents: 700,
            tipped_at: at,
            context: "post",
            tipped_message_uuid: None,
            dedupe_key: "tip-race-1",
        },
    )
    .await
    .unwrap();
    // … while the earnings walk stores the line of the same tip.
    let pool = c.app.pool.clone();
    let (agency, creator) = (c.acme.id, c.id);
    let walk = tokio::spawn(async move {
        let mut tx = pool.begin().await.unwrap();
        let line = store::earnings::NewLine {
            natural_key: "order-tip-race-1".into(),
            source: "tip".into(),
            fan_uuid: Some(fan),
            gross_cents: 700,
            net_cents: 560,
            currency: Some("USD".into()),
            occurred_at: at,
            message_uuid: None,
            post_uuid: None,
            transaction_order_id: Some("order-tip-race-1".into()),
            transaction_order_status: None,
            raw: serde_json::json!({}),
        };
        store::earnings::insert_lines(
            &mut tx,
            agency,
            creator,
            store::earnings::Feed::Earnings,
            &[line],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    webhook.commit().await.unwrap();
    walk.await.unwrap();
    let rows: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT gross_cents, amount_source, tip_id FROM sales WHERE creator_id = $1 AND kind = 'tip'",
    )
    .bind(c.id)
    .fetch_all(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "one sale for one tip: {rows:?}");
    assert_eq!(rows[0].0, 700);
    assert_eq!(rows[0].1, "earnings", "the line confirmed the tip's sale");
    assert!(rows[0].2.is_some(), "the sale is the tip event's");
}
