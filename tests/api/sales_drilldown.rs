//! The sales drill-down (`/sales` with the dashboard's query contract) and
//! its CSV export: filters select exactly the ledger's rows, keyset pages
//! neither skip nor repeat a sale (ties included), bad values are
//! explained, fan names cannot inject spreadsheet formulas, exports are
//! audited, chatters are refused.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use switchboard::domain::{AgencyId, CreatorId};
use uuid::Uuid;

use crate::helpers::*;

const EVIL: &str = "=HYPERLINK(\"http://evil.test\",\"click\")";

/// A chat of the creator whose fan calls themself `name`.
async fn chat_named(
    app: &TestApp,
    agency: AgencyId,
    creator: CreatorId,
    name: &str,
) -> (Uuid, Uuid) {
    let chat = Uuid::now_v7();
    let fan = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO chats (id, agency_id, creator_id, fan_uuid, fan_display_name, last_message_at)
         VALUES ($1, $2, $3, $4, $5, now())",
    )
    .bind(chat)
    .bind(agency)
    .bind(creator)
    .bind(fan)
    .bind(name)
    .execute(&app.pool)
    .await
    .unwrap();
    (chat, fan)
}

/// `n` purchases by `fan`, all at the same instant (keyset ties), as
/// purchase webhooks' events: `n` sales, unattributed.
async fn purchases(
    app: &TestApp,
    agency: AgencyId,
    creator: CreatorId,
    fan: Uuid,
    n: i32,
    at: &str,
) {
    sqlx::query(
        "INSERT INTO purchase_events (agency_id, creator_id, message_uuid, fan_uuid, price_cents, purchased_at, dedupe_key)
         SELECT $1, $2, gen_random_uuid(), $3, 500 + i, $4::timestamptz, 'drill-' || gen_random_uuid()
         FROM generate_series(1, $5) AS i",
    )
    .bind(agency)
    .bind(creator)
    .bind(fan)
    .bind(at)
    .bind(n)
    .execute(&app.pool)
    .await
    .unwrap();
}

fn sale_ids(html: &str) -> Vec<Uuid> {
    html.split("data-sale=\"")
        .skip(1)
        .map(|r| r[..36].parse().unwrap())
        .collect()
}

fn next_link(html: &str) -> Option<String> {
    let i = html.find("rel=\"next\"")?;
    let start = html[..i].rfind("href=\"")? + 6;
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

/// Every page of a listing, following "Older sales".
async fn all_pages(client: &TestClient, first: &str) -> Vec<Uuid> {
    let mut out = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(p) = path {
        let (status, html) = client.get_html(&p).await;
        assert_eq!(status, StatusCode::OK, "{p}");
        assert!(out.len() < 10_000, "pages never end: {p}");
        out.extend(sale_ids(&html));
        path = next_link(&html);
    }
    out
}

async fn ids_where(app: &TestApp, agency: AgencyId, cond: &str) -> Vec<Uuid> {
    let sql = format!(
        "SELECT id FROM sales s WHERE agency_id = $1 AND {cond} ORDER BY occurred_at DESC, id DESC"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(agency)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn filters_select_exactly_the_ledgers_rows_and_keyset_pages_neither_skip_nor_repeat() {
    let c = TestApp::with_connected_creator().await;
    let (a, k) = (c.acme.id, c.id);
    let (_, fan) = chat_named(&c.app, a, k, "Plain Fan").await;
    // 230 sales at one instant (ties broken by id), 5 the day before.
    purchases(&c.app, a, k, fan, 230, "2026-11-20T12:00:00Z").await;
    purchases(&c.app, a, k, fan, 5, "2026-11-19T12:00:00Z").await;
    // One credited to the chatter, by a manual reassignment.
    let credited: Uuid = ids_where(&c.app, a, "true").await[7];
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    let r = manager
        .post_form(
            &format!("/sales/{credited}/reassign"),
            &[
                ("staff_id", &c.acme.chatter.to_string()),
                ("reason", "hers"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let everything = all_pages(&manager, "/sales").await;
    assert_eq!(everything, ids_where(&c.app, a, "true").await);
    assert_eq!(
        everything.iter().collect::<BTreeSet<_>>().len(),
        235,
        "no sale twice"
    );
    let (_, first) = manager.get_html("/sales").await;
    assert_eq!(sale_ids(&first).len(), 100, "pages of 100");

    let day = all_pages(&manager, "/sales?from=2026-11-19&to=2026-11-19").await;
    assert_eq!(day.len(), 5);
    let mine = all_pages(&manager, &format!("/sales?staff={}", c.acme.chatter)).await;
    assert_eq!(mine, vec![credited]);
    let nobody = all_pages(&manager, "/sales?staff=none&kind=ppv").await;
    assert_eq!(nobody.len(), 234);
    assert!(!nobody.contains(&credited));
    let manual = all_pages(&manager, &format!("/sales?basis=manual&creator={k}")).await;
    assert_eq!(manual, vec![credited]);
    assert!(all_pages(&manager, "/sales?kind=tip").await.is_empty());
    // Local days: at UTC-11 (Pago Pago) 12:00 UTC is 01:00 the same day.
    sqlx::query("UPDATE agencies SET time_zone = 'Pacific/Pago_Pago' WHERE id = $1")
        .bind(a)
        .execute(&c.app.pool)
        .await
        .unwrap();
    let day = all_pages(&manager, "/sales?from=2026-11-20&to=2026-11-20").await;
    assert_eq!(day.len(), 230, "01:00 local on the 20th");
    let (_, html) = manager
        .get_html("/sales?from=2026-11-20&to=2026-11-20")
        .await;
    assert!(
        html.contains("2026-11-20 01:00 SST"),
        "times in the agency zone"
    );

    for bad in [
        "/sales?from=monday",
        "/sales?from=2026-11-21&to=2026-11-20",
        "/sales?staff=someone",
        "/sales?basis=vibes",
        "/sales?kind=gift",
        "/sales?creator=123",
        "/sales?after=garbage",
        &format!("/sales?staff={}", Uuid::now_v7()),
    ] {
        let (status, html) = manager.get_html(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(html.contains("id=\"filter-error\""), "{bad}: explained");
    }
    // Chatters do not see the ledger (managers' page), nor its export.
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;
    assert_eq!(chatter.get("/sales").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        chatter.get("/sales/export.csv").await.status(),
        StatusCode::FORBIDDEN
    );
    // Another agency's filters by Acme's ids find nothing of Acme's.
    let globex = c.app.agency("Globex").await;
    let intruder = c.app.signed_in(&globex.email("manager")).await;
    let (status, html) = intruder.get_html(&format!("/sales?creator={k}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(sale_ids(&html).is_empty());
    assert!(all_pages(&intruder, "/sales").await.is_empty());
}

#[tokio::test]
async fn the_csv_export_is_the_filtered_ledger_with_fan_names_neutralised_and_audited() {
    let c = TestApp::with_connected_creator().await;
    let (a, k) = (c.acme.id, c.id);
    let (chat, evil_fan) = chat_named(&c.app, a, k, EVIL).await;
    let (_, plain) = chat_named(&c.app, a, k, "Plain, \"quoted\" Fan").await;
    purchases(&c.app, a, k, evil_fan, 3, "2026-11-20T23:30:00Z").await;
    purchases(&c.app, a, k, plain, 2, "2026-11-18T10:00:00Z").await;
    sqlx::query("UPDATE agencies SET time_zone = 'Asia/Kathmandu' WHERE id = $1")
        .bind(a)
        .execute(&c.app.pool)
        .await
        .unwrap();
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    let r = manager
        .get("/sales/export.csv?from=2026-11-21&to=2026-11-21&kind=ppv")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let body = r.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("sale_id,time_local,time_zone,time_utc,creator,fan,"));
    // 23:30 UTC on the 20th is 05:15 on the 21st in Kathmandu: the evil
    // fan's three sales only.
    assert_eq!(lines.len(), 1 + 3, "{body}");
    let want: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT id, gross_cents FROM sales WHERE agency_id = $1 AND fan_uuid = $2
         ORDER BY occurred_at DESC, id DESC",
    )
    .bind(a)
    .bind(evil_fan)
    .fetch_all(&c.app.pool)
    .await
    .unwrap();
    for (line, (id, gross)) in lines[1..].iter().zip(&want) {
        assert!(
            line.starts_with(&format!(
                "{id},2026-11-21T05:15:00+05:45,Asia/Kathmandu,2026-11-20T23:30:00Z,"
            )),
            "{line} / {want:?}"
        );
        assert!(
            line.contains("\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"click\"\")\""),
            "neutralised: {line}"
        );
        assert!(line.contains(&format!(",ppv,{gross},")), "{line}");
        assert!(line.contains(&format!("/inbox/chats/{chat}")));
        assert!(!line.contains(",=HYPERLINK"));
    }
    c.app.assert_audited(a, "data.exported").await;
    let details: serde_json::Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE agency_id = $1 AND action = 'data.exported'",
    )
    .bind(a)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(details["filters"]["from"], "2026-11-21");
    assert_eq!(details["filters"]["kind"], "ppv");

    // Unfiltered: every sale, quotes and commas kept as data.
    let body = manager.get("/sales/export.csv").await.text().await.unwrap();
    assert_eq!(body.split("\r\n").filter(|l| !l.is_empty()).count(), 1 + 5);
    assert!(body.contains("\"Plain, \"\"quoted\"\" Fan\""));
    // A bad filter is refused before anything is exported.
    assert_eq!(
        manager.get("/sales/export.csv?kind=gift").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(c.app.audited_count(a, "data.exported").await, 2);
}
