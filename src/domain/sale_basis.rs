//! Why a sale is credited the way it is (DESIGN §6). The database computes
//! the basis (`sales.basis`, migration `…14_sales_ledger.sql`); this type
//! only names and explains the stored strings.

use super::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleBasis {
    /// Sent through Switchboard: the staff member who sent it.
    Ledger,
    /// The staff member mapped to the message's `sentByUserId`.
    SentByUserId,
    /// No `sentByUserId`: the creator sent it; nobody is credited.
    CreatorDirect,
    /// A `sentByUserId` no staff member carries yet.
    UnmappedTeamMember,
    /// A mass message sent outside Switchboard: one line, never spread.
    MassMessage,
    /// A tip naming a message: that message's sender.
    TippedMessage,
    /// A tip credited to the last human reply within the agency's window.
    WindowRule,
    /// Nobody could be credited (or the message is not mirrored yet).
    Unattributed,
    /// Creator revenue from the earnings feed (subscriptions, renewals…).
    NonChat,
    /// A manager reassigned the sale.
    Manual,
}

impl SaleBasis {
    pub const ALL: [SaleBasis; 10] = [
        SaleBasis::Ledger,
        SaleBasis::SentByUserId,
        SaleBasis::CreatorDirect,
        SaleBasis::UnmappedTeamMember,
        SaleBasis::MassMessage,
        SaleBasis::TippedMessage,
        SaleBasis::WindowRule,
        SaleBasis::Unattributed,
        SaleBasis::NonChat,
        SaleBasis::Manual,
    ];

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| ParseError::new("unknown sale basis"))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SaleBasis::Ledger => "ledger",
            SaleBasis::SentByUserId => "sent_by_user_id",
            SaleBasis::CreatorDirect => "creator_direct",
            SaleBasis::UnmappedTeamMember => "unmapped_team_member",
            SaleBasis::MassMessage => "mass_message",
            SaleBasis::TippedMessage => "tipped_message",
            SaleBasis::WindowRule => "window_rule",
            SaleBasis::Unattributed => "unattributed",
            SaleBasis::NonChat => "non_chat",
            SaleBasis::Manual => "manual",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SaleBasis::Ledger => "Sent through Switchboard",
            SaleBasis::SentByUserId => "Fanvue team member",
            SaleBasis::CreatorDirect => "Creator (direct)",
            SaleBasis::UnmappedTeamMember => "Unmapped team member",
            SaleBasis::MassMessage => "Mass message",
            SaleBasis::TippedMessage => "Tipped message",
            SaleBasis::WindowRule => "Last reply before the tip",
            SaleBasis::Unattributed => "Unattributed",
            SaleBasis::NonChat => "Non-chat revenue",
            SaleBasis::Manual => "Reassigned by a manager",
        }
    }

    /// The label of a stored basis string (an unknown one is shown as is).
    pub fn label_of(s: &str) -> &str {
        Self::parse(s).map(Self::label).unwrap_or(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_basis_round_trips() {
        for b in SaleBasis::ALL {
            assert_eq!(SaleBasis::parse(b.as_str()).unwrap(), b);
        }
        assert!(SaleBasis::parse("spread").is_err());
        assert_eq!(
            SaleBasis::label_of("window_rule"),
            "Last reply before the tip"
        );
    }
}
