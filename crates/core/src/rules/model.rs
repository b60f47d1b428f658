//! The rule set as the retailer's admin writes it and the store keeps it: plain serde data
//! (JSON), with field names and operators as snake_case enums.
//!
//! Nothing here evaluates anything; `validate` checks a rule set and `compiled` turns it into
//! the form that decides quickly.
//!
//! The JSON of the seeds' "Sale items" rule (`No Action if Tag = Sale Item`, priority 1):
//!
//! ```json
//! {"rules": [{
//!   "id": "sale-items", "name": "Sale items", "priority": 1, "enabled": true,
//!   "condition": {"predicate": {"field": "product_tags", "op": "eq", "value": {"text": "Sale Item"}}},
//!   "outcome": {"kind": "no_action"}
//! }]}
//! ```
//!
//! Conditions nest as `{"all": [..]}`, `{"any": [..]}`, `{"not": ..}`; literals are tagged
//! `{"text": ..}`, `{"list": [..]}`, `{"percent": "50"}`, `{"money": {"minor": 5000,
//! "currency": "NZD"}}`, `{"number": 30}`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// A retailer's automated return rules. Order in the list does not matter: priority does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

/// One named rule: when `condition` holds for an item, the item gets `outcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id, unique within the rule set (survives renames).
    pub id: String,
    /// The admin's name for the rule, shown to supervisors ("Sale items").
    pub name: String,
    /// 1 is evaluated first. Two rules may not share a priority.
    pub priority: u32,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub condition: Condition,
    pub outcome: Outcome,
}

fn enabled_by_default() -> bool {
    true
}

/// A boolean combination of predicates. `{"all": []}` is always true (a catch-all rule);
/// `{"any": []}` is never true and is refused by validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Predicate(Predicate),
}

impl Condition {
    /// The always-true condition, for a catch-all rule.
    pub fn always() -> Condition {
        Condition::All(Vec::new())
    }

    pub fn test(field: Field, op: Op, value: Literal) -> Condition {
        Condition::Predicate(Predicate { field, op, value })
    }
}

/// `field op value`, e.g. `return_reason eq {"text": "Faulty"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    pub field: Field,
    pub op: Op,
    pub value: Literal,
}

/// A literal in a predicate, tagged with its type so a mismatch (`order_value gt "fifty"`)
/// is caught when the rule set is saved rather than silently never matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Literal {
    /// Compared case-insensitively; for tags, the tag's name.
    Text(String),
    /// For `in`: any of these texts.
    List(Vec<String>),
    /// An exact decimal percent, at most two decimals: "50", "12.5", "0.25".
    Percent(String),
    /// Matches only amounts in the same currency.
    Money(Money),
    /// A whole number, e.g. days since the order.
    Number(u32),
}

/// What a predicate looks at. The hub fills these in per item (`ItemFacts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    ReturnReason,
    SubReason,
    OrderDiscountPercent,
    OrderDiscountAmount,
    OrderValue,
    OrderCountry,
    ProductTags,
    OrderTags,
    QcStatus,
    QcGrade,
    DaysSinceOrder,
    ItemPrice,
    Sku,
}

impl Field {
    pub const ALL: [Field; 13] = [
        Field::ReturnReason,
        Field::SubReason,
        Field::OrderDiscountPercent,
        Field::OrderDiscountAmount,
        Field::OrderValue,
        Field::OrderCountry,
        Field::ProductTags,
        Field::OrderTags,
        Field::QcStatus,
        Field::QcGrade,
        Field::DaysSinceOrder,
        Field::ItemPrice,
        Field::Sku,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::ReturnReason => "return_reason",
            Field::SubReason => "sub_reason",
            Field::OrderDiscountPercent => "order_discount_percent",
            Field::OrderDiscountAmount => "order_discount_amount",
            Field::OrderValue => "order_value",
            Field::OrderCountry => "order_country",
            Field::ProductTags => "product_tags",
            Field::OrderTags => "order_tags",
            Field::QcStatus => "qc_status",
            Field::QcGrade => "qc_grade",
            Field::DaysSinceOrder => "days_since_order",
            Field::ItemPrice => "item_price",
            Field::Sku => "sku",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                format!("unknown field '{s}' (known fields: {})", known.join(", "))
            })
    }
}

// Hand-written so an unknown field reads "unknown field 'colour'" rather than serde's
// "unknown variant".
impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Comparison operators. On tag fields `eq`/`contains` mean "has the tag", `ne` "lacks the
/// tag" and `in` "has any of the tags" (the seeds write `Tag = Sale Item`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    In,
}

impl Op {
    pub const ALL: [Op; 8] = [
        Op::Eq,
        Op::Ne,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::Contains,
        Op::In,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Contains => "contains",
            Op::In => "in",
        }
    }

    /// How the operator reads in an explanation.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "≠",
            Op::Gt => ">",
            Op::Gte => "≥",
            Op::Lt => "<",
            Op::Lte => "≤",
            Op::Contains => "contains",
            Op::In => "in",
        }
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Op::ALL.into_iter().find(|o| o.name() == s).ok_or_else(|| {
            let known: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
            format!(
                "unknown operator '{s}' (known operators: {})",
                known.join(", ")
            )
        })
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What an item gets. "Store Credit" in the seeds is a Credit Note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    Refund,
    CreditNote {
        /// Days the credit note stays valid; `None` means it does not expire.
        #[serde(default)]
        expiry_days: Option<u32>,
    },
    Exchange,
    NoAction,
    /// Nothing fires until a supervisor decides.
    HoldForReview,
}

impl Outcome {
    pub fn kind(self) -> OutcomeKind {
        match self {
            Outcome::Refund => OutcomeKind::Refund,
            Outcome::CreditNote { .. } => OutcomeKind::CreditNote,
            Outcome::Exchange => OutcomeKind::Exchange,
            Outcome::NoAction => OutcomeKind::NoAction,
            Outcome::HoldForReview => OutcomeKind::HoldForReview,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::CreditNote {
                expiry_days: Some(days),
            } => write!(f, "Credit Note (expires after {days} days)"),
            other => f.write_str(other.kind().label()),
        }
    }
}

/// An outcome without its parameters, for counting and grouping.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Refund,
    CreditNote,
    Exchange,
    NoAction,
    HoldForReview,
}

impl OutcomeKind {
    pub fn label(self) -> &'static str {
        match self {
            OutcomeKind::Refund => "Refund",
            OutcomeKind::CreditNote => "Credit Note",
            OutcomeKind::Exchange => "Exchange",
            OutcomeKind::NoAction => "No Action",
            OutcomeKind::HoldForReview => "Hold for review",
        }
    }
}
