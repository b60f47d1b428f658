//! Deciding items: the seeds' example rules, priority, customer choice, QC fail policy and
//! the explanation a supervisor sees.

mod common;

use common::*;
use returnhub_core::decision::{
    Decider, DecisionSource, QcFailPolicy, ReturnOption, VerdictSource,
};
use returnhub_core::rules::{Condition, Field, Literal, Op, Outcome, QcStatus, Ratio, RuleSet};
use returnhub_core::Currency;

const STORE_CREDIT: Outcome = Outcome::CreditNote {
    expiry_days: Some(365),
};

/// The four rules of the seeds, the Sale Item rule at priority 1.
fn seed_rules() -> RuleSet {
    RuleSet {
        rules: vec![
            rule(
                "faulty",
                2,
                text(Field::ReturnReason, Op::Eq, "Faulty"),
                Outcome::Refund,
            ),
            rule(
                "big-discount",
                3,
                Condition::test(
                    Field::OrderDiscountPercent,
                    Op::Gt,
                    Literal::Percent("50".into()),
                ),
                STORE_CREDIT,
            ),
            rule(
                "canada",
                4,
                text(Field::OrderCountry, Op::Eq, "CA"),
                Outcome::NoAction,
            ),
            rule(
                "sale-items",
                1,
                text(Field::ProductTags, Op::Eq, "Sale Item"),
                Outcome::NoAction,
            ),
        ],
    }
}

fn seed_decider() -> Decider {
    let mut p = policy();
    p.default_outcome = Outcome::CreditNote { expiry_days: None };
    Decider::new(&seed_rules(), &p).expect("the seed rules are valid")
}

#[test]
fn seed_faulty_gets_a_refund() {
    let mut it = item();
    it.return_reason = "faulty".into();
    let v = seed_decider().decide(&it, None);
    assert_eq!(v.outcome, Outcome::Refund);
    assert_eq!(v.source, VerdictSource::Rule(1));
}

#[test]
fn seed_discount_over_half_gets_store_credit_but_exactly_half_does_not() {
    let decider = seed_decider();
    let mut it = item();
    it.order_discount = Ratio::new(5001, 10_000).unwrap();
    assert_eq!(decider.decide(&it, None).outcome, STORE_CREDIT);
    it.order_discount = Ratio::new(1, 2).unwrap();
    assert_eq!(
        decider.decide(&it, None).source,
        VerdictSource::RetailerDefault
    );
}

#[test]
fn seed_canada_gets_no_action() {
    let mut it = item();
    it.order_country = "ca".parse().unwrap();
    assert_eq!(seed_decider().decide(&it, None).outcome, Outcome::NoAction);
}

#[test]
fn seed_sale_item_at_priority_one_beats_faulty() {
    let mut it = item();
    it.return_reason = "Faulty".into();
    it.product_tags = vec!["New".into(), "SALE ITEM".into()];
    let decision = seed_decider().decide_explained(&it, None);
    assert_eq!(decision.outcome, Outcome::NoAction);
    assert_eq!(
        decision.source,
        DecisionSource::Rule {
            rule_id: "sale-items".into(),
            rule_name: "rule sale-items".into(),
            priority: 1
        }
    );
    assert!(decision.explanation.not_matched.is_empty());
}

#[test]
fn explanation_lists_every_higher_priority_rule_that_failed_and_why() {
    let mut it = item();
    it.order_country = "CA".parse().unwrap();
    let decision = seed_decider().decide_explained(&it, None);
    assert_eq!(decision.outcome, Outcome::NoAction);
    let failed: Vec<u32> = decision
        .explanation
        .not_matched
        .iter()
        .map(|t| t.rule.priority)
        .collect();
    assert_eq!(failed, [1, 2, 3]);
    let faulty = &decision.explanation.not_matched[1];
    assert!(
        faulty
            .why
            .contains("return_reason = 'faulty' does not hold")
            && faulty.why.contains("'Changed mind'"),
        "{}",
        faulty.why
    );
    let matched = decision.explanation.matched.expect("canada matched");
    assert!(
        matched
            .why
            .contains("order_country = 'CA' holds (item: CA)"),
        "{}",
        matched.why
    );
}

#[test]
fn money_literals_only_match_amounts_in_their_currency() {
    let rules = RuleSet {
        rules: vec![rule(
            "big-order",
            1,
            Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(5000))),
            Outcome::NoAction,
        )],
    };
    let decider = Decider::new(&rules, &policy()).unwrap();
    let mut it = item();
    assert_eq!(decider.decide(&it, None).outcome, Outcome::NoAction);
    it.order_value = returnhub_core::Money::new(900_000, Currency::JPY);
    assert_eq!(decider.decide(&it, None).outcome, Outcome::Refund);
}

fn choice_policy(override_allowed: bool) -> returnhub_core::decision::RetailerPolicy {
    let mut p = policy();
    p.customers_choose = true;
    p.rules_override_customer_choice = override_allowed;
    p.credit_note_expiry_days = Some(180);
    p.default_outcome = Outcome::NoAction;
    p
}

fn faulty_refund_rules() -> RuleSet {
    RuleSet {
        rules: vec![rule(
            "faulty",
            1,
            text(Field::ReturnReason, Op::Eq, "Faulty"),
            Outcome::Refund,
        )],
    }
}

#[test]
fn without_a_matching_rule_the_customer_choice_applies() {
    let decider = Decider::new(&faulty_refund_rules(), &choice_policy(false)).unwrap();
    let v = decider.decide(&item(), Some(ReturnOption::CreditNote));
    assert_eq!(
        v.outcome,
        Outcome::CreditNote {
            expiry_days: Some(180)
        }
    );
    assert_eq!(v.source, VerdictSource::CustomerChoice);
    assert_eq!(
        decider.decide(&item(), None).source,
        VerdictSource::RetailerDefault
    );
}

#[test]
fn a_rule_overrides_the_customer_choice_only_if_the_retailer_allows_it() {
    let mut it = item();
    it.return_reason = "Faulty".into();
    let strict = Decider::new(&faulty_refund_rules(), &choice_policy(false)).unwrap();
    let decision = strict.decide_explained(&it, Some(ReturnOption::Exchange));
    assert_eq!(decision.outcome, Outcome::Exchange);
    assert_eq!(decision.source, DecisionSource::CustomerChoice);
    assert!(decision.explanation.matched.is_some());
    assert!(decision.explanation.notes[0].contains("does not let rules override"));
    let lenient = Decider::new(&faulty_refund_rules(), &choice_policy(true)).unwrap();
    assert_eq!(
        lenient.decide(&it, Some(ReturnOption::Exchange)).outcome,
        Outcome::Refund
    );
}

#[test]
fn a_hold_rule_applies_even_over_a_customer_choice() {
    let rules = RuleSet {
        rules: vec![rule(
            "pricey",
            1,
            Condition::test(Field::ItemPrice, Op::Gt, Literal::Money(nzd(50_000))),
            Outcome::HoldForReview,
        )],
    };
    let decider = Decider::new(&rules, &choice_policy(false)).unwrap();
    let mut it = item();
    it.item_price = nzd(60_000);
    assert_eq!(
        decider.decide(&it, Some(ReturnOption::Refund)).outcome,
        Outcome::HoldForReview
    );
}

#[test]
fn exchange_is_offered_only_when_enabled_and_a_disabled_choice_falls_to_the_default() {
    let mut p = choice_policy(false);
    assert_eq!(
        p.offered_options(),
        [
            ReturnOption::Refund,
            ReturnOption::CreditNote,
            ReturnOption::Exchange
        ]
    );
    p.exchange_enabled = false;
    assert_eq!(
        p.offered_options(),
        [ReturnOption::Refund, ReturnOption::CreditNote]
    );
    let decider = Decider::new(&faulty_refund_rules(), &p).unwrap();
    let decision = decider.decide_explained(&item(), Some(ReturnOption::Exchange));
    assert_eq!(decision.outcome, Outcome::NoAction);
    assert_eq!(decision.source, DecisionSource::RetailerDefault);
    assert!(decision.explanation.notes[0].contains("does not offer"));
}

#[test]
fn a_choice_is_ignored_where_customers_do_not_choose() {
    let decider = Decider::new(&faulty_refund_rules(), &policy()).unwrap();
    let v = decider.decide(&item(), Some(ReturnOption::CreditNote));
    assert_eq!(
        (v.outcome, v.source),
        (Outcome::Refund, VerdictSource::RetailerDefault)
    );
}

#[test]
fn qc_failures_follow_the_retailer_policy() {
    let qc_rule = RuleSet {
        rules: vec![rule(
            "qc-fail-credit",
            1,
            text(Field::QcStatus, Op::Eq, "fail"),
            STORE_CREDIT,
        )],
    };
    let mut it = item();
    it.qc_status = Some(QcStatus::Fail);
    let mut p = policy();
    assert_eq!(
        Decider::new(&qc_rule, &p)
            .unwrap()
            .decide(&it, None)
            .outcome,
        STORE_CREDIT
    );
    p.qc_fail = QcFailPolicy::HoldForReview;
    let decider = Decider::new(&RuleSet { rules: vec![] }, &p).unwrap();
    let v = decider.decide(&it, None);
    assert_eq!(
        (v.outcome, v.source),
        (Outcome::HoldForReview, VerdictSource::QcFailPolicy)
    );
    p.qc_fail = QcFailPolicy::NoAction;
    let decider = Decider::new(&RuleSet { rules: vec![] }, &p).unwrap();
    assert_eq!(decider.decide(&it, None).outcome, Outcome::NoAction);
    it.qc_status = Some(QcStatus::Pass);
    assert_eq!(decider.decide(&it, None).outcome, Outcome::Refund);
}

#[test]
fn disabled_rules_are_skipped() {
    let mut rules = faulty_refund_rules();
    rules.rules[0].outcome = Outcome::NoAction;
    rules.rules[0].enabled = false;
    let mut it = item();
    it.return_reason = "Faulty".into();
    let decider = Decider::new(&rules, &policy()).unwrap();
    assert_eq!(
        decider.decide(&it, None).source,
        VerdictSource::RetailerDefault
    );
}

#[test]
fn text_matching_ignores_case_including_non_ascii() {
    let rules = RuleSet {
        rules: vec![
            rule(
                "a",
                1,
                text(Field::SubReason, Op::Contains, "ÉTIQUETTE"),
                Outcome::NoAction,
            ),
            rule(
                "b",
                2,
                text(Field::Sku, Op::Contains, "blk"),
                Outcome::Exchange,
            ),
        ],
    };
    let decider = Decider::new(&rules, &policy()).unwrap();
    let mut it = item();
    assert_eq!(decider.decide(&it, None).outcome, Outcome::Exchange);
    it.sub_reason = Some("Sans étiquette".into());
    assert_eq!(decider.decide(&it, None).outcome, Outcome::NoAction);
}
