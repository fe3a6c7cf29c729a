//! Contract tests for the Fanvue simulator, written from Fanvue's documentation: each test
//! exercises one documented rule over real HTTP against an in-process simulator.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use parking_lot::Mutex;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchboard::sim::{self, EventKind, FaultsPatch, SimConfig, SimHandle};
use uuid::Uuid;

const VERSION: &str = "2025-06-26";
const ALL_SCOPES: &[&str] = &[
    "openid",
    "offline_access",
    "read:self",
    "read:chat",
    "write:chat",
    "read:fan",
    "read:creator",
    "write:creator",
    "read:agency",
];

struct T {
    h: SimHandle,
    http: reqwest::Client,
    creator: Uuid,
    token: String,
}

fn small() -> SimConfig {
    let mut c = SimConfig::default();
    c.scenario.creators = 2;
    c.scenario.fans_per_creator = 60;
    c.scenario.messages_per_chat = 30;
    c.scenario.uncontactable_share = 0.0;
    c.rate_limit.enabled = false;
    c.webhooks.initial_backoff_ms = 30;
    c
}

async fn spawn_with(cfg: SimConfig) -> T {
    let h = sim::start(cfg).await.expect("simulator starts");
    let creator = h.creator_uuids()[0];
    let token = h
        .issue_token(&creator.to_string(), ALL_SCOPES)
        .expect("token")
        .access_token;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    T {
        h,
        http,
        creator,
        token,
    }
}

async fn spawn() -> T {
    spawn_with(small()).await
}

impl T {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.h.api_base_url(), path)
    }
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.get_as(path, &self.token)
    }
    fn get_as(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(path))
            .header("X-Fanvue-API-Version", VERSION)
            .bearer_auth(token)
    }
    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.post_as(path, &self.token, body)
    }
    fn post_as(&self, path: &str, token: &str, body: Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .header("X-Fanvue-API-Version", VERSION)
            .bearer_auth(token)
            .json(&body)
    }
    async fn json(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let r = rb.send().await.unwrap();
        let s = r.status();
        let text = r.text().await.unwrap();
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
    fn fans(&self) -> Vec<Uuid> {
        self.h.fan_uuids(&self.creator)
    }
    async fn batch(&self, body: Value) -> (StatusCode, Value) {
        self.json(self.post("/chats/messages/batch", body)).await
    }
    async fn send_text(&self, fan: &Uuid, text: &str) -> Uuid {
        let (s, b) = self
            .json(self.post(&format!("/chats/{fan}/message"), json!({ "text": text })))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["messageUuid"].as_str().unwrap().parse().unwrap()
    }
}

// ---------------------------------------------------------------- version, auth, scopes

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
    t.h.stop().await;
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
    t.h.stop().await;
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
    t.h.stop().await;
}

#[tokio::test]
async fn missing_scope_is_403_insufficient_scopes() {
    let t = spawn().await;
    let tok =
        t.h.issue_token(&t.creator.to_string(), &["read:self"])
            .unwrap()
            .access_token;
    let (s, b) = t.json(t.get_as("/chats", &tok)).await;
    assert_eq!(s, 403);
    assert_eq!(b, json!({"error": "Insufficient scopes"}));
    let (s, b) = t.json(t.get_as("/users/me", &tok)).await;
    assert_eq!(s, 200);
    assert_eq!(b["uuid"], t.creator.to_string());
    assert_eq!(b["isCreator"], true);
    t.h.stop().await;
}

// ---------------------------------------------------------------- chats

#[tokio::test]
async fn chats_size_bounds_0_1_50_51_and_has_more() {
    let t = spawn().await;
    for (size, ok) in [(0, false), (1, true), (50, true), (51, false)] {
        let (s, b) = t.json(t.get(&format!("/chats?size={size}"))).await;
        if ok {
            assert_eq!(s, 200, "size={size}");
            assert_eq!(b["data"].as_array().unwrap().len(), size);
            assert_eq!(b["pagination"]["hasMore"], true);
        } else {
            assert_eq!(s, 400, "size={size}");
            assert!(b["errors"].as_array().is_some_and(|e| !e.is_empty()));
        }
    }
    let (_, b) = t.json(t.get("/chats?size=50&page=2")).await;
    assert_eq!(b["data"].as_array().unwrap().len(), 10);
    assert_eq!(
        b["pagination"],
        json!({"page": 2, "size": 10, "hasMore": false})
    );
    let (_, b) = t.json(t.get("/chats")).await;
    assert_eq!(
        b["data"].as_array().unwrap().len(),
        15,
        "default size is 15"
    );
    t.h.stop().await;
}

#[tokio::test]
async fn chats_are_newest_activity_first_with_documented_row_fields() {
    let t = spawn().await;
    let (_, b) = t.json(t.get("/chats?size=50")).await;
    let rows = b["data"].as_array().unwrap();
    let times: Vec<&str> = rows
        .iter()
        .map(|r| r["lastMessageAt"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    let r = &rows[0];
    for k in [
        "createdAt",
        "lastMessageAt",
        "isRead",
        "isMuted",
        "unreadMessagesCount",
        "user",
        "lastMessage",
    ] {
        assert!(r.get(k).is_some(), "missing {k}");
    }
    for k in [
        "uuid",
        "handle",
        "displayName",
        "nickname",
        "isTopSpender",
        "avatarUrl",
        "registeredAt",
    ] {
        assert!(r["user"].get(k).is_some(), "missing user.{k}");
    }
    for k in [
        "uuid",
        "type",
        "text",
        "hasMedia",
        "mediaType",
        "senderUuid",
        "sentAt",
        "sentByUserId",
    ] {
        assert!(r["lastMessage"].get(k).is_some(), "missing lastMessage.{k}");
    }
    t.h.stop().await;
}

#[tokio::test]
async fn unread_filter_and_counts_agree_and_creator_only_filter_is_403_for_non_creator() {
    let t = spawn().await;
    let (_, unread) = t.json(t.get("/chats/unread")).await;
    let (_, b) = t.json(t.get("/chats?filter=unread&size=50")).await;
    let rows = b["data"].as_array().unwrap();
    assert_eq!(
        rows.len() as u64,
        unread["unreadChatsCount"].as_u64().unwrap()
    );
    assert!(rows.iter().all(|r| r["isRead"] == false));
    let sum: u64 = rows
        .iter()
        .map(|r| r["unreadMessagesCount"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, unread["unreadMessagesCount"].as_u64().unwrap());
    let member = t.h.team_member_uuids()[1];
    let mt =
        t.h.issue_token(&member.to_string(), ALL_SCOPES)
            .unwrap()
            .access_token;
    let (s, _) = t.json(t.get_as("/chats?filter=subscribers", &mt)).await;
    assert_eq!(s, 403);
    let (s, _) = t.json(t.get("/chats?filter=bogus")).await;
    assert_eq!(s, 400);
    let (s, _) = t
        .json(t.get(&format!("/chats?search={}", "x".repeat(101))))
        .await;
    assert_eq!(s, 400);
    t.h.stop().await;
}

#[tokio::test]
async fn patch_chat_mutes_sets_nickname_and_validates_length() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let patch = |body: Value| {
        t.http
            .patch(t.url(&format!("/chats/{fan}")))
            .header("X-Fanvue-API-Version", VERSION)
            .bearer_auth(&t.token)
            .json(&body)
    };
    let r = patch(json!({"isMuted": true, "nickname": "Bestie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, b) = t.json(t.get("/chats?size=1")).await;
    assert_eq!(b["data"][0]["isMuted"], true);
    assert_eq!(b["data"][0]["user"]["nickname"], "Bestie");
    let r = patch(json!({"nickname": "x".repeat(31)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    t.h.stop().await;
}

// ---------------------------------------------------------------- messages

#[tokio::test]
async fn messages_are_newest_first_and_mark_as_read_defaults_to_true() {
    let t = spawn().await;
    let (_, b) = t.json(t.get("/chats?filter=unread&size=1")).await;
    let row = b["data"][0].clone();
    let fan = row["user"]["uuid"].as_str().unwrap().to_string();
    let handle = row["user"]["handle"].as_str().unwrap().to_string();
    let unread_in_chat = row["unreadMessagesCount"].as_u64().unwrap();
    assert!(unread_in_chat > 0, "{row}");
    let unread_fan_msgs = |m: &Value| {
        m["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["sender"]["uuid"] == fan.as_str() && x["isRead"] == false)
            .count() as u64
    };
    let (_, before) = t.json(t.get("/chats/unread")).await;

    // markAsRead=false is a pure read: nothing changes, however often it is repeated.
    for _ in 0..2 {
        let (s, m) = t
            .json(t.get(&format!("/chats/{fan}/messages?markAsRead=false&size=50")))
            .await;
        assert_eq!(s, 200);
        let times: Vec<&str> = m["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["sentAt"].as_str().unwrap())
            .collect();
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted, "newest first");
        assert_eq!(unread_fan_msgs(&m), unread_in_chat);
    }
    assert_eq!(t.json(t.get("/chats/unread")).await.1, before);

    // No markAsRead: the default (true) marks the chat read.
    let (s, _) = t.json(t.get(&format!("/chats/{fan}/messages"))).await;
    assert_eq!(s, 200);
    let (_, after) = t.json(t.get("/chats/unread")).await;
    assert_eq!(
        after["unreadChatsCount"].as_u64().unwrap() + 1,
        before["unreadChatsCount"].as_u64().unwrap()
    );
    assert_eq!(
        after["unreadMessagesCount"].as_u64().unwrap() + unread_in_chat,
        before["unreadMessagesCount"].as_u64().unwrap()
    );
    let (_, m) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=50&markAsRead=false")))
        .await;
    assert_eq!(unread_fan_msgs(&m), 0);
    let (_, rows) = t
        .json(t.get(&format!("/chats?size=50&search={handle}")))
        .await;
    let row = rows["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user"]["uuid"] == fan.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(row["isRead"], true);
    assert_eq!(row["unreadMessagesCount"], 0);

    // Explicit markAsRead=true behaves like the default; anything else is a 400.
    let (s, _) = t
        .json(t.get(&format!("/chats/{fan}/messages?markAsRead=true")))
        .await;
    assert_eq!(s, 200);
    let (s, b) = t
        .json(t.get(&format!("/chats/{fan}/messages?markAsRead=maybe")))
        .await;
    assert_eq!(s, 400);
    assert_eq!(b, json!({"errors": ["markAsRead must be a boolean"]}));
    t.h.stop().await;
}

#[tokio::test]
async fn messages_size_bounds_and_404_for_no_conversation() {
    let t = spawn().await;
    let fan = t.fans()[0];
    for (size, ok) in [(0, false), (1, true), (50, true), (51, false)] {
        let (s, _) = t
            .json(t.get(&format!(
                "/chats/{fan}/messages?size={size}&markAsRead=false"
            )))
            .await;
        assert_eq!(s.is_success(), ok, "size={size}");
    }
    let (s, b) = t
        .json(t.get(&format!("/chats/{}/messages", Uuid::new_v4())))
        .await;
    assert_eq!(s, 404);
    assert!(b["message"].is_string());
    let (s, b) = t.json(t.get("/chats/not-a-uuid/messages")).await;
    assert_eq!(s, 400);
    assert!(b["message"].is_string());
    t.h.stop().await;
}

#[tokio::test]
async fn send_validates_text_and_price_bounds_and_appears_in_history() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let path = format!("/chats/{fan}/message");
    for (body, ok) in [
        (json!({"text": ""}), false),
        (json!({"text": "a"}), true),
        (json!({"text": "a".repeat(5000)}), true),
        (json!({"text": "a".repeat(5001)}), false),
        (
            json!({"text": "p", "mediaUuids": [Uuid::new_v4()], "price": 299}),
            false,
        ),
        (
            json!({"text": "p", "mediaUuids": [Uuid::new_v4()], "price": 300}),
            true,
        ),
        (json!({"text": "p", "price": null}), true),
        (json!({}), false),
    ] {
        let (s, b) = t.json(t.post(&path, body.clone())).await;
        if ok {
            assert_eq!(s, 201, "{body}");
            assert!(b["messageUuid"].as_str().unwrap().parse::<Uuid>().is_ok());
        } else {
            assert_eq!(s, 400, "{body}");
            assert!(b["errors"].is_array(), "{b}");
        }
    }
    let id = t.send_text(&fan, "hello from the api").await;
    let (_, m) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=1&markAsRead=false")))
        .await;
    let msg = &m["data"][0];
    assert_eq!(msg["uuid"], id.to_string());
    assert_eq!(msg["text"], "hello from the api");
    assert_eq!(msg["sentByUserId"], Value::Null);
    assert_eq!(msg["sender"]["uuid"], t.creator.to_string());
    assert_eq!(msg["pricing"], Value::Null);
    t.h.stop().await;
}

#[tokio::test]
async fn team_member_send_carries_sent_by_user_id() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let member = t.h.team_member_uuids()[1];
    let mt =
        t.h.issue_token(&member.to_string(), ALL_SCOPES)
            .unwrap()
            .access_token;
    let path = format!("/creators/{}/chats/{fan}/message", t.creator);
    let (s, b) = t
        .json(t.post_as(
            &path,
            &mt,
            json!({"text": "from a chatter", "mediaUuids": [Uuid::new_v4()], "price": 1500}),
        ))
        .await;
    assert_eq!(s, 201, "{b}");
    let (_, m) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=1&markAsRead=false")))
        .await;
    assert_eq!(m["data"][0]["sentByUserId"], member.to_string());
    assert_eq!(m["data"][0]["pricing"], json!({"USD": {"price": 1500}}));
    assert_eq!(m["data"][0]["purchasedAt"], Value::Null);
    t.h.stop().await;
}

#[tokio::test]
async fn uncontactable_fan_gets_400_message() {
    let t = spawn().await;
    let fan = t.fans()[0];
    t.http
        .post(format!("{}/fans/{fan}", t.h.control_url().unwrap()))
        .json(&json!({"contactable": false}))
        .send()
        .await
        .unwrap();
    let (s, b) = t
        .json(t.post(&format!("/chats/{fan}/message"), json!({"text": "hi"})))
        .await;
    assert_eq!(s, 400);
    assert!(b["message"].is_string());
    t.h.stop().await;
}

#[tokio::test]
async fn delete_removes_unpurchased_and_refuses_purchased() {
    let t = spawn().await;
    let truth = t.h.truth();
    let bought = truth["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["creatorUuid"] == t.creator.to_string())
        .expect("scenario has purchases")
        .clone();
    let (s, b) = t
        .json(
            t.http
                .delete(t.url(&format!(
                    "/chats/{}/messages/{}",
                    bought["fanUuid"].as_str().unwrap(),
                    bought["messageUuid"].as_str().unwrap()
                )))
                .header("X-Fanvue-API-Version", VERSION)
                .bearer_auth(&t.token),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let fan = t.fans()[0];
    let id = t.send_text(&fan, "oops").await;
    let del = |m: Uuid| {
        t.http
            .delete(t.url(&format!("/chats/{fan}/messages/{m}")))
            .header("X-Fanvue-API-Version", VERSION)
            .bearer_auth(&t.token)
            .send()
    };
    assert_eq!(del(id).await.unwrap().status(), 204);
    assert_eq!(del(id).await.unwrap().status(), 404);
    let (_, m) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=5&markAsRead=false")))
        .await;
    assert!(
        m["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["uuid"] != id.to_string())
    );
    t.h.stop().await;
}

// ---------------------------------------------------------------- batch

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
    t.h.stop().await;
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
    t.h.stop().await;
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
    t.h.stop().await;
}

#[tokio::test]
async fn batch_incremental_is_strictly_after_cursor_publish_time() {
    let t = spawn().await;
    let fans = t.fans();
    t.h.freeze_clock(true);
    let m1 = t.send_text(&fans[0], "first").await;
    let m2 = t.send_text(&fans[1], "same millisecond").await;
    t.h.advance_clock(Duration::from_millis(1));
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
    t.h.stop().await;
}

#[tokio::test]
async fn batch_incremental_has_more_when_more_than_limit_are_new() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let cursor = t.send_text(&fan, "cursor").await;
    t.h.advance_clock(Duration::from_millis(5));
    for i in 0..3 {
        t.send_text(&fan, &format!("new {i}")).await;
        t.h.advance_clock(Duration::from_millis(5));
    }
    let (_, b) = t
        .batch(json!({"chatUuids": [fan], "sinceMessageUuid": cursor, "limit": 2}))
        .await;
    let e = &b["byChat"][fan.to_string()];
    assert_eq!(e["messages"].as_array().unwrap().len(), 2);
    assert_eq!(e["messages"][0]["text"], "new 2");
    assert_eq!(e["hasMore"], true);
    t.h.stop().await;
}

#[tokio::test]
async fn batch_per_key_errors_not_found_forbidden_internal() {
    let t = spawn().await;
    let fans = t.fans();
    let other_creator = t.h.creator_uuids()[1];
    let other_fan = t.h.fan_uuids(&other_creator)[0];
    let stranger = Uuid::new_v4();
    t.http
        .post(format!("{}/fans/{}", t.h.control_url().unwrap(), fans[1]))
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
    t.h.patch_faults(FaultsPatch {
        batch_internal_rate: Some(1.0),
        ..Default::default()
    });
    let (s, b) = t.batch(json!({"chatUuids": [fans[0]]})).await;
    assert_eq!(s, 200);
    assert_eq!(
        b["byChat"][fans[0].to_string()],
        json!({"error": "internal"})
    );
    t.h.stop().await;
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
    t.h.stop().await;
}

#[tokio::test]
async fn batch_faults_malformed_item_and_unknown_type() {
    let t = spawn().await;
    let fan = t.fans()[0];
    t.h.patch_faults(FaultsPatch {
        batch_malformed_item: Some(true),
        unknown_type_rate: Some(1.0),
        unknown_type_value: Some("BRAND_NEW_TYPE".into()),
        ..Default::default()
    });
    let (_, b) = t.batch(json!({"chatUuids": [fan], "limit": 3})).await;
    let msgs = b["byChat"][fan.to_string()]["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["uuid"], Value::Null);
    assert_eq!(msgs[1]["type"], "BRAND_NEW_TYPE");
    t.h.stop().await;
}

// ---------------------------------------------------------------- agency

#[tokio::test]
async fn agency_admin_lists_team_members_as_bare_array_and_chatter_gets_403() {
    let t = spawn().await;
    let members = t.h.team_member_uuids();
    let admin =
        t.h.issue_token(&members[0].to_string(), ALL_SCOPES)
            .unwrap()
            .access_token;
    let chatter =
        t.h.issue_token(&members[1].to_string(), ALL_SCOPES)
            .unwrap()
            .access_token;
    let (s, b) = t.json(t.get_as("/agencies/team-members", &admin)).await;
    assert_eq!(s, 200);
    let arr = b.as_array().expect("bare array");
    assert_eq!(arr.len(), members.len());
    assert_eq!(arr[0]["isAdmin"], true);
    assert_eq!(arr[1]["creatorAccess"][0]["role"], "CHATTER");
    let (s, b) = t.json(t.get_as("/agencies/team-members", &chatter)).await;
    assert_eq!(s, 403);
    assert!(b["error"].is_string());
    let (s, b) = t.json(t.get_as("/creators", &chatter)).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"].as_array().unwrap().len(), 2);
    t.h.stop().await;
}

// ---------------------------------------------------------------- rate limits

#[tokio::test]
async fn rate_limit_headers_and_429_after_exactly_limit_requests() {
    let mut cfg = small();
    cfg.rate_limit.enabled = true;
    cfg.rate_limit.limit = 5;
    let t = spawn_with(cfg).await;
    for i in 0..5 {
        let r = t.get("/users/me").send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        let h = r.headers();
        assert_eq!(h["x-ratelimit-limit"], "5");
        assert_eq!(h["x-ratelimit-remaining"], (4 - i).to_string().as_str());
        assert!(
            h["x-ratelimit-reset"]
                .to_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 0
        );
    }
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let b: Value = r.json().await.unwrap();
    assert!(b["error"].is_string());
    // Creator-scoped routes draw from their own bucket.
    let r = t
        .get(&format!("/creators/{}/chats", t.creator))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 429);
    let stats = t.h.stats();
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.by_endpoint["GET /users/me"], 6);
    assert_eq!(stats.by_bucket.len(), 2);
    // A new window refills the bucket.
    t.h.advance_clock(Duration::from_secs(61));
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 200);
    t.h.stop().await;
}

#[tokio::test]
async fn forced_429_and_injected_5xx_faults() {
    let t = spawn().await;
    t.h.patch_faults(FaultsPatch {
        force_429: Some(true),
        ..Default::default()
    });
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    t.h.patch_faults(FaultsPatch {
        force_429: Some(false),
        api_error_rate: Some(1.0),
        api_error_status: Some(503),
        ..Default::default()
    });
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 503);
    assert_eq!(t.h.stats().injected_errors, 1);
    t.h.stop().await;
}

// ---------------------------------------------------------------- OAuth

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn challenge(v: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
}

impl T {
    fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let ch = challenge(VERIFIER);
        let mut params = vec![
            ("client_id", self.h.client_id()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid offline_access read:self read:chat"),
            ("state", "st4te"),
            ("code_challenge", ch.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            params.retain(|(a, _)| a != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        let mut u = url::Url::parse(&self.h.authorize_url()).unwrap();
        u.query_pairs_mut().extend_pairs(params);
        u.to_string()
    }

    async fn authorize(&self, extra: &[(&str, &str)]) -> (StatusCode, Option<url::Url>) {
        let r = self
            .http
            .get(self.authorize_url(extra))
            .send()
            .await
            .unwrap();
        let loc = r
            .headers()
            .get("location")
            .map(|l| url::Url::parse(l.to_str().unwrap()).unwrap());
        (r.status(), loc)
    }

    async fn code(&self) -> String {
        self.h
            .set_auto_approve(Some(&self.creator.to_string()))
            .unwrap();
        let (s, loc) = self.authorize(&[]).await;
        assert_eq!(s, 302);
        let loc = loc.unwrap();
        let q: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "st4te");
        q["code"].clone()
    }

    async fn token_basic(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let basic = STANDARD.encode(format!("{}:{}", self.h.client_id(), self.h.client_secret()));
        self.json(
            self.http
                .post(self.h.token_url())
                .header("Authorization", format!("Basic {basic}"))
                .form(form),
        )
        .await
    }
}

#[tokio::test]
async fn pkce_code_flow_succeeds_with_basic_auth_and_token_works() {
    let t = spawn().await;
    let code = t.code().await;
    let (s, tok) = t
        .token_basic(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", t.h.client_id()),
        ])
        .await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 3600);
    assert!(tok["refresh_token"].is_string());
    assert_eq!(tok["scope"], "openid offline_access read:self read:chat");
    let (s, me) = t
        .json(t.get_as("/users/me", tok["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(s, 200);
    assert_eq!(me["uuid"], t.creator.to_string());
    t.h.stop().await;
}

#[tokio::test]
async fn client_secret_in_form_body_is_accepted_and_wrong_secret_is_invalid_client() {
    let t = spawn().await;
    let code = t.code().await;
    let form = |secret: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.to_string()),
            ("code_verifier", VERIFIER.to_string()),
            ("client_id", t.h.client_id().to_string()),
            ("client_secret", secret.to_string()),
        ]
    };
    let (s, b) = t
        .json(t.http.post(t.h.token_url()).form(&form("wrong")))
        .await;
    assert_eq!(s, 401);
    assert_eq!(b["error"], "invalid_client");
    let (s, b) = t
        .json(
            t.http
                .post(t.h.token_url())
                .form(&form(t.h.client_secret())),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    t.h.stop().await;
}

#[tokio::test]
async fn pkce_failures_are_rejected() {
    let t = spawn().await;
    // Authorization request: missing challenge, plain method, bad response_type, missing state.
    t.h.set_auto_approve(Some(&t.creator.to_string())).unwrap();
    for (extra, want) in [
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("state", "")], "invalid_request"),
        (vec![("scope", "read:everything")], "invalid_scope"),
    ] {
        let (s, loc) = t.authorize(&extra).await;
        assert_eq!(s, 302, "{extra:?}");
        let q: std::collections::HashMap<_, _> = loc.unwrap().query_pairs().into_owned().collect();
        assert_eq!(q["error"], want, "{extra:?}");
        assert!(!q.contains_key("code"));
    }
    // Unknown client or unregistered redirect: no redirect at all.
    let (s, loc) = t.authorize(&[("client_id", "someone-else")]).await;
    assert_eq!((s, loc), (StatusCode::BAD_REQUEST, None));
    let (s, loc) = t
        .authorize(&[("redirect_uri", "https://evil.example/cb")])
        .await;
    assert_eq!((s, loc), (StatusCode::BAD_REQUEST, None));
    // Token request: wrong verifier, missing verifier, other redirect_uri.
    for (verifier, redirect, want) in [
        ("x".repeat(43), REDIRECT, "invalid_grant"),
        (String::new(), REDIRECT, "invalid_request"),
        (
            VERIFIER.to_string(),
            "http://127.0.0.1:9/other",
            "invalid_grant",
        ),
    ] {
        let code = t.code().await;
        let (s, b) = t
            .token_basic(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["error"], want);
    }
    let (s, b) = t.token_basic(&[("grant_type", "password")]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    t.h.stop().await;
}

#[tokio::test]
async fn code_is_single_use_expires_after_ten_minutes_and_reuse_revokes() {
    let t = spawn().await;
    let tr = &t;
    let exchange = |code: String| async move {
        tr.token_basic(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await
    };
    let code = t.code().await;
    let (s, tok) = exchange(code.clone()).await;
    assert_eq!(s, 200);
    let (s, b) = exchange(code).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, _) = t
        .json(t.get_as("/users/me", tok["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(s, 401, "replayed code revokes its tokens");
    let code = t.code().await;
    t.h.advance_clock(Duration::from_secs(601));
    let (s, b) = exchange(code).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    t.h.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_grant() {
    let t = spawn().await;
    let code = t.code().await;
    let (_, t1) = t
        .token_basic(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await;
    let rt1 = t1["refresh_token"].as_str().unwrap().to_string();
    let (s, t2) = t
        .token_basic(&[("grant_type", "refresh_token"), ("refresh_token", &rt1)])
        .await;
    assert_eq!(s, 200);
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    let at2 = t2["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        t.get_as("/users/me", &at2).send().await.unwrap().status(),
        200
    );
    let (s, b) = t
        .token_basic(&[("grant_type", "refresh_token"), ("refresh_token", &rt1)])
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        t.get_as("/users/me", &at2).send().await.unwrap().status(),
        401
    );
    let (s, _) = t
        .token_basic(&[("grant_type", "refresh_token"), ("refresh_token", &rt2)])
        .await;
    assert_eq!(s, 400, "the whole family is revoked");
    t.h.stop().await;
}

#[tokio::test]
async fn access_token_expires_after_configured_lifetime_and_revocation_is_401() {
    let mut cfg = small();
    cfg.oauth.access_token_ttl_secs = 60;
    let t = spawn_with(cfg).await;
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 200);
    t.h.advance_clock(Duration::from_secs(61));
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 401);
    let fresh =
        t.h.issue_token(&t.creator.to_string(), ALL_SCOPES)
            .unwrap()
            .access_token;
    assert_eq!(
        t.get_as("/users/me", &fresh).send().await.unwrap().status(),
        200
    );
    assert_eq!(t.h.revoke_tokens(Some(&t.creator.to_string())), 2);
    assert_eq!(
        t.get_as("/users/me", &fresh).send().await.unwrap().status(),
        401
    );
    t.h.stop().await;
}

#[tokio::test]
async fn consent_page_approve_and_deny() {
    let t = spawn().await;
    let (s, _) = t.authorize(&[]).await;
    assert_eq!(s, 200);
    let page = t
        .http
        .get(t.authorize_url(&[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Approve") && page.contains("Deny"));
    let rid = page
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let r = t
        .http
        .post(format!("{}/oauth2/auth/decision", t.h.base_url()))
        .form(&[
            ("request_id", rid.as_str()),
            ("user", &t.creator.to_string()),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.contains("error=access_denied") && loc.contains("state=st4te"),
        "{loc}"
    );
    let page = t
        .http
        .get(t.authorize_url(&[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rid = page
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let r = t
        .http
        .post(format!("{}/oauth2/auth/decision", t.h.base_url()))
        .form(&[
            ("request_id", rid.as_str()),
            ("user", &t.creator.to_string()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(REDIRECT) && loc.contains("code=") && loc.contains("state=st4te"));
    t.h.stop().await;
}

// ---------------------------------------------------------------- webhooks

type Received = Arc<Mutex<Vec<(std::collections::HashMap<String, String>, String)>>>;

/// A tiny receiving server; answers the statuses in `script` in turn, then 200.
async fn receiver(script: Vec<u16>) -> (String, Received, actix_web::dev::ServerHandle) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let got: Received = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let g = got.clone();
    let server = HttpServer::new(move || {
        let g = g.clone();
        let script = script.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let g = g.clone();
            let script = script.clone();
            async move {
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                g.lock()
                    .push((headers, String::from_utf8_lossy(&body).into_owned()));
                let code = script.lock().next().unwrap_or(200);
                HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).finish()
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}/hooks"), got, handle)
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn webhook_signature_verifies_with_reference_hmac_and_payload_is_flat() {
    let t = spawn().await;
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[EventKind::MessageReceived]);
    let mut sent = 0;
    while sent == 0 {
        sent = t.h.generate_activity(10);
    }
    wait_for(|| !got.lock().is_empty()).await;
    let items = got.lock().clone();
    assert!(!items.is_empty());
    for (headers, body) in &items {
        let sig = &headers["x-fanvue-signature"];
        let (t_part, v_part) = sig.split_once(',').unwrap();
        let ts = t_part.strip_prefix("t=").unwrap();
        let v0 = v_part.strip_prefix("v0=").unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(t.h.webhook_secret().as_bytes()).unwrap();
        mac.update(format!("{ts}.{body}").as_bytes());
        mac.verify_slice(&hex::decode(v0).unwrap())
            .expect("signature verifies");
        let now = chrono::Utc::now().timestamp();
        assert!((now - ts.parse::<i64>().unwrap()).abs() < 300);
        assert!(
            !headers.contains_key("x-fanvue-topic"),
            "topic header off by default"
        );
        let v: Value = serde_json::from_str(body).unwrap();
        assert!(v.get("type").is_none() && v.get("id").is_none());
        assert_eq!(v["messageUuid"], v["message"]["uuid"]);
        for k in ["text", "hasMedia", "mediaUuids", "price", "createdAt"] {
            assert!(v["message"].get(k).is_some(), "message.{k}");
        }
        for k in ["uuid", "handle", "displayName", "avatarUrl"] {
            assert!(v["sender"].get(k).is_some(), "sender.{k}");
        }
        assert!(
            v["recipientUuid"].is_string()
                && v["isMuted"].is_boolean()
                && v["timestamp"].is_string()
        );
    }
    rh.stop(true).await;
    t.h.stop().await;
}

#[tokio::test]
async fn webhook_retries_with_backoff_until_2xx_and_logs_attempts() {
    let mut cfg = small();
    cfg.webhooks.topic_header = Some("X-Fanvue-Topic".into());
    let t = spawn_with(cfg).await;
    let (url, got, rh) = receiver(vec![500, 503]).await;
    t.h.register_webhook(&url, &[]);
    // A read by the creator side fires exactly one message.read.
    let (_, b) = t.json(t.get("/chats?filter=unread&size=1")).await;
    let fan = b["data"][0]["user"]["uuid"].as_str().unwrap().to_string();
    t.get(&format!("/chats/{fan}/messages"))
        .send()
        .await
        .unwrap();
    // The log row is written after the receiver has answered, so wait on the log itself.
    wait_for(|| t.h.deliveries().len() >= 3).await;
    let log = t.h.deliveries();
    let outcomes: Vec<(u32, &str)> = log.iter().map(|d| (d.attempt, d.outcome)).collect();
    assert_eq!(
        outcomes,
        vec![(1, "http_error"), (2, "http_error"), (3, "delivered")]
    );
    let items = got.lock().clone();
    assert_eq!(items[0].0["x-fanvue-topic"], "message.read");
    assert_eq!(items[0].1, items[2].1, "retries resend the same body");
    let v: Value = serde_json::from_str(&items[0].1).unwrap();
    assert_eq!(v["counterpartUuid"], fan);
    assert!(v["readMessagesCount"].as_u64().unwrap() >= 1);
    rh.stop(true).await;
    t.h.stop().await;
}

#[tokio::test]
async fn webhook_drop_and_pause_faults() {
    let t = spawn().await;
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[]);
    t.h.patch_faults(FaultsPatch {
        webhook_drop_rate: Some(1.0),
        ..Default::default()
    });
    let n = t.h.generate_activity(30);
    assert!(n > 0);
    wait_for(|| t.h.deliveries().len() >= n).await;
    assert!(t.h.deliveries().iter().all(|d| d.outcome == "dropped"));
    assert!(got.lock().is_empty());
    t.h.patch_faults(FaultsPatch {
        webhook_drop_rate: Some(0.0),
        webhook_paused: Some(true),
        ..Default::default()
    });
    let mut m = 0;
    while m == 0 {
        m = t.h.generate_activity(10);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(got.lock().is_empty(), "paused: nothing delivered");
    t.h.patch_faults(FaultsPatch {
        webhook_paused: Some(false),
        ..Default::default()
    });
    wait_for(|| got.lock().len() >= m).await;
    assert_eq!(got.lock().len(), m);
    rh.stop(true).await;
    t.h.stop().await;
}

#[tokio::test]
async fn purchase_after_ppv_fires_purchase_webhook_with_route_uuid() {
    let mut cfg = small();
    cfg.scenario.purchase_probability = 1.0;
    cfg.scenario.purchase_max_delay_secs = 120;
    let t = spawn_with(cfg).await;
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[EventKind::Purchase]);
    let fan = t.fans()[0];
    let (s, b) = t
        .json(t.post(
            &format!("/chats/{fan}/message"),
            json!({"text": "unlock me", "mediaUuids": [Uuid::new_v4()], "price": 999}),
        ))
        .await;
    assert_eq!(s, 201);
    let id = b["messageUuid"].as_str().unwrap().to_string();
    t.h.advance_clock(Duration::from_secs(121));
    wait_for(|| !got.lock().is_empty()).await;
    let items = got.lock().clone();
    let v: Value = serde_json::from_str(&items[0].1).unwrap();
    assert_eq!(v["routeUuid"], id);
    assert_eq!(v["price"], 999);
    assert_eq!(v["sender"]["uuid"], fan.to_string());
    let (_, m) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=1&markAsRead=false")))
        .await;
    let msg = &m["data"][0];
    assert_eq!(msg["uuid"], id);
    let sent = chrono::DateTime::parse_from_rfc3339(msg["sentAt"].as_str().unwrap()).unwrap();
    let bought =
        chrono::DateTime::parse_from_rfc3339(msg["purchasedAt"].as_str().unwrap()).unwrap();
    assert!(bought > sent);
    rh.stop(true).await;
    t.h.stop().await;
}

// ---------------------------------------------------------------- determinism and truth

#[tokio::test]
async fn same_seed_gives_same_ground_truth_and_other_seed_differs() {
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("now");
        v
    };
    let a = spawn().await;
    let b = spawn().await;
    let mut other = small();
    other.seed = 2;
    let c = spawn_with(other).await;
    let (ta, tb, tc) = (strip(a.h.truth()), strip(b.h.truth()), strip(c.h.truth()));
    assert_eq!(ta, tb);
    assert_ne!(ta, tc);
    assert_eq!(ta["creators"].as_array().unwrap().len(), 2);
    assert!(!ta["purchases"].as_array().unwrap().is_empty());
    assert!(!ta["tips"].as_array().unwrap().is_empty());
    for h in [a.h, b.h, c.h] {
        h.stop().await;
    }
}

#[tokio::test]
async fn truth_purchases_follow_their_messages_and_control_api_serves_it() {
    let t = spawn().await;
    let ctl = t.h.control_url().unwrap();
    let truth: Value = t
        .http
        .get(format!("{ctl}/truth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut sent_at = std::collections::HashMap::new();
    for c in truth["creators"].as_array().unwrap() {
        for chat in c["chats"].as_array().unwrap() {
            for m in chat["messages"].as_array().unwrap() {
                sent_at.insert(
                    m["uuid"].as_str().unwrap().to_string(),
                    m["sentAt"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    for p in truth["purchases"].as_array().unwrap() {
        let s = &sent_at[p["messageUuid"].as_str().unwrap()];
        assert!(p["purchasedAt"].as_str().unwrap() > s.as_str());
    }
    let info: Value = t
        .http
        .get(format!("{ctl}/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["clientId"], t.h.client_id());
    assert_eq!(info["creators"].as_array().unwrap().len(), 2);
    t.h.stop().await;
}

#[tokio::test]
async fn plain_mode_hides_the_control_api() {
    let mut cfg = small();
    cfg.mode = sim::SimMode::Plain;
    let t = spawn_with(cfg).await;
    assert!(t.h.control_url().is_none());
    let r = t
        .http
        .get(format!("{}/_sim/info", t.h.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    t.h.stop().await;
}

#[tokio::test]
async fn duplicate_fault_resends_the_same_event_with_the_same_event_id() {
    let mut cfg = small();
    cfg.webhooks.event_id_header = Some("X-Fanvue-Event-Id".into());
    let t = spawn_with(cfg).await;
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[]);
    t.h.patch_faults(FaultsPatch {
        webhook_duplicate_rate: Some(1.0),
        webhook_reorder: Some(true),
        ..Default::default()
    });
    let mut n = 0;
    while n == 0 {
        n = t.h.generate_activity(5);
    }
    wait_for(|| got.lock().len() >= 2 * n).await;
    let items = got.lock().clone();
    assert_eq!(items.len(), 2 * n);
    let mut ids: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (h, body) in &items {
        ids.entry(h["x-fanvue-event-id"].clone())
            .or_default()
            .push(body.clone());
    }
    assert_eq!(ids.len(), n);
    assert!(ids.values().all(|b| b.len() == 2 && b[0] == b[1]));
    rh.stop(true).await;
    t.h.stop().await;
}

fn message_index(truth: &Value) -> std::collections::HashMap<String, Value> {
    let mut out = std::collections::HashMap::new();
    for c in truth["creators"].as_array().unwrap() {
        for chat in c["chats"].as_array().unwrap() {
            for m in chat["messages"].as_array().unwrap() {
                out.insert(m["uuid"].as_str().unwrap().to_string(), m.clone());
            }
        }
    }
    out
}

#[tokio::test]
async fn live_activity_webhooks_fan_messages_but_not_team_member_replies() {
    let t = spawn().await;
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[EventKind::MessageReceived]);
    let before = message_index(&t.h.truth());
    t.h.generate_activity(300);
    let after = message_index(&t.h.truth());
    let new: Vec<&Value> = after
        .iter()
        .filter(|(k, _)| !before.contains_key(*k))
        .map(|(_, v)| v)
        .collect();
    let team_replies: Vec<&&Value> = new
        .iter()
        .filter(|m| m["sentByUserId"].is_string())
        .collect();
    assert!(
        !team_replies.is_empty(),
        "live mode produced team-member replies"
    );
    let creators: std::collections::HashSet<String> =
        t.h.creator_uuids().iter().map(|u| u.to_string()).collect();
    let fan_msgs = new
        .iter()
        .filter(|m| !creators.contains(m["sender"]["uuid"].as_str().unwrap()) && m["type"] != "TIP")
        .count();
    assert!(fan_msgs > 0);
    wait_for(|| got.lock().len() >= fan_msgs).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let items = got.lock().clone();
    assert_eq!(items.len(), fan_msgs);
    for (_, body) in &items {
        let v: Value = serde_json::from_str(body).unwrap();
        let m = &after[v["messageUuid"].as_str().unwrap()];
        assert_eq!(m["sentByUserId"], Value::Null);
        assert_eq!(v["message"]["text"], m["text"]);
    }
    rh.stop(true).await;
    t.h.stop().await;
}

#[tokio::test]
async fn require_grant_limits_webhooks_to_connected_creators() {
    let mut cfg = small();
    cfg.webhooks.require_grant = true;
    let t = spawn_with(cfg).await;
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[EventKind::MessageReceived]);
    // Only creator 0 holds a grant (issued by spawn); creator 1 has none.
    let other = t.h.creator_uuids()[1].to_string();
    t.h.generate_activity(200);
    wait_for(|| !got.lock().is_empty()).await;
    // Give deliveries for the ungranted creator, were there any, time to land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let items = got.lock().clone();
    assert!(!items.is_empty());
    for (_, body) in &items {
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["recipientUuid"], t.creator.to_string());
        assert_ne!(v["recipientUuid"], other);
    }
    rh.stop(true).await;
    t.h.stop().await;
}

#[tokio::test]
async fn creator_scoped_routes_need_access_and_use_their_own_bucket_key() {
    let mut cfg = small();
    cfg.scenario.agencies = 2;
    let t = spawn_with(cfg).await;
    let creators = t.h.creator_uuids(); // round-robin: creator 0 → agency 1, creator 1 → agency 2
    let members = t.h.team_member_uuids(); // agency 1's members first
    let chatter =
        t.h.issue_token(&members[1].to_string(), ALL_SCOPES)
            .unwrap()
            .access_token;
    let fans = t.h.fan_uuids(&creators[0]);
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
    let buckets = t.h.stats().by_bucket;
    let member = members[1].to_string();
    assert!(
        buckets
            .keys()
            .any(|k| k == &format!("{}:{member}:{}", t.h.client_id(), creators[0]))
    );
    t.h.stop().await;
}

#[tokio::test]
async fn templates_smart_and_custom_lists_have_documented_shapes() {
    let t = spawn().await;
    let (s, b) = t.json(t.get("/chats/templates?size=2")).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"].as_array().unwrap().len(), 2);
    assert_eq!(b["pagination"]["hasMore"], true);
    for k in ["uuid", "text", "price", "mediaUuids", "folderName"] {
        assert!(b["data"][0].get(k).is_some(), "template.{k}");
    }
    let (s, b) = t.json(t.get("/chats/lists/smart")).await;
    assert_eq!(s, 200);
    let lists = b.as_array().expect("bare array");
    assert_eq!(lists.len(), 7);
    let subs = lists.iter().find(|l| l["uuid"] == "subscribers").unwrap();
    let (_, rows) = t
        .json(t.get("/chats?smartListIds=subscribers&size=50"))
        .await;
    let (_, rows2) = t
        .json(t.get("/chats?smartListIds=subscribers&size=50&page=2"))
        .await;
    let n = rows["data"].as_array().unwrap().len() + rows2["data"].as_array().unwrap().len();
    assert_eq!(subs["count"].as_u64().unwrap() as usize, n);
    let (s, b) = t.json(t.get("/chats/lists/custom")).await;
    assert_eq!(s, 200);
    let list = &b["data"][0];
    for k in ["uuid", "name", "membersCount", "createdAt"] {
        assert!(list.get(k).is_some(), "customList.{k}");
    }
    let (s, rows) = t
        .json(t.get(&format!(
            "/chats?customListId={}&size=50",
            list["uuid"].as_str().unwrap()
        )))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        rows["data"].as_array().unwrap().len() as u64,
        list["membersCount"].as_u64().unwrap()
    );
    let read_chat_only =
        t.h.issue_token(&t.creator.to_string(), &["read:chat"])
            .unwrap()
            .access_token;
    let (s, _) = t
        .json(t.get_as("/chats/lists/smart", &read_chat_only))
        .await;
    assert_eq!(s, 403, "lists also need read:fan");
    t.h.stop().await;
}

#[tokio::test]
async fn agency_chats_span_the_agencys_creators_newest_first() {
    let t = spawn().await;
    let admin = t.h.team_member_uuids()[0];
    let tok =
        t.h.issue_token(&admin.to_string(), ALL_SCOPES)
            .unwrap()
            .access_token;
    let (s, b) = t.json(t.get_as("/agencies/chats?size=50", &tok)).await;
    assert_eq!(s, 200);
    let rows = b["data"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    let creators: std::collections::HashSet<&str> = rows
        .iter()
        .map(|r| r["creatorUuid"].as_str().unwrap())
        .collect();
    assert!(!creators.is_empty());
    let times: Vec<&str> = rows
        .iter()
        .map(|r| r["lastMessageAt"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    assert_eq!(b["pagination"]["hasMore"], true);
    t.h.stop().await;
}

#[tokio::test]
async fn background_live_mode_generates_activity_at_the_configured_rate() {
    let mut cfg = small();
    cfg.live.events_per_sec = 100.0;
    let t = spawn_with(cfg).await;
    let before = message_index(&t.h.truth()).len();
    // 100 events/s for 1 s: about 100 events, of which more than a fifth
    // are messages (a full second rides out a short stall of a loaded runtime).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = message_index(&t.h.truth()).len();
    assert!(after > before + 20, "before={before} after={after}");
    t.h.stop().await;
}

#[tokio::test]
async fn api_latency_and_webhook_delay_faults_slow_things_down() {
    let t = spawn().await;
    t.h.patch_faults(FaultsPatch {
        api_latency_ms: Some(150),
        ..Default::default()
    });
    let t0 = std::time::Instant::now();
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 200);
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[]);
    t.h.patch_faults(FaultsPatch {
        api_latency_ms: Some(0),
        webhook_delay_ms: Some(300),
        ..Default::default()
    });
    let mut n = 0;
    while n == 0 {
        n = t.h.generate_activity(5);
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(got.lock().is_empty(), "still delayed");
    wait_for(|| got.lock().len() >= n).await;
    assert_eq!(got.lock().len(), n);
    rh.stop(true).await;
    t.h.stop().await;
}

#[tokio::test]
async fn api_base_path_is_configurable() {
    let mut cfg = small();
    cfg.api_base_path = "/api".into();
    let t = spawn_with(cfg).await;
    assert!(t.h.api_base_url().ends_with("/api"));
    let (s, b) = t.json(t.get("/users/me")).await;
    assert_eq!(s, 200);
    assert_eq!(b["uuid"], t.creator.to_string());
    let r = t
        .http
        .get(format!("{}/users/me", t.h.base_url()))
        .header("X-Fanvue-API-Version", VERSION)
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    t.h.stop().await;
}

#[tokio::test]
async fn per_endpoint_limit_override_has_its_own_bucket_and_header() {
    let mut cfg = small();
    cfg.rate_limit.enabled = true;
    cfg.rate_limit.limit = 10;
    cfg.rate_limit
        .overrides
        .insert("GET /chats/unread".into(), 2);
    let t = spawn_with(cfg).await;
    for want in ["1", "0"] {
        let r = t.get("/chats/unread").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit"], "2");
        assert_eq!(r.headers()["x-ratelimit-remaining"], want);
    }
    assert_eq!(t.get("/chats/unread").send().await.unwrap().status(), 429);
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-limit"], "10");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "9");
    // The forced-429 fault reports each endpoint's own limit.
    t.h.patch_faults(FaultsPatch {
        force_429: Some(true),
        ..Default::default()
    });
    for (path, limit) in [("/chats/unread", "2"), ("/users/me", "10")] {
        let r = t.get(path).send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["x-ratelimit-limit"], limit, "{path}");
        assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    }
    t.h.stop().await;
}

#[tokio::test]
async fn tip_and_new_fan_webhooks_have_documented_fields() {
    let t = spawn().await;
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[EventKind::Tip]);
    let n = t.h.generate_activity(400);
    assert!(n > 0);
    wait_for(|| !got.lock().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tips = got.lock().clone();
    assert!(!tips.is_empty());
    for (_, body) in &tips {
        let v: Value = serde_json::from_str(body).unwrap();
        for k in [
            "context",
            "recipientUuid",
            "senderUuid",
            "price",
            "sender",
            "timestamp",
        ] {
            assert!(v.get(k).is_some(), "tip.{k}");
        }
        assert_eq!(v["senderUuid"], v["sender"]["uuid"]);
        match v["context"].as_str().unwrap() {
            "message" => assert!(v["messageUuid"].is_string()),
            "post" => assert!(v["postUuid"].is_string()),
            other => panic!("unexpected context {other}"),
        }
    }
    rh.stop(true).await;
    t.h.stop().await;

    let mut cfg = small();
    cfg.live.new_fan_share = 1.0;
    let t = spawn_with(cfg).await;
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[EventKind::NewFollower, EventKind::NewSubscriber]);
    assert_eq!(t.h.generate_activity(20), 20);
    wait_for(|| got.lock().len() >= 20).await;
    let items = got.lock().clone();
    assert_eq!(items.len(), 20);
    let subs = items
        .iter()
        .map(|(_, b)| serde_json::from_str::<Value>(b).unwrap())
        .inspect(|v| {
            assert!(v["recipientUuid"].is_string() && v["timestamp"].is_string());
            for k in ["uuid", "handle", "displayName", "avatarUrl"] {
                assert!(v["sender"].get(k).is_some(), "sender.{k}");
            }
        })
        .filter(|v| v["price"].is_u64())
        .count();
    assert!(
        subs > 0 && subs < 20,
        "mix of subscribers and followers: {subs}"
    );
    rh.stop(true).await;
    t.h.stop().await;
}

#[tokio::test]
async fn control_test_delivery_and_endpoint_registration() {
    let t = spawn().await;
    let ctl = t.h.control_url().unwrap();
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
    wait_for(|| !t.h.deliveries().is_empty()).await;
    let v: Value = serde_json::from_str(&got.lock()[0].1).unwrap();
    assert_eq!(v["readMessagesCount"], 1);
    let log: Value = t
        .http
        .get(format!("{ctl}/webhooks/deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["outcome"], "delivered");
    assert_eq!(log[0]["event"], "message.read");
    rh.stop(true).await;
    t.h.stop().await;
}

// ---------------------------------------------------------------- audit additions

/// The body of every batch validation failure is exactly `{"errors":[strings]}`.
fn assert_errors_body(b: &Value, want: &[&str]) {
    let obj = b.as_object().expect("JSON object");
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        vec!["errors"],
        "only `errors`: {b}"
    );
    let got: Vec<&str> = b["errors"]
        .as_array()
        .expect("errors is an array")
        .iter()
        .map(|e| e.as_str().expect("string errors"))
        .collect();
    assert_eq!(got, want, "{b}");
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
    t.h.stop().await;
}

#[tokio::test]
async fn batch_cursor_excludes_same_timestamp_messages_in_the_same_chat() {
    let t = spawn().await;
    let fan = t.fans()[0];
    t.h.freeze_clock(true);
    let cursor = t.send_text(&fan, "cursor").await;
    let twin = t.send_text(&fan, "same millisecond, same chat").await;
    t.h.advance_clock(Duration::from_millis(1));
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
    t.h.stop().await;
}

#[tokio::test]
async fn pkce_and_client_auth_edge_failures() {
    let t = spawn().await;
    t.h.set_auto_approve(Some(&t.creator.to_string())).unwrap();
    let short = "a".repeat(42);
    for (extra, want) in [
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge_method", "s256")], "invalid_request"),
        (vec![("code_challenge", short.as_str())], "invalid_request"),
        (vec![("scope", "")], "invalid_scope"),
    ] {
        let (s, loc) = t.authorize(&extra).await;
        assert_eq!(s, 302, "{extra:?}");
        let q: std::collections::HashMap<_, _> = loc.unwrap().query_pairs().into_owned().collect();
        assert_eq!(q["error"], want, "{extra:?}");
        assert_eq!(q["state"], "st4te", "{extra:?}");
        assert!(!q.contains_key("code"));
    }
    // A verifier that is too short (RFC 7636: 43–128 chars) or hashes to another challenge.
    for verifier in [short.clone(), format!("{VERIFIER}x")] {
        let code = t.code().await;
        let (s, b) = t
            .token_basic(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["error"], "invalid_grant");
        assert!(b["error_description"].is_string());
    }
    // No client authentication at all, and a Basic header with the wrong secret.
    let code = t.code().await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (s, b) = t.json(t.http.post(t.h.token_url()).form(&form)).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let bad = STANDARD.encode(format!("{}:wrong", t.h.client_id()));
    let r = t
        .http
        .post(t.h.token_url())
        .header("Authorization", format!("Basic {bad}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "invalid_client");
    // The code survived the unauthenticated attempts and still works once.
    let (s, b) = t.token_basic(&form).await;
    assert_eq!(s, 200, "{b}");
    t.h.stop().await;
}

#[test]
fn webhook_signature_matches_a_fixed_reference_vector() {
    // Reference value computed outside Rust: HMAC-SHA256(key, "1700000000.{body}").
    let body = br#"{"messageUuid":"m-1"}"#;
    let want = "11b1469eb742619ec35ee8ef3190bf3c0e0389ed453ab42e0df0071c89970b30";
    assert_eq!(
        sim::sign_webhook("whsec_reference", 1_700_000_000, body),
        want
    );
    assert_eq!(
        sim::signature_header("whsec_reference", 1_700_000_000, body),
        format!("t=1700000000,v0={want}")
    );
}

fn keys(v: &Value) -> std::collections::BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(k: &[&str]) -> std::collections::BTreeSet<String> {
    k.iter().map(|s| s.to_string()).collect()
}

/// Asserts one webhook body has exactly the fields api-notes §4.4 lists for its topic.
fn assert_documented_payload(topic: &str, v: &Value) {
    let person = set(&["uuid", "handle", "displayName", "avatarUrl"]);
    let want = match topic {
        "message.received" => {
            assert_eq!(
                keys(&v["message"]),
                set(&[
                    "uuid",
                    "text",
                    "hasMedia",
                    "mediaUuids",
                    "price",
                    "createdAt"
                ])
            );
            assert_eq!(v["messageUuid"], v["message"]["uuid"]);
            set(&[
                "messageUuid",
                "message",
                "sender",
                "recipientUuid",
                "isMuted",
                "timestamp",
            ])
        }
        "message.read" => {
            assert!(v["readMessagesCount"].as_u64().unwrap() >= 1);
            set(&[
                "counterpartUuid",
                "readMessagesCount",
                "recipientUuid",
                "timestamp",
            ])
        }
        "purchase.new" => {
            assert!(v["price"].as_u64().unwrap() >= 300);
            set(&["routeUuid", "price", "recipientUuid", "sender", "timestamp"])
        }
        "tip.new" => {
            assert_eq!(v["senderUuid"], v["sender"]["uuid"]);
            match v["context"].as_str().unwrap() {
                "message" => set(&[
                    "context",
                    "recipientUuid",
                    "senderUuid",
                    "price",
                    "sender",
                    "timestamp",
                    "messageUuid",
                ]),
                _ => set(&[
                    "context",
                    "recipientUuid",
                    "senderUuid",
                    "price",
                    "sender",
                    "timestamp",
                    "postUuid",
                ]),
            }
        }
        "follow.new" => set(&["recipientUuid", "sender", "timestamp"]),
        "subscription.new" => {
            assert!(v["price"].is_u64());
            set(&["price", "recipientUuid", "sender", "timestamp"])
        }
        other => panic!("unexpected topic {other}"),
    };
    assert_eq!(keys(v), want, "{topic}: {v}");
    if v.get("sender").is_some() {
        assert_eq!(keys(&v["sender"]), person, "{topic}");
    }
    assert!(
        chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).is_ok(),
        "{topic}"
    );
}

#[tokio::test]
async fn every_webhook_payload_has_exactly_the_documented_fields() {
    let mut cfg = small();
    cfg.webhooks.topic_header = Some("X-Fanvue-Topic".into());
    cfg.live.new_fan_share = 0.2;
    cfg.scenario.purchase_probability = 1.0;
    let t = spawn_with(cfg).await;
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[]);
    // A PPV bought later gives a purchase; live steps give the rest.
    let fan = t.fans()[0];
    let (s, _) = t
        .json(t.post(
            &format!("/chats/{fan}/message"),
            json!({"text": "ppv", "mediaUuids": [Uuid::new_v4()], "price": 500}),
        ))
        .await;
    assert_eq!(s, 201);
    t.h.advance_clock(Duration::from_secs(3600));
    t.h.generate_activity(400);
    let topics = [
        "message.received",
        "message.read",
        "purchase.new",
        "tip.new",
        "follow.new",
        "subscription.new",
    ];
    let seen = |got: &Received| {
        let g = got.lock();
        topics
            .iter()
            .all(|tp| g.iter().any(|(h, _)| h["x-fanvue-topic"] == *tp))
    };
    wait_for(|| seen(&got)).await;
    assert!(seen(&got), "every event kind was delivered");
    for (h, body) in got.lock().iter() {
        let v: Value = serde_json::from_str(body).unwrap();
        assert_documented_payload(h["x-fanvue-topic"].as_str(), &v);
    }
    rh.stop(true).await;
    t.h.stop().await;
}

#[tokio::test]
async fn generated_message_types_and_media_types_come_from_the_documented_lists() {
    let mut cfg = small();
    cfg.scenario.creators = 4;
    cfg.scenario.messages_per_chat = 80;
    cfg.scenario.automated_share = 0.2;
    let t = spawn_with(cfg).await;
    let documented = set(&[
        "SINGLE_RECIPIENT",
        "CHAT_TEXT_REPLY",
        "CHAT_TEXT_GENERATION",
        "CHAT_TEXT_REWRITE",
        "BROADCAST",
        "TIP",
        "VOICE_CALL",
        "LOCKED_MESSAGE_UNLOCKED",
        "GHOST_PROMOTION",
        "MARKETING_KYC",
        "AUTOMATED_FIRST_MESSAGE_REPLY",
        "AUTOMATED_NEW_SUBSCRIBER",
        "AUTOMATED_NEW_FOLLOWER",
        "AUTOMATED_NEW_PURCHASE",
        "AUTOMATED_RE_SUBSCRIBED",
        "AUTOMATED_RENEWED",
        "AUTOMATED_CANCELED",
        "AUTOMATED_CHAT_MESSAGE_REPLY",
    ]);
    // The message-object guide's list: every value should occur in a world this size.
    let guide = set(&[
        "SINGLE_RECIPIENT",
        "CHAT_TEXT_REPLY",
        "CHAT_TEXT_GENERATION",
        "CHAT_TEXT_REWRITE",
        "TIP",
        "VOICE_CALL",
        "AUTOMATED_FIRST_MESSAGE_REPLY",
        "AUTOMATED_NEW_SUBSCRIBER",
        "AUTOMATED_NEW_FOLLOWER",
        "AUTOMATED_NEW_PURCHASE",
        "AUTOMATED_RE_SUBSCRIBED",
        "AUTOMATED_RENEWED",
        "AUTOMATED_CANCELED",
        "AUTOMATED_CHAT_MESSAGE_REPLY",
    ]);
    let msgs = message_index(&t.h.truth());
    let types: std::collections::BTreeSet<String> = msgs
        .values()
        .map(|m| m["type"].as_str().unwrap().to_string())
        .collect();
    assert!(types.is_subset(&documented), "{types:?}");
    assert!(
        guide.is_subset(&types),
        "missing: {:?}",
        guide.difference(&types)
    );
    let media: std::collections::BTreeSet<String> = msgs
        .values()
        .filter_map(|m| m["mediaType"].as_str().map(str::to_string))
        .collect();
    assert_eq!(media, set(&["image", "video", "audio", "document"]));
    for m in msgs.values() {
        assert_eq!(
            m["hasMedia"],
            !m["mediaUuids"].as_array().unwrap().is_empty()
        );
        assert_eq!(
            m["mediaType"].is_null(),
            m["mediaUuids"].as_array().unwrap().is_empty()
        );
        if let Some(p) = m["pricing"].as_object() {
            assert!(p["USD"]["price"].as_u64().unwrap() >= 300);
        } else {
            assert_eq!(m["purchasedAt"], Value::Null);
        }
    }
    // Media-only messages exist and carry a null text.
    assert!(
        msgs.values()
            .any(|m| m["text"].is_null() && m["hasMedia"] == true)
    );
    t.h.stop().await;
}

#[tokio::test]
async fn same_seed_gives_the_same_live_activity() {
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("now");
        v
    };
    let a = spawn().await;
    let b = spawn().await;
    // Both clocks run from the same epoch but started a few ms apart: line them up.
    a.h.freeze_clock(true);
    b.h.freeze_clock(true);
    let (na, nb) = (a.h.now(), b.h.now());
    let lag = (na - nb).num_milliseconds();
    let behind = if lag > 0 { &b } else { &a };
    behind
        .h
        .advance_clock(Duration::from_millis(lag.unsigned_abs()));
    assert_eq!(a.h.now(), b.h.now());
    for t in [&a, &b] {
        t.h.generate_activity(150);
    }
    assert_eq!(strip(a.h.truth()), strip(b.h.truth()));
    for t in [a, b] {
        t.h.stop().await;
    }
}

#[tokio::test]
async fn chats_search_and_sort_by() {
    let t = spawn().await;
    let (_, rows) = t.json(t.get("/chats?size=5")).await;
    let target = rows["data"][3]["user"].clone();
    let handle = target["handle"].as_str().unwrap();
    let (s, b) = t
        .json(t.get(&format!("/chats?search={}", handle.to_uppercase())))
        .await;
    assert_eq!(s, 200);
    let found = b["data"].as_array().unwrap();
    assert!(found.iter().any(|r| r["user"]["uuid"] == target["uuid"]));
    assert!(found.iter().all(|r| {
        let u = &r["user"];
        [&u["handle"], &u["displayName"], &r["user"]["nickname"]]
            .iter()
            .any(|f| {
                f.as_str()
                    .is_some_and(|s| s.to_lowercase().contains(&handle.to_lowercase()))
            })
    }));
    let (s, b) = t
        .json(t.get("/chats?sortBy=most_unanswered_chats&size=50"))
        .await;
    assert_eq!(s, 200);
    let counts: Vec<u64> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unreadMessagesCount"].as_u64().unwrap())
        .collect();
    let mut sorted = counts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(counts, sorted);
    let (s, b) = t.json(t.get("/chats?sortBy=alphabetical")).await;
    assert_eq!(s, 400);
    assert!(
        b["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("sortBy must be one of")
    );
    t.h.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_ride_on_errors_after_authentication_too() {
    let mut cfg = small();
    cfg.rate_limit.enabled = true;
    cfg.rate_limit.limit = 3;
    let t = spawn_with(cfg).await;
    let no_chat =
        t.h.issue_token(&t.creator.to_string(), &["read:self"])
            .unwrap()
            .access_token;
    // 403 (scope) and 404 (no conversation) are charged to the bucket and carry headers.
    let r = t.get_as("/chats", &no_chat).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "2");
    let r = t
        .get(&format!("/chats/{}/messages", Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-ratelimit-limit"], "3");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "1");
    let ok = t.get("/users/me").send().await.unwrap();
    assert_eq!(ok.headers()["x-ratelimit-remaining"], "0");
    let reset: i64 = ok.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let h = r.headers();
    assert_eq!(h["x-ratelimit-limit"], "3");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-reset"].to_str().unwrap(), reset.to_string());
    let retry: i64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    // Reset is wall-clock unix seconds (the simulated clock sits at a fixed epoch), within
    // one window of now, and Retry-After waits until about then.
    let now = chrono::Utc::now().timestamp();
    assert!(reset >= now && reset <= now + 61, "reset={reset} now={now}");
    assert!(
        retry >= 1 && retry <= reset - now + 1,
        "retry={retry} reset={reset} now={now}"
    );
    let b: Value = r.json().await.unwrap();
    assert_eq!(keys(&b), set(&["error"]));
    // Still empty: a second 429, not a refill.
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 429);
    t.h.stop().await;
}

#[tokio::test]
async fn control_test_samples_have_documented_shapes_and_reorder_swaps_pairs() {
    let mut cfg = small();
    cfg.webhooks.topic_header = Some("X-Fanvue-Topic".into());
    let t = spawn_with(cfg).await;
    let ctl = t.h.control_url().unwrap();
    let (url, got, rh) = receiver(vec![]).await;
    t.h.register_webhook(&url, &[]);
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
    t.h.patch_faults(FaultsPatch {
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
    t.h.stop().await;
}

#[tokio::test]
async fn send_with_template_uses_its_text_media_and_price() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let (_, tpls) = t.json(t.get("/chats/templates?size=50")).await;
    let tpl = tpls["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["price"].is_u64())
        .or_else(|| tpls["data"].as_array().unwrap().first())
        .cloned()
        .unwrap();
    let (s, b) = t
        .json(t.post(
            &format!("/chats/{fan}/message"),
            json!({"templateUuid": tpl["uuid"]}),
        ))
        .await;
    assert_eq!(s, 201, "{b}");
    let (_, m) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=1&markAsRead=false")))
        .await;
    let msg = &m["data"][0];
    assert_eq!(msg["uuid"], b["messageUuid"]);
    assert_eq!(msg["text"], tpl["text"]);
    assert_eq!(msg["mediaUuids"], tpl["mediaUuids"]);
    match tpl["price"].as_u64() {
        Some(p) => assert_eq!(msg["pricing"], json!({"USD": {"price": p}})),
        None => assert_eq!(msg["pricing"], Value::Null),
    }
    let (s, b) = t
        .json(t.post(
            &format!("/chats/{fan}/message"),
            json!({"templateUuid": Uuid::new_v4()}),
        ))
        .await;
    assert_eq!(s, 400);
    assert_errors_body(&b, &["templateUuid does not match a template"]);
    t.h.stop().await;
}

#[tokio::test]
async fn message_history_pages_are_contiguous_and_the_last_has_no_more() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let page = |p: usize, size: usize| {
        t.json(t.get(&format!(
            "/chats/{fan}/messages?markAsRead=false&page={p}&size={size}"
        )))
    };
    let ids = |v: &Value| -> Vec<Value> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["uuid"].clone())
            .collect()
    };
    let (_, ten) = page(1, 10).await;
    let (_, p1) = page(1, 5).await;
    let (_, p2) = page(2, 5).await;
    assert_eq!([ids(&p1), ids(&p2)].concat(), ids(&ten));
    assert_eq!(
        p1["pagination"],
        json!({"page": 1, "size": 5, "hasMore": true})
    );
    let (_, all) = page(1, 50).await;
    let n = all["data"].as_array().unwrap().len();
    assert!(n < 50, "small chat fits one page");
    assert_eq!(all["pagination"]["hasMore"], false);
    let (_, past) = page(2, 50).await;
    assert_eq!(past["data"], json!([]));
    assert_eq!(past["pagination"]["hasMore"], false);
    let (s, b) = page(0, 5).await;
    assert_eq!(s, 400);
    assert!(b["errors"].is_array());
    let (_, default) = t
        .json(t.get(&format!("/chats/{fan}/messages?markAsRead=false")))
        .await;
    assert_eq!(
        default["data"].as_array().unwrap().len(),
        15,
        "default size"
    );
    assert_eq!(default["pagination"]["page"], 1);
    t.h.stop().await;
}

#[tokio::test]
async fn control_api_switches_faults_moves_the_clock_and_manages_tokens_over_http() {
    let t = spawn().await;
    let ctl = t.h.control_url().unwrap();
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
    assert_eq!(t.h.faults(), sim::Faults::default());
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 200);
    let stats: Value = t
        .http
        .get(format!("{ctl}/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let before = t.h.now();
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
    t.h.stop().await;
}

#[tokio::test]
async fn configured_redirect_uris_must_match_exactly() {
    let mut cfg = small();
    cfg.oauth.redirect_uris = vec![REDIRECT.to_string()];
    let t = spawn_with(cfg).await;
    t.h.set_auto_approve(Some(&t.creator.to_string())).unwrap();
    for other in [
        format!("{REDIRECT}/"),
        format!("{REDIRECT}?x=1"),
        REDIRECT.replace("127.0.0.1", "localhost"),
    ] {
        let (s, loc) = t.authorize(&[("redirect_uri", other.as_str())]).await;
        assert_eq!((s, loc), (StatusCode::BAD_REQUEST, None), "{other}");
    }
    let (s, loc) = t.authorize(&[]).await;
    assert_eq!(s, 302);
    assert!(loc.unwrap().as_str().starts_with(REDIRECT));
    t.h.stop().await;
}

#[tokio::test]
async fn rate_limit_window_is_configurable() {
    let mut cfg = small();
    cfg.rate_limit.enabled = true;
    cfg.rate_limit.limit = 2;
    cfg.rate_limit.window_ms = 1_000;
    let t = spawn_with(cfg).await;
    t.h.freeze_clock(true);
    for want in [200, 200, 429] {
        assert_eq!(t.get("/users/me").send().await.unwrap().status(), want);
    }
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(
        r.headers()["retry-after"],
        "1",
        "a 1 s window waits at most 1 s"
    );
    t.h.advance_clock(Duration::from_millis(999));
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 429);
    t.h.advance_clock(Duration::from_millis(1));
    let r = t.get("/users/me").send().await.unwrap();
    assert_eq!(r.status(), 200, "the window ended: full bucket again");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "1");
    t.h.stop().await;
}

#[tokio::test]
async fn unreachable_webhook_endpoint_is_retried_then_given_up() {
    let mut cfg = small();
    cfg.webhooks.max_attempts = 3;
    cfg.webhooks.initial_backoff_ms = 10;
    cfg.webhooks.timeout_ms = 500;
    let t = spawn_with(cfg).await;
    // Nothing listens on port 1 of the loopback interface: every attempt fails to connect.
    t.h.register_webhook("http://127.0.0.1:1/hooks", &[EventKind::MessageRead]);
    let ctl = t.h.control_url().unwrap();
    t.http
        .post(format!("{ctl}/webhooks/test"))
        .json(&json!({"event": "message.read"}))
        .send()
        .await
        .unwrap();
    wait_for(|| t.h.deliveries().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = t.h.deliveries();
    let rows: Vec<(u32, &str)> = log.iter().map(|d| (d.attempt, d.outcome)).collect();
    assert_eq!(
        rows,
        vec![
            (1, "transport_error"),
            (2, "transport_error"),
            (3, "transport_error")
        ]
    );
    assert!(log.iter().all(|d| d.status.is_none() && d.error.is_some()));
    assert!(log.windows(2).all(|w| w[0].event_id == w[1].event_id));
    t.h.stop().await;
}
