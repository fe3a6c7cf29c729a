//! Domain types with no I/O: identifiers, emails, names, roles, password
//! rules, agency settings and time zones, creator statuses, audit actions, message kinds and sources, sale bases, and
//! webhook event types. Values are parsed once at the
//! edge (forms, CLI, database rows) and the rest of the code only ever sees
//! the parsed types.

mod agency_settings;
mod audit_action;
mod creator_status;
mod email;
mod fan_labels;
mod field_errors;
mod ids;
mod message_kind;
mod message_source;
mod money;
mod names;
mod password;
mod period;
mod role;
mod sale_basis;
mod send_status;
mod time_zone;
mod webhook_event;

pub use agency_settings::{MinPpvPrice, PlatformFee, TipWindow};
pub use audit_action::AuditAction;
pub use creator_status::CreatorStatus;
pub use email::Email;
pub use fan_labels::{NOTE_MAX_CHARS, NoteBody, TAG_NAME_MAX_CHARS, TagColour, TagName};
pub use field_errors::FieldErrors;
pub use ids::{
    AgencyId, CreatorId, FanvueUserUuid, InviteId, NoteId, SaleId, StaffId, TagId, WebhookEventId,
};
pub use message_kind::MessageKind;
pub use message_source::MessageSource;
pub use money::{Cents, group_digits};
pub use names::{AgencyName, DisplayName};
pub use password::{NewPassword, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, PasswordChoiceError};
pub use period::{Period, PeriodKind};
pub use role::Role;
pub use sale_basis::SaleBasis;
pub use send_status::SendStatus;
pub use time_zone::AgencyZone;
pub use webhook_event::WebhookEventType;

/// Why a value could not be parsed; the message is safe to show to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}
