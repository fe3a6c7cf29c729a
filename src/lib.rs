//! Switchboard: a self-hostable, multi-tenant CRM for agencies that run
//! creators' Fanvue accounts. See `docs/ARCHITECTURE.md` for the module map.

pub mod bootstrap;
pub mod config;
pub mod connections;
pub mod credentials;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod fanvue;
pub mod http;
pub mod inbox;
pub mod live;
pub mod metrics;
pub mod sim;
pub mod startup;
pub mod store;
pub mod sync;
pub mod task;
pub mod telemetry;
pub mod web;
pub mod webhooks;
