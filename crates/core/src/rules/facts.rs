//! The facts a rule can look at for one returned item. The hub maps its store rows into
//! `ItemFacts`; the rules engine knows nothing of storage.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::{Money, MoneyError};

/// Everything the rules may test about one item of a return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ItemFacts {
    pub return_reason: String,
    pub sub_reason: Option<String>,
    /// The order's discount as an exact fraction of its pre-discount value.
    pub order_discount: Ratio,
    pub order_discount_amount: Money,
    pub order_value: Money,
    #[ts(type = "string")]
    pub order_country: CountryCode,
    pub product_tags: Vec<String>,
    pub order_tags: Vec<String>,
    /// `None` until the item is inspected (always `None` at first scan).
    pub qc_status: Option<QcStatus>,
    pub qc_grade: Option<Grade>,
    /// Whole days from the order to the decision; the caller computes it from its clock.
    pub days_since_order: u32,
    pub item_price: Money,
    pub sku: String,
}

/// An order's discounts as the rules see them (`ItemFacts::order_discount` and
/// `order_discount_amount`): what line and order discounts took off, and its share of the
/// order's gross value (every line at its unit price and quantity). One rule, so the hub and
/// the central store decide an item the same way. `lines` are (unit price, quantity, line
/// discount) in `order_discount`'s currency.
pub fn discount_share(
    lines: impl IntoIterator<Item = (Money, u32, Money)>,
    order_discount: Money,
) -> (Ratio, Money) {
    let (gross, discounts) = lines.into_iter().fold(
        (0i64, order_discount.minor),
        |(gross, discounts), (unit, quantity, line_discount)| {
            (
                gross.saturating_add(unit.minor.saturating_mul(i64::from(quantity))),
                discounts.saturating_add(line_discount.minor),
            )
        },
    );
    (
        Ratio::new(discounts, gross.max(1)).unwrap_or(Ratio::ZERO),
        Money::new(discounts, order_discount.currency),
    )
}

/// An exact non-negative fraction `numerator / denominator` (denominator > 0), so percent
/// comparisons never go through floats: 1/3 is not 33.33%.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ts_rs::TS)]
#[serde(try_from = "RatioParts")]
pub struct Ratio {
    #[ts(type = "number")]
    numerator: i64,
    #[ts(type = "number")]
    denominator: i64,
}

impl Ratio {
    pub const ZERO: Ratio = Ratio {
        numerator: 0,
        denominator: 1,
    };

    /// `None` unless `denominator > 0` and `numerator >= 0`.
    pub fn new(numerator: i64, denominator: i64) -> Option<Ratio> {
        (denominator > 0 && numerator >= 0).then_some(Ratio {
            numerator,
            denominator,
        })
    }

    /// 5000 basis points is 50%.
    pub fn from_basis_points(bp: u32) -> Ratio {
        Ratio {
            numerator: i64::from(bp),
            denominator: 10_000,
        }
    }

    /// `part / whole`, e.g. an order's discount over its value before discount. A zero
    /// `whole` gives zero (an order of nothing had no discount).
    pub fn of(part: Money, whole: Money) -> Result<Ratio, MoneyError> {
        if part.currency != whole.currency {
            return Err(MoneyError::CurrencyMismatch(
                part.currency.to_string(),
                whole.currency.to_string(),
            ));
        }
        if whole.minor == 0 {
            return Ok(Ratio::ZERO);
        }
        Ratio::new(part.minor, whole.minor).ok_or(MoneyError::BadAmount {
            amount: part.to_decimal_string(),
            currency: part.currency.to_string(),
        })
    }

    pub fn numerator(self) -> i64 {
        self.numerator
    }

    pub fn denominator(self) -> i64 {
        self.denominator
    }

    /// Exact comparison with a percentage given in basis points.
    pub fn cmp_basis_points(self, bp: i64) -> Ordering {
        (i128::from(self.numerator) * 10_000).cmp(&(i128::from(bp) * i128::from(self.denominator)))
    }
}

/// A ratio as it arrives in JSON, checked before it becomes a [`Ratio`].
#[derive(Deserialize)]
struct RatioParts {
    numerator: i64,
    denominator: i64,
}

impl TryFrom<RatioParts> for Ratio {
    type Error = String;
    fn try_from(parts: RatioParts) -> Result<Self, Self::Error> {
        Ratio::new(parts.numerator, parts.denominator).ok_or_else(|| {
            format!(
                "{}/{} is not a ratio (the denominator must be positive, the numerator not negative)",
                parts.numerator, parts.denominator
            )
        })
    }
}

impl PartialEq for Ratio {
    fn eq(&self, other: &Self) -> bool {
        i128::from(self.numerator) * i128::from(other.denominator)
            == i128::from(other.numerator) * i128::from(self.denominator)
    }
}

impl Eq for Ratio {}

/// An ISO 3166-1 alpha-2 country code, upper-case ("CA", "NZ").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// A code from two ASCII letters, usable in constants: `CountryCode::new(*b"CA")`.
    pub const fn new(code: [u8; 2]) -> Option<CountryCode> {
        if code[0].is_ascii_alphabetic() && code[1].is_ascii_alphabetic() {
            Some(CountryCode([
                code[0].to_ascii_uppercase(),
                code[1].to_ascii_uppercase(),
            ]))
        } else {
            None
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("country code is ASCII")
    }

    pub fn bytes(self) -> [u8; 2] {
        self.0
    }
}

impl FromStr for CountryCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.trim().as_bytes();
        if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(format!(
                "'{s}' is not an ISO 3166 alpha-2 country code (two letters, e.g. CA for Canada)"
            ));
        }
        Ok(CountryCode([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
        ]))
    }
}

impl CountryCode {
    /// A country as a person writes it, in a setting or a rule: its ISO 3166 alpha-2 or
    /// alpha-3 code, or its name ("Canada", "CA" and "CAN" are the same). Names and codes
    /// come from the `celes` crate's ISO 3166-1 table, not a hand list. Two codes outside
    /// the standard are accepted because data carries them: XK (Kosovo, as Shopify sends
    /// it) and ZZ (unknown, which the central store uses for an order without a country).
    pub fn from_input(input: &str) -> Result<CountryCode, String> {
        let typed = input.trim();
        if typed.is_empty() {
            return Err(
                "no country given: type its name or its ISO 3166 code (e.g. Canada, CA or CAN)"
                    .to_owned(),
            );
        }
        if typed.eq_ignore_ascii_case("XK") || typed.eq_ignore_ascii_case("ZZ") {
            return Ok(typed.parse().expect("two letters"));
        }
        let found = match typed.len() {
            2 => celes::Country::from_alpha2(typed).ok(),
            3 => celes::Country::from_alpha3(typed).ok(),
            _ => None,
        }
        .or_else(|| celes::Country::from_name(typed).ok())
        .or_else(|| celes::Country::from_alias(typed).ok())
        // celes spells names without spaces ("UnitedStates"); people type them with spaces.
        .or_else(|| {
            let squashed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
            celes::Country::from_name(&squashed)
                .or_else(|_| celes::Country::from_alias(&squashed))
                .ok()
        });
        match found {
            Some(country) => Ok(country.alpha2.parse().expect("celes alpha-2 codes are two letters")),
            None => Err(format!(
                "'{typed}' is not a country: type its name or its ISO 3166 code (e.g. Canada, CA or CAN)"
            )),
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The inspection result of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum QcStatus {
    Pass,
    Fail,
}

impl QcStatus {
    pub const ALL: [QcStatus; 2] = [QcStatus::Pass, QcStatus::Fail];

    pub fn name(self) -> &'static str {
        match self {
            QcStatus::Pass => "pass",
            QcStatus::Fail => "fail",
        }
    }
}

/// The condition grade given at inspection, A (as new) to D.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
pub enum Grade {
    A,
    B,
    C,
    D,
}

impl Grade {
    pub const ALL: [Grade; 4] = [Grade::A, Grade::B, Grade::C, Grade::D];

    pub fn name(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
        }
    }
}
