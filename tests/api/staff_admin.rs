use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn last_owner_cannot_be_demoted_or_deactivated() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let owner = app.signed_in(&acme.email("owner")).await;
    let r = owner
        .post_form(
            &format!("/admin/staff/{}/role", acme.owner),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("at least one active owner")
    );
    assert_eq!(app.staff_role(acme.owner).await, "owner");

    // With a second owner, the first may step down ...
    let r = owner
        .post_form(
            &format!("/admin/staff/{}/role", acme.admin),
            &[("role", "owner")],
        )
        .await;
    assert_redirects_to(&r, &format!("/admin/staff/{}", acme.admin));
    let r = owner
        .post_form(
            &format!("/admin/staff/{}/role", acme.owner),
            &[("role", "admin")],
        )
        .await;
    assert_redirects_to(&r, &format!("/admin/staff/{}", acme.owner));
    assert_eq!(app.staff_role(acme.owner).await, "admin");
    // ... but the remaining owner can't be deactivated by the new admin.
    let r = owner
        .post_form(&format!("/admin/staff/{}/deactivate", acme.admin), &[])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.staff_active(acme.admin).await);
    assert_eq!(app.audited_count(acme.id, "staff.role_changed").await, 2);
}

#[tokio::test]
async fn the_only_owner_cannot_demote_themselves_even_when_deactivated_owners_exist() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    sqlx::query("UPDATE staff SET role = 'owner', active = false WHERE id = $1")
        .bind(acme.manager)
        .execute(&app.pool)
        .await
        .unwrap();
    let owner = app.signed_in(&acme.email("owner")).await;
    let r = owner
        .post_form(
            &format!("/admin/staff/{}/role", acme.owner),
            &[("role", "chatter")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.staff_role(acme.owner).await, "owner");
}

#[tokio::test]
async fn admins_cannot_touch_owners_or_grant_ownership() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let r = admin
        .post_form(
            &format!("/admin/staff/{}/role", acme.chatter),
            &[("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.staff_role(acme.chatter).await, "chatter");
    let r = admin
        .post_form(&format!("/admin/staff/{}/deactivate", acme.owner), &[])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.staff_active(acme.owner).await);
    let r = admin
        .post_form(
            &format!("/admin/staff/{}/role", acme.chatter),
            &[("role", "manager")],
        )
        .await;
    assert_redirects_to(&r, &format!("/admin/staff/{}", acme.chatter));
    assert_eq!(app.staff_role(acme.chatter).await, "manager");
}

#[tokio::test]
async fn nobody_can_deactivate_themselves() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let r = admin
        .post_form(&format!("/admin/staff/{}/deactivate", acme.admin), &[])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.staff_active(acme.admin).await);
}

#[tokio::test]
async fn deactivate_then_reactivate() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    admin
        .post_form(&format!("/admin/staff/{}/deactivate", acme.chatter), &[])
        .await;
    assert_eq!(
        app.client()
            .login(&acme.email("chatter"), PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = admin
        .post_form(&format!("/admin/staff/{}/reactivate", acme.chatter), &[])
        .await;
    assert_redirects_to(&r, &format!("/admin/staff/{}", acme.chatter));
    assert_eq!(
        app.client()
            .login(&acme.email("chatter"), PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    app.assert_audited(acme.id, "staff.deactivated").await;
    app.assert_audited(acme.id, "staff.reactivated").await;
}

#[tokio::test]
async fn chatters_and_managers_cannot_reach_admin_pages() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    for who in ["chatter", "manager"] {
        let c = app.signed_in(&acme.email(who)).await;
        for path in [
            "/admin/staff",
            "/admin/staff/invite",
            "/admin/audit",
            &format!("/admin/staff/{}", acme.owner),
        ] {
            let r = c.get(path).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who} GET {path}");
            assert!(
                r.text()
                    .await
                    .unwrap()
                    .contains("Your role does not give you access")
            );
        }
        let r = c
            .post_form(
                &format!("/admin/staff/{}/role", acme.id_of(who)),
                &[("role", "owner")],
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{who} promoting themselves"
        );
        let r = c
            .post_form(&format!("/admin/staff/{}/deactivate", acme.owner), &[])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = c
            .post_form(
                "/admin/staff/invite",
                &[
                    ("email", "x@acme.test"),
                    ("display_name", "X"),
                    ("role", "admin"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // Navigation shows no admin entries to them.
        let (_, body) = c.get_html("/").await;
        assert!(
            !body.contains("href=\"/admin/staff\""),
            "{who} sees admin nav"
        );
    }
    assert_eq!(app.staff_role(acme.chatter).await, "chatter");
    assert_eq!(app.staff_role(acme.manager).await, "manager");
    assert!(app.staff_active(acme.owner).await);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn fanvue_uuid_is_validated_and_kept_on_error() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let path = format!("/admin/staff/{}/fanvue-uuid", acme.chatter);
    let r = admin
        .post_form(&path, &[("fanvue_user_uuid", "not-a-uuid-at-all")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("value=\"not-a-uuid-at-all\""),
        "typed value kept"
    );
    assert!(body.contains("aria-invalid=\"true\""));

    let uuid = "3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c";
    assert_redirects_to(
        &admin.post_form(&path, &[("fanvue_user_uuid", uuid)]).await,
        "/admin/staff/",
    );
    let stored: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT fanvue_user_uuid FROM staff WHERE id = $1")
            .bind(acme.chatter)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored.unwrap().to_string(), uuid);

    // The same team member can't be mapped to two people in one agency.
    let r = admin
        .post_form(
            &format!("/admin/staff/{}/fanvue-uuid", acme.manager),
            &[("fanvue_user_uuid", uuid)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("already mapped"));

    // Empty clears it.
    admin.post_form(&path, &[("fanvue_user_uuid", "")]).await;
    let stored: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT fanvue_user_uuid FROM staff WHERE id = $1")
            .bind(acme.chatter)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(stored.is_none());
    app.assert_audited(acme.id, "staff.fanvue_uuid_changed")
        .await;
}

#[tokio::test]
async fn display_names_are_rendered_escaped() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    sqlx::query("UPDATE staff SET display_name = '<script>alert(1)</script>' WHERE id = $1")
        .bind(acme.chatter)
        .execute(&app.pool)
        .await
        .unwrap();
    let admin = app.signed_in(&acme.email("admin")).await;
    for path in [
        "/admin/staff".to_owned(),
        format!("/admin/staff/{}", acme.chatter),
    ] {
        let (status, body) = admin.get_html(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !body.contains("<script>alert(1)</script>"),
            "{path} renders raw markup"
        );
        assert!(
            body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}: {body}"
        );
    }
    // The chatter's own navigation escapes it too.
    let chatter = app.signed_in(&acme.email("chatter")).await;
    let (_, body) = chatter.get_html("/").await;
    assert!(!body.contains("<script>alert(1)</script>"));
}

#[tokio::test]
async fn deactivating_an_admin_revokes_their_pending_invites() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let link = create_invite(&admin, "later@acme.test", "Later", "admin").await;
    let owner = app.signed_in(&acme.email("owner")).await;
    let r = owner
        .post_form(&format!("/admin/staff/{}/deactivate", acme.admin), &[])
        .await;
    assert_redirects_to(&r, &format!("/admin/staff/{}", acme.admin));
    assert!(
        !invite_usable(&app, &link).await,
        "a deactivated admin's invite must not stay valid"
    );
    let revoked: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT revoked_at FROM invites WHERE email = 'later@acme.test'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(revoked.is_some(), "the invite is marked revoked");
    // Reactivating does not bring the invite back.
    assert_redirects_to(
        &owner
            .post_form(&format!("/admin/staff/{}/reactivate", acme.admin), &[])
            .await,
        &format!("/admin/staff/{}", acme.admin),
    );
    assert!(app.staff_active(acme.admin).await);
    assert!(!invite_usable(&app, &link).await);
}

#[tokio::test]
async fn demoting_an_inviter_revokes_the_invites_their_new_role_may_not_grant() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let owner = app.signed_in(&acme.email("owner")).await;
    // The admin becomes a second owner and invites an owner and a chatter.
    assert_redirects_to(
        &owner
            .post_form(
                &format!("/admin/staff/{}/role", acme.admin),
                &[("role", "owner")],
            )
            .await,
        "/admin/staff/",
    );
    let second = app.signed_in(&acme.email("admin")).await;
    let owner_link = create_invite(&second, "boss@acme.test", "Boss", "owner").await;
    let chatter_link = create_invite(&second, "chat@acme.test", "Chat", "chatter").await;

    // Back to admin: the owner invite goes, the chatter invite stays.
    assert_redirects_to(
        &owner
            .post_form(
                &format!("/admin/staff/{}/role", acme.admin),
                &[("role", "admin")],
            )
            .await,
        "/admin/staff/",
    );
    assert!(
        !invite_usable(&app, &owner_link).await,
        "owner invite revoked"
    );
    assert!(
        invite_usable(&app, &chatter_link).await,
        "chatter invite kept"
    );

    // Down to manager: nothing they invited stays valid.
    assert_redirects_to(
        &owner
            .post_form(
                &format!("/admin/staff/{}/role", acme.admin),
                &[("role", "manager")],
            )
            .await,
        "/admin/staff/",
    );
    assert!(
        !invite_usable(&app, &chatter_link).await,
        "chatter invite revoked"
    );
}

#[tokio::test]
async fn admins_cannot_remap_an_owners_fanvue_uuid() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let owner_uuid = "11111111-2222-4333-8444-555555555555";
    sqlx::query("UPDATE staff SET fanvue_user_uuid = $2 WHERE id = $1")
        .bind(acme.owner)
        .bind(uuid::Uuid::parse_str(owner_uuid).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let admin = app.signed_in(&acme.email("admin")).await;
    for value in ["3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c", ""] {
        let r = admin
            .post_form(
                &format!("/admin/staff/{}/fanvue-uuid", acme.owner),
                &[("fanvue_user_uuid", value)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{value:?}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Only an owner can change another owner.")
        );
    }
    let stored: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT fanvue_user_uuid FROM staff WHERE id = $1")
            .bind(acme.owner)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored.unwrap().to_string(), owner_uuid);
    assert!(
        !app.audit_actions(acme.id)
            .await
            .contains(&"staff.fanvue_uuid_changed".to_owned())
    );
    // The owner may still map themselves.
    let owner = app.signed_in(&acme.email("owner")).await;
    assert_redirects_to(
        &owner
            .post_form(
                &format!("/admin/staff/{}/fanvue-uuid", acme.owner),
                &[("fanvue_user_uuid", "")],
            )
            .await,
        "/admin/staff/",
    );
}
