//! Everything that knows Fanvue's wire format: typed models, the API client
//! with its rate-limit budget and retries, OAuth (PKCE) helpers. This module
//! never touches the database and never logs a token.

pub mod budget;
pub mod client;
pub mod error;
pub mod models;
pub mod oauth;
pub mod retry;

pub use client::{CallAuth, FanvueClient, Meter, Priority};
pub use error::FanvueError;
