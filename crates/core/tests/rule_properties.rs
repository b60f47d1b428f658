//! Properties of deciding over random rule sets and items, checked against a naive
//! reference interpreter written straight from the documented semantics: priority order and
//! first match, fast and explained paths agreeing, determinism, and soundness of the
//! "never matches" / "shadowed" analysis.

mod common;

use common::*;
use proptest::prelude::*;
use returnhub_core::decision::{
    Decider, QcFailPolicy, RetailerPolicy, ReturnOption, VerdictSource,
};
use returnhub_core::rules::{
    validate, Condition, Field, IssueCode, ItemFacts, Literal, Op, Outcome, Predicate, QcStatus,
    Ratio, Rule, RuleSet,
};
use returnhub_core::{Currency, Money};

const REASONS: &[&str] = &[
    "Faulty",
    "faulty",
    "Changed mind",
    "Too small",
    "Défaut",
    "DÉFAUT",
    // The decider sieves equality tests on a text's length and first seven bytes, folded:
    // texts that share those, and a Kelvin sign that folds to an ASCII `k`.
    "Changed mind later",
    "CHANGED MIND",
    "\u{212A}ept",
    "kept",
    // Longer than any sieve key says (255 bytes and more), and one byte apart.
    LONG_A,
    LONG_B,
];
const LONG_A: &str = concat!(
    "Arrived damaged in transit and the box was crushed on one side so the item inside is ",
    "scratched, the seams have come apart at the shoulder, a button is missing, the colour ",
    "differs from the photographs on the website, and the size runs smaller than the chart ",
    "said it would: A"
);
const LONG_B: &str = concat!(
    "Arrived damaged in transit and the box was crushed on one side so the item inside is ",
    "scratched, the seams have come apart at the shoulder, a button is missing, the colour ",
    "differs from the photographs on the website, and the size runs smaller than the chart ",
    "said it would: B"
);
const COUNTRIES: &[&str] = &["CA", "NZ", "US"];
const TAGS: &[&str] = &[
    "Sale Item",
    "New",
    "sale item",
    "Sale Items",
    "\u{212A}ept",
    "kept",
];
const SKUS: &[&str] = &["TEE-BLK-M", "TEE-WHT-S", "CAP-01", "tee-blk-m"];

fn money_strategy() -> impl Strategy<Value = Money> {
    (
        prop::sample::select(vec![0i64, 1000, 5000, 5001, 10_000]),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(m, home)| Money::new(m, if home { Currency::NZD } else { Currency::USD }))
}

fn texts(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(pool).prop_map(str::to_owned)
}

fn ordered_op() -> impl Strategy<Value = Op> {
    prop::sample::select(vec![Op::Eq, Op::Ne, Op::Gt, Op::Gte, Op::Lt, Op::Lte])
}

fn predicate_strategy() -> impl Strategy<Value = Predicate> {
    let p = |field, op, value| Predicate { field, op, value };
    prop_oneof![
        (
            prop::sample::select(vec![Op::Eq, Op::Ne, Op::Contains]),
            texts(REASONS)
        )
            .prop_map(move |(op, t)| p(Field::ReturnReason, op, Literal::Text(t))),
        prop::collection::vec(texts(REASONS), 1..3).prop_map(move |l| p(
            Field::ReturnReason,
            Op::In,
            Literal::List(l)
        )),
        (prop::sample::select(vec![Op::Eq, Op::Ne]), texts(REASONS)).prop_map(move |(op, t)| p(
            Field::SubReason,
            op,
            Literal::Text(t)
        )),
        (prop::sample::select(vec![Op::Eq, Op::Ne]), texts(COUNTRIES)).prop_map(move |(op, t)| p(
            Field::OrderCountry,
            op,
            Literal::Text(t)
        )),
        prop::collection::vec(texts(COUNTRIES), 1..3).prop_map(move |l| p(
            Field::OrderCountry,
            Op::In,
            Literal::List(l)
        )),
        (
            prop::sample::select(vec![Op::Eq, Op::Ne, Op::Contains]),
            texts(TAGS)
        )
            .prop_map(move |(op, t)| p(Field::ProductTags, op, Literal::Text(t))),
        prop::collection::vec(texts(TAGS), 1..3).prop_map(move |l| p(
            Field::OrderTags,
            Op::In,
            Literal::List(l)
        )),
        prop::collection::vec(texts(REASONS), 1..3).prop_map(move |l| p(
            Field::SubReason,
            Op::In,
            Literal::List(l)
        )),
        prop::collection::vec(texts(SKUS), 1..3).prop_map(move |l| p(
            Field::Sku,
            Op::In,
            Literal::List(l)
        )),
        prop::collection::vec(texts(TAGS), 1..3).prop_map(move |l| p(
            Field::ProductTags,
            Op::In,
            Literal::List(l)
        )),
        (
            prop::sample::select(vec![Op::Eq, Op::Ne]),
            prop::sample::select(vec!["pass", "fail"])
        )
            .prop_map(move |(op, t)| p(Field::QcStatus, op, Literal::Text(t.into()))),
        (
            prop::sample::select(vec![Op::Eq, Op::Ne]),
            prop::sample::select(vec!["A", "B", "D"])
        )
            .prop_map(move |(op, t)| p(Field::QcGrade, op, Literal::Text(t.into()))),
        (
            ordered_op(),
            prop::sample::select(vec!["0", "25", "50", "50.01"])
        )
            .prop_map(move |(op, t)| p(
                Field::OrderDiscountPercent,
                op,
                Literal::Percent(t.into())
            )),
        (
            ordered_op(),
            money_strategy(),
            prop::sample::select(vec![
                Field::OrderValue,
                Field::ItemPrice,
                Field::OrderDiscountAmount
            ])
        )
            .prop_map(move |(op, m, f)| p(f, op, Literal::Money(m))),
        (ordered_op(), 0u32..40).prop_map(move |(op, n)| p(
            Field::DaysSinceOrder,
            op,
            Literal::Number(n)
        )),
        (
            prop::sample::select(vec![Op::Eq, Op::Contains]),
            texts(SKUS)
        )
            .prop_map(move |(op, t)| p(Field::Sku, op, Literal::Text(t))),
    ]
}

fn condition_strategy() -> impl Strategy<Value = Condition> {
    predicate_strategy()
        .prop_map(Condition::Predicate)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Condition::All),
                prop::collection::vec(inner.clone(), 1..3).prop_map(Condition::Any),
                inner.prop_map(|c| Condition::Not(Box::new(c))),
            ]
        })
}

fn outcome_strategy() -> impl Strategy<Value = Outcome> {
    prop::sample::select(vec![
        Outcome::Refund,
        Outcome::CreditNote {
            expiry_days: Some(30),
        },
        Outcome::Exchange,
        Outcome::NoAction,
        Outcome::HoldForReview,
    ])
}

/// Rule sets with distinct priorities, listed in a shuffled order. Half of them also end
/// with [`FILLERS`] rules no item matches and no index can narrow, so that every decision
/// has more candidates than the decider's sieve threshold (12) and runs through the sieve.
fn rule_set_strategy() -> impl Strategy<Value = RuleSet> {
    (
        prop::collection::vec(
            (
                condition_strategy(),
                outcome_strategy(),
                prop::bool::weighted(0.85),
            ),
            0..7,
        ),
        any::<bool>(),
    )
        .prop_flat_map(|(specs, fill)| {
            let n = specs.len();
            (
                Just(specs),
                Just((1..=n as u32).collect::<Vec<u32>>()).prop_shuffle(),
                Just(fill),
            )
        })
        .prop_map(|(specs, priorities, fill)| {
            let mut rules: Vec<Rule> = specs
                .into_iter()
                .zip(priorities)
                .enumerate()
                .map(|(i, ((condition, outcome, enabled), priority))| Rule {
                    id: format!("r{i}"),
                    name: format!("rule {i}"),
                    priority: priority * 10,
                    enabled,
                    condition,
                    outcome,
                })
                .collect();
            if fill {
                rules.extend((0..FILLERS).map(|i| Rule {
                    id: format!("filler{i}"),
                    name: format!("filler {i}"),
                    priority: 1_000 + i,
                    enabled: true,
                    // No generated item is this old (they are 0 to 39 days); `=`, so that
                    // no filler shadows another and validation keeps them all.
                    condition: Condition::test(
                        Field::DaysSinceOrder,
                        Op::Eq,
                        Literal::Number(1_000 + i),
                    ),
                    outcome: Outcome::NoAction,
                }));
            }
            RuleSet { rules }
        })
}

const FILLERS: u32 = 16;

fn facts_strategy() -> impl Strategy<Value = ItemFacts> {
    (
        (
            texts(REASONS),
            prop::option::of(texts(REASONS)),
            texts(COUNTRIES),
            texts(SKUS),
        ),
        (
            prop::collection::vec(texts(TAGS), 0..3),
            prop::collection::vec(texts(TAGS), 0..2),
        ),
        (
            prop::option::of(prop::sample::select(vec![QcStatus::Pass, QcStatus::Fail])),
            prop::option::of(prop::sample::select(
                returnhub_core::rules::Grade::ALL.to_vec(),
            )),
            0u32..40,
        ),
        (money_strategy(), money_strategy(), money_strategy()),
        (0i64..=100, 1i64..=200),
    )
        .prop_map(
            |(
                (reason, sub, country, sku),
                (ptags, otags),
                (qc, grade, days),
                (value, price, disc),
                (num, den),
            )| {
                ItemFacts {
                    return_reason: reason,
                    sub_reason: sub,
                    order_discount: Ratio::new(num.min(den), den).unwrap(),
                    order_discount_amount: disc,
                    order_value: value,
                    order_country: country.parse().unwrap(),
                    product_tags: ptags,
                    order_tags: otags,
                    qc_status: qc,
                    qc_grade: grade,
                    days_since_order: days,
                    item_price: price,
                    sku,
                }
            },
        )
}

// ---- The reference interpreter: slow, obvious, independent of the compiled form. ----

fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

fn cmp_holds(op: Op, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ord == Equal,
        Op::Ne => ord != Equal,
        Op::Gt => ord == Greater,
        Op::Gte => ord != Less,
        Op::Lt => ord == Less,
        Op::Lte => ord != Greater,
        _ => false,
    }
}

fn reference_predicate(p: &Predicate, f: &ItemFacts) -> bool {
    let single = |value: Option<String>| -> bool {
        let Some(v) = value.map(|v| fold(&v)) else {
            return false;
        };
        match (&p.op, &p.value) {
            (Op::Eq, Literal::Text(t)) => v == fold(t),
            (Op::Ne, Literal::Text(t)) => v != fold(t),
            (Op::Contains, Literal::Text(t)) => v.contains(&fold(t)),
            (Op::In, Literal::List(l)) => l.iter().any(|t| fold(t) == v),
            _ => false,
        }
    };
    let tags = |tags: &[String]| -> bool {
        let has = |t: &str| tags.iter().any(|x| fold(x) == fold(t));
        match (&p.op, &p.value) {
            (Op::Eq | Op::Contains, Literal::Text(t)) => has(t),
            (Op::Ne, Literal::Text(t)) => !has(t),
            (Op::In, Literal::List(l)) => l.iter().any(|t| has(t)),
            _ => false,
        }
    };
    let money = |m: Money| match &p.value {
        Literal::Money(lit) => {
            m.currency == lit.currency && cmp_holds(p.op, m.minor.cmp(&lit.minor))
        }
        _ => false,
    };
    match p.field {
        Field::ReturnReason => single(Some(f.return_reason.clone())),
        Field::SubReason => single(f.sub_reason.clone()),
        Field::Sku => single(Some(f.sku.clone())),
        Field::OrderCountry => single(Some(f.order_country.to_string())),
        Field::QcStatus => single(f.qc_status.map(|s| format!("{s:?}"))),
        Field::QcGrade => single(f.qc_grade.map(|g| format!("{g:?}"))),
        Field::ProductTags => tags(&f.product_tags),
        Field::OrderTags => tags(&f.order_tags),
        Field::OrderValue => money(f.order_value),
        Field::ItemPrice => money(f.item_price),
        Field::OrderDiscountAmount => money(f.order_discount_amount),
        Field::DaysSinceOrder => match p.value {
            Literal::Number(n) => cmp_holds(p.op, f.days_since_order.cmp(&n)),
            _ => false,
        },
        Field::OrderDiscountPercent => match &p.value {
            Literal::Percent(text) => {
                // percent/100 compared with num/den, in hundredths of a percent.
                let (whole, frac) = text.split_once('.').unwrap_or((text, "0"));
                let frac = format!("{frac:0<2}");
                let bp: i128 = whole.parse::<i128>().unwrap() * 100 + frac.parse::<i128>().unwrap();
                let d = f.order_discount;
                let lhs = i128::from(d.numerator()) * 10_000;
                cmp_holds(p.op, lhs.cmp(&(bp * i128::from(d.denominator()))))
            }
            _ => false,
        },
    }
}

fn reference_condition(c: &Condition, f: &ItemFacts) -> bool {
    match c {
        Condition::All(cs) => cs.iter().all(|c| reference_condition(c, f)),
        Condition::Any(cs) => cs.iter().any(|c| reference_condition(c, f)),
        Condition::Not(c) => !reference_condition(c, f),
        Condition::Predicate(p) => reference_predicate(p, f),
    }
}

/// The first enabled rule by priority whose condition holds, by the reference semantics.
fn reference_first_match<'a>(set: &'a RuleSet, f: &ItemFacts) -> Option<&'a Rule> {
    let mut enabled: Vec<&Rule> = set.rules.iter().filter(|r| r.enabled).collect();
    enabled.sort_by_key(|r| r.priority);
    enabled
        .into_iter()
        .find(|r| reference_condition(&r.condition, f))
}

/// The rules validation calls unreachable, and the set without them (which then builds).
fn split_unreachable(set: &RuleSet, policy: &RetailerPolicy) -> (Vec<String>, RuleSet) {
    let mut kept = set.clone();
    let mut dropped = Vec::new();
    // Dropping a rule can only remove issues, but a rule shadowed only by a dropped one is
    // reported once that one is gone: repeat until clean.
    for _ in 0..=set.rules.len() {
        let flagged: Vec<String> = validate(&kept, policy)
            .into_iter()
            .filter(|i| matches!(i.code, IssueCode::NeverMatches | IssueCode::Shadowed))
            .filter_map(|i| i.rule_id)
            .collect();
        if flagged.is_empty() {
            break;
        }
        kept.rules.retain(|r| !flagged.contains(&r.id));
        dropped.extend(flagged);
    }
    (dropped, kept)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn first_match_by_priority_agrees_with_the_reference_and_unreachable_rules_never_win(
        set in rule_set_strategy(),
        items in prop::collection::vec(facts_strategy(), 1..8),
        qc_fail in prop::sample::select(vec![QcFailPolicy::RuleDriven, QcFailPolicy::NoAction, QcFailPolicy::HoldForReview]),
    ) {
        let mut p = policy();
        p.qc_fail = qc_fail;
        let (unreachable, kept) = split_unreachable(&set, &p);
        let decider = Decider::new(&kept, &p).expect("only reachability issues were possible");
        for f in &items {
            if f.qc_status == Some(QcStatus::Fail) && qc_fail != QcFailPolicy::RuleDriven {
                prop_assert_eq!(decider.decide(f, None).source, VerdictSource::QcFailPolicy);
                continue;
            }
            let expected = reference_first_match(&set, f);
            if let Some(winner) = expected {
                prop_assert!(!unreachable.contains(&winner.id),
                    "rule {} was called unreachable but wins for {:?}", winner.id, f);
            }
            let verdict = decider.decide(f, None);
            match (expected, verdict.source) {
                (Some(rule), VerdictSource::Rule(i)) => {
                    prop_assert_eq!(&decider.rules()[i].label.rule_id, &rule.id);
                    prop_assert_eq!(verdict.outcome, rule.outcome);
                }
                (None, VerdictSource::RetailerDefault) => prop_assert_eq!(verdict.outcome, Outcome::Refund),
                (e, got) => prop_assert!(false, "reference {:?}, decider {:?}", e.map(|r| &r.id), got),
            }
        }
    }

    #[test]
    fn explained_and_fast_paths_agree_and_decisions_are_deterministic(
        set in rule_set_strategy(),
        f in facts_strategy(),
        choice in prop::option::of(prop::sample::select(vec![ReturnOption::Refund, ReturnOption::CreditNote, ReturnOption::Exchange])),
        customers_choose in any::<bool>(),
        overrides in any::<bool>(),
        exchange_enabled in any::<bool>(),
    ) {
        let (_, mut kept) = split_unreachable(&set, &policy());
        let mut p = policy();
        p.customers_choose = customers_choose;
        p.rules_override_customer_choice = overrides;
        p.exchange_enabled = exchange_enabled;
        if !exchange_enabled {
            kept.rules.retain(|r| r.outcome != Outcome::Exchange);
        }
        let decider = Decider::new(&kept, &p).unwrap();
        let fast = decider.decide(&f, choice);
        let explained = decider.decide_explained(&f, choice);
        prop_assert_eq!(fast.outcome, explained.outcome);
        prop_assert_eq!(decider.decide(&f, choice), fast);
        // Listing the same rules in another order changes nothing.
        let mut reversed = kept.clone();
        reversed.rules.reverse();
        let again = Decider::new(&reversed, &p).unwrap();
        prop_assert_eq!(again.decide(&f, choice).outcome, fast.outcome);
        prop_assert_eq!(again.decide_explained(&f, choice), explained.clone());
        // Every rule above the match is listed as not matching, in priority order.
        let listed: Vec<u32> = explained.explanation.not_matched.iter().map(|t| t.rule.priority).collect();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        prop_assert_eq!(&listed, &sorted);
        if let VerdictSource::Rule(i) = fast.source {
            prop_assert_eq!(listed.len(), i);
            let matched = explained.explanation.matched.as_ref().map(|t| t.rule.rule_id.as_str());
            prop_assert_eq!(matched, Some(decider.rules()[i].label.rule_id.as_str()));
        }
    }
}
