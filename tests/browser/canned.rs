//! The `/` picker in the compose box: typing `/` opens the saved replies
//! (agency, personal and the creator's Fanvue templates, labelled), typing
//! filters, the arrow keys move, Enter or Tab inserts the snippet with the
//! fan's name filled in, Esc closes without leaving the reply box. The
//! fan's Fanvue lists load into the fan panel after the page.

use super::*;

const DOWN: char = '\u{E015}';
const UP: char = '\u{E013}';
const ENTER: char = '\u{E007}';
const TAB: char = '\u{E004}';
const ESCAPE: char = '\u{E00C}';

async fn snippet(
    app: &TestApp,
    agency: switchboard::domain::AgencyId,
    owner: Option<switchboard::domain::StaffId>,
    title: &str,
    body: &str,
) {
    sqlx::query(
        "INSERT INTO canned_replies (id, agency_id, owner_staff_id, title, body) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(agency)
    .bind(owner)
    .bind(title)
    .bind(body)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn typed(c: &Client, keys: &str) {
    let el = c.find(Locator::Css("#compose-text")).await.unwrap();
    el.send_keys(keys).await.unwrap();
}

async fn value(c: &Client) -> String {
    js(c, "return document.getElementById('compose-text').value;").await
}

#[tokio::test]
async fn slash_opens_the_picker_and_the_keyboard_inserts_a_filled_snippet() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let inbox = inbox_world(false).await;
    let app = &inbox.app;
    let (chat, _) = inbox.contactable_chat().await;
    let (display, handle): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT fan_display_name, fan_handle FROM chats WHERE id = $1")
            .bind(chat)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let fan = display.filter(|d| !d.trim().is_empty()).or(handle).unwrap();
    snippet(
        app,
        inbox.acme.id,
        None,
        "Welcome back",
        "Hey {fan_name}, missed you!",
    )
    .await;
    snippet(
        app,
        inbox.acme.id,
        None,
        "Goodnight",
        "Sleep well {fan_name}",
    )
    .await;
    snippet(
        app,
        inbox.acme.id,
        Some(inbox.acme.chatter),
        "My wink",
        "Wink wink",
    )
    .await;

    let base = app.address.clone();
    let (_driver, c) = start_browser().await;
    sign_in(&c, &base, &inbox.acme.email("chatter"), PASSWORD).await;
    expect_heading(&c, "Welcome back, Acme Chatter").await;
    c.goto(&format!("{base}/inbox/chats/{chat}")).await.unwrap();
    wait_for(&c, "#compose-text").await;
    until(
        &c,
        "return document.getElementById('compose-text').getAttribute('role') === 'combobox';",
        "the reply box to become a combobox",
    )
    .await;
    // The fan's Fanvue lists arrive after the page, in the fan panel.
    until(
        &c,
        "return document.querySelectorAll('#fan-lists .fan-list').length > 0;",
        "the fan's custom lists to load into the panel",
    )
    .await;
    click(&c, "#compose-text").await;

    // "/" opens the listbox with every kind, labelled.
    typed(&c, "/").await;
    until(
        &c,
        "const l = document.getElementById('canned-listbox'); return !!l && !l.hidden && l.querySelectorAll('[role=option]').length >= 4;",
        "the picker with snippets and templates",
    )
    .await;
    let labels: Vec<String> = js(
        &c,
        "return [...document.querySelectorAll('#canned-listbox .canned-label')].map(e => e.textContent);",
    )
    .await;
    assert!(labels.iter().any(|l| l == "Agency"), "{labels:?}");
    assert!(labels.iter().any(|l| l == "Mine"), "{labels:?}");
    assert!(labels.iter().any(|l| l == "Fanvue template"), "{labels:?}");
    let expanded: String = js(
        &c,
        "return document.getElementById('compose-text').getAttribute('aria-expanded');",
    )
    .await;
    assert_eq!(expanded, "true");

    // Type to filter: only "Goodnight" matches "good".
    typed(&c, "good").await;
    until(
        &c,
        "const o = [...document.querySelectorAll('#canned-listbox [role=option]')]; return o.length === 1 && o[0].querySelector('.canned-option-title').textContent === 'Goodnight';",
        "the filter to leave Goodnight",
    )
    .await;
    // Enter inserts it in place of "/good", the fan's name filled in.
    typed(&c, &ENTER.to_string()).await;
    assert_eq!(value(&c).await, format!("Sleep well {fan}"));
    let hidden: bool = js(
        &c,
        "return document.getElementById('canned-listbox').hidden;",
    )
    .await;
    assert!(hidden, "the picker closed");

    // After a space: "/" again, the arrows move the selection, Tab inserts.
    typed(&c, " /welc").await;
    until(
        &c,
        "const o = [...document.querySelectorAll('#canned-listbox [role=option]')]; return o.length >= 1 && o[0].querySelector('.canned-option-title').textContent === 'Welcome back';",
        "the filter to find Welcome back",
    )
    .await;
    typed(&c, &DOWN.to_string()).await;
    typed(&c, &UP.to_string()).await;
    let active: String = js(
        &c,
        "const t = document.getElementById('compose-text'); return document.getElementById(t.getAttribute('aria-activedescendant')).querySelector('.canned-option-title').textContent;",
    )
    .await;
    assert_eq!(active, "Welcome back");
    typed(&c, &TAB.to_string()).await;
    assert_eq!(
        value(&c).await,
        format!("Sleep well {fan} Hey {fan}, missed you!")
    );

    // Esc closes the picker and keeps the reply box focused and intact.
    typed(&c, " /").await;
    until(
        &c,
        "return !document.getElementById('canned-listbox').hidden;",
        "the picker to open again",
    )
    .await;
    typed(&c, &ESCAPE.to_string()).await;
    let (hidden, focused): (bool, bool) = js(
        &c,
        "return [document.getElementById('canned-listbox').hidden, document.activeElement && document.activeElement.id === 'compose-text'];",
    )
    .await;
    assert!(
        hidden && focused,
        "Esc closed the picker ({hidden}) and kept the focus ({focused})"
    );
    assert_eq!(
        value(&c).await,
        format!("Sleep well {fan} Hey {fan}, missed you! /")
    );
}
