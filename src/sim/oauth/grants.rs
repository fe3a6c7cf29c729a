//! The simulated authorization server's state: authorization codes (single
//! use, PKCE S256), grants, access tokens and rotating refresh tokens with
//! reuse detection, and the authorize requests waiting on the consent page.
//! No HTTP here (see the handlers in `oauth`). Tokens are opaque strings.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::sim::world::UserId;

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
pub(super) struct Pending {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) state: String,
    pub(super) scopes: Vec<String>,
    pub(super) challenge: String,
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

pub(super) fn err(status: u16, code: &'static str, d: impl Into<String>) -> OAuthError {
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
    pub(super) pending: HashMap<String, Pending>,
    /// Redirect URIs registered at runtime (demo convenience when none are configured).
    pub(super) learned_redirects: Vec<String>,
    pub auto_approve: Option<UserId>,
}

pub(super) fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

/// base64url(SHA-256(verifier)) without padding, as RFC 7636 S256.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub(super) fn valid_pkce_string(s: &str) -> bool {
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
