//! Saving a rule set: JSON parsing errors per rule, and the semantic checks (ties, types,
//! outcomes, contradictions, shadowing).

mod common;

use common::*;
use returnhub_core::decision::{Decider, QcFailPolicy};
use returnhub_core::rules::{
    parse_rule_set, validate, Condition, Field, IssueCode, Literal, Op, Outcome, RuleIssue,
    RuleSet, Severity,
};
use returnhub_core::trigger::Trigger;
use returnhub_core::{Currency, Money};

fn codes(issues: &[RuleIssue]) -> Vec<(String, IssueCode)> {
    issues
        .iter()
        .map(|i| (i.rule_id.clone().unwrap_or_default(), i.code))
        .collect()
}

#[test]
fn json_round_trips_in_the_documented_shape() {
    let json = r#"{"rules":[{"id":"sale","name":"Sale items","priority":1,
        "condition":{"all":[{"predicate":{"field":"product_tags","op":"eq","value":{"text":"Sale Item"}}},
                            {"not":{"predicate":{"field":"order_value","op":"gt","value":{"money":{"minor":10000,"currency":"NZD"}}}}}]},
        "outcome":{"kind":"credit_note","expiry_days":90}}]}"#;
    let set = parse_rule_set(json).expect("valid JSON rule set");
    assert!(set.rules[0].enabled, "enabled defaults to true");
    assert_eq!(
        set.rules[0].outcome,
        Outcome::CreditNote {
            expiry_days: Some(90)
        }
    );
    let again: RuleSet = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
    assert_eq!(again, set);
    assert!(validate(&set, &policy()).is_empty());
}

#[test]
fn unknown_field_names_point_at_the_rule_and_the_path() {
    let json = r#"{"rules":[
        {"id":"ok","name":"Faulty","priority":1,"condition":{"all":[]},"outcome":{"kind":"refund"}},
        {"id":"s","name":"Sale items","priority":2,
         "condition":{"any":[{"predicate":{"field":"colour","op":"eq","value":{"text":"red"}}}]},
         "outcome":{"kind":"no_action"}},
        {"id":"t","name":"Typo","priority":3,"priorty":4,"condition":{"all":[]},"outcome":{"kind":"refund"}},
        {"id":"u","name":"Bad op","priority":5,
         "condition":{"predicate":{"field":"sku","op":"like","value":{"text":"X"}}},"outcome":{"kind":"refund"}}
    ]}"#;
    let issues = parse_rule_set(json).unwrap_err();
    let shown: Vec<String> = issues.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert!(
        shown[0].starts_with(
            "rule 'Sale items' at condition.any[0].predicate.field: unknown field 'colour'"
        ),
        "{}",
        shown[0]
    );
    assert!(
        shown[1].contains("rule 'Typo'") && shown[1].contains("priorty"),
        "{}",
        shown[1]
    );
    assert!(shown[2].contains("unknown operator 'like'"), "{}", shown[2]);
    assert!(issues.iter().all(|i| i.code == IssueCode::Syntax));
    assert!(parse_rule_set("{").is_err());
    assert!(parse_rule_set(r#"{"rules":[],"extra":1}"#).is_err());
}

#[test]
fn ties_duplicates_and_priority_zero_are_refused() {
    let set = RuleSet {
        rules: vec![
            rule("a", 1, text(Field::Sku, Op::Eq, "A"), Outcome::Refund),
            rule("b", 1, text(Field::Sku, Op::Eq, "B"), Outcome::Refund),
            rule("a", 2, text(Field::Sku, Op::Eq, "C"), Outcome::Refund),
            rule("z", 0, text(Field::Sku, Op::Eq, "D"), Outcome::Refund),
        ],
    };
    assert_eq!(
        codes(&validate(&set, &policy())),
        [
            ("b".into(), IssueCode::PriorityTie),
            ("a".into(), IssueCode::DuplicateId),
            ("z".into(), IssueCode::InvalidPriority)
        ]
    );
}

#[test]
fn type_mismatches_and_bad_values_are_refused_with_their_path() {
    let set = RuleSet {
        rules: vec![
            rule(
                "money-as-text",
                1,
                text(Field::OrderValue, Op::Gt, "fifty"),
                Outcome::Refund,
            ),
            rule(
                "gt-on-reason",
                2,
                Condition::All(vec![Condition::test(
                    Field::ReturnReason,
                    Op::Gt,
                    Literal::Text("Faulty".into()),
                )]),
                Outcome::Refund,
            ),
            rule(
                "country-name",
                3,
                // "Canada" is read as CA now; a country no one has heard of is still refused.
                text(Field::OrderCountry, Op::Eq, "Atlantis"),
                Outcome::Refund,
            ),
            rule(
                "percent",
                4,
                Condition::test(
                    Field::OrderDiscountPercent,
                    Op::Gt,
                    Literal::Percent("150".into()),
                ),
                Outcome::Refund,
            ),
            rule(
                "empty-in",
                5,
                Condition::test(Field::Sku, Op::In, Literal::List(vec![])),
                Outcome::Refund,
            ),
        ],
    };
    let issues = validate(&set, &policy());
    assert_eq!(
        codes(&issues),
        [
            ("money-as-text".into(), IssueCode::TypeMismatch),
            ("gt-on-reason".into(), IssueCode::TypeMismatch),
            ("country-name".into(), IssueCode::InvalidValue),
            ("percent".into(), IssueCode::InvalidValue),
            ("empty-in".into(), IssueCode::InvalidValue),
        ]
    );
    assert_eq!(issues[1].path, "condition.all[0].predicate");
    assert!(
        issues[2].message.contains("'Atlantis' is not a country"),
        "{}",
        issues[2].message
    );
}

#[test]
fn outcomes_and_fields_the_retailer_cannot_use_are_refused() {
    let mut p = policy();
    p.exchange_enabled = false;
    p.trigger = Trigger::FirstScan;
    let set = RuleSet {
        rules: vec![
            rule("swap", 1, text(Field::Sku, Op::Eq, "A"), Outcome::Exchange),
            rule(
                "graded",
                2,
                text(Field::QcGrade, Op::Eq, "D"),
                Outcome::NoAction,
            ),
            rule(
                "never",
                3,
                text(Field::Sku, Op::Eq, "B"),
                Outcome::CreditNote {
                    expiry_days: Some(0),
                },
            ),
        ],
    };
    assert_eq!(
        codes(&validate(&set, &p)),
        [
            ("swap".into(), IssueCode::OutcomeNotOffered),
            ("graded".into(), IssueCode::FieldUnavailable),
            ("never".into(), IssueCode::InvalidValue),
        ]
    );
    p.default_outcome = Outcome::Exchange;
    let issues = Decider::new(&RuleSet { rules: vec![] }, &p).unwrap_err();
    assert_eq!(issues[0].code, IssueCode::OutcomeNotOffered);
}

#[test]
fn contradictory_conditions_are_refused() {
    let both_countries = Condition::All(vec![
        text(Field::OrderCountry, Op::Eq, "CA"),
        text(Field::OrderCountry, Op::Eq, "NZ"),
    ]);
    let empty_range = Condition::All(vec![
        Condition::test(
            Field::OrderDiscountPercent,
            Op::Gt,
            Literal::Percent("50".into()),
        ),
        Condition::test(
            Field::OrderDiscountPercent,
            Op::Lt,
            Literal::Percent("10".into()),
        ),
    ]);
    let whole_days = Condition::All(vec![
        Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(5)),
        Condition::test(Field::DaysSinceOrder, Op::Lt, Literal::Number(6)),
    ]);
    let tag_and_not_tag = Condition::All(vec![
        text(Field::OrderTags, Op::Eq, "VIP"),
        Condition::Not(Box::new(text(Field::OrderTags, Op::Contains, "vip"))),
    ]);
    let two_currencies = Condition::All(vec![
        Condition::test(Field::OrderValue, Op::Gt, Literal::Money(nzd(100))),
        Condition::test(
            Field::OrderValue,
            Op::Gt,
            Literal::Money(Money::new(100, Currency::AUD)),
        ),
    ]);
    let set = RuleSet {
        rules: vec![
            rule("countries", 1, both_countries, Outcome::Refund),
            rule("range", 2, empty_range, Outcome::Refund),
            rule("days", 3, whole_days, Outcome::Refund),
            rule("tags", 4, tag_and_not_tag, Outcome::Refund),
            rule("currencies", 5, two_currencies, Outcome::Refund),
            rule("any-empty", 6, Condition::Any(vec![]), Outcome::Refund),
        ],
    };
    let issues = validate(&set, &policy());
    let errors: Vec<(String, IssueCode)> = codes(&issues)
        .into_iter()
        .filter(|(_, c)| *c != IssueCode::CurrencyMismatch)
        .collect();
    let expected: Vec<(String, IssueCode)> = [
        "countries",
        "range",
        "days",
        "tags",
        "currencies",
        "any-empty",
    ]
    .iter()
    .map(|id| (id.to_string(), IssueCode::NeverMatches))
    .collect();
    assert_eq!(errors, expected);
    let warning = issues
        .iter()
        .find(|i| i.code == IssueCode::CurrencyMismatch)
        .unwrap();
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(warning.rule_id.as_deref(), Some("currencies"));
}

#[test]
fn satisfiable_conditions_are_not_called_contradictory() {
    let set = RuleSet {
        rules: vec![
            rule(
                "range",
                1,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gte, Literal::Number(5)),
                    Condition::test(Field::DaysSinceOrder, Op::Lte, Literal::Number(5)),
                ]),
                Outcome::Refund,
            ),
            rule(
                "either-country",
                2,
                Condition::Any(vec![
                    text(Field::OrderCountry, Op::Eq, "CA"),
                    text(Field::OrderCountry, Op::Eq, "NZ"),
                ]),
                Outcome::NoAction,
            ),
            // "not (sub_reason = x)" holds for items with no sub-reason.
            rule(
                "no-sub",
                3,
                Condition::All(vec![
                    Condition::Not(Box::new(text(Field::SubReason, Op::Eq, "x"))),
                    Condition::Not(Box::new(text(Field::SubReason, Op::Ne, "x"))),
                ]),
                Outcome::Exchange,
            ),
        ],
    };
    assert_eq!(validate(&set, &policy()), vec![]);
}

#[test]
fn shadowed_rules_are_refused_and_name_the_rule_that_takes_their_items() {
    let set = RuleSet {
        rules: vec![
            rule(
                "over-50",
                1,
                Condition::test(
                    Field::OrderDiscountPercent,
                    Op::Gt,
                    Literal::Percent("50".into()),
                ),
                Outcome::NoAction,
            ),
            rule(
                "over-60",
                2,
                Condition::test(
                    Field::OrderDiscountPercent,
                    Op::Gt,
                    Literal::Percent("60".into()),
                ),
                Outcome::Refund,
            ),
            rule(
                "faulty-or-broken",
                3,
                Condition::test(
                    Field::ReturnReason,
                    Op::In,
                    Literal::List(vec!["Faulty".into(), "Broken".into()]),
                ),
                Outcome::Refund,
            ),
            rule(
                "faulty-in-ca",
                4,
                Condition::All(vec![
                    text(Field::ReturnReason, Op::Eq, "faulty"),
                    text(Field::OrderCountry, Op::Eq, "CA"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                "catch-all",
                5,
                Condition::always(),
                Outcome::CreditNote { expiry_days: None },
            ),
            rule(
                "after-catch-all",
                6,
                text(Field::Sku, Op::Eq, "X"),
                Outcome::Refund,
            ),
        ],
    };
    let issues = validate(&set, &policy());
    assert_eq!(
        codes(&issues),
        [
            ("over-60".into(), IssueCode::Shadowed),
            ("faulty-in-ca".into(), IssueCode::Shadowed),
            ("after-catch-all".into(), IssueCode::Shadowed),
        ]
    );
    assert!(
        issues[0]
            .to_string()
            .contains("taken first by rule 'rule over-50' (priority 1)"),
        "{}",
        issues[0]
    );
    assert!(issues[2].message.contains("rule catch-all"));
}

#[test]
fn a_more_general_later_rule_or_a_disabled_earlier_one_is_not_shadowing() {
    let mut set = RuleSet {
        rules: vec![
            rule("catch-all", 1, Condition::always(), Outcome::NoAction),
            rule(
                "over-60",
                2,
                Condition::test(
                    Field::OrderDiscountPercent,
                    Op::Gt,
                    Literal::Percent("60".into()),
                ),
                Outcome::Refund,
            ),
            rule(
                "over-50",
                3,
                Condition::test(
                    Field::OrderDiscountPercent,
                    Op::Gt,
                    Literal::Percent("50".into()),
                ),
                Outcome::NoAction,
            ),
        ],
    };
    set.rules[0].enabled = false;
    assert_eq!(validate(&set, &policy()), vec![]);
}

#[test]
fn a_qc_fail_rule_is_unreachable_when_qc_failures_bypass_the_rules() {
    let set = RuleSet {
        rules: vec![rule(
            "qc-fail",
            1,
            text(Field::QcStatus, Op::Eq, "FAIL"),
            Outcome::Refund,
        )],
    };
    let mut p = policy();
    assert_eq!(validate(&set, &p), vec![]);
    p.qc_fail = QcFailPolicy::NoAction;
    let issues = validate(&set, &p);
    assert_eq!(
        codes(&issues),
        [("qc-fail".into(), IssueCode::NeverMatches)]
    );
    assert!(issues[0].message.contains("QC fail policy"));
}

#[test]
fn unknown_keys_in_an_outcome_and_bad_ratios_are_refused() {
    let json = r#"{"rules":[{"id":"a","name":"A","priority":1,"condition":{"all":[]},
        "outcome":{"kind":"credit_note","expiry":30}}]}"#;
    let issues = parse_rule_set(json).unwrap_err();
    assert_eq!(issues[0].path, "outcome");
    assert!(
        issues[0].message.contains("expiry"),
        "{}",
        issues[0].message
    );
    let bad: Result<returnhub_core::rules::Ratio, _> =
        serde_json::from_str(r#"{"numerator":1,"denominator":0}"#);
    assert!(bad.is_err());
}

/// Countries in rules as people write them: "Canada", "CA" and "CAN" all pass the engine's
/// check, and a country nobody has heard of is an error naming what was typed.
#[test]
fn countries_in_rules_are_read_by_name_or_code() {
    let rule = |value: &str| {
        format!(
            r#"{{"rules": [{{"id": "ca", "name": "No returns from Canada", "priority": 1,
               "condition": {{"predicate": {{"field": "order_country", "op": "eq", "value": {{"text": "{value}"}}}}}},
               "outcome": {{"kind": "no_action"}}}}]}}"#
        )
    };
    let policy = returnhub_core::decision::RetailerPolicy {
        trigger: returnhub_core::trigger::Trigger::Processing,
        customers_choose: false,
        exchange_enabled: false,
        rules_override_customer_choice: true,
        default_outcome: returnhub_core::rules::Outcome::Refund,
        qc_fail: returnhub_core::decision::QcFailPolicy::NoAction,
        credit_note_expiry_days: None,
        currency: None,
        shopify: Default::default(),
        partners: Default::default(),
    };
    for typed in ["Canada", "CA", "CAN", "canada"] {
        let set = returnhub_core::rules::parse_rule_set(&rule(typed)).unwrap();
        let errors: Vec<_> = returnhub_core::rules::validate(&set, &policy)
            .into_iter()
            .filter(|i| i.severity == returnhub_core::rules::Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{typed}: {errors:?}");
    }
    let set = returnhub_core::rules::parse_rule_set(&rule("Atlantis")).unwrap();
    let issues = returnhub_core::rules::validate(&set, &policy);
    assert!(
        issues
            .iter()
            .any(|i| i.severity == returnhub_core::rules::Severity::Error
                && i.message.contains("'Atlantis'")),
        "{issues:?}"
    );
}
