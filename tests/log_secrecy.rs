//! Captures every log line of a whole connect flow, a token refresh, an
//! invitation's life and a request to every route, at the most verbose
//! level, and proves no token, OAuth code, invite token, client secret or
//! query-string value appears. Its own test binary: it installs the
//! process-wide log subscriber.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use helpers::{PASSWORD, TestApp, TestClient, csrf_in, location};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use switchboard::connections::{access_context, refresh_context};
use switchboard::crypto::TokenCipher;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_of_a_connect_flow_and_refresh_contain_no_token() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("this binary owns the global subscriber");

    let app = TestApp::spawn_with_sim(|_| {}, |_| {}).await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    // The connect flow by hand, to learn the OAuth code and state.
    app.sim()
        .set_auto_approve(Some(&app.sim().creator_uuids()[0].to_string()))
        .unwrap();
    let start = admin.post_form("/admin/creators/connect", &[]).await;
    let consent = admin.http.get(location(&start)).send().await.unwrap();
    let callback = url::Url::parse(&location(&consent)).unwrap();
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("callback has {name}: {callback}"))
    };
    let (code, oauth_state) = (param("code"), param("state"));
    let done = admin.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let id: switchboard::domain::CreatorId = location(&done)
        .strip_prefix("/admin/creators/")
        .expect("creator page")
        .parse()
        .unwrap();
    let invite_token = invitation_life(&app, &admin).await;
    every_route(&app, &admin).await;

    let cipher = TokenCipher::new(&app.settings.secret_key);
    let stored = || async {
        let (a, r): (Vec<u8>, Vec<u8>) = sqlx::query_as(
            "SELECT access_token_enc, refresh_token_enc FROM creators WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (
            cipher
                .decrypt(&a, &access_context(id))
                .unwrap()
                .expose_secret()
                .to_owned(),
            cipher
                .decrypt(&r, &refresh_context(id))
                .unwrap()
                .expose_secret()
                .to_owned(),
        )
    };
    let (access1, refresh1) = stored().await;

    // Force a refresh so the rotated pair passes through the logs too.
    sqlx::query("UPDATE creators SET token_expires_at = now() WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let conns = app.connections();
    let client = conns.client();
    conns
        .call(
            id,
            switchboard::fanvue::Priority::Background,
            |a| async move { client.me(&a).await },
        )
        .await
        .unwrap();
    let (access2, refresh2) = stored().await;
    assert_ne!(access1, access2);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("creator connected"), "the flow was logged");
    assert!(logs.contains("refreshed Fanvue access token"));
    assert!(
        logs.contains("/invite/{token}"),
        "the CSRF refusal names the route template"
    );
    assert!(
        logs.len() > 10_000,
        "verbose logs were captured ({} bytes)",
        logs.len()
    );
    for (what, secret) in [
        ("access token", access1.as_str()),
        ("refresh token", refresh1.as_str()),
        ("rotated access token", access2.as_str()),
        ("rotated refresh token", refresh2.as_str()),
        ("client secret", app.sim().client_secret()),
        ("OAuth code", code.as_str()),
        ("OAuth state", oauth_state.as_str()),
        ("invite token", invite_token.as_str()),
        ("query-string value", QUERY_MARKER),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}

/// Put into the query string of every request; must never be logged.
const QUERY_MARKER: &str = "qs7f3e1d9c5b";

/// Creates an invitation, opens it, and posts to it without and with a
/// wrong CSRF token (a CSRF refusal logs the route); returns its token.
async fn invitation_life(app: &TestApp, admin: &TestClient) -> String {
    admin.get_html("/admin/staff/invite").await;
    let r = admin
        .post_form(
            "/admin/staff/invite",
            &[
                ("email", "newbie@acme.test"),
                ("display_name", "New Bie"),
                ("role", "chatter"),
            ],
        )
        .await;
    let body = r.text().await.unwrap();
    let start = body.find("/invite/").expect("invite link") + "/invite/".len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(token.len() >= 20, "{token}");
    let invitee = app.client();
    let (status, page) = invitee.get_html(&format!("/invite/{token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(csrf_in(&page).is_some());
    let fields = [
        ("display_name", "New Bie"),
        ("password", "a long enough passphrase"),
        ("password_confirm", "a long enough passphrase"),
    ];
    let refused = invitee.post_raw(&format!("/invite/{token}"), &fields).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let mut forged = fields.to_vec();
    forged.push(("csrf_token", "forged"));
    let refused = invitee.post_raw(&format!("/invite/{token}"), &forged).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    token
}

/// Every route of the web face and of webhook intake, with its method;
/// `{…}` parts are filled with a random id. `route_table_is_complete` keeps
/// it in step with `src/web/mod.rs` and `src/webhooks/mod.rs`.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/webhooks/fanvue"),
    ("POST", "/webhooks/fanvue/{event}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/static/{file}"),
    ("GET", "/"),
    ("GET", "/inbox/stream"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/invite/{token}"),
    ("POST", "/invite/{token}"),
    ("GET", "/account"),
    ("GET", "/account/password"),
    ("POST", "/account/password"),
    ("POST", "/account/sessions/end-others"),
    ("GET", "/admin/staff"),
    ("GET", "/admin/staff/invite"),
    ("POST", "/admin/staff/invite"),
    ("GET", "/admin/staff/{id}"),
    ("POST", "/admin/staff/{id}/role"),
    ("POST", "/admin/staff/{id}/deactivate"),
    ("POST", "/admin/staff/{id}/reactivate"),
    ("POST", "/admin/staff/{id}/fanvue-uuid"),
    ("POST", "/admin/invites/{id}/revoke"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/settings"),
    ("POST", "/admin/settings"),
    ("GET", "/admin/status"),
    ("GET", "/admin/webhooks"),
    ("POST", "/admin/webhooks/events/{id}/retry"),
    ("GET", "/admin/creators"),
    ("POST", "/admin/creators/connect"),
    ("GET", "/connect/fanvue/callback"),
    ("GET", "/admin/creators/{id}"),
    ("POST", "/admin/creators/{id}/reconnect"),
    ("GET", "/admin/creators/{id}/sync"),
    ("POST", "/admin/creators/{id}/sync/reconcile"),
    ("POST", "/admin/creators/{id}/disconnect"),
    ("POST", "/admin/creators/{id}/assignments"),
    ("POST", "/admin/creators/{id}/assignments/{staff_id}/remove"),
    ("POST", "/inbox/chats/{id}/send"),
    ("POST", "/inbox/chats/{id}/read"),
    ("GET", "/inbox/chats/{id}/media"),
    ("GET", "/inbox/chats/{id}/templates"),
    ("GET", "/inbox/canned"),
    ("POST", "/inbox/canned"),
    ("GET", "/inbox/canned/{id}"),
    ("POST", "/inbox/canned/{id}"),
    ("POST", "/inbox/canned/{id}/delete"),
    ("GET", "/inbox/chats/{id}/canned"),
    ("GET", "/inbox/chats/{id}/lists"),
    ("POST", "/inbox/chats/{id}/lists"),
    ("GET", "/inbox"),
    ("GET", "/inbox/rows"),
    ("GET", "/inbox/counts"),
    ("GET", "/inbox/chats/{id}"),
    ("GET", "/inbox/chats/{id}/row"),
    ("GET", "/inbox/chats/{id}/messages"),
    ("GET", "/inbox/chats/{id}/messages/{uuid}"),
    ("GET", "/admin/team-members"),
    ("POST", "/admin/team-members/map"),
    ("GET", "/sales"),
    ("GET", "/sales/{id}"),
    ("POST", "/sales/{id}/reassign"),
    ("POST", "/sales/{id}/revert"),
    ("GET", "/sales/export.csv"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/chatters.csv"),
    ("GET", "/earnings"),
    ("GET", "/earnings/creators/{id}"),
    ("GET", "/inbox/claims"),
    ("POST", "/inbox/next"),
    ("GET", "/inbox/chats/{id}/people"),
    ("POST", "/inbox/chats/{id}/presence"),
    ("POST", "/inbox/chats/{id}/claim"),
    ("POST", "/inbox/chats/{id}/claim/take"),
    ("POST", "/inbox/chats/{id}/claim/release"),
    ("POST", "/inbox/chats/{id}/claim/assign"),
    ("GET", "/inbox/tags"),
    ("POST", "/inbox/tags"),
    ("POST", "/inbox/tags/{id}/edit"),
    ("POST", "/inbox/tags/{id}/delete"),
    ("POST", "/inbox/chats/{id}/notes"),
    ("POST", "/inbox/chats/{id}/notes/{note}/edit"),
    ("POST", "/inbox/chats/{id}/notes/{note}/delete"),
    ("POST", "/inbox/chats/{id}/tags"),
    ("POST", "/inbox/chats/{id}/tags/{tag}/remove"),
];

/// Scopes whose routes are listed here in full.
const SCOPES: &[&str] = &["/webhooks"];

/// The quoted paths in a file's `pub fn routes`.
fn declared_paths(source: &'static str) -> Vec<&'static str> {
    let routes_fn = &source[source.find("pub fn routes").expect("routes fn")..];
    routes_fn
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/'))
        .collect()
}

#[test]
fn route_table_is_complete() {
    let web = declared_paths(include_str!("../src/web/mod.rs"));
    let webhooks = declared_paths(include_str!("../src/webhooks/mod.rs"));
    assert!(web.len() >= 30, "{web:?}");
    assert!(webhooks.len() >= 2, "{webhooks:?}");
    for path in web.into_iter().chain(webhooks) {
        let covered = SCOPES.contains(&path) || ROUTES.iter().any(|(_, p)| p.ends_with(path));
        assert!(covered, "route {path} is missing from ROUTES");
    }
}

/// Requests every route with a secret-looking query string, anonymously and
/// as the admin, with and without a CSRF token.
async fn every_route(app: &TestApp, admin: &TestClient) {
    let anonymous = app.client();
    let token = admin.csrf().await;
    for (method, template) in ROUTES {
        let path = template
            .replace("{staff_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{id}", &uuid::Uuid::new_v4().to_string())
            .replace("{uuid}", &uuid::Uuid::new_v4().to_string())
            .replace("{note}", &uuid::Uuid::new_v4().to_string())
            .replace("{tag}", &uuid::Uuid::new_v4().to_string())
            .replace("{token}", QUERY_MARKER)
            .replace("{event}", "tip")
            .replace("{file}", "app.css");
        let url = format!("{path}?secret={QUERY_MARKER}&code={QUERY_MARKER}");
        // Signing out would end the admin's session for the rest.
        let with_token = (*template != "/logout").then_some(token.as_str());
        for (who, csrf) in [(&anonymous, None), (admin, None), (admin, with_token)] {
            let mut req = match *method {
                "GET" => who.http.get(who.url(&url)),
                _ => who
                    .http
                    .post(who.url(&url))
                    .form(&[("password", PASSWORD), ("note", "x")]),
            };
            if let Some(t) = csrf {
                req = req.header("x-csrf-token", t);
            }
            let r = req.send().await.unwrap();
            assert!(
                !r.status().is_server_error(),
                "{method} {template}: {}",
                r.status()
            );
        }
    }
}
