//! The batched apply path of webhook processing (`webhooks::batch`): a
//! round applied with set-based statements ends exactly as the same events
//! applied one by one, a poison event fails alone, and a large backlog is
//! applied in full with every change published live.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::domain::CreatorId;
use switchboard::store::webhooks::{NewEvent, insert_many};
use switchboard::webhooks::{process, signature};
use uuid::Uuid;

use crate::helpers::*;

async fn setup() -> ConnectedCreator {
    TestApp::with_connected_creator_in(
        |c| {
            c.scenario.creators = 1;
            c.scenario.fans_per_creator = 2;
            c.scenario.messages_per_chat = 1;
            c.scenario.uncontactable_share = 0.0;
        },
        |_| {},
    )
    .await
}

/// Delivers a signed webhook over HTTP; returns the intake's answer.
async fn signed(app: &TestApp, path: &str, body: &Value) -> String {
    let raw = serde_json::to_vec(body).unwrap();
    let secret = app.settings.webhooks.secret.clone().expect("secret");
    let sig = signature::sign(&secret, Utc::now().timestamp(), &raw);
    let r = reqwest::Client::new()
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .header("x-fanvue-signature", sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["status"].as_str().unwrap_or_default().to_owned()
}

fn received(creator: Uuid, fan: Uuid, msg: Uuid, text: &str, at: Option<DateTime<Utc>>) -> Value {
    json!({
        "messageUuid": msg,
        "message": {"uuid": msg, "text": text, "hasMedia": false, "mediaUuids": [], "price": null, "createdAt": at},
        "sender": {"uuid": fan, "handle": format!("fan-{text}"), "displayName": null, "avatarUrl": null},
        "recipientUuid": creator, "isMuted": false, "timestamp": at
    })
}

fn read(creator: Uuid, fan: Uuid, count: i64, at: DateTime<Utc>) -> Value {
    json!({"counterpartUuid": fan, "readMessagesCount": count, "recipientUuid": creator, "timestamp": at})
}

/// One chat's events for the round, in delivery order: messages out of
/// order, a read between them, a message older than that read arriving
/// after it, a purchase of a mirrored message and one of a message that
/// arrives later in the round, a tip, a follow that changes the profile,
/// an older read after a newer one, a message without any time, and
/// redeliveries. `m` are the chat's message uuids (`m[0]` mirrored before
/// the round). Returns how many deliveries were stored.
async fn deliver_round(
    app: &TestApp,
    creator: Uuid,
    fan: Uuid,
    m: &[Uuid],
    t0: DateTime<Utc>,
) -> usize {
    let s = |secs: f64| t0 + Duration::milliseconds((secs * 1000.0) as i64);
    let rcv = "/webhooks/fanvue/message-received";
    let events: Vec<(&str, Value)> = vec![
        (rcv, received(creator, fan, m[1], "m1", Some(s(3.0)))),
        (rcv, received(creator, fan, m[2], "m2", Some(s(1.0)))),
        (
            "/webhooks/fanvue/message-read",
            read(creator, fan, 1, s(2.0)),
        ),
        (rcv, received(creator, fan, m[3], "m3", Some(s(2.5)))),
        (
            "/webhooks/fanvue/purchase",
            json!({"routeUuid": m[1], "price": 1500, "recipientUuid": creator, "sender": {"uuid": fan}, "timestamp": s(4.0)}),
        ),
        (
            "/webhooks/fanvue/purchase",
            json!({"routeUuid": m[4], "price": 900, "recipientUuid": creator, "sender": {"uuid": fan}, "timestamp": s(4.5)}),
        ),
        (rcv, received(creator, fan, m[4], "m4", Some(s(0.5)))),
        (
            "/webhooks/fanvue/tip",
            json!({"context": "message", "messageUuid": m[1], "senderUuid": fan, "price": 700, "recipientUuid": creator, "timestamp": s(5.0)}),
        ),
        (
            "/webhooks/fanvue/new-follower",
            json!({"recipientUuid": creator, "sender": {"uuid": fan, "handle": "renamed", "displayName": "Renamed Fan", "avatarUrl": null}, "timestamp": s(6.0)}),
        ),
        (
            "/webhooks/fanvue/message-read",
            read(creator, fan, 10, s(1.5)),
        ),
        (rcv, received(creator, fan, m[5], "m5", None)),
    ];
    let mut stored = 0;
    for (path, body) in &events {
        assert_eq!(signed(app, path, body).await, "accepted", "{path}");
        stored += 1;
    }
    // Redeliveries of a message and of a read: stored once.
    assert_eq!(signed(app, rcv, &events[0].1).await, "duplicate");
    assert_eq!(
        signed(app, "/webhooks/fanvue/message-read", &events[2].1).await,
        "duplicate"
    );
    stored
}

type ChatRow = (
    Option<String>,
    Option<String>,
    i32,
    bool,
    Option<DateTime<Utc>>,
    Option<Uuid>,
    Option<DateTime<Utc>>,
    bool,
    bool,
    bool,
);
type MessageRow = (
    Uuid,
    Option<String>,
    Option<DateTime<Utc>>,
    bool,
    Option<DateTime<Utc>>,
    Option<i64>,
);

/// A chat's end state, with its message uuids replaced by their index in
/// `m` so two chats fed the same events can be compared.
async fn end_state(
    app: &TestApp,
    creator: CreatorId,
    fan: Uuid,
    m: &[Uuid],
) -> (
    ChatRow,
    Vec<(usize, MessageRow)>,
    Vec<(usize, bool)>,
    Vec<Option<usize>>,
) {
    let idx = |u: Uuid| {
        m.iter()
            .position(|x| *x == u)
            .expect("a message of this chat")
    };
    let mut chat: ChatRow = sqlx::query_as(
        "SELECT fan_handle, fan_display_name, unread_count, is_read, last_message_at, last_message_uuid,
                followed_at, awaiting_reply, has_open_ppv, has_spend
         FROM chats WHERE creator_id = $1 AND fan_uuid = $2",
    )
    .bind(creator)
    .bind(fan)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    chat.5 = chat.5.map(|u| Uuid::from_u128(idx(u) as u128));
    let msgs: Vec<MessageRow> = sqlx::query_as(
        "SELECT m.uuid, m.text, m.sent_at, m.is_read, m.purchased_at, m.price_cents
         FROM messages m JOIN chats c ON c.id = m.chat_id
         WHERE c.creator_id = $1 AND c.fan_uuid = $2",
    )
    .bind(creator)
    .bind(fan)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut msgs: Vec<(usize, MessageRow)> = msgs.into_iter().map(|r| (idx(r.0), r)).collect();
    for (_, r) in &mut msgs {
        r.0 = Uuid::nil();
    }
    msgs.sort_by_key(|r| r.0);
    let mut purchases: Vec<(usize, bool)> = sqlx::query_as::<_, (Uuid, bool)>(
        "SELECT message_uuid, joined_at IS NOT NULL FROM purchase_events WHERE creator_id = $1 AND fan_uuid = $2",
    )
    .bind(creator)
    .bind(fan)
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(u, j)| (idx(u), j))
    .collect();
    purchases.sort();
    let tips: Vec<Option<usize>> = sqlx::query_scalar::<_, Option<Uuid>>(
        "SELECT tipped_message_uuid FROM tips WHERE creator_id = $1 AND fan_uuid = $2 ORDER BY id",
    )
    .bind(creator)
    .bind(fan)
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|u| u.map(idx))
    .collect();
    (chat, msgs, purchases, tips)
}

/// Distinct transactions that published `message` events for the creator:
/// one per applied round when batched, one per event one by one.
async fn message_event_transactions(app: &TestApp, creator: CreatorId) -> i64 {
    sqlx::query_scalar(
        "SELECT count(DISTINCT tx) FROM live_events WHERE creator_id = $1 AND kind = 'message'",
    )
    .bind(creator)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_round_with_duplicates_and_reordered_events_ends_as_applying_them_one_by_one() {
    let c = setup().await;
    let app = &c.app;
    let (batched, one_by_one) = (Uuid::new_v4(), Uuid::new_v4());
    let mb: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    let mo: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    let t0 = Utc::now();
    // Both chats hold one unread message before the round.
    for (fan, m) in [(batched, &mb), (one_by_one, &mo)] {
        let body = received(c.fanvue, fan, m[0], "m0", Some(t0 - Duration::minutes(10)));
        assert_eq!(
            signed(app, "/webhooks/fanvue/message-received", &body).await,
            "accepted"
        );
    }
    process::drain(&app.pool, &app.settings.webhooks)
        .await
        .unwrap();

    // The same events for each chat: one round batched, the other applied
    // event by event (the per-event path, the reference).
    let n = deliver_round(app, c.fanvue, batched, &mb, t0).await;
    let tx_before = message_event_transactions(app, c.id).await;
    let applied = process::process_batch(&app.pool, &app.settings.webhooks)
        .await
        .unwrap();
    assert_eq!(applied, n, "the whole round in one go");
    assert_eq!(
        message_event_transactions(app, c.id).await,
        tx_before + 1,
        "the round's messages were written by one transaction (batched, not the fallback)"
    );
    assert_eq!(deliver_round(app, c.fanvue, one_by_one, &mo, t0).await, n);
    assert_eq!(
        process::process_one_by_one(&app.pool, &app.settings.webhooks)
            .await
            .unwrap(),
        n
    );
    assert!(
        app.webhook_statuses()
            .await
            .iter()
            .all(|s| s == "processed")
    );

    let b = end_state(app, c.id, batched, &mb).await;
    let o = end_state(app, c.id, one_by_one, &mo).await;
    assert_eq!(b, o, "batched and one-by-one end states differ");

    // And that state is the intended one. Unread: 1 before, +2, the read of
    // 1 → 2, +1 (m3), +1 (m4), the read of 10 → 0, +1 (m5, no time) → 1.
    let (chat, msgs, purchases, tips) = b;
    let s = |secs: i64| (t0 + Duration::seconds(secs)).timestamp_millis();
    // Per profile field, the last value an event carried.
    assert_eq!(
        (chat.0.as_deref(), chat.1.as_deref()),
        (Some("fan-m5"), Some("Renamed Fan"))
    );
    assert_eq!((chat.2, chat.3), (1, false), "unread count and read flag");
    assert_eq!(
        chat.4.map(|t| t.timestamp_millis()),
        Some(s(3)),
        "last message time only moves forward"
    );
    assert_eq!(chat.5, Some(Uuid::from_u128(1)), "m1 is the newest message");
    assert_eq!(chat.6.map(|t| t.timestamp_millis()), Some(s(6)), "followed");
    assert!(chat.9, "the tip and the purchases count as spend");
    let read: Vec<usize> = msgs.iter().filter(|(_, r)| r.3).map(|(i, _)| *i).collect();
    assert_eq!(
        read,
        [0, 2, 4],
        "each read covers only messages already there and not newer than it"
    );
    let bought: Vec<(usize, i64)> = msgs
        .iter()
        .filter_map(|(i, r)| Some((*i, r.4?.timestamp_millis())))
        .collect();
    assert_eq!(
        bought,
        [
            (1, s(4)),
            (4, (t0 + Duration::milliseconds(4500)).timestamp_millis())
        ],
        "the purchase of a mirrored message, and the parked one joined when its message arrived"
    );
    assert_eq!(purchases, [(1, true), (4, true)]);
    assert_eq!(tips, [Some(1)]);
    assert_eq!(msgs.len(), 6, "every message once");
}

#[tokio::test]
async fn a_poison_event_fails_alone_and_the_rest_of_its_round_is_applied() {
    let c = setup().await;
    let app = &c.app;
    // A message Postgres refuses (as a bad row of any kind would be): the
    // round's set-based insert fails as a whole.
    sqlx::query(
        "CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.text = 'poison' THEN RAISE EXCEPTION 'poisoned message'; END IF; RETURN NEW; END $$",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER test_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION test_poison()")
        .execute(&app.pool)
        .await
        .unwrap();
    let fan = Uuid::new_v4();
    let t0 = Utc::now();
    let good: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let poison = Uuid::new_v4();
    let rcv = "/webhooks/fanvue/message-received";
    for (i, msg) in good.iter().enumerate() {
        if i == 2 {
            signed(
                app,
                rcv,
                &received(c.fanvue, fan, poison, "poison", Some(t0)),
            )
            .await;
        }
        let at = t0 + Duration::seconds(i as i64 + 1);
        signed(
            app,
            rcv,
            &received(c.fanvue, fan, *msg, &format!("good{i}"), Some(at)),
        )
        .await;
    }
    // And one whose stored payload no longer parses.
    signed(
        app,
        rcv,
        &received(c.fanvue, Uuid::new_v4(), Uuid::new_v4(), "x", Some(t0)),
    )
    .await;
    sqlx::query("UPDATE webhook_events SET payload = '{\"messageUuid\": 1}' WHERE id = (SELECT max(id) FROM webhook_events)")
        .execute(&app.pool)
        .await
        .unwrap();

    let applied = process::process_batch(&app.pool, &app.settings.webhooks)
        .await
        .unwrap();
    assert_eq!(applied, 5);
    assert_eq!(
        app.webhook_statuses().await,
        [
            "processed",
            "processed",
            "pending",
            "processed",
            "processed",
            "processed",
            "pending"
        ]
    );
    let errors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT error FROM webhook_events WHERE status = 'pending' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(
        errors[0]
            .as_deref()
            .unwrap_or_default()
            .contains("poisoned message"),
        "{errors:?}"
    );
    assert!(
        errors[1]
            .as_deref()
            .unwrap_or_default()
            .contains("no longer parses"),
        "{errors:?}"
    );
    // The good ones are in the mirror, counted once, and published.
    let (unread, last): (i32, Option<Uuid>) = sqlx::query_as(
        "SELECT unread_count, last_message_uuid FROM chats WHERE creator_id = $1 AND fan_uuid = $2",
    )
    .bind(c.id)
    .bind(fan)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((unread, last), (5, Some(good[4])));
    let published: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM live_events WHERE kind = 'message' AND message_uuid = ANY($1)",
    )
    .bind(&good)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(published, 5);

    // Retried alone until dead-lettered, as before.
    for _ in 1..app.settings.webhooks.max_attempts {
        sqlx::query("UPDATE webhook_events SET next_attempt_at = now()")
            .execute(&app.pool)
            .await
            .unwrap();
        assert_eq!(
            process::process_batch(&app.pool, &app.settings.webhooks)
                .await
                .unwrap(),
            0
        );
    }
    assert_eq!(app.webhooks_with_status("dead").await, 2);
    let poisoned: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE uuid = $1")
        .bind(poison)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(poisoned, 0);
}

#[tokio::test]
async fn a_large_backlog_is_applied_in_full_round_by_round_and_published() {
    let c = setup().await;
    let app = &c.app;
    let fans: Vec<Uuid> = (0..150).map(|_| Uuid::new_v4()).collect();
    let t0 = Utc::now() - Duration::hours(1);
    let mut events = Vec::new();
    let mut msgs = Vec::new();
    for i in 0..1200usize {
        let (fan, msg) = (fans[(i * 7) % fans.len()], Uuid::new_v4());
        let body = received(
            c.fanvue,
            fan,
            msg,
            &format!("n{i}"),
            Some(t0 + Duration::milliseconds(i as i64)),
        );
        msgs.push((fan, msg));
        events.push(NewEvent {
            event_type: "message.received",
            dedupe_key: format!("msg:{msg}"),
            event_id: None,
            creator_fanvue_uuid: c.fanvue,
            payload: body.to_string(),
        });
    }
    // Then every other fan reads everything.
    for fan in fans.iter().step_by(2) {
        let at = t0 + Duration::minutes(30);
        events.push(NewEvent {
            event_type: "message.read",
            dedupe_key: format!("read:{}:{fan}:{}:1000", c.fanvue, at.timestamp_millis()),
            event_id: None,
            creator_fanvue_uuid: c.fanvue,
            payload: read(c.fanvue, *fan, 1000, at).to_string(),
        });
    }
    for chunk in events.chunks(500) {
        let refs: Vec<&NewEvent> = chunk.iter().collect();
        insert_many(&app.pool, &refs).await.unwrap();
    }
    // Rounds of 100 stay under the 200 events per creator and statement at
    // which live events collapse into one resync (checked below).
    let mut settings = app.settings.webhooks.clone();
    settings.apply_batch = 100;
    let applied = process::drain(&app.pool, &settings).await.unwrap();
    assert_eq!(applied, events.len());
    assert_eq!(app.webhooks_with_status("processed").await, events.len());

    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE creator_id = $1 AND source = 'webhook'",
    )
    .bind(c.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1200);
    let chats: Vec<(Uuid, i32, bool, Option<Uuid>)> = sqlx::query_as(
        "SELECT fan_uuid, unread_count, is_read, last_message_uuid FROM chats WHERE creator_id = $1 AND fan_uuid = ANY($2)",
    )
    .bind(c.id)
    .bind(&fans)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(chats.len(), fans.len());
    for (fan, unread, is_read, last) in chats {
        let mine: Vec<Uuid> = msgs
            .iter()
            .filter(|(f, _)| *f == fan)
            .map(|(_, m)| *m)
            .collect();
        let read_all = fans.iter().position(|f| *f == fan).unwrap() % 2 == 0;
        let expect = if read_all {
            (0, true)
        } else {
            (mine.len() as i32, false)
        };
        assert_eq!((unread, is_read), expect, "fan {fan}");
        assert_eq!(
            last,
            mine.last().copied(),
            "the newest message is the chat's last"
        );
    }
    let unread_msgs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE creator_id = $1 AND NOT is_read")
            .bind(c.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let expect_unread = msgs
        .iter()
        .filter(|(f, _)| fans.iter().position(|x| x == f).unwrap() % 2 == 1)
        .count() as i64;
    assert_eq!(unread_msgs, expect_unread);
    // Every message was published live, a round at a time (no round was
    // big enough per statement to collapse into a resync).
    let published: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT message_uuid) FROM live_events WHERE creator_id = $1 AND kind = 'message'",
    )
    .bind(c.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(published, 1200);
    let rounds = message_event_transactions(app, c.id).await;
    assert!(
        rounds <= 13,
        "{rounds} transactions wrote the 1,200 messages: the rounds fell back to one by one"
    );
}
