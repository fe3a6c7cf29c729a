//! What chatters do, without HTTP: who may see and work which creators'
//! inboxes, and the inbox's reads (list, thread, fan panel) as view models.
//! Never decides from anything but the viewer's agency, id and role as the
//! session extractor loaded them.

pub mod access;
pub mod actor;
pub mod canned;
pub mod claims;
pub mod compose_input;
pub mod cursor;
pub mod error;
pub mod fan_lists;
pub mod fan_notes;
pub mod list;
pub mod presence;
pub mod preview;
pub mod send;
pub mod tags;
pub mod thread;

pub use access::{Viewer, may_work_creator, visible_creators};
pub use error::InboxError;
