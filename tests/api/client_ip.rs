//! The client address behind a proxy: the entry the trusted proxy added to
//! `X-Forwarded-For`, never one the client wrote itself.

use reqwest::StatusCode;

use crate::helpers::*;

/// The address recorded for an unsigned webhook delivery (its rejection row).
async fn recorded_ip(app: &TestApp, forwarded: &[&str]) -> String {
    let raw: Vec<&[u8]> = forwarded.iter().map(|v| v.as_bytes()).collect();
    recorded_ip_raw(app, &raw).await
}

/// `recorded_ip` with header values as raw bytes (not necessarily text).
async fn recorded_ip_raw(app: &TestApp, forwarded: &[&[u8]]) -> String {
    let mut req = reqwest::Client::new()
        .post(format!("{}/webhooks/fanvue/tip", app.address))
        .body("{}");
    for v in forwarded {
        let value = reqwest::header::HeaderValue::from_bytes(v).expect("a header value");
        req = req.header("x-forwarded-for", value);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    sqlx::query_scalar("SELECT client_ip FROM webhook_rejections ORDER BY id DESC LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn behind_one_proxy_the_address_it_appended_is_used_not_the_clients_own() {
    let app = TestApp::spawn_with(|s| s.trust_forwarded_for = true).await;
    // The client wrote the first entry; the proxy appended the second.
    assert_eq!(
        recorded_ip(&app, &["6.6.6.6, 203.0.113.7"]).await,
        "203.0.113.7"
    );
    assert_eq!(
        recorded_ip(&app, &["6.6.6.6", "203.0.113.8"]).await,
        "203.0.113.8"
    );
    // A byte that is not text in the client's part does not hide the
    // proxy's entry (which would make every such client the proxy).
    assert_eq!(
        recorded_ip_raw(&app, &[b"\xe9\xe9, 203.0.113.9"]).await,
        "203.0.113.9"
    );
    // Without a header (not through the proxy): the peer.
    assert_eq!(recorded_ip(&app, &[]).await, "127.0.0.1");
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_trusted() {
    let app = TestApp::spawn().await;
    assert_eq!(
        recorded_ip(&app, &["6.6.6.6, 203.0.113.7"]).await,
        "127.0.0.1"
    );
}

#[tokio::test]
async fn behind_two_proxies_the_address_the_outer_one_appended_is_used() {
    let app = TestApp::spawn_with(|s| {
        s.trust_forwarded_for = true;
        s.trusted_proxy_hops = 2;
    })
    .await;
    // Client-written, then the CDN's entry (the client), then the load
    // balancer's (the CDN).
    assert_eq!(
        recorded_ip(&app, &["6.6.6.6, 198.51.100.4, 10.1.2.3"]).await,
        "198.51.100.4"
    );
    // Fewer entries than trusted hops, or a malformed one where the client
    // should be: the peer, never an entry further left.
    assert_eq!(recorded_ip(&app, &["10.1.2.3"]).await, "127.0.0.1");
    assert_eq!(
        recorded_ip(&app, &["6.6.6.6, not-an-ip, 10.1.2.3"]).await,
        "127.0.0.1"
    );
}
