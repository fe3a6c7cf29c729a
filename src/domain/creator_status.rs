//! A creator's connection status and how pages name it. Stored as its
//! `as_str`; the database edge parses it back with `TryFrom<String>`.

use super::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatorStatus {
    Connected,
    NeedsReauth,
    Disconnected,
}

impl CreatorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CreatorStatus::Connected => "connected",
            CreatorStatus::NeedsReauth => "needs_reauth",
            CreatorStatus::Disconnected => "disconnected",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            CreatorStatus::Connected => "Connected",
            CreatorStatus::NeedsReauth => "Needs reconnect",
            CreatorStatus::Disconnected => "Disconnected",
        }
    }
}

impl TryFrom<String> for CreatorStatus {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "connected" => Ok(CreatorStatus::Connected),
            "needs_reauth" => Ok(CreatorStatus::NeedsReauth),
            "disconnected" => Ok(CreatorStatus::Disconnected),
            other => Err(ParseError::new(format!("unknown creator status {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown() {
        for s in [
            CreatorStatus::Connected,
            CreatorStatus::NeedsReauth,
            CreatorStatus::Disconnected,
        ] {
            assert_eq!(CreatorStatus::try_from(s.as_str().to_owned()), Ok(s));
        }
        assert!(CreatorStatus::try_from("paused".to_owned()).is_err());
    }
}
