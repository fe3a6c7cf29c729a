//! Money is integer cents end to end; this is the one place that turns
//! cents into text for people (`$12.00`). Fanvue prices are USD cents.

use std::fmt;

/// An amount in (US) cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cents(pub i64);

impl Cents {
    pub fn get(self) -> i64 {
        self.0
    }
}

/// `$1,234.50`; negative amounts as `-$1.50`.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let abs = self.0.unsigned_abs();
        let dollars = (abs / 100).to_string();
        let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
        for (i, ch) in dollars.chars().enumerate() {
            if i > 0 && (dollars.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
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
}
