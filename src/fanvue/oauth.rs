//! Fanvue OAuth 2.0 (authorization code + PKCE S256): verifier/challenge and
//! state generation, the authorize URL, and the token endpoint calls (code
//! exchange and refresh) through the `oauth2` crate on our reqwest client.
//! Tokens stay wrapped in `SecretString` and are never logged.

use std::time::Duration;

use base64::Engine;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::{FanvueApp, FanvueSettings, TokenAuth};

type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// A PKCE pair: the verifier stays with us, the challenge goes to Fanvue.
pub struct Pkce {
    pub verifier: SecretString,
    pub challenge: String,
}

fn random_urlsafe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// 64 random bytes → an 86-character verifier (RFC 7636 allows 43–128).
pub fn new_pkce() -> Pkce {
    let verifier = random_urlsafe(64);
    Pkce {
        challenge: challenge_for(&verifier),
        verifier: verifier.into(),
    }
}

/// `BASE64URL(SHA256(verifier))` without padding (S256).
pub fn challenge_for(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The `state` parameter: 32 random bytes, 43 characters.
pub fn new_state() -> String {
    random_urlsafe(32)
}

/// Fanvue's authorize URL for this app, state and challenge.
pub fn authorize_url(
    settings: &FanvueSettings,
    app: &FanvueApp,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
) -> String {
    let mut url = url::Url::parse(&settings.authorize_endpoint())
        .unwrap_or_else(|_| settings.auth_url.clone());
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &settings.scopes.join(" "))
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

/// What the token endpoint gave us.
pub struct Tokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<Duration>,
    /// Granted scopes, when the server lists them.
    pub scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The code or refresh token is invalid, used, expired or revoked:
    /// the creator must connect again.
    #[error("invalid grant: {0}")]
    InvalidGrant(String),
    /// Our client id/secret were refused: an operator must fix the config.
    #[error("client authentication failed: {0}")]
    InvalidClient(String),
    #[error("token endpoint refused the request: {0}")]
    Refused(String),
    #[error("token endpoint unreachable: {0}")]
    Transport(String),
    #[error("configuration: {0}")]
    Config(String),
}

fn client(
    settings: &FanvueSettings,
    app: &FanvueApp,
    redirect_uri: Option<&str>,
) -> Result<OAuthClient, OAuthError> {
    let cfg = |e: oauth2::url::ParseError| OAuthError::Config(e.to_string());
    let mut c = BasicClient::new(ClientId::new(app.client_id.clone()))
        .set_client_secret(ClientSecret::new(
            app.client_secret.expose_secret().to_owned(),
        ))
        .set_auth_uri(AuthUrl::new(settings.authorize_endpoint()).map_err(cfg)?)
        .set_token_uri(TokenUrl::new(settings.token_endpoint()).map_err(cfg)?)
        .set_auth_type(match settings.token_auth {
            TokenAuth::Basic => AuthType::BasicAuth,
            TokenAuth::Body => AuthType::RequestBody,
        });
    if let Some(r) = redirect_uri {
        c = c.set_redirect_uri(RedirectUrl::new(r.to_owned()).map_err(cfg)?);
    }
    Ok(c)
}

/// Adapts our reqwest client to oauth2's HTTP interface. The client is
/// taken by value (it is an `Arc` inside) so the future borrows nothing and
/// stays `Send` for spawned tasks.
async fn send(
    http: reqwest::Client,
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let resp = http.execute(reqwest::Request::try_from(req)?).await?;
    let mut builder = oauth2::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        builder = builder.header(k, v);
    }
    let body = resp.bytes().await?.to_vec();
    Ok(builder
        .body(body)
        .unwrap_or_else(|_| oauth2::http::Response::new(Vec::new())))
}

type TokenError = RequestTokenError<reqwest::Error, oauth2::basic::BasicErrorResponse>;

fn map_error(e: TokenError) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let detail = r
                .error_description()
                .cloned()
                .unwrap_or_else(|| r.error().to_string());
            match r.error() {
                BasicErrorResponseType::InvalidGrant => OAuthError::InvalidGrant(detail),
                BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient => OAuthError::InvalidClient(detail),
                _ => OAuthError::Refused(detail),
            }
        }
        RequestTokenError::Request(e) => OAuthError::Transport(e.without_url().to_string()),
        RequestTokenError::Parse(e, _) => OAuthError::Refused(format!("unreadable response: {e}")),
        RequestTokenError::Other(s) => OAuthError::Refused(s),
    }
}

fn tokens<T: TokenResponse>(t: &T) -> Tokens {
    Tokens {
        access_token: t.access_token().secret().to_owned().into(),
        refresh_token: t.refresh_token().map(|r| r.secret().to_owned().into()),
        expires_in: t.expires_in(),
        scopes: t
            .scopes()
            .map(|s| s.iter().map(|x| x.to_string()).collect()),
    }
}

/// Exchanges an authorization code (with its PKCE verifier).
pub async fn exchange_code(
    http: &reqwest::Client,
    settings: &FanvueSettings,
    app: &FanvueApp,
    redirect_uri: &str,
    code: &str,
    verifier: &SecretString,
) -> Result<Tokens, OAuthError> {
    let c = client(settings, app, Some(redirect_uri))?;
    let resp = c
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
        .request_async(&|r| send(http.clone(), r))
        .await
        .map_err(map_error)?;
    Ok(tokens(&resp))
}

/// Uses a refresh token. Fanvue rotates refresh tokens: the caller must
/// store the returned one before using the new access token.
pub async fn refresh(
    http: &reqwest::Client,
    settings: &FanvueSettings,
    app: &FanvueApp,
    refresh_token: &SecretString,
) -> Result<Tokens, OAuthError> {
    let c = client(settings, app, None)?;
    let resp = c
        .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_owned()))
        .request_async(&|r| send(http.clone(), r))
        .await
        .map_err(map_error)?;
    Ok(tokens(&resp))
}

/// The HTTP client for the token endpoint: no redirects (oauth2's advice
/// against SSRF), bounded time.
pub fn http_client(settings: &FanvueSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.request_timeout)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_the_rfc_7636_example() {
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_and_state_are_long_random_and_urlsafe() {
        let p = new_pkce();
        let v = p.verifier.expose_secret();
        assert!((43..=128).contains(&v.len()), "{}", v.len());
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(p.challenge, challenge_for(v));
        assert_ne!(new_pkce().verifier.expose_secret(), v);
        let s = new_state();
        assert!(s.len() >= 32);
        assert_ne!(s, new_state());
    }
}
