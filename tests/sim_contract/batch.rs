//! The messages batch endpoint: bounds, modes, cursors, per-key errors, validation.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::sim::FaultsPatch;
use uuid::Uuid;

use crate::fixture::*;

#[tokio::test]
async fn batch_chat_uuids_bounds_0_1_50_51() {
    let t = spawn().await;
    let fans = t.fans();
    for (n, ok) in [(0, false), (1, true), (50, true), (51, false)] {
        let (s, b) = t.batch(json!({"chatUuids": &fans[..n]})).await;
        if ok {
            assert_eq!(s, 200, "n={n}");
            assert_eq!(b["byChat"].as_object().unwrap().len(), n);
        } else {
            assert_eq!(s, 400, "n={n}");
            assert!(b["errors"].as_array().is_some_and(|e| !e.is_empty()), "{b}");
        }
    }
    t.sim.stop().await;
}

#[tokio::test]
async fn batch_limit_bounds_0_1_50_51_and_default_20() {
    let mut cfg = small();
    cfg.scenario.messages_per_chat = 60;
    cfg.scenario.fans_per_creator = 2;
    let t = spawn_with(cfg).await;
    let fan = t.fans()[0];
    for (limit, expect) in [(0, None), (1, Some(1)), (50, Some(50)), (51, None)] {
        let (s, b) = t.batch(json!({"chatUuids": [fan], "limit": limit})).await;
        match expect {
            Some(n) => {
                assert_eq!(s, 200);
                assert_eq!(
                    b["byChat"][fan.to_string()]["messages"]
                        .as_array()
                        .unwrap()
                        .len(),
                    n
                );
                assert_eq!(b["byChat"][fan.to_string()]["hasMore"], true);
            }
            None => assert_eq!(s, 400, "limit={limit}"),
        }
    }
    let (_, b) = t.batch(json!({"chatUuids": [fan]})).await;
    assert_eq!(
        b["byChat"][fan.to_string()]["messages"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    t.sim.stop().await;
}

#[tokio::test]
async fn batch_default_mode_returns_latest_newest_first_with_oldest_anchor() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let (_, b) = t.batch(json!({"chatUuids": [fan], "limit": 5})).await;
    let entry = &b["byChat"][fan.to_string()];
    let msgs = entry["messages"].as_array().unwrap();
    let (_, hist) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=5&markAsRead=false")))
        .await;
    let ids = |a: &Vec<Value>| a.iter().map(|m| m["uuid"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(msgs), ids(hist["data"].as_array().unwrap()));
    assert_eq!(entry["oldestMessageUuid"], msgs[4]["uuid"]);
    assert_eq!(entry["hasMore"], true);
    t.sim.stop().await;
}

#[tokio::test]
async fn batch_incremental_is_strictly_after_cursor_publish_time() {
    let t = spawn().await;
    let fans = t.fans();
    t.sim.freeze_clock(true);
    let m1 = t.send_text(&fans[0], "first").await;
    let m2 = t.send_text(&fans[1], "same millisecond").await;
    t.sim.advance_clock(Duration::from_millis(1));
    let m3 = t.send_text(&fans[1], "later").await;
    let (s, b) = t
        .batch(json!({"chatUuids": [fans[0], fans[1]], "sinceMessageUuid": m1, "limit": 50}))
        .await;
    assert_eq!(s, 200);
    let a = &b["byChat"][fans[0].to_string()];
    assert_eq!(a["messages"], json!([]));
    assert_eq!(a["hasMore"], false);
    assert_eq!(a["oldestMessageUuid"], Value::Null);
    let c = &b["byChat"][fans[1].to_string()];
    let got: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        vec![m3.to_string()],
        "m2 shares m1's timestamp: excluded"
    );
    assert_ne!(m2, m3);
    let (_, b) = t
        .batch(json!({"chatUuids": [fans[1]], "sinceMessageUuid": m3}))
        .await;
    assert_eq!(b["byChat"][fans[1].to_string()]["messages"], json!([]));
    t.sim.stop().await;
}

#[tokio::test]
async fn batch_incremental_has_more_when_more_than_limit_are_new() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let cursor = t.send_text(&fan, "cursor").await;
    t.sim.advance_clock(Duration::from_millis(5));
    for i in 0..3 {
        t.send_text(&fan, &format!("new {i}")).await;
        t.sim.advance_clock(Duration::from_millis(5));
    }
    let (_, b) = t
        .batch(json!({"chatUuids": [fan], "sinceMessageUuid": cursor, "limit": 2}))
        .await;
    let e = &b["byChat"][fan.to_string()];
    assert_eq!(e["messages"].as_array().unwrap().len(), 2);
    assert_eq!(e["messages"][0]["text"], "new 2");
    assert_eq!(e["hasMore"], true);
    t.sim.stop().await;
}

#[tokio::test]
async fn batch_per_key_errors_not_found_forbidden_internal() {
    let t = spawn().await;
    let fans = t.fans();
    let other_creator = t.sim.creator_uuids()[1];
    let other_fan = t.sim.fan_uuids(&other_creator)[0];
    let stranger = Uuid::new_v4();
    t.http
        .post(format!("{}/fans/{}", t.sim.control_url().unwrap(), fans[1]))
        .json(&json!({"blocked": true}))
        .send()
        .await
        .unwrap();
    let (s, b) = t
        .batch(json!({"chatUuids": [fans[0], fans[1], stranger, other_fan]}))
        .await;
    assert_eq!(s, 200);
    let by = &b["byChat"];
    assert!(by[fans[0].to_string()]["messages"].is_array());
    assert_eq!(by[fans[1].to_string()], json!({"error": "forbidden"}));
    assert_eq!(by[stranger.to_string()], json!({"error": "not_found"}));
    assert_eq!(by[other_fan.to_string()], json!({"error": "not_found"}));
    t.sim.patch_faults(FaultsPatch {
        batch_internal_rate: Some(1.0),
        ..Default::default()
    });
    let (s, b) = t.batch(json!({"chatUuids": [fans[0]]})).await;
    assert_eq!(s, 200);
    assert_eq!(
        b["byChat"][fans[0].to_string()],
        json!({"error": "internal"})
    );
    t.sim.stop().await;
}

#[tokio::test]
async fn documented_batch_example_request_returns_documented_shape() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let missing = Uuid::new_v4();
    // The docs' example body carries only chatUuids.
    let (s, b) = t.batch(json!({"chatUuids": [fan, missing]})).await;
    assert_eq!(s, 200);
    let ok = &b["byChat"][fan.to_string()];
    assert!(ok["hasMore"].is_boolean());
    assert!(ok["oldestMessageUuid"].is_string());
    let m = &ok["messages"][0];
    let keys: std::collections::BTreeSet<&str> =
        m.as_object().unwrap().keys().map(String::as_str).collect();
    let documented: std::collections::BTreeSet<&str> = [
        "uuid",
        "text",
        "sentAt",
        "sender",
        "recipient",
        "type",
        "hasMedia",
        "mediaType",
        "mediaUuids",
        "pricing",
        "purchasedAt",
        "sentByUserId",
        "isRead",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, documented);
    let person: std::collections::BTreeSet<&str> = m["sender"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        person,
        [
            "uuid",
            "handle",
            "nickname",
            "displayName",
            "isTopSpender",
            "avatarUrl",
            "registeredAt"
        ]
        .into_iter()
        .collect()
    );
    assert!(chrono::DateTime::parse_from_rfc3339(m["sentAt"].as_str().unwrap()).is_ok());
    assert_eq!(
        b["byChat"][missing.to_string()],
        json!({"error": "not_found"})
    );
    t.sim.stop().await;
}

#[tokio::test]
async fn batch_faults_malformed_item_and_unknown_type() {
    let t = spawn().await;
    let fan = t.fans()[0];
    t.sim.patch_faults(FaultsPatch {
        batch_malformed_item: Some(true),
        unknown_type_rate: Some(1.0),
        unknown_type_value: Some("BRAND_NEW_TYPE".into()),
        ..Default::default()
    });
    let (_, b) = t.batch(json!({"chatUuids": [fan], "limit": 3})).await;
    let msgs = b["byChat"][fan.to_string()]["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["uuid"], Value::Null);
    assert_eq!(msgs[1]["type"], "BRAND_NEW_TYPE");
    t.sim.stop().await;
}

#[tokio::test]
async fn batch_validation_failures_are_400_with_the_errors_body() {
    let t = spawn().await;
    let fans = t.fans();
    let ids = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| Uuid::from_u128(i as u128 + 1).to_string())
            .collect()
    };
    let between = "chatUuids must contain between 1 and 50 items";
    let limit = "limit must be an integer between 1 and 50";
    for (body, want) in [
        (json!({"chatUuids": []}), vec![between]),
        (json!({"chatUuids": ids(51)}), vec![between]),
        (json!({}), vec!["chatUuids is required"]),
        (json!({"chatUuids": null}), vec!["chatUuids is required"]),
        (
            json!({"chatUuids": "x"}),
            vec!["chatUuids must be an array of UUIDs"],
        ),
        (
            json!({"chatUuids": [fans[0], "nope"]}),
            vec!["chatUuids[1] must be a UUID"],
        ),
        (json!({"chatUuids": [fans[0]], "limit": 0}), vec![limit]),
        (json!({"chatUuids": [fans[0]], "limit": 51}), vec![limit]),
        (json!({"chatUuids": [fans[0]], "limit": -1}), vec![limit]),
        (json!({"chatUuids": [fans[0]], "limit": 2.5}), vec![limit]),
        (json!({"chatUuids": [fans[0]], "limit": "20"}), vec![limit]),
        (
            json!({"chatUuids": [fans[0]], "sinceMessageUuid": "abc"}),
            vec!["sinceMessageUuid must be a UUID"],
        ),
        (
            json!({"chatUuids": [fans[0]], "sinceMessageUuid": Uuid::new_v4()}),
            vec!["sinceMessageUuid does not match a message in your chats"],
        ),
        // Every problem is reported at once.
        (json!({"chatUuids": [], "limit": 0}), vec![between, limit]),
        (json!([1, 2]), vec!["Request body must be a JSON object"]),
    ] {
        let (s, b) = t.batch(body.clone()).await;
        assert_eq!(s, 400, "{body}");
        assert_errors_body(&b, &want);
    }
    let (s, b) = t
        .json(
            t.http
                .post(t.url("/chats/messages/batch"))
                .header("X-Fanvue-API-Version", VERSION)
                .bearer_auth(&t.token)
                .header("Content-Type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(s, 400);
    assert_errors_body(&b, &["Request body must be valid JSON"]);
    // The valid edges: exactly 1 and exactly 50 keys, limit 1 and 50.
    for (n, lim) in [(1, 1), (50, 50)] {
        let (s, b) = t
            .batch(json!({"chatUuids": &fans[..n], "limit": lim}))
            .await;
        assert_eq!(s, 200, "{b}");
        let by = b["byChat"].as_object().unwrap();
        assert_eq!(by.len(), n);
        for v in by.values() {
            let got = v["messages"].as_array().unwrap().len();
            // `lim` messages, or the whole (shorter) chat with nothing older left.
            assert!(
                got == lim || (got < lim && v["hasMore"] == false),
                "{got} of {lim}"
            );
        }
    }
    t.sim.stop().await;
}

#[tokio::test]
async fn batch_cursor_excludes_same_timestamp_messages_in_the_same_chat() {
    let t = spawn().await;
    let fan = t.fans()[0];
    t.sim.freeze_clock(true);
    let cursor = t.send_text(&fan, "cursor").await;
    let twin = t.send_text(&fan, "same millisecond, same chat").await;
    t.sim.advance_clock(Duration::from_millis(1));
    let later = t.send_text(&fan, "one millisecond later").await;
    let (s, b) = t
        .batch(json!({"chatUuids": [fan], "sinceMessageUuid": cursor}))
        .await;
    assert_eq!(s, 200);
    let e = &b["byChat"][fan.to_string()];
    assert_eq!(
        e["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["uuid"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        vec![later.to_string()],
        "publish time strictly after the cursor's: the twin ({twin}) is excluded"
    );
    assert_eq!(e["hasMore"], false);
    assert_eq!(e["oldestMessageUuid"], later.to_string());
    // The twin as cursor gives the same answer: the cut-off is a time, not a position.
    let (_, b2) = t
        .batch(json!({"chatUuids": [fan], "sinceMessageUuid": twin}))
        .await;
    assert_eq!(b2, b);
    // A cursor that was deleted is no longer a message in your chats (documented choice).
    let r = t
        .http
        .delete(t.url(&format!("/chats/{fan}/messages/{later}")))
        .header("X-Fanvue-API-Version", VERSION)
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, b3) = t
        .batch(json!({"chatUuids": [fan], "sinceMessageUuid": later}))
        .await;
    assert_eq!(s, 400);
    assert_errors_body(
        &b3,
        &["sinceMessageUuid does not match a message in your chats"],
    );
    t.sim.stop().await;
}
