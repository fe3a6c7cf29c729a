use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn post_without_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let r = admin
        .post_raw(
            &format!("/admin/staff/{}/role", acme.chatter),
            &[("role", "manager")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = r.text().await.unwrap();
    assert!(body.contains("This form has expired"), "{body}");
    assert_eq!(app.staff_role(acme.chatter).await, "chatter");
}

#[tokio::test]
async fn post_with_wrong_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    // A token from another session is just as wrong.
    let other = app.signed_in(&acme.email("owner")).await;
    let foreign = other.csrf().await;
    for token in ["forged", foreign.as_str()] {
        let r = admin
            .post_raw(
                &format!("/admin/staff/{}/deactivate", acme.chatter),
                &[("csrf_token", token)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert!(app.staff_active(acme.chatter).await);
    // The same request with the right token works.
    let r = admin
        .post_form(&format!("/admin/staff/{}/deactivate", acme.chatter), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!app.staff_active(acme.chatter).await);
}

#[tokio::test]
async fn login_form_needs_a_csrf_token_too() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.client();
    let r = c
        .post_raw(
            "/login",
            &[("email", &acme.email("owner")), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let logged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE staff_id IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(logged, 0);
}

#[tokio::test]
async fn csrf_header_is_accepted_and_cross_origin_posts_are_refused() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let token = admin.csrf().await;
    let url = admin.url(&format!("/admin/staff/{}/role", acme.chatter));
    let r = admin
        .http
        .post(&url)
        .header("x-csrf-token", &token)
        .header("origin", "https://evil.example")
        .form(&[("role", "manager")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign Origin");
    assert_eq!(app.staff_role(acme.chatter).await, "chatter");
    let r = admin
        .http
        .post(&url)
        .header("x-csrf-token", &token)
        .form(&[("role", "manager")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.staff_role(acme.chatter).await, "manager");
}

#[tokio::test]
async fn ten_megabyte_form_is_refused_with_413() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let token = admin.csrf().await;
    let big = "x".repeat(10 * 1024 * 1024);
    let r = admin
        .http
        .post(admin.url("/admin/staff/invite"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "big@acme.test"),
            ("display_name", big.as_str()),
            ("role", "chatter"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("larger than Switchboard accepts")
    );
    let invites: i64 = sqlx::query_scalar("SELECT count(*) FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(invites, 0);
}
