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
async fn the_minimum_ppv_price_is_the_agencys_setting() {
    let Inbox { c, chat, .. } = inbox().await;
    // The admin raises the agency's minimum on the settings page.
    let r = c
        .admin
        .post_form(
            "/admin/settings",
            &[
                ("time_zone", "UTC"),
                ("platform_fee_percent", "20"),
                ("tip_window_minutes", "1440"),
                ("min_ppv_price", "10"),
            ],
        )
        .await;
    assert_redirects_to(&r, "/admin/settings");
    let (_, page) = c.admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert!(
        page.contains("At least $10.00 for pay-to-view"),
        "the compose hint shows the agency's minimum"
    );
    let media = creator_media(&c).to_string();
    let ppv = |price: &'static str| {
        let (k, media) = (key(), media.clone());
        let admin = &c.admin;
        async move {
            post_send(
                admin,
                chat,
                &[
                    ("idempotency_key", &k),
                    ("text", "pay"),
                    ("price", price),
                    ("media", &media),
                ],
            )
            .await
        }
    };
    let r = ppv("5").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("at least $10.00"));
    assert_eq!(sends(&c.app), 0);
    // $5 was above the old default ($3): the agency value, not a default, refused it.
    let r = ppv("10.00").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(sends(&c.app), 1);
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

// === Review fixes ===

/// An `unknown` ledger row of `chat`, created `age` ago, as a lost answer
/// leaves it.
async fn unknown_row(
    i: &Inbox,
    body: &str,
    age: &str,
    retry_of: Option<Uuid>,
    status: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO outbound_sends (id, agency_id, creator_id, chat_id, staff_id, idempotency_key, body, status,
            retry_of, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() - interval '{age}')"
    )))
    .bind(id)
    .bind(i.c.acme.id)
    .bind(i.c.id)
    .bind(i.chat)
    .bind(i.c.acme.admin)
    .bind(key())
    .bind(body)
    .bind(status)
    .bind(retry_of)
    .execute(&i.c.app.pool)
    .await
    .unwrap();
    id
}

/// An outbound mirror message of `chat` (as reconcile would write it).
async fn mirrored_out(
    i: &Inbox,
    text: &str,
    sent_ago_secs: i64,
    sent_by: Option<&str>,
    kind: &str,
) -> Uuid {
    let uuid = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO messages (creator_id, uuid, agency_id, chat_id, direction, text, sent_at, kind,
            sent_by_user_uuid, source)
         VALUES ($1, $2, $3, $4, 'out', $5, now() - $6 * interval '1 second', $7, $8, 'reconcile')",
    )
    .bind(i.c.id)
    .bind(uuid)
    .bind(i.c.acme.id)
    .bind(i.chat)
    .bind(text)
    .bind(sent_ago_secs)
    .bind(kind)
    .bind(sent_by)
    .execute(&i.c.app.pool)
    .await
    .unwrap();
    uuid
}

async fn resolve(i: &Inbox) -> switchboard::store::sends::Resolved {
    let mut tx = i.c.app.pool.begin().await.unwrap();
    let r = switchboard::store::sends::resolve_unknown(
        &mut tx,
        i.c.acme.id,
        i.c.id,
        switchboard::inbox::send::UNKNOWN_WINDOW,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    r
}

async fn status_of(app: &TestApp, id: Uuid) -> (String, Option<Uuid>, Option<String>) {
    sqlx::query_as("SELECT status, message_uuid, error FROM outbound_sends WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn reconcile_leaves_an_unknown_alone_while_its_retry_is_in_flight() {
    let i = inbox().await;
    let a = unknown_row(&i, "retry race", "1 minute", None, "unknown").await;
    let r = unknown_row(&i, "retry race", "1 second", Some(a), "pending").await;
    // The retry's own message, mirrored by reconcile before its answer.
    let x = mirrored_out(&i, "retry race", 0, None, "SINGLE_RECIPIENT").await;
    assert_eq!(resolve(&i).await.sent, 0);
    assert_eq!(
        status_of(&i.c.app, a).await.0,
        "unknown",
        "not given the retry's message"
    );
    // Once the retry holds its message, the unknown may be resolved (or
    // expire) on its own; it never takes the retry's message.
    sqlx::query("UPDATE outbound_sends SET status = 'sent', message_uuid = $2 WHERE id = $1")
        .bind(r)
        .bind(x)
        .execute(&i.c.app.pool)
        .await
        .unwrap();
    resolve(&i).await;
    assert_eq!(status_of(&i.c.app, a).await.1, None);
}

#[tokio::test]
async fn a_send_whose_message_reconcile_gave_to_another_row_takes_it_back() {
    let i = inbox().await;
    let app = &i.c.app;
    // A "Retry anyway" row and an unknown row: reconcile matched the
    // message to the unknown row, then the retry's answer names it.
    let a = unknown_row(&i, "taken back", "1 minute", None, "unknown").await;
    let k = key();
    let r = post_send(
        &i.c.admin,
        i.chat,
        &[("idempotency_key", &k), ("text", "first")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let sent = ledger(app, &k).await.message_uuid.unwrap();
    // Rewind: the retry row pending again, its message held by `a`.
    sqlx::query("UPDATE outbound_sends SET status = 'pending', message_uuid = NULL WHERE idempotency_key = $1")
        .bind(&k)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE outbound_sends SET status = 'sent', message_uuid = $2, confirmed_by_sync = true WHERE id = $1")
        .bind(a)
        .bind(sent)
        .execute(&app.pool)
        .await
        .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let err =
        switchboard::store::sends::mark_sent(&mut tx, i.c.acme.id, ledger_id(app, &k).await, sent)
            .await
            .unwrap_err();
    assert!(switchboard::store::sends::is_message_claimed(&err), "{err}");
    drop(tx);
    let mut tx = app.pool.begin().await.unwrap();
    assert!(
        switchboard::store::sends::take_back_match(
            &mut tx,
            i.c.acme.id,
            i.c.id,
            ledger_id(app, &k).await,
            sent
        )
        .await
        .unwrap()
    );
    assert!(
        switchboard::store::sends::mark_sent(&mut tx, i.c.acme.id, ledger_id(app, &k).await, sent)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(ledger(app, &k).await.message_uuid, Some(sent));
    assert_eq!(status_of(app, a).await.0, "unknown");
}

async fn ledger_id(app: &TestApp, key: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM outbound_sends WHERE idempotency_key = $1")
        .bind(key)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stale_retry_of_a_send_found_on_fanvue_sends_nothing() {
    let i = inbox().await;
    let app = &i.c.app;
    let a = unknown_row(&i, "found later", "1 minute", None, "unknown").await;
    let x = mirrored_out(&i, "found later", 30, None, "SINGLE_RECIPIENT").await;
    assert_eq!(resolve(&i).await.sent, 1);
    assert_eq!(status_of(app, a).await.1, Some(x));
    let before = sends(app);
    // The stale "Retry anyway" form, and a fresh form without it.
    for retry in [Some(a.to_string()), None] {
        let k = key();
        let mut fields = vec![("idempotency_key", k.as_str()), ("text", "found later")];
        if let Some(r) = &retry {
            fields.push(("retry_of", r.as_str()));
        }
        let r = post_send(&i.c.admin, i.chat, &fields).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{retry:?}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("did arrive on Fanvue; nothing was sent again"),
            "{body}"
        );
        assert!(body.contains("found later"), "draft kept");
    }
    assert_eq!(sends(app), before);
}

#[tokio::test]
async fn unknown_matching_needs_the_api_sender_kind_media_and_the_window() {
    let i = inbox().await;
    let app = &i.c.app;
    let a = unknown_row(&i, "hey babe", "20 seconds", None, "unknown").await;
    // Not it: the creator typing it in the app (a team member uuid is
    // reported), a broadcast, one sent before the row existed, one with media.
    mirrored_out(
        &i,
        "hey babe",
        5,
        Some("0190a0a0-0000-7000-8000-000000000001"),
        "SINGLE_RECIPIENT",
    )
    .await;
    mirrored_out(&i, "hey babe", 5, None, "BROADCAST").await;
    mirrored_out(&i, "hey babe", 50, None, "SINGLE_RECIPIENT").await;
    let with_media = mirrored_out(&i, "hey babe", 5, None, "SINGLE_RECIPIENT").await;
    sqlx::query("UPDATE messages SET media_uuids = ARRAY[gen_random_uuid()] WHERE uuid = $1")
        .bind(with_media)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(resolve(&i).await.sent, 0);
    assert_eq!(status_of(app, a).await.0, "unknown");
    // The real one.
    let x = mirrored_out(&i, "hey babe", 5, None, "SINGLE_RECIPIENT").await;
    resolve(&i).await;
    assert_eq!(status_of(app, a).await.1, Some(x));
    // A template send that left the text blank matches what Fanvue reports
    // (the look-alikes above are cleared first: blank fields match anything).
    sqlx::query("DELETE FROM messages WHERE chat_id = $1 AND text = 'hey babe' AND uuid <> $2")
        .bind(i.chat)
        .bind(x)
        .execute(&app.pool)
        .await
        .unwrap();
    let t = unknown_row(&i, "", "20 seconds", None, "unknown").await;
    sqlx::query(
        "UPDATE outbound_sends SET body = NULL, template_uuid = gen_random_uuid() WHERE id = $1",
    )
    .bind(t)
    .execute(&app.pool)
    .await
    .unwrap();
    let y = mirrored_out(&i, "the template's text", 5, None, "SINGLE_RECIPIENT").await;
    resolve(&i).await;
    assert_eq!(status_of(app, t).await.1, Some(y));
    // No match once the window passed: "could not confirm", not "not sent".
    let old = unknown_row(&i, "gone", "20 minutes", None, "unknown").await;
    resolve(&i).await;
    let (status, _, error) = status_of(app, old).await;
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("could not confirm it was sent"));
}

#[tokio::test]
async fn a_nul_in_the_text_is_a_field_error_and_the_draft_stays() {
    let i = inbox().await;
    let k = key();
    let r = post_send(
        &i.c.admin,
        i.chat,
        &[("idempotency_key", &k), ("text", "hi\0there")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(body.contains("NUL character"), "{body}");
    assert!(body.contains(&k), "same form");
    assert_eq!(sends(&i.c.app), 0);
    assert_eq!(ledger_rows(&i.c.app).await, 0);
}

#[tokio::test]
async fn the_sends_mirror_write_keeps_what_reconcile_already_wrote() {
    let i = inbox().await;
    let app = &i.c.app;
    let x = mirrored_out(&i, "ppv", 90, None, "SINGLE_RECIPIENT").await;
    sqlx::query("UPDATE messages SET media_type = 'video', has_media = true WHERE uuid = $1")
        .bind(x)
        .execute(&app.pool)
        .await
        .unwrap();
    let before: (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<String>,
        String,
    ) = sqlx::query_as("SELECT sent_at, media_type, kind FROM messages WHERE uuid = $1")
        .bind(x)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let m = switchboard::store::messages::MessageUpsert {
        uuid: x,
        fan_uuid: i.fan,
        sender_uuid: None,
        recipient_uuid: Some(i.fan),
        outbound: true,
        text: Some("ppv".into()),
        sent_at: Some(chrono::Utc::now()),
        kind: switchboard::domain::MessageKind::single_recipient(),
        has_media: Some(true),
        media_type: None,
        media_uuids: vec![],
        price_cents: Some(500),
        purchased_at: None,
        sent_by_user_uuid: None,
        is_read: false,
    };
    let mut tx = app.pool.begin().await.unwrap();
    let inserted =
        switchboard::store::messages::insert_sent(&mut tx, i.c.acme.id, i.c.id, i.chat, &m)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert!(!inserted);
    let after: (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<String>,
        String,
    ) = sqlx::query_as("SELECT sent_at, media_type, kind FROM messages WHERE uuid = $1")
        .bind(x)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(after, before);
}

#[tokio::test]
async fn an_edited_resubmit_under_the_same_key_is_refused_with_a_fresh_key() {
    let i = inbox().await;
    let k = key();
    let r = post_send(
        &i.c.admin,
        i.chat,
        &[("idempotency_key", &k), ("text", "first words")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = post_send(
        &i.c.admin,
        i.chat,
        &[("idempotency_key", &k), ("text", "edited words")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = r.text().await.unwrap();
    assert!(body.contains("already sent a different message"), "{body}");
    assert!(body.contains("edited words"), "draft kept");
    assert_ne!(form_key(&body), k);
    assert_eq!(sends(&i.c.app), 1);
    // The unchanged repeat is still just "sent".
    let r = post_send(
        &i.c.admin,
        i.chat,
        &[("idempotency_key", &k), ("text", "first words")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(sends(&i.c.app), 1);
}

#[tokio::test]
async fn a_definite_answer_after_the_sweep_still_settles_the_row() {
    let i = inbox().await;
    let app = &i.c.app;
    let swept = unknown_row(&i, "slow", "3 minutes", None, "pending").await;
    let real_unknown = unknown_row(&i, "really unknown", "1 minute", None, "unknown").await;
    resolve(&i).await;
    assert_eq!(status_of(app, swept).await.0, "unknown");
    let mut conn = app.pool.acquire().await.unwrap();
    for id in [swept, real_unknown] {
        switchboard::store::sends::settle(
            &mut conn,
            i.c.acme.id,
            id,
            switchboard::domain::SendStatus::Failed,
            "Fanvue refused the message: price",
        )
        .await
        .unwrap();
    }
    assert_eq!(status_of(app, swept).await.0, "failed");
    assert_eq!(
        status_of(app, real_unknown).await.0,
        "unknown",
        "only the sweep's rows"
    );
}

#[tokio::test]
async fn opening_a_thread_marks_it_read_only_when_the_agency_asks() {
    let Inbox { c, .. } = inbox().await;
    let (chat, fan): (Uuid, Uuid) = sqlx::query_as(
        "SELECT id, fan_uuid FROM chats WHERE creator_id = $1 AND unread_count > 0 ORDER BY id LIMIT 1",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .expect("the scenario has an unread chat");
    let sim_unread = || {
        let w = c.app.sim().sim().world.read();
        let f = w.user_id(&fan).unwrap();
        let creator = w.user_id(&c.fanvue).unwrap();
        w.chats[w.chat_of(creator, f).unwrap() as usize].unread
    };
    let calls = c.app.sim().stats().total_requests;
    let (status, _) = c.admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        c.app.sim().stats().total_requests,
        calls,
        "no Fanvue call by default"
    );
    assert!(sim_unread() > 0);

    sqlx::query("UPDATE agencies SET mark_read_on_open = true WHERE id = $1")
        .bind(c.acme.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    let (status, _) = c.admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patches(&c.app), 1);
    assert_eq!(sim_unread(), 0, "read on Fanvue");
    // Read now: opening it again costs nothing.
    c.admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(patches(&c.app), 1);
}

#[tokio::test]
async fn reconcile_gives_a_sent_message_and_its_chat_fanvues_time() {
    let Inbox { c, chat, .. } = inbox().await;
    let k = key();
    let r = post_send(
        &c.admin,
        chat,
        &[("idempotency_key", &k), ("text", "what time is it")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let uuid = ledger(&c.app, &k).await.message_uuid.expect("sent");
    // The send is recorded with the local clock, which may run ahead of
    // Fanvue's: make that certain.
    sqlx::query("UPDATE messages SET sent_at = sent_at + interval '3 seconds' WHERE uuid = $1")
        .bind(uuid)
        .execute(&c.app.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE chats SET last_message_at = last_message_at + interval '3 seconds' WHERE id = $1",
    )
    .bind(chat)
    .execute(&c.app.pool)
    .await
    .unwrap();
    c.admin
        .post_form(&format!("/admin/creators/{}/sync/reconcile", c.id), &[])
        .await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let fanvue_ms = {
        let w = c.app.sim().sim().world.read();
        w.messages.iter().find(|m| m.uuid == uuid).unwrap().sent_at
    };
    let (sent_at, last_at, last_uuid): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>, Uuid) =
        sqlx::query_as(
            "SELECT m.sent_at, c.last_message_at, c.last_message_uuid FROM messages m JOIN chats c ON c.id = m.chat_id
             WHERE m.uuid = $1",
        )
        .bind(uuid)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    assert_eq!(last_uuid, uuid);
    assert_eq!(
        sent_at.timestamp_millis(),
        fanvue_ms,
        "the message's time is Fanvue's"
    );
    assert_eq!(
        last_at.timestamp_millis(),
        fanvue_ms,
        "the chat's last-message time is Fanvue's"
    );
}
