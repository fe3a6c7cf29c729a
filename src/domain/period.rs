//! A dashboard period: a range of local calendar days (inclusive) in the
//! agency's time zone, chosen by name (today, 7 days, last month…) or as a
//! custom range, with the previous period of equal length it is compared
//! with. Days are dates, not instants: the store cuts them in the agency's
//! zone, so a DST day is 23 or 25 hours long and a +05:45 day starts at
//! 18:15 UTC.

use chrono::{Datelike, Days, NaiveDate};

use super::ParseError;

/// The longest custom range (a year and a day covers a leap year).
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    Today,
    Yesterday,
    Days7,
    Days30,
    ThisMonth,
    LastMonth,
    Custom,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 7] = [
        PeriodKind::Today,
        PeriodKind::Yesterday,
        PeriodKind::Days7,
        PeriodKind::Days30,
        PeriodKind::ThisMonth,
        PeriodKind::LastMonth,
        PeriodKind::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Today => "today",
            PeriodKind::Yesterday => "yesterday",
            PeriodKind::Days7 => "7d",
            PeriodKind::Days30 => "30d",
            PeriodKind::ThisMonth => "this_month",
            PeriodKind::LastMonth => "last_month",
            PeriodKind::Custom => "custom",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PeriodKind::Today => "Today",
            PeriodKind::Yesterday => "Yesterday",
            PeriodKind::Days7 => "Last 7 days",
            PeriodKind::Days30 => "Last 30 days",
            PeriodKind::ThisMonth => "This month",
            PeriodKind::LastMonth => "Last month",
            PeriodKind::Custom => "Custom",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw.trim())
            .ok_or_else(|| ParseError::new("Unknown period."))
    }
}

/// Inclusive local days `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

fn parse_date(raw: &str, what: &str) -> Result<NaiveDate, ParseError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| ParseError::new(format!("The {what} date must look like 2026-12-31.")))
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

impl Period {
    /// The period a request names, relative to `today` (the agency's local
    /// date now). No kind but a `from`/`to` pair is a custom range (the
    /// drill-down's own parameters); nothing at all is the last 30 days.
    pub fn resolve(
        kind: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, ParseError> {
        let from = from.map(str::trim).filter(|s| !s.is_empty());
        let to = to.map(str::trim).filter(|s| !s.is_empty());
        let kind = match kind.map(str::trim).filter(|s| !s.is_empty()) {
            Some(k) => PeriodKind::parse(k)?,
            None if from.is_some() || to.is_some() => PeriodKind::Custom,
            None => PeriodKind::Days30,
        };
        let back = |n: u64| today.checked_sub_days(Days::new(n)).unwrap_or(today);
        let (f, t) = match kind {
            PeriodKind::Today => (today, today),
            PeriodKind::Yesterday => (back(1), back(1)),
            PeriodKind::Days7 => (back(6), today),
            PeriodKind::Days30 => (back(29), today),
            PeriodKind::ThisMonth => (first_of_month(today), today),
            PeriodKind::LastMonth => {
                let end = first_of_month(today).pred_opt().unwrap_or(today);
                (first_of_month(end), end)
            }
            PeriodKind::Custom => {
                let f = parse_date(from.unwrap_or_default(), "start")?;
                let t = match to {
                    Some(t) => parse_date(t, "end")?,
                    None => f,
                };
                if t < f {
                    return Err(ParseError::new("The end date is before the start date."));
                }
                if (t - f).num_days() + 1 > MAX_DAYS {
                    return Err(ParseError::new(format!("Choose at most {MAX_DAYS} days.")));
                }
                (f, t)
            }
        };
        Ok(Self {
            kind,
            from: f,
            to: t,
        })
    }

    /// Days in the period.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of equal length just before this one.
    pub fn previous(&self) -> Period {
        let n = self.days() as u64;
        let to = self.from.pred_opt().unwrap_or(self.from);
        let from = self
            .from
            .checked_sub_days(Days::new(n))
            .unwrap_or(self.from);
        Period {
            kind: PeriodKind::Custom,
            from,
            to,
        }
    }

    /// Every day of the period, in order.
    pub fn each_day(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let from = self.from;
        (0..self.days() as u64).filter_map(move |i| from.checked_add_days(Days::new(i)))
    }

    /// "2026-11-02 – 2026-12-01" (one date for a single day).
    pub fn describe(&self) -> String {
        if self.from == self.to {
            self.from.format("%Y-%m-%d").to_string()
        } else {
            format!(
                "{} – {}",
                self.from.format("%Y-%m-%d"),
                self.to.format("%Y-%m-%d")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn named_periods_resolve_against_the_local_today() {
        let today = d("2026-03-10");
        let p = |k| Period::resolve(Some(k), None, None, today).unwrap();
        assert_eq!((p("today").from, p("today").to), (today, today));
        assert_eq!(p("yesterday").from, d("2026-03-09"));
        assert_eq!((p("7d").from, p("7d").days()), (d("2026-03-04"), 7));
        assert_eq!((p("30d").from, p("30d").days()), (d("2026-02-09"), 30));
        assert_eq!(p("this_month").from, d("2026-03-01"));
        let last = p("last_month");
        assert_eq!((last.from, last.to), (d("2026-02-01"), d("2026-02-28")));
        assert_eq!(
            Period::resolve(None, None, None, today).unwrap().kind,
            PeriodKind::Days30
        );
    }

    #[test]
    fn the_previous_period_has_the_same_length_and_ends_the_day_before() {
        let p = Period::resolve(Some("7d"), None, None, d("2026-03-10")).unwrap();
        let prev = p.previous();
        assert_eq!((prev.from, prev.to), (d("2026-02-25"), d("2026-03-03")));
        assert_eq!(prev.days(), 7);
    }

    #[test]
    fn custom_ranges_are_checked() {
        let today = d("2026-03-10");
        let p = Period::resolve(None, Some("2026-01-01"), Some("2026-01-31"), today).unwrap();
        assert_eq!((p.kind, p.days()), (PeriodKind::Custom, 31));
        assert!(
            Period::resolve(
                Some("custom"),
                Some("2026-02-01"),
                Some("2026-01-01"),
                today
            )
            .is_err()
        );
        assert!(Period::resolve(Some("custom"), Some("nope"), None, today).is_err());
        assert!(
            Period::resolve(
                Some("custom"),
                Some("2024-01-01"),
                Some("2026-01-01"),
                today
            )
            .is_err()
        );
        assert!(Period::resolve(Some("fortnight"), None, None, today).is_err());
        assert_eq!(p.each_day().count(), 31);
    }
}
