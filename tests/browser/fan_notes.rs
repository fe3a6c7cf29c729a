//! Fan notes and tags in a browser: a manager creates a tag on the tags
//! page, opens a chat, writes a note (shown as text) and puts the tag on
//! the fan from the fan panel, then filters the chat list by the tag —
//! plain forms, no script needed.

use super::helpers::{MirrorSeed, fan_chat};
use super::*;

#[tokio::test]
async fn a_manager_notes_and_tags_a_fan_and_filters_the_list_by_the_tag() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let c = TestApp::with_connected_creator().await;
    let seed = MirrorSeed {
        pool: &c.app.pool,
        agency: c.acme.id,
        creator: c.id,
    };
    let gina = seed.chat(fan_chat(Uuid::new_v4(), "Gina Tagged")).await;
    let hank = seed.chat(fan_chat(Uuid::new_v4(), "Hank Plain")).await;

    let (_driver, b) = start_browser().await;
    let base = c.app.address.clone();
    sign_in(&b, &base, &c.acme.email("manager"), PASSWORD).await;
    expect_heading(&b, "Welcome back, Acme Manager").await;

    // The tag set, from the inbox's "Tags" link.
    b.goto(&format!("{base}/inbox")).await.unwrap();
    click(&b, "#tags-link").await;
    expect_heading(&b, "Fan tags").await;
    fill(&b, "#tag-name", "VIP").await;
    click(&b, "input[name=colour][value=green]").await;
    click(&b, "#create-tag").await;
    expect_text(&b, ".flash", "Tag “VIP” created.").await;
    let row = expect_text(&b, "#tags-table", "VIP").await;
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR")
        && let Ok(png) = b.screenshot().await
    {
        let _ = std::fs::write(format!("{dir}/tags-page.png"), png);
    }
    assert!(row.contains('0'), "{row}");
    let vip: Uuid = sqlx::query_scalar("SELECT id FROM tags WHERE name = 'VIP'")
        .fetch_one(&c.app.pool)
        .await
        .unwrap();

    // A note and the tag from the fan panel.
    b.goto(&format!("{base}/inbox/chats/{gina}")).await.unwrap();
    expect_heading(&b, "Gina Tagged").await;
    fill(&b, "#note-body", "Loves <b>cats</b>; ask about Luna").await;
    click(&b, "#note-add").await;
    expect_text(&b, ".flash", "Note added.").await;
    let note = expect_text(&b, "#notes .note-body", "Loves <b>cats</b>; ask about Luna").await;
    assert_eq!(note, "Loves <b>cats</b>; ask about Luna", "shown as text");
    let bold: i64 = js(&b, "return document.querySelectorAll('#notes b').length;").await;
    assert_eq!(bold, 0, "no markup from the note");
    click(&b, &format!("#fan-tag-add option[value='{vip}']")).await;
    click(&b, "#fan-tag-add-button").await;
    expect_text(&b, ".flash", "Tag added.").await;
    expect_text(&b, "#fan-tag-list", "VIP").await;
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR")
        && let Ok(png) = b.screenshot().await
    {
        let _ = std::fs::write(format!("{dir}/fan-panel.png"), png);
    }

    // The list, filtered by the tag: only Gina, with her chip.
    b.goto(&format!("{base}/inbox")).await.unwrap();
    expect_heading(&b, "Inbox").await;
    let all = settled_row_ids(&b).await;
    assert!(all.contains(&gina.to_string()) && all.contains(&hank.to_string()));
    expect_text(&b, &format!("#chat-{gina} .chat-tags"), "VIP").await;
    click(&b, &format!("#inbox-tag option[value='{vip}']")).await;
    click(&b, ".inbox-filter button[type=submit]").await;
    until(
        &b,
        &format!("return location.search.includes('tag={vip}');"),
        "the filter in the address",
    )
    .await;
    let rows = settled_row_ids(&b).await;
    assert_eq!(rows, vec![gina.to_string()]);
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR")
        && let Ok(png) = b.screenshot().await
    {
        let _ = std::fs::write(format!("{dir}/list-by-tag.png"), png);
    }
    // Another tab keeps the tag filter.
    // (The live script refreshes the tabs' counts; the refreshed links
    // keep the tag too.)
    live_connected(&b).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    click(&b, "#inbox-tabs a[href*='tab=unread']").await;
    until(
        &b,
        &format!("return location.search.includes('tab=unread') && location.search.includes('tag={vip}');"),
        "the tab with the filter",
    )
    .await;
    c.app.assert_audited(c.acme.id, "fan_note.created").await;
    c.app.assert_audited(c.acme.id, "fan.tagged").await;
    c.app.assert_audited(c.acme.id, "tag.created").await;
    b.close().await.unwrap();
}
