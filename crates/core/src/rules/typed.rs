//! Type-checks one predicate against its field and normalises its literal (lower-cased text,
//! basis points, minor units). Validation reports the errors; the analysis and the compiler
//! work on the checked form, so all three agree on what a predicate means.

use crate::money::{Currency, Money};
use crate::rules::facts::{CountryCode, Grade, QcStatus};
use crate::rules::model::{Field, Literal, Op, Predicate};
use crate::trigger::Trigger;

/// How a field's value is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One text value, compared case-insensitively.
    Text,
    /// One of a short fixed list of values (country code, QC status, grade).
    Code,
    /// A set of tags.
    Tags,
    /// A number, percent or amount that can be ordered.
    Ordered,
}

pub(crate) fn shape(field: Field) -> Shape {
    match field {
        Field::ReturnReason | Field::SubReason | Field::Sku => Shape::Text,
        Field::OrderCountry | Field::QcStatus | Field::QcGrade => Shape::Code,
        Field::ProductTags | Field::OrderTags => Shape::Tags,
        Field::OrderDiscountPercent
        | Field::OrderDiscountAmount
        | Field::OrderValue
        | Field::DaysSinceOrder
        | Field::ItemPrice => Shape::Ordered,
    }
}

/// Whether the field can be absent on an item (then every predicate on it is false).
pub(crate) fn is_optional(field: Field) -> bool {
    matches!(field, Field::SubReason | Field::QcStatus | Field::QcGrade)
}

/// An ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    pub(crate) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => ordering == Equal,
            Cmp::Ne => ordering != Equal,
            Cmp::Gt => ordering == Greater,
            Cmp::Gte => ordering != Less,
            Cmp::Lt => ordering == Less,
            Cmp::Lte => ordering != Greater,
        }
    }

    pub(crate) fn negated(self) -> Cmp {
        match self {
            Cmp::Eq => Cmp::Ne,
            Cmp::Ne => Cmp::Eq,
            Cmp::Gt => Cmp::Lte,
            Cmp::Gte => Cmp::Lt,
            Cmp::Lt => Cmp::Gte,
            Cmp::Lte => Cmp::Gt,
        }
    }
}

/// A predicate whose literal fits its field, with values normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Typed {
    /// Single-valued text or code field. Values are lower-cased (text, QC status) or
    /// upper-cased (country, grade) exactly as the compiled form compares them.
    Single { field: Field, test: SingleTest },
    /// Tag set field.
    Tags { field: Field, test: TagTest },
    /// Ordered field: percent in basis points, money in minor units of `currency`, days.
    Ordered {
        field: Field,
        cmp: Cmp,
        value: i64,
        currency: Option<Currency>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SingleTest {
    Eq(String),
    Ne(String),
    Contains(String),
    In(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TagTest {
    Has(String),
    Lacks(String),
    HasAny(Vec<String>),
}

impl Typed {
    pub(crate) fn field(&self) -> Field {
        match self {
            Typed::Single { field, .. }
            | Typed::Tags { field, .. }
            | Typed::Ordered { field, .. } => *field,
        }
    }
}

/// Why a predicate was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PredicateError {
    pub type_mismatch: bool,
    pub message: String,
}

fn mismatch(message: String) -> PredicateError {
    PredicateError {
        type_mismatch: true,
        message,
    }
}

fn bad_value(message: String) -> PredicateError {
    PredicateError {
        type_mismatch: false,
        message,
    }
}

/// Case-folds text the way the compiled form compares it: char by char (not
/// `str::to_lowercase`, whose word-final sigma rule an item's text, folded char by char at
/// decision time, would not follow).
pub(crate) fn fold_text(s: &str) -> String {
    fold_chars(s.trim()).collect()
}

/// The char-by-char lower case of `s`.
pub(crate) fn fold_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

fn literal_kind(value: &Literal) -> &'static str {
    match value {
        Literal::Text(_) => "text",
        Literal::List(_) => "list",
        Literal::Percent(_) => "percent",
        Literal::Money(_) => "money",
        Literal::Number(_) => "number",
    }
}

/// Parses "50", "12.5", "0.25" into basis points (0..=10000), exactly.
pub(crate) fn parse_percent(text: &str) -> Result<i64, String> {
    let bad = || format!("'{text}' is not a percent between 0 and 100 with at most two decimals");
    let s = text.trim().trim_end_matches('%').trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || whole.len() > 3
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let mut frac_bp: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    if frac.len() == 1 {
        frac_bp *= 10;
    }
    let bp = whole * 100 + frac_bp;
    if bp > 10_000 {
        return Err(bad());
    }
    Ok(bp)
}

fn cmp_of(op: Op) -> Option<Cmp> {
    Some(match op {
        Op::Eq => Cmp::Eq,
        Op::Ne => Cmp::Ne,
        Op::Gt => Cmp::Gt,
        Op::Gte => Cmp::Gte,
        Op::Lt => Cmp::Lt,
        Op::Lte => Cmp::Lte,
        Op::Contains | Op::In => return None,
    })
}

/// Normalises a value of a code field, or says why it is not one.
fn code_value(field: Field, raw: &str) -> Result<String, PredicateError> {
    match field {
        Field::OrderCountry => CountryCode::from_input(raw)
            .map(|c| c.as_str().to_owned())
            .map_err(bad_value),
        Field::QcStatus => QcStatus::ALL
            .iter()
            .find(|s| s.name().eq_ignore_ascii_case(raw.trim()))
            .map(|s| s.name().to_owned())
            .ok_or_else(|| bad_value(format!("'{raw}' is not a QC status (pass or fail)"))),
        Field::QcGrade => Grade::ALL
            .iter()
            .find(|g| g.name().eq_ignore_ascii_case(raw.trim()))
            .map(|g| g.name().to_owned())
            .ok_or_else(|| bad_value(format!("'{raw}' is not a grade (A, B, C or D)"))),
        _ => Ok(fold_text(raw)),
    }
}

fn non_empty_text(raw: &str) -> Result<(), PredicateError> {
    if raw.trim().is_empty() {
        Err(bad_value("the text is empty".to_owned()))
    } else {
        Ok(())
    }
}

fn normalised_list(field: Field, items: &[String]) -> Result<Vec<String>, PredicateError> {
    if items.is_empty() {
        return Err(bad_value(
            "the list is empty, so this never matches".to_owned(),
        ));
    }
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        non_empty_text(item)?;
        values.push(match shape(field) {
            Shape::Code => code_value(field, item)?,
            _ => fold_text(item),
        });
    }
    values.sort();
    values.dedup();
    Ok(values)
}

/// Checks that `pred` makes sense for its field under `trigger` and normalises it.
pub(crate) fn check(pred: &Predicate, trigger: Trigger) -> Result<Typed, PredicateError> {
    let field = pred.field;
    if matches!(field, Field::QcStatus | Field::QcGrade) && !trigger.sees_inspection() {
        return Err(bad_value(format!(
            "{field} is not known yet when the trigger is first scan (items are inspected later)"
        )));
    }
    let wrong = || {
        mismatch(format!(
            "{field} {} cannot take a {} value",
            pred.op.name(),
            literal_kind(&pred.value)
        ))
    };
    let op_refused = || {
        let allowed = match shape(field) {
            Shape::Text => "eq, ne, contains, in",
            Shape::Code => "eq, ne, in",
            Shape::Tags => "eq/contains (has tag), ne (lacks tag), in (has any)",
            Shape::Ordered => "eq, ne, gt, gte, lt, lte",
        };
        mismatch(format!(
            "operator '{}' does not apply to {field} (use {allowed})",
            pred.op.name()
        ))
    };
    match shape(field) {
        Shape::Text | Shape::Code => {
            let test = match (pred.op, &pred.value) {
                (Op::In, Literal::List(items)) => SingleTest::In(normalised_list(field, items)?),
                (Op::In, _) => return Err(wrong()),
                (Op::Eq | Op::Ne | Op::Contains, Literal::Text(raw)) => {
                    non_empty_text(raw)?;
                    let value = code_value(field, raw)?;
                    match pred.op {
                        Op::Eq => SingleTest::Eq(value),
                        Op::Ne => SingleTest::Ne(value),
                        _ if shape(field) == Shape::Code => return Err(op_refused()),
                        _ => SingleTest::Contains(value),
                    }
                }
                (Op::Eq | Op::Ne | Op::Contains, _) => return Err(wrong()),
                _ => return Err(op_refused()),
            };
            Ok(Typed::Single { field, test })
        }
        Shape::Tags => {
            let test = match (pred.op, &pred.value) {
                (Op::In, Literal::List(items)) => TagTest::HasAny(normalised_list(field, items)?),
                (Op::Eq | Op::Contains | Op::Ne, Literal::Text(raw)) => {
                    non_empty_text(raw)?;
                    if pred.op == Op::Ne {
                        TagTest::Lacks(fold_text(raw))
                    } else {
                        TagTest::Has(fold_text(raw))
                    }
                }
                (Op::Eq | Op::Contains | Op::Ne | Op::In, _) => return Err(wrong()),
                _ => return Err(op_refused()),
            };
            Ok(Typed::Tags { field, test })
        }
        Shape::Ordered => {
            let cmp = cmp_of(pred.op).ok_or_else(op_refused)?;
            let (value, currency) = match (field, &pred.value) {
                (Field::OrderDiscountPercent, Literal::Percent(text)) => {
                    (parse_percent(text).map_err(bad_value)?, None)
                }
                (Field::DaysSinceOrder, Literal::Number(n)) => (i64::from(*n), None),
                (
                    Field::OrderDiscountAmount | Field::OrderValue | Field::ItemPrice,
                    Literal::Money(Money { minor, currency }),
                ) => (*minor, Some(*currency)),
                _ => return Err(wrong()),
            };
            Ok(Typed::Ordered {
                field,
                cmp,
                value,
                currency,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_parse_exactly_to_basis_points() {
        assert_eq!(parse_percent("50"), Ok(5000));
        assert_eq!(parse_percent("12.5"), Ok(1250));
        assert_eq!(parse_percent("0.25"), Ok(25));
        assert_eq!(parse_percent("100"), Ok(10_000));
        assert_eq!(parse_percent("33%"), Ok(3300));
        for bad in ["", "abc", "100.01", "1.234", "-5", ".5", "1e2", "1000"] {
            assert!(parse_percent(bad).is_err(), "{bad:?}");
        }
    }
}
