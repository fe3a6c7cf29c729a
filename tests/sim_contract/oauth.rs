//! OAuth 2 with PKCE: authorize, consent, code and refresh grants, client auth.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::Value;

use crate::fixture::*;

#[tokio::test]
async fn pkce_code_flow_succeeds_with_basic_auth_and_token_works() {
    let t = spawn().await;
    let code = t.code().await;
    let (s, tok) = t
        .token_basic(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", t.sim.client_id()),
        ])
        .await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 3600);
    assert!(tok["refresh_token"].is_string());
    assert_eq!(tok["scope"], "openid offline_access read:self read:chat");
    let (s, me) = t
        .json(t.get_as("/users/me", tok["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(s, 200);
    assert_eq!(me["uuid"], t.creator.to_string());
    t.sim.stop().await;
}

#[tokio::test]
async fn client_secret_in_form_body_is_accepted_and_wrong_secret_is_invalid_client() {
    let t = spawn().await;
    let code = t.code().await;
    let form = |secret: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.to_string()),
            ("code_verifier", VERIFIER.to_string()),
            ("client_id", t.sim.client_id().to_string()),
            ("client_secret", secret.to_string()),
        ]
    };
    let (s, b) = t
        .json(t.http.post(t.sim.token_url()).form(&form("wrong")))
        .await;
    assert_eq!(s, 401);
    assert_eq!(b["error"], "invalid_client");
    let (s, b) = t
        .json(
            t.http
                .post(t.sim.token_url())
                .form(&form(t.sim.client_secret())),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    t.sim.stop().await;
}

#[tokio::test]
async fn pkce_failures_are_rejected() {
    let t = spawn().await;
    // Authorization request: missing challenge, plain method, bad response_type, missing state.
    t.sim
        .set_auto_approve(Some(&t.creator.to_string()))
        .unwrap();
    for (extra, want) in [
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("state", "")], "invalid_request"),
        (vec![("scope", "read:everything")], "invalid_scope"),
    ] {
        let (s, loc) = t.authorize(&extra).await;
        assert_eq!(s, 302, "{extra:?}");
        let q: std::collections::HashMap<_, _> = loc.unwrap().query_pairs().into_owned().collect();
        assert_eq!(q["error"], want, "{extra:?}");
        assert!(!q.contains_key("code"));
    }
    // Unknown client or unregistered redirect: no redirect at all.
    let (s, loc) = t.authorize(&[("client_id", "someone-else")]).await;
    assert_eq!((s, loc), (StatusCode::BAD_REQUEST, None));
    let (s, loc) = t
        .authorize(&[("redirect_uri", "https://evil.example/cb")])
        .await;
    assert_eq!((s, loc), (StatusCode::BAD_REQUEST, None));
    // Token request: wrong verifier, missing verifier, other redirect_uri.
    for (verifier, redirect, want) in [
        ("x".repeat(43), REDIRECT, "invalid_grant"),
        (String::new(), REDIRECT, "invalid_request"),
        (
            VERIFIER.to_string(),
            "http://127.0.0.1:9/other",
            "invalid_grant",
        ),
    ] {
        let code = t.code().await;
        let (s, b) = t
            .token_basic(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["error"], want);
    }
    let (s, b) = t.token_basic(&[("grant_type", "password")]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    t.sim.stop().await;
}

#[tokio::test]
async fn code_is_single_use_expires_after_ten_minutes_and_reuse_revokes() {
    let t = spawn().await;
    let tr = &t;
    let exchange = |code: String| async move {
        tr.token_basic(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await
    };
    let code = t.code().await;
    let (s, tok) = exchange(code.clone()).await;
    assert_eq!(s, 200);
    let (s, b) = exchange(code).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, _) = t
        .json(t.get_as("/users/me", tok["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(s, 401, "replayed code revokes its tokens");
    let code = t.code().await;
    t.sim.advance_clock(Duration::from_secs(601));
    let (s, b) = exchange(code).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    t.sim.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_grant() {
    let t = spawn().await;
    let code = t.code().await;
    let (_, t1) = t
        .token_basic(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await;
    let rt1 = t1["refresh_token"].as_str().unwrap().to_string();
    let (s, t2) = t
        .token_basic(&[("grant_type", "refresh_token"), ("refresh_token", &rt1)])
        .await;
    assert_eq!(s, 200);
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    let at2 = t2["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        t.get_as("/users/me", &at2).send().await.unwrap().status(),
        200
    );
    let (s, b) = t
        .token_basic(&[("grant_type", "refresh_token"), ("refresh_token", &rt1)])
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        t.get_as("/users/me", &at2).send().await.unwrap().status(),
        401
    );
    let (s, _) = t
        .token_basic(&[("grant_type", "refresh_token"), ("refresh_token", &rt2)])
        .await;
    assert_eq!(s, 400, "the whole family is revoked");
    t.sim.stop().await;
}

#[tokio::test]
async fn access_token_expires_after_configured_lifetime_and_revocation_is_401() {
    let mut cfg = small();
    cfg.oauth.access_token_ttl_secs = 60;
    let t = spawn_with(cfg).await;
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 200);
    t.sim.advance_clock(Duration::from_secs(61));
    assert_eq!(t.get("/users/me").send().await.unwrap().status(), 401);
    let fresh = t.token(t.creator, ALL_SCOPES);
    assert_eq!(
        t.get_as("/users/me", &fresh).send().await.unwrap().status(),
        200
    );
    assert_eq!(t.sim.revoke_tokens(Some(&t.creator.to_string())), 2);
    assert_eq!(
        t.get_as("/users/me", &fresh).send().await.unwrap().status(),
        401
    );
    t.sim.stop().await;
}

/// The consent page the creator sees for a fresh authorize request.
async fn consent_page(t: &SimFixture) -> String {
    t.http
        .get(t.authorize_url(&[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The creator answers the consent page `page` with `decision`; returns
/// where the simulator redirects.
async fn decide(t: &SimFixture, page: &str, decision: &str) -> (StatusCode, String) {
    let rid = page
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let r = t
        .http
        .post(format!("{}/oauth2/auth/decision", t.sim.base_url()))
        .form(&[
            ("request_id", rid.as_str()),
            ("user", &t.creator.to_string()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    (r.status(), loc)
}

#[tokio::test]
async fn consent_page_approve_and_deny() {
    let t = spawn().await;
    let (s, _) = t.authorize(&[]).await;
    assert_eq!(s, 200);
    let page = consent_page(&t).await;
    assert!(page.contains("Approve") && page.contains("Deny"));
    let (status, loc) = decide(&t, &page, "deny").await;
    assert_eq!(status, 302);
    assert!(
        loc.contains("error=access_denied") && loc.contains("state=st4te"),
        "{loc}"
    );
    let page = consent_page(&t).await;
    let (_, loc) = decide(&t, &page, "approve").await;
    assert!(loc.starts_with(REDIRECT) && loc.contains("code=") && loc.contains("state=st4te"));
    t.sim.stop().await;
}

#[tokio::test]
async fn pkce_and_client_auth_edge_failures() {
    let t = spawn().await;
    t.sim
        .set_auto_approve(Some(&t.creator.to_string()))
        .unwrap();
    let short = "a".repeat(42);
    for (extra, want) in [
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge_method", "s256")], "invalid_request"),
        (vec![("code_challenge", short.as_str())], "invalid_request"),
        (vec![("scope", "")], "invalid_scope"),
    ] {
        let (s, loc) = t.authorize(&extra).await;
        assert_eq!(s, 302, "{extra:?}");
        let q: std::collections::HashMap<_, _> = loc.unwrap().query_pairs().into_owned().collect();
        assert_eq!(q["error"], want, "{extra:?}");
        assert_eq!(q["state"], "st4te", "{extra:?}");
        assert!(!q.contains_key("code"));
    }
    // A verifier that is too short (RFC 7636: 43–128 chars) or hashes to another challenge.
    for verifier in [short.clone(), format!("{VERIFIER}x")] {
        let code = t.code().await;
        let (s, b) = t
            .token_basic(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["error"], "invalid_grant");
        assert!(b["error_description"].is_string());
    }
    // No client authentication at all, and a Basic header with the wrong secret.
    let code = t.code().await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (s, b) = t.json(t.http.post(t.sim.token_url()).form(&form)).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let bad = STANDARD.encode(format!("{}:wrong", t.sim.client_id()));
    let r = t
        .http
        .post(t.sim.token_url())
        .header("Authorization", format!("Basic {bad}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "invalid_client");
    // The code survived the unauthenticated attempts and still works once.
    let (s, b) = t.token_basic(&form).await;
    assert_eq!(s, 200, "{b}");
    t.sim.stop().await;
}

#[tokio::test]
async fn configured_redirect_uris_must_match_exactly() {
    let mut cfg = small();
    cfg.oauth.redirect_uris = vec![REDIRECT.to_string()];
    let t = spawn_with(cfg).await;
    t.sim
        .set_auto_approve(Some(&t.creator.to_string()))
        .unwrap();
    for other in [
        format!("{REDIRECT}/"),
        format!("{REDIRECT}?x=1"),
        REDIRECT.replace("127.0.0.1", "localhost"),
    ] {
        let (s, loc) = t.authorize(&[("redirect_uri", other.as_str())]).await;
        assert_eq!((s, loc), (StatusCode::BAD_REQUEST, None), "{other}");
    }
    let (s, loc) = t.authorize(&[]).await;
    assert_eq!(s, 302);
    assert!(loc.unwrap().as_str().starts_with(REDIRECT));
    t.sim.stop().await;
}
