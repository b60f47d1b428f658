//! The returns hub's domain, pure: no Tauri, no SQLite, no network, no clock. Time and
//! randomness are passed in by the caller so every decision is reproducible in a test.
//!
//! Deciding an item and making its action due:
//!
//! ```
//! use returnhub_core::decision::{Decider, QcFailPolicy, RetailerPolicy, ReturnOption};
//! use returnhub_core::rules::{parse_rule_set, ItemFacts, Outcome, Ratio};
//! use returnhub_core::trigger::{actions_due, not_yet_recorded, ItemOutcome, ReturnEvent, Trigger};
//! use returnhub_core::{Currency, Money};
//!
//! let policy = RetailerPolicy {
//!     trigger: Trigger::Processing,
//!     customers_choose: true,
//!     exchange_enabled: false,
//!     rules_override_customer_choice: true,
//!     default_outcome: Outcome::Refund,
//!     qc_fail: QcFailPolicy::HoldForReview,
//!     credit_note_expiry_days: Some(365),
//!     currency: Some(Currency::NZD),
//!     shopify: Default::default(),
//!     partners: Default::default(),
//! };
//! let rules = parse_rule_set(r#"{"rules": [{"id": "sale", "name": "Sale items", "priority": 1,
//!     "condition": {"predicate": {"field": "product_tags", "op": "eq", "value": {"text": "Sale Item"}}},
//!     "outcome": {"kind": "no_action"}}]}"#).expect("valid JSON");
//! let decider = Decider::new(&rules, &policy).expect("valid rules"); // validate + compile, once
//!
//! let nzd = |minor| Money::new(minor, Currency::NZD);
//! let facts = ItemFacts {
//!     return_reason: "Faulty".into(), sub_reason: None, order_discount: Ratio::ZERO,
//!     order_discount_amount: nzd(0), order_value: nzd(12_000), order_country: "NZ".parse().unwrap(),
//!     product_tags: vec![], order_tags: vec![], qc_status: None, qc_grade: None,
//!     days_since_order: 9, item_price: nzd(6_000), sku: "TEE-BLK-M".into(),
//! };
//! let decision = decider.decide_explained(&facts, Some(ReturnOption::CreditNote));
//! assert_eq!(decision.outcome, Outcome::CreditNote { expiry_days: Some(365) });
//!
//! let items = [ItemOutcome { item_id: "item-1".into(), outcome: decision.outcome, amount: Some(nzd(6_000)) }];
//! let due = actions_due(policy.trigger, ReturnEvent::Processed, "acme", "R-1001", &items);
//! assert!(due[0].key.as_str().starts_with("rh1-"));
//! // A repeated event yields the same keys, so nothing new is due.
//! let again = actions_due(policy.trigger, ReturnEvent::Processed, "acme", "R-1001", &items);
//! assert!(not_yet_recorded(again, |key| due.iter().any(|d| &d.key == key)).is_empty());
//! ```

pub mod auth;
pub mod bench;
pub mod decision;
pub mod dryrun;
pub mod model;
pub mod money;
pub mod partner;
pub mod people;
pub mod process;
pub mod record;
pub mod refund;
pub mod retailer;
pub mod rules;
pub mod station;
pub mod time;
pub mod trigger;

pub use money::{Currency, Money, MoneyError};
