//! Dry run of a draft rule set: decide the retailer's recent returns with the current and
//! the draft rules and report what would change — counts and money by outcome, and the
//! list of items whose outcome differs.
//!
//! The caller passes today's day number (days since 1970-01-01); nothing here reads a clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::decision::{Decider, ReturnOption, Verdict, VerdictSource};
use crate::money::{Currency, Money};
use crate::rules::{ItemFacts, Outcome, OutcomeKind};

/// The window the admin screen uses: Shopify gives the hub the last 30 days of orders.
pub const DEFAULT_WINDOW_DAYS: u32 = 30;

/// One returned item as it was, for replaying decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct HistoricalItem {
    pub return_id: String,
    pub item_id: String,
    /// The day the return was created, in days since 1970-01-01.
    #[ts(type = "number")]
    pub return_day: i64,
    pub facts: ItemFacts,
    pub customer_choice: Option<ReturnOption>,
    /// The item's refundable amount, for the money totals.
    pub amount: Money,
}

/// Count and money of the items that got one kind of outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct OutcomeTotal {
    pub outcome: OutcomeKind,
    pub items: u32,
    /// One sum per currency, sorted by currency code.
    pub amounts: Vec<Money>,
}

/// An item whose outcome the draft would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct DryRunChange {
    pub return_id: String,
    pub item_id: String,
    pub current: Outcome,
    /// Name of the rule behind the current outcome, if a rule made it.
    pub current_rule: Option<String>,
    pub draft: Outcome,
    pub draft_rule: Option<String>,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct DryRunReport {
    /// Items inside the window that were decided.
    pub items: u32,
    pub current: Vec<OutcomeTotal>,
    pub draft: Vec<OutcomeTotal>,
    /// Items whose outcome differs, in input order.
    pub changes: Vec<DryRunChange>,
}

#[derive(Default)]
struct Tally {
    items: u32,
    amounts: BTreeMap<Currency, i64>,
}

fn add(tallies: &mut BTreeMap<OutcomeKind, Tally>, outcome: Outcome, amount: Money) {
    let tally = tallies.entry(outcome.kind()).or_default();
    tally.items += 1;
    let sum = tally.amounts.entry(amount.currency).or_insert(0);
    *sum = sum.saturating_add(amount.minor);
}

fn totals(tallies: BTreeMap<OutcomeKind, Tally>) -> Vec<OutcomeTotal> {
    tallies
        .into_iter()
        .map(|(outcome, t)| OutcomeTotal {
            outcome,
            items: t.items,
            amounts: t
                .amounts
                .into_iter()
                .map(|(currency, minor)| Money::new(minor, currency))
                .collect(),
        })
        .collect()
}

fn rule_name(decider: &Decider, verdict: Verdict) -> Option<String> {
    match verdict.source {
        VerdictSource::Rule(i) => Some(decider.rules()[i].label.rule_name.clone()),
        _ => None,
    }
}

/// Decides every item returned in the `window_days` up to and including `today` with both
/// deciders and compares. Both deciders should carry the same retailer policy.
pub fn dry_run(
    current: &Decider,
    draft: &Decider,
    items: &[HistoricalItem],
    today: i64,
    window_days: u32,
) -> DryRunReport {
    let oldest = today - i64::from(window_days);
    let mut report = DryRunReport {
        items: 0,
        current: Vec::new(),
        draft: Vec::new(),
        changes: Vec::new(),
    };
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    for item in items
        .iter()
        .filter(|i| i.return_day > oldest && i.return_day <= today)
    {
        report.items += 1;
        let was = current.decide(&item.facts, item.customer_choice);
        let would = draft.decide(&item.facts, item.customer_choice);
        add(&mut before, was.outcome, item.amount);
        add(&mut after, would.outcome, item.amount);
        if was.outcome != would.outcome {
            report.changes.push(DryRunChange {
                return_id: item.return_id.clone(),
                item_id: item.item_id.clone(),
                current: was.outcome,
                current_rule: rule_name(current, was),
                draft: would.outcome,
                draft_rule: rule_name(draft, would),
                amount: item.amount,
            });
        }
    }
    report.current = totals(before);
    report.draft = totals(after);
    report
}
