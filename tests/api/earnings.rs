//! The earnings reconcile against the simulator and real Postgres: with
//! purchase webhooks lost, Fanvue's earnings feed still records every
//! purchase (of any age); lines are stored once under re-walks; lines
//! without `messageUuid` match by fan + price + time; what cannot be
//! matched stays visible; refunds are stored and linked; the walk costs one
//! request per page.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use secrecy::SecretString;
use switchboard::domain::CreatorId;
use switchboard::fanvue::models::{Message, SendMessage};
use switchboard::fanvue::{CallAuth, FanvueClient, Priority};
use switchboard::sim::FaultsPatch;
use switchboard::sync::SyncEngine;
use uuid::Uuid;

use crate::helpers::*;

async fn connected(fans: usize, messages: usize) -> ConnectedCreator {
    TestApp::with_connected_creator_in(
        |c| {
            c.scenario.creators = 2;
            c.scenario.fans_per_creator = fans;
            c.scenario.messages_per_chat = messages;
            c.scenario.uncontactable_share = 0.0;
            c.scenario.ppv_share = 0.5;
            c.scenario.purchase_probability = 0.3;
            // Spread purchases over a month: a PPV sent in a test is, in
            // practice, never bought by the scenario while the test runs.
            c.scenario.purchase_max_delay_secs = 30 * 86_400;
            // Every webhook is lost (none is registered either).
            c.faults.webhook_drop_rate = 1.0;
        },
        |_| {},
    )
    .await
}

fn engine(app: &TestApp) -> SyncEngine {
    // Spending every cycle, so tests need not wait an hour. No read-state
    // refresh: it re-reads chats with unread PPVs, which would find the
    // purchases these tests want the earnings walk to prove.
    app.sync_engine_with(|s| {
        s.spending_interval_secs = 0;
        s.read_refresh_chats = 0;
    })
}

async fn make_due(app: &TestApp, creator: CreatorId) {
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now() WHERE creator_id = $1")
        .bind(creator)
        .execute(&app.pool)
        .await
        .unwrap();
}

async fn cycle(app: &TestApp, e: &SyncEngine, id: CreatorId) {
    make_due(app, id).await;
    sync_until_idle(e, id).await;
}

fn creator_api(app: &TestApp, creator: Uuid) -> (FanvueClient, CallAuth) {
    let t = app
        .sim()
        .issue_token(
            &creator.to_string(),
            &["read:self", "read:chat", "write:chat"],
        )
        .unwrap();
    (
        FanvueClient::new(&app.settings.fanvue).unwrap(),
        CallAuth {
            token: SecretString::from(t.access_token),
            bucket: format!("driver-{creator}"),
            priority: Priority::Interactive,
            meter: None,
        },
    )
}

async fn send_ppv(app: &TestApp, creator: Uuid, fan: Uuid, text: &str, cents: i64) -> Uuid {
    let (client, auth) = creator_api(app, creator);
    let ppv = SendMessage {
        text: Some(text.into()),
        media_uuids: vec![app.sim().media_library(&creator)[0].0],
        price: Some(cents),
        template_uuid: None,
    };
    client
        .send_message(&auth, fan, &ppv)
        .await
        .unwrap()
        .message_uuid
}

/// Ten minutes later, a text to `fan`: the PPVs before it fall out of the
/// incremental reconcile's overlap, so only the earnings walk (or the
/// purchase refresh) can notice their purchase.
async fn later_text(app: &TestApp, creator: Uuid, fan: Uuid) {
    app.sim().advance_clock(std::time::Duration::from_secs(600));
    let (client, auth) = creator_api(app, creator);
    let text = SendMessage {
        text: Some("later".into()),
        media_uuids: vec![],
        price: None,
        template_uuid: None,
    };
    client.send_message(&auth, fan, &text).await.unwrap();
}

/// The simulator's messages of a creator (fan, message).
fn truth_messages(app: &TestApp, creator: Uuid) -> Vec<(Uuid, Message)> {
    let t = app.sim().truth();
    let c = t["creators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["user"]["uuid"].as_str() == Some(&creator.to_string()))
        .unwrap()
        .clone();
    let mut out = Vec::new();
    for chat in c["chats"].as_array().unwrap() {
        let fan: Uuid = chat["fan"]["uuid"].as_str().unwrap().parse().unwrap();
        for m in chat["messages"].as_array().unwrap() {
            out.push((fan, serde_json::from_value(m.clone()).unwrap()));
        }
    }
    out
}

fn truth_purchases(app: &TestApp, creator: Uuid) -> usize {
    app.sim().truth()["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["creatorUuid"].as_str() == Some(&creator.to_string()))
        .count()
}

async fn purchased_at(app: &TestApp, id: CreatorId, msg: Uuid) -> Option<DateTime<Utc>> {
    sqlx::query_scalar("SELECT purchased_at FROM messages WHERE creator_id = $1 AND uuid = $2")
        .bind(id)
        .bind(msg)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    id: i64,
    source: String,
    matched_message_uuid: Option<Uuid>,
    match_basis: Option<String>,
    unmatched_reason: Option<String>,
    marked_purchase: bool,
    reverses_line_id: Option<i64>,
    message_uuid: Option<Uuid>,
}

async fn lines(app: &TestApp, id: CreatorId, feed: &str) -> Vec<LineRow> {
    sqlx::query_as(
        "SELECT id, source, matched_message_uuid, match_basis, unmatched_reason, marked_purchase,
                reverses_line_id, message_uuid
         FROM earnings_lines WHERE creator_id = $1 AND feed = $2 ORDER BY id",
    )
    .bind(id)
    .bind(feed)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn line_for(app: &TestApp, id: CreatorId, msg: Uuid) -> LineRow {
    lines(app, id, "earnings")
        .await
        .into_iter()
        .find(|l| l.matched_message_uuid == Some(msg) || l.message_uuid == Some(msg))
        .expect("a line for that message")
}

async fn last_run(app: &TestApp, id: CreatorId, kind: &str) -> (i32, Option<String>) {
    sqlx::query_as(
        "SELECT api_requests, error FROM sync_runs WHERE creator_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(id)
    .bind(kind)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_purchase_older_than_the_horizon_is_recorded_from_the_earnings_feed() {
    let ConnectedCreator {
        app, fanvue, id, ..
    } = connected(6, 20).await;
    let e = engine(&app);
    sync_until_idle(&e, id).await;
    // An unbought PPV from the simulated history, older than 72 h.
    let horizon = app.sim().now() - chrono::Duration::hours(73);
    let (_, old) = truth_messages(&app, fanvue)
        .into_iter()
        .find(|(_, m)| {
            m.price_cents().is_some()
                && m.purchased_at.is_none()
                && m.sent_at.is_some_and(|t| t < horizon)
                && m.sender.as_ref().is_some_and(|s| s.uuid == fanvue)
        })
        .expect("an old open PPV in the scenario");
    assert_eq!(purchased_at(&app, id, old.uuid).await, None);
    // Bought now on Fanvue; its webhook is lost.
    app.sim().fan_buys(&old.uuid).unwrap();
    cycle(&app, &e, id).await;
    let want = truth_messages(&app, fanvue)
        .into_iter()
        .find(|(_, m)| m.uuid == old.uuid)
        .unwrap()
        .1
        .purchased_at;
    assert!(want.is_some());
    assert_eq!(purchased_at(&app, id, old.uuid).await, want);
    let l = line_for(&app, id, old.uuid).await;
    assert_eq!(l.source, "message");
    assert_eq!(l.match_basis.as_deref(), Some("message_uuid"));
    assert!(
        l.marked_purchase,
        "the earnings line, not a refresh, recorded it"
    );
    assert!(app.sim().deliveries().is_empty(), "no webhook was involved");
    // Every purchase in the simulator's truth is a matched line.
    let matched = lines(&app, id, "earnings")
        .await
        .into_iter()
        .filter(|l| l.source == "message" && l.matched_message_uuid.is_some())
        .count();
    assert_eq!(matched, truth_purchases(&app, fanvue));
}

#[tokio::test]
async fn re_walks_and_the_overlap_store_every_line_once() {
    let ConnectedCreator {
        app, fanvue, id, ..
    } = connected(6, 20).await;
    let e = engine(&app);
    sync_until_idle(&e, id).await;
    cycle(&app, &e, id).await;
    let first = lines(&app, id, "earnings").await.len();
    assert!(first > 0);
    let messages = lines(&app, id, "earnings")
        .await
        .iter()
        .filter(|l| l.source == "message")
        .count();
    assert_eq!(messages, truth_purchases(&app, fanvue));
    // Again, and once more from scratch (no high-water mark): nothing new.
    cycle(&app, &e, id).await;
    sqlx::query("UPDATE earnings_sync_state SET high_water_at = NULL WHERE creator_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    cycle(&app, &e, id).await;
    assert_eq!(lines(&app, id, "earnings").await.len(), first);
    let new: i32 = sqlx::query_scalar(
        "SELECT last_new_lines FROM earnings_sync_state WHERE creator_id = $1 AND feed = 'earnings'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(new, 0);
    // A purchase inside the overlap is added exactly once.
    let fan = app.sim().fan_uuids(&fanvue)[0];
    let ppv = send_ppv(&app, fanvue, fan, "overlap", 1100).await;
    app.sim().fan_buys(&ppv).unwrap();
    cycle(&app, &e, id).await;
    cycle(&app, &e, id).await;
    assert_eq!(lines(&app, id, "earnings").await.len(), first + 1);
}

#[tokio::test]
async fn lines_without_message_uuid_match_by_fan_price_and_time() {
    let ConnectedCreator {
        app, fanvue, id, ..
    } = connected(4, 10).await;
    app.sim().patch_faults(FaultsPatch {
        earnings_missing_uuid_rate: Some(1.0),
        ..FaultsPatch::default()
    });
    let e = engine(&app);
    sync_until_idle(&e, id).await;
    let fans = app.sim().fan_uuids(&fanvue);
    let ppv = send_ppv(&app, fanvue, fans[0], "bare line", 1234).await;
    // Same price to another fan: the fan tells them apart.
    let other = send_ppv(&app, fanvue, fans[1], "same price", 1234).await;
    later_text(&app, fanvue, fans[0]).await;
    cycle(&app, &e, id).await;
    app.sim().fan_buys(&ppv).unwrap();
    cycle(&app, &e, id).await;
    let l = line_for(&app, id, ppv).await;
    assert_eq!(l.message_uuid, None, "the line came without messageUuid");
    assert_eq!(l.match_basis.as_deref(), Some("fan_price_time"));
    assert!(l.marked_purchase);
    assert!(purchased_at(&app, id, ppv).await.is_some());
    assert_eq!(purchased_at(&app, id, other).await, None);
    // The refresh was not needed: the match was unique.
    assert_eq!(last_run(&app, id, "purchases").await.0, 0);
}

#[tokio::test]
async fn an_ambiguous_line_is_resolved_by_refreshing_only_that_chat() {
    let ConnectedCreator {
        app, fanvue, id, ..
    } = connected(4, 10).await;
    app.sim().patch_faults(FaultsPatch {
        earnings_missing_uuid_rate: Some(1.0),
        ..FaultsPatch::default()
    });
    let e = engine(&app);
    sync_until_idle(&e, id).await;
    let fan = app.sim().fan_uuids(&fanvue)[0];
    let a = send_ppv(&app, fanvue, fan, "twin a", 2222).await;
    let b = send_ppv(&app, fanvue, fan, "twin b", 2222).await;
    later_text(&app, fanvue, fan).await;
    cycle(&app, &e, id).await;
    app.sim().fan_buys(&b).unwrap();
    cycle(&app, &e, id).await;
    // Fan + price + time fits both; the chat was re-read (one batch) and
    // the line matched to the one Fanvue says was bought.
    assert_eq!(last_run(&app, id, "purchases").await.0, 1);
    let l = line_for(&app, id, b).await;
    assert_eq!(l.match_basis.as_deref(), Some("fan_price_time"));
    assert_eq!(l.unmatched_reason, None);
    assert!(
        !l.marked_purchase,
        "the refresh recorded it; the line confirmed it"
    );
    assert!(purchased_at(&app, id, b).await.is_some());
    assert_eq!(purchased_at(&app, id, a).await, None);
}

#[tokio::test]
async fn a_line_that_cannot_be_matched_is_kept_and_shown_as_unmatched() {
    let ConnectedCreator {
        app,
        admin,
        fanvue,
        id,
        ..
    } = connected(3, 70).await;
    // Only the newest 50 per chat are mirrored: older PPVs are unknown.
    let e = app.sync_engine_with(|s| {
        s.history_depth = 0;
        s.spending_interval_secs = 0;
    });
    sync_until_idle(&e, id).await;
    let known: std::collections::HashSet<Uuid> =
        sqlx::query_scalar("SELECT uuid FROM messages WHERE creator_id = $1")
            .bind(id)
            .fetch_all(&app.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let (_, unknown) = truth_messages(&app, fanvue)
        .into_iter()
        .find(|(_, m)| {
            m.price_cents().is_some() && m.purchased_at.is_none() && !known.contains(&m.uuid)
        })
        .expect("an unmirrored open PPV");
    app.sim().fan_buys(&unknown.uuid).unwrap();
    cycle(&app, &e, id).await;
    let l = line_for(&app, id, unknown.uuid).await;
    assert_eq!(l.unmatched_reason.as_deref(), Some("not_mirrored"));
    assert_eq!(l.matched_message_uuid, None);
    // Visible on the sync page, never dropped.
    let (s, html) = admin.get_html(&format!("/admin/creators/{id}/sync")).await;
    assert_eq!(s, StatusCode::OK);
    let unmatched = html
        .split("id=\"earnings-unmatched\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap();
    let in_db: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM earnings_lines WHERE creator_id = $1 AND unmatched_reason IS NOT NULL",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(in_db >= 1);
    assert_eq!(unmatched, in_db.to_string());
    // Re-reading the newest messages would not find it: no refresh is spent.
    assert_eq!(last_run(&app, id, "purchases").await.0, 0);
    assert!(html.contains("not_mirrored"));
    assert!(html.contains("Earnings reconcile"));
}

#[tokio::test]
async fn refunds_and_chargebacks_are_stored_and_linked_to_their_purchase() {
    let ConnectedCreator {
        app, fanvue, id, ..
    } = connected(4, 10).await;
    let e = engine(&app);
    sync_until_idle(&e, id).await;
    let fans = app.sim().fan_uuids(&fanvue);
    let p1 = send_ppv(&app, fanvue, fans[0], "refund me", 1500).await;
    let p2 = send_ppv(&app, fanvue, fans[1], "charge me back", 1700).await;
    app.sim().fan_buys(&p1).unwrap();
    app.sim().fan_buys(&p2).unwrap();
    cycle(&app, &e, id).await;
    assert!(lines(&app, id, "spending").await.is_empty());
    // Fanvue reverses every purchase, some as chargebacks, some without uuids.
    app.sim().patch_faults(FaultsPatch {
        refund_rate: Some(0.5),
        chargeback_rate: Some(1.0),
        reversal_after_secs: Some(1),
        ..FaultsPatch::default()
    });
    app.sim().advance_clock(std::time::Duration::from_secs(2));
    cycle(&app, &e, id).await;
    let spending = lines(&app, id, "spending").await;
    let purchases = truth_purchases(&app, fanvue);
    assert_eq!(spending.len(), purchases);
    let earnings = lines(&app, id, "earnings").await;
    for r in &spending {
        assert!(["refund", "chargeback"].contains(&r.source.as_str()));
        let original = earnings
            .iter()
            .find(|l| Some(l.id) == r.reverses_line_id)
            .unwrap_or_else(|| panic!("reversal {} linked", r.id));
        assert_eq!(original.matched_message_uuid, r.message_uuid);
    }
    // A reversal line does not un-buy the PPV; it is its own line.
    assert!(purchased_at(&app, id, p1).await.is_some());
    // Re-walking stores no reversal twice.
    cycle(&app, &e, id).await;
    assert_eq!(lines(&app, id, "spending").await.len(), purchases);
}

#[tokio::test]
async fn the_walk_costs_one_request_per_page_and_the_idle_cycle_stays_at_three() {
    let ConnectedCreator {
        app, fanvue, id, ..
    } = connected(40, 30).await;
    // The read-state refresh adds a batch per 50 chats holding unread
    // outbound messages; its cost is asserted in its own test.
    let e = app.sync_engine_with(|s| s.read_refresh_chats = 0);
    sync_until_idle(&e, id).await;
    cycle(&app, &e, id).await;
    let n = lines(&app, id, "earnings").await.len();
    assert!(n > 50, "more than one page: {n}");
    // First walk: every line, 50 a page, plus one page of the (empty) spending feed.
    let (first, err) = last_run(&app, id, "earnings").await;
    assert_eq!(err, None);
    assert_eq!(first as usize, n.div_ceil(50) + 1);
    // Idle cycle: one list page, one incremental batch, one earnings page
    // (the spending feed is not due yet); nothing for the purchase refresh.
    app.sim().reset_stats();
    cycle(&app, &e, id).await;
    let total: i64 = sqlx::query_scalar(
        "SELECT sum(api_requests)::int8 FROM (SELECT api_requests FROM sync_runs WHERE creator_id = $1
         ORDER BY id DESC LIMIT 3) r",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(last_run(&app, id, "earnings").await.0, 1);
    assert_eq!(last_run(&app, id, "purchases").await.0, 0);
    assert_eq!(total, 3);
    assert_eq!(app.sim().stats().total_requests, 3);
    let _ = fanvue;
}

#[tokio::test]
async fn without_read_insights_the_walk_fails_visibly_and_the_horizon_refresh_takes_over() {
    let ConnectedCreator {
        app,
        admin,
        fanvue,
        id,
        ..
    } = TestApp::with_connected_creator_in(
        |c| {
            c.scenario.creators = 2;
            c.scenario.fans_per_creator = 4;
            c.scenario.messages_per_chat = 10;
            c.scenario.uncontactable_share = 0.0;
            c.scenario.purchase_max_delay_secs = 30 * 86_400;
        },
        |s| s.fanvue.scopes.retain(|x| x != "read:insights"),
    )
    .await;
    let e = engine(&app);
    sync_until_idle(&e, id).await;
    let fan = app.sim().fan_uuids(&fanvue)[0];
    let ppv = send_ppv(&app, fanvue, fan, "fallback", 1300).await;
    later_text(&app, fanvue, fan).await;
    cycle(&app, &e, id).await;
    app.sim().fan_buys(&ppv).unwrap();
    cycle(&app, &e, id).await;
    let (_, err) = last_run(&app, id, "earnings").await;
    assert!(err.is_some(), "the walk failed");
    assert!(lines(&app, id, "earnings").await.is_empty());
    // The PPV is young: the horizon refresh re-read its chat.
    assert!(purchased_at(&app, id, ppv).await.is_some());
    assert!(last_run(&app, id, "purchases").await.0 >= 1);
    let (_, html) = admin.get_html(&format!("/admin/creators/{id}/sync")).await;
    assert!(html.contains("failed:"), "the sync page says so");
}
