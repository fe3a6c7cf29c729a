//! A message's Fanvue `type`. Fanvue adds new values without notice, so this
//! is an open string (DESIGN invariant 6): any value read from the API is
//! kept as it came; only the values the code itself writes are named here.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageKind(String);

impl MessageKind {
    /// An ordinary one-to-one message.
    pub const SINGLE_RECIPIENT: &'static str = "SINGLE_RECIPIENT";

    /// The kind of a message whose type is not known yet (a webhook carries
    /// none); reconcile replaces it with Fanvue's own.
    pub fn single_recipient() -> Self {
        Self(Self::SINGLE_RECIPIENT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whatever Fanvue sent, unknown values included.
impl From<String> for MessageKind {
    fn from(raw: String) -> Self {
        Self(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_are_kept_as_sent() {
        let k = MessageKind::from("AUTOMATED_SOMETHING_NEW".to_owned());
        assert_eq!(k.as_str(), "AUTOMATED_SOMETHING_NEW");
        assert_eq!(MessageKind::single_recipient().as_str(), "SINGLE_RECIPIENT");
    }
}
