//! The shared inbox: the chat list, a chat's thread with its compose box,
//! sending through the ledger, and the live event stream.

pub mod compose;
pub mod media;
pub mod send;
pub mod list;
pub mod stream;
pub mod thread;
