//! Message history, sending (text, price, templates, team members), deleting.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixture::*;

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
    t.sim.stop().await;
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
    t.sim.stop().await;
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
            json!({"text": "p", "mediaUuids": [t.library()[0]], "price": 299}),
            false,
        ),
        (
            json!({"text": "p", "mediaUuids": [t.library()[0]], "price": 300}),
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
    t.sim.stop().await;
}

#[tokio::test]
async fn team_member_send_carries_sent_by_user_id() {
    let t = spawn().await;
    let fan = t.fans()[0];
    let member = t.sim.team_member_uuids()[1];
    let mt = t.token(member, ALL_SCOPES);
    let path = format!("/creators/{}/chats/{fan}/message", t.creator);
    let (s, b) = t
        .json(t.post_as(
            &path,
            &mt,
            json!({"text": "from a chatter", "mediaUuids": [t.library()[0]], "price": 1500}),
        ))
        .await;
    assert_eq!(s, 201, "{b}");
    let (_, m) = t
        .json(t.get(&format!("/chats/{fan}/messages?size=1&markAsRead=false")))
        .await;
    assert_eq!(m["data"][0]["sentByUserId"], member.to_string());
    assert_eq!(m["data"][0]["pricing"], json!({"USD": {"price": 1500}}));
    assert_eq!(m["data"][0]["purchasedAt"], Value::Null);
    t.sim.stop().await;
}

#[tokio::test]
async fn uncontactable_fan_gets_400_message() {
    let t = spawn().await;
    let fan = t.fans()[0];
    t.http
        .post(format!("{}/fans/{fan}", t.sim.control_url().unwrap()))
        .json(&json!({"contactable": false}))
        .send()
        .await
        .unwrap();
    let (s, b) = t
        .json(t.post(&format!("/chats/{fan}/message"), json!({"text": "hi"})))
        .await;
    assert_eq!(s, 400);
    assert!(b["message"].is_string());
    t.sim.stop().await;
}

#[tokio::test]
async fn delete_removes_unpurchased_and_refuses_purchased() {
    let t = spawn().await;
    let truth = t.sim.truth();
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
    t.sim.stop().await;
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
    t.sim.stop().await;
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
    t.sim.stop().await;
}
