//! A retailer's automated return rules as the admin works on them: check a draft, dry-run it
//! against the last 30 days of the retailer's returns beside the current rules, and save it.
//! Saving records the whole retailer configuration as one event, so every hub replays the
//! same rules; a draft with errors is refused with every issue, each pointing at its rule.

use std::collections::HashMap;

use returnhub_core::auth::Role;
use returnhub_core::decision::{Decider, ReturnOption};
use returnhub_core::dryrun::{dry_run, DryRunReport, HistoricalItem, DEFAULT_WINDOW_DAYS};
use returnhub_core::event::DomainEvent;
use returnhub_core::money::Money;
use returnhub_core::refund::{
    refund_for_return, Order, OrderLine, ReceivedLine, RefundPolicy, RestockingFee,
};
use returnhub_core::rules::{parse_rule_set, ItemFacts, Ratio, RuleIssue, RuleSet, Severity};
use returnhub_core::time::{parse_rfc3339, rfc3339, MS_PER_DAY};
use returnhub_store::{EventInput, HistoryRow, Store};

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
        let mut store = self.store();
        let mut record = retailer(&store, retailer_id)?;
        record.rules = draft;
        store.write((self.clock)(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::RetailerConfigured(record),
                actor: actor.user_id.clone(),
                station: Some(self.options.station.clone()),
            })
        })?;
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

fn retailer(store: &Store, id: &str) -> Result<returnhub_core::event::RetailerRecord> {
    store
        .retailer_record(id)?
        .ok_or_else(|| HubError::UnknownRetailer(id.to_string()))
}

fn day_of(text: &str) -> Result<i64> {
    parse_rfc3339(text)
        .map(|ms| ms.div_euclid(MS_PER_DAY))
        .ok_or_else(|| HubError::Corrupt(format!("'{text}' is not a stored time")))
}

/// Maps stored rows to the facts the rules see, with each item's refundable amount.
fn historical_items(store: &Store, rows: &[HistoryRow]) -> Result<Vec<HistoricalItem>> {
    let mut orders: HashMap<&str, Order> = HashMap::new();
    let mut items = Vec::with_capacity(rows.len());
    let refund_policy = RefundPolicy {
        restocking_fee: RestockingFee::None,
        refund_shipping_when_fully_returned: false,
    };
    for row in rows {
        if !orders.contains_key(row.order_id.as_str()) {
            let lines = store.order_lines(&row.order_id)?;
            let currency = row.order_total.currency;
            orders.insert(
                &row.order_id,
                Order {
                    currency,
                    lines: lines
                        .into_iter()
                        .map(|l| OrderLine {
                            line_id: l.id,
                            unit_price: l.unit_price,
                            quantity: l.quantity,
                            line_discount: l.discount,
                            refunded_amount: Money::zero(currency),
                            refunded_quantity: 0,
                        })
                        .collect(),
                    order_discount: row.order_discount,
                    shipping_paid: Money::zero(currency),
                    shipping_refunded: Money::zero(currency),
                },
            );
        }
        let order = &orders[row.order_id.as_str()];
        let gross: i64 = order
            .lines
            .iter()
            .map(|l| l.unit_price.minor * i64::from(l.quantity))
            .sum();
        let discounts: i64 = order.order_discount.minor
            + order
                .lines
                .iter()
                .map(|l| l.line_discount.minor)
                .sum::<i64>();
        let amount = refund_for_return(
            order,
            &[ReceivedLine {
                line_id: row.line_id.clone(),
                quantity_received: row.quantity,
            }],
            &refund_policy,
        )
        .map_err(|e| HubError::Corrupt(format!("order {}: {e}", row.order_id)))?
        .total;
        let return_day = day_of(&row.return_created_at)?;
        let enum_from = |text: &Option<String>| -> Option<serde_json::Value> {
            text.as_ref().map(|t| serde_json::Value::String(t.clone()))
        };
        items.push(HistoricalItem {
            return_id: row.return_id.clone(),
            item_id: row.item_id.clone(),
            return_day,
            facts: ItemFacts {
                return_reason: row.reason_code.clone(),
                sub_reason: row.sub_reason_code.clone(),
                // The order's discounts (code and line) as a share of its undiscounted value.
                order_discount: Ratio::new(discounts, gross.max(1)).unwrap_or(Ratio::ZERO),
                order_discount_amount: Money::new(discounts, order.currency),
                order_value: row.order_total,
                order_country: row
                    .country
                    .parse()
                    .map_err(|e: String| HubError::Corrupt(e))?,
                product_tags: row.product_tags.clone(),
                order_tags: row.order_tags.clone(),
                qc_status: enum_from(&row.qc).and_then(|v| serde_json::from_value(v).ok()),
                qc_grade: enum_from(&row.grade).and_then(|v| serde_json::from_value(v).ok()),
                days_since_order: (return_day - day_of(&row.order_created_at)?).max(0) as u32,
                item_price: row.unit_price,
                sku: row.sku.clone(),
            },
            customer_choice: row.chosen_option.as_deref().and_then(ReturnOption::parse),
            amount,
        });
    }
    Ok(items)
}
