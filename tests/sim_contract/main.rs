//! Contract tests for the Fanvue simulator, written from Fanvue's documentation: each test
//! exercises one documented rule over real HTTP against an in-process simulator. One module
//! per surface of the API; `fixture` holds the harness they share.

mod agency;
mod batch;
mod chats;
mod control;
mod faults;
mod fixture;
mod insights;
mod lists;
mod media;
mod messages;
mod oauth;
mod rate_limit;
mod scenario;
mod versions_and_auth;
mod webhooks;
