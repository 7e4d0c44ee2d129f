//! Billing periods (CUR's `BILLING_PERIOD=YYYY-MM`) and ISO weeks (spend cards run
//! Monday to Sunday, UTC).

use std::fmt;

use chrono::{Datelike, Days, IsoWeek as ChronoIsoWeek, NaiveDate, Weekday};

use crate::error::ParseError;

/// A calendar month, the unit AWS bills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BillingPeriod {
    year: i32,
    month: u32,
}

impl BillingPeriod {
    pub const WHAT: &'static str = "billing period";

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let rule = "must be YYYY-MM with a month from 01 to 12";
        let (y, m) = s.split_once('-').ok_or_else(|| ParseError::new(Self::WHAT, s, rule))?;
        let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(y, 4) || !digits(m, 2) {
            return Err(ParseError::new(Self::WHAT, s, rule));
        }
        let (year, month) = (y.parse().unwrap_or(0), m.parse().unwrap_or(0));
        Self::new(year, month).ok_or_else(|| ParseError::new(Self::WHAT, s, rule))
    }

    pub fn new(year: i32, month: u32) -> Option<Self> {
        ((1..=12).contains(&month) && (1970..=9999).contains(&year)).then_some(Self { year, month })
    }

    pub fn of(date: NaiveDate) -> Self {
        Self { year: date.year(), month: date.month() }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self { year: self.year + 1, month: 1 }
        } else {
            Self { year: self.year, month: self.month + 1 }
        }
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self { year: self.year - 1, month: 12 }
        } else {
            Self { year: self.year, month: self.month - 1 }
        }
    }

    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or(NaiveDate::MIN)
    }

    pub fn days(self) -> u32 {
        self.last_day().day()
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        Self::of(date) == self
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}
impl std::str::FromStr for BillingPeriod {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}
impl TryFrom<String> for BillingPeriod {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<BillingPeriod> for String {
    fn from(p: BillingPeriod) -> String {
        p.to_string()
    }
}

/// An ISO-8601 week, `YYYY-Www`: Monday to Sunday; week 1 holds the year's first Thursday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IsoWeek {
    monday: NaiveDate,
}

impl IsoWeek {
    pub const WHAT: &'static str = "ISO week";

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let rule = "must be YYYY-Www, e.g. 2026-W05, with a week that exists in that year";
        let (y, w) = s.split_once("-W").ok_or_else(|| ParseError::new(Self::WHAT, s, rule))?;
        let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(y, 4) || !digits(w, 2) {
            return Err(ParseError::new(Self::WHAT, s, rule));
        }
        let (year, week) = (y.parse().unwrap_or(0), w.parse().unwrap_or(0));
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .map(|monday| Self { monday })
            .ok_or_else(|| ParseError::new(Self::WHAT, s, rule))
    }

    /// The week a date falls in.
    pub fn of(date: NaiveDate) -> Self {
        let back = u64::from(date.weekday().num_days_from_monday());
        Self { monday: date.checked_sub_days(Days::new(back)).unwrap_or(date) }
    }

    pub fn monday(self) -> NaiveDate {
        self.monday
    }

    pub fn sunday(self) -> NaiveDate {
        self.monday.checked_add_days(Days::new(6)).unwrap_or(self.monday)
    }

    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        self.monday.iter_days().take(7)
    }

    pub fn previous(self) -> Self {
        Self { monday: self.monday.checked_sub_days(Days::new(7)).unwrap_or(self.monday) }
    }

    pub fn next(self) -> Self {
        Self { monday: self.monday.checked_add_days(Days::new(7)).unwrap_or(self.monday) }
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        Self::of(date) == self
    }

    /// The billing periods the week touches (two when it crosses a month end).
    pub fn periods(self) -> Vec<BillingPeriod> {
        let (a, b) = (BillingPeriod::of(self.monday), BillingPeriod::of(self.sunday()));
        if a == b {
            vec![a]
        } else {
            vec![a, b]
        }
    }

    fn iso(self) -> ChronoIsoWeek {
        self.monday.iso_week()
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.iso();
        write!(f, "{:04}-W{:02}", w.year(), w.week())
    }
}
impl std::str::FromStr for IsoWeek {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}
impl TryFrom<String> for IsoWeek {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<IsoWeek> for String {
    fn from(w: IsoWeek) -> String {
        w.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn billing_periods() {
        let p = BillingPeriod::parse("2024-02").unwrap();
        assert_eq!(p.first_day(), d(2024, 2, 1));
        assert_eq!(p.last_day(), d(2024, 2, 29));
        assert_eq!(p.days(), 29);
        assert_eq!(BillingPeriod::parse("2026-12").unwrap().next().to_string(), "2027-01");
        assert_eq!(BillingPeriod::parse("2027-01").unwrap().previous().to_string(), "2026-12");
        assert_eq!(p.previous().next(), p);
        assert!(p.contains(d(2024, 2, 29)) && !p.contains(d(2024, 3, 1)));
        for bad in ["2024-13", "2024-00", "2024-1", "24-01", "2024/01", "", "2024-01-01"] {
            assert_eq!(BillingPeriod::parse(bad).unwrap_err().what, "billing period", "{bad}");
        }
    }

    #[test]
    fn iso_weeks() {
        // 2026-01-01 is a Thursday, so week 1 of 2026 starts Monday 2025-12-29.
        let w1 = IsoWeek::parse("2026-W01").unwrap();
        assert_eq!(w1.monday(), d(2025, 12, 29));
        assert_eq!(w1.sunday(), d(2026, 1, 4));
        assert_eq!(IsoWeek::of(d(2026, 1, 4)), w1);
        assert_eq!(IsoWeek::of(d(2025, 12, 29)).to_string(), "2026-W01");
        assert_eq!(w1.previous().to_string(), "2025-W52");
        assert_eq!(w1.days().count(), 7);
        // 2026 has 53 ISO weeks; 2025 does not.
        assert!(IsoWeek::parse("2026-W53").is_ok());
        assert!(IsoWeek::parse("2025-W53").is_err());
        for bad in ["2026-W00", "2026W01", "2026-w01", "2026-W1", ""] {
            assert!(IsoWeek::parse(bad).is_err(), "{bad}");
        }
    }
}

crate::error::string_schema!(BillingPeriod, "A billing period, YYYY-MM.");
crate::error::string_schema!(IsoWeek, "An ISO-8601 week, YYYY-Www (Monday to Sunday).");
