//! Money: an exact decimal amount in USD.
//!
//! CUR costs carry up to 10 decimal places and must add up to the bill to the cent,
//! so amounts are `rust_decimal::Decimal`, never floats. On the wire money is a
//! decimal *string*: a JSON number would be read as a float by most clients.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::ParseError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

impl Money {
    pub const WHAT: &'static str = "money amount";
    pub const ZERO: Money = Money(Decimal::ZERO);
    /// The largest magnitude any input may carry: 10^15 dollars, a thousand
    /// times the largest cloud bill there is. Every amount that enters from
    /// outside (API bodies, imports, CUR cells, stored records) passes
    /// [`Money::parse`] or [`Money::bounded`], so sums of up to ~10^13 inputs
    /// stay inside `Decimal`'s range (7.9 × 10^28) and can never overflow.
    pub const MAX_INPUT: Money = Money(Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0));

    pub fn new(amount: Decimal) -> Self {
        Self(amount)
    }

    /// Parses a plain decimal string (`"12.34"`, `"-0.0000000123"`). Exponents,
    /// thousands separators and currency symbols are refused rather than guessed at.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let shape_ok = !t.is_empty()
            && t.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && t.matches('.').count() <= 1
            && t.trim_start_matches('-').bytes().next().is_some_and(|b| b.is_ascii_digit());
        if !shape_ok {
            return Err(ParseError::new(Self::WHAT, s, "must be a decimal number such as 12.34"));
        }
        let d = Decimal::from_str(t).map_err(|e| ParseError::new(Self::WHAT, s, format!("not representable exactly: {e}")))?;
        Self::bounded(d).map_err(|rule| ParseError::new(Self::WHAT, s, rule))
    }

    /// `amount` if its magnitude is at most [`Money::MAX_INPUT`]; otherwise the
    /// rule it broke, for the caller's error.
    pub fn bounded(amount: Decimal) -> Result<Self, String> {
        if amount.abs() > Self::MAX_INPUT.0 {
            return Err("is beyond the bound on any amount, 10^15 (1000000000000000) in magnitude".to_owned());
        }
        Ok(Self(amount))
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// Rounded to cents, half away from zero (how invoices round). Only for display
    /// and for comparisons "to the cent": sums are always taken on exact amounts.
    pub fn round_cents(self) -> Self {
        Self(self.0.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
    }

    /// The sum, held at `Decimal`'s bound instead of panicking. For views that
    /// sum stored user input: bounded inputs never get near it, and a record
    /// from before the bounds must not take a read view down for everyone.
    pub fn saturating_add(self, other: Money) -> Money {
        Self(self.0.saturating_add(other.0))
    }

    /// The amount with trailing zeros removed: the canonical wire form.
    pub fn to_canonical_string(self) -> String {
        self.0.normalize().to_string()
    }
}

impl fmt::Display for Money {
    /// Dollars to the cent, as people read money: digits grouped, the sign
    /// before the symbol (`-$1,234.50`). Width and alignment apply (`{:>12}`
    /// right-aligns a column). Machines get [`Money::to_canonical_string`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.round_cents().0;
        let digits = format!("{:.2}", c.abs());
        let (int, cents) = digits.split_once('.').unwrap_or((&digits, "00"));
        let mut grouped = String::with_capacity(int.len() + int.len() / 3);
        for (i, ch) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        let sign = if c.is_sign_negative() && !c.is_zero() { "-" } else { "" };
        f.pad(&format!("{sign}${grouped}.{cents}"))
    }
}

impl FromStr for Money {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}
impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}
impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}
impl SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        self.0 -= rhs.0;
    }
}
impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}
/// Scaling by a rate (a price per unit, a percentage): exact.
impl Mul<Decimal> for Money {
    type Output = Money;
    fn mul(self, factor: Decimal) -> Money {
        Money(self.0 * factor)
    }
}
impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}
impl<'a> Sum<&'a Money> for Money {
    fn sum<I: Iterator<Item = &'a Money>>(iter: I) -> Money {
        iter.copied().sum()
    }
}

crate::error::string_schema!(Money, "US dollars as an exact decimal string, e.g. \"12.34\"; never a JSON number.");

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_canonical_string())
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal string such as \"12.34\" (money is never a JSON number)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_plain_decimals_only() {
        assert_eq!(Money::parse("12.34").unwrap().amount(), Decimal::new(1234, 2));
        assert_eq!(Money::parse("-0.0000000123").unwrap().amount(), Decimal::new(-123, 10));
        for bad in ["", "1e5", "$5", "1,000", "abc", "1.2.3", "-", ".5", "NaN"] {
            let e = Money::parse(bad).unwrap_err();
            assert_eq!(e.what, "money amount", "{bad}");
        }
    }

    #[test]
    fn amounts_beyond_the_input_bound_are_refused_by_name() {
        assert_eq!(Money::MAX_INPUT.amount(), Decimal::from(1_000_000_000_000_000_i64));
        assert!(Money::parse("1000000000000000").is_ok());
        assert!(Money::parse("-1000000000000000").is_ok());
        for big in ["1000000000000000.01", "79228162514264337593543950335", "-5000000000000000"] {
            let e = Money::parse(big).unwrap_err();
            assert!(e.to_string().contains("10^15"), "{big}: {e}");
        }
        let e = serde_json::from_str::<Money>("\"79228162514264337593543950335\"").unwrap_err();
        assert!(e.to_string().contains("10^15"), "{e}");
    }

    #[test]
    fn serde_is_a_string_and_refuses_numbers() {
        let m: Money = serde_json::from_str("\"0.1\"").unwrap();
        assert_eq!(serde_json::to_string(&(m + m + m)).unwrap(), "\"0.3\"");
        let err = serde_json::from_str::<Money>("0.1").unwrap_err().to_string();
        assert!(err.contains("never a JSON number"), "{err}");
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(Money::parse("0.005").unwrap().round_cents(), Money::parse("0.01").unwrap());
        assert_eq!(Money::parse("-0.005").unwrap().round_cents(), Money::parse("-0.01").unwrap());
        assert_eq!(Money::parse("2.345").unwrap().to_string(), "$2.35");
        assert_eq!(Money::parse("586423.31").unwrap().to_string(), "$586,423.31");
        assert_eq!(Money::parse("-21.4").unwrap().to_string(), "-$21.40");
        assert_eq!(Money::parse("-1234567.899").unwrap().to_string(), "-$1,234,567.90");
        assert_eq!(Money::parse("-0.001").unwrap().to_string(), "$0.00", "no negative zero");
        assert_eq!(Money::parse("999.995").unwrap().to_string(), "$1,000.00");
        assert_eq!(format!("[{:>10}]", Money::parse("5").unwrap()), "[     $5.00]");
        assert_eq!(Money::parse("100").unwrap() * Decimal::new(11, 1), Money::parse("110.0").unwrap());
    }

    proptest! {
        /// Exact sums: splitting an amount into parts and adding them back loses nothing,
        /// which is what "attributed + unattributed = total" rests on.
        #[test]
        fn sums_are_exact(parts in proptest::collection::vec(-1_000_000_000_000i64..1_000_000_000_000i64, 0..200)) {
            let as_money: Vec<Money> = parts.iter().map(|p| Money::new(Decimal::new(*p, 10))).collect();
            let total: Money = as_money.iter().sum();
            let expected: i128 = parts.iter().map(|p| *p as i128).sum();
            prop_assert_eq!(total.amount(), Decimal::from_i128_with_scale(expected, 10));
            let round_trip: Money = serde_json::from_str(&serde_json::to_string(&total).unwrap()).unwrap();
            prop_assert_eq!(round_trip, total);
        }
    }
}
