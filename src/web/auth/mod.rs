//! Signing in and out, and accepting an invitation.

pub mod invite;
pub mod login;
pub mod logout;
