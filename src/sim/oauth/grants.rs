//! The simulated authorization server: `GET /oauth2/auth` (consent page or auto-approve),
//! `POST /oauth2/token` (authorization_code with PKCE S256, rotating refresh tokens with
//! reuse detection), and the bearer-token lookup the API uses. Tokens are opaque strings.
//! Never logs codes or tokens.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::state::Sim;
use super::world::{Role, UserId};

#[derive(Debug, Clone)]
struct CodeRec {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    user: UserId,
    scopes: Vec<String>,
    expires_ms: i64,
    used: bool,
    grant: Option<usize>,
}

#[derive(Debug, Clone)]
struct GrantRec {
    client_id: String,
    user: UserId,
    scopes: Vec<String>,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct AccessRec {
    grant: usize,
    expires_ms: i64,
}

#[derive(Debug, Clone)]
struct RefreshRec {
    grant: usize,
    used: bool,
}

/// An authorize request waiting on the consent page.
#[derive(Debug, Clone)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    state: String,
    scopes: Vec<String>,
    challenge: String,
}

/// The caller behind a valid access token.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub user: UserId,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// A token-endpoint error, rendered as `{"error","error_description"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub status: u16,
    pub code: &'static str,
    pub description: String,
}

fn err(status: u16, code: &'static str, d: impl Into<String>) -> OAuthError {
    OAuthError {
        status,
        code,
        description: d.into(),
    }
}

/// Token-endpoint success body.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

#[derive(Debug, Default)]
pub struct OAuthStore {
    codes: HashMap<String, CodeRec>,
    grants: Vec<GrantRec>,
    access: HashMap<String, AccessRec>,
    refresh: HashMap<String, RefreshRec>,
    pending: HashMap<String, Pending>,
    /// Redirect URIs registered at runtime (demo convenience when none are configured).
    learned_redirects: Vec<String>,
    pub auto_approve: Option<UserId>,
}

fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

/// base64url(SHA-256(verifier)) without padding, as RFC 7636 S256.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn valid_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))
}

impl OAuthStore {
    fn new_grant(&mut self, client_id: &str, user: UserId, scopes: Vec<String>) -> usize {
        self.grants.push(GrantRec {
            client_id: client_id.to_string(),
            user,
            scopes,
            revoked: false,
        });
        self.grants.len() - 1
    }

    fn issue(&mut self, grant: usize, now_ms: i64, ttl_secs: i64) -> TokenResponse {
        let access_token = random_token("sim_at");
        self.access.insert(
            access_token.clone(),
            AccessRec {
                grant,
                expires_ms: now_ms + ttl_secs * 1000,
            },
        );
        let g = &self.grants[grant];
        let offline = g
            .scopes
            .iter()
            .any(|s| s == "offline_access" || s == "offline");
        let refresh_token = offline.then(|| {
            let t = random_token("sim_rt");
            self.refresh
                .insert(t.clone(), RefreshRec { grant, used: false });
            t
        });
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl_secs,
            refresh_token,
            scope: g.scopes.join(" "),
        }
    }

    /// Creates a single-use authorization code.
    #[allow(clippy::too_many_arguments)]
    pub fn create_code(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        challenge: &str,
        user: UserId,
        scopes: Vec<String>,
        now_ms: i64,
        ttl_secs: i64,
    ) -> String {
        let code = random_token("sim_code");
        self.codes.insert(
            code.clone(),
            CodeRec {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                challenge: challenge.to_string(),
                user,
                scopes,
                expires_ms: now_ms + ttl_secs * 1000,
                used: false,
                grant: None,
            },
        );
        code
    }

    /// `grant_type=authorization_code`.
    pub fn exchange_code(
        &mut self,
        client_id: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        now_ms: i64,
        ttl_secs: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let rec = self
            .codes
            .get(code)
            .cloned()
            .ok_or_else(|| err(400, "invalid_grant", "unknown authorization code"))?;
        if rec.used {
            // A replayed code revokes what it already granted (RFC 6749 §4.1.2).
            if let Some(g) = rec.grant {
                self.grants[g].revoked = true;
            }
            return Err(err(400, "invalid_grant", "authorization code already used"));
        }
        if now_ms > rec.expires_ms {
            return Err(err(400, "invalid_grant", "authorization code expired"));
        }
        if rec.client_id != client_id {
            return Err(err(
                400,
                "invalid_grant",
                "code was issued to another client",
            ));
        }
        if rec.redirect_uri != redirect_uri {
            return Err(err(400, "invalid_grant", "redirect_uri mismatch"));
        }
        if !valid_pkce_string(verifier) {
            return Err(err(400, "invalid_grant", "malformed code_verifier"));
        }
        if s256(verifier) != rec.challenge {
            return Err(err(400, "invalid_grant", "PKCE verification failed"));
        }
        let grant = self.new_grant(client_id, rec.user, rec.scopes.clone());
        if let Some(c) = self.codes.get_mut(code) {
            c.used = true;
            c.grant = Some(grant);
        }
        Ok(self.issue(grant, now_ms, ttl_secs))
    }

    /// `grant_type=refresh_token`: rotates; reuse of a spent token revokes the grant.
    pub fn refresh(
        &mut self,
        client_id: &str,
        token: &str,
        now_ms: i64,
        ttl_secs: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let rec = self
            .refresh
            .get(token)
            .cloned()
            .ok_or_else(|| err(400, "invalid_grant", "unknown refresh token"))?;
        let g = &self.grants[rec.grant];
        if g.client_id != client_id {
            return Err(err(
                400,
                "invalid_grant",
                "token was issued to another client",
            ));
        }
        if rec.used {
            self.grants[rec.grant].revoked = true;
            return Err(err(
                400,
                "invalid_grant",
                "refresh token reuse detected; grant revoked",
            ));
        }
        if g.revoked {
            return Err(err(400, "invalid_grant", "grant revoked"));
        }
        if let Some(r) = self.refresh.get_mut(token) {
            r.used = true;
        }
        Ok(self.issue(rec.grant, now_ms, ttl_secs))
    }

    /// Resolves a bearer token; `None` when unknown, expired or revoked.
    pub fn authenticate(&self, token: &str, now_ms: i64) -> Option<TokenInfo> {
        let a = self.access.get(token)?;
        if now_ms >= a.expires_ms {
            return None;
        }
        let g = &self.grants[a.grant];
        if g.revoked {
            return None;
        }
        Some(TokenInfo {
            user: g.user,
            client_id: g.client_id.clone(),
            scopes: g.scopes.clone(),
        })
    }

    /// Revokes every grant (of one user, or all). Returns how many changed.
    pub fn revoke(&mut self, user: Option<UserId>) -> usize {
        let mut n = 0;
        for g in &mut self.grants {
            if !g.revoked && user.is_none_or(|u| u == g.user) {
                g.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// Issues tokens directly (tests and demo seeding skip the browser dance).
    pub fn issue_direct(
        &mut self,
        client_id: &str,
        user: UserId,
        scopes: Vec<String>,
        now_ms: i64,
        ttl_secs: i64,
    ) -> TokenResponse {
        let g = self.new_grant(client_id, user, scopes);
        self.issue(g, now_ms, ttl_secs)
    }

    /// Users holding an active grant.
    pub fn granted_users(&self) -> Vec<(UserId, Vec<String>)> {
        self.grants
            .iter()
            .filter(|g| !g.revoked)
            .map(|g| (g.user, g.scopes.clone()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// HTTP handlers

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

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn store_with_code(now: i64) -> (OAuthStore, String) {
        let mut s = OAuthStore::default();
        let code = s.create_code(
            "c",
            "http://127.0.0.1/cb",
            &s256(VERIFIER),
            7,
            vec!["read:chat".into(), "offline_access".into()],
            now,
            600,
        );
        (s, code)
    }

    #[test]
    fn s256_matches_rfc7636_example() {
        assert_eq!(
            s256(VERIFIER),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn code_is_single_use_and_replay_revokes() {
        let (mut s, code) = store_with_code(0);
        let t = s
            .exchange_code("c", &code, "http://127.0.0.1/cb", VERIFIER, 1, 3600)
            .unwrap();
        assert!(s.authenticate(&t.access_token, 2).is_some());
        let e = s
            .exchange_code("c", &code, "http://127.0.0.1/cb", VERIFIER, 3, 3600)
            .unwrap_err();
        assert_eq!(e.code, "invalid_grant");
        assert!(s.authenticate(&t.access_token, 4).is_none());
    }

    #[test]
    fn code_expires_after_ttl() {
        let (mut s, code) = store_with_code(0);
        let e = s
            .exchange_code("c", &code, "http://127.0.0.1/cb", VERIFIER, 600_001, 3600)
            .unwrap_err();
        assert_eq!(e.description, "authorization code expired");
    }

    #[test]
    fn refresh_rotates_and_reuse_revokes_family() {
        let (mut s, code) = store_with_code(0);
        let t1 = s
            .exchange_code("c", &code, "http://127.0.0.1/cb", VERIFIER, 1, 3600)
            .unwrap();
        let rt1 = t1.refresh_token.unwrap();
        let t2 = s.refresh("c", &rt1, 2, 3600).unwrap();
        let rt2 = t2.refresh_token.clone().unwrap();
        assert_ne!(rt1, rt2);
        assert!(s.authenticate(&t2.access_token, 3).is_some());
        assert!(s.refresh("c", &rt1, 4, 3600).is_err());
        assert!(s.authenticate(&t2.access_token, 5).is_none());
        assert!(s.refresh("c", &rt2, 6, 3600).is_err());
    }

    #[test]
    fn access_token_expires() {
        let mut s = OAuthStore::default();
        let t = s.issue_direct("c", 1, vec![], 0, 10);
        assert!(s.authenticate(&t.access_token, 9_999).is_some());
        assert!(s.authenticate(&t.access_token, 10_000).is_none());
        assert!(t.refresh_token.is_none());
    }
}
