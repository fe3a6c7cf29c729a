//! Creator connections against the simulated Fanvue, over real HTTP: the
//! OAuth connect flow and every way it must refuse, encrypted token storage,
//! the refresh lifecycle, and who may manage connections.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::ExposeSecret;
use switchboard::connections::{ConnectionError, Connections, access_context, refresh_context};
use switchboard::crypto::TokenCipher;
use switchboard::domain::CreatorId;
use switchboard::fanvue::Priority;
use switchboard::sim::oauth::REFRESH_REUSE_DETECTED;

use crate::helpers::*;

async fn creators_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM creators")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn stat(app: &TestApp, key: &str) -> u64 {
    app.sim().stats().by_endpoint.get(key).copied().unwrap_or(0)
}

fn refreshes(app: &TestApp) -> u64 {
    stat(app, "POST /oauth2/token refresh_token")
}

fn connections(app: &TestApp) -> Connections {
    app.connections()
}

async fn stored_tokens(app: &TestApp, id: CreatorId) -> (Vec<u8>, Vec<u8>) {
    sqlx::query_as("SELECT access_token_enc, refresh_token_enc FROM creators WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The handle the simulator reports for a user, read through its own API.
async fn sim_handle(app: &TestApp, user: uuid::Uuid) -> String {
    let t = app
        .sim()
        .issue_token(&user.to_string(), &["read:self"])
        .expect("token");
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/users/me", app.sim().api_base_url()))
        .bearer_auth(t.access_token)
        .header("X-Fanvue-API-Version", app.sim().api_version())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["handle"].as_str().unwrap().to_owned()
}

async fn spawn() -> (TestApp, TestAgency, TestClient) {
    let app = TestApp::spawn_with_sim(|_| {}, |_| {}).await;
    let acme = app.agency("Acme").await;
    let admin = app.signed_in(&acme.email("admin")).await;
    (app, acme, admin)
}

#[tokio::test]
async fn connect_flow_connects_the_creator_with_encrypted_tokens() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        fanvue: creator,
        id,
    } = TestApp::with_connected_creator().await;

    let (status, body) = admin.get_html(&format!("/admin/creators/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let handle = sim_handle(&app, creator).await;
    assert!(body.contains(&format!("@{handle}")), "shows /users/me data");
    assert!(body.contains("is connected."), "flash");
    assert!(body.contains(&creator.to_string()));
    let (status_col, agency, scopes): (String, uuid::Uuid, Vec<String>) =
        sqlx::query_as("SELECT status, agency_id, scopes FROM creators WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status_col, "connected");
    assert_eq!(agency, acme.id.as_uuid());
    assert!(scopes.contains(&"read:chat".to_owned()));

    // Tokens at rest are ciphertext; decrypted, they work against Fanvue.
    let (access_enc, refresh_enc) = stored_tokens(&app, id).await;
    let cipher = TokenCipher::new(&app.settings.secret_key);
    let access = cipher.decrypt(&access_enc, &access_context(id)).unwrap();
    let refresh = cipher.decrypt(&refresh_enc, &refresh_context(id)).unwrap();
    for (enc, plain) in [
        (&access_enc, access.expose_secret()),
        (&refresh_enc, refresh.expose_secret()),
    ] {
        assert!(plain.len() > 16);
        assert!(
            !enc.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "plaintext token in the database"
        );
    }
    let raw: String = sqlx::query_scalar("SELECT row_to_json(c)::text FROM creators c")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!raw.contains(access.expose_secret()) && !raw.contains(refresh.expose_secret()));
    let conns = connections(&app);
    let client = conns.client();
    let me = conns
        .call(
            id,
            Priority::Interactive,
            |a| async move { client.me(&a).await },
        )
        .await
        .unwrap();
    assert_eq!(me.uuid, creator);
    // Pages never show a token.
    for page in [
        "/admin/creators".to_owned(),
        format!("/admin/creators/{id}"),
        "/admin/audit".to_owned(),
    ] {
        let (_, body) = admin.get_html(&page).await;
        assert!(
            !body.contains(access.expose_secret()) && !body.contains(refresh.expose_secret()),
            "{page}"
        );
    }
    app.assert_audited(acme.id, "creator.connected").await;
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM oauth_flows")
            .fetch_one(&app.pool)
            .await
            .unwrap(),
        0
    );
}

/// Starts a flow and returns the callback URL the simulator redirected to.
async fn callback_url(app: &TestApp, admin: &TestClient, creator: uuid::Uuid) -> String {
    app.sim()
        .set_auto_approve(Some(&creator.to_string()))
        .unwrap();
    let start = admin.post_form("/admin/creators/connect", &[]).await;
    let consent = admin.http.get(location(&start)).send().await.unwrap();
    location(&consent)
}

fn query_param(url: &str, name: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn tampered_state_is_refused_and_nothing_is_stored() {
    let (app, _, admin) = spawn().await;
    let url = callback_url(&app, &admin, app.sim().creator_uuids()[0]).await;
    let state = query_param(&url, "state");
    let forged = url.replace(&state, "forged-state-value-that-was-never-issued");
    let r = admin.http.get(&forged).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("unknown or was already completed")
    );
    let r = admin
        .http
        .get(url.split("&state=").next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "missing state");
    assert_eq!(creators_count(&app).await, 0);
}

#[tokio::test]
async fn expired_state_is_refused() {
    let (app, _, admin) = spawn().await;
    let url = callback_url(&app, &admin, app.sim().creator_uuids()[0]).await;
    sqlx::query("UPDATE oauth_flows SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let r = admin.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("More than 10 minutes"));
    assert_eq!(creators_count(&app).await, 0);
    assert_eq!(
        stat(&app, "POST /oauth2/token authorization_code"),
        0,
        "no exchange attempted"
    );
}

#[tokio::test]
async fn replayed_callback_is_refused() {
    let (app, _, admin) = spawn().await;
    let url = callback_url(&app, &admin, app.sim().creator_uuids()[0]).await;
    assert_eq!(
        admin.http.get(&url).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let again = admin.http.get(&url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(creators_count(&app).await, 1);
    assert_eq!(
        stat(&app, "POST /oauth2/token authorization_code"),
        1,
        "the code is exchanged once"
    );
}

#[tokio::test]
async fn pkce_mismatch_is_refused_by_fanvue_and_nothing_is_stored() {
    let (app, acme, admin) = spawn().await;
    let url = callback_url(&app, &admin, app.sim().creator_uuids()[0]).await;
    // Replace the stored verifier with a different (valid-looking) one.
    let state_hash = switchboard::credentials::token::sha256_hex(&query_param(&url, "state"));
    let cipher = TokenCipher::new(&app.settings.secret_key);
    let wrong = switchboard::fanvue::oauth::new_pkce().verifier;
    let enc = cipher
        .encrypt(&wrong, &format!("oauth_flow:{state_hash}"))
        .unwrap();
    sqlx::query("UPDATE oauth_flows SET pkce_verifier_enc = $1")
        .bind(enc)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = admin.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("did not accept the authorization")
    );
    assert_eq!(creators_count(&app).await, 0);
    app.assert_audited(acme.id, "creator.connect_failed").await;
}

#[tokio::test]
async fn access_denied_gets_a_friendly_page() {
    let (app, _, admin) = spawn().await;
    let url = callback_url(&app, &admin, app.sim().creator_uuids()[0]).await;
    let state = query_param(&url, "state");
    let denied = format!(
        "{}/connect/fanvue/callback?error=access_denied&state={state}",
        app.address
    );
    let r = admin.http.get(&denied).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("The creator declined access on Fanvue")
    );
    assert_eq!(creators_count(&app).await, 0);
}

#[tokio::test]
async fn deny_on_the_consent_page_comes_back_as_access_denied() {
    let (app, _, admin) = spawn().await;
    app.sim().set_auto_approve(None).unwrap();
    let start = admin.post_form("/admin/creators/connect", &[]).await;
    let consent = admin.http.get(location(&start)).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::OK, "consent page");
    let page = consent.text().await.unwrap();
    assert!(page.contains("Deny"), "{page}");
    // Post the consent form's Deny choice the way a browser would.
    let form_start = page.find("<form").unwrap();
    let action = {
        let a = page[form_start..].find("action=\"").unwrap() + form_start + 8;
        let e = page[a..].find('"').unwrap() + a;
        page[a..e].replace("&amp;", "&")
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut rest = &page[form_start..];
    while let Some(i) = rest.find("type=\"hidden\"") {
        let tag_end = rest[i..].find('>').unwrap() + i;
        let tag = &rest[..tag_end];
        let tag = &tag[tag.rfind("<input").unwrap()..];
        let attr = |n: &str| {
            let k = format!("{n}=\"");
            tag.find(&k).map(|p| {
                let s = p + k.len();
                tag[s..s + tag[s..].find('"').unwrap()].replace("&amp;", "&")
            })
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            fields.push((n, v));
        }
        rest = &rest[tag_end..];
    }
    fields.push(("decision".into(), "deny".into()));
    let action = if action.starts_with("http") {
        action
    } else {
        format!("{}{}", app.sim().base_url(), action)
    };
    let denied = admin.http.post(&action).form(&fields).send().await.unwrap();
    assert!(denied.status().is_redirection(), "{}", denied.status());
    let back = location(&denied);
    assert!(back.contains("error=access_denied"), "{back}");
    let r = admin.http.get(&back).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("declined access"));
    assert_eq!(creators_count(&app).await, 0);
}

#[tokio::test]
async fn callback_from_another_staff_session_is_refused() {
    let (app, acme, admin) = spawn().await;
    let url = callback_url(&app, &admin, app.sim().creator_uuids()[0]).await;
    // Another admin of the same agency, and the same admin on another device.
    let other = app.signed_in(&acme.email("owner")).await;
    let r = other.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("started from another session")
    );
    assert_eq!(creators_count(&app).await, 0);
    // The attempt burnt the flow: the rightful session cannot use it now.
    assert_eq!(
        admin.http.get(&url).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    let url = callback_url(&app, &admin, app.sim().creator_uuids()[0]).await;
    let same_person_elsewhere = app.signed_in(&acme.email("admin")).await;
    assert_eq!(
        same_person_elsewhere
            .http
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(creators_count(&app).await, 0);
}

#[tokio::test]
async fn reconnecting_updates_in_place_and_another_agency_is_refused() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        fanvue: creator,
        id,
    } = TestApp::with_connected_creator().await;
    let r = admin
        .post_form(&format!("/admin/creators/{id}/reconnect"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let consent = admin.http.get(location(&r)).send().await.unwrap();
    let done = admin.http.get(location(&consent)).send().await.unwrap();
    assert_eq!(location(&done), format!("/admin/creators/{id}"));
    assert_eq!(creators_count(&app).await, 1);
    app.assert_audited(acme.id, "creator.reconnected").await;

    let globex = app.agency("Globex").await;
    let intruder = app.signed_in(&globex.email("admin")).await;
    let r = app.connect_flow(&intruder, creator).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("connected to another agency")
    );
    let agency: uuid::Uuid = sqlx::query_scalar("SELECT agency_id FROM creators")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(agency, acme.id.as_uuid());
}

#[tokio::test]
async fn proactive_refresh_happens_before_expiry() {
    let ConnectedCreator { app, id, .. } = TestApp::with_connected_creator().await;
    let conns = connections(&app);
    conns.access_token(id).await.unwrap();
    assert_eq!(refreshes(&app), 0, "a fresh token is used as is");
    // Four minutes left on both clocks: inside the five-minute buffer.
    app.sim().advance_clock(Duration::from_secs(3600 - 240));
    sqlx::query(
        "UPDATE creators SET token_expires_at = now() + interval '4 minutes' WHERE id = $1",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    let client = conns.client();
    let me = conns
        .call(
            id,
            Priority::Background,
            |a| async move { client.me(&a).await },
        )
        .await
        .unwrap();
    assert_eq!(refreshes(&app), 1);
    assert_eq!(
        app.sim().stats().by_status.get(&401).copied().unwrap_or(0),
        0,
        "refreshed before any 401"
    );
    assert!(!me.handle.is_empty());
    let expires: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT token_expires_at FROM creators WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(expires > chrono::Utc::now() + chrono::Duration::minutes(50));
}

#[tokio::test]
async fn twenty_concurrent_calls_on_an_expired_token_refresh_once() {
    let ConnectedCreator { app, id, .. } = TestApp::with_connected_creator().await;
    // Fanvue considers the token expired; our copy does not know yet, so
    // every call meets a 401 first.
    app.sim().advance_clock(Duration::from_secs(2 * 3600));
    let conns = connections(&app);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let conns = conns.clone();
        tasks.push(tokio::spawn(async move {
            let client = conns.client();
            conns
                .call(
                    id,
                    Priority::Background,
                    |a| async move { client.me(&a).await },
                )
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("no call fails");
    }
    assert_eq!(refreshes(&app), 1, "exactly one refresh");
    assert_eq!(stat(&app, REFRESH_REUSE_DETECTED), 0);
}

#[tokio::test]
async fn rotated_refresh_token_survives_a_restart() {
    let ConnectedCreator { app, id, .. } = TestApp::with_connected_creator().await;
    let (_, first_refresh) = stored_tokens(&app, id).await;
    connections(&app).refresh(id, None).await.ok();
    // `refresh(None)` on a fresh token is a no-op; force one by expiring it.
    sqlx::query("UPDATE creators SET token_expires_at = now() WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    connections(&app).access_token(id).await.unwrap();
    let (_, second_refresh) = stored_tokens(&app, id).await;
    assert_ne!(
        first_refresh, second_refresh,
        "the rotated refresh token was stored"
    );
    // A new process (fresh Connections) refreshes again with the stored token.
    sqlx::query("UPDATE creators SET token_expires_at = now() WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let token = connections(&app).access_token(id).await.unwrap();
    assert!(!token.token.expose_secret().is_empty());
    assert_eq!(refreshes(&app), 2);
    assert_eq!(
        stat(&app, REFRESH_REUSE_DETECTED),
        0,
        "an old refresh token was never replayed"
    );
    assert_eq!(app.creator_status(id).await, "connected");
}

#[tokio::test]
async fn revoked_grant_marks_needs_reauth_and_stops_using_the_connection() {
    let ConnectedCreator {
        app,
        admin,
        fanvue: creator,
        id,
        ..
    } = TestApp::with_connected_creator().await;
    app.sim().revoke_tokens(Some(&creator.to_string()));
    let conns = connections(&app);
    let client = conns.client();
    let err = conns
        .call(
            id,
            Priority::Background,
            |a| async move { client.me(&a).await },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectionError::NeedsReauth), "{err:?}");
    assert_eq!(app.creator_status(id).await, "needs_reauth");
    // From now on nothing is sent to Fanvue for this creator.
    let before = app.sim().stats().total_requests;
    let again = conns.access_token(id).await;
    assert!(matches!(again, Err(ConnectionError::NeedsReauth)));
    assert_eq!(app.sim().stats().total_requests, before);
    let (_, body) = admin.get_html(&format!("/admin/creators/{id}")).await;
    assert!(
        body.contains("Reconnect") && body.contains("Needs reconnect"),
        "{body}"
    );
    // Reconnecting heals it.
    let r = admin
        .post_form(&format!("/admin/creators/{id}/reconnect"), &[])
        .await;
    let consent = admin.http.get(location(&r)).send().await.unwrap();
    admin.http.get(location(&consent)).send().await.unwrap();
    assert_eq!(app.creator_status(id).await, "connected");
}

#[tokio::test]
async fn disconnect_deletes_tokens_and_purge_deletes_the_creator() {
    let ConnectedCreator {
        app,
        acme,
        admin,
        id,
        ..
    } = TestApp::with_connected_creator().await;
    let r = admin
        .post_form(&format!("/admin/creators/{id}/disconnect"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, access, refresh): (String, Option<Vec<u8>>, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT status, access_token_enc, refresh_token_enc FROM creators WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(status, "disconnected");
    assert!(access.is_none() && refresh.is_none());
    assert!(matches!(
        connections(&app).access_token(id).await,
        Err(ConnectionError::Disconnected)
    ));
    let r = admin
        .post_form(
            &format!("/admin/creators/{id}/disconnect"),
            &[("purge", "on")],
        )
        .await;
    assert_eq!(location(&r), "/admin/creators");
    assert_eq!(creators_count(&app).await, 0);
    app.assert_audited(acme.id, "creator.disconnected").await;
    app.assert_audited(acme.id, "creator.purged").await;
}

#[tokio::test]
async fn chatters_see_only_assigned_creators_and_cannot_manage_connections() {
    let (app, acme, admin) = spawn().await;
    let uuids = app.sim().creator_uuids();
    let first = app.connect(&admin, uuids[0]).await;
    let second = app.connect(&admin, uuids[1]).await;
    let h1 = sim_handle(&app, uuids[0]).await;
    let h2 = sim_handle(&app, uuids[1]).await;
    let r = admin
        .post_form(
            &format!("/admin/creators/{first}/assignments"),
            &[("staff_id", &acme.chatter.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let chatter = app.signed_in(&acme.email("chatter")).await;
    let (_, home) = chatter.get_html("/").await;
    assert!(home.contains(&format!("@{h1}")), "assigned creator shown");
    assert!(
        !home.contains(&format!("@{h2}")),
        "unassigned creator hidden"
    );
    for path in [
        "/admin/creators".to_owned(),
        format!("/admin/creators/{first}"),
        "/admin/status".to_owned(),
    ] {
        assert_eq!(
            chatter.get(&path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    for path in [
        "/admin/creators/connect".to_owned(),
        format!("/admin/creators/{first}/disconnect"),
        format!("/admin/creators/{first}/reconnect"),
        format!("/admin/creators/{second}/assignments"),
        format!(
            "/admin/creators/{first}/assignments/{}/remove",
            acme.chatter
        ),
    ] {
        let r = chatter
            .post_form(&path, &[("staff_id", &acme.chatter.to_string())])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM oauth_flows")
            .fetch_one(&app.pool)
            .await
            .unwrap(),
        0
    );
    assert_eq!(app.creator_status(first).await, "connected");

    // The manager sees every creator on the overview.
    let manager = app.signed_in(&acme.email("manager")).await;
    let (_, home) = manager.get_html("/").await;
    assert!(home.contains(&format!("@{h1}")) && home.contains(&format!("@{h2}")));

    // Unassigning hides it again.
    admin
        .post_form(
            &format!(
                "/admin/creators/{first}/assignments/{}/remove",
                acme.chatter
            ),
            &[],
        )
        .await;
    let (_, home) = chatter.get_html("/").await;
    assert!(!home.contains(&format!("@{h1}")));
    app.assert_audited(acme.id, "creator.assigned").await;
    app.assert_audited(acme.id, "creator.unassigned").await;
}

#[tokio::test]
async fn status_page_shows_the_redirect_uri_to_register() {
    let (app, _, admin) = spawn().await;
    let (status, body) = admin.get_html("/admin/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&format!("{}/connect/fanvue/callback", app.address)));
    assert!(body.contains(app.sim().client_id()));
    assert!(
        !body.contains(app.sim().client_secret()),
        "the client secret is never shown"
    );
}

#[tokio::test]
async fn inbox_access_lists_and_single_checks_follow_one_rule() {
    use switchboard::domain::Role;
    use switchboard::inbox::{Viewer, may_work_creator, visible_creators};
    let (app, acme, admin) = spawn().await;
    let globex = app.agency("Globex").await;
    let uuids = app.sim().creator_uuids();
    let first = app.connect(&admin, uuids[0]).await;
    let second = app.connect(&admin, uuids[1]).await;
    admin
        .post_form(
            &format!("/admin/creators/{first}/assignments"),
            &[("staff_id", &acme.chatter.to_string())],
        )
        .await;
    let viewer = |agency: &TestAgency, who: &str, role| Viewer {
        agency_id: agency.id,
        staff_id: agency.id_of(who),
        role,
    };
    for (v, expect) in [
        (viewer(&acme, "chatter", Role::Chatter), vec![first]),
        (viewer(&acme, "manager", Role::Manager), vec![first, second]),
        (viewer(&acme, "owner", Role::Owner), vec![first, second]),
        (viewer(&globex, "manager", Role::Manager), vec![]),
        (viewer(&globex, "chatter", Role::Chatter), vec![]),
    ] {
        let mut seen: Vec<CreatorId> = visible_creators(&app.pool, v)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        seen.sort_by_key(|id| id.to_string());
        let mut want = expect.clone();
        want.sort_by_key(|id| id.to_string());
        assert_eq!(seen, want, "{v:?}");
        for c in [first, second] {
            assert_eq!(
                may_work_creator(&app.pool, v, c).await.unwrap(),
                expect.contains(&c),
                "{v:?} on {c}"
            );
        }
    }
}
