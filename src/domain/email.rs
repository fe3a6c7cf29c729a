//! A staff member's email address, normalised (Unicode NFC, then lower
//! case) so one address has one spelling when compared or stored.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::ParseError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Deliberately simple: one `@`, a non-empty local part, a dotted domain,
    /// no whitespace. Deliverability is proven by the invite link, not here.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().nfc().collect::<String>().to_lowercase();
        let invalid = || ParseError::new("Enter a valid email address, like name@example.com.");
        if s.is_empty() {
            return Err(ParseError::new("Enter an email address."));
        }
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(invalid());
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_and_decomposed_spellings_are_one_address() {
        let composed = Email::parse("jos\u{e9}@acme.test").unwrap();
        let decomposed = Email::parse("jose\u{301}@acme.test").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(Email::parse("JOSE\u{301}@Acme.Test").unwrap(), composed);
    }

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(
            Email::parse("  Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
            "a@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
