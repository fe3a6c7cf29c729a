use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn audit_log_lists_events_newest_first_with_actor_target_and_address() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    app.client()
        .login(&acme.email("owner"), "wrong password!!")
        .await;
    let admin = app.signed_in(&acme.email("admin")).await;
    admin
        .post_form(
            &format!("/admin/staff/{}/role", acme.chatter),
            &[("role", "manager")],
        )
        .await;
    let (status, body) = admin.get_html("/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    let role = body.find("staff.role_changed").expect("role change listed");
    let login = body.find("login.succeeded").expect("login listed");
    let failed = body.find("login.failed").expect("failed login listed");
    assert!(role < login && login < failed, "newest first");
    assert!(body.contains("Acme Admin"), "actor shown");
    assert!(body.contains(&acme.email("chatter")), "target shown");
    assert!(body.contains("127.0.0.1"), "client address shown");
    assert!(
        body.contains("from: chatter") && body.contains("to: manager"),
        "details shown"
    );
}

#[tokio::test]
async fn audit_log_is_paginated_and_scoped_to_the_agency() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let globex = app.agency("Globex").await;
    for i in 0..60 {
        sqlx::query("INSERT INTO audit_log (agency_id, action, target) VALUES ($1, 'logout', $2)")
            .bind(acme.id)
            .bind(format!("target-{i:02}"))
            .execute(&app.pool)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO audit_log (agency_id, action, target) VALUES ($1, 'logout', 'globex-secret')",
    )
    .bind(globex.id)
    .execute(&app.pool)
    .await
    .unwrap();
    let admin = app.signed_in(&acme.email("admin")).await;
    let (_, first) = admin.get_html("/admin/audit").await;
    assert!(first.contains("Page 1 of 2"), "{first}");
    assert!(first.contains("target-59") && !first.contains("target-05"));
    let (_, second) = admin.get_html("/admin/audit?page=2").await;
    assert!(second.contains("target-05") && !second.contains("target-59"));
    assert!(!first.contains("globex-secret") && !second.contains("globex-secret"));
}
