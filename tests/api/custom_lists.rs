//! The fan's Fanvue custom lists in the fan panel: the thread page only
//! points at them (nothing asked of Fanvue on a thread view), the section
//! shows which of the creator's lists the fan is on, adding and removing
//! reach the simulator's world and are audited, a grant without the scopes
//! is reported instead of failing, and a chatter not assigned to the
//! creator gets 404 before Fanvue is called.

use reqwest::StatusCode;
use switchboard::domain::{CreatorId, StaffId};
use uuid::Uuid;

use crate::helpers::*;

const LISTS: &str = "GET /chats/lists/custom";
const MEMBERS: &str = "GET /chats/lists/custom/{uuid}";
const ADD: &str = "POST /chats/lists/custom/{uuid}/members";

fn calls(app: &TestApp, route: &str) -> u64 {
    app.sim()
        .stats()
        .by_endpoint
        .get(route)
        .copied()
        .unwrap_or(0)
}

async fn assign(app: &TestApp, creator: CreatorId, staff: StaffId) {
    sqlx::query(
        "INSERT INTO creator_assignments (creator_id, staff_id, agency_id)
         SELECT $1, $2, agency_id FROM staff WHERE id = $2",
    )
    .bind(creator)
    .bind(staff)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// The creator's lists in the simulator: (uuid, name, fan is a member).
fn sim_lists(app: &TestApp, creator: Uuid, fan: Uuid) -> Vec<(Uuid, String, bool)> {
    let w = app.sim().sim().world.read();
    let c = w.user_id(&creator).unwrap();
    let f = w.user_id(&fan).unwrap();
    w.creator_data[&c]
        .custom_lists
        .iter()
        .map(|l| (l.uuid, l.name.clone(), l.members.contains(&f)))
        .collect()
}

async fn first_chat(c: &ConnectedCreator) -> (Uuid, Uuid) {
    sqlx::query_as("SELECT id, fan_uuid FROM chats WHERE creator_id = $1 ORDER BY id LIMIT 1")
        .bind(c.id)
        .fetch_one(&c.app.pool)
        .await
        .unwrap()
}

/// The `<li>` of one list in the section.
fn list_li(html: &str, list: Uuid) -> &str {
    let start = html
        .find(&format!("data-list=\"{list}\""))
        .unwrap_or_else(|| panic!("list {list} not shown"));
    let end = html[start..].find("</li>").unwrap() + start;
    &html[start..end]
}

#[tokio::test]
async fn the_fan_panel_shows_custom_lists_and_changes_reach_fanvue() {
    let c = TestApp::with_connected_creator_in(|s| s.scenario.custom_lists_per_creator = 3, |_| {})
        .await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let (chat, fan) = first_chat(&c).await;
    assign(&c.app, c.id, c.acme.chatter).await;
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;

    // The thread page only points at the section; Fanvue is not asked.
    let before = calls(&c.app, LISTS);
    let (status, thread) = chatter.get_html(&format!("/inbox/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(thread.contains(&format!(
        "data-src=\"/inbox/chats/{chat}/lists?fragment=1\""
    )));
    assert!(
        thread.contains(&format!("href=\"/inbox/chats/{chat}/lists\"")),
        "a link without JS"
    );
    assert_eq!(calls(&c.app, LISTS), before);

    // The section: every list, and whether the fan is on it.
    let truth = sim_lists(&c.app, c.fanvue, fan);
    assert_eq!(truth.len(), 3);
    let (status, section) = chatter
        .get_html(&format!("/inbox/chats/{chat}/lists?fragment=1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(calls(&c.app, LISTS) > before && calls(&c.app, MEMBERS) >= 3);
    for (uuid, name, on) in &truth {
        let li = list_li(&section, *uuid);
        assert!(li.contains(name.as_str()), "{li}");
        assert_eq!(li.contains("On list"), *on, "{name}: {li}");
        assert!(li.contains(if *on {
            "value=\"remove\""
        } else {
            "value=\"add\""
        }));
    }

    // Add the fan to a list they are not on (a full-page post, no JS).
    let (target, _, _) = truth
        .iter()
        .find(|(_, _, on)| !on)
        .cloned()
        .unwrap_or_else(|| {
            // Every list holds the fan: take them off the first one first.
            truth[0].clone()
        });
    if truth.iter().all(|(_, _, on)| *on) {
        let r = chatter
            .post_form(
                &format!("/inbox/chats/{chat}/lists"),
                &[("list", &target.to_string()), ("action", "remove")],
            )
            .await;
        assert_redirects_to(&r, &format!("/inbox/chats/{chat}/lists"));
    }
    let r = chatter
        .post_form(
            &format!("/inbox/chats/{chat}/lists"),
            &[("list", &target.to_string()), ("action", "add")],
        )
        .await;
    assert_redirects_to(&r, &format!("/inbox/chats/{chat}/lists"));
    let on = |app: &TestApp| {
        sim_lists(app, c.fanvue, fan)
            .into_iter()
            .find(|(u, _, _)| *u == target)
            .unwrap()
            .2
    };
    assert!(on(&c.app), "the simulator's list now holds the fan");
    assert_eq!(calls(&c.app, ADD), 1);
    c.app.assert_audited(c.acme.id, "fan_list.added").await;
    let (_, page) = chatter
        .get_html(&format!("/inbox/chats/{chat}/lists"))
        .await;
    assert!(page.contains("Added to the list on Fanvue."));
    assert!(list_li(&page, target).contains("On list"));

    // Remove, the way compose.js posts it: the refreshed section comes back.
    let r = chatter
        .post_form(
            &format!("/inbox/chats/{chat}/lists"),
            &[
                ("list", &target.to_string()),
                ("action", "remove"),
                ("fragment", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let section = r.text().await.unwrap();
    assert!(section.contains("Removed from the list on Fanvue."));
    assert!(!list_li(&section, target).contains("On list"));
    assert!(!on(&c.app), "the simulator's list no longer holds the fan");
    c.app.assert_audited(c.acme.id, "fan_list.removed").await;
}

#[tokio::test]
async fn a_grant_without_the_list_scopes_is_reported_not_failed() {
    let c = TestApp::with_connected_creator_in(
        |_| {},
        |s| {
            s.fanvue
                .scopes
                .retain(|x| x != "read:fan" && x != "write:chat");
        },
    )
    .await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let (chat, fan) = first_chat(&c).await;
    let admin = &c.admin;

    // The stored grant lacks the scope: said so, and Fanvue is not asked.
    let before = calls(&c.app, LISTS);
    let (status, section) = admin
        .get_html(&format!("/inbox/chats/{chat}/lists?fragment=1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(section.contains("does not include read:fan"), "{section}");
    assert_eq!(calls(&c.app, LISTS), before);

    // If the stored scopes are out of date, Fanvue's 403 says the same.
    sqlx::query("UPDATE creators SET scopes = scopes || '{read:fan}' WHERE id = $1")
        .bind(c.id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    let (status, section) = admin
        .get_html(&format!("/inbox/chats/{chat}/lists?fragment=1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(calls(&c.app, LISTS) > before, "Fanvue was asked this time");
    assert!(
        section.contains("does not include read:chat, read:fan"),
        "{section}"
    );

    // Changing needs write:chat: refused with a message, nothing changes.
    let list = sim_lists(&c.app, c.fanvue, fan)[0].0;
    let r = admin
        .post_form(
            &format!("/inbox/chats/{chat}/lists"),
            &[
                ("list", &list.to_string()),
                ("action", "add"),
                ("fragment", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("needs write:chat"));
    assert_eq!(calls(&c.app, ADD), 0);
    assert_eq!(c.app.audited_count(c.acme.id, "fan_list.added").await, 0);
}

#[tokio::test]
async fn an_unassigned_chatter_gets_404_and_fanvue_is_not_called() {
    let c = TestApp::with_connected_creator().await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let (chat, fan) = first_chat(&c).await;
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;
    let list = sim_lists(&c.app, c.fanvue, fan)[0].0;
    let before = c.app.sim().stats().total_requests;
    assert_eq!(
        chatter
            .get(&format!("/inbox/chats/{chat}/lists?fragment=1"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = chatter
        .post_form(
            &format!("/inbox/chats/{chat}/lists"),
            &[("list", &list.to_string()), ("action", "add")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(c.app.sim().stats().total_requests, before);
}
