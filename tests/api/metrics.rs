//! `/metrics`: off unless a token is configured, 401 without it, and after
//! some traffic the series an operator watches, with bounded labels only.

use reqwest::StatusCode;
use secrecy::SecretString;
use uuid::Uuid;

use crate::helpers::*;

const TOKEN: &str = "metrics-token-for-tests-0123456789";

async fn scrape(app: &TestApp, token: Option<&str>) -> (StatusCode, String) {
    let mut req = reqwest::Client::new().get(format!("{}/metrics", app.address));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn metrics_are_off_unless_a_token_is_configured() {
    let app = TestApp::spawn().await;
    let (s, _) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_need_the_token_and_show_the_operators_series() {
    let c = TestApp::with_connected_creator_in(
        |_| {},
        |s| s.metrics.token = Some(SecretString::from(TOKEN)),
    )
    .await;
    let app = &c.app;
    assert_eq!(scrape(app, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(app, Some("metrics-token-for-tests-wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let r = reqwest::Client::new()
        .get(format!("{}/metrics", app.address))
        .header("Authorization", format!("Basic {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Traffic: pages, a sync against the simulator, a forged webhook.
    sync_until_idle(&app.sync_engine(), c.id).await;
    let (s, _) = c.admin.get_html("/inbox").await;
    assert_eq!(s, StatusCode::OK);
    let chat: Uuid = sqlx::query_scalar("SELECT id FROM chats WHERE creator_id = $1 LIMIT 1")
        .bind(c.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (s, _) = c.admin.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(s, StatusCode::OK);
    let r = reqwest::Client::new()
        .post(format!("{}/webhooks/fanvue/message-received", app.address))
        .header("X-Fanvue-Signature", "t=1,v0=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (s, body) = scrape(app, Some(TOKEN)).await;
    assert_eq!(s, StatusCode::OK);
    for series in [
        "switchboard_http_requests_total{method=\"GET\",route=\"/inbox\",status=\"200\"} 1",
        "switchboard_http_requests_total{method=\"GET\",route=\"/inbox/chats/{id}\",status=\"200\"} 1",
        "switchboard_http_request_duration_seconds_bucket{method=\"GET\",route=\"/inbox/chats/{id}\",le=\"10\"} 1",
        "switchboard_webhook_deliveries_total{result=\"rejected\"} 1",
        "switchboard_fanvue_requests_total{method=\"GET\",endpoint=\"/chats\",status=\"200\"}",
        "switchboard_fanvue_requests_total{method=\"POST\",endpoint=\"/chats/messages/batch\",status=\"200\"}",
        "switchboard_fanvue_rate_remaining{bucket=",
        "switchboard_db_pool_connections{state=\"idle\"}",
        "switchboard_db_pool_connections{state=\"in_use\"}",
        "switchboard_live_streams 0",
        "switchboard_creators{status=\"connected\"} 1",
        "switchboard_creators{status=\"needs_reauth\"} 0",
        "switchboard_webhook_events{status=\"dead\"} 0",
        "switchboard_webhook_lag_seconds 0",
        "switchboard_sends_last_hour{status=\"sent\"} 0",
        "switchboard_sync_runs_last_hour{kind=\"backfill\",result=\"ok\"}",
    ] {
        assert!(body.contains(series), "missing {series:?} in\n{body}");
    }
    // No fan, chat or message id in any label.
    let fans: Vec<Uuid> = sqlx::query_scalar("SELECT fan_uuid FROM chats")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for fan in fans {
        assert!(!body.contains(&fan.to_string()), "fan {fan} in a label");
    }
    assert!(!body.contains(&chat.to_string()), "chat id in a label");
    // The scrape itself is counted on the next one, by its template.
    let (_, body) = scrape(app, Some(TOKEN)).await;
    assert!(body.contains("route=\"/metrics\",status=\"200\""), "{body}");
    assert!(body.contains("route=\"/metrics\",status=\"401\""), "{body}");
}
