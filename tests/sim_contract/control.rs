//! The control API: faults, clock, tokens, test deliveries, endpoint registration.

use serde_json::{Value, json};
use switchboard::sim::{self, FaultsPatch};

use crate::fixture::*;

#[tokio::test]
async fn plain_mode_hides_the_control_api() {
    let mut cfg = small();
    cfg.mode = sim::SimMode::Plain;
    let t = spawn_with(cfg).await;
    assert!(t.sim.control_url().is_none());
    let r = t
        .http
        .get(format!("{}/_sim/info", t.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    t.sim.stop().await;
}

#[tokio::test]
async fn control_test_delivery_and_endpoint_registration() {
    let t = spawn().await;
    let ctl = t.sim.control_url().unwrap();
    let (url, got, rh) = receiver(vec![]).await;
    let r = t
        .http
        .post(format!("{ctl}/webhooks/endpoints"))
        .json(&json!({"url": url, "events": ["message.read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = t
        .http
        .post(format!("{ctl}/webhooks/test"))
        .json(&json!({"event": "message.read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    wait_for(|| !t.sim.deliveries().is_empty()).await;
    let v: Value = serde_json::from_str(&got.lock()[0].1).unwrap();
    assert_eq!(v["readMessagesCount"], 1);
    let log: Value = t.control_json("/webhooks/deliveries").await;
    assert_eq!(log[0]["outcome"], "delivered");
    assert_eq!(log[0]["event"], "message.read");
    rh.stop(true).await;
    t.sim.stop().await;
}

#[tokio::test]
async fn control_test_samples_have_documented_shapes_and_reorder_swaps_pairs() {
    let mut cfg = small();
    cfg.webhooks.topic_header = Some("X-Fanvue-Topic".into());
    let t = spawn_with(cfg).await;
    let ctl = t.sim.control_url().unwrap();
    let (url, got, rh) = receiver(vec![]).await;
    t.sim.register_webhook(&url, &[]);
    let topics = [
        "message.received",
        "message.read",
        "purchase.new",
        "tip.new",
        "follow.new",
        "subscription.new",
    ];
    for tp in topics {
        let r = t
            .http
            .post(format!("{ctl}/webhooks/test"))
            .json(&json!({ "event": tp }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{tp}");
        // One at a time, so arrival order is the sending order.
        wait_for(|| got.lock().iter().any(|(h, _)| h["x-fanvue-topic"] == tp)).await;
    }
    let items = got.lock().clone();
    assert_eq!(items.len(), topics.len());
    for (h, body) in &items {
        assert_documented_payload(
            h["x-fanvue-topic"].as_str(),
            &serde_json::from_str(body).unwrap(),
        );
    }
    // Reorder: each delivery is held back and goes out after the next one.
    got.lock().clear();
    t.sim.patch_faults(FaultsPatch {
        webhook_reorder: Some(true),
        ..Default::default()
    });
    for tp in ["follow.new", "subscription.new"] {
        t.http
            .post(format!("{ctl}/webhooks/test"))
            .json(&json!({ "event": tp }))
            .send()
            .await
            .unwrap();
    }
    wait_for(|| got.lock().len() >= 2).await;
    let order: Vec<String> = got
        .lock()
        .iter()
        .map(|(h, _)| h["x-fanvue-topic"].clone())
        .collect();
    assert_eq!(order, vec!["subscription.new", "follow.new"]);
    rh.stop(true).await;
    t.sim.stop().await;
}

#[tokio::test]
async fn control_api_switches_faults_moves_the_clock_and_manages_tokens_over_http() {
    let t = spawn().await;
    let ctl = t.sim.control_url().unwrap();
    let post = |path: &str, body: Value| t.http.post(format!("{ctl}{path}")).json(&body).send();
    let r = post("/faults", json!({"force_429": true})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["force_429"], true);
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 429);
    let r = t
        .http
        .put(format!("{ctl}/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.sim.faults(), sim::Faults::default());
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 200);
    let stats: Value = t.control_json("/stats").await;
    assert_eq!(stats["byEndpoint"]["GET /users/me"], 2);
    assert_eq!(stats["rateLimited"], 1);
    // Tokens over HTTP, then expiry by clock advance, then revocation.
    let tok: Value = post(
        "/oauth/tokens",
        json!({"user": t.creator.to_string(), "scopes": ["read:self"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let at = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        t.get_as("/users/me", &at).send().await.unwrap().status(),
        200
    );
    let r = post("/oauth/revoke", json!({"user": t.creator.to_string()}))
        .await
        .unwrap();
    assert!(
        r.json::<Value>().await.unwrap()["revokedGrants"]
            .as_u64()
            .unwrap()
            >= 2
    );
    assert_eq!(
        t.get_as("/users/me", &at).send().await.unwrap().status(),
        401
    );
    let before = t.sim.now();
    let clock: Value = post("/clock/advance", json!({"seconds": 3601}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let after = chrono::DateTime::parse_from_rfc3339(clock["now"].as_str().unwrap()).unwrap();
    assert!((after.timestamp() - before.timestamp()) >= 3601);
    let r = post("/oauth/tokens", json!({"user": "nobody", "scopes": []}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    t.sim.stop().await;
}

/// `GET /truth/fan-messages` lists exactly the messages the truth shows as
/// sent by a fan, and a held schedule (`scheduled_paused`) keeps a due
/// purchase from firing until it is released.
#[tokio::test]
async fn fan_message_index_matches_the_truth_and_scheduled_work_can_be_held() {
    let t = spawn().await;
    let truth: Value = t.control_json("/truth").await;
    let mut from_fans: Vec<String> = Vec::new();
    for c in truth["creators"].as_array().unwrap() {
        let creator = c["user"]["uuid"].as_str().unwrap();
        for chat in c["chats"].as_array().unwrap() {
            for m in chat["messages"].as_array().unwrap() {
                if m["sender"]["uuid"].as_str() != Some(creator) {
                    from_fans.push(m["uuid"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    let mut index: Vec<String> =
        serde_json::from_value(t.control_json("/truth/fan-messages").await).unwrap();
    from_fans.sort();
    index.sort();
    assert!(!index.is_empty());
    assert_eq!(index, from_fans);

    // Live activity sends PPVs whose purchases are scheduled for later.
    let mut pending = 0;
    for _ in 0..20 {
        t.sim.generate_activity(200);
        let now: Value = t.control_json("/truth").await;
        pending = now["pendingPurchases"].as_u64().unwrap();
        if pending > 0 {
            break;
        }
    }
    assert!(pending > 0, "the world has purchases scheduled after now");
    t.sim.patch_faults(FaultsPatch {
        scheduled_paused: Some(true),
        ..Default::default()
    });
    // A day later every scheduled purchase is due, and none fires while held.
    t.sim.advance_clock(std::time::Duration::from_secs(86_400));
    assert_eq!(t.sim.tick(), 0, "nothing fires while held");
    let held: Value = t.control_json("/truth").await;
    assert_eq!(held["pendingPurchases"].as_u64(), Some(pending));
    t.sim.patch_faults(FaultsPatch {
        scheduled_paused: Some(false),
        ..Default::default()
    });
    assert!(t.sim.tick() > 0, "released, the due purchases fire");
    let after: Value = t.control_json("/truth").await;
    assert_eq!(after["pendingPurchases"].as_u64(), Some(0));
}
