//! The dashboard in a browser: a manager opens it from the navigation,
//! changes the period, drills into a cell (landing on the sales list with
//! the cell's filters) and downloads the per-chatter CSV.

use super::helpers::{MirrorSeed, fan_chat, seed_message};
use super::*;

#[tokio::test]
async fn a_manager_reads_the_dashboard_drills_into_a_cell_and_downloads_the_csv() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let c = TestApp::with_connected_creator().await;
    let tm = "bbbbbbbb-0000-4000-8000-000000000001";
    switchboard::store::staff::set_fanvue_user_uuid(
        &c.app.pool,
        c.acme.id,
        c.acme.chatter,
        Some(switchboard::domain::FanvueUserUuid::parse(tm).unwrap()),
    )
    .await
    .unwrap();
    let seed = MirrorSeed {
        pool: &c.app.pool,
        agency: c.acme.id,
        creator: c.id,
    };
    let fan = Uuid::new_v4();
    seed.chat(fan_chat(fan, "Gina")).await;
    let now = chrono::Utc::now();
    let mut sold = seed_message(fan, true, Some("for you"), now - chrono::Duration::hours(2));
    sold.sent_by_user_uuid = Some(tm.to_owned());
    sold.price_cents = Some(1_234);
    sold.purchased_at = Some(now - chrono::Duration::hours(1));
    seed.messages(&[
        seed_message(fan, false, Some("hi"), now - chrono::Duration::hours(3)),
        sold,
    ])
    .await;

    let (_driver, b) = start_browser().await;
    let base = c.app.address.clone();
    sign_in(&b, &base, &c.acme.email("manager"), PASSWORD).await;
    click(&b, "nav a[href='/dashboard']").await;
    expect_heading(&b, "Dashboard").await;
    expect_text(&b, "#period-summary", "Last 30 days").await;

    // Another period.
    click(&b, ".period-links a[href*='period=7d']").await;
    expect_text(&b, "#period-summary", "Last 7 days").await;
    let row = expect_text(&b, "#chatters-table", "Acme Chatter").await;
    assert!(row.contains("$12.34"), "{row}");
    expect_text(
        &b,
        "#response-time-definition",
        "first non-automated fan message",
    )
    .await;

    // Drill into the chatter's gross: the sales list, with the cell's filters.
    let chatter = c.acme.chatter.to_string();
    click(
        &b,
        &format!("#chatters-table a[href^='/sales?'][href*='staff={chatter}']"),
    )
    .await;
    path_is(&b, "/sales").await;
    let url = b.current_url().await.unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let today = now.date_naive();
    assert_eq!(q.get("staff"), Some(&chatter), "{url}");
    assert_eq!(
        q.get("to").map(String::as_str),
        Some(today.format("%Y-%m-%d").to_string().as_str())
    );
    assert_eq!(
        q.get("from").map(String::as_str),
        Some(
            (today - chrono::Duration::days(6))
                .format("%Y-%m-%d")
                .to_string()
                .as_str()
        )
    );
    expect_heading(&b, "Sales").await;

    // Back, and the per-chatter CSV with the browser's own session.
    b.back().await.unwrap();
    expect_heading(&b, "Dashboard").await;
    let href: String = js(
        &b,
        "return document.querySelector('#chatters-csv').getAttribute('href');",
    )
    .await;
    assert!(href.starts_with("/dashboard/chatters.csv?from="), "{href}");
    let csv = b
        .execute_async(
            "const [href, done] = arguments;
             fetch(href, {credentials: 'same-origin'})
               .then(r => r.text().then(t => done(r.status + '\\n' + t)))
               .catch(e => done('error ' + e));",
            vec![serde_json::Value::String(href)],
        )
        .await
        .unwrap();
    let csv = csv.as_str().unwrap_or_default().to_owned();
    assert!(csv.starts_with("200\n"), "{csv}");
    let row = csv
        .lines()
        .find(|l| l.starts_with(&chatter))
        .unwrap_or_else(|| panic!("no row for the chatter: {csv}"));
    assert!(
        row.contains(",Acme Chatter,") && row.contains(",1234,"),
        "{row}"
    );
    c.app.assert_audited(c.acme.id, "data.exported").await;
    b.close().await.unwrap();
}
