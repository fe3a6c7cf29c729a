use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn login_succeeds_and_shows_the_overview() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.client();
    let r = c.login(&acme.email("owner"), PASSWORD).await;
    assert_redirects_to(&r, "/");
    let (status, body) = c.get_html("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Welcome back, Acme Owner"), "{body}");
    let last_login: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_login_at FROM staff WHERE id = $1")
            .bind(acme.owner)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(last_login.is_some());
    app.assert_audited(acme.id, "login.succeeded").await;
}

#[tokio::test]
async fn login_follows_only_local_next_paths() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.client();
    let r = c
        .post_form(
            "/login",
            &[
                ("email", &acme.email("owner")),
                ("password", PASSWORD),
                ("next", "/admin/audit"),
            ],
        )
        .await;
    assert_redirects_to(&r, "/admin/audit");
    let c = app.client();
    let r = c
        .post_form(
            "/login",
            &[
                ("email", &acme.email("owner")),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_response() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.client();
    let known = c
        .login(&acme.email("owner"), "not the password at all")
        .await;
    let known_status = known.status();
    let known_body = known
        .text()
        .await
        .unwrap()
        .replace(&acme.email("owner"), "EMAIL");
    let unknown = c.login("nobody@acme.test", "not the password at all").await;
    let unknown_status = unknown.status();
    let unknown_body = unknown
        .text()
        .await
        .unwrap()
        .replace("nobody@acme.test", "EMAIL");
    assert_eq!(known_status, StatusCode::UNAUTHORIZED);
    assert_eq!(known_status, unknown_status);
    assert_eq!(known_body, unknown_body);
    assert!(known_body.contains("That email and password combination is not right."));
    // The failed attempt on a real account is audited for that agency.
    app.assert_audited(acme.id, "login.failed").await;
}

#[tokio::test]
async fn deactivated_account_cannot_log_in_with_the_right_password() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    sqlx::query("UPDATE staff SET active = false WHERE id = $1")
        .bind(acme.chatter)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app.client().login(&acme.email("chatter"), PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn throttling_per_account_kicks_in_and_clears() {
    let app = TestApp::spawn_with(|s| {
        s.auth.max_failures_per_account = 3;
    })
    .await;
    let acme = app.agency("Acme").await;
    let c = app.client();
    for _ in 0..3 {
        assert_eq!(
            c.login(&acme.email("owner"), "wrong password!!")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked now, even with the right password.
    let r = c.login(&acme.email("owner"), PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    let body = r.text().await.unwrap();
    assert!(body.contains("Try again in 15 minutes."), "{body}");
    // Another account from another client is not affected.
    assert_eq!(
        app.client()
            .login(&acme.email("admin"), PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    app.age_login_failures(std::time::Duration::from_secs(901))
        .await;
    assert_redirects_to(&c.login(&acme.email("owner"), PASSWORD).await, "/");
    app.assert_audited(acme.id, "login.succeeded").await;
}

#[tokio::test]
async fn throttling_per_client_address_covers_many_emails() {
    let app = TestApp::spawn_with(|s| {
        s.auth.max_failures_per_ip = 4;
    })
    .await;
    let acme = app.agency("Acme").await;
    let c = app.client();
    for i in 0..4 {
        let r = c
            .login(&format!("guess{i}@acme.test"), "wrong password!!")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.client().login(&acme.email("owner"), PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "same address is locked out"
    );
    app.age_login_failures(std::time::Duration::from_secs(901))
        .await;
    assert_eq!(
        app.client()
            .login(&acme.email("owner"), PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn session_id_changes_at_login_and_the_old_one_is_dead() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.client();
    c.get_html("/login").await;
    let before = c.session_cookie().expect("anonymous session cookie");
    assert_redirects_to(&c.login(&acme.email("owner"), PASSWORD).await, "/");
    let after = c.session_cookie().expect("session cookie");
    assert_ne!(before, after);
    // The pre-login cookie does not carry the login.
    let stale = TestClient::with_cookie(&app.address, &before);
    assert_redirects_to(&stale.get("/").await, "/login");
    // The new one does.
    let fresh = TestClient::with_cookie(&app.address, &after);
    assert_eq!(fresh.get("/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn session_cookie_flags() {
    let app = TestApp::spawn().await;
    let r = app.client().get("/login").await;
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("sb_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "http deployments cannot use Secure cookies: {cookie}"
    );
}

#[tokio::test]
async fn secure_cookie_and_hsts_when_public_url_is_https() {
    let (_app, r, cookie) = login_page_over_https().await;
    assert!(cookie.contains("Secure"), "{cookie}");
    assert_eq!(
        r.headers().get("strict-transport-security").unwrap(),
        "max-age=63072000; includeSubDomains"
    );
}

#[tokio::test]
async fn logout_ends_the_server_side_session() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.signed_in(&acme.email("owner")).await;
    let cookie = c.session_cookie().unwrap();
    assert_eq!(c.get("/").await.status(), StatusCode::OK);
    let r = c.post_form("/logout", &[]).await;
    assert_redirects_to(&r, "/login?signed_out=1");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE staff_id = $1")
        .bind(acme.owner)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    // Replaying the old cookie does not bring the session back.
    let replay = TestClient::with_cookie(&app.address, &cookie);
    assert_redirects_to(&replay.get("/").await, "/login");
    app.assert_audited(acme.id, "logout").await;
}

#[tokio::test]
async fn deactivated_staff_session_stops_at_the_next_request() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let chatter = app.signed_in(&acme.email("chatter")).await;
    assert_eq!(chatter.get("/").await.status(), StatusCode::OK);
    let admin = app.signed_in(&acme.email("admin")).await;
    let r = admin
        .post_form(&format!("/admin/staff/{}/deactivate", acme.chatter), &[])
        .await;
    assert_redirects_to(&r, &format!("/admin/staff/{}", acme.chatter));
    assert!(!app.staff_active(acme.chatter).await);
    assert_redirects_to(&chatter.get("/").await, "/login");
}

#[tokio::test]
async fn reading_pages_does_not_rewrite_the_session_row() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.signed_in(&acme.email("owner")).await;
    assert_eq!(c.get("/").await.status(), StatusCode::OK);
    // A row's xmin changes with every UPDATE of it.
    let version = || async {
        sqlx::query_scalar::<_, String>("SELECT xmin::text FROM sessions WHERE staff_id = $1")
            .bind(acme.owner)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let before = version().await;
    for path in ["/", "/inbox", "/account", "/"] {
        assert_eq!(c.get(path).await.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(version().await, before, "a page view wrote the session");
}

#[tokio::test]
async fn idle_session_expires() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.signed_in(&acme.email("owner")).await;
    assert_eq!(c.get("/").await.status(), StatusCode::OK);
    // Simulate the idle deadline passing.
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE staff_id = $1")
        .bind(acme.owner)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_redirects_to(&c.get("/").await, "/login");
}

#[tokio::test]
async fn changing_password_ends_other_sessions_but_keeps_this_one() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let laptop = app.signed_in(&acme.email("manager")).await;
    let phone = app.signed_in(&acme.email("manager")).await;
    laptop.get_html("/account/password").await;
    let r = laptop
        .change_password(PASSWORD, "a brand new passphrase")
        .await;
    assert_redirects_to(&r, "/account");
    assert_eq!(laptop.get("/").await.status(), StatusCode::OK);
    assert_redirects_to(&phone.get("/").await, "/login");
    assert_eq!(
        app.client()
            .login(&acme.email("manager"), PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.client()
            .login(&acme.email("manager"), "a brand new passphrase")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    app.assert_audited(acme.id, "password.changed").await;
}

#[tokio::test]
async fn password_change_requires_the_current_password_and_re_renders_errors() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.signed_in(&acme.email("chatter")).await;
    let r = c
        .post_form(
            "/account/password",
            &[
                ("current_password", "wrong wrong wrong"),
                ("new_password", "short"),
                ("new_password_confirm", "other"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Your current password is not right."),
        "{body}"
    );
    assert!(body.contains("Use at least 12 characters"), "{body}");
    assert_eq!(
        app.client()
            .login(&acme.email("chatter"), PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn anonymous_requests_are_sent_to_login_with_next() {
    let app = TestApp::spawn().await;
    let r = app.client().get("/admin/staff").await;
    assert_redirects_to(&r, "/login?next=%2Fadmin%2Fstaff");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let r = app.client().get("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ok");
    let r = app.client().get("/readyz").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn login_with_a_tab_in_next_stays_on_this_site() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    for hostile in ["/\t/evil.example", "/\\/evil.example", "/\u{ff0f}/evil"] {
        let c = app.client();
        let r = c
            .post_form(
                "/login",
                &[
                    ("email", &acme.email("owner")),
                    ("password", PASSWORD),
                    ("next", hostile),
                ],
            )
            .await;
        assert_eq!(location(&r), "/", "{hostile:?}");
    }
}

#[tokio::test]
async fn thirty_parallel_wrong_passwords_get_at_most_the_limit_of_guesses() {
    let app = TestApp::spawn_with(|s| {
        s.auth.max_failures_per_account = 5;
        s.auth.max_failures_per_ip = 1000;
    })
    .await;
    let acme = app.agency("Acme").await;
    let c = app.client();
    c.csrf().await;
    let email = acme.email("owner");
    let attempts = (0..30).map(|i| {
        let c = &c;
        let email = email.as_str();
        async move {
            let pw = format!("wrong password number {i}");
            c.post_form("/login", &[("email", email), ("password", &pw)])
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    for s in &statuses {
        assert!(
            [
                StatusCode::UNAUTHORIZED,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(s),
            "{statuses:?}"
        );
    }
    // Every verified (and failed) password writes one login.failed row.
    let verified: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'login.failed' AND target = $1",
    )
    .bind(&email)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        (1..=5).contains(&verified),
        "{verified} passwords were verified; the limit is 5 ({statuses:?})"
    );
    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(unauthorized as i64, verified);
}

#[tokio::test]
async fn anonymous_pages_store_no_session_rows_and_their_forms_still_work() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    for _ in 0..5 {
        let c = app.client();
        assert_eq!(c.get_html("/login").await.0, StatusCode::OK);
        assert_eq!(
            c.get_html("/invite/not-a-real-token").await.0,
            StatusCode::NOT_FOUND
        );
        assert!(
            c.session_cookie().is_some(),
            "the form token rides in the cookie"
        );
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "anonymous visits must not grow the session table");
    // A failed login keeps nothing worth a row either; a good one does.
    let c = app.client();
    assert_eq!(
        c.login(&acme.email("owner"), "wrong password!!")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    assert_redirects_to(&c.login(&acme.email("owner"), PASSWORD).await, "/");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE staff_id = $1")
        .bind(acme.owner)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_huge_email_is_stored_cut_to_the_longest_real_address() {
    let app = TestApp::spawn().await;
    let huge = format!("{}@acme.test", "a".repeat(60_000));
    let r = app.client().login(&huge, "wrong password!!").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let failure: i32 = sqlx::query_scalar("SELECT max(length(email)) FROM login_failures")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        failure, 254,
        "login_failures.email is cut to the longest address"
    );
    let audited: i32 = sqlx::query_scalar(
        "SELECT max(length(target)) FROM audit_log WHERE action = 'login.failed'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        audited, 254,
        "the audit target is cut to the longest address"
    );
}

#[tokio::test]
async fn throttled_attempts_write_at_most_one_audit_row_a_minute() {
    let app = TestApp::spawn_with(|s| s.auth.max_failures_per_account = 2).await;
    let acme = app.agency("Acme").await;
    let c = app.client();
    for _ in 0..2 {
        c.login(&acme.email("owner"), "wrong password!!").await;
    }
    for _ in 0..10 {
        assert_eq!(
            c.login(&acme.email("owner"), "wrong password!!")
                .await
                .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let throttled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'login.throttled'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(throttled, 1);
    // A minute later (aged in the database) the next one is recorded again.
    sqlx::query("UPDATE audit_log SET at = at - interval '61 seconds'")
        .execute(&app.pool)
        .await
        .unwrap();
    c.login(&acme.email("owner"), "wrong password!!").await;
    let throttled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'login.throttled'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(throttled, 2);
}

#[tokio::test]
async fn current_password_guesses_on_the_change_form_are_throttled() {
    let app = TestApp::spawn_with(|s| s.auth.max_failures_per_account = 3).await;
    let acme = app.agency("Acme").await;
    let c = app.signed_in(&acme.email("chatter")).await;
    let change = |current: &'static str| c.change_password(current, "a brand new passphrase");
    for _ in 0..3 {
        assert_eq!(
            change("wrong wrong wrong").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let r = change(PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    // The password did not change.
    assert_eq!(
        app.client()
            .login(&acme.email("chatter"), "a brand new passphrase")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the account is locked for the login form too"
    );
    let unchanged =
        sqlx::query_scalar::<_, String>("SELECT password_hash FROM staff WHERE id = $1")
            .bind(acme.chatter)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        switchboard::credentials::password::verify(PASSWORD.to_owned().into(), Some(unchanged))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn changing_password_rotates_this_sessions_key() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let c = app.signed_in(&acme.email("manager")).await;
    let before = c.session_cookie().unwrap();
    let r = c.change_password(PASSWORD, "a brand new passphrase").await;
    assert_redirects_to(&r, "/account");
    let after = c.session_cookie().unwrap();
    assert_ne!(before, after, "the session key changes with the password");
    assert_redirects_to(
        &TestClient::with_cookie(&app.address, &before)
            .get("/")
            .await,
        "/login",
    );
    let (status, body) = c.get_html("/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Password changed"), "{body}");
}

#[tokio::test]
async fn session_cookie_has_the_host_prefix_when_public_url_is_https() {
    let (_app, _, cookie) = login_page_over_https().await;
    assert!(cookie.starts_with("__Host-sb_session="), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
}

/// The login page of an app whose PUBLIC_URL is https: the app, the
/// response and the session cookie it set.
async fn login_page_over_https() -> (TestApp, reqwest::Response, String) {
    let app =
        TestApp::spawn_with(|s| s.public_url = url::Url::parse("https://crm.example.com").unwrap())
            .await;
    let r = app.client().get("/login").await;
    let cookie = r
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    (app, r, cookie)
}
