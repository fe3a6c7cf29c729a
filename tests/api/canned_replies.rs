//! Canned replies: personal snippets are their owner's alone, agency ones
//! are managed by managers only, another agency's ids are 404, the form's
//! limits answer with clear messages and keep the input, snippets are
//! escaped everywhere, placeholders are filled for the chat (JSON for the
//! picker, and the no-JS path that fills the compose box), every change is
//! audited.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::*;

async fn snippet_id(app: &TestApp, title: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM canned_replies WHERE title = $1")
        .bind(title)
        .fetch_one(&app.pool)
        .await
        .expect("the snippet was saved")
}

async fn count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM canned_replies")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn create(client: &TestClient, scope: &str, title: &str, body: &str) -> reqwest::Response {
    client
        .post_form(
            "/inbox/canned",
            &[("scope", scope), ("title", title), ("body", body)],
        )
        .await
}

#[tokio::test]
async fn personal_snippets_are_private_to_their_owner() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let chatter = app.signed_in(&acme.email("chatter")).await;
    let manager = app.signed_in(&acme.email("manager")).await;

    let r = create(&chatter, "mine", "My opener", "Hey you, how was your day?").await;
    assert_redirects_to(&r, "/inbox/canned");
    let id = snippet_id(&app, "My opener").await;
    let (_, page) = chatter.get_html("/inbox/canned").await;
    assert!(page.contains("My opener") && page.contains("how was your day"));
    assert!(
        page.contains(&format!("/inbox/canned/{id}")),
        "the owner can edit it"
    );

    // Nobody else sees it, not even a manager; its id is "not found".
    let (_, theirs) = manager.get_html("/inbox/canned").await;
    assert!(!theirs.contains("My opener"));
    assert_eq!(
        manager.get(&format!("/inbox/canned/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = manager
        .post_form(
            &format!("/inbox/canned/{id}"),
            &[("title", "Hijacked"), ("body", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = manager
        .post_form(&format!("/inbox/canned/{id}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(count(&app).await, 1);

    // The owner edits and deletes it; each change is audited.
    let r = chatter
        .post_form(
            &format!("/inbox/canned/{id}"),
            &[("title", "My opener v2"), ("body", "Hi again")],
        )
        .await;
    assert_redirects_to(&r, "/inbox/canned");
    let (_, page) = chatter.get_html("/inbox/canned").await;
    assert!(page.contains("My opener v2") && page.contains("Hi again"));
    let r = chatter
        .post_form(&format!("/inbox/canned/{id}/delete"), &[])
        .await;
    assert_redirects_to(&r, "/inbox/canned");
    assert_eq!(count(&app).await, 0);
    for action in [
        "canned_reply.created",
        "canned_reply.updated",
        "canned_reply.deleted",
    ] {
        assert_eq!(app.audited_count(acme.id, action).await, 1, "{action}");
    }
}

#[tokio::test]
async fn agency_snippets_are_managed_by_managers_only() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let chatter = app.signed_in(&acme.email("chatter")).await;
    let manager = app.signed_in(&acme.email("manager")).await;

    // A chatter cannot make an agency snippet (even by forging the field).
    let r = create(&chatter, "agency", "Forged", "nope").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(count(&app).await, 0);
    let (_, page) = chatter.get_html("/inbox/canned").await;
    assert!(
        !page.contains("value=\"agency\""),
        "no agency choice for a chatter"
    );

    let r = create(&manager, "agency", "Welcome", "Welcome to the club!").await;
    assert_redirects_to(&r, "/inbox/canned");
    let id = snippet_id(&app, "Welcome").await;
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT owner_staff_id FROM canned_replies WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(owner, None, "agency-wide");

    // The chatter sees and may use it, but not change it.
    let (_, page) = chatter.get_html("/inbox/canned").await;
    assert!(page.contains("Welcome to the club!"));
    assert!(!page.contains(&format!("/inbox/canned/{id}/delete")));
    assert_eq!(
        chatter.get(&format!("/inbox/canned/{id}")).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = chatter
        .post_form(
            &format!("/inbox/canned/{id}"),
            &[("title", "Mine now"), ("body", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = chatter
        .post_form(&format!("/inbox/canned/{id}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let title: String = sqlx::query_scalar("SELECT title FROM canned_replies WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(title, "Welcome");

    // Another manager-level member may change it.
    let owner_client = app.signed_in(&acme.email("owner")).await;
    let r = owner_client
        .post_form(
            &format!("/inbox/canned/{id}"),
            &[("title", "Welcome!"), ("body", "Welcome, {fan_name}!")],
        )
        .await;
    assert_redirects_to(&r, "/inbox/canned");
    app.assert_audited(acme.id, "canned_reply.updated").await;
}

#[tokio::test]
async fn invalid_snippets_say_why_and_keep_the_input() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let chatter = app.signed_in(&acme.email("chatter")).await;

    let r = create(&chatter, "mine", "   ", "Kept body text").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("Give the snippet a title."));
    assert!(page.contains("Kept body text"), "the input is kept");

    let long = "x".repeat(2001);
    let r = create(&chatter, "mine", "Long one", &long).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("The text is 2001 characters; at most 2000 are allowed."));
    assert!(page.contains("value=\"Long one\""));
    let long_title = "t".repeat(81);
    let r = create(&chatter, "mine", &long_title, "ok").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("at most 80 are allowed"));
    assert_eq!(count(&app).await, 0);

    // An edit with an error re-renders the edit form with its message.
    create(&chatter, "mine", "Fine", "Fine body").await;
    let id = snippet_id(&app, "Fine").await;
    let r = chatter
        .post_form(
            &format!("/inbox/canned/{id}"),
            &[("title", "Fine"), ("body", "  ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Write the text of the snippet.")
    );
}

#[tokio::test]
async fn snippets_are_escaped_and_unknown_placeholders_flagged() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let chatter = app.signed_in(&acme.email("chatter")).await;
    let r = create(
        &chatter,
        "mine",
        "<script>alert('t')</script>",
        "Hi {first_name} <img src=x onerror=alert(1)>",
    )
    .await;
    assert_redirects_to(&r, "/inbox/canned");
    let (_, page) = chatter.get_html("/inbox/canned").await;
    assert!(!page.contains("<script>alert"), "titles are escaped");
    assert!(!page.contains("<img src=x"), "bodies are escaped");
    assert!(page.contains("&#60;script&#62;"));
    assert!(page.contains("Not a placeholder, inserted as typed: <code>{first_name}</code>"));
}

#[tokio::test]
async fn another_agencys_snippets_are_not_found() {
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let globex = app.agency("Globex").await;
    let acme_manager = app.signed_in(&acme.email("manager")).await;
    create(&acme_manager, "agency", "Acme secret opener", "Acme only").await;
    let id = snippet_id(&app, "Acme secret opener").await;

    let intruder = app.signed_in(&globex.email("owner")).await;
    let (_, page) = intruder.get_html("/inbox/canned").await;
    assert!(!page.contains("Acme secret opener"));
    assert_eq!(
        intruder.get(&format!("/inbox/canned/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = intruder
        .post_form(
            &format!("/inbox/canned/{id}"),
            &[("title", "x"), ("body", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = intruder
        .post_form(&format!("/inbox/canned/{id}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(count(&app).await, 1);
}

/// The chat's fan name as the inbox shows it and the creator's name.
async fn names(app: &TestApp, chat: Uuid) -> (String, String) {
    let (display, handle, creator): (Option<String>, Option<String>, String) = sqlx::query_as(
        "SELECT c.fan_display_name, c.fan_handle, cr.display_name
           FROM chats c JOIN creators cr ON cr.id = c.creator_id WHERE c.id = $1",
    )
    .bind(chat)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let fan = display
        .filter(|d| !d.trim().is_empty())
        .or(handle)
        .expect("a fan name");
    (fan, creator)
}

#[tokio::test]
async fn placeholders_are_filled_for_the_chat_in_the_picker_and_without_js() {
    let c = TestApp::with_connected_creator().await;
    sync_until_idle(&c.app.sync_engine(), c.id).await;
    let chat: Uuid = sqlx::query_scalar("SELECT id FROM chats WHERE creator_id = $1 LIMIT 1")
        .bind(c.id)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    let (fan, creator) = names(&c.app, chat).await;
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    create(
        &manager,
        "agency",
        "Hello",
        "Hi {fan_name}, this is {creator_name} {mood}",
    )
    .await;
    create(&manager, "mine", "Private", "Just mine").await;
    let id = snippet_id(&c.app, "Hello").await;

    // The picker's data: snippets filled and labelled, then Fanvue templates.
    let r = manager
        .http
        .get(manager.url(&format!("/inbox/chats/{chat}/canned")))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    let data = body["data"].as_array().unwrap();
    let hello = data.iter().find(|d| d["title"] == "Hello").unwrap();
    assert_eq!(
        hello["text"],
        format!("Hi {fan}, this is {creator} {{mood}}")
    );
    assert_eq!(hello["label"], "Agency");
    let private = data.iter().find(|d| d["title"] == "Private").unwrap();
    assert_eq!(private["label"], "Mine");
    assert!(
        data.iter()
            .any(|d| d["kind"] == "fanvue" && d["label"] == "Fanvue template"),
        "Fanvue's templates are offered too: {data:?}"
    );

    // Without JavaScript: the list page, then the thread with the box filled.
    let (status, page) = manager
        .get_html(&format!("/inbox/chats/{chat}/canned"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("/inbox/chats/{chat}/canned?use={id}")));
    let (status, thread) = manager
        .get_html(&format!("/inbox/chats/{chat}/canned?use={id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let textarea_start = thread.find("id=\"compose-text\"").expect("compose box");
    let textarea = &thread[textarea_start..];
    let text = &textarea[textarea.find('>').unwrap() + 1..textarea.find("</textarea>").unwrap()];
    assert_eq!(
        unescape(text),
        format!("Hi {fan}, this is {creator} {{mood}}")
    );

    // An unassigned chatter cannot use the chat's picker.
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;
    assert_eq!(
        chatter
            .get(&format!("/inbox/chats/{chat}/canned"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        chatter
            .get(&format!("/inbox/chats/{chat}/canned?use={id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

fn unescape(s: &str) -> String {
    s.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
}
