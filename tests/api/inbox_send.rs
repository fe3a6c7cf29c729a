//! Sending from the inbox through the ledger: success writes the mirror at
//! once, any repeat of one form sends at most one Fanvue message, every
//! failure keeps the draft and says what happened, `unknown` sends are
//! settled by reconcile, and marking read calls Fanvue only when asked.

use reqwest::StatusCode;
use switchboard::sim::faults::FaultsPatch;
use uuid::Uuid;

use crate::helpers::*;

const SEND_ROUTE: &str = "POST /chats/{userUuid}/message";
const PATCH_ROUTE: &str = "PATCH /chats/{userUuid}";

/// A synced creator and one of its chats whose fan can be messaged.
struct Inbox {
    c: ConnectedCreator,
    chat: Uuid,
    fan: Uuid,
}

async fn inbox() -> Inbox {
    let c = TestApp::with_connected_creator().await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let (chat, fan) = contactable_chat(&c).await;
    Inbox { c, chat, fan }
}

async fn contactable_chat(c: &ConnectedCreator) -> (Uuid, Uuid) {
    let chats: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, fan_uuid FROM chats WHERE creator_id = $1 ORDER BY last_message_at DESC, id",
    )
    .bind(c.id)
    .fetch_all(&c.app.pool)
    .await
    .unwrap();
    let w = c.app.sim().sim().world.read();
    chats
        .into_iter()
        .find(|(_, fan)| {
            w.user_id(fan)
                .map(|id| w.user(id))
                .is_some_and(|u| u.contactable && !u.blocked)
        })
        .expect("a contactable chat")
}

fn sends(app: &TestApp) -> u64 {
    app.sim()
        .stats()
        .by_endpoint
        .get(SEND_ROUTE)
        .copied()
        .unwrap_or(0)
}

fn patches(app: &TestApp) -> u64 {
    app.sim()
        .stats()
        .by_endpoint
        .get(PATCH_ROUTE)
        .copied()
        .unwrap_or(0)
}

/// A media uuid the simulated creator really has (one it sent before), so
/// sends stay valid once the simulator checks media against its library.
fn creator_media(c: &ConnectedCreator) -> Uuid {
    let w = c.app.sim().sim().world.read();
    let creator = w.user_id(&c.fanvue).unwrap();
    w.messages
        .iter()
        .find(|m| {
            m.from_creator && w.chats[m.chat as usize].creator == creator && !m.media.is_empty()
        })
        .map(|m| m.media[0])
        .expect("the scenario has creator media")
}

fn key() -> String {
    Uuid::new_v4().to_string()
}

async fn post_send(client: &TestClient, chat: Uuid, fields: &[(&str, &str)]) -> reqwest::Response {
    client
        .post_form(&format!("/inbox/chats/{chat}/send"), fields)
        .await
}

#[derive(Debug, sqlx::FromRow)]
struct Ledger {
    status: String,
    message_uuid: Option<Uuid>,
    staff_id: Option<Uuid>,
    body: Option<String>,
    price_cents: Option<i64>,
    error: Option<String>,
    retry_of: Option<Uuid>,
}

async fn ledger(app: &TestApp, key: &str) -> Ledger {
    sqlx::query_as(
        "SELECT status, message_uuid, staff_id, body, price_cents, error, retry_of
         FROM outbound_sends WHERE idempotency_key = $1",
    )
    .bind(key)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn ledger_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbound_sends")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The hidden idempotency key of the compose form in a page.
fn form_key(html: &str) -> String {
    let marker = "name=\"idempotency_key\" value=\"";
    let start = html.find(marker).expect("a compose form") + marker.len();
    html[start..start + 36].to_owned()
}

#[tokio::test]
async fn a_send_is_recorded_sent_and_mirrored_at_once() {
    let Inbox { c, chat, fan } = inbox().await;
    let k = key();
    let text = "Hello <b>you</b>\nsecond line";
    let r = post_send(&c.admin, chat, &[("idempotency_key", &k), ("text", text)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/inbox/chats/{chat}"));
    assert_eq!(sends(&c.app), 1);

    let row = ledger(&c.app, &k).await;
    assert_eq!(row.status, "sent");
    assert_eq!(row.staff_id, Some(c.acme.admin.as_uuid()));
    assert_eq!(row.body.as_deref(), Some(text));
    let uuid = row.message_uuid.expect("Fanvue's message uuid");
    // The simulator holds exactly that message for this fan.
    {
        let w = c.app.sim().sim().world.read();
        let m = w
            .messages
            .iter()
            .find(|m| m.uuid == uuid)
            .expect("sent on the simulator");
        assert_eq!(m.text.as_deref(), Some(text));
        assert_eq!(w.user(w.chats[m.chat as usize].fan).uuid, fan);
    }
    // The mirror has it before any sync ran, as the chat's last message.
    let (direction, mtext, source, sent_by): (String, Option<String>, String, Option<String>) =
        sqlx::query_as(
            "SELECT direction, text, source, sent_by_user_uuid FROM messages WHERE chat_id = $1 AND uuid = $2",
        )
        .bind(chat)
        .bind(uuid)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    assert_eq!(
        (direction.as_str(), mtext.as_deref(), source.as_str()),
        ("out", Some(text), "send")
    );
    assert_eq!(sent_by, None);
    let last: Option<Uuid> =
        sqlx::query_scalar("SELECT last_message_uuid FROM chats WHERE id = $1")
            .bind(chat)
            .fetch_one(&c.app.pool)
            .await
            .unwrap();
    assert_eq!(last, Some(uuid));
    // Reconcile later finds the same message: still one row, still sent.
    c.admin
        .post_form(&format!("/admin/creators/{}/sync/reconcile", c.id), &[])
        .await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE chat_id = $1 AND text = $2")
            .bind(chat)
            .bind(text)
            .fetch_one(&c.app.pool)
            .await
            .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_ppv_send_carries_price_and_media() {
    let Inbox { c, chat, .. } = inbox().await;
    let k = key();
    let media = creator_media(&c).to_string();
    let r = post_send(
        &c.admin,
        chat,
        &[
            ("idempotency_key", &k),
            ("text", "for you"),
            ("price", "12.50"),
            ("media", &media),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let row = ledger(&c.app, &k).await;
    assert_eq!((row.status.as_str(), row.price_cents), ("sent", Some(1250)));
    let uuid = row.message_uuid.unwrap();
    let w = c.app.sim().sim().world.read();
    let m = w.messages.iter().find(|m| m.uuid == uuid).unwrap();
    assert_eq!(m.price, Some(1250));
    assert_eq!(m.media.len(), 1);
}

#[tokio::test]
async fn a_concurrent_double_submit_sends_exactly_one_message() {
    let Inbox { c, chat, .. } = inbox().await;
    // Slow Fanvue down so the second request finds the row still pending.
    c.app.sim().patch_faults(FaultsPatch {
        api_latency_ms: Some(400),
        ..Default::default()
    });
    let k = key();
    let fields = [("idempotency_key", k.as_str()), ("text", "only once")];
    let (a, b) = tokio::join!(
        post_send(&c.admin, chat, &fields),
        post_send(&c.admin, chat, &fields)
    );
    assert_eq!(a.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        b.status(),
        StatusCode::SEE_OTHER,
        "the repeat answers like the first"
    );
    assert_eq!(sends(&c.app), 1, "one form, one Fanvue message");
    assert_eq!(ledger_rows(&c.app).await, 1);
    assert_eq!(ledger(&c.app, &k).await.status, "sent");
}

#[tokio::test]
async fn resubmitting_a_sent_form_sends_nothing_more() {
    let Inbox { c, chat, .. } = inbox().await;
    let k = key();
    let fields = [("idempotency_key", k.as_str()), ("text", "refresh me")];
    for _ in 0..3 {
        let r = post_send(&c.admin, chat, &fields).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(sends(&c.app), 1);
    // JSON clients get the same row back.
    let r = c
        .admin
        .http
        .post(c.admin.url(&format!("/inbox/chats/{chat}/send")))
        .header("Accept", "application/json")
        .form(&[
            ("idempotency_key", k.as_str()),
            ("text", "refresh me"),
            ("csrf_token", &c.admin.csrf().await),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "sent");
    assert_eq!(
        v["message"].as_str().map(str::to_owned),
        ledger(&c.app, &k).await.message_uuid.map(|u| u.to_string())
    );
    assert_eq!(sends(&c.app), 1);
}

#[tokio::test]
async fn validation_errors_keep_the_draft_escaped_and_send_nothing() {
    let Inbox { c, chat, .. } = inbox().await;
    let hostile = "<script>alert(1)</script> \"><img src=x onerror=alert(2)>";
    let k = key();
    let r = post_send(
        &c.admin,
        chat,
        &[
            ("idempotency_key", &k),
            ("text", hostile),
            ("price", "12,50"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(!body.contains("<script>alert(1)"), "the draft is escaped");
    assert!(
        body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{body}"
    );
    assert!(!body.contains("<img src=x"), "attribute breakout escaped");
    assert!(
        body.contains("value=\"12,50\""),
        "the price is kept as typed"
    );
    assert!(body.contains("Enter the price as an amount like 12.50."));
    assert!(body.contains("aria-invalid=\"true\""));
    assert_eq!(form_key(&body), k, "nothing was sent: the same form");

    // A PPV without media, and one below the minimum.
    let r = post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &k), ("text", "pay"), ("price", "9")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("needs at least one media item")
    );
    let media = Uuid::new_v4().to_string();
    let r = post_send(
        &c.admin,
        chat,
        &[
            ("idempotency_key", &k),
            ("text", "pay"),
            ("price", "2.99"),
            ("media", &media),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(body.contains("at least $3.00"));
    assert!(body.contains(&media), "the selected media stay selected");
    // Blank text without media; too long text.
    let r = post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &k), ("text", "  \n ")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let long = "x".repeat(5001);
    let r = post_send(&c.admin, chat, &[("idempotency_key", &k), ("text", &long)]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("5001 characters"));

    assert_eq!(sends(&c.app), 0);
    assert_eq!(ledger_rows(&c.app).await, 0);
}

#[tokio::test]
async fn the_minimum_ppv_price_is_a_setting() {
    let c =
        TestApp::with_connected_creator_in(|_| {}, |s| s.inbox.min_ppv_price_cents = 1000).await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let (chat, _) = contactable_chat(&c).await;
    let media = Uuid::new_v4().to_string();
    let r = post_send(
        &c.admin,
        chat,
        &[
            ("idempotency_key", &key()),
            ("text", "pay"),
            ("price", "5"),
            ("media", &media),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("at least $10.00"));
    assert_eq!(sends(&c.app), 0);
}

#[tokio::test]
async fn rate_limiting_fails_the_send_with_the_wait_and_a_fresh_form() {
    let Inbox { c, chat, .. } = inbox().await;
    c.app.sim().patch_faults(FaultsPatch {
        force_429: Some(true),
        ..Default::default()
    });
    let k = key();
    let r = post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &k), ("text", "wait for it")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Fanvue is rate-limiting this creator; try again in"),
        "{body}"
    );
    assert!(body.contains("wait for it"), "the draft is kept");
    assert_ne!(
        form_key(&body),
        k,
        "nothing was sent: a new key makes a retry safe"
    );
    let row = ledger(&c.app, &k).await;
    assert_eq!(row.status, "failed");
    assert!(row.error.unwrap().contains("rate-limiting"));
    assert_eq!(
        c.app.sim().stats().rate_limited,
        1,
        "a long 429 is not waited out"
    );
}

#[tokio::test]
async fn a_server_error_leaves_the_send_unknown_and_never_repeats_it() {
    let Inbox { c, chat, .. } = inbox().await;
    c.app.sim().patch_faults(FaultsPatch {
        api_error_rate: Some(1.0),
        api_error_status: Some(500),
        ..Default::default()
    });
    let k = key();
    let fields = [("idempotency_key", k.as_str()), ("text", "did it arrive?")];
    let r = post_send(&c.admin, chat, &fields).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body = r.text().await.unwrap();
    assert!(body.contains("may have been sent"), "{body}");
    assert!(body.contains("did it arrive?"));
    assert!(body.contains("name=\"retry_of\""), "a retry is offered");
    let row = ledger(&c.app, &k).await;
    assert_eq!(row.status, "unknown");
    assert_eq!(sends(&c.app), 1, "a send is never retried on a 5xx");

    // The same form again: still unknown, nothing sent.
    c.app.sim().patch_faults(FaultsPatch {
        api_error_rate: Some(0.0),
        ..Default::default()
    });
    let r = post_send(&c.admin, chat, &fields).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(sends(&c.app), 1);

    // The re-rendered form (new key) without "Retry anyway" is held.
    let fresh = form_key(&body);
    assert_ne!(fresh, k);
    let r = post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &fresh), ("text", "did it arrive?")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("Retry anyway"));
    assert_eq!(sends(&c.app), 1);

    // With it, the message goes out and the ledger names what it retried.
    let unknown_id: Uuid =
        sqlx::query_scalar("SELECT id FROM outbound_sends WHERE idempotency_key = $1")
            .bind(&k)
            .fetch_one(&c.app.pool)
            .await
            .unwrap();
    let r = post_send(
        &c.admin,
        chat,
        &[
            ("idempotency_key", &fresh),
            ("text", "did it arrive?"),
            ("retry_of", &unknown_id.to_string()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(sends(&c.app), 2);
    let retry = ledger(&c.app, &fresh).await;
    assert_eq!(
        (retry.status.as_str(), retry.retry_of),
        ("sent", Some(unknown_id))
    );
}

#[tokio::test]
async fn a_revoked_grant_asks_to_reconnect_with_a_link_for_admins() {
    let Inbox { c, chat, .. } = inbox().await;
    c.app.sim().revoke_tokens(None);
    let k = key();
    let r = post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &k), ("text", "are you there")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = r.text().await.unwrap();
    assert!(body.contains("Reconnect this creator"));
    assert!(body.contains(&format!("href=\"/admin/creators/{}\"", c.id)));
    assert!(body.contains("are you there"));
    assert_eq!(ledger(&c.app, &k).await.status, "failed");
    assert_eq!(c.app.creator_status(c.id).await, "needs_reauth");
    assert_eq!(
        sends(&c.app),
        1,
        "the refused request, not repeated after the refresh failed"
    );

    // A chatter gets the message without the admin link.
    c.admin
        .post_form(
            &format!("/admin/creators/{}/assignments", c.id),
            &[("staff_id", &c.acme.chatter.to_string())],
        )
        .await;
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;
    let r = post_send(
        &chatter,
        chat,
        &[("idempotency_key", &key()), ("text", "x")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = r.text().await.unwrap();
    assert!(body.contains("Reconnect this creator"));
    assert!(!body.contains("href=\"/admin/creators/"));
}

#[tokio::test]
async fn a_fan_who_cannot_be_messaged_is_named_as_such() {
    let Inbox { c, chat, fan } = inbox().await;
    {
        let mut w = c.app.sim().sim().world.write();
        let id = w.user_id(&fan).unwrap();
        w.users[id as usize].contactable = false;
    }
    let k = key();
    let r = post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &k), ("text", "hello?")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("This fan can&#39;t receive messages (not subscribed, or blocked)."),
        "{body}"
    );
    assert!(body.contains("hello?"));
    assert_eq!(ledger(&c.app, &k).await.status, "failed");
}

#[tokio::test]
async fn other_agencies_and_unassigned_chatters_get_404_and_nothing_is_sent() {
    let Inbox { c, chat, .. } = inbox().await;
    let globex = c.app.agency("Globex").await;
    let intruder = c.app.signed_in(&globex.email("owner")).await;
    let r = post_send(
        &intruder,
        chat,
        &[("idempotency_key", &key()), ("text", "hi")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A chatter of Acme not assigned to this creator.
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;
    let r = post_send(
        &chatter,
        chat,
        &[("idempotency_key", &key()), ("text", "hi")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = chatter
        .post_form(&format!("/inbox/chats/{chat}/read"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        chatter
            .get(&format!("/inbox/chats/{chat}/media"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(sends(&c.app) + patches(&c.app), 0);
    assert_eq!(ledger_rows(&c.app).await, 0);

    // A key already used for one chat cannot be replayed against another.
    let k = key();
    post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &k), ("text", "first")],
    )
    .await;
    let other: Uuid =
        sqlx::query_scalar("SELECT id FROM chats WHERE creator_id = $1 AND id <> $2 LIMIT 1")
            .bind(c.id)
            .bind(chat)
            .fetch_one(&c.app.pool)
            .await
            .unwrap();
    let r = post_send(
        &c.admin,
        other,
        &[("idempotency_key", &k), ("text", "second")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(sends(&c.app), 1);
}

#[tokio::test]
async fn reconcile_resolves_unknown_sends_found_on_fanvue_and_fails_the_rest() {
    let Inbox { c, chat, .. } = inbox().await;
    // A send that reached Fanvue but whose answer was lost: sent through
    // the app, then put back to `unknown` with no uuid and no mirror row.
    let k = key();
    post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &k), ("text", "lost answer")],
    )
    .await;
    let uuid = ledger(&c.app, &k).await.message_uuid.unwrap();
    sqlx::query("UPDATE outbound_sends SET status = 'unknown', message_uuid = NULL, sent_at = NULL WHERE idempotency_key = $1")
        .bind(&k)
        .execute(&c.app.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM messages WHERE uuid = $1")
        .bind(uuid)
        .execute(&c.app.pool)
        .await
        .unwrap();
    // One that never arrived, past the window, and one still within it.
    let (agency, staff) = (c.acme.id, c.acme.admin);
    for (text, age) in [
        ("never arrived", "20 minutes"),
        ("still pending", "1 minute"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO outbound_sends (id, agency_id, creator_id, chat_id, staff_id, idempotency_key, body, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'unknown', now() - interval '{age}')"
        )))
        .bind(Uuid::now_v7())
        .bind(agency)
        .bind(c.id)
        .bind(chat)
        .bind(staff)
        .bind(key())
        .bind(text)
        .execute(&c.app.pool)
        .await
        .unwrap();
    }
    c.admin
        .post_form(&format!("/admin/creators/{}/sync/reconcile", c.id), &[])
        .await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;

    let row = ledger(&c.app, &k).await;
    assert_eq!(
        (row.status.as_str(), row.message_uuid),
        ("sent", Some(uuid))
    );
    let by_body = |b: &'static str| {
        let pool = c.app.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM outbound_sends WHERE body = $1")
                .bind(b)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(by_body("never arrived").await, "failed");
    assert_eq!(by_body("still pending").await, "unknown");
}

#[tokio::test]
async fn mark_read_calls_fanvue_and_updates_the_mirror() {
    let Inbox { c, .. } = inbox().await;
    // An unread chat.
    let (chat, fan): (Uuid, Uuid) = sqlx::query_as(
        "SELECT id, fan_uuid FROM chats WHERE creator_id = $1 AND unread_count > 0 ORDER BY id LIMIT 1",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .expect("the scenario has an unread chat");
    // Looking at the thread and its compose box changes nothing on Fanvue.
    c.admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(patches(&c.app), 0);

    let r = c
        .admin
        .post_form(&format!("/inbox/chats/{chat}/read"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(patches(&c.app), 1);
    {
        let w = c.app.sim().sim().world.read();
        let f = w.user_id(&fan).unwrap();
        let creator = w.user_id(&c.fanvue).unwrap();
        let sim_chat = w.chat_of(creator, f).unwrap();
        assert_eq!(w.chats[sim_chat as usize].unread, 0, "read on Fanvue");
    }
    let (is_read, unread, unread_msgs): (bool, i32, i64) = sqlx::query_as(
        "SELECT c.is_read, c.unread_count,
                (SELECT count(*) FROM messages m WHERE m.chat_id = c.id AND m.direction = 'in' AND NOT m.is_read)
         FROM chats c WHERE c.id = $1",
    )
    .bind(chat)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!((is_read, unread, unread_msgs), (true, 0, 0));
}

#[tokio::test]
async fn replying_to_an_unread_chat_marks_it_read() {
    let Inbox { c, .. } = inbox().await;
    let chat: Uuid = sqlx::query_scalar(
        "SELECT id FROM chats WHERE creator_id = $1 AND unread_count > 0 ORDER BY id LIMIT 1",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    let (fan,): (Uuid,) = sqlx::query_as("SELECT fan_uuid FROM chats WHERE id = $1")
        .bind(chat)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    {
        let mut w = c.app.sim().sim().world.write();
        let id = w.user_id(&fan).unwrap();
        w.users[id as usize].contactable = true;
        w.users[id as usize].blocked = false;
    }
    let r = post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &key()), ("text", "thanks!")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(patches(&c.app), 1);
    let unread: i32 = sqlx::query_scalar("SELECT unread_count FROM chats WHERE id = $1")
        .bind(chat)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    assert_eq!(unread, 0);
    // A reply to a chat already read costs one call: the send.
    let before = patches(&c.app);
    post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &key()), ("text", "again")],
    )
    .await;
    assert_eq!(patches(&c.app), before);
}

#[tokio::test]
async fn media_this_fan_already_bought_is_held_until_confirmed() {
    let Inbox { c, chat, .. } = inbox().await;
    let bought = creator_media(&c);
    // A purchased PPV in this chat carried `bought`.
    sqlx::query(
        "UPDATE messages SET media_uuids = ARRAY[$2]::uuid[], price_cents = 500, purchased_at = now()
         WHERE uuid = (SELECT uuid FROM messages WHERE chat_id = $1 ORDER BY sent_at LIMIT 1)",
    )
    .bind(chat)
    .bind(bought)
    .execute(&c.app.pool)
    .await
    .unwrap();
    let k = key();
    let b = bought.to_string();
    let fields = [
        ("idempotency_key", k.as_str()),
        ("text", "again?"),
        ("price", "5"),
        ("media", b.as_str()),
    ];
    let r = post_send(&c.admin, chat, &fields).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = r.text().await.unwrap();
    assert!(body.contains("This fan already bought"));
    assert!(body.contains("name=\"confirm_resell\""));
    assert!(
        body.contains(&b) && body.contains("again?"),
        "the draft is kept"
    );
    assert_eq!(sends(&c.app), 0);
    let mut confirmed = fields.to_vec();
    confirmed.push(("confirm_resell", "1"));
    let r = post_send(&c.admin, chat, &confirmed).await;
    assert_ne!(
        r.status(),
        StatusCode::CONFLICT,
        "confirmed: sent to Fanvue"
    );
    assert_eq!(sends(&c.app), 1);
}

#[tokio::test]
async fn the_compose_box_is_a_form_with_a_counter_and_the_ppv_section() {
    let Inbox { c, chat, .. } = inbox().await;
    let k = key();
    // Any re-render shows the compose box; a validation error is one.
    let r = post_send(&c.admin, chat, &[("idempotency_key", &k), ("text", "")]).await;
    let body = r.text().await.unwrap();
    for needle in [
        "<form method=\"post\" action=\"/inbox/chats/",
        "id=\"compose\"",
        "<textarea id=\"compose-text\" name=\"text\"",
        "0</span>/5000 characters",
        "name=\"price\"",
        &format!("href=\"/inbox/chats/{chat}/media\""),
        &format!("href=\"/inbox/chats/{chat}/templates\""),
        &format!("action=\"/inbox/chats/{chat}/read\""),
    ] {
        assert!(body.contains(needle), "missing {needle}");
    }
    assert!(!body.contains(" style="), "no inline styles (CSP)");
}

#[tokio::test]
async fn templates_fill_the_compose_form() {
    let Inbox { c, chat, .. } = inbox().await;
    let (status, body) = c
        .admin
        .get_html(&format!("/inbox/chats/{chat}/templates"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let tpl = {
        let w = c.app.sim().sim().world.read();
        let creator = w.user_id(&c.fanvue).unwrap();
        w.creator_data
            .get(&creator)
            .and_then(|cd| cd.templates.first().cloned())
    };
    let Some(tpl) = tpl else {
        assert!(body.contains("no templates"));
        return;
    };
    assert!(body.contains(&tpl.uuid.to_string()));
    let (_, chosen) = c
        .admin
        .get_html(&format!("/inbox/chats/{chat}/templates?use={}", tpl.uuid))
        .await;
    assert!(chosen.contains(&format!("name=\"template_uuid\" value=\"{}\"", tpl.uuid)));
    for m in &tpl.media_uuids {
        assert!(chosen.contains(&format!("value=\"{m}\" checked")));
    }
    // As JSON for compose.js.
    let r = c
        .admin
        .http
        .get(c.admin.url(&format!("/inbox/chats/{chat}/templates")))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["data"][0]["uuid"], tpl.uuid.to_string());
}

/// A one-route stand-in for Fanvue's `GET /media`: answers the documented
/// wire shape and records the query it was asked.
async fn media_mock() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let record = record.clone();
        App::new().route(
            "/media",
            web::get().to(move |req: HttpRequest| {
                let record = record.clone();
                async move {
                    record.lock().unwrap().push(req.query_string().to_owned());
                    HttpResponse::Ok().json(serde_json::json!({
                        "data": [
                            {"uuid": "6f1c2a6e-5f3d-4c1a-9a8e-2f1d3c4b5a01", "status": "ready",
                             "createdAt": "2026-01-01T00:00:00Z", "name": "Beach <set>", "caption": null,
                             "description": null, "mediaType": "image", "folderName": "Summer",
                             "recommendedPrice": 1500,
                             "variants": [{"uuid": "6f1c2a6e-5f3d-4c1a-9a8e-2f1d3c4b5a02", "variantType": "main",
                                           "displayPosition": 0, "url": "https://cdn.example/x.jpg",
                                           "width": 800, "height": 600, "lengthMs": null}],
                             "purchasedByFan": true},
                            {"uuid": "6f1c2a6e-5f3d-4c1a-9a8e-2f1d3c4b5a03", "status": "ready",
                             "createdAt": "2026-01-02T00:00:00Z", "name": null, "caption": "clip",
                             "description": null, "mediaType": "video", "folderName": null,
                             "recommendedPrice": null, "variants": [], "purchasedByFan": false},
                            {"uuid": 42}
                        ],
                        "pagination": {"page": 2, "size": 2, "hasMore": true}
                    }))
                }
            }),
        )
    })
    .listen(listener)
    .unwrap()
    .workers(1)
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), seen)
}

#[tokio::test]
async fn the_media_client_reads_the_library_wire_shape_and_sends_the_filters() {
    use secrecy::SecretString;
    use switchboard::fanvue::client::MediaQuery;
    use switchboard::fanvue::{CallAuth, FanvueClient, Priority};
    let (url, seen) = media_mock().await;
    let mut settings =
        switchboard::config::Settings::for_tests("postgres://127.0.0.1/unused").fanvue;
    settings.api_url = url::Url::parse(&url).unwrap();
    let client = FanvueClient::new(&settings).unwrap();
    let auth = CallAuth {
        token: SecretString::from("t".to_owned()),
        bucket: "creator".into(),
        priority: Priority::Interactive,
        meter: None,
    };
    let fan = Uuid::new_v4();
    let page = client
        .media(
            &auth,
            &MediaQuery {
                page: 2,
                size: 99,
                media_type: Some("image".into()),
                folder_name: Some("Summer".into()),
                usage: None,
                purchased_by: Some(fan),
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2, "the malformed item is skipped");
    assert_eq!(page.skipped.len(), 1);
    assert!(page.has_more);
    let first = &page.items[0];
    assert_eq!(first.name.as_deref(), Some("Beach <set>"));
    assert_eq!(first.media_type.as_deref(), Some("image"));
    assert_eq!(first.recommended_price, Some(1500));
    assert_eq!(first.purchased_by_fan, Some(true));
    assert_eq!(first.variants[0].width, Some(800));
    assert_eq!(page.items[1].purchased_by_fan, Some(false));
    let q = seen.lock().unwrap()[0].clone();
    for part in [
        "page=2",
        "size=50",
        "mediaType=image",
        "folderName=Summer",
        &format!("purchasedBy={fan}"),
    ] {
        assert!(q.contains(part), "{part} missing from {q}");
    }
}

#[tokio::test]
async fn the_media_picker_is_fetched_only_when_opened() {
    let Inbox { c, chat, .. } = inbox().await;
    let before = c.app.sim().stats().total_requests;
    // A failed send re-renders the thread with the compose box: no call.
    post_send(&c.admin, chat, &[("idempotency_key", &key()), ("text", "")]).await;
    assert_eq!(c.app.sim().stats().total_requests, before);
    // The picker page renders (with the library, or a clear error while
    // the simulator has none) and holds a compose form to send with.
    let (status, body) = c
        .admin
        .get_html(&format!("/inbox/chats/{chat}/media?type=video"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("id=\"compose\""),
        "a compose form to send with"
    );
    assert!(body.contains("<option value=\"video\" selected>"));
    assert!(body.contains("media-grid"));
    let (status, fragment) = c
        .admin
        .get_html(&format!("/inbox/chats/{chat}/media?fragment=1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !fragment.contains("<form"),
        "the fragment goes inside the compose form"
    );
    assert!(!fragment.contains("<html"));
}

#[tokio::test]
async fn the_media_picker_lists_the_library_and_marks_what_the_fan_bought() {
    let Inbox { c, chat, .. } = inbox().await;
    let (status, body) = c
        .admin
        .get_html(&format!("/inbox/chats/{chat}/media"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        c.app.sim().stats().by_endpoint.get("GET /media").copied(),
        Some(1),
        "one call per opening"
    );
    assert!(body.contains("name=\"media\" value=\""), "{body}");
    assert!(!body.contains("Could not load the media library"));
    // Send one of the listed items as a PPV: the simulator records its type.
    let marker = "name=\"media\" value=\"";
    let at = body.find(marker).unwrap() + marker.len();
    let media = body[at..at + 36].to_owned();
    let k = key();
    let r = post_send(
        &c.admin,
        chat,
        &[
            ("idempotency_key", &k),
            ("text", "from the library"),
            ("price", "5"),
            ("media", &media),
            ("confirm_resell", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(ledger(&c.app, &k).await.status, "sent");
}

#[tokio::test]
async fn a_timeout_leaves_the_send_unknown_without_a_second_attempt() {
    let c = TestApp::with_connected_creator_in(
        |_| {},
        |s| s.fanvue.request_timeout = std::time::Duration::from_millis(700),
    )
    .await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let (chat, _) = contactable_chat(&c).await;
    c.app.sim().patch_faults(FaultsPatch {
        api_latency_ms: Some(1500),
        ..Default::default()
    });
    let k = key();
    let r = post_send(&c.admin, chat, &[("idempotency_key", &k), ("text", "slow")]).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.text().await.unwrap().contains("may have been sent"));
    assert_eq!(ledger(&c.app, &k).await.status, "unknown");
    // Give a late request time to land: still exactly one attempt.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(sends(&c.app) <= 1, "a timed-out send is never repeated");
}

#[tokio::test]
async fn json_and_htmx_clients_get_their_own_answers() {
    let Inbox { c, chat, .. } = inbox().await;
    let csrf = c.admin.csrf().await;
    let url = c.admin.url(&format!("/inbox/chats/{chat}/send"));
    // JSON: field errors by name.
    let r = c
        .admin
        .http
        .post(&url)
        .header("Accept", "application/json")
        .form(&[
            ("idempotency_key", key().as_str()),
            ("text", "pay"),
            ("price", "1"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).expect(&text);
    assert_eq!(v["status"], "invalid");
    assert!(v["fields"]["price"].as_str().unwrap().contains("at least"));
    assert!(v["fields"]["media"].is_string());
    // htmx: the compose form alone, blank with a new key after a success.
    let k = key();
    let r = c
        .admin
        .http
        .post(&url)
        .header("HX-Request", "true")
        .header("X-CSRF-Token", &csrf)
        .form(&[("idempotency_key", k.as_str()), ("text", "via htmx")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.starts_with("<form method=\"post\""), "{body}");
    assert!(!body.contains("<html"));
    assert!(!body.contains("via htmx"), "a blank box after a success");
    assert_ne!(form_key(&body), k);
    assert_eq!(ledger(&c.app, &k).await.status, "sent");
}
