//! Custom lists: members paged with the documented item shape, adding
//! (`{userUuids}`, existing members skipped, 201 `{added, skipped}`) and
//! removing change the world that later reads show, the bounds and scopes
//! are enforced, and the creator twins act for the creator.

use serde_json::json;

use crate::fixture::*;

async fn members(t: &SimFixture, token: &str, prefix: &str, list: &str) -> Vec<String> {
    let mut out = Vec::new();
    for page in 1..=10 {
        let (s, b) = t
            .json(t.get_as(
                &format!("{prefix}/chats/lists/custom/{list}?size=10&page={page}"),
                token,
            ))
            .await;
        assert_eq!(s, 200, "{b}");
        for m in b["data"].as_array().unwrap() {
            for k in ["uuid", "displayName", "handle", "isCreator"] {
                assert!(m.get(k).is_some(), "member.{k}");
            }
            out.push(m["uuid"].as_str().unwrap().to_owned());
        }
        if b["pagination"]["hasMore"] != true {
            break;
        }
    }
    out
}

#[tokio::test]
async fn custom_list_members_match_the_count_and_changes_stick() {
    let t = spawn().await;
    let (s, b) = t.json(t.get("/chats/lists/custom")).await;
    assert_eq!(s, 200);
    let list = b["data"][0].clone();
    let id = list["uuid"].as_str().unwrap().to_owned();
    let before = members(&t, &t.token, "", &id).await;
    assert_eq!(before.len() as u64, list["membersCount"].as_u64().unwrap());

    // Add one outsider and one member: the member is skipped.
    let outsider = t
        .fans()
        .into_iter()
        .map(|u| u.to_string())
        .find(|u| !before.contains(u))
        .expect("a fan off the list");
    let mut body = vec![outsider.clone()];
    if let Some(m) = before.first() {
        body.push(m.clone());
    }
    let (s, b) = t
        .json(t.post(
            &format!("/chats/lists/custom/{id}/members"),
            json!({ "userUuids": body }),
        ))
        .await;
    assert_eq!(s, 201);
    assert_eq!(b["added"], 1);
    assert_eq!(b["skipped"], if before.is_empty() { 0 } else { 1 });
    let after = members(&t, &t.token, "", &id).await;
    assert!(after.contains(&outsider));
    assert_eq!(after.len(), before.len() + 1);
    let (_, lists) = t.json(t.get("/chats/lists/custom")).await;
    assert_eq!(
        lists["data"][0]["membersCount"].as_u64().unwrap() as usize,
        after.len()
    );

    // Remove: 204, gone; removing again changes nothing.
    for _ in 0..2 {
        let r = t
            .http
            .delete(t.url(&format!("/chats/lists/custom/{id}/members/{outsider}")))
            .header("X-Fanvue-API-Version", t.sim.api_version())
            .bearer_auth(&t.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(members(&t, &t.token, "", &id).await, before);
    t.sim.stop().await;
}

#[tokio::test]
async fn custom_list_bounds_scopes_and_unknown_lists() {
    let t = spawn().await;
    let (_, b) = t.json(t.get("/chats/lists/custom")).await;
    let id = b["data"][0]["uuid"].as_str().unwrap().to_owned();
    let (s, _) = t
        .json(t.post(
            &format!("/chats/lists/custom/{id}/members"),
            json!({ "userUuids": [] }),
        ))
        .await;
    assert_eq!(s, 400, "at least one user");
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let (s, _) = t
        .json(t.post(
            &format!("/chats/lists/custom/{id}/members"),
            json!({ "userUuids": many }),
        ))
        .await;
    assert_eq!(s, 400, "at most 100 users");
    let missing = uuid::Uuid::new_v4();
    let (s, _) = t
        .json(t.get(&format!("/chats/lists/custom/{missing}")))
        .await;
    assert_eq!(s, 404);
    let (s, _) = t.json(t.get("/chats/lists/custom/not-a-uuid")).await;
    assert_eq!(s, 400);
    let read_only = t.token(t.creator, &["read:chat", "read:fan"]);
    let fan = t.fans()[0].to_string();
    let (s, _) = t
        .json(t.post_as(
            &format!("/chats/lists/custom/{id}/members"),
            &read_only,
            json!({ "userUuids": [fan] }),
        ))
        .await;
    assert_eq!(s, 403, "adding needs write:chat");
    let chat_only = t.token(t.creator, &["read:chat"]);
    let (s, _) = t
        .json(t.get_as(&format!("/chats/lists/custom/{id}"), &chat_only))
        .await;
    assert_eq!(s, 403, "members need read:fan");
    t.sim.stop().await;
}

#[tokio::test]
async fn creator_twins_act_for_the_creator() {
    let t = spawn().await;
    let admin = t.sim.team_member_uuids()[0];
    let tok = t.token(admin, ALL_SCOPES);
    let c = t.creator;
    let (_, own) = t.json(t.get("/chats/lists/custom")).await;
    let (s, twin) = t
        .json(t.get_as(&format!("/creators/{c}/chats/lists/custom"), &tok))
        .await;
    assert_eq!(s, 200);
    assert_eq!(own["data"], twin["data"]);
    let id = own["data"][0]["uuid"].as_str().unwrap().to_owned();
    let before = members(&t, &tok, &format!("/creators/{c}"), &id).await;
    assert_eq!(before, members(&t, &t.token, "", &id).await);
    let outsider = t
        .fans()
        .into_iter()
        .map(|u| u.to_string())
        .find(|u| !before.contains(u))
        .unwrap();
    let (s, b) = t
        .json(t.post_as(
            &format!("/creators/{c}/chats/lists/custom/{id}/members"),
            &tok,
            json!({ "userUuids": [outsider] }),
        ))
        .await;
    assert_eq!(s, 201);
    assert_eq!(b["added"], 1);
    assert!(members(&t, &t.token, "", &id).await.contains(&outsider));
    t.sim.stop().await;
}
