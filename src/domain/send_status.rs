//! Where a ledger row (`outbound_sends.status`) is: `pending` from the
//! commit before the API call, then `sent`, `failed` (Fanvue definitely did
//! not send it) or `unknown` (the request may have reached Fanvue; reconcile
//! decides). See DESIGN §11.

use super::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    Pending,
    Sent,
    Failed,
    Unknown,
}

impl SendStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SendStatus::Pending => "pending",
            SendStatus::Sent => "sent",
            SendStatus::Failed => "failed",
            SendStatus::Unknown => "unknown",
        }
    }
}

impl TryFrom<String> for SendStatus {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "pending" => Ok(SendStatus::Pending),
            "sent" => Ok(SendStatus::Sent),
            "failed" => Ok(SendStatus::Failed),
            "unknown" => Ok(SendStatus::Unknown),
            other => Err(ParseError::new(format!("unknown send status {other}"))),
        }
    }
}
