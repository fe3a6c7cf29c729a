//! HTTP-level tests: a fresh database per test, the app on a random port,
//! and a cookie-holding client that follows no redirects.

mod helpers;

mod audit;
mod auth;
mod canned_replies;
mod client_ip;
mod connections;
mod cross_check;
mod csrf;
mod custom_lists;
mod dashboard;
mod earnings;
mod earnings_sales;
mod fan_notes;
mod headers;
mod inbox_collab;
mod inbox_list;
mod inbox_send;
mod inbox_thread;
mod invites;
mod live;
mod metrics;
mod mirror_integrity;
mod sales;
mod sales_drilldown;
mod settings;
mod staff_admin;
mod sync;
mod tenancy;
mod webhook_batch;
mod webhooks;
