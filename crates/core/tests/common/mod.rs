//! Builders shared by the integration tests: a plain item, a plain policy, terse rules.
#![allow(dead_code)]

use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::rules::{Condition, Field, ItemFacts, Literal, Op, Outcome, Ratio, Rule};
use returnhub_core::trigger::Trigger;
use returnhub_core::{Currency, Money};

pub fn nzd(minor: i64) -> Money {
    Money::new(minor, Currency::NZD)
}

/// A full-price NZ order of one $80 item returned as "Changed mind", not yet inspected.
pub fn item() -> ItemFacts {
    ItemFacts {
        return_reason: "Changed mind".into(),
        sub_reason: None,
        order_discount: Ratio::ZERO,
        order_discount_amount: nzd(0),
        order_value: nzd(8000),
        order_country: "NZ".parse().unwrap(),
        product_tags: vec![],
        order_tags: vec![],
        qc_status: None,
        qc_grade: None,
        days_since_order: 10,
        item_price: nzd(8000),
        sku: "TEE-BLK-M".into(),
    }
}

/// Processing trigger, rules decide, no customer choice, default Refund.
pub fn policy() -> RetailerPolicy {
    RetailerPolicy {
        trigger: Trigger::Processing,
        customers_choose: false,
        exchange_enabled: true,
        rules_override_customer_choice: true,
        default_outcome: Outcome::Refund,
        qc_fail: QcFailPolicy::RuleDriven,
        credit_note_expiry_days: None,
        currency: Some(Currency::NZD),
        shopify: Default::default(),
        partners: Default::default(),
    }
}

pub fn text(field: Field, op: Op, value: &str) -> Condition {
    Condition::test(field, op, Literal::Text(value.into()))
}

/// `field in [items]`.
pub fn one_of(field: Field, items: &[&str]) -> Condition {
    Condition::test(
        field,
        Op::In,
        Literal::List(items.iter().map(|s| s.to_string()).collect()),
    )
}

pub fn rule(id: &str, priority: u32, condition: Condition, outcome: Outcome) -> Rule {
    Rule {
        id: id.into(),
        name: format!("rule {id}"),
        priority,
        enabled: true,
        condition,
        outcome,
    }
}
