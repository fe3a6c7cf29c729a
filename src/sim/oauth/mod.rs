//! The simulated authorization server over HTTP: `GET /oauth2/auth` (consent
//! page or auto-approve), `POST /oauth2/token` (authorization_code with PKCE
//! S256, refresh), and the consent page's decision. The token state machine
//! is `grants`. Never logs codes or tokens.

mod grants;

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::state::Sim;
use super::world::Role;
pub use grants::{OAuthError, OAuthStore, TokenInfo, TokenResponse, s256};
use grants::{Pending, err, random_token, valid_pkce_string};

#[derive(Debug, Deserialize)]
pub struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn html_page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\">\
             <h1>{t}</h1>{body}</body></html>",
            t = escape(title)
        ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> HttpResponse {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => {
            return html_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect_uri",
                "<p>The redirect URI is not a URL.</p>",
            );
        }
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .finish()
}

fn redirect_allowed(sim: &Sim, uri: &str) -> bool {
    let cfg = &sim.config.oauth;
    if !cfg.redirect_uris.is_empty() {
        return cfg.redirect_uris.iter().any(|r| r == uri);
    }
    // No list configured: the first loopback URI used is registered, then matched exactly.
    let mut store = sim.oauth.lock();
    if store.learned_redirects.iter().any(|r| r == uri) {
        return true;
    }
    let loopback = uri.starts_with("http://127.0.0.1") || uri.starts_with("http://localhost");
    if loopback {
        store.learned_redirects.push(uri.to_string());
    }
    loopback
}

/// `GET /oauth2/auth`.
pub async fn authorize(sim: web::Data<Sim>, q: web::Query<AuthorizeQuery>) -> HttpResponse {
    let cfg = &sim.config.oauth;
    let q = q.into_inner();
    let Some(client_id) = q.client_id.filter(|c| *c == cfg.client_id) else {
        return html_page(
            StatusCode::BAD_REQUEST,
            "Invalid client",
            "<p>Unknown or missing client_id.</p>",
        );
    };
    let Some(redirect_uri) = q.redirect_uri.filter(|r| redirect_allowed(&sim, r)) else {
        return html_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect_uri",
            "<p>redirect_uri is missing or does not exactly match a registered URI.</p>",
        );
    };
    let state = q.state.unwrap_or_default();
    let fail = |code: &str, desc: &str| {
        let mut p = vec![("error", code), ("error_description", desc)];
        if !state.is_empty() {
            p.push(("state", state.as_str()));
        }
        redirect_with(&redirect_uri, &p)
    };
    if q.response_type.as_deref() != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if state.is_empty() {
        return fail("invalid_request", "state is required");
    }
    let scopes: Vec<String> = q
        .scope
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() || scopes.iter().any(|s| !cfg.allowed_scopes.contains(s)) {
        return fail(
            "invalid_scope",
            "scope is missing or not allowed for this app",
        );
    }
    let Some(challenge) = q.code_challenge.filter(|c| valid_pkce_string(c)) else {
        return fail("invalid_request", "code_challenge is required (PKCE)");
    };
    if q.code_challenge_method.as_deref() != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let auto = sim.oauth.lock().auto_approve;
    if let Some(user) = auto {
        let code = sim.oauth.lock().create_code(
            &client_id,
            &redirect_uri,
            &challenge,
            user,
            scopes,
            sim.clock.now_ms(),
            cfg.code_ttl_secs,
        );
        return redirect_with(&redirect_uri, &[("code", &code), ("state", &state)]);
    }
    let request_id = random_token("req");
    sim.oauth.lock().pending.insert(
        request_id.clone(),
        Pending {
            client_id,
            redirect_uri,
            state,
            scopes: scopes.clone(),
            challenge,
        },
    );
    let options = {
        let w = sim.world.read();
        w.users
            .iter()
            .filter(|u| u.role != Role::Fan)
            .map(|u| {
                let kind = if u.role == Role::Creator {
                    "creator"
                } else if u.is_admin {
                    "agency admin"
                } else {
                    "team member"
                };
                format!(
                    "<option value=\"{}\">{} (@{}, {kind})</option>",
                    u.uuid,
                    escape(&u.display_name),
                    escape(&u.handle)
                )
            })
            .collect::<String>()
    };
    let scope_list: String = scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", escape(s)))
        .collect();
    html_page(
        StatusCode::OK,
        "Authorize application",
        &format!(
            "<p>An application wants access to your account with these scopes:</p><ul>{scope_list}</ul>\
             <form method=\"post\" action=\"/oauth2/auth/decision\">\
             <input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">\
             <label>Sign in as <select name=\"user\">{options}</select></label>\
             <p><button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p></form>"
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    request_id: String,
    user: Option<String>,
    decision: String,
}

/// `POST /oauth2/auth/decision` — the consent page's Approve/Deny.
pub async fn decision(sim: web::Data<Sim>, f: web::Form<DecisionForm>) -> HttpResponse {
    let f = f.into_inner();
    let Some(p) = sim.oauth.lock().pending.remove(&f.request_id) else {
        return html_page(
            StatusCode::BAD_REQUEST,
            "Request expired",
            "<p>Start the authorization again.</p>",
        );
    };
    if f.decision != "approve" {
        return redirect_with(
            &p.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "the user denied the request"),
                ("state", &p.state),
            ],
        );
    }
    let user = f.user.as_deref().and_then(|u| sim.resolve_user(u));
    let Some(user) = user else {
        return html_page(
            StatusCode::BAD_REQUEST,
            "Unknown user",
            "<p>Pick a simulated user.</p>",
        );
    };
    let code = sim.oauth.lock().create_code(
        &p.client_id,
        &p.redirect_uri,
        &p.challenge,
        user,
        p.scopes,
        sim.clock.now_ms(),
        sim.config.oauth.code_ttl_secs,
    );
    redirect_with(&p.redirect_uri, &[("code", &code), ("state", &p.state)])
}

fn oauth_error(e: &OAuthError, basic_used: bool) -> HttpResponse {
    let mut b =
        HttpResponse::build(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST));
    if e.status == 401 && basic_used {
        b.insert_header(("WWW-Authenticate", "Basic realm=\"oauth\""));
    }
    b.insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({"error": e.code, "error_description": e.description}))
}

/// Parses `Authorization: Basic` into (id, secret).
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(rest.trim()).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    let dec = |v: &str| {
        url::form_urlencoded::parse(format!("v={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

/// `POST /oauth2/token`.
pub async fn token(sim: web::Data<Sim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let cfg = &sim.config.oauth;
    let basic = basic_credentials(&req);
    let basic_used = basic.is_some();
    let client = match (&basic, form.get("client_id"), form.get("client_secret")) {
        (Some((id, secret)), body_id, _) => {
            if body_id.is_some_and(|b| b != id) {
                None
            } else {
                Some((id.clone(), secret.clone()))
            }
        }
        (None, Some(id), Some(secret)) if cfg.allow_client_secret_in_body => {
            Some((id.clone(), secret.clone()))
        }
        _ => None,
    };
    let client_ok = client
        .as_ref()
        .is_some_and(|(id, secret)| *id == cfg.client_id && *secret == cfg.client_secret);
    if !client_ok {
        return oauth_error(
            &err(401, "invalid_client", "client authentication failed"),
            basic_used,
        );
    }
    let now = sim.clock.now_ms();
    let ttl = cfg.access_token_ttl_secs;
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let result = match get("grant_type") {
        Some("authorization_code") => {
            match (get("code"), get("redirect_uri"), get("code_verifier")) {
                (Some(code), Some(redirect), Some(verifier)) => sim.oauth.lock().exchange_code(
                    &cfg.client_id,
                    code,
                    redirect,
                    verifier,
                    now,
                    ttl,
                ),
                _ => Err(err(
                    400,
                    "invalid_request",
                    "code, redirect_uri and code_verifier are required",
                )),
            }
        }
        Some("refresh_token") => match get("refresh_token") {
            Some(rt) => sim.oauth.lock().refresh(&cfg.client_id, rt, now, ttl),
            None => Err(err(400, "invalid_request", "refresh_token is required")),
        },
        Some(_) => Err(err(
            400,
            "unsupported_grant_type",
            "grant_type not supported",
        )),
        None => Err(err(400, "invalid_request", "grant_type is required")),
    };
    // Counted per grant type so tests can assert how often a client
    // exchanged or refreshed, and whether it ever replayed a refresh token.
    let grant = get("grant_type").unwrap_or("none");
    let status = result.as_ref().map_or_else(|e| e.status, |_| 200);
    sim.record_request(&format!("POST /oauth2/token {grant}"), None, status);
    if let Err(e) = &result
        && e.description.contains("reuse")
    {
        sim.record_request(REFRESH_REUSE_DETECTED, None, e.status);
    }
    match result {
        Ok(t) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(t),
        Err(e) => {
            tracing::debug!(error = e.code, "token request rejected");
            oauth_error(&e, basic_used)
        }
    }
}

/// Stats key counting refresh-token reuse (a client bug this should never see).
pub const REFRESH_REUSE_DETECTED: &str = "oauth2 refresh-token reuse detected";
