//! Money is integer cents end to end; this is the one place that turns
//! cents into text for people (`$12.00`) and what a person types into a
//! price field ("12.50", "12", "$12.5") into cents. Never a float anywhere.
//! Fanvue prices are USD cents.

use std::fmt;

use super::ParseError;

/// An amount in (US) cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub i64);

/// The largest price a form accepts: far above any real PPV, and far from
/// overflowing anything downstream.
const MAX_CENTS: i64 = 100_000_000;

impl Cents {
    pub fn new(cents: i64) -> Self {
        Self(cents)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Parses a decimal amount in whole currency units with at most two
    /// decimals. Empty input is not a price (`None`).
    pub fn parse_form(input: &str) -> Result<Option<Self>, ParseError> {
        let s = input.trim();
        let s = s.strip_prefix('$').unwrap_or(s).trim();
        if s.is_empty() {
            return Ok(None);
        }
        let bad = || ParseError::new("Enter the price as an amount like 12.50.");
        if s.starts_with('-') {
            return Err(ParseError::new("The price cannot be negative."));
        }
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if frac.len() > 2 {
            return Err(ParseError::new(
                "The price can have at most two decimals (cents).",
            ));
        }
        let too_big = || ParseError::new("That price is too high.");
        if whole.len() > 9 {
            return Err(too_big());
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let frac: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
            _ => frac.parse().map_err(|_| bad())?,
        };
        let cents = whole * 100 + frac;
        if cents > MAX_CENTS {
            return Err(too_big());
        }
        Ok(Some(Self(cents)))
    }

    /// `12.50`: the amount as a price field shows it (no sign, no grouping).
    pub fn decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", a / 100, a % 100)
    }
}

/// `1234567` as "1,234,567" (amounts and counts alike).
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    grouped
}

/// `$1,234.50`; negative amounts as `-$1.50`.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let abs = self.0.unsigned_abs();
        let grouped = group_digits(abs / 100);
        write!(
            f,
            "{}${grouped}.{:02}",
            if neg { "-" } else { "" },
            abs % 100
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dollars_and_cents() {
        assert_eq!(Cents(0).to_string(), "$0.00");
        assert_eq!(Cents(5).to_string(), "$0.05");
        assert_eq!(Cents(500).to_string(), "$5.00");
        assert_eq!(Cents(1250).to_string(), "$12.50");
        assert_eq!(Cents(123_456).to_string(), "$1,234.56");
        assert_eq!(Cents(100_000_000).to_string(), "$1,000,000.00");
        assert_eq!(Cents(-150).to_string(), "-$1.50");
        assert_eq!(Cents(i64::MIN).to_string(), "-$92,233,720,368,547,758.08");
    }

    #[test]
    fn form_prices_parse_to_exact_cents() {
        assert_eq!(Cents::parse_form("12.50").unwrap(), Some(Cents(1250)));
        assert_eq!(Cents::parse_form(" $3 ").unwrap(), Some(Cents(300)));
        assert_eq!(Cents::parse_form("3.5").unwrap(), Some(Cents(350)));
        assert_eq!(Cents::parse_form(".99").unwrap(), Some(Cents(99)));
        assert_eq!(Cents::parse_form("10.").unwrap(), Some(Cents(1000)));
        assert_eq!(Cents::parse_form("").unwrap(), None);
        assert_eq!(Cents::parse_form("  ").unwrap(), None);
    }

    #[test]
    fn malformed_prices_say_why() {
        for bad in ["abc", "1,50", "1.2.3", ".", "1e3", "+5", "١٢"] {
            assert!(Cents::parse_form(bad).is_err(), "{bad}");
        }
        assert!(Cents::parse_form("-5").unwrap_err().0.contains("negative"));
        assert!(Cents::parse_form("1.005").unwrap_err().0.contains("two"));
        assert!(Cents::parse_form("99999999999").is_err());
        assert!(Cents::parse_form("1000001").is_err());
    }

    #[test]
    fn price_fields_show_two_decimals() {
        assert_eq!(Cents(1250).decimal(), "12.50");
        assert_eq!(Cents(5).decimal(), "0.05");
        assert_eq!(Cents(300).decimal(), "3.00");
        assert_eq!(Cents(123_456).decimal(), "1234.56");
        assert_eq!(Cents(-150).decimal(), "-1.50");
    }
}
