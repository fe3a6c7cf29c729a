//! Human-entered names: trimmed, bounded, free of control characters.
//! Escaping for HTML happens at render time, so any printable text is kept.

use std::fmt;

use super::ParseError;

/// Bidi overrides and isolates (which can make a name display reversed or
/// spoof its neighbours) and zero-width characters (which make two names
/// look the same).
pub(super) fn invisible_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

pub(super) fn clean(raw: &str, what: &str, max: usize) -> Result<String, ParseError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ParseError::new(format!("Enter a {what}.")));
    }
    if s.chars().count() > max {
        return Err(ParseError::new(format!(
            "The {what} can be at most {max} characters."
        )));
    }
    if s.chars().any(|c| c.is_control() || invisible_or_bidi(c)) {
        return Err(ParseError::new(format!(
            "The {what} contains characters that are not allowed."
        )));
    }
    Ok(s.to_owned())
}

/// How a staff member is shown to colleagues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        clean(raw, "name", 80).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An agency's name; its URL-safe slug is derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyName(String);

impl AgencyName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        clean(raw, "agency name", 120).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Lower-case ASCII words joined by `-`; never empty.
    pub fn slug(&self) -> String {
        let mut out = String::new();
        for c in self.0.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        let out = out.trim_end_matches('-').to_owned();
        if out.is_empty() {
            "agency".to_owned()
        } else {
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_bounds() {
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(81)).is_err());
        assert!(DisplayName::parse("tab\tname").is_err());
        assert_eq!(
            DisplayName::parse("  Ana Lima ").unwrap().as_str(),
            "Ana Lima"
        );
        // Markup is just text; the template escapes it.
        assert!(DisplayName::parse("<script>alert(1)</script>").is_ok());
    }

    #[test]
    fn bidi_overrides_and_zero_width_characters_are_refused() {
        for bad in [
            "Ana\u{202E}moc.live",
            "Ana\u{2066}Lima",
            "An\u{200B}a",
            "Ana\u{200D}Lima",
            "Ana\u{200F}",
            "\u{FEFF}Ana",
            "Ana\u{2060}Lima",
            "Ana\u{061C}",
        ] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DisplayName::parse("Zoë Ünal-Øster 李").is_ok());
    }

    #[test]
    fn agency_slug() {
        assert_eq!(
            AgencyName::parse("Acme & Co. Talent").unwrap().slug(),
            "acme-co-talent"
        );
        assert_eq!(AgencyName::parse("∆∆∆").unwrap().slug(), "agency");
    }
}
