//! Dry run of a draft rule set over recent returns.

mod common;

use common::*;
use returnhub_core::decision::Decider;
use returnhub_core::dryrun::{dry_run, HistoricalItem, DEFAULT_WINDOW_DAYS};
use returnhub_core::rules::{Field, Op, Outcome, OutcomeKind, RuleSet};
use returnhub_core::{Currency, Money};

fn history() -> Vec<HistoricalItem> {
    let entry = |id: &str, day: i64, reason: &str, amount: Money| {
        let mut facts = item();
        facts.return_reason = reason.into();
        HistoricalItem {
            return_id: format!("R-{id}"),
            item_id: id.into(),
            return_day: day,
            facts,
            customer_choice: None,
            amount,
        }
    };
    vec![
        entry("1", 20_000, "Faulty", nzd(5000)),
        entry("2", 19_990, "Changed mind", nzd(2000)),
        entry("3", 19_980, "Faulty", Money::new(3000, Currency::AUD)),
        // 31 days before "today": outside the window.
        entry("old", 19_969, "Faulty", nzd(9999)),
    ]
}

#[test]
fn dry_run_counts_money_by_outcome_and_lists_the_changes_within_the_window() {
    let p = policy();
    let current = Decider::new(&RuleSet { rules: vec![] }, &p).unwrap();
    let draft_rules = RuleSet {
        rules: vec![rule(
            "faulty-credit",
            1,
            text(Field::ReturnReason, Op::Eq, "faulty"),
            Outcome::CreditNote {
                expiry_days: Some(90),
            },
        )],
    };
    let draft = Decider::new(&draft_rules, &p).unwrap();
    let report = dry_run(&current, &draft, &history(), 20_000, DEFAULT_WINDOW_DAYS);
    assert_eq!(report.items, 3);
    assert_eq!(report.current.len(), 1);
    assert_eq!(report.current[0].outcome, OutcomeKind::Refund);
    assert_eq!(report.current[0].items, 3);
    assert_eq!(
        report.current[0].amounts,
        [Money::new(3000, Currency::AUD), nzd(7000)]
    );
    let credit = report
        .draft
        .iter()
        .find(|t| t.outcome == OutcomeKind::CreditNote)
        .unwrap();
    assert_eq!(credit.items, 2);
    assert_eq!(credit.amounts, [Money::new(3000, Currency::AUD), nzd(5000)]);
    let changed: Vec<&str> = report.changes.iter().map(|c| c.item_id.as_str()).collect();
    assert_eq!(changed, ["1", "3"]);
    assert_eq!(report.changes[0].current_rule, None);
    assert_eq!(
        report.changes[0].draft_rule.as_deref(),
        Some("rule faulty-credit")
    );
    // The same rules change nothing.
    let same = dry_run(&draft, &draft, &history(), 20_000, DEFAULT_WINDOW_DAYS);
    assert!(same.changes.is_empty());
    assert_eq!(same.current, same.draft);
}
