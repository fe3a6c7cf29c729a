//! Webhook intake and processing over real HTTP with real Postgres: every
//! refusal path, dedupe, ordering, crash recovery, outage + reconcile,
//! purchase-before-message, secret rotation.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;
use switchboard::domain::CreatorId;
use switchboard::sim::{EventKind, FaultsPatch};
use switchboard::webhooks::{process, signature};
use uuid::Uuid;

use crate::helpers::*;

async fn setup() -> (TestApp, Uuid, CreatorId) {
    let ConnectedCreator {
        app, fanvue, id, ..
    } = TestApp::with_connected_creator_in(
        |c| {
            c.scenario.creators = 2;
            c.scenario.fans_per_creator = 6;
            c.scenario.messages_per_chat = 6;
            c.scenario.uncontactable_share = 0.0;
        },
        |_| {},
    )
    .await;
    (app, fanvue, id)
}

fn secret(app: &TestApp) -> SecretString {
    app.settings.webhooks.secret.clone().expect("secret")
}

async fn deliver(
    app: &TestApp,
    path: &str,
    body: &[u8],
    sig: Option<String>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = sig {
        req = req.header("x-fanvue-signature", s);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn signed(app: &TestApp, path: &str, body: &serde_json::Value) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    let sig = signature::sign(&secret(app), chrono::Utc::now().timestamp(), &raw);
    deliver(app, path, &raw, Some(sig), &[]).await
}

fn received(creator: Uuid, fan: Uuid, msg: Uuid, text: &str) -> serde_json::Value {
    json!({
        "messageUuid": msg,
        "message": {"uuid": msg, "text": text, "hasMedia": false, "mediaUuids": [], "price": null, "createdAt": chrono::Utc::now()},
        "sender": {"uuid": fan, "handle": "fan-h", "displayName": "Fan D", "avatarUrl": null},
        "recipientUuid": creator, "isMuted": false, "timestamp": chrono::Utc::now()
    })
}

async fn events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM webhook_events")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn drain(app: &TestApp) -> usize {
    process::drain(&app.pool, &app.settings.webhooks)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_valid_delivery_is_stored_then_applied() {
    let (app, creator, id) = setup().await;
    let fan = Uuid::new_v4();
    let msg = Uuid::new_v4();
    let r = signed(
        &app,
        "/webhooks/fanvue/message-received",
        &received(creator, fan, msg, "hello there"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "accepted"
    );
    // Stored, not yet in the mirror: the request did no mirror write.
    assert_eq!(app.webhook_status().await, "pending");
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE uuid = $1")
        .bind(msg)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(before, 0);
    assert_eq!(drain(&app).await, 1);
    let (text, direction, unread): (Option<String>, String, i32) = sqlx::query_as(
        "SELECT m.text, m.direction, c.unread_count FROM messages m JOIN chats c ON c.id = m.chat_id WHERE m.uuid = $1 AND m.creator_id = $2",
    )
    .bind(msg)
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (text.as_deref(), direction.as_str(), unread),
        (Some("hello there"), "in", 1)
    );
    assert_eq!(app.webhook_status().await, "processed");
}

#[tokio::test]
async fn every_refusal_path_answers_its_status_and_applies_nothing() {
    let (app, creator, _) = setup().await;
    let body = serde_json::to_vec(&received(creator, Uuid::new_v4(), Uuid::new_v4(), "x")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let path = "/webhooks/fanvue/message-received";
    // Missing, malformed, forged, replayed (6 minutes old), from the future.
    assert_eq!(
        deliver(&app, path, &body, None, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        deliver(&app, path, &body, Some("v0=abc".into()), &[])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let forged = signature::sign(&SecretString::from("not-the-secret"), now, &body);
    assert_eq!(
        deliver(&app, path, &body, Some(forged), &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let replay = signature::sign(&secret(&app), now - 360, &body);
    assert_eq!(
        deliver(&app, path, &body, Some(replay), &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let future = signature::sign(&secret(&app), now + 360, &body);
    assert_eq!(
        deliver(&app, path, &body, Some(future), &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A body signed over different bytes.
    let tampered = signature::sign(&secret(&app), now, b"{}");
    assert_eq!(
        deliver(&app, path, &body, Some(tampered), &[])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(events(&app).await, 0, "nothing stored for bad signatures");

    // Malformed JSON, correctly signed: 400, logged as a rejection.
    let bad = b"{not json";
    let r = deliver(
        &app,
        path,
        bad,
        Some(signature::sign(&secret(&app), now, bad)),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A body of the wrong shape for its URL.
    let r = signed(&app, path, &json!({"counterpartUuid": Uuid::new_v4(), "readMessagesCount": 1, "recipientUuid": creator, "timestamp": chrono::Utc::now()})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Too large: 413 before anything else.
    let huge = vec![b' '; 300 * 1024];
    let r = deliver(
        &app,
        path,
        &huge,
        Some(signature::sign(&secret(&app), now, &huge)),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(events(&app).await, 0);
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM webhook_rejections ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(reasons.len(), 8, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("outside the allowed window"))
    );
    assert!(reasons.iter().any(|r| r.starts_with("malformed JSON")));
    // No rejection keeps any of the body, signed or not (the body of the
    // malformed delivery was `{not json`, the others quoted "x").
    let quoting: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_rejections
         WHERE to_jsonb(webhook_rejections)::text LIKE '%not json%'
            OR to_jsonb(webhook_rejections)::text LIKE '%messageUuid%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(quoting, 0, "no payload text is kept in rejections");

    // Unknown creator: 202 and kept as unmatched, never applied.
    let stranger = received(Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), "who?");
    let r = signed(&app, path, &stranger).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(app.webhook_status().await, "unmatched");
    assert_eq!(drain(&app).await, 0);
}

#[tokio::test]
async fn duplicates_are_stored_once_and_the_shared_url_finds_the_type() {
    let (app, creator, id) = setup().await;
    let fan = Uuid::new_v4();
    let msg = Uuid::new_v4();
    let body = received(creator, fan, msg, "once");
    assert_eq!(
        signed(&app, "/webhooks/fanvue/message-received", &body)
            .await
            .status(),
        StatusCode::OK
    );
    let again = signed(&app, "/webhooks/fanvue/message-received", &body).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap()["status"],
        "duplicate"
    );
    // The shared URL, by shape.
    assert_eq!(
        signed(&app, "/webhooks/fanvue", &body)
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap()["status"],
        "duplicate"
    );
    assert_eq!(events(&app).await, 1);
    // The shared URL, by topic header; the event-id header is only kept.
    let raw = serde_json::to_vec(&json!({"counterpartUuid": fan, "readMessagesCount": 1, "recipientUuid": creator, "timestamp": chrono::Utc::now()})).unwrap();
    let sig = signature::sign(&secret(&app), chrono::Utc::now().timestamp(), &raw);
    let r = deliver(
        &app,
        "/webhooks/fanvue",
        &raw,
        Some(sig.clone()),
        &[
            ("x-fanvue-topic", "message.read"),
            ("x-fanvue-event-id", "evt-1"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = deliver(
        &app,
        "/webhooks/fanvue",
        &raw,
        Some(sig),
        &[
            ("x-fanvue-topic", "message.read"),
            ("x-fanvue-event-id", "evt-1"),
        ],
    )
    .await;
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "duplicate"
    );
    let types: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM webhook_events ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(types, vec!["message.received", "message.read"]);
    drain(&app).await;
    let (count, unread): (i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages WHERE creator_id = $1 AND uuid = $2), (SELECT unread_count FROM chats WHERE creator_id = $1 AND fan_uuid = $3)",
    )
    .bind(id)
    .bind(msg)
    .bind(fan)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (count, unread),
        (1, 0),
        "applied once; the read cleared the unread count"
    );
}

#[tokio::test]
async fn reordered_deliveries_converge_and_a_purchase_before_its_message_is_joined() {
    let (app, creator, id) = setup().await;
    let fan = Uuid::new_v4();
    let ppv = Uuid::new_v4();
    let bought_at = chrono::Utc::now();
    // The purchase arrives first, for a message the mirror has not seen.
    let purchase = json!({"routeUuid": ppv, "price": 1500, "recipientUuid": creator, "sender": {"uuid": fan}, "timestamp": bought_at});
    assert_eq!(
        signed(&app, "/webhooks/fanvue/purchase", &purchase)
            .await
            .status(),
        StatusCode::OK
    );
    let tip = json!({"context": "message", "messageUuid": ppv, "senderUuid": fan, "price": 700, "recipientUuid": creator, "timestamp": bought_at});
    assert_eq!(
        signed(&app, "/webhooks/fanvue/tip", &tip).await.status(),
        StatusCode::OK
    );
    drain(&app).await;
    let parked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM purchase_events WHERE joined_at IS NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(parked, 1, "kept until the message is mirrored");
    // Then the message arrives (as a sync would write it).
    let agency: Uuid = sqlx::query_scalar("SELECT agency_id FROM creators WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut conn = app.pool.acquire().await.unwrap();
    switchboard::store::messages::upsert_messages(
        &mut conn,
        switchboard::domain::AgencyId::from_uuid(agency),
        id,
        &[switchboard::store::messages::MessageUpsert {
            uuid: ppv,
            fan_uuid: fan,
            sender_uuid: Some(creator),
            recipient_uuid: Some(fan),
            outbound: true,
            text: Some("unlock".into()),
            sent_at: Some(bought_at - chrono::Duration::minutes(5)),
            kind: switchboard::domain::MessageKind::single_recipient(),
            has_media: Some(true),
            media_type: Some("image".into()),
            media_uuids: vec![],
            price_cents: Some(1500),
            purchased_at: None,
            sent_by_user_uuid: None,
            is_read: false,
        }],
        switchboard::domain::MessageSource::Reconcile,
    )
    .await
    .unwrap();
    let purchased: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT purchased_at FROM messages WHERE uuid = $1")
            .bind(ppv)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        purchased.map(|t| t.timestamp_millis()),
        Some(bought_at.timestamp_millis())
    );
    let tip_link: Option<Uuid> = sqlx::query_scalar("SELECT tipped_message_uuid FROM tips")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(tip_link, Some(ppv));

    // A read, then the message it covers (out of order) — and the reverse —
    // end with the same state.
    let m1 = Uuid::new_v4();
    let read = json!({"counterpartUuid": fan, "readMessagesCount": 1, "recipientUuid": creator, "timestamp": chrono::Utc::now() + chrono::Duration::seconds(5)});
    signed(&app, "/webhooks/fanvue/message-read", &read).await;
    signed(
        &app,
        "/webhooks/fanvue/message-received",
        &received(creator, fan, m1, "late"),
    )
    .await;
    drain(&app).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE uuid = $1")
        .bind(m1)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_crash_between_claim_and_apply_is_retried_and_applied_once() {
    let (app, creator, id) = setup().await;
    let msg = Uuid::new_v4();
    signed(
        &app,
        "/webhooks/fanvue/message-received",
        &received(creator, Uuid::new_v4(), msg, "survives"),
    )
    .await;
    // A worker claims it and dies before applying.
    let claimed = switchboard::store::webhooks::claim(&app.pool, 10, 30.0)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(drain(&app).await, 0, "claimed by the dead worker");
    app.expire_webhook_claims().await;
    assert_eq!(drain(&app).await, 1, "the lapsed claim is picked up");
    assert_eq!(drain(&app).await, 0);
    let (n, attempts): (i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages WHERE creator_id = $1 AND uuid = $2), (SELECT attempts FROM webhook_events)",
    )
    .bind(id)
    .bind(msg)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((n, attempts), (1, 2));
}

#[tokio::test]
async fn a_round_slower_than_its_claim_keeps_it_while_its_worker_lives() {
    let (app, creator, id) = setup().await;
    sync_until_idle(&app.sync_engine(), id).await;
    let fan = app.sim().fan_uuids(&creator)[0];
    let msg = Uuid::new_v4();
    signed(
        &app,
        "/webhooks/fanvue/message-received",
        &received(creator, fan, msg, "slow round"),
    )
    .await;
    // Another writer holds the chat, so the round waits on its lock.
    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM chats WHERE creator_id = $1 AND fan_uuid = $2 FOR UPDATE")
        .bind(id)
        .bind(fan)
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    let (pool, settings) = (app.pool.clone(), app.settings.webhooks.clone());
    let slow = tokio::spawn(async move { process::process_batch(&pool, &settings).await });
    // Past the 10 s claim, the round still waits and its claim is still held: another
    // worker finds nothing to claim (it would otherwise claim the event and block too).
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(!slow.is_finished());
    let other = tokio::time::timeout(
        Duration::from_secs(3),
        process::process_batch(&app.pool, &app.settings.webhooks),
    )
    .await
    .expect("another worker is not held up by the event")
    .unwrap();
    assert_eq!(other, 0, "the live round's claim was renewed");
    holder.commit().await.unwrap();
    assert_eq!(slow.await.unwrap().unwrap(), 1);
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM webhook_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 1, "claimed once");
}

#[tokio::test]
async fn failing_events_back_off_then_dead_letter_and_can_be_retried() {
    let (app, creator, _) = setup().await;
    // Valid at intake, but its creator is removed before processing.
    signed(
        &app,
        "/webhooks/fanvue/message-received",
        &received(creator, Uuid::new_v4(), Uuid::new_v4(), "x"),
    )
    .await;
    sqlx::query("UPDATE webhook_events SET creator_id = NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    for _ in 0..app.settings.webhooks.max_attempts {
        drain(&app).await;
        sqlx::query("UPDATE webhook_events SET next_attempt_at = now()")
            .execute(&app.pool)
            .await
            .unwrap();
    }
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, error FROM webhook_events")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "dead");
    assert!(error.unwrap().contains("no creator"));
    let acme_admin = app.signed_in("admin@acme.test").await;
    let (_, page) = acme_admin.get_html("/admin/webhooks").await;
    assert!(
        page.contains("Dead letters") && page.contains("no creator"),
        "{page}"
    );
}

#[tokio::test]
async fn the_previous_secret_works_only_during_the_rotation_overlap() {
    let old = SecretString::from("old-secret".to_owned());
    let now = chrono::Utc::now();
    for (until, expect) in [
        (now + chrono::Duration::hours(1), StatusCode::OK),
        (now - chrono::Duration::minutes(1), StatusCode::UNAUTHORIZED),
    ] {
        let ConnectedCreator {
            app,
            fanvue: creator,
            ..
        } = TestApp::with_connected_creator_in(
            |_| {},
            |s| s.webhooks.previous_secret = Some((old.clone(), until)),
        )
        .await;
        let raw = serde_json::to_vec(&received(
            creator,
            Uuid::new_v4(),
            Uuid::new_v4(),
            "rotating",
        ))
        .unwrap();
        let by_old = signature::sign(&old, now.timestamp(), &raw);
        assert_eq!(
            deliver(
                &app,
                "/webhooks/fanvue/message-received",
                &raw,
                Some(by_old),
                &[]
            )
            .await
            .status(),
            expect
        );
        let by_new = signature::sign(&secret(&app), now.timestamp(), &raw);
        assert_eq!(
            deliver(
                &app,
                "/webhooks/fanvue/message-received",
                &raw,
                Some(by_new),
                &[]
            )
            .await
            .status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn simulator_deliveries_land_in_the_mirror_and_an_outage_is_closed_by_reconcile() {
    let (app, creator, id) = setup().await;
    for kind in [
        EventKind::MessageReceived,
        EventKind::MessageRead,
        EventKind::Purchase,
        EventKind::Tip,
        EventKind::NewFollower,
        EventKind::NewSubscriber,
    ] {
        let slug = match kind {
            EventKind::MessageReceived => "message-received",
            EventKind::MessageRead => "message-read",
            EventKind::Purchase => "purchase",
            EventKind::Tip => "tip",
            EventKind::NewFollower => "new-follower",
            EventKind::NewSubscriber => "new-subscriber",
        };
        app.sim()
            .register_webhook(&format!("{}/webhooks/fanvue/{slug}", app.address), &[kind]);
    }
    let engine = app.sync_engine();
    sync_until_idle(&engine, id).await;

    // Live: a fan message reaches the mirror through the webhook alone.
    let mine = "SELECT count(*) FROM webhook_events WHERE event_type = 'message.received' AND creator_id = $1";
    for _ in 0..100 {
        app.sim().generate_activity(5);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n: i64 = sqlx::query_scalar(mine)
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if n > 0 {
            break;
        }
    }
    assert!(
        !app.sim().deliveries().is_empty(),
        "the simulator delivered webhooks"
    );
    drain(&app).await;
    let via_webhook: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE creator_id = $1 AND source = 'webhook'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(via_webhook > 0, "a delivered message was applied");

    // Outage: deliveries pause while activity goes on; reconcile closes the gap.
    app.sim().patch_faults(FaultsPatch {
        webhook_paused: Some(true),
        ..Default::default()
    });
    app.sim().generate_activity(80);
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now() WHERE creator_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    sync_until_idle(&engine, id).await;
    let truth = app.sim().truth();
    let c = truth["creators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["user"]["uuid"].as_str() == Some(&creator.to_string()))
        .unwrap();
    let mut want = std::collections::BTreeSet::new();
    for chat in c["chats"].as_array().unwrap() {
        for m in chat["messages"].as_array().unwrap() {
            want.insert(m["uuid"].as_str().unwrap().parse::<Uuid>().unwrap());
        }
    }
    let got: std::collections::BTreeSet<Uuid> = sqlx::query_scalar(
        "SELECT uuid FROM messages WHERE creator_id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(
        got, want,
        "after the outage and a reconcile the mirror holds exactly Fanvue's messages"
    );
    // The queued deliveries arrive later and change nothing but are harmless.
    let delivered_before = app.sim().deliveries().len();
    app.sim().patch_faults(FaultsPatch {
        webhook_paused: Some(false),
        ..Default::default()
    });
    for _ in 0..100 {
        if app.sim().deliveries().len() > delivered_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        app.sim().deliveries().len() > delivered_before,
        "the held deliveries arrive after the outage"
    );
    drain(&app).await;
    assert_eq!(app.webhooks_with_status("dead").await, 0);
}

#[tokio::test]
async fn silent_webhooks_while_reconcile_finds_messages_raise_a_gap_alert() {
    let (app, _, id) = setup().await;
    let admin = app.signed_in("admin@acme.test").await;
    let (_, page) = admin.get_html("/admin/webhooks").await;
    assert!(
        !page.contains(&format!("id=\"gap-{id}\"")),
        "no alert before any reconcile"
    );
    // A reconcile that found messages, and no webhook at all.
    let agency: Uuid = sqlx::query_scalar("SELECT agency_id FROM creators WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE sync_state SET last_reconcile_at = now() WHERE creator_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO sync_runs (agency_id, creator_id, kind, worker, started_at, messages_upserted) VALUES ($1, $2, 'reconcile', 'w', now(), 7)")
        .bind(agency)
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, page) = admin.get_html("/admin/webhooks").await;
    assert!(page.contains(&format!("id=\"gap-{id}\"")), "{page}");
    // A recent webhook clears it.
    sqlx::query("UPDATE sync_state SET last_webhook_at = now() WHERE creator_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, page) = admin.get_html("/admin/webhooks").await;
    assert!(!page.contains(&format!("id=\"gap-{id}\"")));
}

#[tokio::test]
async fn a_concurrent_burst_is_stored_once_per_event_and_every_sender_gets_its_answer() {
    let (app, creator, id) = setup().await;
    // 30 distinct messages, each delivered twice at the same moment: the
    // group commit sees repeats inside one batch and across batches.
    let bodies: Vec<Vec<u8>> = (0..30)
        .map(|i| {
            serde_json::to_vec(&received(
                creator,
                Uuid::new_v4(),
                Uuid::new_v4(),
                &format!("burst {i}"),
            ))
            .unwrap()
        })
        .collect();
    let secret = secret(&app);
    let sends = bodies.iter().chain(bodies.iter()).map(|raw| {
        let sig = signature::sign(&secret, chrono::Utc::now().timestamp(), raw);
        let app = &app;
        async move {
            let r = deliver(
                app,
                "/webhooks/fanvue/message-received",
                raw,
                Some(sig),
                &[],
            )
            .await;
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap();
            (
                raw.clone(),
                status,
                body["status"].as_str().unwrap_or("").to_owned(),
            )
        }
    });
    let answers = futures_util::future::join_all(sends).await;
    for raw in &bodies {
        let mut mine: Vec<&str> = answers
            .iter()
            .filter(|(b, status, _)| b == raw && *status == StatusCode::OK)
            .map(|(_, _, s)| s.as_str())
            .collect();
        mine.sort_unstable();
        assert_eq!(mine, ["accepted", "duplicate"], "one stored, one duplicate");
    }
    assert_eq!(events(&app).await, 30);
    assert_eq!(drain(&app).await, 30);
    let mirrored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE creator_id = $1 AND text LIKE 'burst %'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(mirrored, 30);
}

#[tokio::test]
async fn a_payload_postgres_cannot_store_is_refused_at_intake() {
    let (app, creator, _) = setup().await;
    let raw = serde_json::to_vec(&received(
        creator,
        Uuid::new_v4(),
        Uuid::new_v4(),
        "a\u{0}b",
    ))
    .unwrap();
    assert!(String::from_utf8_lossy(&raw).contains("\\u0000"));
    let sig = signature::sign(&secret(&app), chrono::Utc::now().timestamp(), &raw);
    let r = deliver(
        &app,
        "/webhooks/fanvue/message-received",
        &raw,
        Some(sig),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(events(&app).await, 0);
    let reason: String =
        sqlx::query_scalar("SELECT reason FROM webhook_rejections ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(reason.contains("NUL"), "{reason}");
}

#[tokio::test]
async fn one_bad_row_in_an_intake_batch_fails_alone() {
    use switchboard::store::webhooks::{Intake, NewEvent};
    use switchboard::webhooks::group_commit::IntakeWriter;
    let (app, creator, _) = setup().await;
    let event = |key: &str, payload: String| NewEvent {
        event_type: "message.received",
        dedupe_key: key.to_owned(),
        event_id: None,
        creator_fanvue_uuid: creator,
        payload,
    };
    // One statement slot: the three queue behind each other and at least
    // two share a batch; the NUL payload makes any batch holding it fail.
    let writer = IntakeWriter::spawn(app.pool.clone(), 1, 256);
    let (a, bad, c) = tokio::join!(
        writer.store(event("k:a", r#"{"n":1}"#.into())),
        writer.store(event("k:bad", r#"{"n":"\u0000"}"#.into())),
        writer.store(event("k:c", r#"{"n":3}"#.into())),
    );
    assert_eq!(a.unwrap(), Intake::Pending);
    assert_eq!(c.unwrap(), Intake::Pending);
    assert!(bad.is_err());
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT dedupe_key FROM webhook_events ORDER BY dedupe_key")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(keys, ["k:a", "k:c"]);
}

#[tokio::test]
async fn a_failing_event_in_a_processing_round_does_not_hold_back_the_others() {
    let (app, creator, id) = setup().await;
    let good: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    for (i, msg) in good.iter().enumerate() {
        let r = signed(
            &app,
            "/webhooks/fanvue/message-received",
            &received(creator, Uuid::new_v4(), *msg, &format!("good {i}")),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // The third stored event loses its creator: the round fails as a whole
    // and is applied event by event.
    sqlx::query(
        "UPDATE webhook_events SET creator_id = NULL
         WHERE id = (SELECT id FROM webhook_events ORDER BY id OFFSET 2 LIMIT 1)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let applied = process::process_batch(&app.pool, &app.settings.webhooks)
        .await
        .unwrap();
    assert_eq!(applied, 4);
    assert_eq!(
        app.webhook_statuses().await,
        [
            "processed",
            "processed",
            "pending",
            "processed",
            "processed"
        ]
    );
    let mirrored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE creator_id = $1 AND text LIKE 'good %'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(mirrored, 4);
}

async fn deliver_signed(
    app: &TestApp,
    path: &str,
    body: &serde_json::Value,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    let sig = signature::sign(&secret(app), chrono::Utc::now().timestamp(), &raw);
    deliver(app, path, &raw, Some(sig), extra).await
}

async fn answer_status(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (status, body["status"].as_str().unwrap_or("").to_owned())
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

#[tokio::test]
async fn a_webhook_replayed_with_fresh_event_ids_creates_no_second_tip_or_purchase() {
    let (app, creator, _) = setup().await;
    let fan = Uuid::new_v4();
    let at = chrono::Utc::now();
    let tip = json!({"context": "post", "postUuid": Uuid::new_v4(), "senderUuid": fan, "price": 700, "recipientUuid": creator, "timestamp": at});
    let purchase = json!({"routeUuid": Uuid::new_v4(), "price": 1500, "recipientUuid": creator, "sender": {"uuid": fan}, "timestamp": at});
    for (path, body) in [
        ("/webhooks/fanvue/tip", &tip),
        ("/webhooks/fanvue/purchase", &purchase),
    ] {
        // The captured delivery, then its replays under fresh event ids.
        let first = deliver_signed(&app, path, body, &[("x-fanvue-event-id", "evt-a")]).await;
        assert_eq!(
            answer_status(first).await,
            (StatusCode::OK, "accepted".into())
        );
        for id in ["evt-b", "evt-c"] {
            let again = deliver_signed(&app, path, body, &[("x-fanvue-event-id", id)]).await;
            assert_eq!(
                answer_status(again).await,
                (StatusCode::OK, "duplicate".into())
            );
        }
    }
    drain(&app).await;
    assert_eq!(count(&app, "SELECT count(*) FROM webhook_events").await, 2);
    assert_eq!(count(&app, "SELECT count(*) FROM tips").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM purchase_events").await, 1);
    // The header id is kept, as metadata.
    let ids: Vec<Option<String>> =
        sqlx::query_scalar("SELECT event_id FROM webhook_events ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(ids, [Some("evt-a".to_owned()), Some("evt-a".to_owned())]);
}

#[tokio::test]
async fn a_webhook_replayed_under_a_predicted_event_id_does_not_suppress_the_real_event() {
    let (app, creator, id) = setup().await;
    let old = received(creator, Uuid::new_v4(), Uuid::new_v4(), "captured");
    let real_msg = Uuid::new_v4();
    let real = received(creator, Uuid::new_v4(), real_msg, "the real one");
    // The attacker replays an old delivery under the id the next one will carry.
    let replay = deliver_signed(
        &app,
        "/webhooks/fanvue/message-received",
        &old,
        &[("x-fanvue-event-id", "evt-next")],
    )
    .await;
    assert_eq!(replay.status(), StatusCode::OK);
    let r = deliver_signed(
        &app,
        "/webhooks/fanvue/message-received",
        &real,
        &[("x-fanvue-event-id", "evt-next")],
    )
    .await;
    assert_eq!(answer_status(r).await, (StatusCode::OK, "accepted".into()));
    drain(&app).await;
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE creator_id = $1 AND uuid = $2")
            .bind(id)
            .bind(real_msg)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(n, 1, "the real event was applied");
}

#[tokio::test]
async fn a_webhook_whose_type_does_not_match_its_body_is_refused_and_logged() {
    let (app, creator, _) = setup().await;
    let fan = Uuid::new_v4();
    let at = chrono::Utc::now();
    let tip = json!({"context": "post", "postUuid": Uuid::new_v4(), "senderUuid": fan, "sender": {"uuid": fan}, "price": 700, "recipientUuid": creator, "timestamp": at});
    let purchase = json!({"routeUuid": Uuid::new_v4(), "price": 1500, "recipientUuid": creator, "sender": {"uuid": fan}, "timestamp": at});
    let message = received(creator, fan, Uuid::new_v4(), "hi");
    // Signed bodies of one type presented as another: each would parse.
    type Case<'a> = (&'a str, &'a serde_json::Value, &'a [(&'a str, &'a str)]);
    let cases: [Case; 4] = [
        ("/webhooks/fanvue/purchase", &tip, &[]),
        ("/webhooks/fanvue/new-subscriber", &purchase, &[]),
        (
            "/webhooks/fanvue",
            &message,
            &[("x-fanvue-topic", "follow.new")],
        ),
        (
            "/webhooks/fanvue/tip",
            &tip,
            &[("x-fanvue-topic", "purchase.new")],
        ),
    ];
    for (path, body, extra) in cases {
        let r = deliver_signed(&app, path, body, extra).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {extra:?}");
    }
    assert_eq!(events(&app).await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM webhook_rejections").await,
        4
    );
    // The matching presentation is still accepted.
    let r = deliver_signed(
        &app,
        "/webhooks/fanvue",
        &tip,
        &[("x-fanvue-topic", "tip.new")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // So is a subscription whose optional price is absent (its fields are a
    // follow's).
    let subscription = json!({"recipientUuid": creator, "sender": {"uuid": fan}, "timestamp": at});
    let r = deliver_signed(&app, "/webhooks/fanvue/new-subscriber", &subscription, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(events(&app).await, 2);
}

#[tokio::test]
async fn webhook_rejections_show_only_to_the_agency_they_concern_and_quote_no_payload() {
    let app = TestApp::spawn_with_sim(|c| c.scenario.creators = 2, |_| {}).await;
    let acme = app.agency("Acme").await;
    let beta = app.agency("Beta").await;
    let acme_admin = app.signed_in(&acme.email("admin")).await;
    let beta_admin = app.signed_in(&beta.email("admin")).await;
    let creators = app.sim().creator_uuids();
    app.connect(&acme_admin, creators[0]).await;
    app.connect(&beta_admin, creators[1]).await;
    // Signed, for Acme's creator, with a field of the wrong type whose
    // value a parser error would quote.
    let body = json!({"counterpartUuid": Uuid::new_v4(), "readMessagesCount": "acme-private-words", "recipientUuid": creators[0], "timestamp": chrono::Utc::now()});
    let r = deliver_signed(&app, "/webhooks/fanvue/message-read", &body, &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // And a forged delivery, which concerns no agency.
    let r = deliver(
        &app,
        "/webhooks/fanvue/tip",
        b"{\"acme-private-words\":1}",
        None,
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_rejections WHERE to_jsonb(webhook_rejections)::text LIKE '%acme-private-words%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0, "no payload text is stored");
    let (_, mine) = acme_admin.get_html("/admin/webhooks").await;
    assert!(mine.contains("not a valid message.read payload"), "{mine}");
    let (_, theirs) = beta_admin.get_html("/admin/webhooks").await;
    assert!(!theirs.contains("message.read payload"), "{theirs}");
    assert!(!theirs.contains("acme-private-words"));
    assert!(theirs.contains("id=\"rejections-elsewhere\""), "{theirs}");
}

#[tokio::test]
async fn a_flood_of_unsigned_webhooks_stores_a_bounded_number_of_rejections() {
    let app = TestApp::spawn().await;
    let sends = (0..90).map(|_| deliver(&app, "/webhooks/fanvue/tip", b"{}", None, &[]));
    for r in futures_util::future::join_all(sends).await {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let rows = count(&app, "SELECT count(*) FROM webhook_rejections").await;
    assert_eq!(
        rows, 60,
        "at most 60 rejections a minute are stored one by one"
    );
    let dropped = count(
        &app,
        "SELECT COALESCE(sum(dropped), 0)::bigint FROM webhook_rejections_dropped",
    )
    .await;
    assert_eq!(dropped, 30, "the rest are counted");
}

#[tokio::test]
async fn webhooks_for_a_disconnected_creator_are_filed_unmatched_and_never_applied() {
    let (app, creator, id) = setup().await;
    let admin = app.signed_in("admin@acme.test").await;
    // Stored while connected, still pending when the creator disconnects.
    let early = Uuid::new_v4();
    let r = signed(
        &app,
        "/webhooks/fanvue/message-received",
        &received(creator, Uuid::new_v4(), early, "before"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = admin
        .post_form(&format!("/admin/creators/{id}/disconnect"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let late = Uuid::new_v4();
    let r = signed(
        &app,
        "/webhooks/fanvue/message-received",
        &received(creator, Uuid::new_v4(), late, "after"),
    )
    .await;
    assert_eq!(
        answer_status(r).await,
        (StatusCode::ACCEPTED, "unmatched".into())
    );
    drain(&app).await;
    let mirrored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE creator_id = $1 AND uuid = ANY($2)",
    )
    .bind(id)
    .bind(vec![early, late])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(mirrored, 0, "nothing flows into the old agency");
    let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM webhook_events ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(statuses, ["unmatched", "unmatched"]);
}

/// A backfilled creator whose tip webhooks reach the app.
async fn tipping() -> (TestApp, Uuid, CreatorId, switchboard::sync::SyncEngine) {
    let (app, creator, id) = setup().await;
    app.sim().register_webhook(
        &format!("{}/webhooks/fanvue/tip", app.address),
        &[EventKind::Tip],
    );
    let engine = app.sync_engine();
    sync_until_idle(&engine, id).await;
    (app, creator, id, engine)
}

async fn reconcile_requested(app: &TestApp, id: CreatorId) -> bool {
    sqlx::query_scalar(
        "SELECT reconcile_requested_at IS NOT NULL FROM sync_state WHERE creator_id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// A fan tips on the simulator; its webhook is stored and applied. Returns the TIP
/// message's uuid.
async fn fan_tips_and_the_webhook_is_applied(app: &TestApp, creator: Uuid) -> Uuid {
    let fan = app.sim().fan_uuids(&creator)[0];
    let tip_message = app.sim().fan_tips(&creator, &fan, 700, None).unwrap();
    for _ in 0..100 {
        if events(app).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(drain(app).await, 1);
    tip_message
}

async fn mirrored_kind(app: &TestApp, id: CreatorId, uuid: Uuid) -> String {
    sqlx::query_scalar("SELECT kind FROM messages WHERE creator_id = $1 AND uuid = $2")
        .bind(id)
        .bind(uuid)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Ends a reconcile run as the engine does, without its walk, then lets the creator be
/// claimed again.
async fn finish_without_a_walk(app: &TestApp, id: CreatorId, lease: switchboard::sync::Lease) {
    let mut tx = lease.begin(&app.pool).await.unwrap();
    switchboard::store::sync::mark_reconciled(&mut tx, id, None, lease.claimed_at)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.expire_sync_lease(id).await;
}

#[tokio::test]
async fn a_tip_webhook_asks_for_a_reconcile_that_brings_its_tip_message() {
    let (app, creator, id, engine) = tipping().await;
    assert!(
        !reconcile_requested(&app, id).await,
        "nothing requested after the backfill"
    );
    let tip_message = fan_tips_and_the_webhook_is_applied(&app, creator).await;
    assert!(
        reconcile_requested(&app, id).await,
        "the tip asked for a reconcile"
    );
    // The requested reconcile mirrors the TIP message itself.
    sync_until_idle(&engine, id).await;
    assert_eq!(mirrored_kind(&app, id, tip_message).await, "TIP");
}

#[tokio::test]
async fn a_tip_arriving_while_a_reconcile_runs_gets_a_reconcile_of_its_own() {
    let (app, creator, id, engine) = tipping().await;
    let claim =
        || switchboard::sync::Lease::claim(&app.pool, "walker", Duration::from_secs(30), Some(id));

    // A request made before a run's claim is the run's to answer: it clears.
    sqlx::query("UPDATE sync_state SET reconcile_requested_at = now() WHERE creator_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let run = claim().await.unwrap().expect("due: requested");
    finish_without_a_walk(&app, id, run).await;
    assert!(
        !reconcile_requested(&app, id).await,
        "answered by the run that claimed after it"
    );

    // A reconcile has claimed the creator and walked its chats; then the fan tips.
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now() WHERE creator_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let run = claim().await.unwrap().expect("due");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let tip_message = fan_tips_and_the_webhook_is_applied(&app, creator).await;
    // The run ends without having seen the tip.
    finish_without_a_walk(&app, id, run).await;
    assert!(
        reconcile_requested(&app, id).await,
        "the tip's request outlives the run that was already under way"
    );
    // So the next run is due at once and mirrors the TIP message.
    sync_until_idle(&engine, id).await;
    assert_eq!(mirrored_kind(&app, id, tip_message).await, "TIP");
}
