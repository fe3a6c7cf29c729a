//! What the audit log records: one variant per kind of event. Stored as its
//! `as_str` so the log stays readable in SQL; the log page shows that string.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    Logout,
    PasswordChanged,
    StaffInvited,
    InviteRevoked,
    InviteAccepted,
    RoleChanged,
    StaffDeactivated,
    StaffReactivated,
    FanvueUuidChanged,
    AgencyCreated,
    CreatorConnected,
    CreatorReconnected,
    CreatorConnectFailed,
    CreatorDisconnected,
    CreatorPurged,
    CreatorAssigned,
    CreatorUnassigned,
    ReconcileRequested,
    WebhookRetried,
    /// One agency setting changed (one entry per setting, old → new).
    AgencySettingChanged,
    SaleReassigned,
    SaleReassignmentReverted,
    /// A CSV download (which one and its filters are in the entry's detail).
    DataExported,
    /// A chat claimed by someone else was taken over (the previous owner is
    /// in the detail).
    ClaimTakenOver,
    /// A claim ended by its owner or a manager.
    ClaimReleased,
    /// A manager gave a chat's claim to someone.
    ClaimReassigned,
    /// A note about a fan written, edited or deleted (the fan is the target).
    FanNoteCreated,
    FanNoteUpdated,
    FanNoteDeleted,
    /// The agency's tag set changed (the tag is the target).
    TagCreated,
    TagUpdated,
    TagDeleted,
    /// A tag put on or taken off a fan (the fan is the target).
    FanTagged,
    FanUntagged,
    /// A canned reply (snippet) saved, changed or deleted; its scope
    /// (agency or personal) and title are in the detail.
    CannedReplyCreated,
    CannedReplyUpdated,
    CannedReplyDeleted,
    /// A fan put on or taken off one of the creator's Fanvue custom lists.
    FanListAdded,
    FanListRemoved,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::LoginSucceeded => "login.succeeded",
            AuditAction::LoginFailed => "login.failed",
            AuditAction::LoginThrottled => "login.throttled",
            AuditAction::Logout => "logout",
            AuditAction::PasswordChanged => "password.changed",
            AuditAction::StaffInvited => "staff.invited",
            AuditAction::InviteRevoked => "invite.revoked",
            AuditAction::InviteAccepted => "invite.accepted",
            AuditAction::RoleChanged => "staff.role_changed",
            AuditAction::StaffDeactivated => "staff.deactivated",
            AuditAction::StaffReactivated => "staff.reactivated",
            AuditAction::FanvueUuidChanged => "staff.fanvue_uuid_changed",
            AuditAction::AgencyCreated => "agency.created",
            AuditAction::CreatorConnected => "creator.connected",
            AuditAction::CreatorReconnected => "creator.reconnected",
            AuditAction::CreatorConnectFailed => "creator.connect_failed",
            AuditAction::CreatorDisconnected => "creator.disconnected",
            AuditAction::CreatorPurged => "creator.purged",
            AuditAction::CreatorAssigned => "creator.assigned",
            AuditAction::CreatorUnassigned => "creator.unassigned",
            AuditAction::ReconcileRequested => "sync.reconcile_requested",
            AuditAction::WebhookRetried => "webhook.retried",
            AuditAction::AgencySettingChanged => "agency.setting_changed",
            AuditAction::SaleReassigned => "sale.reassigned",
            AuditAction::SaleReassignmentReverted => "sale.reassignment_reverted",
            AuditAction::DataExported => "data.exported",
            AuditAction::ClaimTakenOver => "claim.taken_over",
            AuditAction::ClaimReleased => "claim.released",
            AuditAction::ClaimReassigned => "claim.reassigned",
            AuditAction::FanNoteCreated => "fan_note.created",
            AuditAction::FanNoteUpdated => "fan_note.updated",
            AuditAction::FanNoteDeleted => "fan_note.deleted",
            AuditAction::TagCreated => "tag.created",
            AuditAction::TagUpdated => "tag.updated",
            AuditAction::TagDeleted => "tag.deleted",
            AuditAction::FanTagged => "fan.tagged",
            AuditAction::FanUntagged => "fan.untagged",
            AuditAction::CannedReplyCreated => "canned_reply.created",
            AuditAction::CannedReplyUpdated => "canned_reply.updated",
            AuditAction::CannedReplyDeleted => "canned_reply.deleted",
            AuditAction::FanListAdded => "fan_list.added",
            AuditAction::FanListRemoved => "fan_list.removed",
        }
    }
}
