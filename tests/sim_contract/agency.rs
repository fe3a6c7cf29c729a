//! Agency routes: team members and chats across the agency's creators.

use crate::fixture::*;

#[tokio::test]
async fn agency_admin_lists_team_members_as_bare_array_and_chatter_gets_403() {
    let t = spawn().await;
    let members = t.sim.team_member_uuids();
    let admin = t.token(members[0], ALL_SCOPES);
    let chatter = t.token(members[1], ALL_SCOPES);
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
    t.sim.stop().await;
}

#[tokio::test]
async fn agency_chats_span_the_agencys_creators_newest_first() {
    let t = spawn().await;
    let admin = t.sim.team_member_uuids()[0];
    let tok = t.token(admin, ALL_SCOPES);
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
    t.sim.stop().await;
}
