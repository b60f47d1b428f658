//! A retailer's automated return rules as the admin works on them: check a draft, dry-run it
//! against the last 30 days of the retailer's returns beside the current rules, and save it.
//! Saving records the whole retailer configuration as one event, so every hub replays the
//! same rules; a draft with errors is refused with every issue, each pointing at its rule.

use std::collections::HashMap;

use returnhub_core::auth::Role;
use returnhub_core::decision::{Decider, ReturnOption};
use returnhub_core::dryrun::{dry_run, DryRunReport, HistoricalItem, DEFAULT_WINDOW_DAYS};
use returnhub_core::refund::Order;
use returnhub_core::rules::{parse_rule_set, RuleIssue, RuleSet, Severity};
use returnhub_core::time::{parse_rfc3339, rfc3339, MS_PER_DAY};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, HistoryRow, Store};

use crate::bench::{item_facts, item_worth, order_for_refunds};
use crate::{Hub, HubError, Result};

/// The outcome of checking a draft: saved or not, every issue found (warnings included).
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct RulesCheck {
    pub saved: bool,
    pub issues: Vec<RuleIssue>,
}

impl Hub {
    /// The retailers whose rules the admin can edit.
    pub fn retailers(&self) -> Result<Vec<returnhub_core::model::RetailerSummary>> {
        self.authorize(Role::Admin)?;
        Ok(self.store().retailer_summaries()?)
    }

    /// The retailer's current rule set.
    pub fn retailer_rules(&self, retailer_id: &str) -> Result<RuleSet> {
        self.authorize(Role::Admin)?;
        let store = self.store();
        Ok(retailer(&store, retailer_id)?.rules)
    }

    /// Parses and validates `draft_json` against the retailer's policy.
    pub fn check_rules(&self, retailer_id: &str, draft_json: &str) -> Result<Vec<RuleIssue>> {
        self.authorize(Role::Admin)?;
        let store = self.store();
        let record = retailer(&store, retailer_id)?;
        Ok(match parse_rule_set(draft_json) {
            Err(issues) => issues,
            Ok(draft) => match Decider::new(&draft, &record.policy) {
                Err(issues) => issues,
                Ok(_) => returnhub_core::rules::validate(&draft, &record.policy),
            },
        })
    }

    /// Saves `draft_json` as the retailer's rules if it has no errors. Warnings do not block.
    pub fn save_rules(&self, retailer_id: &str, draft_json: &str) -> Result<RulesCheck> {
        let actor = self.authorize(Role::Admin)?;
        let issues = self.check_rules(retailer_id, draft_json)?;
        if issues.iter().any(|i| i.severity == Severity::Error) {
            return Ok(RulesCheck {
                saved: false,
                issues,
            });
        }
        let draft = parse_rule_set(draft_json).map_err(HubError::Rules)?;
        self.reconfigure_retailer(retailer_id, &actor.user_id, |record| record.rules = draft)?;
        tracing::info!(retailer = retailer_id, actor = %actor.user_id, "saved the retailer's rules");
        Ok(RulesCheck {
            saved: true,
            issues,
        })
    }

    /// What `draft_json` would decide for the retailer's returns of the last 30 days,
    /// beside what the current rules decide.
    pub fn dry_run_rules(&self, retailer_id: &str, draft_json: &str) -> Result<DryRunReport> {
        self.authorize(Role::Admin)?;
        let store = self.store();
        let record = retailer(&store, retailer_id)?;
        let draft = parse_rule_set(draft_json).map_err(HubError::Rules)?;
        let draft = Decider::new(&draft, &record.policy).map_err(HubError::Rules)?;
        let current = Decider::new(&record.rules, &record.policy).map_err(HubError::Rules)?;
        let now = (self.clock)();
        let since = rfc3339(now - i64::from(DEFAULT_WINDOW_DAYS) * MS_PER_DAY);
        let items = historical_items(&store, &store.history_rows(retailer_id, &since)?)?;
        Ok(dry_run(
            &current,
            &draft,
            &items,
            now.div_euclid(MS_PER_DAY),
            DEFAULT_WINDOW_DAYS,
        ))
    }
}

impl Hub {
    /// Records the retailer's configuration with `change` applied, as one
    /// `RetailerConfigured` event (the whole record, so every hub and the central store replay
    /// the same). Nothing is recorded when `change` changes nothing. Returns whether it did.
    pub(crate) fn reconfigure_retailer(
        &self,
        retailer_id: &str,
        actor: &str,
        change: impl FnOnce(&mut returnhub_core::record::RetailerRecord),
    ) -> Result<bool> {
        let mut store = self.store();
        let before = retailer(&store, retailer_id)?;
        let mut record = before.clone();
        change(&mut record);
        if record == before {
            return Ok(false);
        }
        store.write((self.clock)(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::RetailerConfigured(record),
                actor: actor.to_owned(),
                station: Some(self.options().station.clone()),
            })
        })?;
        Ok(true)
    }
}

fn retailer(store: &Store, id: &str) -> Result<returnhub_core::record::RetailerRecord> {
    store
        .retailer_record(id)?
        .ok_or_else(|| HubError::UnknownRetailer(id.to_string()))
}

fn day_of(text: &str) -> Result<i64> {
    parse_rfc3339(text)
        .map(|ms| ms.div_euclid(MS_PER_DAY))
        .ok_or_else(|| HubError::Corrupt(format!("'{text}' is not a stored time")))
}

/// Maps stored rows to the facts the rules see, with each item's refundable amount, as the
/// bench would have decided them on the day each return was made.
fn historical_items(store: &Store, rows: &[HistoryRow]) -> Result<Vec<HistoricalItem>> {
    let mut orders: HashMap<&str, Order> = HashMap::new();
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        if !orders.contains_key(row.order_id.as_str()) {
            // The dry run replays each return alone: nothing refunded before it.
            orders.insert(&row.order_id, order_for_refunds(store, row, "", false)?);
        }
        let order = &orders[row.order_id.as_str()];
        let amount = item_worth(order, row)?;
        let return_day = day_of(&row.return_created_at)?;
        let parse = |text: &Option<String>| -> Option<serde_json::Value> {
            text.as_ref().map(|t| serde_json::Value::String(t.clone()))
        };
        let qc = (
            parse(&row.qc).and_then(|v| serde_json::from_value(v).ok()),
            parse(&row.grade).and_then(|v| serde_json::from_value(v).ok()),
        );
        items.push(HistoricalItem {
            return_id: row.return_id.clone(),
            item_id: row.item_id.clone(),
            return_day,
            facts: item_facts(row, order, qc, return_day)?,
            customer_choice: row.chosen_option.as_deref().and_then(ReturnOption::parse),
            amount,
        });
    }
    Ok(items)
}
