//! Inbox collaboration: the send-time collision check (held on a newer fan
//! message, another chatter's send, a send on Fanvue found by reconcile; a
//! real race sends exactly one message; "Send anyway" is recorded; the
//! optional Fanvue read happens only when the setting is on), claims (expiry
//! and renewal by ageing rows, take-over audit, the cap, the "next chat"
//! race, permissions) and presence.

use reqwest::StatusCode;
use switchboard::domain::{CreatorId, StaffId};
use switchboard::sim::world::{MsgType, NewMessage};
use uuid::Uuid;

use crate::helpers::*;

const SEND_ROUTE: &str = "POST /chats/{userUuid}/message";
const READ_ROUTE: &str = "GET /chats/{userUuid}/messages";

fn sim_count(app: &TestApp, route: &str) -> u64 {
    app.sim()
        .stats()
        .by_endpoint
        .get(route)
        .copied()
        .unwrap_or(0)
}

/// A synced creator, one contactable chat, and two chatters (the agency's
/// "chatter" and a second one, "Chloe") assigned to it.
struct Team {
    c: ConnectedCreator,
    chat: Uuid,
    fan: Uuid,
    one: TestClient,
    two: TestClient,
    one_id: StaffId,
    two_id: StaffId,
}

async fn add_chatter(app: &TestApp, like: StaffId, email: &str, name: &str) -> StaffId {
    let id = StaffId::from_uuid(Uuid::now_v7());
    sqlx::query(
        "INSERT INTO staff (id, agency_id, email, display_name, password_hash, role)
         SELECT $1, agency_id, $2, $3, password_hash, 'chatter' FROM staff WHERE id = $4",
    )
    .bind(id)
    .bind(email)
    .bind(name)
    .bind(like)
    .execute(&app.pool)
    .await
    .unwrap();
    id
}

async fn assign(app: &TestApp, creator: CreatorId, staff: StaffId) {
    sqlx::query(
        "INSERT INTO creator_assignments (creator_id, staff_id, agency_id)
         SELECT $1, $2, agency_id FROM staff WHERE id = $2",
    )
    .bind(creator)
    .bind(staff)
    .execute(&app.pool)
    .await
    .unwrap();
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

async fn team() -> Team {
    let c = TestApp::with_connected_creator().await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let (chat, fan) = contactable_chat(&c).await;
    let one_id = c.acme.chatter;
    let two_id = add_chatter(&c.app, one_id, "chloe@acme.test", "Chloe Martin").await;
    assign(&c.app, c.id, one_id).await;
    assign(&c.app, c.id, two_id).await;
    let one = c.app.signed_in(&c.acme.email("chatter")).await;
    let two = c.app.signed_in("chloe@acme.test").await;
    Team {
        c,
        chat,
        fan,
        one,
        two,
        one_id,
        two_id,
    }
}

/// A hidden field of the compose form on a page.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// The compose form as a chatter sees it now: (key, seen).
async fn open(client: &TestClient, chat: Uuid) -> (String, String) {
    let (status, html) = client.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    (field(&html, "idempotency_key"), field(&html, "seen"))
}

async fn send(
    client: &TestClient,
    chat: Uuid,
    key: &str,
    seen: &str,
    text: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields = vec![("idempotency_key", key), ("seen", seen), ("text", text)];
    fields.extend_from_slice(extra);
    client
        .post_form(&format!("/inbox/chats/{chat}/send"), &fields)
        .await
}

async fn ledger_rows(app: &TestApp, chat: Uuid) -> Vec<(String, Option<String>, bool)> {
    sqlx::query_as(
        "SELECT status, body, sent_anyway FROM outbound_sends WHERE chat_id = $1 ORDER BY created_at",
    )
    .bind(chat)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_reply_is_held_when_the_fan_wrote_after_the_chatter_looked() {
    let t = team().await;
    let (key, seen) = open(&t.one, t.chat).await;
    assert!(!seen.is_empty(), "the thread shows messages");
    let seed = MirrorSeed {
        pool: &t.c.app.pool,
        agency: t.c.acme.id,
        creator: t.c.id,
    };
    seed.messages(&[seed_message(
        t.fan,
        false,
        Some("are you there? <b>hi</b>"),
        chrono::Utc::now(),
    )])
    .await;
    let before = sim_count(&t.c.app, SEND_ROUTE);
    let r = send(&t.one, t.chat, &key, &seen, "my reply", &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert_eq!(sim_count(&t.c.app, SEND_ROUTE), before, "nothing sent");
    assert!(html.contains("id=\"compose-arrived\""), "{html}");
    assert!(html.contains("are you there? &#60;b&#62;hi&#60;/b&#62;"));
    assert!(html.contains("The fan"));
    assert!(html.contains(">my reply</textarea>"), "the draft is kept");
    assert!(html.contains("id=\"send-anyway\""));
    assert!(ledger_rows(&t.c.app, t.chat).await.is_empty());
    // The re-rendered form carries the new version: sending it goes out.
    let seen2 = field(&html, "seen");
    assert_ne!(seen2, seen);
    assert_eq!(field(&html, "idempotency_key"), key, "same form, same key");
    let r = send(&t.one, t.chat, &key, &seen2, "my reply", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(sim_count(&t.c.app, SEND_ROUTE), before + 1);
    let rows = ledger_rows(&t.c.app, t.chat).await;
    assert_eq!(
        rows,
        vec![("sent".to_owned(), Some("my reply".to_owned()), false)]
    );
}

#[tokio::test]
async fn send_anyway_goes_out_and_is_recorded_as_such() {
    let t = team().await;
    let (key, seen) = open(&t.one, t.chat).await;
    let (key2, seen2) = open(&t.two, t.chat).await;
    assert_eq!(seen, seen2);
    let r = send(&t.two, t.chat, &key2, &seen2, "Chloe got there first", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Another chatter's send is newer than what this form saw.
    let r = send(&t.one, t.chat, &key, &seen, "my answer", &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("Chloe got there first"), "{html}");
    assert!(html.contains("Chloe Martin"));
    let before = sim_count(&t.c.app, SEND_ROUTE);
    let r = send(
        &t.one,
        t.chat,
        &key,
        &seen,
        "my answer",
        &[("send_anyway", "1")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(sim_count(&t.c.app, SEND_ROUTE), before + 1);
    let rows = ledger_rows(&t.c.app, t.chat).await;
    assert_eq!(
        rows,
        vec![
            (
                "sent".to_owned(),
                Some("Chloe got there first".to_owned()),
                false
            ),
            ("sent".to_owned(), Some("my answer".to_owned()), true),
        ]
    );
    // Own sends never hold one's own next reply.
    let (_, seen3) = open(&t.one, t.chat).await;
    let r = send(
        &t.one,
        t.chat,
        &Uuid::new_v4().to_string(),
        &seen3,
        "one",
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = send(
        &t.one,
        t.chat,
        &Uuid::new_v4().to_string(),
        &seen3,
        "two",
        &[],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "my own message does not hold me"
    );
}

#[tokio::test]
async fn a_send_made_on_fanvue_and_found_by_reconcile_holds_the_reply() {
    let t = team().await;
    let (key, seen) = open(&t.one, t.chat).await;
    // The creator answers in Fanvue's own UI.
    {
        let sim = t.c.app.sim().sim();
        let now = sim.clock.now_ms();
        let mut w = sim.world.write();
        let creator = w.user_id(&t.c.fanvue).unwrap();
        let fan = w.user_id(&t.fan).unwrap();
        let chat = w
            .chats
            .iter()
            .position(|c| c.creator == creator && c.fan == fan)
            .unwrap() as u32;
        w.insert_message(
            chat,
            Uuid::new_v4(),
            NewMessage {
                from_creator: true,
                text: Some("answered on Fanvue".into()),
                sent_at: now,
                kind: MsgType::SingleRecipient,
                price: None,
                sent_by: None,
                media: Vec::new(),
                media_type: None,
            },
        );
    }
    t.c.admin
        .post_form(&format!("/admin/creators/{}/sync/reconcile", t.c.id), &[])
        .await;
    sync_until_idle(&t.c.app.sync_engine(), t.c.id).await;
    let before = sim_count(&t.c.app, SEND_ROUTE);
    let r = send(&t.one, t.chat, &key, &seen, "me too", &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("answered on Fanvue"), "{html}");
    assert!(html.contains("Sent on Fanvue"));
    assert_eq!(sim_count(&t.c.app, SEND_ROUTE), before);
}

#[tokio::test]
async fn two_chatters_sending_at_once_send_exactly_one_message() {
    let t = team().await;
    for round in 0..12 {
        let (k1, s1) = open(&t.one, t.chat).await;
        let (k2, s2) = open(&t.two, t.chat).await;
        let before = sim_count(&t.c.app, SEND_ROUTE);
        let t1 = format!("first {round}");
        let t2 = format!("second {round}");
        let (a, b) = tokio::join!(
            send(&t.one, t.chat, &k1, &s1, &t1, &[]),
            send(&t.two, t.chat, &k2, &s2, &t2, &[]),
        );
        let mut codes = [a.status(), b.status()];
        codes.sort();
        assert_eq!(
            codes,
            [StatusCode::SEE_OTHER, StatusCode::CONFLICT],
            "round {round}: one goes out, the other is held"
        );
        assert_eq!(sim_count(&t.c.app, SEND_ROUTE), before + 1, "round {round}");
    }
}

#[tokio::test]
async fn the_fanvue_read_before_sending_happens_only_when_the_setting_is_on() {
    let t = team().await;
    let (key, seen) = open(&t.one, t.chat).await;
    let reads = sim_count(&t.c.app, READ_ROUTE);
    let r = send(&t.one, t.chat, &key, &seen, "off", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(sim_count(&t.c.app, READ_ROUTE), reads, "no read when off");

    let r =
        t.c.admin
            .post_form(
                "/admin/settings",
                &[
                    ("time_zone", "UTC"),
                    ("platform_fee_percent", "20"),
                    ("tip_window_minutes", "1440"),
                    ("min_ppv_price", "3.00"),
                    ("check_fanvue_before_send", "on"),
                    ("claim_cap", ""),
                ],
            )
            .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A fan message on Fanvue that no webhook or sync brought yet.
    t.c.app
        .sim()
        .fan_says(&t.c.fanvue, &t.fan, "only on Fanvue so far")
        .unwrap();
    let (key, seen) = open(&t.one, t.chat).await;
    let r = send(&t.one, t.chat, &key, &seen, "on", &[]).await;
    assert_eq!(sim_count(&t.c.app, READ_ROUTE), reads + 1, "one extra read");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("only on Fanvue so far"));
    // Send anyway skips the check (and its read).
    let r = send(&t.one, t.chat, &key, &seen, "on", &[("send_anyway", "1")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(sim_count(&t.c.app, READ_ROUTE), reads + 1);
}

// --- claims ---

async fn claim_of(app: &TestApp, chat: Uuid) -> Option<Uuid> {
    sqlx::query_scalar("SELECT staff_id FROM chat_claims WHERE chat_id = $1 AND expires_at > now()")
        .bind(chat)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

async fn age_claim(app: &TestApp, chat: Uuid, minutes: i64) {
    sqlx::query(
        "UPDATE chat_claims SET claimed_at = claimed_at - $2 * interval '1 minute',
            active_at = active_at - $2 * interval '1 minute',
            expires_at = expires_at - $2 * interval '1 minute'
         WHERE chat_id = $1",
    )
    .bind(chat)
    .bind(minutes)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_claim_shows_to_everyone_expires_and_is_renewed_by_typing() {
    let t = team().await;
    let r = t
        .one
        .post_form(&format!("/inbox/chats/{}/claim", t.chat), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(claim_of(&t.c.app, t.chat).await, Some(t.one_id.as_uuid()));
    age_claim(&t.c.app, t.chat, 12).await;
    // Shown to the other chatter on the row and the thread.
    let (_, list) = t.two.get_html("/inbox").await;
    let row = chat_li(&list, t.chat).expect("row");
    assert!(row.contains("Claimed by Acme Chatter · 12 min"), "{row}");
    let (_, page) = t.two.get_html(&format!("/inbox/chats/{}", t.chat)).await;
    assert!(page.contains("Claimed by Acme Chatter · 12 min"));
    assert!(page.contains("id=\"compose-claimed\""));
    assert!(page.contains("id=\"claim-take\""));
    // Someone else's claim refuses a plain claim.
    let r = t
        .two
        .post_form(&format!("/inbox/chats/{}/claim", t.chat), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(claim_of(&t.c.app, t.chat).await, Some(t.one_id.as_uuid()));
    // Typing renews it: 15 minutes from now again.
    let r = t
        .one
        .post_form(
            &format!("/inbox/chats/{}/presence", t.chat),
            &[("tab", "t1"), ("typing", "1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let left: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - now())::float8 FROM chat_claims WHERE chat_id = $1",
    )
    .bind(t.chat)
    .fetch_one(&t.c.app.pool)
    .await
    .unwrap();
    assert!(left > 14.0 * 60.0, "renewed, {left} s left");
    // Sixteen minutes without activity: no claim any more.
    age_claim(&t.c.app, t.chat, 16).await;
    assert_eq!(claim_of(&t.c.app, t.chat).await, None);
    let (_, list) = t.two.get_html("/inbox").await;
    assert!(!chat_li(&list, t.chat).unwrap().contains("Claimed by"));
    // Sending renews too.
    t.one
        .post_form(&format!("/inbox/chats/{}/claim", t.chat), &[])
        .await;
    age_claim(&t.c.app, t.chat, 10).await;
    let (key, seen) = open(&t.one, t.chat).await;
    let r = send(&t.one, t.chat, &key, &seen, "still here", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    age_claim(&t.c.app, t.chat, 10).await;
    assert_eq!(
        claim_of(&t.c.app, t.chat).await,
        Some(t.one_id.as_uuid()),
        "the send renewed the claim"
    );
}

#[tokio::test]
async fn a_take_over_is_audited_and_the_mine_and_unclaimed_tabs_follow() {
    let t = team().await;
    t.one
        .post_form(&format!("/inbox/chats/{}/claim", t.chat), &[])
        .await;
    let (_, mine) = t.one.get_html("/inbox?tab=mine").await;
    assert_eq!(chat_ids(&mine), vec![t.chat]);
    let (_, mine2) = t.two.get_html("/inbox?tab=mine").await;
    assert!(chat_ids(&mine2).is_empty());
    assert!(mine.contains("data-count=\"mine\">1<"), "count of Mine");

    let r = t
        .two
        .post_form(&format!("/inbox/chats/{}/claim/take", t.chat), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(claim_of(&t.c.app, t.chat).await, Some(t.two_id.as_uuid()));
    t.c.app
        .assert_audited(t.c.acme.id, "claim.taken_over")
        .await;
    let detail: serde_json::Value =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'claim.taken_over'")
            .fetch_one(&t.c.app.pool)
            .await
            .unwrap();
    assert_eq!(detail["from"], serde_json::json!(t.one_id.as_uuid()));
    // The previous owner's page shows the new owner.
    let (_, page) = t
        .one
        .get_html(&format!("/inbox/chats/{}/people", t.chat))
        .await;
    assert!(page.contains("Claimed by Chloe Martin"), "{page}");

    // Unclaimed: awaiting chats nobody holds.
    sqlx::query("UPDATE chats SET awaiting_reply = true WHERE id = $1")
        .bind(t.chat)
        .execute(&t.c.app.pool)
        .await
        .unwrap();
    let (_, un) = t.one.get_html("/inbox?tab=unclaimed").await;
    assert!(!chat_ids(&un).contains(&t.chat));
    let r = t
        .two
        .post_form(&format!("/inbox/chats/{}/claim/release", t.chat), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    t.c.app.assert_audited(t.c.acme.id, "claim.released").await;
    let (_, un) = t.one.get_html("/inbox?tab=unclaimed").await;
    assert!(chat_ids(&un).contains(&t.chat));
}

#[tokio::test]
async fn managers_see_and_reassign_claims_and_chatters_may_not() {
    let t = team().await;
    t.one
        .post_form(&format!("/inbox/chats/{}/claim", t.chat), &[])
        .await;
    let manager = t.c.app.signed_in(&t.c.acme.email("manager")).await;
    let (status, page) = manager.get_html("/inbox/claims").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("id=\"claim-{}\"", t.chat)));
    assert!(page.contains("Claimed by Acme Chatter"));
    let r = t.one.get("/inbox/claims").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let two = t.two_id.as_uuid().to_string();
    let r = t
        .one
        .post_form(
            &format!("/inbox/chats/{}/claim/assign", t.chat),
            &[("staff_id", &two)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = manager
        .post_form(
            &format!("/inbox/chats/{}/claim/assign", t.chat),
            &[("staff_id", &two)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(claim_of(&t.c.app, t.chat).await, Some(t.two_id.as_uuid()));
    t.c.app
        .assert_audited(t.c.acme.id, "claim.reassigned")
        .await;
    // Not to someone of another agency.
    let globex = t.c.app.agency("Globex").await;
    let stranger = globex.chatter.as_uuid().to_string();
    let r = manager
        .post_form(
            &format!("/inbox/chats/{}/claim/assign", t.chat),
            &[("staff_id", &stranger)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(claim_of(&t.c.app, t.chat).await, Some(t.two_id.as_uuid()));
}

#[tokio::test]
async fn claims_of_other_agencies_and_unassigned_creators_are_404() {
    let t = team().await;
    let globex = t.c.app.agency("Globex").await;
    let outsider = t.c.app.signed_in(&globex.email("owner")).await;
    // A chatter of Acme who is not assigned to this creator.
    let third = add_chatter(&t.c.app, t.one_id, "third@acme.test", "Third").await;
    let _ = third;
    let unassigned = t.c.app.signed_in("third@acme.test").await;
    for who in [&outsider, &unassigned] {
        for path in ["claim", "claim/take", "claim/release", "presence"] {
            let r = who
                .post_form(&format!("/inbox/chats/{}/{path}", t.chat), &[("tab", "t1")])
                .await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let r = who.get(&format!("/inbox/chats/{}/people", t.chat)).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(claim_of(&t.c.app, t.chat).await, None);
}

/// Chats of the creator made to wait for a reply, the first fan message
/// of chat i `i` minutes later than the one before (so chat 0 waited longest).
async fn waiting_chats(t: &Team, n: usize) -> Vec<Uuid> {
    let seed = MirrorSeed {
        pool: &t.c.app.pool,
        agency: t.c.acme.id,
        creator: t.c.id,
    };
    let mut out = Vec::new();
    let start = chrono::Utc::now() - chrono::Duration::hours(5);
    for i in 0..n {
        let fan = Uuid::new_v4();
        let chat = seed.chat(fan_chat(fan, &format!("Waiting {i}"))).await;
        let at = start + chrono::Duration::minutes(i as i64);
        seed.messages(&[
            seed_message(fan, true, Some("hello"), at - chrono::Duration::minutes(1)),
            seed_message(fan, false, Some("first"), at),
            seed_message(fan, false, Some("second"), at + chrono::Duration::hours(4)),
        ])
        .await;
        out.push(chat);
    }
    // Everything else answered: only these wait.
    sqlx::query("UPDATE chats SET awaiting_reply = (id = ANY($1)) WHERE creator_id = $2")
        .bind(&out)
        .bind(t.c.id)
        .execute(&t.c.app.pool)
        .await
        .unwrap();
    out
}

#[tokio::test]
async fn next_chat_claims_the_longest_waiting_and_two_at_once_get_different_chats() {
    let t = team().await;
    let waiting = waiting_chats(&t, 3).await;
    let r = t.one.post_form("/inbox/next", &[]).await;
    assert_eq!(location(&r), format!("/inbox/chats/{}", waiting[0]));
    assert_eq!(
        claim_of(&t.c.app, waiting[0]).await,
        Some(t.one_id.as_uuid())
    );
    sqlx::query("DELETE FROM chat_claims")
        .execute(&t.c.app.pool)
        .await
        .unwrap();
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            t.one.post_form("/inbox/next", &[]),
            t.two.post_form("/inbox/next", &[]),
        );
        let (la, lb) = (location(&a), location(&b));
        assert_ne!(la, lb, "two chatters at once get different chats");
        assert!(la.starts_with("/inbox/chats/") && lb.starts_with("/inbox/chats/"));
        sqlx::query("DELETE FROM chat_claims")
            .execute(&t.c.app.pool)
            .await
            .unwrap();
    }
    // Nothing unclaimed left: back to the Unclaimed tab.
    for c in &waiting {
        t.two
            .post_form(&format!("/inbox/chats/{c}/claim"), &[])
            .await;
    }
    let r = t.one.post_form("/inbox/next", &[]).await;
    assert_eq!(location(&r), "/inbox?tab=unclaimed");
}

#[tokio::test]
async fn the_claim_cap_stops_a_chatter_at_the_agencys_limit() {
    let t = team().await;
    let waiting = waiting_chats(&t, 3).await;
    sqlx::query("UPDATE agencies SET claim_cap = 2 WHERE id = $1")
        .bind(t.c.acme.id)
        .execute(&t.c.app.pool)
        .await
        .unwrap();
    for _ in 0..2 {
        let r = t.one.post_form("/inbox/next", &[]).await;
        assert!(location(&r).starts_with("/inbox/chats/"));
    }
    let r = t
        .one
        .post_form(&format!("/inbox/chats/{}/claim", waiting[2]), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = t.one.get_html(&location(&r)).await;
    assert!(page.contains("You already hold 2 claimed chats"), "{page}");
    assert_eq!(claim_of(&t.c.app, waiting[2]).await, None);
    let r = t.one.post_form("/inbox/next", &[]).await;
    assert_eq!(location(&r), "/inbox?tab=unclaimed");
    assert_eq!(claim_of(&t.c.app, waiting[2]).await, None);
    // Another chatter is not capped by it.
    let r = t.two.post_form("/inbox/next", &[]).await;
    assert_eq!(location(&r), format!("/inbox/chats/{}", waiting[2]));
}

// --- presence ---

#[tokio::test]
async fn presence_shows_viewers_and_typing_to_others_and_expires() {
    let t = team().await;
    let chat = t.chat;
    async fn beat_at(who: &TestClient, chat: Uuid, fields: Vec<(&str, &str)>) -> StatusCode {
        who.post_form(&format!("/inbox/chats/{chat}/presence"), &fields)
            .await
            .status()
    }
    let beat = |who, fields| beat_at(who, chat, fields);
    assert_eq!(
        beat(&t.one, vec![("tab", "a1")]).await,
        StatusCode::NO_CONTENT
    );
    let (_, people) = t
        .two
        .get_html(&format!("/inbox/chats/{}/people", t.chat))
        .await;
    assert!(
        people.contains("title=\"Acme Chatter is viewing\""),
        "{people}"
    );
    assert!(people.contains(">AC<"));
    // Nobody sees themselves.
    let (_, own) = t
        .one
        .get_html(&format!("/inbox/chats/{}/people", t.chat))
        .await;
    assert!(!own.contains("Acme Chatter is"));
    beat(&t.one, vec![("tab", "a1"), ("typing", "1")]).await;
    let (_, people) = t
        .two
        .get_html(&format!("/inbox/chats/{}/people", t.chat))
        .await;
    assert!(people.contains("Acme Chatter is typing"));
    let (_, list) = t.two.get_html("/inbox").await;
    assert!(
        chat_li(&list, t.chat)
            .unwrap()
            .contains("Acme Chatter is typing")
    );
    beat(&t.one, vec![("tab", "a1"), ("typing", "0"), ("idle", "1")]).await;
    let (_, people) = t
        .two
        .get_html(&format!("/inbox/chats/{}/people", t.chat))
        .await;
    assert!(people.contains("Acme Chatter is idle"));
    // 31 s without a heartbeat: gone.
    sqlx::query("UPDATE chat_presence SET seen_at = now() - interval '31 seconds'")
        .execute(&t.c.app.pool)
        .await
        .unwrap();
    let (_, people) = t
        .two
        .get_html(&format!("/inbox/chats/{}/people", t.chat))
        .await;
    assert!(!people.contains("Acme Chatter is"));
    // Leaving removes the row at once.
    beat(&t.one, vec![("tab", "a2")]).await;
    beat(&t.one, vec![("tab", "a2"), ("leave", "1")]).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_presence WHERE tab_id = 'a2'")
        .fetch_one(&t.c.app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    // A bad tab id is refused.
    assert_eq!(
        beat(&t.one, vec![("tab", "<x>")]).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn presence_events_reach_only_streams_that_may_see_the_creator() {
    let t = team().await;
    let before: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM live_events")
        .fetch_one(&t.c.app.pool)
        .await
        .unwrap();
    t.one
        .post_form(
            &format!("/inbox/chats/{}/presence", t.chat),
            &[("tab", "z")],
        )
        .await;
    // A repeated heartbeat publishes nothing new.
    t.one
        .post_form(
            &format!("/inbox/chats/{}/presence", t.chat),
            &[("tab", "z")],
        )
        .await;
    let kinds: Vec<(String, Option<Uuid>)> =
        sqlx::query_as("SELECT kind, creator_id FROM live_events WHERE id > $1 ORDER BY id")
            .bind(before)
            .fetch_all(&t.c.app.pool)
            .await
            .unwrap();
    assert_eq!(kinds, vec![("presence".to_owned(), Some(t.c.id.as_uuid()))]);
    // The stream filter carries events by creator: see `live` tests for
    // the access filter; a presence event names the creator like any other.
    let _ = t.two_id;
}
