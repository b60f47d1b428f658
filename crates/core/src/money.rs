//! Money as integer minor units plus an ISO 4217 currency. Never floats.
//!
//! The number of minor-unit digits (the exponent) comes from the currency: JPY has none,
//! NZD two, KWD three. Amounts parse from and print to exact decimal strings, which is how
//! Shopify and the partners carry them on the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO 4217 alphabetic currency code, upper-case ASCII.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// Currencies whose minor unit is not the usual two digits.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
const THREE_DECIMAL: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

impl Currency {
    pub const NZD: Currency = Currency(*b"NZD");
    pub const AUD: Currency = Currency(*b"AUD");
    pub const USD: Currency = Currency(*b"USD");
    pub const CAD: Currency = Currency(*b"CAD");
    pub const GBP: Currency = Currency(*b"GBP");
    pub const EUR: Currency = Currency(*b"EUR");
    pub const JPY: Currency = Currency(*b"JPY");
    pub const KWD: Currency = Currency(*b"KWD");

    pub fn code(&self) -> &str {
        // Constructed only from validated upper-case ASCII.
        std::str::from_utf8(&self.0).expect("currency code is ASCII")
    }

    /// Digits after the decimal point in this currency's minor unit.
    pub fn exponent(&self) -> u32 {
        let code = self.code();
        if ZERO_DECIMAL.contains(&code) {
            0
        } else if THREE_DECIMAL.contains(&code) {
            3
        } else {
            2
        }
    }

    /// A currency code as a person types it in a setting: checked against the ISO 4217 list
    /// (`FromStr` takes any three letters, as data from a shop may carry a code newer than
    /// our list).
    pub fn from_input(input: &str) -> Result<Currency, MoneyError> {
        let code = input.trim().to_ascii_uppercase();
        match iso_currency::Currency::from_code(&code) {
            Some(_) => code.parse(),
            None => Err(MoneyError::BadCurrency(input.trim().to_string())),
        }
    }

    fn scale(&self) -> i64 {
        10_i64.pow(self.exponent())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("'{0}' is not an ISO 4217 currency code (three letters, e.g. NZD)")]
    BadCurrency(String),
    #[error("'{amount}' is not a valid {currency} amount")]
    BadAmount { amount: String, currency: String },
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(String, String),
    #[error("amount overflows")]
    Overflow,
    #[error("cannot split an amount over weights that are all zero or negative")]
    NoWeights,
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.trim().as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::BadCurrency(s.to_string()));
        }
        Ok(Currency([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency's minor units (cents, yen, fils).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
pub struct Money {
    /// JSON numbers are exact up to 2^53 minor units, far beyond any parcel's value.
    #[ts(type = "number")]
    pub minor: i64,
    #[ts(type = "string")]
    pub currency: Currency,
}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    /// Parses an exact decimal string ("12.5", "-3.10", "1000") in `currency`. More fraction
    /// digits than the currency has are refused unless they are zeros: rounding money silently
    /// is how cents go missing.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let bad = || MoneyError::BadAmount {
            amount: amount.to_string(),
            currency: currency.to_string(),
        };
        let s = amount.trim();
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let exp = currency.exponent() as usize;
        let (kept, dropped) = frac_part.split_at(frac_part.len().min(exp));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(bad());
        }
        let mut minor: i64 = 0;
        for b in int_part.bytes().chain(kept.bytes()) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        for _ in kept.len()..exp {
            minor = minor.checked_mul(10).ok_or(MoneyError::Overflow)?;
        }
        Ok(Money::new(if negative { -minor } else { minor }, currency))
    }

    /// The exact decimal string, e.g. "12.50" for 1250 NZD, "1000" for 1000 JPY.
    pub fn to_decimal_string(&self) -> String {
        let exp = self.currency.exponent() as usize;
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let scale = self.currency.scale() as u64;
        format!("{sign}{}.{:0exp$}", abs / scale, abs % scale)
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(
                self.currency.to_string(),
                other.currency.to_string(),
            ))
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    pub fn checked_mul(self, n: i64) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_mul(n).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Splits this amount pro rata over `weights` so that the parts add up to the whole
    /// exactly, in whole minor units (whole yen for JPY).
    ///
    /// Each part first gets the floor of its exact share; the minor units left over go one
    /// each to the parts with the largest fractional remainders, ties to the lower index.
    /// The result depends only on the inputs, so every hub splits a discount the same way.
    /// A zero weight always gets zero. A negative amount is split as its absolute value and
    /// negated, so `split(-x) == -split(x)` part by part.
    pub fn allocate(self, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
        let total_weight: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        if total_weight == 0 {
            return Err(MoneyError::NoWeights);
        }
        let amount = u128::from(self.minor.unsigned_abs());
        let mut parts: Vec<u128> = Vec::with_capacity(weights.len());
        let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
        for (index, &weight) in weights.iter().enumerate() {
            // amount < 2^64 and weight < 2^64, so the product fits in u128.
            let exact = amount * u128::from(weight);
            parts.push(exact / total_weight);
            remainders.push((exact % total_weight, index));
        }
        let allocated: u128 = parts.iter().sum();
        let left_over = (amount - allocated) as usize;
        // Largest remainder first; equal remainders go to the earlier part.
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, index) in remainders.iter().take(left_over) {
            parts[index] += 1;
        }
        let negative = self.minor < 0;
        parts
            .into_iter()
            .map(|part| {
                // Every part is at most |self.minor|, which came from an i64.
                let magnitude = i64::try_from(part).map_err(|_| MoneyError::Overflow)?;
                let minor = if negative {
                    magnitude.checked_neg().ok_or(MoneyError::Overflow)?
                } else {
                    magnitude
                };
                Ok(Money::new(minor, self.currency))
            })
            .collect()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_by_currency_exponent() {
        let nzd = Money::parse("12.5", Currency::NZD).unwrap();
        assert_eq!(nzd.minor, 1250);
        assert_eq!(nzd.to_decimal_string(), "12.50");
        let jpy = Money::parse("1500", Currency::JPY).unwrap();
        assert_eq!(jpy.minor, 1500);
        assert_eq!(jpy.to_decimal_string(), "1500");
        let kwd = Money::parse("1.234", Currency::KWD).unwrap();
        assert_eq!(kwd.minor, 1234);
        assert_eq!(Money::parse("-0.05", Currency::USD).unwrap().minor, -5);
        assert_eq!(Money::parse("3.100", Currency::USD).unwrap().minor, 310);
    }

    #[test]
    fn refuses_what_would_need_rounding_or_is_not_a_number() {
        assert!(Money::parse("1.234", Currency::USD).is_err());
        assert!(Money::parse("1.5", Currency::JPY).is_err());
        for bad in ["", ".", "abc", "1,00", "1.2.3", "--1", "1e3", " - 1"] {
            assert!(Money::parse(bad, Currency::USD).is_err(), "{bad:?}");
        }
        assert_eq!(
            Money::parse("99999999999999999999", Currency::USD),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn refuses_mixed_currencies() {
        let a = Money::new(100, Currency::NZD);
        let b = Money::new(100, Currency::AUD);
        assert!(matches!(
            a.checked_add(b),
            Err(MoneyError::CurrencyMismatch(..))
        ));
    }

    #[test]
    fn currency_codes_validate_and_serialize_as_strings() {
        assert_eq!("nzd".parse::<Currency>().unwrap(), Currency::NZD);
        assert!("NZ".parse::<Currency>().is_err());
        assert!("N1D".parse::<Currency>().is_err());
        let json = serde_json::to_string(&Money::new(995, Currency::NZD)).unwrap();
        assert_eq!(json, r#"{"minor":995,"currency":"NZD"}"#);
        assert!(serde_json::from_str::<Currency>(r#""XXXX""#).is_err());
    }

    #[test]
    fn allocate_gives_left_over_units_to_largest_remainders_then_lowest_index() {
        let parts = Money::new(100, Currency::NZD).allocate(&[1, 1, 1]).unwrap();
        assert_eq!(
            parts.iter().map(|m| m.minor).collect::<Vec<_>>(),
            [34, 33, 33]
        );
        // 1000 yen over 1:2 → 333.33 and 666.66: the second has the larger remainder.
        let parts = Money::new(1000, Currency::JPY).allocate(&[1, 2]).unwrap();
        assert_eq!(
            parts.iter().map(|m| m.minor).collect::<Vec<_>>(),
            [333, 667]
        );
        let parts = Money::new(-100, Currency::NZD)
            .allocate(&[1, 1, 1])
            .unwrap();
        assert_eq!(
            parts.iter().map(|m| m.minor).collect::<Vec<_>>(),
            [-34, -33, -33]
        );
        assert_eq!(
            Money::new(5, Currency::NZD).allocate(&[0, 0]),
            Err(MoneyError::NoWeights)
        );
        assert_eq!(
            Money::new(5, Currency::NZD).allocate(&[]),
            Err(MoneyError::NoWeights)
        );
    }

    proptest! {
        #[test]
        fn allocated_parts_sum_to_the_whole_and_stay_within_one_unit_of_the_exact_share(
            minor in -1_000_000_000_000i64..1_000_000_000_000i64,
            weights in prop::collection::vec(0u64..1_000_000, 1..20),
            code in prop::sample::select(vec!["NZD", "JPY", "KWD"]),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let currency: Currency = code.parse().unwrap();
            let whole = Money::new(minor, currency);
            let parts = whole.allocate(&weights).unwrap();
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().map(|p| p.minor).sum::<i64>(), minor);
            let total_weight: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            for (part, &weight) in parts.iter().zip(&weights) {
                prop_assert_eq!(part.currency, currency);
                let exact_times_weight = i128::from(minor) * i128::from(weight);
                let deviation = (i128::from(part.minor) * total_weight - exact_times_weight).abs();
                prop_assert!(deviation < total_weight, "part {} strays a unit or more", part.minor);
                if weight == 0 {
                    prop_assert_eq!(part.minor, 0);
                }
            }
            // Same inputs, same split.
            prop_assert_eq!(whole.allocate(&weights).unwrap(), parts);
        }

        #[test]
        fn decimal_round_trip(minor in -1_000_000_000_000i64..1_000_000_000_000i64,
                              code in prop::sample::select(vec!["NZD", "JPY", "KWD", "USD"])) {
            let currency: Currency = code.parse().unwrap();
            let m = Money::new(minor, currency);
            prop_assert_eq!(Money::parse(&m.to_decimal_string(), currency).unwrap(), m);
        }
    }
}
