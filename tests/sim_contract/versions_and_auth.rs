//! API versions, bearer tokens, scopes and the configurable base path.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixture::*;

#[tokio::test]
async fn missing_version_header_is_400_unsupported() {
    let t = spawn().await;
    let r = t
        .http
        .get(t.url("/users/me"))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "Unsupported API version");
    t.sim.stop().await;
}

#[tokio::test]
async fn unsupported_version_is_400_and_sunset_is_410_with_next_version() {
    let t = spawn().await;
    let send = |v: &str| {
        t.http
            .get(t.url("/users/me"))
            .header("X-Fanvue-API-Version", v)
            .bearer_auth(&t.token)
    };
    let (s, b) = t.json(send("2023-01-01")).await;
    assert_eq!(s, 400);
    assert_eq!(
        b,
        json!({"error": "Unsupported API version", "message": "API version '2023-01-01' is not supported"})
    );
    let (s, b) = t.json(send("2024-01-01")).await;
    assert_eq!(s, 410);
    assert_eq!(
        b,
        json!({
            "error": "API version no longer supported",
            "message": "API version '2024-01-01' was sunset on 2024-12-31T00:00:00.000Z",
            "nextVersion": "2025-06-26"
        })
    );
    t.sim.stop().await;
}

#[tokio::test]
async fn missing_or_unknown_bearer_is_401_with_error_body() {
    let t = spawn().await;
    let r = t
        .http
        .get(t.url("/users/me"))
        .header("X-Fanvue-API-Version", VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (s, b) = t.json(t.get_as("/users/me", "nope")).await;
    assert_eq!(s, 401);
    assert!(b["error"].is_string());
    t.sim.stop().await;
}

#[tokio::test]
async fn missing_scope_is_403_insufficient_scopes() {
    let t = spawn().await;
    let tok = t.token(t.creator, &["read:self"]);
    let (s, b) = t.json(t.get_as("/chats", &tok)).await;
    assert_eq!(s, 403);
    assert_eq!(b, json!({"error": "Insufficient scopes"}));
    let (s, b) = t.json(t.get_as("/users/me", &tok)).await;
    assert_eq!(s, 200);
    assert_eq!(b["uuid"], t.creator.to_string());
    assert_eq!(b["isCreator"], true);
    t.sim.stop().await;
}

#[tokio::test]
async fn creator_scoped_routes_need_access_and_use_their_own_bucket_key() {
    let mut cfg = small();
    cfg.scenario.agencies = 2;
    let t = spawn_with(cfg).await;
    let creators = t.sim.creator_uuids(); // round-robin: creator 0 → agency 1, creator 1 → agency 2
    let members = t.sim.team_member_uuids(); // agency 1's members first
    let chatter = t.token(members[1], ALL_SCOPES);
    let fans = t.sim.fan_uuids(&creators[0]);
    let (s, b) = t
        .json(t.post_as(
            &format!("/creators/{}/chats/messages/batch", creators[0]),
            &chatter,
            json!({"chatUuids": &fans[..3], "limit": 2}),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["byChat"].as_object().unwrap().len(), 3);
    let (s, b) = t
        .json(t.get_as(&format!("/creators/{}/chats", creators[1]), &chatter))
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(b["error"].is_string());
    let (s, _) = t
        .json(t.get_as(&format!("/creators/{}/chats", Uuid::new_v4()), &chatter))
        .await;
    assert_eq!(s, 404);
    let (s, m) = t
        .json(t.get_as(
            &format!(
                "/creators/{}/chats/{}/messages?markAsRead=false&size=2",
                creators[0], fans[0]
            ),
            &chatter,
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(m["data"].as_array().unwrap().len(), 2);
    let buckets = t.sim.stats().by_bucket;
    let member = members[1].to_string();
    assert!(
        buckets
            .keys()
            .any(|k| k == &format!("{}:{member}:{}", t.sim.client_id(), creators[0]))
    );
    t.sim.stop().await;
}

#[tokio::test]
async fn api_base_path_is_configurable() {
    let mut cfg = small();
    cfg.api_base_path = "/api".into();
    let t = spawn_with(cfg).await;
    assert!(t.sim.api_base_url().ends_with("/api"));
    let (s, b) = t.json(t.get("/users/me")).await;
    assert_eq!(s, 200);
    assert_eq!(b["uuid"], t.creator.to_string());
    let r = t
        .http
        .get(format!("{}/users/me", t.sim.base_url()))
        .header("X-Fanvue-API-Version", VERSION)
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    t.sim.stop().await;
}
