use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn invite_link_creates_an_account_once() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let link = create_invite(&admin, "new.chatter@acme.test", "Nia New", "chatter").await;

    let invitee = app.client();
    let (status, body) = invitee.get_html(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Join Acme") && body.contains("new.chatter@acme.test"),
        "{body}"
    );

    // Validation re-renders and keeps what was typed.
    let r = invitee
        .post_form(
            &link,
            &[
                ("display_name", "Nia Typed"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("value=\"Nia Typed\""), "{body}");
    assert!(body.contains("Use at least 12 characters"), "{body}");

    let r = invitee
        .post_form(
            &link,
            &[
                ("display_name", "Nia New"),
                ("password", "nia's long passphrase"),
                ("password_confirm", "nia's long passphrase"),
            ],
        )
        .await;
    assert_redirects_to(&r, "/login");
    let (role, agency): (String, uuid::Uuid) =
        sqlx::query_as("SELECT role, agency_id FROM staff WHERE email = 'new.chatter@acme.test'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(role, "chatter");
    assert_eq!(agency, acme.id.as_uuid());
    assert_eq!(
        app.client()
            .login("new.chatter@acme.test", "nia's long passphrase")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    // Second use: refused, and no second account.
    let again = app.client();
    let (status, body) = again.get_html(&link).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("can't be used"), "{body}");
    let r = again
        .post_form(
            &link,
            &[
                ("display_name", "Mallory"),
                ("password", "mallory's passphrase"),
                ("password_confirm", "mallory's passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM staff WHERE email = 'new.chatter@acme.test'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(n, 1);
    app.assert_audited(acme.id, "staff.invited").await;
    app.assert_audited(acme.id, "invite.accepted").await;
}

#[tokio::test]
async fn expired_invite_link_is_refused() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let link = create_invite(&admin, "late@acme.test", "Lee Late", "manager").await;
    let expires: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT expires_at FROM invites")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!(
        (71.9..=72.0).contains(&hours),
        "valid for 72 h, got {hours}"
    );
    sqlx::query("UPDATE invites SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let c = app.client();
    assert_eq!(c.get_html(&link).await.0, StatusCode::NOT_FOUND);
    let r = c
        .post_form(
            &link,
            &[
                ("display_name", "Lee"),
                ("password", "lee's long passphrase"),
                ("password_confirm", "lee's long passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM staff WHERE email = 'late@acme.test'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn revoked_invite_link_is_refused() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let link = create_invite(&admin, "gone@acme.test", "Gone", "chatter").await;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_redirects_to(
        &admin
            .post_form(&format!("/admin/invites/{id}/revoke"), &[])
            .await,
        "/admin/staff",
    );
    assert_eq!(app.client().get_html(&link).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invite_form_validates_and_keeps_input() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let r = admin
        .post_form(
            "/admin/staff/invite",
            &[
                ("email", "not-an-email"),
                ("display_name", "Kept Name"),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("Enter a valid email address"), "{body}");
    assert!(
        body.contains("Only an owner can invite another owner."),
        "{body}"
    );
    assert!(
        body.contains("value=\"not-an-email\"") && body.contains("value=\"Kept Name\""),
        "{body}"
    );
    // An existing account's email cannot be invited again.
    let r = admin
        .post_form(
            "/admin/staff/invite",
            &[
                ("email", &acme.email("chatter")),
                ("display_name", "Dup"),
                ("role", "chatter"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("already has a Switchboard account")
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn an_admin_cannot_revoke_an_owner_invite() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let owner = app.signed_in(&acme.email("owner")).await;
    let link = create_invite(&owner, "co-owner@acme.test", "Co Owner", "owner").await;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let admin = app.signed_in(&acme.email("admin")).await;
    let r = admin
        .post_form(&format!("/admin/invites/{id}/revoke"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(invite_usable(&app, &link).await, "owner invite still valid");
    assert!(
        !app.audit_actions(acme.id)
            .await
            .contains(&"invite.revoked".to_owned())
    );
    // The admin's page offers no revoke button for it.
    let (_, list) = admin.get_html("/admin/staff").await;
    assert!(
        list.contains("co-owner@acme.test")
            && !list.contains(&format!("/admin/invites/{id}/revoke")),
        "{list}"
    );
    // An owner may revoke it.
    assert_redirects_to(
        &owner
            .post_form(&format!("/admin/invites/{id}/revoke"), &[])
            .await,
        "/admin/staff",
    );
    assert!(!invite_usable(&app, &link).await);
}

#[tokio::test]
async fn acceptance_rechecks_that_the_inviter_may_still_grant_the_role() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let link = create_invite(&admin, "late.admin@acme.test", "Late Admin", "admin").await;
    // The inviter loses the admin role by a path that revokes nothing (as in a
    // demotion racing the invite's creation).
    sqlx::query("UPDATE staff SET role = 'manager' WHERE id = $1")
        .bind(acme.admin)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(!invite_usable(&app, &link).await, "join page refused");
    let c = app.client();
    c.get_html("/login").await;
    let r = c
        .post_form(
            &link,
            &[
                ("display_name", "Late Admin"),
                ("password", "late admin passphrase"),
                ("password_confirm", "late admin passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM staff WHERE email = 'late.admin@acme.test'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(n, 0, "no account from a stale invite");

    // An inviter who is deactivated (without the UI) is refused the same way.
    sqlx::query("UPDATE staff SET role = 'admin', active = false WHERE id = $1")
        .bind(acme.admin)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(!invite_usable(&app, &link).await);
    // Restored, the invite works again (it was never consumed).
    sqlx::query("UPDATE staff SET active = true WHERE id = $1")
        .bind(acme.admin)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(invite_usable(&app, &link).await);
}
