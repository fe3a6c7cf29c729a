//! What chatters do, without HTTP. For now: who may see and work which
//! creators' inboxes. Never decides from anything but the viewer's agency,
//! id and role as the session extractor loaded them.

pub mod access;
pub mod compose_input;
pub mod send;

pub use access::{Viewer, may_work_creator, visible_creators};
