//! What staff prove who they are with, and the secrets the app hands out:
//! password hashing and random tokens (invite links, CSRF, session ids) with
//! their stored hashes. No HTTP here: the login pages are `web::auth`.

pub mod password;
pub mod token;
