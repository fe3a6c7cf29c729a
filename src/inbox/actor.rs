//! Who made an audited inbox change (claims, notes, tags, snippets).

use super::access::Viewer;
use crate::domain::AuditAction;
use crate::store::audit::AuditEntry;

/// The signed-in viewer and the client address for the audit log.
pub struct Actor<'a> {
    pub viewer: Viewer,
    pub client_ip: Option<&'a str>,
}

impl<'a> Actor<'a> {
    /// The audit entry of `action` on `target` by this actor.
    pub fn audit(
        &self,
        action: AuditAction,
        target: &'a str,
        details: serde_json::Value,
    ) -> AuditEntry<'a> {
        AuditEntry {
            agency_id: Some(self.viewer.agency_id),
            actor_id: Some(self.viewer.staff_id),
            action,
            target: Some(target),
            details,
            client_ip: self.client_ip,
        }
    }
}
