//! Cell values as CUR writes them, turned into domain values.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

use crate::{ReadError, USAGE_START};

pub(crate) fn decimal(row: u64, column: &'static str, raw: &str) -> Result<Decimal, ReadError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(Decimal::ZERO);
    }
    let d = Decimal::from_str(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|e| ReadError::BadValue { row, column, value: raw.to_owned(), reason: e.to_string() })?;
    // One bound for every amount, so no sum of a file's rows can overflow.
    domain::Money::bounded(d).map_err(|rule| ReadError::BadValue { row, column, value: raw.to_owned(), reason: rule })?;
    Ok(d)
}

/// CUR's Parquet stores amounts as doubles. The decimal CUR meant is the
/// shortest decimal that round-trips to the same double (what Athena, DuckDB and
/// the CSV export print), not the double's exact binary expansion.
pub(crate) fn decimal_of_double(row: u64, column: &'static str, value: f64) -> Result<Decimal, ReadError> {
    // Fast path, same answer: below 10,000 a double's spacing is under 1e-12,
    // so if some decimal with at most 10 places rounds to `value` it is the
    // only one near it, hence the shortest. `n / 1e10` is correctly rounded
    // (both exact in f64), so equality proves that decimal rounds to `value`.
    if value.abs() < 1e4 {
        let n = (value * 1e10).round();
        if n / 1e10 == value {
            return Ok(Decimal::new(n as i64, 10));
        }
    }
    if !value.is_finite() {
        return Err(ReadError::BadValue { row, column, value: value.to_string(), reason: "not a finite number".into() });
    }
    let mut buf = ryu::Buffer::new();
    decimal(row, column, buf.format_finite(value))
}

/// CUR writes timestamps as `2026-03-02T00:00:00Z`, `2026-03-02T00:00:00.000Z` or
/// `2026-03-02 00:00:00.000`; usage days are UTC.
pub(crate) fn usage_day(row: u64, raw: &str) -> Result<NaiveDate, ReadError> {
    let t = raw.trim();
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.naive_utc().date())
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").map(|d| d.date()))
        .or_else(|_| NaiveDate::parse_from_str(t, "%Y-%m-%d"))
        .map_err(|_| ReadError::BadValue { row, column: USAGE_START, value: raw.to_owned(), reason: "not a timestamp".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_become_the_decimal_cur_meant() {
        for (f, s) in [(0.1, "0.1"), (0.0000125, "0.0000125"), (1e-10, "0.0000000001"), (-3.75, "-3.75"), (1234567.891, "1234567.891")] {
            assert_eq!(decimal_of_double(1, "c", f).unwrap(), Decimal::from_str(s).unwrap(), "{f}");
        }
        assert!(decimal_of_double(1, "c", f64::NAN).is_err());
    }

    proptest::proptest! {
        /// The fast path gives exactly what the shortest round-trip form gives.
        #[test]
        fn the_fast_path_agrees_with_the_shortest_form(units in -9_999_999_999_999i64..9_999_999_999_999, scale in 0u32..14, raw in -1e6f64..1e6f64) {
            for v in [Decimal::new(units, scale).to_string().parse::<f64>().unwrap(), raw] {
                let mut buf = ryu::Buffer::new();
                let shortest = decimal(1, "c", buf.format_finite(v)).unwrap();
                proptest::prop_assert_eq!(decimal_of_double(1, "c", v).unwrap(), shortest, "{}", v);
            }
        }
    }
}
