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

#[tokio::test]
async fn origin_must_be_the_public_url_origin_not_whatever_host_says() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let token = admin.csrf().await;
    let url = admin.url(&format!("/admin/staff/{}/role", acme.chatter));
    let public = app.settings.public_url.origin().ascii_serialization();
    let other_scheme = public.replacen("http://", "https://", 1);
    for (origin, host) in [
        (other_scheme.as_str(), None),
        ("http://evil.example", Some("evil.example")),
        ("null", None),
    ] {
        let mut req = admin
            .http
            .post(&url)
            .header("x-csrf-token", &token)
            .header("origin", origin);
        if let Some(h) = host {
            req = req.header("host", h);
        }
        let r = req.form(&[("role", "manager")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "Origin {origin}");
        assert_eq!(app.staff_role(acme.chatter).await, "chatter");
    }
    let r = admin
        .http
        .post(&url)
        .header("x-csrf-token", &token)
        .header("origin", &public)
        .form(&[("role", "manager")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "Origin {public}");
    assert_eq!(app.staff_role(acme.chatter).await, "manager");
}

/// Sends a chunked POST to /login without Content-Length, feeding chunks
/// from `feed` (which may never end), and returns the status line the server
/// answered with (None: connection closed without an answer), or panics if
/// no answer comes within 20 s.
fn chunked_post(addr: &str, feed: fn(&mut std::net::TcpStream)) -> Option<String> {
    use std::io::{Read, Write};
    let hostport = addr.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&hostport).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /login HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || feed(&mut writer));
    let mut buf = [0u8; 512];
    match stream.read(&mut buf) {
        Ok(0) => None,
        Ok(n) => Some(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
        Err(e) => panic!("no answer to an endless body: {e}"),
    }
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_off_by_size() {
    let app = TestApp::spawn().await;
    let addr = app.address.clone();
    let status = tokio::task::spawn_blocking(move || {
        chunked_post(&addr, |w| {
            use std::io::Write;
            let chunk = vec![b'a'; 64 * 1024];
            loop {
                if write!(w, "{:x}\r\n", chunk.len()).is_err()
                    || w.write_all(&chunk).is_err()
                    || w.write_all(b"\r\n").is_err()
                {
                    return;
                }
            }
        })
    })
    .await
    .unwrap();
    if let Some(s) = status {
        assert!(s.contains("413"), "{s}");
    }
}

#[tokio::test]
async fn a_stalled_chunked_body_is_cut_off_by_time() {
    let app = TestApp::spawn().await;
    let addr = app.address.clone();
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        chunked_post(&addr, |w| {
            use std::io::Write;
            let _ = w.write_all(b"5\r\nemail\r\n");
            // Then nothing, but the connection stays open.
            std::thread::sleep(std::time::Duration::from_secs(30));
        })
    })
    .await
    .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let s = status.expect("a 408 answer, not a closed connection");
    assert!(s.contains("408"), "{s}");
}
