//! The agency settings page (`/admin/settings`): owners and admins only,
//! every field validated with the typed value kept on a refusal, one audit
//! entry per changed field, and the time zone applied to the inbox's dates.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use switchboard::domain::AgencyId;
use uuid::Uuid;

use crate::helpers::*;

const PATH: &str = "/admin/settings";

/// A complete, valid submission of the defaults; tests override fields.
const DEFAULTS: [(&str, &str); 4] = [
    ("time_zone", "UTC"),
    ("platform_fee_percent", "20"),
    ("tip_window_minutes", "1440"),
    ("min_ppv_price", "3.00"),
];

fn with<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields: Vec<(&str, &str)> = DEFAULTS
        .iter()
        .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
        .copied()
        .collect();
    fields.extend_from_slice(overrides);
    fields
}

#[derive(Debug, PartialEq, Eq, sqlx::FromRow)]
struct Stored {
    time_zone: String,
    platform_fee_bps: i32,
    tip_window_minutes: i32,
    min_ppv_price_cents: i64,
    mark_read_on_open: bool,
}

async fn stored(app: &TestApp, agency: AgencyId) -> Stored {
    sqlx::query_as(
        "SELECT time_zone, platform_fee_bps, tip_window_minutes, min_ppv_price_cents,
                mark_read_on_open
           FROM agencies WHERE id = $1",
    )
    .bind(agency)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

fn defaults() -> Stored {
    Stored {
        time_zone: "UTC".into(),
        platform_fee_bps: 2000,
        tip_window_minutes: 1440,
        min_ppv_price_cents: 300,
        mark_read_on_open: false,
    }
}

/// The agency's setting-change audit entries, oldest first: (target, details).
async fn setting_audits(app: &TestApp, agency: AgencyId) -> Vec<(String, serde_json::Value)> {
    sqlx::query_as(
        "SELECT target, details FROM audit_log
          WHERE agency_id = $1 AND action = 'agency.setting_changed' ORDER BY id",
    )
    .bind(agency)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn owners_and_admins_see_the_defaults_in_the_navigation() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    for who in ["owner", "admin"] {
        let c = app.signed_in(&acme.email(who)).await;
        let (s, body) = c.get_html(PATH).await;
        assert_eq!(s, StatusCode::OK, "{who}");
        assert!(
            body.contains("<a href=\"/admin/settings\" aria-current=\"page\">Settings</a>"),
            "{who} sees the navigation entry"
        );
        for (name, value) in [
            ("time_zone", "UTC"),
            ("platform_fee_percent", "20"),
            ("tip_window_minutes", "1440"),
            ("min_ppv_price", "3.00"),
        ] {
            assert!(
                body.contains(&format!("name=\"{name}\""))
                    && body.contains(&format!("value=\"{value}\"")),
                "{who}: {name} shows {value}"
            );
        }
        assert!(!body.contains("checked"), "mark read on open starts off");
        assert!(body.contains("<option value=\"Asia/Kathmandu\">"));
        let (_, home) = c.get_html("/").await;
        assert!(home.contains("href=\"/admin/settings\""));
    }
}

#[tokio::test]
async fn managers_and_chatters_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    for who in ["manager", "chatter"] {
        let c = app.signed_in(&acme.email(who)).await;
        let r = c.get(PATH).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who} GET");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Your role does not give you access")
        );
        let r = c
            .post_form(PATH, &with(&[("platform_fee_percent", "50")]))
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who} POST");
        let (_, home) = c.get_html("/").await;
        assert!(
            !home.contains("href=\"/admin/settings\""),
            "{who} sees no entry"
        );
    }
    assert_eq!(stored(&app, acme.id).await, defaults());
    assert!(setting_audits(&app, acme.id).await.is_empty());
    // Anonymous: to the login page.
    let r = app.client().get(PATH).await;
    assert_redirects_to(&r, "/login");
}

#[tokio::test]
async fn each_setting_saves_and_is_audited_from_old_to_new() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    // (fields submitted, audit target, setting, from, to)
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        &'a str,
        &'a str,
        serde_json::Value,
        serde_json::Value,
    );
    let cases: [Case; 5] = [
        (
            &[("time_zone", "asia/kathmandu")],
            "Time zone",
            "time_zone",
            "UTC".into(),
            "Asia/Kathmandu".into(),
        ),
        (
            &[("platform_fee_percent", "12.5")],
            "Platform fee",
            "platform_fee_bps",
            2000.into(),
            1250.into(),
        ),
        (
            &[("tip_window_minutes", "90")],
            "Tip window",
            "tip_window_minutes",
            1440.into(),
            90.into(),
        ),
        (
            &[("min_ppv_price", "$7.5")],
            "Minimum PPV price",
            "min_ppv_price_cents",
            300.into(),
            750.into(),
        ),
        (
            &[("mark_read_on_open", "on")],
            "Mark chats read when opened",
            "mark_read_on_open",
            false.into(),
            true.into(),
        ),
    ];
    for (i, (fields, label, setting, from, to)) in cases.iter().enumerate() {
        // Reset to the defaults (the previous case's value is the "old" one
        // otherwise) without touching the audit log.
        sqlx::query(
            "UPDATE agencies SET time_zone = 'UTC', platform_fee_bps = 2000,
                    tip_window_minutes = 1440, min_ppv_price_cents = 300,
                    mark_read_on_open = false WHERE id = $1",
        )
        .bind(acme.id)
        .execute(&app.pool)
        .await
        .unwrap();
        let r = admin.post_form(PATH, &with(fields)).await;
        assert_redirects_to(&r, PATH);
        let audits = setting_audits(&app, acme.id).await;
        assert_eq!(audits.len(), i + 1, "one entry for {setting}");
        let (target, details) = &audits[i];
        assert_eq!(target, label);
        assert_eq!(
            details,
            &serde_json::json!({ "setting": setting, "from": from, "to": to })
        );
        let (_, page) = admin.get_html(PATH).await;
        assert!(
            page.contains(&format!("Saved: {label}.")),
            "{setting}: flash"
        );
    }
    // The last case left only mark-read on; the others are back to their defaults.
    assert_eq!(
        stored(&app, acme.id).await,
        Stored {
            mark_read_on_open: true,
            ..defaults()
        }
    );
    let (_, page) = admin.get_html(PATH).await;
    assert!(page.contains("checked"));

    // Everything at once: one entry per field; the values are on the page.
    let before = setting_audits(&app, acme.id).await.len();
    let r = admin
        .post_form(
            PATH,
            &[
                ("time_zone", "Europe/London"),
                ("platform_fee_percent", "25"),
                ("tip_window_minutes", "0"),
                ("min_ppv_price", "2"),
            ],
        )
        .await;
    assert_redirects_to(&r, PATH);
    assert_eq!(
        stored(&app, acme.id).await,
        Stored {
            time_zone: "Europe/London".into(),
            platform_fee_bps: 2500,
            tip_window_minutes: 0,
            min_ppv_price_cents: 200,
            mark_read_on_open: false,
        }
    );
    assert_eq!(setting_audits(&app, acme.id).await.len(), before + 5);
    let (_, page) = admin.get_html(PATH).await;
    for v in [
        "value=\"Europe/London\"",
        "value=\"25\"",
        "value=\"0\"",
        "value=\"2.00\"",
    ] {
        assert!(page.contains(v), "{v}");
    }
    assert!(!page.contains("checked"));

    // The same values again: nothing saved, nothing audited.
    let r = admin
        .post_form(
            PATH,
            &[
                ("time_zone", "Europe/London"),
                ("platform_fee_percent", "25.00"),
                ("tip_window_minutes", "0"),
                ("min_ppv_price", "2.00"),
            ],
        )
        .await;
    assert_redirects_to(&r, PATH);
    assert_eq!(setting_audits(&app, acme.id).await.len(), before + 5);
    let (_, page) = admin.get_html(PATH).await;
    assert!(page.contains("Nothing to save"));
    // The audit log page shows the change.
    let (_, log) = admin.get_html("/admin/audit").await;
    assert!(log.contains("agency.setting_changed") && log.contains("Asia/Kathmandu"));
}

#[tokio::test]
async fn invalid_values_are_refused_with_the_message_and_what_was_typed() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let owner = app.signed_in(&acme.email("owner")).await;
    let cases: [(&str, &str, &str, &str); 10] = [
        (
            "time_zone",
            "Mars/Olympus",
            "Mars/Olympus",
            "not a time zone name",
        ),
        ("time_zone", "+05:45", "+05:45", "not a time zone name"),
        ("time_zone", "", "", "Choose a time zone"),
        (
            "time_zone",
            "<b>x</b>",
            "&#60;b&#62;x&#60;/b&#62;",
            "not a time zone name",
        ),
        ("platform_fee_percent", "120", "120", "at most 100 %"),
        (
            "platform_fee_percent",
            "twenty",
            "twenty",
            "percentage like 20",
        ),
        ("tip_window_minutes", "-5", "-5", "whole number of minutes"),
        (
            "tip_window_minutes",
            "20000",
            "20000",
            "at most 10080 minutes",
        ),
        ("min_ppv_price", "1.50", "1.50", "no lower than $2.00"),
        ("min_ppv_price", "12.345", "12.345", "at most two decimals"),
    ];
    for (field, typed, shown, message) in cases {
        // Another field changed validly alongside: it must not be saved.
        let mut fields = with(&[(field, typed)]);
        if field != "tip_window_minutes" {
            fields.retain(|(k, _)| *k != "tip_window_minutes");
            fields.push(("tip_window_minutes", "60"));
        }
        let r = owner.post_form(PATH, &fields).await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={typed}"
        );
        let body = r.text().await.unwrap();
        assert!(body.contains(message), "{field}={typed}: {message}");
        assert!(body.contains("Nothing was saved"), "{field}={typed}");
        assert!(
            body.contains(&format!("id=\"{field}-error\"")),
            "{field}: the message is tied to its field"
        );
        assert!(
            body.contains(&format!("name=\"{field}\" "))
                && body.contains(&format!("value=\"{shown}\"")),
            "{field}: the typed value {typed:?} is kept"
        );
        assert!(body.contains("aria-invalid=\"true\""));
        if field != "tip_window_minutes" {
            assert!(
                body.contains("value=\"60\""),
                "the other fields keep what was typed"
            );
        }
    }
    assert_eq!(stored(&app, acme.id).await, defaults());
    assert!(setting_audits(&app, acme.id).await.is_empty());
    // Several bad fields at once: each gets its message.
    let r = owner
        .post_form(
            PATH,
            &[
                ("time_zone", "Nowhere"),
                ("platform_fee_percent", "-1"),
                ("tip_window_minutes", "x"),
                ("min_ppv_price", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    for id in [
        "time_zone-error",
        "platform_fee_percent-error",
        "tip_window_minutes-error",
        "min_ppv_price-error",
    ] {
        assert!(body.contains(&format!("id=\"{id}\"")), "{id}");
    }
}

#[tokio::test]
async fn a_save_needs_the_csrf_token_and_touches_only_its_agency() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let globex = app.agency("Globex").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    admin.get_html(PATH).await;
    let r = admin
        .post_raw(PATH, &with(&[("platform_fee_percent", "50")]))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(stored(&app, acme.id).await, defaults());

    let r = admin
        .post_form(PATH, &with(&[("platform_fee_percent", "50")]))
        .await;
    assert_redirects_to(&r, PATH);
    assert_eq!(stored(&app, acme.id).await.platform_fee_bps, 5000);
    assert_eq!(stored(&app, globex.id).await, defaults());
    assert!(setting_audits(&app, globex.id).await.is_empty());
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn the_inbox_shows_times_in_the_agencys_zone() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        id: creator,
        ..
    } = TestApp::with_connected_creator().await;
    let seed = MirrorSeed {
        pool: &app.pool,
        agency: acme.id,
        creator,
    };
    let fan = Uuid::new_v4();
    let chat = seed.chat(fan_chat(fan, "Zed Zone")).await;
    // Either side of London's spring change (01:00 UTC, 2026-03-29), and
    // 18:20 UTC, which is already the next day in Kathmandu (+05:45).
    let winter = seed_message(fan, false, Some("before"), utc("2026-03-29T00:30:00Z"));
    let summer = seed_message(fan, false, Some("after"), utc("2026-03-29T01:30:00Z"));
    let mut ppv = seed_message(fan, true, Some("late"), utc("2026-03-29T18:20:00Z"));
    ppv.price_cents = Some(900);
    ppv.has_media = Some(true);
    ppv.purchased_at = Some(utc("2026-03-29T18:30:00Z"));
    seed.messages(&[winter.clone(), summer.clone(), ppv.clone()])
        .await;
    let thread = format!("/inbox/chats/{chat}");

    let (_, html) = admin.get_html(&thread).await;
    assert!(html.contains("times in UTC"));
    assert!(message_li(&html, winter.uuid).contains(">2026-03-29 00:30 UTC</time>"));

    let save = |zone: &'static str| {
        let admin = &admin;
        async move {
            let r = admin.post_form(PATH, &with(&[("time_zone", zone)])).await;
            assert_redirects_to(&r, PATH);
        }
    };
    save("Europe/London").await;
    let (_, html) = admin.get_html(&thread).await;
    assert!(html.contains("times in Europe/London"));
    let li = |html: &str, m: &switchboard::store::messages::MessageUpsert| {
        message_li(html, m.uuid).to_owned()
    };
    let w = li(&html, &winter);
    assert!(
        w.contains("datetime=\"2026-03-29T00:30:00Z\">2026-03-29 00:30 GMT</time>"),
        "{w}"
    );
    let s = li(&html, &summer);
    assert!(
        s.contains("datetime=\"2026-03-29T01:30:00Z\">2026-03-29 02:30 BST</time>"),
        "{s}"
    );
    assert!(
        html.contains("times in Europe/London."),
        "the fan panel says so too"
    );

    save("Asia/Kathmandu").await;
    let (_, html) = admin.get_html(&thread).await;
    let p = li(&html, &ppv);
    assert!(p.contains(">2026-03-30 00:05 +0545</time>"), "{p}");
    assert!(
        p.contains("Paid <time datetime=\"2026-03-29T18:30:00Z\">2026-03-30 00:15 +0545</time>"),
        "{p}"
    );
    // The fan panel's dates too.
    assert!(
        html.contains("<dd id=\"fan-last-purchase\"><time datetime=\"2026-03-29T18:30:00Z\">2026-03-30 00:15 +0545</time>"),
        "last purchase in the agency zone"
    );
    assert!(
        html.contains("<dd id=\"fan-first-message\"><time datetime=\"2026-03-29T00:30:00Z\">2026-03-29 06:15 +0545</time>"),
        "first message in the agency zone"
    );
    // Live fragments format the same way.
    let r = admin
        .get(&format!("/inbox/chats/{chat}/messages/{}", summer.uuid))
        .await;
    let frag = r.text().await.unwrap();
    assert!(frag.contains(">2026-03-29 07:15 +0545</time>"), "{frag}");
}
