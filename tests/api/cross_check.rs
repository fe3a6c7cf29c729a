//! The Fanvue cross-check page (`/earnings`): Switchboard's sales beside
//! the earnings feed per creator and local day, zero difference after a
//! full sync with webhooks lost, a difference highlighted and linked to the
//! lines behind it, days cut in the agency's zone, managers only, scoped.

use reqwest::StatusCode;
use switchboard::domain::{AgencyId, Cents, CreatorId};
use switchboard::sim::FaultsPatch;
use uuid::Uuid;

use crate::helpers::*;

/// A purchase webhook's event for a message the feed never lists: a sale
/// without an earnings line.
async fn sale_without_line(
    app: &TestApp,
    agency: AgencyId,
    creator: CreatorId,
    at: &str,
    cents: i64,
) {
    sqlx::query(
        "INSERT INTO purchase_events (agency_id, creator_id, message_uuid, fan_uuid, price_cents, purchased_at, dedupe_key)
         VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7)",
    )
    .bind(agency)
    .bind(creator)
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(cents)
    .bind(at)
    .bind(format!("cross-check-{}", Uuid::now_v7()))
    .execute(&app.pool)
    .await
    .unwrap();
}

/// A feed line no sale stands for (a purchase the matcher could not place).
async fn line_without_sale(
    app: &TestApp,
    agency: AgencyId,
    creator: CreatorId,
    at: &str,
    cents: i64,
) {
    sqlx::query(
        "INSERT INTO earnings_lines (agency_id, creator_id, natural_key, feed, source, fan_uuid, gross_cents,
             net_cents, occurred_at, unmatched_reason, raw)
         VALUES ($1, $2, $3, 'earnings', 'message', $4, $5, $5 * 8 / 10, $6::timestamptz, 'no_candidate', '{}')",
    )
    .bind(agency)
    .bind(creator)
    .bind(format!("cross-check-{}", Uuid::now_v7()))
    .bind(Uuid::now_v7())
    .bind(cents)
    .bind(at)
    .execute(&app.pool)
    .await
    .unwrap();
}

fn text_of<'a>(html: &'a str, id: &str) -> &'a str {
    html.split(&format!("id=\"{id}\">"))
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("#{id} on the page"))
}

/// The table rows (`<tr …data-day=…>`) of the page.
fn rows(html: &str) -> Vec<&str> {
    html.split("<tr class=\"")
        .skip(1)
        .filter(|r| r.contains("data-day="))
        .map(|r| r.split("</tr>").next().unwrap())
        .collect()
}

#[tokio::test]
async fn after_a_full_sync_with_webhooks_lost_every_day_agrees_and_a_difference_links_to_its_lines()
{
    let c = TestApp::with_connected_creator_in(
        |s| {
            s.scenario.creators = 2;
            s.scenario.fans_per_creator = 8;
            s.scenario.messages_per_chat = 20;
            s.scenario.uncontactable_share = 0.0;
            s.scenario.tip_share = 0.1;
        },
        |_| {},
    )
    .await;
    c.app.sim().patch_faults(FaultsPatch {
        webhook_drop_rate: Some(1.0),
        ..FaultsPatch::default()
    });
    let e = c.app.sync_engine();
    sync_until_idle(&e, c.id).await;
    sqlx::query("UPDATE sync_state SET next_reconcile_at = now() WHERE creator_id = $1")
        .bind(c.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    sync_until_idle(&e, c.id).await;
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Days::new(365);
    let path = format!("/earnings?from={from}&to={today}");
    let (status, html) = manager.get_html(&path).await;
    assert_eq!(status, StatusCode::OK);
    let (sales, lines): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(sum(gross_cents), 0)::int8 FROM sales WHERE creator_id = $1),
                (SELECT COALESCE(sum(CASE WHEN feed = 'spending' THEN -gross_cents ELSE gross_cents END), 0)::int8
                 FROM earnings_lines WHERE creator_id = $1)",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert!(sales > 0);
    assert_eq!(text_of(&html, "total-sales"), Cents::new(sales).to_string());
    assert_eq!(text_of(&html, "total-feed"), Cents::new(lines).to_string());
    assert_eq!(text_of(&html, "total-difference"), "$0.00");
    let all = rows(&html);
    assert!(all.len() > 3, "days with sales: {}", all.len());
    assert!(
        all.iter().all(|r| !r.starts_with("row-differs")),
        "every day agrees"
    );

    // A sale the feed does not list and a line no sale stands for, today.
    let now = chrono::Utc::now().to_rfc3339();
    sale_without_line(&c.app, c.acme.id, c.id, &now, 1500).await;
    line_without_sale(&c.app, c.acme.id, c.id, &now, 400).await;
    let (_, html) = manager.get_html(&path).await;
    assert_eq!(text_of(&html, "total-difference"), "$11.00");
    let differs: Vec<&str> = rows(&html)
        .into_iter()
        .filter(|r| r.starts_with("row-differs"))
        .collect();
    assert_eq!(differs.len(), 1, "only today differs");
    assert!(differs[0].contains(&format!("data-day=\"{today}\"")));
    assert!(differs[0].contains("$11.00"));
    assert!(differs[0].contains("1 line without a sale, 1 sale without a line"));
    let link = format!("/earnings/creators/{}?day={today}", c.id);
    assert!(differs[0].contains(&link));

    // The lines behind it: the unmatched line and the unconfirmed sale.
    let (status, day) = manager.get_html(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text_of(&day, "day-difference"), "$11.00");
    let lines_table = day.split("id=\"day-lines\"").nth(1).unwrap();
    assert!(lines_table.contains("No sale") && lines_table.contains("no_candidate"));
    assert!(lines_table.contains("$4.00"));
    let unconfirmed = day.split("id=\"day-unconfirmed\"").nth(1).unwrap();
    assert!(unconfirmed.contains("$15.00"));
    let sale: Uuid = sqlx::query_scalar(
        "SELECT id FROM sales WHERE creator_id = $1 AND earnings_line_id IS NULL AND gross_cents = 1500",
    )
    .bind(c.id)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert!(unconfirmed.contains(&format!("/sales/{sale}")));

    // The creator filter narrows to that creator (here, the only one).
    let (_, filtered) = manager.get_html(&format!("{path}&creator={}", c.id)).await;
    assert_eq!(text_of(&filtered, "total-difference"), "$11.00");
}

#[tokio::test]
async fn days_are_cut_in_the_agency_zone_across_dst_and_a_quarter_hour_offset() {
    let c = TestApp::with_connected_creator().await;
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    let zone = |z: &'static str| {
        let pool = c.app.pool.clone();
        let id = c.acme.id;
        async move {
            sqlx::query("UPDATE agencies SET time_zone = $2 WHERE id = $1")
                .bind(id)
                .bind(z)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    // 18:20 UTC is 00:05 the next day in Kathmandu (+05:45).
    sale_without_line(&c.app, c.acme.id, c.id, "2026-11-20T18:20:00Z", 1500).await;
    zone("Asia/Kathmandu").await;
    let (_, html) = manager
        .get_html("/earnings?from=2026-11-21&to=2026-11-21")
        .await;
    let r = rows(&html);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("data-day=\"2026-11-21\""));
    assert!(r[0].contains("$15.00"));
    let (_, html) = manager
        .get_html("/earnings?from=2026-11-20&to=2026-11-20")
        .await;
    assert!(rows(&html).is_empty(), "not on the UTC day");
    // In UTC it is the 20th.
    zone("UTC").await;
    let (_, html) = manager
        .get_html("/earnings?from=2026-11-20&to=2026-11-20")
        .await;
    assert_eq!(rows(&html).len(), 1);

    // London: 00:30 local on the day clocks go forward (still GMT) is that
    // day; 23:30 UTC in summer is 00:30 BST the next day.
    zone("Europe/London").await;
    sale_without_line(&c.app, c.acme.id, c.id, "2026-03-29T00:30:00Z", 700).await;
    sale_without_line(&c.app, c.acme.id, c.id, "2026-07-01T23:30:00Z", 900).await;
    let (_, html) = manager
        .get_html("/earnings?from=2026-03-29&to=2026-03-29")
        .await;
    let r = rows(&html);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("$7.00"));
    let (_, html) = manager
        .get_html("/earnings?from=2026-07-01&to=2026-07-02")
        .await;
    let r = rows(&html);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("data-day=\"2026-07-02\"") && r[0].contains("$9.00"));
    // The day page cuts the same way.
    let (_, day) = manager
        .get_html(&format!("/earnings/creators/{}?day=2026-07-02", c.id))
        .await;
    assert!(day.contains("$9.00") && day.contains("2026-07-02 00:30 BST"));
}

#[tokio::test]
async fn bad_input_is_explained_chatters_are_refused_and_other_agencies_see_nothing() {
    let c = TestApp::with_connected_creator().await;
    sale_without_line(
        &c.app,
        c.acme.id,
        c.id,
        &chrono::Utc::now().to_rfc3339(),
        1500,
    )
    .await;
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    for bad in [
        "/earnings?from=yesterday",
        "/earnings?from=2026-12-03&to=2026-12-01",
        "/earnings?from=2020-01-01&to=2026-12-01",
        "/earnings?creator=not-a-uuid",
    ] {
        let (status, html) = manager.get_html(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(html.contains("id=\"period-error\""), "{bad}: message shown");
    }
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;
    assert_eq!(
        chatter.get("/earnings").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        chatter
            .get(&format!("/earnings/creators/{}", c.id))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // Another agency: no rows, and Acme's creator is not theirs to filter by.
    let globex = c.app.agency("Globex").await;
    let intruder = c.app.signed_in(&globex.email("manager")).await;
    let (status, html) = intruder.get_html("/earnings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(rows(&html).is_empty() && !html.contains("$15.00"));
    let (status, html) = intruder
        .get_html(&format!("/earnings?creator={}", c.id))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!html.contains("$15.00"));
    assert_eq!(
        intruder
            .get(&format!("/earnings/creators/{}", c.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // Acme's manager sees it.
    let (_, html) = manager.get_html("/earnings").await;
    assert_eq!(rows(&html).len(), 1);
}
