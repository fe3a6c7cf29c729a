//! Captures every log line of a whole connect flow and a token refresh, at
//! the most verbose level, and proves no token or client secret appears.
//! Its own test binary: it installs the process-wide log subscriber.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use helpers::TestApp;
use secrecy::ExposeSecret;
use switchboard::connections::{access_context, refresh_context};
use switchboard::crypto::TokenCipher;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_of_a_connect_flow_and_refresh_contain_no_token() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("this binary owns the global subscriber");

    let app = TestApp::spawn_with_sim(|_| {}, |_| {}).await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let id = app.connect(&admin, app.sim().creator_uuids()[0]).await;

    let cipher = TokenCipher::new(&app.settings.secret_key);
    let stored = || async {
        let (a, r): (Vec<u8>, Vec<u8>) = sqlx::query_as(
            "SELECT access_token_enc, refresh_token_enc FROM creators WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (
            cipher
                .decrypt(&a, &access_context(id))
                .unwrap()
                .expose_secret()
                .to_owned(),
            cipher
                .decrypt(&r, &refresh_context(id))
                .unwrap()
                .expose_secret()
                .to_owned(),
        )
    };
    let (access1, refresh1) = stored().await;

    // Force a refresh so the rotated pair passes through the logs too.
    sqlx::query("UPDATE creators SET token_expires_at = now() WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let conns = app.connections();
    let client = conns.client();
    conns
        .call(
            id,
            switchboard::fanvue::Priority::Background,
            |a| async move { client.me(&a).await },
        )
        .await
        .unwrap();
    let (access2, refresh2) = stored().await;
    assert_ne!(access1, access2);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("creator connected"), "the flow was logged");
    assert!(logs.contains("refreshed Fanvue access token"));
    assert!(
        logs.len() > 10_000,
        "verbose logs were captured ({} bytes)",
        logs.len()
    );
    for (what, secret) in [
        ("access token", access1.as_str()),
        ("refresh token", refresh1.as_str()),
        ("rotated access token", access2.as_str()),
        ("rotated refresh token", refresh2.as_str()),
        ("client secret", app.sim().client_secret()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}
