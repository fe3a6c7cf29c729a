//! Live updates over real HTTP and real Postgres: what the triggers publish,
//! what each viewer's SSE stream carries (and does not), fan-out across two
//! instances, resume after `Last-Event-ID`, and a lost listener connection.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::domain::CreatorId;
use switchboard::webhooks::{process, signature};
use uuid::Uuid;

use crate::helpers::*;

/// How long a test waits for an event that should arrive.
const ARRIVES: Duration = Duration::from_secs(10);
/// How long a test listens for an event that must not arrive (after a
/// positive control on another stream showed it was published).
const SILENCE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
struct Event {
    id: Option<i64>,
    kind: String,
    data: Value,
}

impl Event {
    fn str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
}

/// An open SSE stream, parsed frame by frame.
struct Sse {
    resp: reqwest::Response,
    buf: String,
    ended: bool,
}

impl Sse {
    async fn open(client: &TestClient, base: &str, last_event_id: Option<&str>) -> Sse {
        let mut req = client.http.get(format!("{base}/inbox/stream"));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.expect("stream");
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h["content-type"], "text/event-stream");
        assert_eq!(h["cache-control"], "no-cache");
        assert_eq!(h["x-accel-buffering"], "no");
        Sse {
            resp,
            buf: String::new(),
            ended: false,
        }
    }

    /// A first connect resuming after `since` (`?last_event_id=`, as
    /// live.js connects with the page's `data-live-since`).
    async fn open_since(client: &TestClient, base: &str, since: &str) -> Sse {
        let resp = client
            .http
            .get(format!("{base}/inbox/stream?last_event_id={since}"))
            .send()
            .await
            .expect("stream");
        assert_eq!(resp.status(), StatusCode::OK);
        Sse {
            resp,
            buf: String::new(),
            ended: false,
        }
    }

    /// The next event (comments and bare `retry:` frames skipped), `None`
    /// at the deadline or when the stream ends.
    async fn next_event(&mut self, within: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                if let Some(ev) = parse_frame(&frame) {
                    return Some(ev);
                }
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(_) => {
                    self.ended = true;
                }
            }
        }
    }

    /// The first event matching `want` within `within` (others skipped).
    async fn wait_for(&mut self, within: Duration, want: impl Fn(&Event) -> bool) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let ev = self.next_event(left).await?;
            if want(&ev) {
                return Some(ev);
            }
        }
    }

    /// Every event within `within`.
    async fn collect(&mut self, within: Duration) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + within;
        let mut all = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(ev) => all.push(ev),
                None => return all,
            }
        }
    }

    /// Whether the server ended the stream within `within`.
    async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.ended {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            self.next_event(left).await;
        }
        true
    }
}

fn parse_frame(frame: &str) -> Option<Event> {
    let (mut id, mut kind, mut data) = (None, None, String::new());
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            kind = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
    Some(Event {
        id,
        kind: kind?,
        data: serde_json::from_str(&data).expect("data is JSON"),
    })
}

fn is_message(msg: Uuid) -> impl Fn(&Event) -> bool {
    move |e| e.kind == "message" && e.str("message") == Some(&msg.to_string())
}

async fn setup() -> ConnectedCreator {
    TestApp::with_connected_creator_in(
        |c| {
            c.scenario.creators = 2;
            c.scenario.fans_per_creator = 4;
            c.scenario.messages_per_chat = 4;
        },
        |_| {},
    )
    .await
}

async fn signed(base: &str, app: &TestApp, path: &str, body: &Value) {
    let raw = serde_json::to_vec(body).unwrap();
    let secret = app.settings.webhooks.secret.clone().expect("secret");
    let sig = signature::sign(&secret, chrono::Utc::now().timestamp(), &raw);
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("x-fanvue-signature", sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "webhook accepted");
}

/// A fan's message delivered by webhook to `base` and processed; returns
/// the message uuid.
async fn fan_message(base: &str, app: &TestApp, creator: Uuid, fan: Uuid) -> Uuid {
    let msg = Uuid::new_v4();
    let body = json!({
        "messageUuid": msg,
        "message": {"uuid": msg, "text": "hi", "hasMedia": false, "mediaUuids": [], "price": null, "createdAt": chrono::Utc::now()},
        "sender": {"uuid": fan, "handle": "fan-h", "displayName": "Fan", "avatarUrl": null},
        "recipientUuid": creator, "isMuted": false, "timestamp": chrono::Utc::now()
    });
    signed(base, app, "/webhooks/fanvue/message-received", &body).await;
    process::drain(&app.pool, &app.settings.webhooks)
        .await
        .unwrap();
    msg
}

async fn chat_of(app: &TestApp, msg: Uuid) -> Uuid {
    sqlx::query_scalar("SELECT chat_id FROM messages WHERE uuid = $1")
        .bind(msg)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn events_of(app: &TestApp, creator: CreatorId) -> Vec<(String, Option<Uuid>)> {
    sqlx::query_as("SELECT kind, message_uuid FROM live_events WHERE creator_id = $1 ORDER BY id")
        .bind(creator)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn stream_requires_a_session() {
    let c = setup().await;
    let r = c.app.client().get("/inbox/stream").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn events_reach_assigned_chatters_only_and_stop_at_unassignment() {
    let c = setup().await;
    let app = &c.app;
    let other = app.agency("Other").await;
    let outsider = app.signed_in(&other.email("admin")).await;
    let r = c
        .admin
        .post_form(
            &format!("/admin/creators/{}/assignments", c.id),
            &[("staff_id", &c.acme.chatter.to_string())],
        )
        .await;
    assert!(r.status().is_redirection(), "assigned: {}", r.status());
    let chatter = app.signed_in(&c.acme.email("chatter")).await;
    let manager = app.signed_in(&c.acme.email("manager")).await;
    let mut chatter_stream = Sse::open(&chatter, &app.address, None).await;
    let mut manager_stream = Sse::open(&manager, &app.address, None).await;
    let mut outsider_stream = Sse::open(&outsider, &app.address, None).await;

    // (a) A webhook for the creator: the assigned chatter gets the message
    // event with the right chat, creator and message.
    let fan = Uuid::new_v4();
    let msg = fan_message(&app.address, app, c.fanvue, fan).await;
    let chat = chat_of(app, msg).await;
    let ev = chatter_stream
        .wait_for(ARRIVES, is_message(msg))
        .await
        .expect("the assigned chatter sees the new message");
    assert_eq!(ev.str("chat"), Some(chat.to_string().as_str()));
    assert_eq!(ev.str("creator"), Some(c.id.to_string().as_str()));
    assert!(ev.id.is_some_and(|i| i > 0), "events carry an id");
    assert!(
        manager_stream
            .wait_for(ARRIVES, is_message(msg))
            .await
            .is_some(),
        "managers see every creator"
    );
    // Another agency's stream never carries it.
    assert!(
        outsider_stream.collect(SILENCE).await.is_empty(),
        "nothing crosses agencies"
    );

    // What the first write published after its message (the chat's row).
    chatter_stream.collect(SILENCE).await;

    // (c) Unassigned through the admin page: the open stream stops
    // carrying the creator's events at once (it resyncs the page).
    let r = c
        .admin
        .post_form(
            &format!(
                "/admin/creators/{}/assignments/{}/remove",
                c.id, c.acme.chatter
            ),
            &[],
        )
        .await;
    assert!(r.status().is_redirection(), "unassigned: {}", r.status());
    let msg2 = fan_message(&app.address, app, c.fanvue, fan).await;
    assert!(
        manager_stream
            .wait_for(ARRIVES, is_message(msg2))
            .await
            .is_some(),
        "published (positive control)"
    );
    let after = chatter_stream.collect(SILENCE).await;
    assert!(
        after.iter().all(|e| e.kind == "resync"),
        "an unassigned chatter gets none of the creator's events: {after:?}"
    );
    assert!(
        after.iter().any(|e| e.kind == "resync"),
        "the page is told to refetch"
    );

    // (b) A chatter not assigned at connect gets nothing either.
    let mut fresh = Sse::open(&chatter, &app.address, None).await;
    let msg3 = fan_message(&app.address, app, c.fanvue, fan).await;
    assert!(
        manager_stream
            .wait_for(ARRIVES, is_message(msg3))
            .await
            .is_some()
    );
    assert!(
        fresh.collect(SILENCE).await.is_empty(),
        "an unassigned chatter's stream is silent"
    );

    // Signing out ends that login's streams.
    let other_login = app.signed_in(&c.acme.email("manager")).await;
    let mut doomed = Sse::open(&other_login, &app.address, None).await;
    let r = other_login.post_form("/logout", &[]).await;
    assert!(r.status().is_redirection(), "signed out: {}", r.status());
    assert!(
        doomed.ends_within(ARRIVES).await,
        "a signed-out login's stream ends"
    );
    assert!(
        manager_stream
            .collect(SILENCE)
            .await
            .iter()
            .all(|e| e.kind != "resync"),
        "the same person's other login keeps its stream"
    );
    assert!(!manager_stream.ended, "and it stays open");

    // Deactivating the chatter ends their streams.
    let r = c
        .admin
        .post_form(&format!("/admin/staff/{}/deactivate", c.acme.chatter), &[])
        .await;
    assert!(r.status().is_redirection(), "deactivated: {}", r.status());
    assert!(
        fresh.ends_within(ARRIVES).await,
        "a deactivated login's stream ends"
    );
}

#[tokio::test]
async fn a_write_through_one_instance_reaches_a_stream_on_another() {
    let c = setup().await;
    let app = &c.app;
    let b = app.second_instance().await;
    let cookie = c.admin.session_cookie().expect("signed in");
    let on_b = TestClient::with_cookie(&b, &cookie);
    let mut stream_b = Sse::open(&on_b, &b, None).await;
    let mut stream_a = Sse::open(&c.admin, &app.address, None).await;
    // The webhook goes to instance A.
    let msg = fan_message(&app.address, app, c.fanvue, Uuid::new_v4()).await;
    assert!(
        stream_b.wait_for(ARRIVES, is_message(msg)).await.is_some(),
        "instance B's stream gets A's write"
    );
    assert!(stream_a.wait_for(ARRIVES, is_message(msg)).await.is_some());
}

#[tokio::test]
async fn last_event_id_resumes_with_the_missed_events() {
    let c = setup().await;
    let app = &c.app;
    let fan = Uuid::new_v4();
    let mut s = Sse::open(&c.admin, &app.address, None).await;
    let first = fan_message(&app.address, app, c.fanvue, fan).await;
    let seen = s.wait_for(ARRIVES, is_message(first)).await.expect("live");
    // Everything up to the message event was seen; then the tab goes away.
    drop(s);
    let m2 = fan_message(&app.address, app, c.fanvue, fan).await;
    let m3 = fan_message(&app.address, app, c.fanvue, fan).await;
    let last = seen.id.expect("id").to_string();
    let mut resumed = Sse::open(&c.admin, &app.address, Some(&last)).await;
    let got = resumed.collect(Duration::from_millis(800)).await;
    let seen_id = seen.id.unwrap();
    let messages: Vec<&str> = got
        .iter()
        .filter(|e| e.kind == "message" && e.id.unwrap_or(0) > seen_id)
        .filter_map(|e| e.str("message"))
        .collect();
    assert_eq!(
        messages,
        vec![m2.to_string(), m3.to_string()],
        "the missed messages, in order, once each: {got:?}"
    );
    // Events at or before the resume point come again only within the
    // commit margin (a transaction that took a smaller id may have
    // committed later), and never a message from outside it.
    assert!(
        got.iter()
            .filter(|e| e.id.unwrap_or(0) <= seen_id)
            .all(|e| e.str("message").is_none_or(|m| m == first.to_string())),
        "{got:?}"
    );

    // The query parameter works for a first connect too.
    let r = c
        .admin
        .http
        .get(format!("{}/inbox/stream?last_event_id={last}", app.address))
        .send()
        .await
        .unwrap();
    let mut q = Sse {
        resp: r,
        buf: String::new(),
        ended: false,
    };
    assert!(q.wait_for(ARRIVES, is_message(m3)).await.is_some());

    // An id from the future (a reset table) or garbage: resync.
    for bad in ["999999999", "not-a-number"] {
        let mut s = Sse::open(&c.admin, &app.address, Some(bad)).await;
        let ev = s.next_event(ARRIVES).await.expect("an event");
        assert_eq!(ev.kind, "resync", "{bad}");
    }
    // A pruned gap: resync.
    sqlx::query("UPDATE live_events SET at = now() - interval '1 hour' WHERE id <= $1")
        .bind(seen.id.unwrap() + 1)
        .execute(&app.pool)
        .await
        .unwrap();
    switchboard::store::live::prune(&app.pool, switchboard::live::RETENTION)
        .await
        .unwrap();
    let mut s = Sse::open(&c.admin, &app.address, Some(&last)).await;
    assert_eq!(s.next_event(ARRIVES).await.expect("event").kind, "resync");
}

#[tokio::test]
async fn a_rolled_back_write_publishes_nothing() {
    let c = setup().await;
    let app = &c.app;
    let mut s = Sse::open(&c.admin, &app.address, None).await;
    // A chat to write into; its own events out of the way first.
    let chat_msg = fan_message(&app.address, app, c.fanvue, Uuid::new_v4()).await;
    let chat = chat_of(app, chat_msg).await;
    s.wait_for(ARRIVES, is_message(chat_msg))
        .await
        .expect("live");
    s.collect(Duration::from_millis(300)).await;
    let insert = |uuid: Uuid| {
        sqlx::query(
            "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, direction, kind, source, sent_at)
             SELECT creator_id, $2, agency_id, id, 'in', 'MESSAGE', 'api', now() FROM chats WHERE id = $1",
        )
        .bind(chat)
        .bind(uuid)
    };
    let doomed = Uuid::new_v4();
    let mut tx = app.pool.begin().await.unwrap();
    insert(doomed).execute(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    let kept = Uuid::new_v4();
    insert(kept).execute(&app.pool).await.unwrap();
    let ev = s
        .wait_for(ARRIVES, |e| e.kind == "message")
        .await
        .expect("the committed write is published");
    assert_eq!(ev.str("message"), Some(kept.to_string().as_str()));
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM live_events WHERE message_uuid = $1")
            .bind(doomed)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_purchase_and_a_tip_are_published_with_their_message() {
    let c = setup().await;
    let app = &c.app;
    let fan = Uuid::new_v4();
    let msg = fan_message(&app.address, app, c.fanvue, fan).await;
    let chat = chat_of(app, msg).await;
    let mut s = Sse::open(&c.admin, &app.address, None).await;
    let at = chrono::Utc::now();
    let purchase = json!({"routeUuid": msg, "price": 1500, "recipientUuid": c.fanvue, "sender": {"uuid": fan}, "timestamp": at});
    signed(&app.address, app, "/webhooks/fanvue/purchase", &purchase).await;
    let tip = json!({"context": "message", "messageUuid": msg, "senderUuid": fan, "price": 700, "recipientUuid": c.fanvue, "timestamp": at});
    signed(&app.address, app, "/webhooks/fanvue/tip", &tip).await;
    process::drain(&app.pool, &app.settings.webhooks)
        .await
        .unwrap();
    let p = s
        .wait_for(ARRIVES, |e| e.kind == "purchase")
        .await
        .expect("the PPV flips to paid live");
    assert_eq!(p.str("message"), Some(msg.to_string().as_str()));
    assert_eq!(p.str("chat"), Some(chat.to_string().as_str()));
    let t = s
        .wait_for(ARRIVES, |e| e.kind == "tip")
        .await
        .expect("the tip");
    assert_eq!(t.str("chat"), Some(chat.to_string().as_str()));
    // Read state and deletion.
    sqlx::query("UPDATE messages SET is_read = true WHERE uuid = $1")
        .bind(msg)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = s
        .wait_for(ARRIVES, |e| e.kind == "read")
        .await
        .expect("read");
    assert_eq!(r.str("message"), Some(msg.to_string().as_str()));
}

#[tokio::test]
async fn reconcile_rewriting_identical_rows_publishes_nothing_and_big_writes_resync() {
    let c = setup().await;
    let app = &c.app;
    let engine = app.sync_engine();
    sync_until_idle(&engine, c.id).await;
    let after_backfill = events_of(app, c.id).await;
    assert!(
        after_backfill.iter().any(|(k, _)| k == "message"),
        "the backfill published its messages: {after_backfill:?}"
    );
    // A full reconcile re-writes every row with the same values.
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now(), high_water_at = NULL WHERE creator_id = $1")
        .bind(c.id)
        .execute(&app.pool)
        .await
        .unwrap();
    sync_until_idle(&engine, c.id).await;
    assert_eq!(
        events_of(app, c.id).await,
        after_backfill,
        "an identical re-upsert publishes nothing"
    );
    // A change no page shows live publishes nothing either.
    sqlx::query("UPDATE messages SET updated_at = now(), source = 'api' WHERE creator_id = $1")
        .bind(c.id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(events_of(app, c.id).await, after_backfill);

    // One statement with more than 200 events of a creator: one resync.
    let chat: Uuid = sqlx::query_scalar("SELECT id FROM chats WHERE creator_id = $1 LIMIT 1")
        .bind(c.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut s = Sse::open(&c.admin, &app.address, None).await;
    // Anything still in flight from before goes first.
    s.collect(Duration::from_millis(500)).await;
    sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, direction, kind, source, sent_at)
         SELECT c.creator_id, gen_random_uuid(), c.agency_id, c.id, 'in', 'MESSAGE', 'api', now()
         FROM chats c, generate_series(1, 250) WHERE c.id = $1",
    )
    .bind(chat)
    .execute(&app.pool)
    .await
    .unwrap();
    let got = s.collect(Duration::from_millis(1500)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, "resync");
    assert_eq!(got[0].str("creator"), Some(c.id.to_string().as_str()));
}

/// Resumes a stopped (silent, not closed) Postgres backend when dropped.
struct Stopped(i32);

impl Stopped {
    /// `None` when this test process may not signal the server's processes
    /// (another user, another host).
    fn stop(pid: i32) -> Option<Stopped> {
        let ok = std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Stopped(pid))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

async fn listener_pids(app: &TestApp) -> Vec<i32> {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
         WHERE datname = $1 AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .bind(&db)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_lost_listener_connection_catches_up_instead_of_going_silent() {
    let c = setup().await;
    let app = &c.app;
    let mut s = Sse::open(&c.admin, &app.address, None).await;
    let pids = listener_pids(app).await;
    assert_eq!(pids.len(), 1, "one listener connection");
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pids[0])
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(killed);
    let msg = fan_message(&app.address, app, c.fanvue, Uuid::new_v4()).await;
    assert!(
        s.wait_for(ARRIVES, |e| is_message(msg)(e) || e.kind == "resync")
            .await
            .is_some(),
        "after a lost listener the stream still hears about the write"
    );

    // A connection that goes silent without closing (a half-open TCP
    // connection; here the backend is stopped): the listener's own check
    // notices, it reconnects and reads back what was written meanwhile.
    let mut pids = Vec::new();
    for _ in 0..50 {
        pids = listener_pids(app).await;
        if pids.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pids.len(), 1, "one listener connection again");
    let Some(stopped) = Stopped::stop(pids[0]) else {
        eprintln!(
            "cannot signal the database server's processes here; silent-connection case skipped"
        );
        return;
    };
    let quiet = fan_message(&app.address, app, c.fanvue, Uuid::new_v4()).await;
    let got = s.wait_for(Duration::from_secs(45), is_message(quiet)).await;
    drop(stopped);
    assert!(
        got.is_some(),
        "a write made while the listener's connection was silent reaches the stream"
    );
}

/// Inserts a message into `chat` (its live event takes the next id).
fn insert_message(
    chat: Uuid,
    uuid: Uuid,
) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, direction, kind, source, sent_at)
         SELECT creator_id, $2, agency_id, id, 'in', 'MESSAGE', 'api', now() FROM chats WHERE id = $1",
    )
    .bind(chat)
    .bind(uuid)
}

async fn event_id_of(app: &TestApp, msg: Uuid) -> i64 {
    sqlx::query_scalar("SELECT id FROM live_events WHERE message_uuid = $1 AND kind = 'message'")
        .bind(msg)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_resume_gets_an_event_that_committed_after_a_larger_id_was_seen() {
    let c = setup().await;
    let app = &c.app;
    // Two chats (the inbox flag triggers lock a chat row, so one chat
    // would serialise the two transactions).
    let chat_a = chat_of(
        app,
        fan_message(&app.address, app, c.fanvue, Uuid::new_v4()).await,
    )
    .await;
    let chat_b = chat_of(
        app,
        fan_message(&app.address, app, c.fanvue, Uuid::new_v4()).await,
    )
    .await;
    let mut s = Sse::open(&c.admin, &app.address, None).await;
    // A takes its id first and stays open; B takes the next and commits.
    let a = Uuid::new_v4();
    let mut tx_a = app.pool.begin().await.unwrap();
    insert_message(chat_a, a).execute(&mut *tx_a).await.unwrap();
    let b = Uuid::new_v4();
    insert_message(chat_b, b).execute(&app.pool).await.unwrap();
    let seen = s.wait_for(ARRIVES, is_message(b)).await.expect("B is live");
    // The tab goes away having seen B; then A commits.
    drop(s);
    tx_a.commit().await.unwrap();
    let (id_a, id_b) = (event_id_of(app, a).await, event_id_of(app, b).await);
    assert!(id_a < id_b, "A's event has the smaller id: {id_a} {id_b}");
    assert_eq!(seen.id, Some(id_b));
    let mut resumed = Sse::open(&c.admin, &app.address, Some(&id_b.to_string())).await;
    assert!(
        resumed.wait_for(ARRIVES, is_message(a)).await.is_some(),
        "the resume after B's id still delivers A"
    );
}

#[tokio::test]
async fn pages_render_their_live_starting_point_and_a_stream_opened_with_it_misses_nothing() {
    let c = setup().await;
    let app = &c.app;
    let first = fan_message(&app.address, app, c.fanvue, Uuid::new_v4()).await;
    let chat = chat_of(app, first).await;
    let newest: i64 = sqlx::query_scalar("SELECT max(id) FROM live_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let since_in = |html: &str, at: &str| -> String {
        let tag = &html[html.find(at).unwrap_or_else(|| panic!("{at} in the page"))..];
        let tag = &tag[..tag.find('>').expect("tag end")];
        let v = tag
            .split("data-live-since=\"")
            .nth(1)
            .unwrap_or_else(|| panic!("data-live-since on {at}: {tag}"));
        v[..v.find('"').expect("quote")].to_owned()
    };
    let (status, list) = c.admin.get_html("/inbox").await;
    assert_eq!(status, StatusCode::OK);
    let list_since = since_in(&list, "<ol id=\"chat-list\"");
    let (status, thread) = c.admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    let thread_since = since_in(&thread, "<section id=\"thread\"");
    for since in [&list_since, &thread_since] {
        assert_eq!(
            since.parse::<i64>().expect("a number"),
            newest,
            "the newest event when the page was read"
        );
    }
    // Committed after the pages were rendered, before any stream opened.
    let missed = fan_message(&app.address, app, c.fanvue, Uuid::new_v4()).await;
    let mut s = Sse::open_since(&c.admin, &app.address, &thread_since).await;
    assert!(
        s.wait_for(ARRIVES, is_message(missed)).await.is_some(),
        "a stream opened with the page's starting point gets what committed in between"
    );
}

#[tokio::test]
async fn stopping_an_instance_ends_its_streams_instead_of_waiting_for_them() {
    let c = setup().await;
    let app = &c.app;
    // A second instance run the way `serve` runs it (start / stop).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut settings = app.settings.clone();
    settings.public_url = url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    settings.sync.enabled = false;
    settings.webhooks.enabled = false;
    let pool = switchboard::store::connect_and_migrate(settings.connect_options().unwrap(), 5)
        .await
        .unwrap();
    let running = switchboard::startup::Application::build_with_listener(settings, pool, listener)
        .unwrap()
        .start("live-test");
    let base = format!("http://127.0.0.1:{port}");
    let cookie = c.admin.session_cookie().expect("signed in");
    let client = TestClient::with_cookie(&base, &cookie);
    let mut s = Sse::open(&client, &base, None).await;
    let msg = fan_message(&app.address, app, c.fanvue, Uuid::new_v4()).await;
    assert!(
        s.wait_for(ARRIVES, is_message(msg)).await.is_some(),
        "live first"
    );
    let t0 = std::time::Instant::now();
    running.stop().await.unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "an open stream does not hold the graceful stop: {:?}",
        t0.elapsed()
    );
    assert!(
        s.ends_within(Duration::from_secs(2)).await,
        "the stream ended"
    );
}
