//! Two chatters in two browsers on one chat: each sees the other arrive and
//! type (within 2 s), the second reply is held showing the first one's
//! text, "Send anyway" sends it, a take-over shows on the other screen and
//! is in the audit log.

use std::time::Instant;

use super::*;

/// Waits until `script` is true, failing after `limit`; returns how long it took.
async fn within(c: &Client, script: &str, what: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(serde_json::Value::Bool(true)) = c.execute(script, vec![]).await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within {limit:?} ({script})");
}

#[tokio::test]
async fn two_chatters_see_each_other_and_never_cross_replies() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let inbox = inbox_world(false).await;
    let app = &inbox.app;
    let (chat, _fan) = inbox.contactable_chat().await;
    // A second chatter on the same creator.
    let chloe: uuid::Uuid = {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO staff (id, agency_id, email, display_name, password_hash, role)
             SELECT $1, agency_id, 'chloe2@acme.test', 'Chloe Martin', password_hash, 'chatter'
             FROM staff WHERE id = $2",
        )
        .bind(id)
        .bind(inbox.acme.chatter)
        .execute(&app.pool)
        .await
        .unwrap();
        id
    };
    let r = inbox
        .admin
        .post_form(
            &format!("/admin/creators/{}/assignments", inbox.mine),
            &[("staff_id", &chloe.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let base = app.address.clone();
    let (_d1, one) = start_browser().await;
    let (_d2, two) = start_browser().await;
    sign_in(&one, &base, &inbox.acme.email("chatter"), PASSWORD).await;
    expect_heading(&one, "Welcome back, Acme Chatter").await;
    sign_in(&two, &base, "chloe2@acme.test", PASSWORD).await;
    expect_heading(&two, "Welcome back, Chloe Martin").await;
    let thread = format!("{base}/inbox/chats/{chat}");
    one.goto(&thread).await.unwrap();
    wait_for(&one, "#compose-text").await;
    live_connected(&one).await;
    two.goto(&thread).await.unwrap();
    wait_for(&two, "#compose-text").await;
    live_connected(&two).await;

    // Presence: each sees the other, by initials, named on hover.
    let took = within(
        &one,
        "return !!document.querySelector('#people li[title=\"Chloe Martin is viewing\"]');",
        "Chloe's presence on the first screen",
        Duration::from_secs(2),
    )
    .await;
    eprintln!("presence shown after {took:?}");
    within(
        &two,
        "return !!document.querySelector('#people li[title=\"Acme Chatter is viewing\"]');",
        "the first chatter's presence on Chloe's screen",
        Duration::from_secs(2),
    )
    .await;
    let initials: String = js(
        &one,
        "return document.querySelector('#people li').textContent.trim();",
    )
    .await;
    assert_eq!(initials, "CM");

    // Typing shows on the other screen.
    fill(&two, "#compose-text", "Chloe's draft").await;
    let took = within(
        &one,
        "return (document.getElementById('typing-note') || {}).textContent === 'Chloe Martin is typing\u{2026}';",
        "Chloe typing on the first screen",
        Duration::from_secs(2),
    )
    .await;
    eprintln!("typing shown after {took:?}");

    // The first chatter replies; Chloe's reply (written against the older
    // thread) is held, showing what arrived, with her draft kept.
    let first = "Hi! I'm here, what can I do for you?";
    fill(&one, "#compose-text", first).await;
    click(&one, "#compose button.compose-send").await;
    expect_text(&one, "#messages", first).await;
    let before = app.sim().messages_sent();
    click(&two, "#compose button.compose-send").await;
    let arrived = wait_for(&two, "#compose-arrived").await;
    let text = arrived.text().await.unwrap();
    assert!(
        text.contains(first),
        "held with the first reply visible: {text}"
    );
    assert!(text.contains("Acme Chatter"));
    let draft: String = js(
        &two,
        "return document.getElementById('compose-text').value;",
    )
    .await;
    assert_eq!(draft, "Chloe's draft");
    assert_eq!(app.sim().messages_sent(), before, "nothing sent while held");

    // Send anyway: it goes out, recorded as such.
    click(&two, "#send-anyway").await;
    expect_text(&two, "#messages", "Chloe's draft").await;
    assert_eq!(app.sim().messages_sent(), before + 1);
    let anyway: bool = sqlx::query_scalar("SELECT sent_anyway FROM outbound_sends WHERE body = $1")
        .bind("Chloe's draft")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(anyway);

    // The first chatter claims the chat; Chloe sees it live, and is told
    // when she starts to reply; she takes over and the first screen shows it.
    click(&one, "#claim-button").await;
    wait_for(&one, "#claim-release").await;
    within(
        &two,
        "return ((document.getElementById('claim-status') || {}).textContent || '').includes('Claimed by Acme Chatter');",
        "the claim on Chloe's screen",
        Duration::from_secs(2),
    )
    .await;
    click(&two, "#compose-text").await;
    fill(&two, "#compose-text", "Let me take this one").await;
    within(
        &two,
        "var w = document.getElementById('compose-claimed'); return !!w && !w.hidden && w.textContent.includes('Acme Chatter has claimed this chat');",
        "the claim warning when Chloe starts to reply",
        Duration::from_secs(2),
    )
    .await;
    click(&two, "#compose-take-over").await;
    wait_for(&two, "#claim-release").await;
    let kept: String = js(
        &two,
        "return document.getElementById('compose-text').value;",
    )
    .await;
    assert_eq!(
        kept, "Let me take this one",
        "the draft survives the take-over"
    );
    within(
        &one,
        "return ((document.getElementById('claim-status') || {}).textContent || '').includes('Claimed by Chloe Martin');",
        "the take-over on the first screen",
        Duration::from_secs(2),
    )
    .await;
    let actions = app.audit_actions(inbox.acme.id).await;
    assert!(
        actions.iter().any(|a| a == "claim.taken_over"),
        "audited: {actions:?}"
    );
    // The admin's audit page lists it.
    let (_, audit) = inbox.admin.get_html("/admin/audit").await;
    assert!(audit.contains("claim.taken_over"));

    // Closing the tab: the other screen drops the viewer.
    two.goto(&format!("{base}/inbox")).await.unwrap();
    within(
        &one,
        "return !document.querySelector('#people li[title^=\"Chloe Martin\"]');",
        "Chloe leaving the chat",
        Duration::from_secs(3),
    )
    .await;
}
