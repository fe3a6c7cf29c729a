//! Browser journeys in headless Chromium, driven over WebDriver. They need
//! `chromium` and `chromedriver` on PATH (the test script installs them);
//! set SKIP_BROWSER_TESTS=1 to skip them on a machine without a browser.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use helpers::{PASSWORD, TestApp};

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

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
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
