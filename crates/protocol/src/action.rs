//! What a target (Shopify, a partner) needs to carry out a return action besides the action
//! itself. Each store reads the facts from its own tables ([`ReturnFacts`], [`ReturnItemFacts`]);
//! [`ActionContext::build`] is the one rule that makes the context of them, so a dispatcher
//! works the same from either.

use returnhub_core::partner::ActionTarget;

/// What a target needs besides the action itself: the return and order it is about, the
/// lines with what the bench found (each item's current inspection), and where the return
/// came from (a partner's return is actioned through that partner, under its own ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionContext {
    /// `orders.id`: for a Shopify order, its Order GID.
    pub order_id: String,
    pub lines: Vec<ActionLine>,
    /// The return's other items, as they stand (undecided, held for review, or decided in an
    /// earlier action): a rule about the whole return (a Clickpost exchange's replacement
    /// order) reads them.
    pub others: Vec<ActionLine>,
    /// How often a supervisor retried the action after it failed. A target whose idempotency
    /// keys remember a refusal (Shopify answers a repeat with the first request's result) is
    /// sent a retried action under a key of its own, which is safe: a refusal took no effect.
    pub retries: u32,
    /// The return's source (portal, loop, increff, returns_prime, …).
    pub source: String,
    /// Where the retailer's policy sends actions of returns from `source`.
    pub target: ActionTarget,
    /// The return's id at the partner it came from.
    pub external_id: Option<String>,
    /// The return's connotes (AWBs), in the order they were recorded.
    pub connotes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionLine {
    pub return_item_id: String,
    /// `order_lines.id`: for a Shopify order, the LineItem GID.
    pub order_line_id: String,
    pub quantity: u32,
    /// back_to_stock, resale_hold, … or `None` when the item was not inspected.
    pub disposition: Option<String>,
    pub sku: String,
    /// The item's line id at the partner the return came from.
    pub external_id: Option<String>,
    /// The item's current inspection (the latest not undone), if it was inspected.
    pub qc: Option<ItemQc>,
    /// The item's latest decision (refund, credit_note, exchange, no_action,
    /// hold_for_review), if it was decided.
    pub outcome: Option<String>,
    /// What the customer chose when the return was requested (refund, credit_note,
    /// exchange): a partner may have acted on it already (a Clickpost exchange's replacement
    /// order is made at the request), whatever the decision is.
    pub chosen_option: Option<String>,
}

/// What the bench recorded about an item, as partners are told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemQc {
    /// found, missing or extra.
    pub presence: String,
    /// pass or fail; `None` when QC was not recorded.
    pub qc: Option<String>,
    pub qc_reason: Option<String>,
    /// A, B, C or D.
    pub grade: Option<String>,
    pub note: Option<String>,
    /// Content hashes of the item's photos.
    pub photos: Vec<String>,
    /// RFC 3339.
    pub inspected_at: String,
}

impl ItemQc {
    /// The partner-facing summary of an inspection recorded at `inspected_at`.
    pub fn of(record: &returnhub_core::bench::InspectionRecord, inspected_at: &str) -> ItemQc {
        ItemQc {
            presence: record.presence.as_str().to_owned(),
            qc: record.qc.map(|q| q.name().to_owned()),
            qc_reason: record.qc_reason.clone(),
            grade: record.grade.map(|g| g.name().to_owned()),
            note: record.note.clone(),
            photos: record.photos.clone(),
            inspected_at: inspected_at.to_owned(),
        }
    }
}

/// What a store holds of an action's return, each read from its own tables.
#[derive(Debug, Clone)]
pub struct ReturnFacts {
    pub order_id: String,
    pub source: String,
    pub external_id: Option<String>,
    /// The retailer's policy; `None` while the store does not know the retailer.
    pub policy: Option<returnhub_core::decision::RetailerPolicy>,
    /// In the order they were recorded (the return's own first, then any attached).
    pub connotes: Vec<String>,
    /// How often a supervisor retried this action.
    pub retries: u32,
}

/// One item of an action's return as a store holds it.
#[derive(Debug, Clone)]
pub struct ReturnItemFacts {
    pub return_item_id: String,
    pub order_line_id: String,
    pub quantity: u32,
    pub external_id: Option<String>,
    /// The order line's SKU; empty when the store lacks the line.
    pub sku: String,
    /// What the customer chose when the return was requested.
    pub chosen_option: Option<String>,
    /// The inspection that stands (the latest not undone) and when it was recorded.
    pub inspection: Option<(returnhub_core::bench::InspectionRecord, String)>,
    /// The kind of the item's latest decided outcome.
    pub outcome: Option<String>,
}

impl ReturnItemFacts {
    fn line(self) -> ActionLine {
        ActionLine {
            disposition: self
                .inspection
                .as_ref()
                .and_then(|(r, _)| r.disposition)
                .map(|d| d.as_str().to_owned()),
            qc: self.inspection.as_ref().map(|(r, at)| ItemQc::of(r, at)),
            return_item_id: self.return_item_id,
            order_line_id: self.order_line_id,
            quantity: self.quantity,
            sku: self.sku,
            external_id: self.external_id,
            outcome: self.outcome,
            chosen_option: self.chosen_option,
        }
    }
}

impl ActionContext {
    /// What a target is told about `action`, by the one rule both stores follow whichever of
    /// them dispatches: the action's items in its order, then the return's other items by
    /// id; the target the retailer's policy names for the return's source (the default for
    /// the source while the retailer is unknown). Refused when an action's item is not among
    /// `items`, or it names none.
    pub fn build(
        action: &returnhub_core::trigger::ActionDue,
        ret: ReturnFacts,
        items: Vec<ReturnItemFacts>,
    ) -> Result<ActionContext, String> {
        let mut items = items;
        let mut lines = Vec::with_capacity(action.item_ids.len());
        for id in &action.item_ids {
            let at = items
                .iter()
                .position(|i| &i.return_item_id == id)
                .ok_or_else(|| {
                    format!(
                        "action {}: item {id} is not on return {}",
                        action.key, action.return_id
                    )
                })?;
            lines.push(items.swap_remove(at).line());
        }
        if lines.is_empty() {
            return Err(format!("action {} names no items", action.key));
        }
        items.sort_by(|a, b| a.return_item_id.cmp(&b.return_item_id));
        let target = match &ret.policy {
            Some(policy) => policy.partners.target_for(&ret.source),
            None => returnhub_core::partner::default_target(&ret.source),
        };
        Ok(ActionContext {
            order_id: ret.order_id,
            lines,
            others: items.into_iter().map(ReturnItemFacts::line).collect(),
            retries: ret.retries,
            source: ret.source,
            target,
            external_id: ret.external_id,
            connotes: ret.connotes,
        })
    }
}
