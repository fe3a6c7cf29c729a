//! What can go wrong talking to Fanvue, in terms a caller can act on.
//! Messages come from Fanvue's error bodies; they never contain a token.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FanvueError {
    /// 401: the access token is expired or revoked. Refresh, or reconnect.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403 `Insufficient scopes`: the grant lacks a scope; reconnect with it.
    #[error("insufficient scope")]
    InsufficientScope,
    /// Other 403s (e.g. a creator this token does not manage).
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// 400 on a send: the fan cannot be messaged (Fanvue's words).
    #[error("the fan cannot be messaged: {0}")]
    Contactability(String),
    /// 400 `{errors:[…]}` (or `{message}` outside a send): field errors.
    #[error("rejected by Fanvue: {}", .0.join("; "))]
    Validation(Vec<String>),
    /// 400 for a missing or unsupported `X-Fanvue-API-Version`.
    #[error("unsupported API version: {0}")]
    UnsupportedVersion(String),
    /// 410: this API version is retired.
    #[error("API version sunset: {message} (next: {next_version:?})")]
    Sunset {
        message: String,
        next_version: Option<String>,
    },
    /// 429 even after waiting and retrying within the attempt budget.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("Fanvue server error {status}")]
    Server { status: u16 },
    /// Connection failures and timeouts.
    #[error("transport error: {0}")]
    Transport(String),
    /// A 2xx whose body could not be read at all.
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl FanvueError {
    /// Worth retrying for an idempotent request.
    pub fn is_transient(&self) -> bool {
        matches!(self, FanvueError::Server { .. } | FanvueError::Transport(_))
    }
}
