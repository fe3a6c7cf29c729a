//! The agency's settings as values: the platform fee used for net
//! estimates, the tip-attribution window and the lowest PPV price a send may
//! carry (the time zone is `AgencyZone`). Each parses what an admin types
//! and holds only values the database's CHECK constraints also allow.

use std::fmt;

use super::{Cents, ParseError};

/// The platform's cut of gross revenue, in basis points (2000 = 20 %):
/// net estimates are gross minus this when Fanvue's earnings feed has not
/// given the real net yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformFee(i32);

impl PlatformFee {
    pub const DEFAULT: PlatformFee = PlatformFee(2000);
    pub const MAX_BPS: i32 = 10_000;

    /// A percentage with at most two decimals, optionally followed by `%`:
    /// "20", "20.5", "12.25 %".
    pub fn parse_percent(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        let s = s.strip_suffix('%').unwrap_or(s).trim();
        let bad = || ParseError::new("Enter the fee as a percentage like 20 or 12.5.");
        if s.is_empty() {
            return Err(ParseError::new("Enter the platform fee, for example 20."));
        }
        if s.starts_with('-') {
            return Err(ParseError::new("The fee cannot be negative."));
        }
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || whole.len() > 3
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        if frac.len() > 2 {
            return Err(ParseError::new(
                "The fee can have at most two decimals (e.g. 12.25).",
            ));
        }
        let whole: i32 = whole.parse().map_err(|_| bad())?;
        let frac: i32 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i32>().map_err(|_| bad())? * 10,
            _ => frac.parse().map_err(|_| bad())?,
        };
        let bps = whole * 100 + frac;
        if bps > Self::MAX_BPS {
            return Err(ParseError::new("The fee can be at most 100 %."));
        }
        Ok(Self(bps))
    }

    /// A stored value (the column's CHECK keeps it in 0–10000).
    pub fn from_bps(bps: i32) -> Self {
        Self(bps.clamp(0, Self::MAX_BPS))
    }

    pub fn bps(self) -> i32 {
        self.0
    }

    /// The estimated net of `gross`: gross minus the fee, rounded to the
    /// nearest cent (halves away from zero, so refunds mirror sales).
    pub fn net_of(self, gross: Cents) -> Cents {
        let num = i128::from(gross.get()) * i128::from(Self::MAX_BPS - self.0);
        let den = i128::from(Self::MAX_BPS);
        let rounded = if num >= 0 {
            (num + den / 2) / den
        } else {
            (num - den / 2) / den
        };
        // |rounded| ≤ |gross|, so it fits.
        Cents::new(rounded as i64)
    }
}

impl fmt::Display for PlatformFee {
    /// "20", "12.5", "12.25": the percentage as the form shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 100, self.0 % 100);
        match frac {
            0 => write!(f, "{whole}"),
            _ if frac % 10 == 0 => write!(f, "{whole}.{}", frac / 10),
            _ => write!(f, "{whole}.{frac:02}"),
        }
    }
}

/// How long before a tip the last human outbound message in its chat may
/// be for the window rule to credit its sender; 0 turns the rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TipWindow(i32);

impl TipWindow {
    pub const DEFAULT: TipWindow = TipWindow(24 * 60);
    /// A week: beyond that "the last message before the tip" says nothing.
    pub const MAX_MINUTES: i32 = 7 * 24 * 60;

    /// Whole minutes.
    pub fn parse_minutes(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ParseError::new("Enter the window in minutes, e.g. 1440."));
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 6 {
            return Err(ParseError::new(
                "Enter the window as a whole number of minutes, e.g. 1440 for 24 hours.",
            ));
        }
        let m: i32 = s
            .parse()
            .map_err(|_| ParseError::new("Enter a whole number of minutes."))?;
        if m > Self::MAX_MINUTES {
            return Err(ParseError::new(format!(
                "The window can be at most {} minutes (7 days).",
                Self::MAX_MINUTES
            )));
        }
        Ok(Self(m))
    }

    /// A stored value (the column's CHECK keeps it in range).
    pub fn from_minutes(m: i32) -> Self {
        Self(m.clamp(0, Self::MAX_MINUTES))
    }

    pub fn minutes(self) -> i32 {
        self.0
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.0))
    }

    /// "24 h", "90 min", "off".
    pub fn label(self) -> String {
        match self.0 {
            0 => "off".to_owned(),
            m if m % 60 == 0 => format!("{} h", m / 60),
            m => format!("{m} min"),
        }
    }
}

/// The lowest price a PPV sent through Switchboard may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinPpvPrice(Cents);

impl MinPpvPrice {
    /// Fanvue's documentation gives 200 cents in one place and 300 in
    /// another; 300 is the safe default, 200 the lowest an agency may set.
    pub const DEFAULT: MinPpvPrice = MinPpvPrice(Cents(300));
    pub const FLOOR: Cents = Cents(200);
    pub const CEILING: Cents = Cents(100_000);

    pub fn parse_form(raw: &str) -> Result<Self, ParseError> {
        let c = Cents::parse_form(raw)?
            .ok_or_else(|| ParseError::new("Enter the minimum price, for example 3.00."))?;
        if c < Self::FLOOR {
            return Err(ParseError::new(format!(
                "The minimum can be no lower than {} (Fanvue refuses cheaper PPVs).",
                Self::FLOOR
            )));
        }
        if c > Self::CEILING {
            return Err(ParseError::new(format!(
                "The minimum can be at most {}.",
                Self::CEILING
            )));
        }
        Ok(Self(c))
    }

    /// A stored value (the column's CHECK keeps it in range).
    pub fn from_cents(c: i64) -> Self {
        Self(Cents::new(c.clamp(Self::FLOOR.get(), Self::CEILING.get())))
    }

    pub fn cents(self) -> Cents {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_percentages_parse_to_basis_points() {
        let p = |s| PlatformFee::parse_percent(s).map(PlatformFee::bps);
        assert_eq!(p("20"), Ok(2000));
        assert_eq!(p(" 12.5 % "), Ok(1250));
        assert_eq!(p("12.25"), Ok(1225));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("100"), Ok(10_000));
        for bad in ["", "-1", "100.01", "abc", "1.234", ".5", "1e2", "2000"] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(PlatformFee::from_bps(1250).to_string(), "12.5");
        assert_eq!(PlatformFee::from_bps(1225).to_string(), "12.25");
        assert_eq!(PlatformFee::DEFAULT.to_string(), "20");
    }

    #[test]
    fn net_estimates_round_to_the_cent_symmetrically() {
        let f = PlatformFee::DEFAULT;
        assert_eq!(f.net_of(Cents(1000)), Cents(800));
        // 333 × 0.8 = 266.4 → 266; 1 × 0.8 → 1; 3 × 0.875 = 2.625 → 3.
        assert_eq!(f.net_of(Cents(333)), Cents(266));
        assert_eq!(f.net_of(Cents(1)), Cents(1));
        assert_eq!(PlatformFee::from_bps(1250).net_of(Cents(3)), Cents(3));
        assert_eq!(f.net_of(Cents(-333)), Cents(-266));
        assert_eq!(PlatformFee::from_bps(10_000).net_of(Cents(999)), Cents(0));
    }

    #[test]
    fn tip_windows_are_whole_minutes_up_to_a_week() {
        let p = |s| TipWindow::parse_minutes(s).map(TipWindow::minutes);
        assert_eq!(p("1440"), Ok(1440));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("10080"), Ok(10080));
        for bad in ["", "10081", "-5", "1.5", "24h", "9999999"] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(TipWindow::DEFAULT.label(), "24 h");
        assert_eq!(TipWindow::from_minutes(90).label(), "90 min");
        assert_eq!(TipWindow::from_minutes(0).label(), "off");
    }

    #[test]
    fn minimum_ppv_prices_stay_within_fanvues_range() {
        assert_eq!(
            MinPpvPrice::parse_form("5").unwrap().cents(),
            Cents::new(500)
        );
        assert_eq!(
            MinPpvPrice::parse_form("$2.00").unwrap().cents(),
            Cents::new(200)
        );
        for bad in ["", "1.99", "1000.01", "abc", "-3"] {
            assert!(MinPpvPrice::parse_form(bad).is_err(), "{bad:?} accepted");
        }
    }
}
