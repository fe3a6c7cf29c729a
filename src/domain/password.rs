//! Rules for a password a person chooses (NIST 800-63B style: length over
//! composition rules). Hashing lives in `credentials::password`.

use secrecy::{ExposeSecret, SecretString};

use super::ParseError;

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// A password that satisfies the rules; the text stays wrapped in a secret.
pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn parse(raw: SecretString) -> Result<Self, ParseError> {
        let n = raw.expose_secret().chars().count();
        if n < PASSWORD_MIN_CHARS {
            return Err(ParseError::new(format!(
                "Use at least {PASSWORD_MIN_CHARS} characters; a short phrase works well."
            )));
        }
        if n > PASSWORD_MAX_CHARS {
            return Err(ParseError::new(format!(
                "Use at most {PASSWORD_MAX_CHARS} characters."
            )));
        }
        if raw.expose_secret().trim().is_empty() {
            return Err(ParseError::new("The password cannot be only spaces."));
        }
        Ok(Self(raw))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// Why a new password, typed twice, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordChoiceError {
    /// It breaks a rule; the message says which.
    #[error("{0}")]
    Rules(ParseError),
    /// The confirmation differs from it.
    #[error("The two passwords do not match.")]
    Mismatch,
}

impl NewPassword {
    /// A new password and its confirmation: the password must satisfy the
    /// rules, and the confirmation must be the same text.
    pub fn parse_confirmed(
        raw: SecretString,
        confirmation: &SecretString,
    ) -> Result<Self, PasswordChoiceError> {
        let p = Self::parse(raw).map_err(PasswordChoiceError::Rules)?;
        if p.0.expose_secret() != confirmation.expose_secret() {
            return Err(PasswordChoiceError::Mismatch);
        }
        Ok(p)
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert!(NewPassword::parse("short".into()).is_err());
        assert!(NewPassword::parse(" ".repeat(20).into()).is_err());
        assert!(NewPassword::parse("x".repeat(129).into()).is_err());
        assert!(NewPassword::parse("correct horse battery".into()).is_ok());
        assert_eq!(
            format!(
                "{:?}",
                NewPassword::parse("correct horse battery".into()).unwrap()
            ),
            "NewPassword([REDACTED])"
        );
    }

    #[test]
    fn confirmation_must_match_a_valid_password() {
        let ok = "correct horse battery";
        assert!(NewPassword::parse_confirmed(ok.into(), &ok.into()).is_ok());
        assert_eq!(
            NewPassword::parse_confirmed(ok.into(), &"correct horse battery!".into()).unwrap_err(),
            PasswordChoiceError::Mismatch
        );
        // The rules are reported first, even when the two also differ.
        assert!(matches!(
            NewPassword::parse_confirmed("short".into(), &"other".into()),
            Err(PasswordChoiceError::Rules(_))
        ));
    }
}
