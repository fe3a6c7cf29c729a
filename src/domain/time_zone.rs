//! The agency's time zone: an IANA name (`Europe/London`, `Asia/Kathmandu`)
//! that dates are shown in and days are cut in. Parsed once from a form or a
//! row; the rest of the code formats through it and never guesses an offset.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::ParseError;

/// An IANA time zone known to the bundled tz database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgencyZone(Tz);

impl Default for AgencyZone {
    /// UTC, the default for a new agency.
    fn default() -> Self {
        Self(Tz::UTC)
    }
}

impl AgencyZone {
    pub const UTC: AgencyZone = AgencyZone(Tz::UTC);

    /// Accepts a zone name as IANA spells it, ignoring case and surrounding
    /// space (`asia/kathmandu` becomes `Asia/Kathmandu`). Offsets such as
    /// `+05:45` are refused: an offset has no DST rules, so days would be cut
    /// wrong for half the year in most places.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ParseError::new(
                "Choose a time zone, for example Europe/London.",
            ));
        }
        if let Ok(tz) = s.parse::<Tz>() {
            return Ok(Self(tz));
        }
        chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(s))
            .map(|tz| Self(*tz))
            .ok_or_else(|| {
                ParseError::new(
                    "That is not a time zone name. Use a name from the list, like Europe/London or Asia/Kathmandu.",
                )
            })
    }

    /// A stored name; an unknown one (only possible if the bundled tz
    /// database dropped a name) falls back to UTC rather than failing pages.
    pub fn from_db(name: &str) -> Self {
        Self::parse(name).unwrap_or_else(|_| {
            tracing::warn!(
                time_zone = name,
                "stored agency time zone is unknown; showing UTC"
            );
            Self::UTC
        })
    }

    /// The canonical IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    pub fn tz(self) -> Tz {
        self.0
    }

    /// `at` in this zone.
    pub fn local(self, at: DateTime<Utc>) -> DateTime<Tz> {
        self.0.from_utc_datetime(&at.naive_utc())
    }

    /// "2026-03-29 02:30 BST": date, time and the zone's abbreviation at that
    /// instant (zones without one show their offset, e.g. `+0545`).
    pub fn date_time(self, at: DateTime<Utc>) -> String {
        self.local(at).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    /// "2026-03-29": the local calendar date.
    pub fn date(self, at: DateTime<Utc>) -> String {
        self.local(at).format("%Y-%m-%d").to_string()
    }

    /// The abbreviation in force at `at` ("GMT" in winter, "BST" in summer).
    pub fn abbreviation(self, at: DateTime<Utc>) -> String {
        self.local(at).format("%Z").to_string()
    }

    /// Every zone name the form offers, sorted.
    pub fn all_names() -> impl Iterator<Item = &'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
    }
}

impl fmt::Display for AgencyZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn names_parse_case_insensitively_to_their_canonical_form() {
        assert_eq!(
            AgencyZone::parse(" asia/kathmandu ").unwrap().name(),
            "Asia/Kathmandu"
        );
        assert_eq!(AgencyZone::parse("UTC").unwrap(), AgencyZone::UTC);
        assert_eq!(AgencyZone::default(), AgencyZone::UTC);
    }

    #[test]
    fn offsets_and_nonsense_are_refused() {
        for bad in [
            "",
            "  ",
            "+05:45",
            "GMT+5:45",
            "Mars/Olympus_Mons",
            "Europe/",
        ] {
            assert!(AgencyZone::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_quarter_hour_zone_shows_its_offset() {
        let z = AgencyZone::parse("Asia/Kathmandu").unwrap();
        // 18:20 UTC is 00:05 the next day at +05:45.
        let t = at("2026-12-01T18:20:00Z");
        assert_eq!(z.date_time(t), "2026-12-02 00:05 +0545");
        assert_eq!(z.date(t), "2026-12-02");
    }

    #[test]
    fn dst_changes_the_offset_and_the_abbreviation() {
        let z = AgencyZone::parse("Europe/London").unwrap();
        // Clocks go forward at 01:00 UTC on 2026-03-29.
        assert_eq!(
            z.date_time(at("2026-03-29T00:30:00Z")),
            "2026-03-29 00:30 GMT"
        );
        assert_eq!(
            z.date_time(at("2026-03-29T01:30:00Z")),
            "2026-03-29 02:30 BST"
        );
        assert_eq!(z.abbreviation(at("2026-07-01T12:00:00Z")), "BST");
        // And back at 01:00 UTC on 2026-10-25: 01:30 local happens twice.
        assert_eq!(
            z.date_time(at("2026-10-25T00:30:00Z")),
            "2026-10-25 01:30 BST"
        );
        assert_eq!(
            z.date_time(at("2026-10-25T01:30:00Z")),
            "2026-10-25 01:30 GMT"
        );
    }

    #[test]
    fn the_list_holds_the_usual_names() {
        let names: Vec<_> = AgencyZone::all_names().collect();
        assert!(names.contains(&"Europe/London"));
        assert!(names.contains(&"Asia/Kolkata"));
        assert!(names.len() > 300);
    }
}
