//! Fan notes and fan tags: one set per fan across the agency's creators,
//! escaping, the note length bound (the draft kept), who may edit and
//! delete, 404 for an unassigned chatter and for other agencies' ids, the
//! managers' tag page, tags on fans, the list filtered by tag (with keyset
//! pages and the tabs keeping the filter), and the audit rows.

use reqwest::StatusCode;
use switchboard::domain::{CreatorId, StaffId};
use uuid::Uuid;

use crate::helpers::*;

async fn add_chatter(app: &TestApp, like: StaffId, email: &str, name: &str) -> StaffId {
    let id = StaffId::from_uuid(Uuid::now_v7());
    sqlx::query(
        "INSERT INTO staff (id, agency_id, email, display_name, password_hash, role)
         SELECT $1, agency_id, $2, $3, password_hash, 'chatter' FROM staff WHERE id = $4",
    )
    .bind(id)
    .bind(email)
    .bind(name)
    .bind(like)
    .execute(&app.pool)
    .await
    .unwrap();
    id
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

/// Acme with two creators; one fan follows both (`chat_one`, `chat_two`),
/// another fan only the first (`other_chat`). The agency's chatter and
/// "Chloe" work the first creator; "Una" works none.
struct Fixture {
    c: ConnectedCreator,
    fan: Uuid,
    chat_one: Uuid,
    chat_two: Uuid,
    other_chat: Uuid,
    chatter: TestClient,
    chloe: TestClient,
    una: TestClient,
    manager: TestClient,
}

async fn fixture() -> Fixture {
    let c = TestApp::with_connected_creator().await;
    let second = c
        .app
        .connect(&c.admin, c.app.sim().creator_uuids()[1])
        .await;
    let fan = Uuid::new_v4();
    let one = MirrorSeed {
        pool: &c.app.pool,
        agency: c.acme.id,
        creator: c.id,
    };
    let chat_one = one.chat(fan_chat(fan, "Shared Fan")).await;
    let other_chat = one.chat(fan_chat(Uuid::new_v4(), "Other Fan")).await;
    let two = MirrorSeed {
        pool: &c.app.pool,
        agency: c.acme.id,
        creator: second,
    };
    let chat_two = two.chat(fan_chat(fan, "Shared Fan")).await;
    assign(&c.app, c.id, c.acme.chatter).await;
    let chloe = add_chatter(&c.app, c.acme.chatter, "chloe@acme.test", "Chloe").await;
    assign(&c.app, c.id, chloe).await;
    add_chatter(&c.app, c.acme.chatter, "una@acme.test", "Una").await;
    let chatter = c.app.signed_in(&c.acme.email("chatter")).await;
    let chloe = c.app.signed_in("chloe@acme.test").await;
    let una = c.app.signed_in("una@acme.test").await;
    let manager = c.app.signed_in(&c.acme.email("manager")).await;
    Fixture {
        c,
        fan,
        chat_one,
        chat_two,
        other_chat,
        chatter,
        chloe,
        una,
        manager,
    }
}

async fn notes_of(app: &TestApp, fan: Uuid) -> Vec<(Uuid, String)> {
    sqlx::query_as("SELECT id, body FROM fan_notes WHERE fan_uuid = $1 ORDER BY created_at")
        .bind(fan)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn add_note(who: &TestClient, chat: Uuid, body: &str) -> reqwest::Response {
    who.post_form(&format!("/inbox/chats/{chat}/notes"), &[("body", body)])
        .await
}

#[tokio::test]
async fn a_fan_has_one_set_of_notes_across_creators_shown_escaped() {
    let f = fixture().await;
    let r = add_note(
        &f.chatter,
        f.chat_one,
        "<script>alert(1)</script> likes cats",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        format!("/inbox/chats/{}#fan-notes", f.chat_one)
    );
    assert_eq!(notes_of(&f.c.app, f.fan).await.len(), 1);

    // The manager opens the same fan's chat with the other creator.
    let (status, page) = f
        .manager
        .get_html(&format!("/inbox/chats/{}", f.chat_two))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62; likes cats"),
        "the note is shown as text: {}",
        &page[page.find("note-body").unwrap_or(0)..][..200]
    );
    assert!(!page.contains("<script>alert(1)"));
    assert!(page.contains("Acme Chatter"), "the author is named");
    // The other fan's chat has none.
    let (_, other) = f
        .chatter
        .get_html(&format!("/inbox/chats/{}", f.other_chat))
        .await;
    assert!(other.contains("No notes yet."));
    assert!(!other.contains("likes cats"));

    let details: serde_json::Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'fan_note.created' AND target = $1",
    )
    .bind(f.fan.to_string())
    .fetch_one(&f.c.app.pool)
    .await
    .unwrap();
    assert_eq!(details["chat"], f.chat_one.to_string());
}

#[tokio::test]
async fn a_note_too_long_or_empty_is_refused_and_the_draft_kept() {
    let f = fixture().await;
    let long = format!("Keep me {}", "x".repeat(2000));
    let r = add_note(&f.chatter, f.chat_one, &long).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("A note can be at most 2000 characters; this one has 2008."));
    assert!(page.contains(&long), "the typed text is kept in the box");
    assert!(page.contains("id=\"note-error\""));

    let r = add_note(&f.chatter, f.chat_one, "   ").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Write something in the note first.")
    );

    // Exactly 2000 characters (multi-byte) is fine.
    let r = add_note(&f.chatter, f.chat_one, &"é".repeat(2000)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let notes = notes_of(&f.c.app, f.fan).await;
    assert_eq!(notes.len(), 1);

    // An edit that is too long keeps its own draft and error.
    let r = f
        .chatter
        .post_form(
            &format!("/inbox/chats/{}/notes/{}/edit", f.chat_one, notes[0].0),
            &[("body", &long)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains(&format!("id=\"note-edit-error-{}\"", notes[0].0)));
    assert!(page.contains(&long));
    assert_eq!(notes_of(&f.c.app, f.fan).await, notes, "nothing changed");
}

#[tokio::test]
async fn authors_edit_managers_delete_others_cannot_and_unassigned_get_404() {
    let f = fixture().await;
    add_note(&f.chatter, f.chat_one, "Prefers evenings").await;
    let note = notes_of(&f.c.app, f.fan).await[0].0;
    let edit = format!("/inbox/chats/{}/notes/{note}/edit", f.chat_one);
    let delete = format!("/inbox/chats/{}/notes/{note}/delete", f.chat_one);

    // Chloe sees it but may neither edit nor delete it.
    let (_, page) = f
        .chloe
        .get_html(&format!("/inbox/chats/{}", f.chat_one))
        .await;
    assert!(page.contains("Prefers evenings"));
    assert!(!page.contains(&edit) && !page.contains(&delete));
    let r = f.chloe.post_form(&edit, &[("body", "hijacked")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        f.chloe.post_form(&delete, &[]).await.status(),
        StatusCode::FORBIDDEN
    );

    // Una works no creator: the chat, its notes and every action are 404.
    let (status, body) = f
        .una
        .get_html(&format!("/inbox/chats/{}", f.chat_one))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("Prefers evenings"));
    assert_eq!(
        add_note(&f.una, f.chat_one, "sneaky").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.una.post_form(&edit, &[("body", "x")]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.una.post_form(&delete, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    // Through the chat of another fan, the note is not found either.
    let r = f
        .chatter
        .post_form(
            &format!("/inbox/chats/{}/notes/{note}/edit", f.other_chat),
            &[("body", "wrong fan")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The author edits it (through either creator's chat would do).
    let (_, page) = f
        .chatter
        .get_html(&format!("/inbox/chats/{}", f.chat_one))
        .await;
    assert!(page.contains(&edit) && page.contains(&delete));
    let r = f
        .chatter
        .post_form(&edit, &[("body", "Prefers mornings")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(notes_of(&f.c.app, f.fan).await[0].1, "Prefers mornings");

    // A manager may delete but not edit someone else's note.
    let (_, page) = f
        .manager
        .get_html(&format!("/inbox/chats/{}", f.chat_two))
        .await;
    assert!(page.contains(&format!("/notes/{note}/delete")));
    assert!(!page.contains(&format!("/notes/{note}/edit")));
    let r = f
        .manager
        .post_form(
            &format!("/inbox/chats/{}/notes/{note}/edit", f.chat_two),
            &[("body", "managed")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = f
        .manager
        .post_form(
            &format!("/inbox/chats/{}/notes/{note}/delete", f.chat_two),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(notes_of(&f.c.app, f.fan).await.is_empty());

    // Chloe deletes her own note.
    add_note(&f.chloe, f.chat_one, "Mine").await;
    let own = notes_of(&f.c.app, f.fan).await[0].0;
    let r = f
        .chloe
        .post_form(
            &format!("/inbox/chats/{}/notes/{own}/delete", f.chat_one),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let actions = f.c.app.audit_actions(f.c.acme.id).await;
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(count("fan_note.created"), 2);
    assert_eq!(count("fan_note.updated"), 1);
    assert_eq!(count("fan_note.deleted"), 2);
    let by: Vec<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT action, actor_id FROM audit_log WHERE action = 'fan_note.deleted' ORDER BY id",
    )
    .fetch_all(&f.c.app.pool)
    .await
    .unwrap();
    assert_eq!(by[0].1, Some(f.c.acme.manager.as_uuid()));
}

#[tokio::test]
async fn another_agencys_notes_and_tags_are_not_found_through_ones_own_chat() {
    let f = fixture().await;
    add_note(&f.chatter, f.chat_one, "Acme only").await;
    let acme_note = notes_of(&f.c.app, f.fan).await[0].0;
    f.manager
        .post_form("/inbox/tags", &[("name", "Acme VIP"), ("colour", "red")])
        .await;
    let acme_tag: Uuid = sqlx::query_scalar("SELECT id FROM tags WHERE agency_id = $1")
        .bind(f.c.acme.id)
        .fetch_one(&f.c.app.pool)
        .await
        .unwrap();

    // Globex, with its own creator and a chat with the very same fan.
    let acme_tag_field = acme_tag.to_string();
    let globex = f.c.app.agency("Globex").await;
    let globex_admin = f.c.app.signed_in(&globex.email("admin")).await;
    let globex_creator =
        f.c.app
            .connect(&globex_admin, f.c.app.sim().creator_uuids()[2])
            .await;
    let globex_chat = MirrorSeed {
        pool: &f.c.app.pool,
        agency: globex.id,
        creator: globex_creator,
    }
    .chat(fan_chat(f.fan, "Shared Fan"))
    .await;
    let (status, page) = globex_admin
        .get_html(&format!("/inbox/chats/{globex_chat}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("Acme only"), "notes are per agency");
    assert!(!page.contains("Acme VIP"));

    for (path, fields) in [
        (
            format!("/inbox/chats/{globex_chat}/notes/{acme_note}/edit"),
            vec![("body", "intruder")],
        ),
        (
            format!("/inbox/chats/{globex_chat}/notes/{acme_note}/delete"),
            vec![],
        ),
        (
            format!("/inbox/chats/{globex_chat}/tags"),
            vec![("tag_id", acme_tag_field.as_str())],
        ),
        (
            format!("/inbox/chats/{globex_chat}/tags/{acme_tag}/remove"),
            vec![],
        ),
        (
            format!("/inbox/tags/{acme_tag}/edit"),
            vec![("name", "x"), ("colour", "red")],
        ),
        (format!("/inbox/tags/{acme_tag}/delete"), vec![]),
    ] {
        let r = globex_admin.post_form(&path, &fields).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let r = globex_admin.get(&format!("/inbox?tag={acme_tag}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(notes_of(&f.c.app, f.fan).await[0].1, "Acme only");
    let tagged: i64 = sqlx::query_scalar("SELECT count(*) FROM fan_tags")
        .fetch_one(&f.c.app.pool)
        .await
        .unwrap();
    assert_eq!(tagged, 0);
}

async fn tag_id(app: &TestApp, name: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM tags WHERE name = $1")
        .bind(name)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn managers_keep_the_tag_set_and_chatters_cannot() {
    let f = fixture().await;
    assert_eq!(
        f.chatter.get("/inbox/tags").await.status(),
        StatusCode::FORBIDDEN
    );
    let r = f
        .chatter
        .post_form("/inbox/tags", &[("name", "Chatty"), ("colour", "blue")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = f
        .manager
        .post_form(
            "/inbox/tags",
            &[("name", "<b>VIP</b>"), ("colour", "purple")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let vip = tag_id(&f.c.app, "<b>VIP</b>").await;
    let (status, page) = f.manager.get_html("/inbox/tags").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<span class=\"tag-chip tag-purple\">&#60;b&#62;VIP&#60;/b&#62;</span>"),
        "{}",
        &page[page.find("tags-table").unwrap_or(0)..][..600]
    );
    assert!(!page.contains("<b>VIP</b>"));

    // Unique regardless of case; bounded; palette only. The draft stays.
    let r = f
        .manager
        .post_form("/inbox/tags", &[("name", "<B>vip</B>"), ("colour", "red")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("already exists"), "{page}");
    assert!(page.contains("value=\"&#60;B&#62;vip&#60;/B&#62;\""));
    let r = f
        .manager
        .post_form(
            "/inbox/tags",
            &[("name", &"n".repeat(41)), ("colour", "red")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("at most 40 characters"));
    let r = f
        .manager
        .post_form(
            "/inbox/tags",
            &[("name", "Styled"), ("colour", "red;background:url(x)")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Rename and recolour; a chatter may not.
    let edit = format!("/inbox/tags/{vip}/edit");
    let r = f
        .chatter
        .post_form(&edit, &[("name", "Mine"), ("colour", "red")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = f
        .manager
        .post_form(&edit, &[("name", "Whale"), ("colour", "green")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (name, colour): (String, String) =
        sqlx::query_as("SELECT name, colour FROM tags WHERE id = $1")
            .bind(vip)
            .fetch_one(&f.c.app.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), colour.as_str()), ("Whale", "green"));
    // Renaming onto another tag's name is refused.
    f.manager
        .post_form("/inbox/tags", &[("name", "Timewaster"), ("colour", "grey")])
        .await;
    let r = f
        .manager
        .post_form(&edit, &[("name", "TIMEWASTER"), ("colour", "green")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(&format!("id=\"edit-error-{vip}\""))
    );

    // Delete (a chatter may not).
    let delete = format!("/inbox/tags/{vip}/delete");
    assert_eq!(
        f.chatter.post_form(&delete, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.manager.post_form(&delete, &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let actions = f.c.app.audit_actions(f.c.acme.id).await;
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(count("tag.created"), 2);
    assert_eq!(count("tag.updated"), 1);
    assert_eq!(count("tag.deleted"), 1);
    let details: serde_json::Value =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'tag.updated'")
            .fetch_one(&f.c.app.pool)
            .await
            .unwrap();
    assert_eq!(details["from"]["name"], "<b>VIP</b>");
    assert_eq!(details["to"]["colour"], "green");
}

#[tokio::test]
async fn tags_on_fans_show_on_rows_and_filter_the_list() {
    let f = fixture().await;
    f.manager
        .post_form("/inbox/tags", &[("name", "VIP"), ("colour", "blue")])
        .await;
    f.manager
        .post_form("/inbox/tags", &[("name", "Cold"), ("colour", "grey")])
        .await;
    let vip = tag_id(&f.c.app, "VIP").await;

    // The chatter tags the shared fan from the fan panel.
    let (_, page) = f
        .chatter
        .get_html(&format!("/inbox/chats/{}", f.chat_one))
        .await;
    assert!(page.contains(&format!("<option value=\"{vip}\">VIP</option>")));
    let r = f
        .chatter
        .post_form(
            &format!("/inbox/chats/{}/tags", f.chat_one),
            &[("tag_id", &vip.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Una may not tag through a chat she cannot see.
    let r = f
        .una
        .post_form(
            &format!("/inbox/chats/{}/tags", f.chat_one),
            &[("tag_id", &vip.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Shown in the panel of the other creator's chat, and on list rows.
    let (_, page) = f
        .manager
        .get_html(&format!("/inbox/chats/{}", f.chat_two))
        .await;
    assert!(page.contains(&format!("data-tag-id=\"{vip}\"")));
    let (_, list) = f.manager.get_html("/inbox").await;
    let row = chat_li(&list, f.chat_two).expect("row");
    assert!(
        row.contains("<span class=\"tag-chip tag-blue\">VIP</span>"),
        "{row}"
    );
    assert!(!chat_li(&list, f.other_chat).unwrap().contains("tag-chip"));

    // The filter: the manager sees both of the fan's chats, the chatter
    // only their creator's; the tabs keep the filter.
    let (status, list) = f.manager.get_html(&format!("/inbox?tag={vip}")).await;
    assert_eq!(status, StatusCode::OK);
    let mut ids = chat_ids(&list);
    ids.sort();
    let mut want = vec![f.chat_one, f.chat_two];
    want.sort();
    assert_eq!(ids, want);
    assert!(list.contains(&format!("<option value=\"{vip}\" selected>VIP</option>")));
    assert!(
        list.contains(&format!("tag={vip}")),
        "tab links carry the tag"
    );
    let (_, list) = f
        .chatter
        .get_html(&format!("/inbox?tag={vip}&tab=all"))
        .await;
    assert_eq!(chat_ids(&list), vec![f.chat_one]);
    let (_, counts) = f
        .chatter
        .get_html(&format!("/inbox/counts?tag={vip}"))
        .await;
    assert!(counts.contains("data-count=\"all\">1<"), "{counts}");
    // Mine counts only tagged fans' chats under the filter too.
    let r = f
        .chatter
        .post_form(&format!("/inbox/chats/{}/claim", f.other_chat), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, counts) = f.chatter.get_html("/inbox/counts").await;
    assert!(counts.contains("data-count=\"mine\">1<"), "{counts}");
    let (_, counts) = f
        .chatter
        .get_html(&format!("/inbox/counts?tag={vip}"))
        .await;
    assert!(counts.contains("data-count=\"mine\">0<"), "{counts}");
    f.chatter
        .post_form(&format!("/inbox/chats/{}/claim", f.chat_one), &[])
        .await;
    let (_, counts) = f
        .chatter
        .get_html(&format!("/inbox/counts?tag={vip}"))
        .await;
    assert!(counts.contains("data-count=\"mine\">1<"), "{counts}");
    // A live row refresh under the filter: a non-matching chat is 204.
    let r = f
        .chatter
        .get(&format!("/inbox/chats/{}/row?tag={vip}", f.other_chat))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = f
        .chatter
        .get(&format!("/inbox/chats/{}/row?tag={vip}", f.chat_one))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Malformed and unknown tags.
    assert_eq!(
        f.chatter.get("/inbox?tag=nope").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        f.chatter
            .get(&format!("/inbox?tag={}", Uuid::now_v7()))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Removing the tag takes the fan out of the filter.
    let r = f
        .chloe
        .post_form(
            &format!("/inbox/chats/{}/tags/{vip}/remove", f.chat_one),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, list) = f.manager.get_html(&format!("/inbox?tag={vip}")).await;
    assert!(chat_ids(&list).is_empty());
    assert!(list.contains("No chats with fans carrying this tag."));

    let actions = f.c.app.audit_actions(f.c.acme.id).await;
    assert!(actions.iter().any(|a| a == "fan.tagged"));
    assert!(actions.iter().any(|a| a == "fan.untagged"));
    let actor: Option<Uuid> =
        sqlx::query_scalar("SELECT actor_id FROM audit_log WHERE action = 'fan.untagged'")
            .fetch_one(&f.c.app.pool)
            .await
            .unwrap();
    assert!(actor.is_some());
    assert_ne!(actor, Some(f.c.acme.chatter.as_uuid()), "Chloe took it off");
}

#[tokio::test]
async fn the_tag_filter_pages_by_keyset() {
    let f = fixture().await;
    f.manager
        .post_form("/inbox/tags", &[("name", "Regular"), ("colour", "green")])
        .await;
    let tag = tag_id(&f.c.app, "Regular").await;
    let seed = MirrorSeed {
        pool: &f.c.app.pool,
        agency: f.c.acme.id,
        creator: f.c.id,
    };
    let now = chrono::Utc::now();
    let mut tagged = Vec::new();
    let mut chats = Vec::new();
    for i in 0..80 {
        let mut c = fan_chat(Uuid::new_v4(), &format!("Fan {i}"));
        c.last_message_at = Some(now - chrono::Duration::minutes(i));
        if i % 3 != 0 {
            tagged.push(c.fan_uuid);
        }
        chats.push(c);
    }
    let ids = seed.chats(&chats).await;
    for fan in &tagged {
        sqlx::query("INSERT INTO fan_tags (agency_id, tag_id, fan_uuid) VALUES ($1, $2, $3)")
            .bind(f.c.acme.id)
            .bind(tag)
            .bind(fan)
            .execute(&f.c.app.pool)
            .await
            .unwrap();
    }
    let want: Vec<Uuid> = chats
        .iter()
        .zip(&ids)
        .filter(|(c, _)| tagged.contains(&c.fan_uuid))
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(want.len(), 53);

    let (_, first) = f.chatter.get_html(&format!("/inbox?tag={tag}")).await;
    let page_one = chat_ids(&first);
    assert_eq!(page_one, want[..50]);
    let next = first
        .split("after=")
        .nth(1)
        .and_then(|s| s.split(['"', '&']).next())
        .expect("a next-page link")
        .to_owned();
    let (_, rows) = f
        .chatter
        .get_html(&format!("/inbox/rows?tag={tag}&after={next}"))
        .await;
    assert_eq!(chat_ids(&rows), want[50..]);
}
