//! Browser journeys in headless Chromium, driven over WebDriver. They need
//! `chromium` and `chromedriver` on PATH (the test script installs them);
//! set SKIP_BROWSER_TESTS=1 to skip them on a machine without a browser.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod canned;
mod collab;
mod dashboard;
mod fan_notes;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use helpers::{PASSWORD, TestAgency, TestApp, sync_until_idle};
use reqwest::StatusCode;
use switchboard::domain::CreatorId;
use switchboard::sim::EventKind;
use uuid::Uuid;

struct Driver {
    child: Child,
    port: u16,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn skip() -> bool {
    std::env::var("SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1")
}

async fn start_browser() -> (Driver, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()),
    )
    .arg(format!("--port={port}"))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("chromedriver must be installed (see README); SKIP_BROWSER_TESTS=1 skips these tests");
    let profile = std::env::temp_dir().join(format!("sb-chrome-{}", uuid::Uuid::new_v4()));
    let driver = Driver {
        child,
        port,
        profile,
    };
    let mut caps = serde_json::Map::new();
    let mut chrome = serde_json::json!({
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1366,900", format!("--user-data-dir={}", driver.profile.display()),
        ]
    });
    let binary = std::env::var("CHROME_BIN").ok().or_else(|| {
        [
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_owned)
    });
    if let Some(b) = binary {
        chrome["binary"] = serde_json::Value::String(b);
    }
    caps.insert("goog:chromeOptions".into(), chrome);
    let url = format!("http://127.0.0.1:{}", driver.port);
    let mut last_err = None;
    for _ in 0..50 {
        match ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => {
                last_err = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("could not start a browser session: {last_err:?}");
}

async fn fill(c: &Client, css: &str, text: &str) {
    let el = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

/// Clicks the element `css` names. Inbox pages are live: a row found a
/// moment ago may have been swapped for a fresh copy by the stream, so a
/// stale element is looked up again (a few times) rather than failing.
async fn click(c: &Client, css: &str) {
    let mut attempt = 0;
    loop {
        // Waits for it: after a click that navigates, the next page may
        // not be there yet.
        let el = wait_for(c, css).await;
        match el.click().await {
            Ok(_) => return,
            Err(e) if attempt < 5 && e.to_string().contains("stale element") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                if let Ok(dir) = std::env::var("SCREENSHOT_DIR")
                    && let Ok(png) = c.screenshot().await
                {
                    let _ = std::fs::write(format!("{dir}/failed-click.png"), png);
                }
                panic!("clicking {css}: {e}");
            }
        }
    }
}

async fn sign_in(c: &Client, base: &str, email: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#email", email).await;
    fill(c, "#password", password).await;
    click(c, "form.form button[type=submit]").await;
}

/// Waits (up to 10 s) until an element matching `css` shows text that
/// satisfies `want`, and returns that text. Navigation after a click is
/// asynchronous: the old page, which may carry a heading or flash of its
/// own, can still be showing for a while, so the first match is not
/// necessarily the answer to the click.
async fn await_text(c: &Client, css: &str, what: &str, want: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if want(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {css} {what}, page shows {last:?}");
}

async fn expect_heading(c: &Client, expected: &str) {
    await_text(c, "h1", &format!("to be {expected:?}"), |t| t == expected).await;
}

async fn expect_text(c: &Client, css: &str, needle: &str) -> String {
    await_text(c, css, &format!("to contain {needle:?}"), |t| {
        t.contains(needle)
    })
    .await
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

#[tokio::test]
async fn admin_invites_a_chatter_who_joins_and_sees_only_chatter_pages() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let (_driver, c) = start_browser().await;
    let base = app.address.clone();

    // Wrong password: the form comes back with the generic error.
    sign_in(&c, &base, &acme.email("owner"), "not my password").await;
    let error = wait_for(&c, "#login-error").await.text().await.unwrap();
    assert_eq!(error, "That email and password combination is not right.");

    sign_in(&c, &base, &acme.email("owner"), PASSWORD).await;
    expect_heading(&c, "Welcome back, Acme Owner").await;

    // Invite a chatter through the UI.
    click(&c, "a[href='/admin/staff']").await;
    expect_heading(&c, "Staff").await;
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
        std::fs::write(
            format!("{dir}/screenshot.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
    }
    click(&c, "a[href='/admin/staff/invite']").await;
    fill(&c, "#email", "bea@acme.test").await;
    fill(&c, "#display_name", "Bea Chatter").await;
    click(&c, "button[type=submit].btn-primary").await;
    expect_heading(&c, "Invitation created").await;
    let link = c
        .find(Locator::Css("#invite-link"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .expect("link");
    assert!(link.contains("/invite/"), "{link}");
    let path = &link[link.find("/invite/").unwrap()..];

    // Sign out, then accept the invitation.
    click(&c, "form[action='/logout'] button").await;
    wait_for(&c, "#email").await;
    c.goto(&format!("{base}{path}")).await.unwrap();
    expect_heading(&c, "Join Acme").await;
    fill(&c, "#password", "bea's very long passphrase").await;
    fill(&c, "#password_confirm", "bea's very long passphrase").await;
    click(&c, "form.form button[type=submit]").await;
    expect_text(&c, ".flash-success", "Your account is ready").await;

    sign_in(&c, &base, "bea@acme.test", "bea's very long passphrase").await;
    expect_heading(&c, "Welcome back, Bea Chatter").await;
    assert!(
        c.find(Locator::Css("a[href='/admin/staff']"))
            .await
            .is_err(),
        "chatter sees no admin navigation"
    );
    c.goto(&format!("{base}/admin/staff")).await.unwrap();
    expect_heading(&c, "Not allowed").await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn admin_connects_a_creator_through_fanvue_consent_and_assigns_a_chatter() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let app = TestApp::spawn_with_sim(|_| {}, |_| {}).await;
    let acme = app.agency("Acme").await;
    let creator = app.sim().creator_uuids()[1];
    app.sim().set_auto_approve(None).unwrap();
    let (_driver, c) = start_browser().await;
    let base = app.address.clone();

    sign_in(&c, &base, &acme.email("admin"), PASSWORD).await;
    expect_heading(&c, "Welcome back, Acme Admin").await;
    click(&c, "a[href='/admin/creators']").await;
    expect_heading(&c, "Creators").await;
    // The form posts to Switchboard, which redirects to Fanvue's consent
    // page (allowed by the CSP's form-action).
    click(&c, "form[action='/admin/creators/connect'] button").await;
    let select = wait_for(&c, "select[name=user]").await;
    select.select_by_value(&creator.to_string()).await.unwrap();
    click(&c, "button[value=approve]").await;

    // Back in Switchboard on the creator's page.
    let flash = expect_text(&c, ".flash-success", "is connected.").await;
    assert!(flash.ends_with("is connected."), "{flash}");
    let url = c.current_url().await.unwrap();
    assert!(url.path().starts_with("/admin/creators/"), "{url}");
    let status: String = sqlx::query_scalar("SELECT status FROM creators WHERE fanvue_uuid = $1")
        .bind(creator)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "connected");

    // Assign the chatter from the creator page.
    let option = format!("select#staff_id option[value='{}']", acme.chatter);
    click(&c, &option).await;
    click(&c, "form.form-inline button[type=submit]").await;
    expect_text(&c, ".flash-success", "Acme Chatter now works").await;
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
        std::fs::write(format!("{dir}/creator.png"), c.screenshot().await.unwrap()).unwrap();
    }

    // The sync page, and asking for a reconcile.
    click(&c, "a[href$='/sync']").await;
    expect_heading(&c, "Sync").await;
    click(&c, "form[action$='/sync/reconcile'] button").await;
    expect_text(&c, ".flash", "Reconcile queued").await;

    // The webhook page lists the URLs to register.
    click(&c, "a[href='/admin/webhooks']").await;
    expect_heading(&c, "Webhooks").await;
    let table = c
        .find(Locator::Css("table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        table.contains(&format!("{base}/webhooks/fanvue/message-received")),
        "{table}"
    );
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_hostile_next_after_login_keeps_the_browser_on_this_site() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let (_driver, c) = start_browser().await;
    let base = app.address.clone();
    for hostile in [
        "/%09/evil.example",
        "/%5C/evil.example",
        "/%E2%88%95/evil.example",
    ] {
        c.goto(&format!("{base}/login?next={hostile}"))
            .await
            .unwrap();
        fill(&c, "#email", &acme.email("owner")).await;
        fill(&c, "#password", PASSWORD).await;
        click(&c, "form.form button[type=submit]").await;
        // Wait until the browser has left the login page, wherever it went.
        let mut url = c.current_url().await.unwrap();
        for _ in 0..100 {
            if url.path() != "/login" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            url = c.current_url().await.unwrap();
        }
        assert_eq!(
            url.origin().ascii_serialization(),
            base,
            "next={hostile} took the browser to {url}"
        );
        expect_heading(&c, "Welcome back, Acme Owner").await;
        click(&c, "form[action='/logout'] button").await;
        wait_for(&c, "#email").await;
    }
    c.close().await.unwrap();
}

// --- the shared inbox (issue 12) ---------------------------------------------

/// An agency whose chatter works one of two connected, synced creators, with
/// the simulator's webhooks registered and processed in the background, so
/// simulator activity reaches the browser the way it does in production:
/// webhook → processing → live event → SSE stream → live.js.
struct Inbox {
    app: TestApp,
    acme: TestAgency,
    admin: helpers::TestClient,
    /// The creator the chatter works, and its uuid at (simulated) Fanvue.
    mine: CreatorId,
    mine_fanvue: Uuid,
    /// A connected creator the chatter does not work.
    other: CreatorId,
    /// Keeps the background webhook processors running.
    _processors: tokio::sync::watch::Sender<bool>,
}

async fn inbox_world(hostile: bool) -> Inbox {
    let app = TestApp::spawn_with_sim(
        |s| s.scenario.hostile_names = hostile,
        |s| s.webhooks.enabled = true,
    )
    .await;
    // The test app serves HTTP only; run the webhook processors `serve`
    // runs, so deliveries reach the mirror (and the live stream) on their own.
    let (processors, shutdown) = tokio::sync::watch::channel(false);
    switchboard::webhooks::process::spawn_workers(
        app.pool.clone(),
        app.settings.webhooks.clone(),
        shutdown,
    );
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    let creators = app.sim().creator_uuids();
    let mine = app.connect(&admin, creators[0]).await;
    let other = app.connect(&admin, creators[1]).await;
    for (slug, kind) in [
        ("message-received", EventKind::MessageReceived),
        ("message-read", EventKind::MessageRead),
        ("purchase", EventKind::Purchase),
        ("tip", EventKind::Tip),
    ] {
        app.sim()
            .register_webhook(&format!("{}/webhooks/fanvue/{slug}", app.address), &[kind]);
    }
    let engine = app.sync_engine();
    sync_until_idle(&engine, mine).await;
    sync_until_idle(&engine, other).await;
    let r = admin
        .post_form(
            &format!("/admin/creators/{mine}/assignments"),
            &[("staff_id", &acme.chatter.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "chatter assigned");
    Inbox {
        app,
        acme,
        admin,
        mine,
        mine_fanvue: creators[0],
        other,
        _processors: processors,
    }
}

impl Inbox {
    async fn chats_of(&self, creator: CreatorId) -> Vec<(Uuid, Uuid)> {
        sqlx::query_as("SELECT id, fan_uuid FROM chats WHERE creator_id = $1 ORDER BY id")
            .bind(creator)
            .fetch_all(&self.app.pool)
            .await
            .unwrap()
    }

    /// A chat of the chatter's creator whose fan can be messaged.
    async fn contactable_chat(&self) -> (Uuid, Uuid) {
        let chats = self.chats_of(self.mine).await;
        let w = self.app.sim().sim().world.read();
        chats
            .into_iter()
            .find(|(_, fan)| {
                w.user_id(fan)
                    .map(|id| w.user(id))
                    .is_some_and(|u| u.contactable && !u.blocked)
            })
            .expect("a contactable chat")
    }

    /// The message a send of `body` produced, from the send ledger.
    async fn sent_message(&self, body: &str) -> Uuid {
        let (status, uuid): (String, Option<Uuid>) =
            sqlx::query_as("SELECT status, message_uuid FROM outbound_sends WHERE body = $1")
                .bind(body)
                .fetch_one(&self.app.pool)
                .await
                .unwrap();
        assert_eq!(status, "sent", "{body:?} went through the ledger");
        uuid.expect("a sent row names its message")
    }
}

/// Runs `script` (a function body) in the page and decodes what it returns.
async fn js<T: serde::de::DeserializeOwned>(c: &Client, script: &str) -> T {
    let v = c
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{script} gave {v}: {e}"))
}

/// Waits (up to 10 s) until `script` returns true in the page.
async fn until(c: &Client, script: &str, what: &str) {
    for _ in 0..100 {
        if let Ok(serde_json::Value::Bool(true)) = c.execute(script, vec![]).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what} ({script})");
}

/// One key press on whatever has focus, as a person would type it.
async fn press(c: &Client, key: char) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    c.perform_actions(keys).await.unwrap();
}

async fn path_is(c: &Client, path: &str) {
    let mut url = c.current_url().await.unwrap();
    for _ in 0..100 {
        if url.path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        url = c.current_url().await.unwrap();
    }
    panic!("expected to be at {path}, the browser is at {url}");
}

/// The ids of the list's rows, top to bottom.
async fn row_ids(c: &Client) -> Vec<String> {
    js(
        c,
        "return Array.from(document.querySelectorAll('#chat-list > li.chat-row'), r => r.dataset.chatId);",
    )
    .await
}

/// The rows' ids once live updates have settled: the same order twice,
/// half a second apart (a replay after connecting can still move rows).
async fn settled_row_ids(c: &Client) -> Vec<String> {
    let mut last = row_ids(c).await;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = row_ids(c).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the chat list kept changing for 20 s: {last:?}");
}

/// Waits until the page's live stream is connected: an event committed
/// before the stream opens is not replayed on a first connect.
async fn live_connected(c: &Client) {
    wait_for(c, ".live-status.is-live").await;
}

#[tokio::test]
async fn a_chatter_works_the_inbox_live_and_from_the_keyboard() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let inbox = inbox_world(false).await;
    let app = &inbox.app;
    let (chat, fan) = inbox.contactable_chat().await;
    let mine = inbox.chats_of(inbox.mine).await;
    let others = inbox.chats_of(inbox.other).await;
    assert!(
        mine.len() >= 3 && !others.is_empty(),
        "both creators have chats"
    );
    let (_driver, c) = start_browser().await;
    let base = app.address.clone();

    sign_in(&c, &base, &inbox.acme.email("chatter"), PASSWORD).await;
    expect_heading(&c, "Welcome back, Acme Chatter").await;
    c.goto(&format!("{base}/inbox")).await.unwrap();
    expect_heading(&c, "Inbox").await;

    // Only the assigned creator's chats, every one of them.
    let mut shown = row_ids(&c).await;
    shown.sort();
    let mut want: Vec<String> = mine.iter().map(|(id, _)| id.to_string()).collect();
    want.sort();
    assert_eq!(
        shown, want,
        "the list is exactly the assigned creator's chats"
    );
    for (other, _) in &others {
        assert!(
            c.find(Locator::Css(&format!("#chat-{other}")))
                .await
                .is_err(),
            "another creator's chat {other} is not listed"
        );
    }
    let creators: Vec<String> = js(
        &c,
        "return Array.from(new Set(Array.from(document.querySelectorAll('#chat-list > li'), r => r.dataset.creatorId)));",
    )
    .await;
    assert_eq!(creators, vec![inbox.mine.to_string()]);
    // The simulated fans' avatar URLs do not resolve: each broken image
    // gives way to the fan's initial.
    until(
        &c,
        "return document.querySelectorAll('#chat-list img.avatar').length === 0 \
            && Array.from(document.querySelectorAll('#chat-list span.avatar')).every(a => a.textContent.trim().length === 1);",
        "broken avatars replaced by initials",
    )
    .await;

    // Open a chat from the list.
    click(&c, &format!("#chat-{chat} a.chat-link")).await;
    path_is(&c, &format!("/inbox/chats/{chat}")).await;
    wait_for(&c, &format!("#thread[data-chat-id='{chat}'] #compose-text")).await;

    // A reply: typed, sent, shown in the thread.
    let reply = "Hey! Thanks for the sweet message, how is your week going?";
    fill(&c, "#compose-text", reply).await;
    click(&c, "#compose button.compose-send").await;
    expect_text(&c, "#messages", reply).await;
    let reply_uuid = inbox.sent_message(reply).await;
    wait_for(&c, &format!("#msg-{reply_uuid}.msg-out")).await;

    // A PPV: price, one media item from the library through the picker.
    let library: Vec<String> = app
        .sim()
        .media_library(&inbox.mine_fanvue)
        .into_iter()
        .map(|(m, _, _)| m.to_string())
        .collect();
    click(&c, "details.compose-ppv > summary").await;
    fill(&c, "#compose-price", "12.50").await;
    click(&c, "#compose a.media-open").await;
    let item = wait_for(&c, "#media-picker input[name=media]:not([data-bought])").await;
    let picked = item.attr("value").await.unwrap().expect("media uuid");
    assert!(library.contains(&picked), "the picker lists the library");
    item.click().await.unwrap();
    let ppv_text = "Made this set just for you, hope you like it";
    fill(&c, "#compose-text", ppv_text).await;
    click(&c, "#compose button.compose-send").await;
    expect_text(&c, "#messages", ppv_text).await;
    let ppv = inbox.sent_message(ppv_text).await;
    let ppv_li = format!("#msg-{ppv}");
    expect_text(&c, &ppv_li, "PPV $12.50 · Awaiting purchase").await;
    let sent_media: Vec<Uuid> =
        sqlx::query_scalar("SELECT unnest(media_uuids) FROM outbound_sends WHERE body = $1")
            .bind(ppv_text)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(sent_media, vec![picked.parse::<Uuid>().unwrap()]);

    // From here on nothing may reload the page: a marker on this document
    // must survive everything that arrives.
    c.execute(
        "window.__journey = 42; document.body.dataset.journey = 'same-page';",
        vec![],
    )
    .await
    .unwrap();
    live_connected(&c).await;

    // A fan message arrives: simulator → webhook → stream → thread.
    let live_text = "Yes!! Unlocking it now";
    let said = app
        .sim()
        .fan_says(&inbox.mine_fanvue, &fan, live_text)
        .unwrap();
    let said_li = format!("#msg-{said}");
    expect_text(&c, &said_li, live_text).await;
    let last: String = js(
        &c,
        "return document.querySelector('#messages > li.msg:last-child').id;",
    )
    .await;
    assert_eq!(last, format!("msg-{said}"), "appended at the end");
    let in_view = format!(
        "const b = document.querySelector('#thread .thread-body').getBoundingClientRect(); \
         const m = document.getElementById('msg-{said}').getBoundingClientRect(); \
         return m.top >= b.top && m.bottom <= b.bottom + 1;"
    );
    until(&c, &in_view, "a reader at the bottom follows a new message").await;

    // The fan buys the PPV: it flips to Paid in place.
    app.sim().fan_buys(&ppv).unwrap();
    let state = expect_text(&c, &format!("{ppv_li} .msg-ppv-state"), "Paid").await;
    assert!(!state.contains("Awaiting"), "{state}");

    // And tips, while the reader has scrolled up to older messages (they
    // stay there). The tip webhook carries no message; the TIP message itself
    // reaches the mirror with the next reconcile, and the thread live.
    let tip = app
        .sim()
        .fan_tips(&inbox.mine_fanvue, &fan, 1000, Some(&ppv))
        .unwrap();
    // The webhook first (the thread shows a TIP message's amount from the
    // tip it recorded), then the reconcile.
    let mut tipped = 0_i64;
    for _ in 0..100 {
        tipped = sqlx::query_scalar(
            "SELECT count(*) FROM tips WHERE fan_uuid = $1 AND amount_cents = 1000",
        )
        .bind(fan)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if tipped > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(tipped, 1, "the tip webhook was processed");
    c.execute(
        "document.querySelector('#thread .thread-body').scrollTop = 0;",
        vec![],
    )
    .await
    .unwrap();
    inbox
        .admin
        .post_form(
            &format!("/admin/creators/{}/sync/reconcile", inbox.mine),
            &[],
        )
        .await;
    sync_until_idle(&app.sync_engine(), inbox.mine).await;
    expect_text(&c, &format!("#msg-{tip}"), "$10.00").await;
    let scrolled: f64 = js(
        &c,
        "return document.querySelector('#thread .thread-body').scrollTop;",
    )
    .await;
    assert_eq!(scrolled, 0.0, "a reader scrolled up is not pulled down");

    let same_page: bool = js(
        &c,
        "return window.__journey === 42 && document.body.dataset.journey === 'same-page';",
    )
    .await;
    assert!(same_page, "live updates arrived without a reload");

    if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
        // A fresh render (the fan panel counts the purchase and the tip) in
        // a 1366×900 viewport.
        c.refresh().await.unwrap();
        wait_for(&c, &format!("#msg-{tip}")).await;
        let chrome: Vec<u32> = js(
            &c,
            "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
        )
        .await;
        c.set_window_size(1366 + chrome[0], 900 + chrome[1])
            .await
            .unwrap();
        until(
            &c,
            "return window.innerWidth === 1366 && window.innerHeight === 900;",
            "the viewport size",
        )
        .await;
        live_connected(&c).await;
        std::fs::write(format!("{dir}/inbox.png"), c.screenshot().await.unwrap()).unwrap();
    }

    // Keyboard: Esc back to the list, j/k move the highlight, Enter opens.
    c.execute(
        "document.activeElement && document.activeElement.blur();",
        vec![],
    )
    .await
    .unwrap();
    press(&c, Key::Escape.into()).await;
    path_is(&c, "/inbox").await;
    expect_heading(&c, "Inbox").await;
    let rows = row_ids(&c).await;
    assert_eq!(rows[0], chat.to_string(), "the chat with news is on top");
    live_connected(&c).await;
    let highlighted = "Array.from(document.querySelectorAll('#chat-list > li.is-current'), r => r.dataset.chatId)";
    // j/k move by position in the list as it is now; a live update that
    // reorders rows between two key presses changes which row that is, so a
    // round whose order changed under it is tried again.
    let mut second = None;
    for _ in 0..5 {
        let before = settled_row_ids(&c).await;
        c.execute(
            "document.querySelectorAll('#chat-list > li.is-current').forEach(r => r.classList.remove('is-current'));",
            vec![],
        )
        .await
        .unwrap();
        press(&c, 'j').await;
        until(
            &c,
            &format!("return {highlighted}.join() === '{}';", before[0]),
            "j highlights the first row",
        )
        .await;
        press(&c, 'j').await;
        press(&c, 'j').await;
        press(&c, 'k').await;
        let now: Vec<String> = js(&c, &format!("return {highlighted};")).await;
        if row_ids(&c).await != before {
            continue;
        }
        assert_eq!(
            now,
            vec![before[1].clone()],
            "j j j k ends on the second row"
        );
        second = Some(before[1].clone());
        break;
    }
    let second = second.expect("the list kept reordering under the keyboard test");
    let name = c
        .find(Locator::Css(&format!("#chat-{second} .chat-name")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    press(&c, Key::Enter.into()).await;
    path_is(&c, &format!("/inbox/chats/{second}")).await;
    await_text(&c, "#thread-title", &format!("to be {name:?}"), |t| {
        t == name
    })
    .await;
    c.close().await.unwrap();
}

/// What hostile input must not have done to the current page: no element it
/// could have injected (a `<script>` is in the DOM even when the CSP stops
/// it from running), no inline handler, no markup from a text.
const NOTHING_INJECTED: &str = "
    const scripts = Array.from(document.scripts);
    const foreign = scripts.filter(s => !s.src || new URL(s.src).origin !== location.origin || s.text.trim() !== '');
    const injected = document.querySelectorAll(
        'img[src=\"x\"], [onerror], [onload], [onclick], #chat-list b, #messages b, #messages svg, #chat-list svg, .fan-panel b');
    return { scripts: scripts.length, foreign: foreign.map(s => s.outerHTML), injected: Array.from(injected, e => e.outerHTML) };
";

#[derive(serde::Deserialize, Debug)]
struct Injected {
    scripts: usize,
    foreign: Vec<String>,
    injected: Vec<String>,
}

async fn assert_nothing_injected(c: &Client, page: &str) {
    let found: Injected = js(c, NOTHING_INJECTED).await;
    assert!(
        found.foreign.is_empty() && found.injected.is_empty(),
        "{page}: {found:?}"
    );
    // app.js, inbox.js, compose.js, live.js, collab.js: nothing else.
    assert_eq!(found.scripts, 5, "{page}: {found:?}");
}

/// Nothing is wider than its box: the page, and the panes that scroll.
async fn assert_layout_holds(c: &Client, page: &str) {
    let widths: Vec<(String, f64, f64)> = js(
        c,
        "return [['page', document.documentElement.scrollWidth, window.innerWidth]].concat(
            Array.from(document.querySelectorAll('.inbox-pane, .thread-body, #messages, .chat-list'),
                e => [e.className || e.id, e.scrollWidth, e.clientWidth]));",
    )
    .await;
    assert!(widths.len() > 2, "{page}: {widths:?}");
    for (what, scroll, client) in &widths {
        assert!(
            scroll <= client,
            "{page}: {what} is {scroll}px wide in {client}px"
        );
    }
}

async fn texts_of(c: &Client, css: &str) -> Vec<String> {
    js(
        c,
        &format!("return Array.from(document.querySelectorAll('{css}'), e => e.textContent);"),
    )
    .await
}

#[tokio::test]
async fn hostile_fan_names_and_texts_render_as_text_and_keep_the_layout() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let inbox = inbox_world(true).await;
    let app = &inbox.app;
    let pool = &app.pool;
    let script_name = "<script>alert(1)</script>";
    let img_text = "\"><img src=x onerror=alert(1)>";
    let long_word = "W".repeat(5000);
    let named: Uuid = sqlx::query_scalar(
        "SELECT id FROM chats WHERE creator_id = $1 AND fan_display_name = $2 LIMIT 1",
    )
    .bind(inbox.mine)
    .bind(script_name)
    .fetch_one(pool)
    .await
    .expect("the scenario has a fan named <script>");
    let (long_chat, long_fan): (Uuid, Uuid) = sqlx::query_as(
        "SELECT c.id, c.fan_uuid FROM messages m JOIN chats c ON c.id = m.chat_id
         WHERE m.creator_id = $1 AND m.text = $2 LIMIT 1",
    )
    .bind(inbox.mine)
    .bind(&long_word)
    .fetch_one(pool)
    .await
    .expect("the scenario has a 5,000-character word");
    let img_chat: Uuid = sqlx::query_scalar(
        "SELECT chat_id FROM messages WHERE creator_id = $1 AND text = $2 LIMIT 1",
    )
    .bind(inbox.mine)
    .bind(img_text)
    .fetch_one(pool)
    .await
    .expect("the scenario has an attribute breakout text");
    let (_driver, c) = start_browser().await;
    let base = app.address.clone();
    sign_in(&c, &base, &inbox.acme.email("chatter"), PASSWORD).await;
    expect_heading(&c, "Welcome back, Acme Chatter").await;

    // The list: hostile names shown as they are, as text.
    c.goto(&format!("{base}/inbox")).await.unwrap();
    expect_heading(&c, "Inbox").await;
    let names = texts_of(&c, "#chat-list .chat-name").await;
    assert!(names.iter().any(|n| n == script_name), "{names:?}");
    assert!(names.iter().any(|n| n == img_text), "{names:?}");
    assert_nothing_injected(&c, "list").await;
    assert_layout_holds(&c, "list").await;

    // Threads: the fan named <script> (header and panel), the breakout text,
    // the 5,000-character word.
    c.goto(&format!("{base}/inbox/chats/{named}"))
        .await
        .unwrap();
    await_text(&c, "#thread-title", "to be the hostile name", |t| {
        t == script_name
    })
    .await;
    expect_text(&c, ".fan-panel", script_name).await;
    assert_nothing_injected(&c, "thread of <script>").await;
    assert_layout_holds(&c, "thread of <script>").await;

    c.goto(&format!("{base}/inbox/chats/{img_chat}"))
        .await
        .unwrap();
    wait_for(&c, &format!("#thread[data-chat-id='{img_chat}']")).await;
    let texts = texts_of(&c, "#messages .msg-text").await;
    assert!(texts.iter().any(|t| t == img_text), "{texts:?}");
    assert_nothing_injected(&c, "thread with a breakout text").await;
    assert_layout_holds(&c, "thread with a breakout text").await;

    c.goto(&format!("{base}/inbox/chats/{long_chat}"))
        .await
        .unwrap();
    wait_for(&c, &format!("#thread[data-chat-id='{long_chat}']")).await;
    let texts = texts_of(&c, "#messages .msg-text").await;
    assert!(texts.contains(&long_word), "the long word is shown whole");
    assert_nothing_injected(&c, "thread with a long word").await;
    assert_layout_holds(&c, "thread with a long word").await;

    // A hostile message arriving live goes through fragments and live.js:
    // still text. alert is watched from here on (this page stays loaded).
    c.execute(
        "window.__alerts = 0; window.alert = () => { window.__alerts += 1; };",
        vec![],
    )
    .await
    .unwrap();
    live_connected(&c).await;
    let live = format!("{img_text} {script_name} {}", "W".repeat(4000));
    let said = app
        .sim()
        .fan_says(&inbox.mine_fanvue, &long_fan, &live)
        .unwrap();
    let shown = await_text(
        &c,
        &format!("#msg-{said} .msg-text"),
        "to show the live hostile text",
        |t| t == live,
    )
    .await;
    assert_eq!(shown, live);
    let alerts: u32 = js(&c, "return window.__alerts;").await;
    assert_eq!(alerts, 0, "no alert ran");
    // The side list's row took the message as its preview, as text.
    expect_text(&c, &format!("#chat-{long_chat} .chat-preview"), img_text).await;
    assert_nothing_injected(&c, "thread after a live hostile message").await;
    assert_layout_holds(&c, "thread after a live hostile message").await;
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
        std::fs::write(format!("{dir}/hostile.png"), c.screenshot().await.unwrap()).unwrap();
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn an_admin_changes_the_agency_settings_and_fixes_a_mistake() {
    if skip() {
        eprintln!("SKIP_BROWSER_TESTS=1: browser journey skipped");
        return;
    }
    let app = TestApp::spawn().await;
    let acme = app.agency("Acme").await;
    let (_driver, c) = start_browser().await;
    let base = app.address.clone();
    sign_in(&c, &base, &acme.email("admin"), PASSWORD).await;
    expect_heading(&c, "Welcome back, Acme Admin").await;

    // From the navigation.
    click(&c, "nav a[href='/admin/settings']").await;
    expect_heading(&c, "Agency settings").await;
    let value = |css: &'static str| {
        let c = c.clone();
        async move {
            c.find(Locator::Css(css))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default()
        }
    };
    assert_eq!(value("#time_zone").await, "UTC");
    assert_eq!(value("#min_ppv_price").await, "3.00");

    // A mistake: the form comes back with the message and what was typed.
    fill(&c, "#time_zone", "Asia/Katmandoo").await;
    fill(&c, "#platform_fee_percent", "15").await;
    click(&c, "#settings-form button[type=submit]").await;
    expect_text(&c, "#time_zone-error", "not a time zone name").await;
    assert_eq!(value("#time_zone").await, "Asia/Katmandoo");
    assert_eq!(value("#platform_fee_percent").await, "15");
    let invalid: Option<String> = c
        .find(Locator::Css("#time_zone"))
        .await
        .unwrap()
        .attr("aria-invalid")
        .await
        .unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));

    // Fixed, with the checkbox ticked and a new minimum: saved and shown.
    fill(&c, "#time_zone", "Asia/Kathmandu").await;
    fill(&c, "#min_ppv_price", "4.50").await;
    click(&c, "#mark_read_on_open").await;
    click(&c, "#settings-form button[type=submit]").await;
    expect_text(&c, ".flash", "Saved:").await;
    let flash = expect_text(&c, ".flash", "Time zone").await;
    assert!(
        flash.contains("Platform fee") && flash.contains("Minimum PPV price"),
        "{flash}"
    );
    assert_eq!(value("#time_zone").await, "Asia/Kathmandu");
    assert_eq!(value("#platform_fee_percent").await, "15");
    assert_eq!(value("#min_ppv_price").await, "4.50");
    let checked: Option<String> = c
        .find(Locator::Css("#mark_read_on_open"))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(checked.as_deref(), Some("true"));
    expect_text(&c, "#now-in-zone", "+0545").await;
    let stored: (String, i32, i64, bool) = sqlx::query_as(
        "SELECT time_zone, platform_fee_bps, min_ppv_price_cents, mark_read_on_open
           FROM agencies WHERE id = $1",
    )
    .bind(acme.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, ("Asia/Kathmandu".to_owned(), 1500, 450, true));
    c.close().await.unwrap();
}
