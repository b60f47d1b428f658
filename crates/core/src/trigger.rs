//! When a decision turns into an action that must fire exactly once: the retailer's trigger,
//! the events that fire it, and the stable idempotency key of each action.
//!
//! Firing is pure and repeatable: the same return, items and outcomes give the same keys
//! however often the trigger event arrives (a repeated carrier event, a re-scan, a re-close),
//! so the store's unique key on `ActionDue::key` turns every repeat into a no-op.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::money::Money;
use crate::rules::Outcome;

/// The one stage per retailer at which return actions are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The carrier's "return in transit" event: the customer dropped the parcel off.
    FirstScan,
    /// The hub processed (received and inspected) the return.
    Processing,
    /// A supervisor set the return's status to CLOSED.
    Manual,
}

impl Trigger {
    /// The stored text, the same as the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::FirstScan => "first_scan",
            Trigger::Processing => "processing",
            Trigger::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Trigger> {
        [Trigger::FirstScan, Trigger::Processing, Trigger::Manual]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// Whether QC results exist when this trigger fires (they do not at first scan).
    pub fn sees_inspection(self) -> bool {
        matches!(self, Trigger::Processing | Trigger::Manual)
    }

    /// Whether `event` is the one that fires this trigger.
    pub fn fires_on(self, event: ReturnEvent) -> bool {
        matches!(
            (self, event),
            (Trigger::FirstScan, ReturnEvent::CarrierInTransit)
                | (Trigger::Processing, ReturnEvent::Processed)
                | (Trigger::Manual, ReturnEvent::Closed)
        )
    }
}

/// The milestones of a return that can fire a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ReturnEvent {
    CarrierInTransit,
    Processed,
    Closed,
}

/// An action sent to Shopify or a partner. Hold for review sends nothing; No Action sends
/// nothing unless the retailer tags such orders ([`ShopifyPolicy::no_action_tag`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Refund,
    CreditNote,
    Exchange,
    /// Tag the order of an item that gets No Action (only where the retailer asks for it).
    TagOrder,
    /// Tell the partner a return came from what the bench found (QC result, grade,
    /// disposition, per item): the partner carries out the refund, credit or exchange itself.
    /// One action per return (all the items decided together), since partners process a
    /// return as a whole.
    PartnerUpdate,
}

impl ActionKind {
    pub fn for_outcome(outcome: Outcome) -> Option<ActionKind> {
        match outcome {
            Outcome::Refund => Some(ActionKind::Refund),
            Outcome::CreditNote { .. } => Some(ActionKind::CreditNote),
            Outcome::Exchange => Some(ActionKind::Exchange),
            Outcome::NoAction | Outcome::HoldForReview => None,
        }
    }

    /// The name that goes into the idempotency key. Never change these strings: that would
    /// change every key and let repeated events fire again.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Refund => "refund",
            ActionKind::CreditNote => "credit_note",
            ActionKind::Exchange => "exchange",
            ActionKind::TagOrder => "tag_order",
            ActionKind::PartnerUpdate => "partner_update",
        }
    }
}

/// `rh1-` followed by 64 lower-case hex digits. See [`IdempotencyKey::derive`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Version prefix of the key format; a new encoding must get a new prefix.
    pub const PREFIX: &'static str = "rh1-";

    /// The key of the action of `kind` for `item_ids` of `return_id` at `retailer_id`.
    ///
    /// Version 1 is `rh1-` + hex(SHA-256(encoding)) where the encoding is the bytes
    /// `"returnhub-action-key\0v1\0"` followed by, each as a big-endian u64 byte length and
    /// then its UTF-8 bytes: the retailer id, the return id, then the number of distinct item
    /// ids as a big-endian u64 and each item id (sorted bytewise, duplicates dropped), then
    /// the action kind's name. Length prefixes keep ("ab","c") and ("a","bc") apart; sorting
    /// makes the order in which items were listed irrelevant. Nothing here depends on the
    /// platform, the run or the clock.
    pub fn derive(
        retailer_id: &str,
        return_id: &str,
        item_ids: &[&str],
        kind: ActionKind,
    ) -> IdempotencyKey {
        let mut items: Vec<&str> = item_ids.to_vec();
        items.sort_unstable();
        items.dedup();
        let mut hasher = Sha256::new();
        hasher.update(b"returnhub-action-key\0v1\0");
        put_field(&mut hasher, retailer_id.as_bytes());
        put_field(&mut hasher, return_id.as_bytes());
        hasher.update((items.len() as u64).to_be_bytes());
        for item in &items {
            put_field(&mut hasher, item.as_bytes());
        }
        put_field(&mut hasher, kind.name().as_bytes());
        let digest = hasher.finalize();
        let mut key = String::with_capacity(Self::PREFIX.len() + 64);
        key.push_str(Self::PREFIX);
        for byte in digest {
            key.push_str(&format!("{byte:02x}"));
        }
        IdempotencyKey(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key as typed or sent back by the window: the prefix and 64 lower-case hex digits.
    pub fn parse(s: &str) -> Option<IdempotencyKey> {
        let hex = s.strip_prefix(Self::PREFIX)?;
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| IdempotencyKey(s.to_owned()))
    }
}

/// A length-prefixed field of the key encoding.
fn put_field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One item's final decision, as the hub hands it to [`actions_due`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    pub item_id: String,
    pub outcome: Outcome,
    /// What a refund or credit note is worth (see `refund`); `None` for an exchange.
    pub amount: Option<Money>,
}

/// An action that must be sent exactly once. The store records it under `key` (unique)
/// before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ActionDue {
    pub key: IdempotencyKey,
    pub retailer_id: String,
    pub return_id: String,
    pub item_ids: Vec<String>,
    pub kind: ActionKind,
    pub amount: Option<Money>,
    /// For a credit note: days until it expires, if it does.
    pub credit_note_expiry_days: Option<u32>,
}

/// The actions that `event` makes due under `trigger`: one per item whose outcome sends
/// something, each keyed by (retailer, return, that item, action kind). An event that does
/// not fire the trigger makes nothing due.
///
/// One action per item (rather than one per return and kind) keeps keys stable when items
/// of a return are decided at different times: a later item never produces a key that
/// covers an item already paid.
pub fn actions_due(
    trigger: Trigger,
    event: ReturnEvent,
    retailer_id: &str,
    return_id: &str,
    items: &[ItemOutcome],
) -> Vec<ActionDue> {
    if !trigger.fires_on(event) {
        return Vec::new();
    }
    let mut due: Vec<ActionDue> = Vec::new();
    for item in items {
        let Some(kind) = ActionKind::for_outcome(item.outcome) else {
            continue;
        };
        let key = IdempotencyKey::derive(retailer_id, return_id, &[&item.item_id], kind);
        if due.iter().any(|d| d.key == key) {
            // The same item listed twice is one action, not two.
            continue;
        }
        let credit_note_expiry_days = match item.outcome {
            Outcome::CreditNote { expiry_days } => expiry_days,
            _ => None,
        };
        due.push(ActionDue {
            key,
            retailer_id: retailer_id.to_owned(),
            return_id: return_id.to_owned(),
            item_ids: vec![item.item_id.clone()],
            kind,
            amount: item.amount,
            credit_note_expiry_days,
        });
    }
    due
}

/// The actions `event` makes due under the retailer's whole policy, for a return from
/// `source`:
///
/// - actioned through Shopify: [`actions_due`] under its trigger, and a `TagOrder` action for
///   each No Action item when the retailer tags such orders;
/// - actioned through a partner: one `PartnerUpdate` for the return's decided items (every
///   outcome but Hold for review, No Action included: the partner must hear that an item
///   failed QC to refuse its refund or cancel its exchange). Items decided later (a held item
///   a supervisor decides) make a second update, for those items;
/// - uploaded by a partner that pays it itself ([`crate::partner::pays_itself`]: Loop): none,
///   ever; the hub's tracking events are what that partner acts on.
pub fn actions_due_under(
    policy: &crate::decision::RetailerPolicy,
    source: &str,
    event: ReturnEvent,
    retailer_id: &str,
    return_id: &str,
    items: &[ItemOutcome],
) -> Vec<ActionDue> {
    if !policy.trigger.fires_on(event) || crate::partner::pays_itself(source) {
        return Vec::new();
    }
    if policy.partners.target_for(source).is_partner() {
        let mut item_ids: Vec<&str> = items
            .iter()
            .filter(|i| i.outcome != Outcome::HoldForReview)
            .map(|i| i.item_id.as_str())
            .collect();
        item_ids.sort_unstable();
        item_ids.dedup();
        if item_ids.is_empty() {
            return Vec::new();
        }
        let kind = ActionKind::PartnerUpdate;
        return vec![ActionDue {
            key: IdempotencyKey::derive(retailer_id, return_id, &item_ids, kind),
            retailer_id: retailer_id.to_owned(),
            return_id: return_id.to_owned(),
            item_ids: item_ids.into_iter().map(str::to_owned).collect(),
            kind,
            amount: None,
            credit_note_expiry_days: None,
        }];
    }
    let mut due = actions_due(policy.trigger, event, retailer_id, return_id, items);
    if policy.shopify.no_action_tag.is_none() {
        return due;
    }
    for item in items.iter().filter(|i| i.outcome == Outcome::NoAction) {
        let key = IdempotencyKey::derive(
            retailer_id,
            return_id,
            &[&item.item_id],
            ActionKind::TagOrder,
        );
        if due.iter().any(|d| d.key == key) {
            continue;
        }
        due.push(ActionDue {
            key,
            retailer_id: retailer_id.to_owned(),
            return_id: return_id.to_owned(),
            item_ids: vec![item.item_id.clone()],
            kind: ActionKind::TagOrder,
            amount: None,
            credit_note_expiry_days: None,
        });
    }
    due
}

/// How a retailer's actions are carried out on Shopify. Part of [`RetailerPolicy`], so it
/// travels with the retailer's configuration to every hub and to the central store (which is
/// where actions are sent from when there is one).
///
/// [`RetailerPolicy`]: crate::decision::RetailerPolicy
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default, deny_unknown_fields)]
pub struct ShopifyPolicy {
    pub exchange: ExchangeVia,
    /// Release-hold exchanges: the replacement order carries the tag `{prefix}{return id}`.
    pub exchange_tag_prefix: String,
    pub credit_note: CreditNoteVia,
    /// Orders of items that get No Action are tagged with this; `None`: not tagged.
    pub no_action_tag: Option<String>,
    /// Whether Shopify emails the customer: about a refund, a processed return, an edited
    /// replacement order, and a gift card issued as their credit note (with its code).
    pub notify_customer: bool,
}

impl Default for ShopifyPolicy {
    fn default() -> Self {
        ShopifyPolicy {
            exchange: ExchangeVia::ReleaseHold,
            exchange_tag_prefix: "returnhub-exchange-".into(),
            credit_note: CreditNoteVia::GiftCard,
            no_action_tag: None,
            notify_customer: true,
        }
    }
}

impl ShopifyPolicy {
    /// The problems an admin must fix before the settings can be saved.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let tag_ok =
            |t: &str| !t.trim().is_empty() && t.len() <= 40 && !t.contains(',') && t.trim() == t;
        if self.exchange == ExchangeVia::ReleaseHold && !tag_ok(&self.exchange_tag_prefix) {
            problems.push(
                "the exchange tag prefix must be 1 to 40 characters, without commas or \
                 surrounding spaces"
                    .to_owned(),
            );
        }
        if let Some(tag) = &self.no_action_tag {
            if !tag_ok(tag) {
                problems.push(
                    "the No Action tag must be 1 to 40 characters, without commas or \
                     surrounding spaces"
                        .to_owned(),
                );
            }
        }
        problems
    }
}

/// How an exchange is carried out on Shopify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeVia {
    /// The returns platform created the replacement order on hold, tagged with the return;
    /// the hub releases its fulfillment holds (the Increff / Clickpost flow).
    ReleaseHold,
    /// The customer's Shopify return carries exchange line items; the hub processes it with
    /// `returnProcess`.
    ReturnProcess,
}

/// How a credit note is issued on Shopify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum CreditNoteVia {
    /// A gift card whose code derives from the action's key.
    GiftCard,
    /// A refund to the customer's store credit (`refundCreate` with a store-credit method).
    StoreCredit,
}

/// Drops the actions whose key is already recorded, so a repeated trigger adds nothing.
/// (The store's unique key enforces the same; this lets the caller tell the operator.)
pub fn not_yet_recorded(
    due: Vec<ActionDue>,
    is_recorded: impl Fn(&IdempotencyKey) -> bool,
) -> Vec<ActionDue> {
    due.into_iter().filter(|d| !is_recorded(&d.key)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn key_format_is_pinned_across_runs_and_platforms() {
        // If this changes, every stored key changes and repeated events would fire again.
        let key =
            IdempotencyKey::derive("acme", "R-1001", &["item-2", "item-1"], ActionKind::Refund);
        assert_eq!(key.as_str(), PINNED_KEY);
        assert!(key.as_str().starts_with("rh1-"));
        assert_eq!(key.as_str().len(), 4 + 64);
    }

    // Computed independently from the documented encoding (Python hashlib).
    const PINNED_KEY: &str = "rh1-eeb942cc60f7b5249a41544ad790d07e6a99e2e4d006852c1a9b46f3984db5ea";

    #[test]
    fn key_separates_fields_and_kinds() {
        let base = IdempotencyKey::derive("ab", "c", &["i"], ActionKind::Refund);
        assert_ne!(
            base,
            IdempotencyKey::derive("a", "bc", &["i"], ActionKind::Refund)
        );
        assert_ne!(
            base,
            IdempotencyKey::derive("ab", "c", &["i"], ActionKind::CreditNote)
        );
        assert_ne!(
            base,
            IdempotencyKey::derive("ab", "c", &["i", "j"], ActionKind::Refund)
        );
        assert_ne!(
            base,
            IdempotencyKey::derive("ab", "c", &[], ActionKind::Refund)
        );
        assert_eq!(
            base,
            IdempotencyKey::derive("ab", "c", &["i", "i"], ActionKind::Refund)
        );
    }

    /// Loop credits the returns it uploads itself: nothing is made due for one, under any
    /// trigger, routes or outcome, while a plain upload of the same items is actioned.
    #[test]
    fn a_return_loop_uploaded_makes_nothing_due() {
        use crate::decision::{QcFailPolicy, RetailerPolicy};
        let items = [ItemOutcome {
            item_id: "i1".into(),
            outcome: Outcome::Refund,
            amount: Some(crate::money::Money::new(4_995, Currency::NZD)),
        }];
        for (trigger, event) in [
            (Trigger::FirstScan, ReturnEvent::CarrierInTransit),
            (Trigger::Processing, ReturnEvent::Processed),
            (Trigger::Manual, ReturnEvent::Closed),
        ] {
            let policy = RetailerPolicy {
                trigger,
                customers_choose: true,
                exchange_enabled: false,
                rules_override_customer_choice: false,
                default_outcome: Outcome::Refund,
                qc_fail: QcFailPolicy::RuleDriven,
                credit_note_expiry_days: None,
                currency: None,
                shopify: Default::default(),
                partners: Default::default(),
            };
            let due = |source: &str| actions_due_under(&policy, source, event, "r", "R-1", &items);
            assert!(due(crate::partner::LOOP_UPLOAD).is_empty(), "{trigger:?}");
            assert_eq!(due("partner_upload").len(), 1, "{trigger:?}");
        }
    }

    #[test]
    fn each_trigger_fires_on_its_own_event_only() {
        use ReturnEvent::*;
        for (trigger, fires) in [
            (Trigger::FirstScan, CarrierInTransit),
            (Trigger::Processing, Processed),
            (Trigger::Manual, Closed),
        ] {
            for event in [CarrierInTransit, Processed, Closed] {
                assert_eq!(
                    trigger.fires_on(event),
                    event == fires,
                    "{trigger:?} {event:?}"
                );
            }
        }
        let items = [item("i1", Outcome::Refund)];
        assert!(actions_due(Trigger::Manual, Processed, "acme", "R1", &items).is_empty());
        assert_eq!(
            actions_due(Trigger::Manual, Closed, "acme", "R1", &items).len(),
            1
        );
    }

    fn item(id: &str, outcome: Outcome) -> ItemOutcome {
        ItemOutcome {
            item_id: id.to_owned(),
            outcome,
            amount: Some(Money::new(1000, Currency::NZD)),
        }
    }

    #[test]
    fn only_outcomes_that_send_something_become_due() {
        let items = [
            item("a", Outcome::Refund),
            item("b", Outcome::NoAction),
            item("c", Outcome::HoldForReview),
            item(
                "d",
                Outcome::CreditNote {
                    expiry_days: Some(90),
                },
            ),
            item("e", Outcome::Exchange),
            item("a", Outcome::Refund),
        ];
        let due = actions_due(
            Trigger::Processing,
            ReturnEvent::Processed,
            "acme",
            "R1",
            &items,
        );
        let kinds: Vec<(&str, ActionKind)> = due
            .iter()
            .map(|d| (d.item_ids[0].as_str(), d.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("a", ActionKind::Refund),
                ("d", ActionKind::CreditNote),
                ("e", ActionKind::Exchange)
            ]
        );
        assert_eq!(due[1].credit_note_expiry_days, Some(90));
        assert_eq!(due[0].amount, Some(Money::new(1000, Currency::NZD)));
    }

    fn outcome_strategy() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::Refund),
            Just(Outcome::Exchange),
            Just(Outcome::NoAction),
            Just(Outcome::HoldForReview),
            proptest::option::of(1u32..400)
                .prop_map(|expiry_days| Outcome::CreditNote { expiry_days }),
        ]
    }

    proptest! {
        #[test]
        fn replaying_the_trigger_yields_the_same_keys_and_no_second_action(
            outcomes in prop::collection::vec(outcome_strategy(), 1..8),
            replays in 1usize..5,
            shuffle_seed in any::<u64>(),
        ) {
            let items: Vec<ItemOutcome> = outcomes
                .iter()
                .enumerate()
                .map(|(i, &o)| item(&format!("item-{i}"), o))
                .collect();
            let first = actions_due(Trigger::Processing, ReturnEvent::Processed, "acme", "R-7", &items);
            let mut recorded: HashSet<IdempotencyKey> = first.iter().map(|d| d.key.clone()).collect();
            prop_assert_eq!(recorded.len(), first.len(), "keys of distinct items collide");
            for replay in 0..replays {
                // A replay may list the items in another order.
                let mut again = items.clone();
                let rotate = (shuffle_seed as usize + replay) % again.len();
                again.rotate_left(rotate);
                let due = actions_due(Trigger::Processing, ReturnEvent::Processed, "acme", "R-7", &again);
                let keys: HashSet<IdempotencyKey> = due.iter().map(|d| d.key.clone()).collect();
                prop_assert_eq!(&keys, &recorded);
                let fresh = not_yet_recorded(due, |k| recorded.contains(k));
                prop_assert!(fresh.is_empty());
                recorded.extend(keys);
            }
        }

        #[test]
        fn key_ignores_item_order(mut ids in prop::collection::vec("[a-z0-9-]{1,12}", 1..6)) {
            let forward: Vec<&str> = ids.iter().map(String::as_str).collect();
            let key = IdempotencyKey::derive("r", "ret", &forward, ActionKind::CreditNote);
            ids.reverse();
            let backward: Vec<&str> = ids.iter().map(String::as_str).collect();
            prop_assert_eq!(key, IdempotencyKey::derive("r", "ret", &backward, ActionKind::CreditNote));
        }
    }
}
