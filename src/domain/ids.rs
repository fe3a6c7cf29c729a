//! Typed identifiers, so an agency id can never be passed where a staff id is
//! expected (and vice versa) in store functions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ParseError;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7 keeps B-tree inserts local).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| ParseError::new(concat!("not a valid ", stringify!($name))))
            }
        }
    };
}

uuid_id!(
    /// A tenant.
    AgencyId
);
uuid_id!(
    /// A row of the sales ledger.
    SaleId
);
uuid_id!(
    /// A member of an agency's staff.
    StaffId
);
uuid_id!(
    /// A pending or used staff invitation.
    InviteId
);

uuid_id!(
    /// A connected (or once connected) Fanvue creator.
    CreatorId
);

/// A Fanvue user uuid of a team member; `sentByUserId` on messages maps to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct FanvueUserUuid(Uuid);

impl FanvueUserUuid {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        // Fanvue uses hyphenated UUIDs; accept only that canonical form so a
        // typo such as a pasted name or a truncated id is caught.
        if s.len() != 36 {
            return Err(ParseError::new(
                "Enter the team member's Fanvue user UUID, like 3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c.",
            ));
        }
        Uuid::parse_str(s).map(Self).map_err(|_| {
            ParseError::new("That is not a valid UUID (expected 8-4-4-4-12 hexadecimal digits).")
        })
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for FanvueUserUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored webhook delivery (`webhook_events.id`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct WebhookEventId(i64);

impl WebhookEventId {
    pub fn as_i64(&self) -> i64 {
        self.0
    }
}

impl fmt::Display for WebhookEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for WebhookEventId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Self)
            .ok_or_else(|| ParseError::new("not a valid webhook event id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fanvue_uuid_accepts_hyphenated_uuid_only() {
        let ok = FanvueUserUuid::parse(" 3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c ").unwrap();
        assert_eq!(ok.to_string(), "3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5b6c");
        assert!(FanvueUserUuid::parse("3f2b8c1e9d4a4e7b8a1c0d2e3f4a5b6c").is_err());
        assert!(FanvueUserUuid::parse("not-a-uuid").is_err());
        assert!(FanvueUserUuid::parse("3f2b8c1e-9d4a-4e7b-8a1c-0d2e3f4a5bzz").is_err());
    }

    #[test]
    fn ids_round_trip_through_strings() {
        let id = StaffId::new();
        assert_eq!(id.to_string().parse::<StaffId>().unwrap(), id);
        assert!("42".parse::<AgencyId>().is_err());
    }
}

uuid_id!(
    /// A staff note about a fan (`fan_notes`).
    NoteId
);

uuid_id!(
    /// One of an agency's fan tags (`tags`).
    TagId
);
