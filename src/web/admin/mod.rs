//! Agency administration (owners and admins only): staff, invitations and
//! the audit log. Every handler takes `AdminStaff`, and every store call is
//! scoped by that admin's agency, so another agency's ids are "not found".

pub mod audit;
pub mod creators;
pub mod invites;
pub mod staff;
pub mod status;
pub mod sync;
pub mod webhooks;
