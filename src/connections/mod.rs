//! Creator connections: everything between "an admin approves Switchboard
//! on Fanvue" (the connect flow, `connect`) and "sync or a chatter can make
//! a call with a valid token" (`tokens`).
//! Tokens are decrypted only here, only for the duration of a call, and are
//! refreshed before they expire — single-flight per creator across tasks
//! (an in-process lock) and across instances (a Postgres advisory lock and a
//! re-read once it is held), with the rotated refresh token stored in the
//! same transaction as the access token it came with.

pub mod connect;
mod tokens;

pub use connect::{Callback, ConnectFailure, Connected, FLOW_TTL, Initiator};
pub use tokens::{
    AccessToken, ConnectionError, Connections, REFRESH_BUFFER, access_context, refresh_context,
};

/// Scopes Switchboard needs from a creator to mirror and work the inbox;
/// the creators page warns about any a grant lacks.
pub const REQUIRED_SCOPES: &[&str] = &[
    "offline_access",
    "read:self",
    "read:chat",
    "write:chat",
    "read:fan",
];

/// The required scopes missing from `granted`.
pub fn missing_scopes(granted: &[String]) -> Vec<&'static str> {
    REQUIRED_SCOPES
        .iter()
        .copied()
        .filter(|s| !granted.iter().any(|g| g == s))
        .collect()
}
