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

/// Makes the database refuse audit rows of `action`, as a failure between
/// a change and its audit row would.
async fn refuse_audit(app: &TestApp, action: &str) {
    sqlx::query(
        "CREATE OR REPLACE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'audit row refused by the test'; END $$",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert!(
        action
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW
         WHEN (NEW.action = '{action}') EXECUTE FUNCTION test_refuse_audit()"
    )))
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn allow_audit(app: &TestApp) {
    sqlx::query("DROP TRIGGER test_refuse_audit ON audit_log")
        .execute(&app.pool)
        .await
        .unwrap();
}

async fn scalar<T>(app: &TestApp, sql: &'static str, id: impl ToString) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql)
        .bind(id.to_string())
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn each_admin_change_is_undone_when_its_audit_row_cannot_be_written() {
    let app = TestApp::spawn_with_sim(|_| {}, |_| {}).await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let creator = app.connect(&admin, app.sim().creator_uuids()[0]).await;
    let chatter = acme.chatter.to_string();
    let assignments = "SELECT count(*) FROM creator_assignments WHERE creator_id::text = $1";

    // Assigning a chatter.
    let assign = format!("/admin/creators/{creator}/assignments");
    refuse_audit(&app, "creator.assigned").await;
    let r = admin.post_form(&assign, &[("staff_id", &chatter)]).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(scalar::<i64>(&app, assignments, creator).await, 0);
    allow_audit(&app).await;
    assert_redirects_to(
        &admin.post_form(&assign, &[("staff_id", &chatter)]).await,
        "/admin/creators/",
    );
    assert_eq!(scalar::<i64>(&app, assignments, creator).await, 1);

    // Unassigning them.
    let unassign = format!("/admin/creators/{creator}/assignments/{chatter}/remove");
    refuse_audit(&app, "creator.unassigned").await;
    let r = admin.post_form(&unassign, &[]).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(scalar::<i64>(&app, assignments, creator).await, 1);
    allow_audit(&app).await;
    assert_redirects_to(&admin.post_form(&unassign, &[]).await, "/admin/creators/");
    assert_eq!(scalar::<i64>(&app, assignments, creator).await, 0);

    // Mapping a Fanvue team member.
    let map = format!("/admin/staff/{chatter}/fanvue-uuid");
    let mapped = "SELECT fanvue_user_uuid IS NOT NULL FROM staff WHERE id::text = $1";
    let member = [("fanvue_user_uuid", "3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c")];
    refuse_audit(&app, "staff.fanvue_uuid_changed").await;
    let r = admin.post_form(&map, &member).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!scalar::<bool>(&app, mapped, &chatter).await);
    allow_audit(&app).await;
    assert_redirects_to(&admin.post_form(&map, &member).await, "/admin/staff/");
    assert!(scalar::<bool>(&app, mapped, &chatter).await);

    // Revoking an invitation.
    let link = create_invite(&admin, "maybe@acme.test", "Maybe", "chatter").await;
    let invite: uuid::Uuid = sqlx::query_scalar("SELECT id FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let revoke = format!("/admin/invites/{invite}/revoke");
    refuse_audit(&app, "invite.revoked").await;
    let r = admin.post_form(&revoke, &[]).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(invite_usable(&app, &link).await);
    allow_audit(&app).await;
    assert_redirects_to(&admin.post_form(&revoke, &[]).await, "/admin/staff");
    assert!(!invite_usable(&app, &link).await);

    // "Reconcile now".
    let reconcile = format!("/admin/creators/{creator}/sync/reconcile");
    let requested =
        "SELECT reconcile_requested_at IS NOT NULL FROM sync_state WHERE creator_id::text = $1";
    refuse_audit(&app, "sync.reconcile_requested").await;
    let r = admin.post_form(&reconcile, &[]).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!scalar::<bool>(&app, requested, creator).await);
    allow_audit(&app).await;
    assert_redirects_to(&admin.post_form(&reconcile, &[]).await, "/admin/creators/");
    assert!(scalar::<bool>(&app, requested, creator).await);

    // Retrying a dead letter.
    let event: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_events (event_type, dedupe_key, agency_id, creator_id, payload, status)
         VALUES ('message.read', 'audit-atomicity', $1, $2, '{}', 'dead') RETURNING id",
    )
    .bind(acme.id)
    .bind(creator)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let retry = format!("/admin/webhooks/events/{event}/retry");
    let status = "SELECT status FROM webhook_events WHERE id::text = $1";
    refuse_audit(&app, "webhook.retried").await;
    let r = admin.post_form(&retry, &[]).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(scalar::<String>(&app, status, event).await, "dead");
    allow_audit(&app).await;
    assert_redirects_to(&admin.post_form(&retry, &[]).await, "/admin/webhooks");
    assert_eq!(scalar::<String>(&app, status, event).await, "pending");

    // Each change that went through is in the log exactly once.
    let actions = app.audit_actions(acme.id).await;
    for action in [
        "creator.assigned",
        "creator.unassigned",
        "staff.fanvue_uuid_changed",
        "invite.revoked",
        "sync.reconcile_requested",
        "webhook.retried",
    ] {
        assert_eq!(
            actions.iter().filter(|a| *a == action).count(),
            1,
            "{action} in {actions:?}"
        );
    }
}
