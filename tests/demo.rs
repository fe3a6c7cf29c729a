//! `switchboard demo` end to end: it starts from an empty database in well
//! under a minute, its logins work, and a message the simulator generates
//! reaches the mirror (through a signed webhook) within 5 seconds.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::{Duration, Instant};

use helpers::{DropDatabase, TestClient, test_settings};
use switchboard::demo::{DEMO_PASSWORD, DemoArgs};

#[tokio::test]
async fn demo_starts_logins_work_and_live_messages_arrive_within_5_seconds() {
    let db = format!("sbtest_{}", uuid::Uuid::new_v4().simple());
    // Declared first, so dropped last: after the demo has stopped.
    let _database = DropDatabase::new(&db);
    let args = DemoArgs {
        port: 0,
        creators: 2,
        fans: 15,
        messages: 20,
        live_rate: 0.0,
        ..DemoArgs::default()
    };
    let demo = switchboard::demo::start(&args, test_settings(&db))
        .await
        .expect("demo starts");
    assert!(
        demo.started_in < Duration::from_secs(60),
        "took {:?}",
        demo.started_in
    );

    // Every printed login works; the owner sees the connected creators.
    assert_eq!(demo.logins.len(), 5);
    for (email, role) in &demo.logins {
        let c = TestClient::new(&demo.url);
        let r = c.login(email, DEMO_PASSWORD).await;
        assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER, "{role} {email}");
        let (status, home) = c.get_html("/").await;
        assert_eq!(status, reqwest::StatusCode::OK);
        if *role == "Owner" {
            assert!(
                home.contains("Connected"),
                "creators listed on the overview"
            );
        }
        let (status, dash) = c.get_html("/dashboard?period=30d").await;
        assert_eq!(status, reqwest::StatusCode::OK, "{role} dashboard");
        assert!(dash.contains("id=\"response-time-definition\""));
    }
    let backfilled: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(&demo.pool)
        .await
        .unwrap();
    assert!(backfilled > 0, "the mirror was backfilled");
    // The dashboard is filled from the demo's history.
    let (rolled, replies): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(sum(gross_cents), 0)::int8 FROM sales_daily),
                (SELECT count(*) FROM message_replies)",
    )
    .fetch_one(&demo.pool)
    .await
    .unwrap();
    assert!(
        rolled > 0 && replies > 0,
        "rollups: {rolled} cents, {replies} replies"
    );
    let mapped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM staff WHERE role = 'chatter' AND fanvue_user_uuid IS NOT NULL",
    )
    .fetch_one(&demo.pool)
    .await
    .unwrap();
    assert_eq!(
        mapped, 3,
        "chatters are mapped to the simulator's team members"
    );
    // Some fans carry notes and tags, shown in the fan panel.
    let (tags, tagged, notes): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM tags), (SELECT count(*) FROM fan_tags),
                (SELECT count(*) FROM fan_notes)",
    )
    .fetch_one(&demo.pool)
    .await
    .unwrap();
    assert!(
        tags >= 4 && tagged >= 4 && notes >= 3,
        "{tags} tags, {tagged} on fans, {notes} notes"
    );
    // The compose box's "/" picker has agency snippets to offer.
    let snippets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM canned_replies WHERE owner_staff_id IS NULL")
            .fetch_one(&demo.pool)
            .await
            .unwrap();
    assert!(snippets >= 3, "demo snippets: {snippets}");

    // Generate activity until a fan message is delivered, then time its arrival.
    let seen = demo.sim.deliveries().len();
    let mut message: Option<(String, Instant)> = None;
    for _ in 0..200 {
        let t0 = Instant::now();
        demo.sim.generate_activity(1);
        if let Some(d) = demo.sim.deliveries()[seen..]
            .iter()
            .find(|d| d.event == "message.received")
        {
            let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            message = Some((body["messageUuid"].as_str().unwrap().to_owned(), t0));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (uuid, t0) = message.expect("the simulator produced a fan message");
    let uuid: uuid::Uuid = uuid.parse().unwrap();
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE uuid = $1")
            .bind(uuid)
            .fetch_one(&demo.pool)
            .await
            .unwrap();
        if n == 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "message {uuid} not mirrored within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    demo.shutdown().await.expect("the demo stops cleanly");
}
