//! The sales ledger through the real write paths (backfill and reconcile
//! against the simulator, signed webhooks, inbox sends through the send
//! ledger): one sale per purchase and per tip whatever saw it and in which
//! order, each basis, re-credit on a mapping or tip-window change, manual
//! reassignment (audited, reversible, kept over recomputation), the
//! unmapped team-member page, and tenancy.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::json;
use switchboard::domain::{AgencyId, CreatorId, SaleId};
use switchboard::store::sales::EarningsLine;
use switchboard::webhooks::{process, signature};
use switchboard::{domain, store};
use uuid::Uuid;

use crate::helpers::*;

/// A creator of a bigger simulated world, backfilled: enough purchased
/// PPVs by the creator, by team members and as mass messages.
async fn backfilled() -> ConnectedCreator {
    let c = TestApp::with_connected_creator_in(
        |s| {
            s.scenario.creators = 2;
            s.scenario.fans_per_creator = 12;
            s.scenario.messages_per_chat = 30;
            s.scenario.uncontactable_share = 0.0;
        },
        |_| {},
    )
    .await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    c
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct SaleRow {
    id: Uuid,
    kind: String,
    message_uuid: Option<Uuid>,
    tip_message_uuid: Option<Uuid>,
    gross_cents: i64,
    net_cents: i64,
    net_estimated: bool,
    occurred_at: chrono::DateTime<chrono::Utc>,
    basis: String,
    auto_basis: String,
    credited_staff_id: Option<Uuid>,
    team_member_uuid: Option<String>,
}

async fn sales(app: &TestApp, creator: CreatorId) -> Vec<SaleRow> {
    sqlx::query_as(
        "SELECT id, kind, message_uuid, tip_message_uuid, gross_cents, net_cents, net_estimated, occurred_at,
                basis, auto_basis, credited_staff_id, team_member_uuid
         FROM sales WHERE creator_id = $1 ORDER BY occurred_at, id",
    )
    .bind(creator)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn sale_of(app: &TestApp, creator: CreatorId, message: Uuid) -> Vec<SaleRow> {
    sales(app, creator)
        .await
        .into_iter()
        .filter(|s| s.message_uuid == Some(message) && s.kind == "ppv")
        .collect()
}

/// The simulator's purchases of one creator, with the purchased message's
/// type: (message, price, sentByUserId, type).
fn truth_purchases(c: &ConnectedCreator) -> Vec<(Uuid, i64, Option<String>, String)> {
    let truth = c.app.sim().truth();
    let mut kinds = BTreeMap::new();
    for cr in truth["creators"].as_array().unwrap() {
        for chat in cr["chats"].as_array().unwrap() {
            for m in chat["messages"].as_array().unwrap() {
                kinds.insert(
                    m["uuid"].as_str().unwrap().to_owned(),
                    m["type"].as_str().unwrap_or_default().to_owned(),
                );
            }
        }
    }
    truth["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["creatorUuid"].as_str() == Some(&c.fanvue.to_string()))
        .map(|p| {
            let uuid = p["messageUuid"].as_str().unwrap().to_owned();
            (
                uuid.parse().unwrap(),
                p["price"].as_i64().unwrap(),
                p["sentByUserId"].as_str().map(str::to_owned),
                kinds.get(&uuid).cloned().unwrap_or_default(),
            )
        })
        .collect()
}

fn secret(app: &TestApp) -> secrecy::SecretString {
    app.settings.webhooks.secret.clone().expect("secret")
}

/// Delivers a signed webhook through the real intake.
async fn webhook(app: &TestApp, path: &str, body: &serde_json::Value) {
    let raw = serde_json::to_vec(body).unwrap();
    let sig = signature::sign(&secret(app), chrono::Utc::now().timestamp(), &raw);
    let r = reqwest::Client::new()
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .header("x-fanvue-signature", sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
}

async fn drain(app: &TestApp) {
    process::drain(&app.pool, &app.settings.webhooks)
        .await
        .unwrap();
}

fn purchase_body(
    creator: Uuid,
    fan: Uuid,
    message: Uuid,
    price: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    json!({"routeUuid": message, "price": price, "recipientUuid": creator,
           "sender": {"uuid": fan, "handle": "fan", "displayName": "Fan"}, "timestamp": at})
}

/// An outbound PPV of the creator not bought yet, and its fan.
async fn open_ppv(c: &ConnectedCreator) -> (Uuid, Uuid, i64) {
    sqlx::query_as(
        "SELECT m.uuid, ch.fan_uuid, m.price_cents FROM messages m JOIN chats ch ON ch.id = m.chat_id
         WHERE m.creator_id = $1 AND m.direction = 'out' AND m.price_cents IS NOT NULL
           AND m.purchased_at IS NULL AND m.deleted_at IS NULL AND m.kind <> 'BROADCAST'
         ORDER BY m.sent_at DESC, m.uuid LIMIT 1",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .expect("an open PPV")
}

async fn map_team_member(
    c: &ConnectedCreator,
    tm: &str,
    staff: domain::StaffId,
) -> reqwest::Response {
    c.admin
        .post_form(
            "/admin/team-members/map",
            &[("team_member_uuid", tm), ("staff_id", &staff.to_string())],
        )
        .await
}

#[tokio::test]
async fn backfilled_purchases_are_one_sale_each_credited_by_their_sender_and_mapping_re_credits_them()
 {
    let c = backfilled().await;
    let truth = truth_purchases(&c);
    assert!(
        truth.len() >= 5,
        "the scenario has purchases: {}",
        truth.len()
    );
    let sales = sales(&c.app, c.id).await;
    assert_eq!(sales.len(), truth.len(), "one sale per purchase");

    // Each basis as the PPV rules say, amount to the cent.
    let by_message: BTreeMap<Uuid, &SaleRow> =
        sales.iter().map(|s| (s.message_uuid.unwrap(), s)).collect();
    let mut per_member: BTreeMap<String, i64> = BTreeMap::new();
    for (uuid, price, sent_by, kind) in &truth {
        let s = by_message.get(uuid).expect("a sale for every purchase");
        assert_eq!(s.gross_cents, *price);
        assert!(s.net_estimated);
        assert_eq!(
            s.net_cents,
            price - (price * 20 + 50) / 100,
            "20 % fee by default"
        );
        let expected = if kind == "BROADCAST" {
            "mass_message"
        } else if sent_by.is_none() {
            "creator_direct"
        } else {
            "unmapped_team_member"
        };
        assert_eq!(s.basis, expected, "{uuid} ({kind}, {sent_by:?})");
        assert_eq!(s.credited_staff_id, None);
        if expected == "unmapped_team_member" {
            *per_member.entry(sent_by.clone().unwrap()).or_default() += price;
        }
    }
    let (member, member_revenue) = per_member
        .iter()
        .max_by_key(|(_, v)| **v)
        .map(|(k, v)| (k.clone(), *v))
        .expect("a team member sold something");

    // The unmapped page shows the team member with its revenue.
    let (status, html) = c.admin.get_html("/admin/team-members").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&member), "listed: {member}");
    assert!(
        html.contains(&domain::Cents::new(member_revenue).to_string()),
        "with its revenue"
    );

    // One click maps it; past sales move to the staff member, to the cent.
    let r = map_team_member(&c, &member, c.acme.chatter).await;
    assert_redirects_to(&r, "/admin/team-members");
    c.app
        .assert_audited(c.acme.id, "staff.fanvue_uuid_changed")
        .await;
    let credited: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(gross_cents), 0)::int8 FROM sales
         WHERE creator_id = $1 AND credited_staff_id = $2 AND basis = 'sent_by_user_id'",
    )
    .bind(c.id)
    .bind(c.acme.chatter)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(credited, member_revenue);
    // (The first view shows the success flash, which names the uuid.)
    c.admin.get_html("/admin/team-members").await;
    let (_, html) = c.admin.get_html("/admin/team-members").await;
    assert!(!html.contains(&member), "no longer unmapped");

    // Unmapping on the staff page credits them back to "unmapped".
    let r = c
        .admin
        .post_form(
            &format!("/admin/staff/{}/fanvue-uuid", c.acme.chatter),
            &[("fanvue_user_uuid", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let still: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sales WHERE creator_id = $1 AND credited_staff_id IS NOT NULL",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(still, 0);
}

#[tokio::test]
async fn a_purchase_seen_by_duplicated_reordered_webhooks_and_by_reconcile_is_one_sale() {
    let c = backfilled().await;
    let (ppv, fan, price) = open_ppv(&c).await;
    // The fan buys with no webhook registered (a lost delivery).
    c.app.sim().fan_buys(&ppv).unwrap();
    let bought_at = c.app.sim().now();

    // Replays of the purchase arrive, one with another timestamp (a
    // different natural key: a second purchase event for the same message).
    let body = purchase_body(c.fanvue, fan, ppv, price, bought_at);
    webhook(&c.app, "/webhooks/fanvue/purchase", &body).await;
    webhook(&c.app, "/webhooks/fanvue/purchase", &body).await;
    let later = purchase_body(
        c.fanvue,
        fan,
        ppv,
        price,
        bought_at + chrono::Duration::seconds(3),
    );
    webhook(&c.app, "/webhooks/fanvue/purchase", &later).await;
    drain(&c.app).await;
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM purchase_events WHERE message_uuid = $1")
            .bind(ppv)
            .fetch_one(&c.app.pool)
            .await
            .unwrap();
    assert_eq!(events, 2, "two distinct purchase events reached the mirror");
    let one = sale_of(&c.app, c.id, ppv).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].gross_cents, price);

    // Reconcile's purchase refresh sees purchasedAt too: still one sale.
    // (The scenario's history is older than the default purchase horizon.)
    let engine = c
        .app
        .sync_engine_with(|s| s.purchase_horizon_hours = 24 * 3650);
    c.app.expire_sync_lease(c.id).await;
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now() WHERE creator_id = $1")
        .bind(c.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    sync_until_idle(&engine, c.id).await;
    let after = sale_of(&c.app, c.id, ppv).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, one[0].id, "the same sale");

    // The other order: a purchase reconcile finds first, its webhook later.
    let (ppv2, fan2, price2) = open_ppv(&c).await;
    c.app.sim().fan_buys(&ppv2).unwrap();
    let at2 = c.app.sim().now();
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now() WHERE creator_id = $1")
        .bind(c.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    sync_until_idle(&engine, c.id).await;
    let first = sale_of(&c.app, c.id, ppv2).await;
    assert_eq!(first.len(), 1, "reconcile made the sale");
    webhook(
        &c.app,
        "/webhooks/fanvue/purchase",
        &purchase_body(c.fanvue, fan2, ppv2, price2, at2),
    )
    .await;
    drain(&c.app).await;
    let second = sale_of(&c.app, c.id, ppv2).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, first[0].id);
    // The purchase time, not the send time.
    let sent_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT sent_at FROM messages WHERE creator_id = $1 AND uuid = $2")
            .bind(c.id)
            .bind(ppv2)
            .fetch_one(&c.app.pool)
            .await
            .unwrap();
    assert!(second[0].occurred_at > sent_at);
    assert!((second[0].occurred_at - at2).num_seconds().abs() <= 1);
}

#[tokio::test]
async fn a_purchase_before_its_message_is_a_sale_credited_once_the_message_is_mirrored() {
    let c = backfilled().await;
    let (ppv, fan, price) = open_ppv(&c).await;
    // The mirror forgets the message (as if it had not been synced yet).
    sqlx::query("DELETE FROM messages WHERE creator_id = $1 AND uuid = $2")
        .bind(c.id)
        .bind(ppv)
        .execute(&c.app.pool)
        .await
        .unwrap();
    c.app.sim().fan_buys(&ppv).unwrap();
    webhook(
        &c.app,
        "/webhooks/fanvue/purchase",
        &purchase_body(c.fanvue, fan, ppv, price, c.app.sim().now()),
    )
    .await;
    drain(&c.app).await;
    let s = sale_of(&c.app, c.id, ppv).await;
    assert_eq!(s.len(), 1, "revenue does not wait for the message");
    assert_eq!(s[0].basis, "unattributed");

    // The message comes back with the next backfill-style read.
    sqlx::query("UPDATE sync_state SET backfill_done_at = NULL, next_reconcile_at = now() WHERE creator_id = $1")
        .bind(c.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let s = sale_of(&c.app, c.id, ppv).await;
    assert_eq!(s.len(), 1);
    assert_ne!(s[0].basis, "unattributed", "credited by its sender now");
}

/// Two instances at once: one mirrors a bought PPV (and so makes its sale,
/// credited by its sender) while the other applies the purchase webhook,
/// whose statement began before the message was committed and then waited
/// for that sale's row. The waiting write must not put back "not mirrored
/// yet" over the sender's credit.
#[tokio::test]
async fn a_purchase_applied_while_another_transaction_mirrors_its_message_keeps_the_senders_credit()
{
    let c = backfilled().await;
    let pool = &c.app.pool;
    let (ppv, fan, price) = open_ppv(&c).await;
    let agency: Uuid = sqlx::query_scalar("SELECT agency_id FROM creators WHERE id = $1")
        .bind(c.id)
        .fetch_one(pool)
        .await
        .unwrap();
    // Keep the message aside, bought, and take it out of the mirror.
    sqlx::query("CREATE TABLE race_copy (LIKE messages)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO race_copy SELECT * FROM messages WHERE creator_id = $1 AND uuid = $2")
        .bind(c.id)
        .bind(ppv)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE race_copy SET purchased_at = now() - interval '1 minute'")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM messages WHERE creator_id = $1 AND uuid = $2")
        .bind(c.id)
        .bind(ppv)
        .execute(pool)
        .await
        .unwrap();

    // Instance A mirrors it (its sale is made, uncommitted).
    let mut a = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO messages SELECT * FROM race_copy")
        .execute(&mut *a)
        .await
        .unwrap();
    // Instance B applies the purchase; its sale insert waits for A's row.
    let mut b = pool.begin().await.unwrap();
    let b_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *b)
        .await
        .unwrap();
    let creator = c.id;
    let applying = tokio::spawn(async move {
        sqlx::query(
            "INSERT INTO purchase_events (agency_id, creator_id, message_uuid, fan_uuid, price_cents,
                 purchased_at, dedupe_key)
             VALUES ($1, $2, $3, $4, $5, now() - interval '1 minute', 'race-purchase')",
        )
        .bind(agency)
        .bind(creator)
        .bind(ppv)
        .bind(fan)
        .bind(price)
        .execute(&mut *b)
        .await
        .unwrap();
        b.commit().await.unwrap();
    });
    assert!(
        waits_on_a_lock(pool, b_pid).await,
        "the purchase's sale insert waits for the mirrored message's sale"
    );
    a.commit().await.unwrap();
    applying.await.unwrap();

    let s = sale_of(&c.app, c.id, ppv).await;
    assert_eq!(s.len(), 1, "one sale");
    let now: String = sqlx::query_scalar("SELECT (sale_credit_of($1, $2, $3)).basis")
        .bind(agency)
        .bind(c.id)
        .bind(ppv)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_ne!(now, "unattributed", "the message is mirrored");
    assert_eq!(
        s[0].auto_basis, now,
        "credited by its sender, not as not mirrored"
    );
}

/// A PPV (or text when `price` is None) sent through Switchboard's inbox by
/// the admin; returns the Fanvue message uuid.
async fn send_through_inbox(c: &ConnectedCreator, chat: Uuid, price: Option<&str>) -> Uuid {
    let key = Uuid::new_v4().to_string();
    let media = creator_media(c).to_string();
    let mut fields = vec![
        ("idempotency_key", key.as_str()),
        ("text", "from Switchboard"),
    ];
    if let Some(p) = price {
        fields.push(("price", p));
        fields.push(("media", &media));
    }
    let r = c
        .admin
        .post_form(&format!("/inbox/chats/{chat}/send"), &fields)
        .await;
    let status = r.status();
    assert_eq!(status, StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    sqlx::query_scalar(
        "SELECT message_uuid FROM outbound_sends WHERE idempotency_key = $1 AND status = 'sent'",
    )
    .bind(&key)
    .fetch_one(&c.app.pool)
    .await
    .expect("sent")
}

/// A media uuid the simulated creator has (a PPV needs media).
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

async fn a_chat(c: &ConnectedCreator) -> (Uuid, Uuid) {
    sqlx::query_as("SELECT id, fan_uuid FROM chats WHERE creator_id = $1 ORDER BY last_message_at DESC, id LIMIT 1")
        .bind(c.id)
        .fetch_one(&c.app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_ppv_sent_through_the_ledger_is_credited_to_its_sender() {
    let c = backfilled().await;
    let (chat, fan) = a_chat(&c).await;
    let ppv = send_through_inbox(&c, chat, Some("9.99")).await;
    c.app.sim().fan_buys(&ppv).unwrap();
    webhook(
        &c.app,
        "/webhooks/fanvue/purchase",
        &purchase_body(c.fanvue, fan, ppv, 999, c.app.sim().now()),
    )
    .await;
    drain(&c.app).await;
    let s = sale_of(&c.app, c.id, ppv).await;
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].basis, "ledger");
    assert_eq!(s[0].credited_staff_id, Some(c.acme.admin.as_uuid()));
    assert_eq!(s[0].gross_cents, 999);
}

fn tip_body(
    creator: Uuid,
    fan: Uuid,
    cents: i64,
    at: chrono::DateTime<chrono::Utc>,
    on: Option<Uuid>,
) -> serde_json::Value {
    match on {
        Some(m) => {
            json!({"context": "message", "messageUuid": m, "senderUuid": fan, "price": cents,
                          "recipientUuid": creator, "timestamp": at})
        }
        None => {
            json!({"context": "post", "postUuid": Uuid::new_v4(), "senderUuid": fan, "price": cents,
                       "recipientUuid": creator, "timestamp": at})
        }
    }
}

async fn tip_sales(app: &TestApp, creator: CreatorId) -> Vec<SaleRow> {
    sales(app, creator)
        .await
        .into_iter()
        .filter(|s| s.kind == "tip")
        .collect()
}

#[tokio::test]
async fn a_tip_message_and_its_tip_webhook_are_one_sale_credited_by_the_window_rule() {
    let c = backfilled().await;
    let (chat, fan) = a_chat(&c).await;
    // A human reply through Switchboard, then the fan tips (not on a message).
    send_through_inbox(&c, chat, None).await;
    let tip_message = c.app.sim().fan_tips(&c.fanvue, &fan, 700, None).unwrap();
    let at = c.app.sim().now();
    let body = tip_body(c.fanvue, fan, 700, at, None);
    webhook(&c.app, "/webhooks/fanvue/tip", &body).await;
    webhook(&c.app, "/webhooks/fanvue/tip", &body).await;
    drain(&c.app).await;
    // The tip asked for a reconcile, which mirrors the TIP message; the
    // earnings walk then sees its line (and makes the scenario's older tips
    // sales too: only this one is looked at).
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let this_tip = || async {
        tip_sales(&c.app, c.id)
            .await
            .into_iter()
            .filter(|s| s.gross_cents == 700 && (s.occurred_at - at).num_seconds().abs() <= 120)
            .collect::<Vec<_>>()
    };
    let tips = this_tip().await;
    assert_eq!(tips.len(), 1, "TIP message + tip webhook = one sale");
    assert_eq!(tips[0].tip_message_uuid, Some(tip_message));
    assert_eq!(tips[0].gross_cents, 700);
    assert_eq!(tips[0].basis, "window_rule");
    assert_eq!(tips[0].credited_staff_id, Some(c.acme.admin.as_uuid()));

    // A window shorter than the gap leaves it unattributed; widening it
    // credits it again (the tip window is an agency setting).
    sqlx::query("UPDATE messages SET sent_at = sent_at - interval '2 hours' WHERE chat_id = $1 AND direction = 'out'")
        .bind(chat)
        .execute(&c.app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE agencies SET tip_window_minutes = 60 WHERE id = $1")
        .bind(c.acme.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    let tips = this_tip().await;
    assert_eq!(tips[0].basis, "unattributed");
    assert_eq!(tips[0].credited_staff_id, None);
    sqlx::query("UPDATE agencies SET tip_window_minutes = 1440 WHERE id = $1")
        .bind(c.acme.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    let tips = this_tip().await;
    assert_eq!(tips[0].basis, "window_rule");
    assert_eq!(tips.len(), 1);
}

#[tokio::test]
async fn a_tip_on_a_message_is_credited_to_that_messages_sender() {
    let c = backfilled().await;
    let (chat, fan) = a_chat(&c).await;
    let sent = send_through_inbox(&c, chat, None).await;
    // The tip webhook arrives before the reconcile mirrors the TIP message.
    let at = chrono::Utc::now();
    webhook(
        &c.app,
        "/webhooks/fanvue/tip",
        &tip_body(c.fanvue, fan, 1234, at, Some(sent)),
    )
    .await;
    drain(&c.app).await;
    let tips = tip_sales(&c.app, c.id).await;
    assert_eq!(tips.len(), 1);
    assert_eq!(tips[0].basis, "tipped_message");
    assert_eq!(tips[0].credited_staff_id, Some(c.acme.admin.as_uuid()));
    assert_eq!(tips[0].message_uuid, Some(sent));
}

async fn manager(c: &ConnectedCreator) -> TestClient {
    c.app.signed_in(&c.acme.email("manager")).await
}

async fn a_sale(c: &ConnectedCreator) -> SaleRow {
    sales(&c.app, c.id)
        .await
        .into_iter()
        .find(|s| s.basis == "unmapped_team_member")
        .expect("an unmapped team member's sale")
}

#[tokio::test]
async fn a_manager_reassigns_a_sale_audited_kept_over_recomputation_and_reversible() {
    let c = backfilled().await;
    let sale = a_sale(&c).await;
    let boss = manager(&c).await;
    let path = format!("/sales/{}/reassign", sale.id);

    // A reason is required.
    let r = boss
        .post_form(
            &path,
            &[("staff_id", &c.acme.manager.to_string()), ("reason", " ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A chatter may not reassign.
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;
    let r = chatter
        .post_form(
            &path,
            &[
                ("staff_id", &c.acme.chatter.to_string()),
                ("reason", "mine"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        chatter.get(&format!("/sales/{}", sale.id)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(c.app.audited_count(c.acme.id, "sale.reassigned").await, 0);

    let r = boss
        .post_form(
            &path,
            &[
                ("staff_id", &c.acme.manager.to_string()),
                ("reason", "covered the shift"),
            ],
        )
        .await;
    assert_redirects_to(&r, &format!("/sales/{}", sale.id));
    c.app.assert_audited(c.acme.id, "sale.reassigned").await;
    let now = sales(&c.app, c.id)
        .await
        .into_iter()
        .find(|s| s.id == sale.id)
        .unwrap();
    assert_eq!(now.basis, "manual");
    assert_eq!(
        now.auto_basis, "unmapped_team_member",
        "the original basis is kept"
    );
    assert_eq!(now.credited_staff_id, Some(c.acme.manager.as_uuid()));
    let (_, html) = boss.get_html(&format!("/sales/{}", sale.id)).await;
    assert!(html.contains("covered the shift"));
    assert!(
        html.contains("Unmapped team member"),
        "shown beside the original basis"
    );

    // Mapping the team member re-credits the computed basis, not the manual one.
    let tm = now.team_member_uuid.clone().unwrap();
    map_team_member(&c, &tm, c.acme.chatter).await;
    let now = sales(&c.app, c.id)
        .await
        .into_iter()
        .find(|s| s.id == sale.id)
        .unwrap();
    assert_eq!(now.auto_basis, "sent_by_user_id");
    assert_eq!(now.basis, "manual");
    assert_eq!(now.credited_staff_id, Some(c.acme.manager.as_uuid()));
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sales WHERE creator_id = $1 AND team_member_uuid = $2 AND id <> $3
           AND (basis <> 'sent_by_user_id' OR credited_staff_id IS DISTINCT FROM $4)",
    )
    .bind(c.id)
    .bind(&tm)
    .bind(sale.id)
    .bind(c.acme.chatter)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(others, 0, "every other sale of that member moved");

    // Revert: back to the computed credit (as it is now), audited.
    let r = boss
        .post_form(
            &format!("/sales/{}/revert", sale.id),
            &[("reason", "mistake")],
        )
        .await;
    assert_redirects_to(&r, &format!("/sales/{}", sale.id));
    c.app
        .assert_audited(c.acme.id, "sale.reassignment_reverted")
        .await;
    let now = sales(&c.app, c.id)
        .await
        .into_iter()
        .find(|s| s.id == sale.id)
        .unwrap();
    assert_eq!(now.basis, "sent_by_user_id");
    assert_eq!(now.credited_staff_id, Some(c.acme.chatter.as_uuid()));
    // The history keeps both entries; it is append-only.
    let entries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sale_reassignments WHERE sale_id = $1")
            .bind(sale.id)
            .fetch_one(&c.app.pool)
            .await
            .unwrap();
    assert_eq!(entries, 2);
    assert!(
        sqlx::query("UPDATE sale_reassignments SET reason = 'x' WHERE sale_id = $1")
            .bind(sale.id)
            .execute(&c.app.pool)
            .await
            .is_err()
    );
    // Nothing left to revert.
    let r = boss
        .post_form(
            &format!("/sales/{}/revert", sale.id),
            &[("reason", "again")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn another_agencys_sale_and_staff_are_not_found() {
    let c = backfilled().await;
    let sale = a_sale(&c).await;
    let globex = c.app.agency("Globex").await;
    let intruder = c.app.signed_in(&globex.email("admin")).await;
    for path in [format!("/sales/{}", sale.id)] {
        assert_eq!(intruder.get(&path).await.status(), StatusCode::NOT_FOUND);
    }
    let r = intruder
        .post_form(
            &format!("/sales/{}/reassign", sale.id),
            &[("staff_id", &globex.admin.to_string()), ("reason", "mine")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Acme's manager cannot credit a sale to Globex's staff.
    let boss = manager(&c).await;
    let r = boss
        .post_form(
            &format!("/sales/{}/reassign", sale.id),
            &[
                ("staff_id", &globex.admin.to_string()),
                ("reason", "elsewhere"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Globex's admin cannot map a team member to Acme's staff.
    let tm = sale.team_member_uuid.clone().unwrap();
    let r = intruder
        .post_form(
            "/admin/team-members/map",
            &[
                ("team_member_uuid", &tm),
                ("staff_id", &c.acme.chatter.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // And sees none of Acme's team members or sales.
    let (_, html) = intruder.get_html("/admin/team-members").await;
    assert!(!html.contains(&tm));
    let (_, html) = intruder.get_html("/sales").await;
    assert!(!html.contains(&sale.id.to_string()));
    let now = sales(&c.app, c.id)
        .await
        .into_iter()
        .find(|s| s.id == sale.id)
        .unwrap();
    assert_eq!(now.basis, "unmapped_team_member");
}

fn line(id: i64, gross: i64, net: Option<i64>) -> EarningsLine<'static> {
    EarningsLine {
        line_id: id,
        fan_uuid: None,
        message_uuid: None,
        gross_cents: gross,
        net_cents: net,
        currency: Some("USD"),
        occurred_at: chrono::Utc::now(),
        transaction_id: Some("txn-1"),
    }
}

#[tokio::test]
async fn earnings_confirm_a_sale_and_a_refund_reverses_it_credited_as_the_sale_is() {
    let c = backfilled().await;
    let sale = a_sale(&c).await;
    let agency: AgencyId = c.acme.id;
    let creator = c.id;
    let pool = &c.app.pool;

    // The feed confirms the PPV: its net replaces the estimate, and a
    // recomputation (a mapping change) keeps it.
    let l = EarningsLine {
        message_uuid: sale.message_uuid,
        ..line(41, sale.gross_cents, Some(sale.gross_cents - 1))
    };
    let confirmed = store::sales::confirm_from_earnings(pool, agency, creator, false, &l)
        .await
        .unwrap();
    assert_eq!(confirmed.map(|s| s.as_uuid()), Some(sale.id));
    let tm = sale.team_member_uuid.clone().unwrap();
    map_team_member(&c, &tm, c.acme.chatter).await;
    let now = sales(&c.app, c.id)
        .await
        .into_iter()
        .find(|s| s.id == sale.id)
        .unwrap();
    assert_eq!(
        (now.net_cents, now.net_estimated),
        (sale.gross_cents - 1, false)
    );
    assert_eq!(now.credited_staff_id, Some(c.acme.chatter.as_uuid()));

    // A refund: a negative row linked to the sale, credited as it is; a
    // replay of the line is the same row.
    let sid = SaleId::from_uuid(sale.id);
    let refund = line(42, sale.gross_cents, None);
    let r1 = store::sales::record_reversal(pool, agency, sid, false, &refund, "refund:42")
        .await
        .unwrap()
        .unwrap();
    let r2 = store::sales::record_reversal(pool, agency, sid, false, &refund, "refund:42")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r1, r2);
    let all = sales(&c.app, c.id).await;
    let rev = all.iter().find(|s| s.id == r1.as_uuid()).unwrap();
    assert_eq!(rev.kind, "refund");
    assert_eq!(rev.gross_cents, -sale.gross_cents);
    assert_eq!(rev.net_cents, -(sale.gross_cents - 1));
    assert_eq!(rev.credited_staff_id, Some(c.acme.chatter.as_uuid()));
    let original = all.iter().find(|s| s.id == sale.id).unwrap();
    assert_eq!(original.gross_cents, sale.gross_cents, "the original stays");
    let total: i64 = all
        .iter()
        .filter(|s| s.id == sale.id || s.id == r1.as_uuid())
        .map(|s| s.gross_cents)
        .sum();
    assert_eq!(total, 0);

    // A reassignment of the sale moves its refund with it.
    let boss = manager(&c).await;
    boss.post_form(
        &format!("/sales/{}/reassign", sale.id),
        &[
            ("staff_id", &c.acme.manager.to_string()),
            ("reason", "split"),
        ],
    )
    .await;
    let rev = sales(&c.app, c.id)
        .await
        .into_iter()
        .find(|s| s.id == r1.as_uuid())
        .unwrap();
    assert_eq!(rev.credited_staff_id, Some(c.acme.manager.as_uuid()));
    // Another agency cannot reverse it.
    let globex = c.app.agency("Globex").await;
    let none =
        store::sales::record_reversal(pool, globex.id, sid, true, &line(43, 100, None), "cb:43")
            .await
            .unwrap();
    assert_eq!(none, None);

    // Non-chat revenue: credited to nobody, once per line.
    let sub = line(44, 999, None);
    let a = store::sales::record_non_chat(
        pool,
        agency,
        creator,
        store::sales::NonChatKind::Subscription,
        &sub,
        "sub:44",
    )
    .await
    .unwrap();
    let b = store::sales::record_non_chat(
        pool,
        agency,
        creator,
        store::sales::NonChatKind::Subscription,
        &sub,
        "sub:44",
    )
    .await
    .unwrap();
    assert_eq!(a, b);
    let s = sales(&c.app, c.id)
        .await
        .into_iter()
        .find(|s| Some(s.id) == a.map(|x| x.as_uuid()))
        .unwrap();
    assert_eq!(
        (s.kind.as_str(), s.basis.as_str(), s.credited_staff_id),
        ("subscription", "non_chat", None)
    );
    assert_eq!((s.net_cents, s.net_estimated), (799, true));
}
