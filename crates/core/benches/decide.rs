//! Decisions per second for one item against a 100-rule set, next to a hand-written
//! `match` of the same 100 rules measured in the same run.
//!
//! Run: `cargo bench -p returnhub-core --bench decide`. No harness: each variant runs
//! `ITERATIONS` decisions per sample, samples alternate between the variants, and the
//! median sample is reported.

use std::hint::black_box;
use std::time::Instant;

use returnhub_core::decision::{Decider, QcFailPolicy, RetailerPolicy};
use returnhub_core::rules::{
    Condition, CountryCode, Field, ItemFacts, Literal, Op, Outcome, Ratio, Rule, RuleSet,
};
use returnhub_core::trigger::Trigger;
use returnhub_core::{Currency, Money};

const ITERATIONS: u32 = 200_000;
const SAMPLES: usize = 15;
const DEFAULT: Outcome = Outcome::CreditNote { expiry_days: None };

fn nzd(minor: i64) -> Money {
    Money::new(minor, Currency::NZD)
}

const fn country(code: [u8; 2]) -> CountryCode {
    match CountryCode::new(code) {
        Some(c) => c,
        None => panic!("not a country code"),
    }
}

const AU: CountryCode = country(*b"AU");
const CA: CountryCode = country(*b"CA");
const GB: CountryCode = country(*b"GB");
const US: CountryCode = country(*b"US");

fn text(field: Field, op: Op, value: &str) -> Condition {
    Condition::test(field, op, Literal::Text(value.into()))
}

fn rule(priority: u32, condition: Condition, outcome: Outcome) -> Rule {
    Rule {
        id: format!("r{priority}"),
        name: format!("rule {priority}"),
        priority,
        enabled: true,
        condition,
        outcome,
    }
}

// The baseline's text tests: the same ASCII case-insensitive semantics as the engine's,
// against literals written in lower case.
fn text_eq(text: &str, lower: &str) -> bool {
    text.eq_ignore_ascii_case(lower)
}

fn text_contains(text: &str, lower: &str) -> bool {
    text.as_bytes()
        .windows(lower.len())
        .any(|w| w.eq_ignore_ascii_case(lower.as_bytes()))
}

fn has_tag(tags: &[String], lower: &str) -> bool {
    tags.iter().any(|t| text_eq(t, lower))
}

// ---- Generated once from a table of 100 rules; the two halves below must stay in step. ----
/// The 100-rule set as data, as the admin would save it.
fn hundred_rules() -> RuleSet {
    RuleSet {
        rules: vec![
            rule(
                1,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "US"),
                    text(Field::ProductTags, Op::Eq, "tag-001"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                2,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("7".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(200))),
                    text(Field::Sku, Op::Contains, "sku-002-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                3,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-003"),
                    text(Field::OrderTags, Op::Eq, "otag-003"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                4,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(4)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100004))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r004a".into(), "r004b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                5,
                text(Field::ReturnReason, Op::Eq, "reason-005"),
                Outcome::Refund,
            ),
            rule(
                6,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "AU"),
                    text(Field::ProductTags, Op::Eq, "tag-006"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                7,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("6".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(700))),
                    text(Field::Sku, Op::Contains, "sku-007-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                8,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-008"),
                    text(Field::OrderTags, Op::Eq, "otag-008"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                9,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(9)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100009))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r009a".into(), "r009b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                10,
                text(Field::ReturnReason, Op::Eq, "reason-010"),
                Outcome::Refund,
            ),
            rule(
                11,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "GB"),
                    text(Field::ProductTags, Op::Eq, "tag-011"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                12,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("5".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(1200))),
                    text(Field::Sku, Op::Contains, "sku-012-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                13,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-013"),
                    text(Field::OrderTags, Op::Eq, "otag-013"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                14,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(14)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100014))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r014a".into(), "r014b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                15,
                text(Field::ReturnReason, Op::Eq, "reason-015"),
                Outcome::Refund,
            ),
            rule(
                16,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "CA"),
                    text(Field::ProductTags, Op::Eq, "tag-016"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                17,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("7".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(1700))),
                    text(Field::Sku, Op::Contains, "sku-017-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                18,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-018"),
                    text(Field::OrderTags, Op::Eq, "otag-018"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                19,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(19)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100019))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r019a".into(), "r019b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                20,
                text(Field::ReturnReason, Op::Eq, "reason-020"),
                Outcome::Refund,
            ),
            rule(
                21,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "US"),
                    text(Field::ProductTags, Op::Eq, "tag-021"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                22,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("6".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(2200))),
                    text(Field::Sku, Op::Contains, "sku-022-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                23,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-023"),
                    text(Field::OrderTags, Op::Eq, "otag-023"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                24,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(24)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100024))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r024a".into(), "r024b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                25,
                text(Field::ReturnReason, Op::Eq, "reason-025"),
                Outcome::Refund,
            ),
            rule(
                26,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "AU"),
                    text(Field::ProductTags, Op::Eq, "tag-026"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                27,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("5".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(2700))),
                    text(Field::Sku, Op::Contains, "sku-027-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                28,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-028"),
                    text(Field::OrderTags, Op::Eq, "otag-028"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                29,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(29)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100029))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r029a".into(), "r029b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                30,
                text(Field::ReturnReason, Op::Eq, "reason-030"),
                Outcome::Refund,
            ),
            rule(
                31,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "GB"),
                    text(Field::ProductTags, Op::Eq, "tag-031"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                32,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("7".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(3200))),
                    text(Field::Sku, Op::Contains, "sku-032-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                33,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-033"),
                    text(Field::OrderTags, Op::Eq, "otag-033"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                34,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(34)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100034))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r034a".into(), "r034b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                35,
                text(Field::ReturnReason, Op::Eq, "reason-035"),
                Outcome::Refund,
            ),
            rule(
                36,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "CA"),
                    text(Field::ProductTags, Op::Eq, "tag-036"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                37,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("6".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(3700))),
                    text(Field::Sku, Op::Contains, "sku-037-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                38,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-038"),
                    text(Field::OrderTags, Op::Eq, "otag-038"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                39,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(39)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100039))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r039a".into(), "r039b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                40,
                text(Field::ReturnReason, Op::Eq, "reason-040"),
                Outcome::Refund,
            ),
            rule(
                41,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "US"),
                    text(Field::ProductTags, Op::Eq, "tag-041"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                42,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("5".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(4200))),
                    text(Field::Sku, Op::Contains, "sku-042-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                43,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-043"),
                    text(Field::OrderTags, Op::Eq, "otag-043"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                44,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(44)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100044))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r044a".into(), "r044b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                45,
                text(Field::ReturnReason, Op::Eq, "reason-045"),
                Outcome::Refund,
            ),
            rule(
                46,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "AU"),
                    text(Field::ProductTags, Op::Eq, "tag-046"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                47,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("7".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(4700))),
                    text(Field::Sku, Op::Contains, "sku-047-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                48,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-048"),
                    text(Field::OrderTags, Op::Eq, "otag-048"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                49,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(49)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100049))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r049a".into(), "r049b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                50,
                text(Field::ReturnReason, Op::Eq, "reason-050"),
                Outcome::Refund,
            ),
            rule(
                51,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "GB"),
                    text(Field::ProductTags, Op::Eq, "tag-051"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                52,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("6".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(5200))),
                    text(Field::Sku, Op::Contains, "sku-052-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                53,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-053"),
                    text(Field::OrderTags, Op::Eq, "otag-053"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                54,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(54)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100054))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r054a".into(), "r054b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                55,
                text(Field::ReturnReason, Op::Eq, "reason-055"),
                Outcome::Refund,
            ),
            rule(
                56,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "CA"),
                    text(Field::ProductTags, Op::Eq, "tag-056"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                57,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("5".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(5700))),
                    text(Field::Sku, Op::Contains, "sku-057-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                58,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-058"),
                    text(Field::OrderTags, Op::Eq, "otag-058"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                59,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(59)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100059))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r059a".into(), "r059b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                60,
                text(Field::ReturnReason, Op::Eq, "reason-060"),
                Outcome::Refund,
            ),
            rule(
                61,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "US"),
                    text(Field::ProductTags, Op::Eq, "tag-061"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                62,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("7".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(6200))),
                    text(Field::Sku, Op::Contains, "sku-062-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                63,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-063"),
                    text(Field::OrderTags, Op::Eq, "otag-063"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                64,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(64)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100064))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r064a".into(), "r064b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                65,
                text(Field::ReturnReason, Op::Eq, "reason-065"),
                Outcome::Refund,
            ),
            rule(
                66,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "AU"),
                    text(Field::ProductTags, Op::Eq, "tag-066"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                67,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("6".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(6700))),
                    text(Field::Sku, Op::Contains, "sku-067-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                68,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-068"),
                    text(Field::OrderTags, Op::Eq, "otag-068"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                69,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(69)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100069))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r069a".into(), "r069b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                70,
                text(Field::ReturnReason, Op::Eq, "reason-070"),
                Outcome::Refund,
            ),
            rule(
                71,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "GB"),
                    text(Field::ProductTags, Op::Eq, "tag-071"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                72,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("5".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(7200))),
                    text(Field::Sku, Op::Contains, "sku-072-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                73,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-073"),
                    text(Field::OrderTags, Op::Eq, "otag-073"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                74,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(74)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100074))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r074a".into(), "r074b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                75,
                text(Field::ReturnReason, Op::Eq, "reason-075"),
                Outcome::Refund,
            ),
            rule(
                76,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "CA"),
                    text(Field::ProductTags, Op::Eq, "tag-076"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                77,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("7".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(7700))),
                    text(Field::Sku, Op::Contains, "sku-077-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                78,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-078"),
                    text(Field::OrderTags, Op::Eq, "otag-078"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                79,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(79)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100079))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r079a".into(), "r079b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                80,
                text(Field::ReturnReason, Op::Eq, "reason-080"),
                Outcome::Refund,
            ),
            rule(
                81,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "US"),
                    text(Field::ProductTags, Op::Eq, "tag-081"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                82,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("6".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(8200))),
                    text(Field::Sku, Op::Contains, "sku-082-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                83,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-083"),
                    text(Field::OrderTags, Op::Eq, "otag-083"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                84,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(84)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100084))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r084a".into(), "r084b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                85,
                text(Field::ReturnReason, Op::Eq, "reason-085"),
                Outcome::Refund,
            ),
            rule(
                86,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "AU"),
                    text(Field::ProductTags, Op::Eq, "tag-086"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                87,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("5".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(8700))),
                    text(Field::Sku, Op::Contains, "sku-087-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                88,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-088"),
                    text(Field::OrderTags, Op::Eq, "otag-088"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                89,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(89)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100089))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r089a".into(), "r089b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                90,
                text(Field::ReturnReason, Op::Eq, "reason-090"),
                Outcome::Refund,
            ),
            rule(
                91,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "GB"),
                    text(Field::ProductTags, Op::Eq, "tag-091"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                92,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("7".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(9200))),
                    text(Field::Sku, Op::Contains, "sku-092-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                93,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-093"),
                    text(Field::OrderTags, Op::Eq, "otag-093"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                94,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(94)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100094))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r094a".into(), "r094b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                95,
                text(Field::ReturnReason, Op::Eq, "reason-095"),
                Outcome::Refund,
            ),
            rule(
                96,
                Condition::All(vec![
                    text(Field::OrderCountry, Op::Eq, "CA"),
                    text(Field::ProductTags, Op::Eq, "tag-096"),
                ]),
                Outcome::NoAction,
            ),
            rule(
                97,
                Condition::All(vec![
                    Condition::test(
                        Field::OrderDiscountPercent,
                        Op::Gt,
                        Literal::Percent("6".into()),
                    ),
                    Condition::test(Field::OrderValue, Op::Gte, Literal::Money(nzd(9700))),
                    text(Field::Sku, Op::Contains, "sku-097-"),
                ]),
                Outcome::CreditNote {
                    expiry_days: Some(365),
                },
            ),
            rule(
                98,
                Condition::Any(vec![
                    text(Field::SubReason, Op::Eq, "sub-098"),
                    text(Field::OrderTags, Op::Eq, "otag-098"),
                ]),
                Outcome::Exchange,
            ),
            rule(
                99,
                Condition::All(vec![
                    Condition::test(Field::DaysSinceOrder, Op::Gt, Literal::Number(99)),
                    Condition::test(Field::ItemPrice, Op::Lt, Literal::Money(nzd(100099))),
                    Condition::test(
                        Field::ReturnReason,
                        Op::In,
                        Literal::List(vec!["r099a".into(), "r099b".into()]),
                    ),
                ]),
                Outcome::HoldForReview,
            ),
            rule(
                100,
                text(Field::ReturnReason, Op::Eq, "reason-100"),
                Outcome::Refund,
            ),
        ],
    }
}

/// The same 100 rules written out by hand as one `match`: the baseline.
#[inline(never)]
fn hand_written(f: &ItemFacts) -> Outcome {
    match () {
        _ if f.order_country == US && has_tag(&f.product_tags, "tag-001") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(700).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 200
            && text_contains(&f.sku, "sku-002-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-003"))
            || has_tag(&f.order_tags, "otag-003") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 4
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100004
            && (text_eq(&f.return_reason, "r004a") || text_eq(&f.return_reason, "r004b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-005") => Outcome::Refund,
        _ if f.order_country == AU && has_tag(&f.product_tags, "tag-006") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(600).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 700
            && text_contains(&f.sku, "sku-007-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-008"))
            || has_tag(&f.order_tags, "otag-008") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 9
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100009
            && (text_eq(&f.return_reason, "r009a") || text_eq(&f.return_reason, "r009b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-010") => Outcome::Refund,
        _ if f.order_country == GB && has_tag(&f.product_tags, "tag-011") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(500).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 1200
            && text_contains(&f.sku, "sku-012-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-013"))
            || has_tag(&f.order_tags, "otag-013") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 14
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100014
            && (text_eq(&f.return_reason, "r014a") || text_eq(&f.return_reason, "r014b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-015") => Outcome::Refund,
        _ if f.order_country == CA && has_tag(&f.product_tags, "tag-016") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(700).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 1700
            && text_contains(&f.sku, "sku-017-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-018"))
            || has_tag(&f.order_tags, "otag-018") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 19
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100019
            && (text_eq(&f.return_reason, "r019a") || text_eq(&f.return_reason, "r019b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-020") => Outcome::Refund,
        _ if f.order_country == US && has_tag(&f.product_tags, "tag-021") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(600).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 2200
            && text_contains(&f.sku, "sku-022-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-023"))
            || has_tag(&f.order_tags, "otag-023") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 24
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100024
            && (text_eq(&f.return_reason, "r024a") || text_eq(&f.return_reason, "r024b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-025") => Outcome::Refund,
        _ if f.order_country == AU && has_tag(&f.product_tags, "tag-026") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(500).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 2700
            && text_contains(&f.sku, "sku-027-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-028"))
            || has_tag(&f.order_tags, "otag-028") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 29
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100029
            && (text_eq(&f.return_reason, "r029a") || text_eq(&f.return_reason, "r029b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-030") => Outcome::Refund,
        _ if f.order_country == GB && has_tag(&f.product_tags, "tag-031") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(700).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 3200
            && text_contains(&f.sku, "sku-032-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-033"))
            || has_tag(&f.order_tags, "otag-033") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 34
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100034
            && (text_eq(&f.return_reason, "r034a") || text_eq(&f.return_reason, "r034b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-035") => Outcome::Refund,
        _ if f.order_country == CA && has_tag(&f.product_tags, "tag-036") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(600).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 3700
            && text_contains(&f.sku, "sku-037-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-038"))
            || has_tag(&f.order_tags, "otag-038") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 39
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100039
            && (text_eq(&f.return_reason, "r039a") || text_eq(&f.return_reason, "r039b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-040") => Outcome::Refund,
        _ if f.order_country == US && has_tag(&f.product_tags, "tag-041") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(500).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 4200
            && text_contains(&f.sku, "sku-042-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-043"))
            || has_tag(&f.order_tags, "otag-043") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 44
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100044
            && (text_eq(&f.return_reason, "r044a") || text_eq(&f.return_reason, "r044b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-045") => Outcome::Refund,
        _ if f.order_country == AU && has_tag(&f.product_tags, "tag-046") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(700).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 4700
            && text_contains(&f.sku, "sku-047-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-048"))
            || has_tag(&f.order_tags, "otag-048") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 49
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100049
            && (text_eq(&f.return_reason, "r049a") || text_eq(&f.return_reason, "r049b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-050") => Outcome::Refund,
        _ if f.order_country == GB && has_tag(&f.product_tags, "tag-051") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(600).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 5200
            && text_contains(&f.sku, "sku-052-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-053"))
            || has_tag(&f.order_tags, "otag-053") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 54
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100054
            && (text_eq(&f.return_reason, "r054a") || text_eq(&f.return_reason, "r054b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-055") => Outcome::Refund,
        _ if f.order_country == CA && has_tag(&f.product_tags, "tag-056") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(500).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 5700
            && text_contains(&f.sku, "sku-057-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-058"))
            || has_tag(&f.order_tags, "otag-058") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 59
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100059
            && (text_eq(&f.return_reason, "r059a") || text_eq(&f.return_reason, "r059b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-060") => Outcome::Refund,
        _ if f.order_country == US && has_tag(&f.product_tags, "tag-061") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(700).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 6200
            && text_contains(&f.sku, "sku-062-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-063"))
            || has_tag(&f.order_tags, "otag-063") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 64
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100064
            && (text_eq(&f.return_reason, "r064a") || text_eq(&f.return_reason, "r064b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-065") => Outcome::Refund,
        _ if f.order_country == AU && has_tag(&f.product_tags, "tag-066") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(600).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 6700
            && text_contains(&f.sku, "sku-067-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-068"))
            || has_tag(&f.order_tags, "otag-068") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 69
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100069
            && (text_eq(&f.return_reason, "r069a") || text_eq(&f.return_reason, "r069b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-070") => Outcome::Refund,
        _ if f.order_country == GB && has_tag(&f.product_tags, "tag-071") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(500).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 7200
            && text_contains(&f.sku, "sku-072-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-073"))
            || has_tag(&f.order_tags, "otag-073") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 74
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100074
            && (text_eq(&f.return_reason, "r074a") || text_eq(&f.return_reason, "r074b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-075") => Outcome::Refund,
        _ if f.order_country == CA && has_tag(&f.product_tags, "tag-076") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(700).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 7700
            && text_contains(&f.sku, "sku-077-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-078"))
            || has_tag(&f.order_tags, "otag-078") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 79
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100079
            && (text_eq(&f.return_reason, "r079a") || text_eq(&f.return_reason, "r079b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-080") => Outcome::Refund,
        _ if f.order_country == US && has_tag(&f.product_tags, "tag-081") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(600).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 8200
            && text_contains(&f.sku, "sku-082-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-083"))
            || has_tag(&f.order_tags, "otag-083") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 84
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100084
            && (text_eq(&f.return_reason, "r084a") || text_eq(&f.return_reason, "r084b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-085") => Outcome::Refund,
        _ if f.order_country == AU && has_tag(&f.product_tags, "tag-086") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(500).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 8700
            && text_contains(&f.sku, "sku-087-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-088"))
            || has_tag(&f.order_tags, "otag-088") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 89
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100089
            && (text_eq(&f.return_reason, "r089a") || text_eq(&f.return_reason, "r089b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-090") => Outcome::Refund,
        _ if f.order_country == GB && has_tag(&f.product_tags, "tag-091") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(700).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 9200
            && text_contains(&f.sku, "sku-092-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-093"))
            || has_tag(&f.order_tags, "otag-093") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 94
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100094
            && (text_eq(&f.return_reason, "r094a") || text_eq(&f.return_reason, "r094b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-095") => Outcome::Refund,
        _ if f.order_country == CA && has_tag(&f.product_tags, "tag-096") => Outcome::NoAction,
        _ if f.order_discount.cmp_basis_points(600).is_gt()
            && f.order_value.currency == Currency::NZD
            && f.order_value.minor >= 9700
            && text_contains(&f.sku, "sku-097-") =>
        {
            Outcome::CreditNote {
                expiry_days: Some(365),
            }
        }
        _ if f
            .sub_reason
            .as_deref()
            .is_some_and(|s| text_eq(s, "sub-098"))
            || has_tag(&f.order_tags, "otag-098") =>
        {
            Outcome::Exchange
        }
        _ if f.days_since_order > 99
            && f.item_price.currency == Currency::NZD
            && f.item_price.minor < 100099
            && (text_eq(&f.return_reason, "r099a") || text_eq(&f.return_reason, "r099b")) =>
        {
            Outcome::HoldForReview
        }
        _ if text_eq(&f.return_reason, "reason-100") => Outcome::Refund,
        _ => DEFAULT,
    }
}

/// An item that matches none of the 100 rules, so every rule is tried (the worst case);
/// several rules get past their first predicate before failing.
fn unmatched_item() -> ItemFacts {
    ItemFacts {
        return_reason: "Changed mind".into(),
        sub_reason: Some("Too big".into()),
        order_discount: Ratio::new(1, 10).expect("10%"),
        order_discount_amount: nzd(1200),
        order_value: nzd(12_000),
        order_country: country(*b"NZ"),
        product_tags: vec!["basic".into(), "summer".into()],
        order_tags: vec!["vip".into()],
        qc_status: None,
        qc_grade: None,
        days_since_order: 12,
        item_price: nzd(4500),
        sku: "TEE-BLK-M".into(),
    }
}

/// An item taken by rule 52 (discount over 7%, order value, SKU).
fn midway_item() -> ItemFacts {
    let mut item = unmatched_item();
    item.sku = "SKU-052-RED".into();
    item
}

fn policy() -> RetailerPolicy {
    RetailerPolicy {
        trigger: Trigger::Processing,
        customers_choose: false,
        exchange_enabled: true,
        rules_override_customer_choice: true,
        default_outcome: DEFAULT,
        qc_fail: QcFailPolicy::RuleDriven,
        credit_note_expiry_days: None,
        currency: Some(Currency::NZD),
        shopify: Default::default(),
        partners: Default::default(),
    }
}

/// Median nanoseconds per call of `decide` over `SAMPLES` samples of `ITERATIONS` calls,
/// for each variant, alternating so both see the same machine conditions.
fn measure(variants: &[&dyn Fn() -> Outcome]) -> Vec<f64> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(SAMPLES); variants.len()];
    for _ in 0..SAMPLES {
        for (variant, out) in variants.iter().zip(samples.iter_mut()) {
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                black_box(variant());
            }
            out.push(start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS));
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

/// The same rules with every condition wrapped in `not(not(..))`: the same meaning, but no
/// guard can be taken from a negation, so the index cannot skip any rule and all 100 are
/// evaluated in order, like the hand-written match (the engine's worst case).
fn unindexable(rules: &RuleSet) -> RuleSet {
    let mut wrapped = rules.clone();
    for rule in &mut wrapped.rules {
        let condition = std::mem::replace(&mut rule.condition, Condition::always());
        rule.condition = Condition::Not(Box::new(Condition::Not(Box::new(condition))));
    }
    wrapped
}

fn main() {
    let rules = hundred_rules();
    let start = Instant::now();
    let decider = Decider::new(&rules, &policy()).expect("the 100 rules validate");
    println!(
        "validating and compiling the 100 rules: {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(decider.rules().len(), 100);
    let scan_all = Decider::new(&unindexable(&rules), &policy()).expect("still valid");
    let midway_outcome = Outcome::CreditNote {
        expiry_days: Some(365),
    };
    for (label, decider, item, expected) in [
        ("no rule matches", &decider, unmatched_item(), DEFAULT),
        ("rule 52 matches", &decider, midway_item(), midway_outcome),
        (
            "no rule matches, index defeated (all 100 rules evaluated)",
            &scan_all,
            unmatched_item(),
            DEFAULT,
        ),
    ] {
        // Both must agree before their speed means anything.
        assert_eq!(decider.decide(&item, None).outcome, expected);
        assert_eq!(hand_written(&item), expected);
        assert_eq!(decider.decide_explained(&item, None).outcome, expected);
        let engine = || decider.decide(black_box(&item), None).outcome;
        let baseline = || hand_written(black_box(&item));
        let medians = measure(&[&engine, &baseline]);
        let (engine_ns, baseline_ns) = (medians[0], medians[1]);
        println!("{label}:");
        println!(
            "  engine     {engine_ns:8.1} ns/decision  {:>12.0} decisions/s",
            1e9 / engine_ns
        );
        println!(
            "  hand match {baseline_ns:8.1} ns/decision  {:>12.0} decisions/s",
            1e9 / baseline_ns
        );
        println!(
            "  engine / hand-written time ratio: {:.2}x",
            engine_ns / baseline_ns
        );
        // For scripts/bench: what | ours | baseline | ratio | goal.
        println!(
            "figure: rule decision, 100 rules, {label} | {engine_ns:.0} ns ({:.2} M/s) | \
             hand-written match {baseline_ns:.0} ns | {:.2}× | ≤ 3×, ≥ 2 M/s",
            1e3 / engine_ns,
            engine_ns / baseline_ns
        );
    }
    let item = unmatched_item();
    let explained_runs = 2_000u32;
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..explained_runs {
                black_box(decider.decide_explained(black_box(&item), None));
            }
            start.elapsed().as_nanos() as f64 / f64::from(explained_runs)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let explained_ns = samples[SAMPLES / 2];
    println!("decide_explained, no rule matches: {explained_ns:.0} ns/decision (slow path, for the supervisor)");
    println!(
        "figure: decide_explained (the supervisor's why), no rule matches | {:.1} µs | — | — | < 5 µs",
        explained_ns / 1e3
    );
}
