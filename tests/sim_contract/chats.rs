//! Chat lists: sizes, order, filters, search, updates, smart and custom lists.

use serde_json::{Value, json};

use crate::fixture::*;

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
    t.sim.stop().await;
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
    t.sim.stop().await;
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
    let member = t.sim.team_member_uuids()[1];
    let mt = t.token(member, ALL_SCOPES);
    let (s, _) = t.json(t.get_as("/chats?filter=subscribers", &mt)).await;
    assert_eq!(s, 403);
    let (s, _) = t.json(t.get("/chats?filter=bogus")).await;
    assert_eq!(s, 400);
    let (s, _) = t
        .json(t.get(&format!("/chats?search={}", "x".repeat(101))))
        .await;
    assert_eq!(s, 400);
    t.sim.stop().await;
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
    t.sim.stop().await;
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
    let read_chat_only = t.token(t.creator, &["read:chat"]);
    let (s, _) = t
        .json(t.get_as("/chats/lists/smart", &read_chat_only))
        .await;
    assert_eq!(s, 403, "lists also need read:fan");
    t.sim.stop().await;
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
    t.sim.stop().await;
}
