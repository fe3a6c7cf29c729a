//! Switchboard library crate.

pub mod sim;
