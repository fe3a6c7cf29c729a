//! The shared inbox: the chat list, a chat's thread with its compose box,
//! sending through the ledger, and the live event stream.

pub mod canned;
pub mod collab;
pub mod compose;
pub mod fan;
pub mod fan_lists;
pub mod list;
pub mod media;
pub mod send;
pub mod stream;
pub mod tags;
pub mod thread;
