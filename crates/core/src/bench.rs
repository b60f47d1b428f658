//! What the bench records about a parcel after the scan: each item's inspection, items found
//! that the return did not list, decisions (the rules' and a supervisor's), exceptions for the
//! supervisor, and label jobs. These are the payloads of the bench's domain events and the
//! view types the window renders.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::decision::Decision;
use crate::money::Money;
use crate::rules::{Grade, Outcome, QcStatus};

/// Whether an item listed on the return was in the parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Found,
    Missing,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Found => "found",
            Presence::Missing => "missing",
        }
    }
}

/// Where an inspected item goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    BackToStock,
    ResaleHold,
    Refurbish,
    Recycle,
    Donate,
    Destroy,
    ReturnToVendor,
}

impl Disposition {
    pub const ALL: [Disposition; 7] = [
        Disposition::BackToStock,
        Disposition::ResaleHold,
        Disposition::Refurbish,
        Disposition::Recycle,
        Disposition::Donate,
        Disposition::Destroy,
        Disposition::ReturnToVendor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::BackToStock => "back_to_stock",
            Disposition::ResaleHold => "resale_hold",
            Disposition::Refurbish => "refurbish",
            Disposition::Recycle => "recycle",
            Disposition::Donate => "donate",
            Disposition::Destroy => "destroy",
            Disposition::ReturnToVendor => "return_to_vendor",
        }
    }

    pub fn parse(s: &str) -> Option<Disposition> {
        Disposition::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// What the label says, in capitals so it reads across the bench.
    pub fn label_text(self) -> &'static str {
        match self {
            Disposition::BackToStock => "BACK TO STOCK",
            Disposition::ResaleHold => "RESALE HOLD",
            Disposition::Refurbish => "REFURBISH",
            Disposition::Recycle => "RECYCLE",
            Disposition::Donate => "DONATE",
            Disposition::Destroy => "DESTROY",
            Disposition::ReturnToVendor => "RETURN TO VENDOR",
        }
    }

    /// The default for a QC verdict, so a pass needs no extra key press.
    pub fn default_for(qc: QcStatus) -> Disposition {
        match qc {
            QcStatus::Pass => Disposition::BackToStock,
            QcStatus::Fail => Disposition::ResaleHold,
        }
    }
}

/// One item's inspection as the operator left it. Each change records the whole state, so
/// the latest record (not undone) is the item's inspection and the earlier ones are history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionRecord {
    pub id: String,
    pub return_id: String,
    pub item_id: String,
    pub presence: Presence,
    pub qc: Option<QcStatus>,
    /// A code from the retailer's QC reasons; required when `qc` is Fail.
    pub qc_reason: Option<String>,
    pub grade: Option<Grade>,
    pub disposition: Option<Disposition>,
    pub note: Option<String>,
    /// Content hashes of stored photos (see the hub's photo store).
    pub photos: Vec<String>,
}

/// Something in the parcel that the return did not list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraItemRecord {
    pub id: String,
    pub return_id: String,
    /// What was scanned or typed (an EAN, a SKU).
    pub code: String,
    /// The order line it matches, when it is from the same order.
    pub order_line_id: Option<String>,
    pub note: Option<String>,
    pub photos: Vec<String>,
}

/// Who decided an item's outcome: the rules engine (with its explanation) or a supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum DecidedBy {
    Engine {
        decision: Decision,
    },
    Supervisor {
        reason: String,
        previous: Option<Outcome>,
    },
    /// The item was not in the parcel: nothing was received, so nothing is owed for it.
    NotReceived,
}

/// One item's decision when its return was processed, or a supervisor's override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemDecisionRecord {
    pub id: String,
    pub return_id: String,
    pub item_id: String,
    pub outcome: Outcome,
    /// What a refund or credit note is worth: the received quantity's share of what was paid.
    pub amount: Option<Money>,
    pub decided_by: DecidedBy,
}

/// What the supervisor's queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    /// A parcel whose connote matched nothing, parked by the operator.
    UnknownParcel,
    /// Items missing from the parcel, or items in it that the return did not list.
    Mismatch,
    /// A QC fail the retailer's policy or a rule holds for review.
    QcHold,
    /// A parcel scanned again after it was processed.
    DuplicateProcessing,
}

impl ExceptionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionKind::UnknownParcel => "unknown_parcel",
            ExceptionKind::Mismatch => "mismatch",
            ExceptionKind::QcHold => "qc_hold",
            ExceptionKind::DuplicateProcessing => "duplicate_processing",
        }
    }

    pub fn parse(s: &str) -> Option<ExceptionKind> {
        [
            ExceptionKind::UnknownParcel,
            ExceptionKind::Mismatch,
            ExceptionKind::QcHold,
            ExceptionKind::DuplicateProcessing,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ExceptionRecord {
    pub id: String,
    pub kind: ExceptionKind,
    pub return_id: Option<String>,
    pub connote: Option<String>,
    /// What the operator (or the hub) says is wrong.
    pub note: String,
    pub photos: Vec<String>,
}

/// A label to print at a station: the filled template's fields, kept so a reprint prints the
/// same label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LabelJob {
    pub id: String,
    /// What the label is about: a return, or for a badge label the person's user id (the
    /// label then shows in that person's history).
    pub return_id: String,
    pub station: String,
    /// The template's name, e.g. "hub_item".
    pub template: String,
    pub fields: std::collections::BTreeMap<String, String>,
    /// When set, the label is a reprint of the job with this id.
    pub reprint_of: Option<String>,
}

// The records above are what devices exchange (event payloads, guarded by the protocol's
// golden files); the views below are what the window shows. Each view is made from its
// record, so a change to a screen never changes the wire.

/// An item's inspection as the bench shows it: the view of its latest [`InspectionRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InspectionView {
    /// The inspection step's id.
    pub id: String,
    pub item_id: String,
    pub presence: Presence,
    pub qc: Option<QcStatus>,
    pub qc_reason: Option<String>,
    pub grade: Option<Grade>,
    pub disposition: Option<Disposition>,
    pub note: Option<String>,
    /// Content hashes of stored photos.
    pub photos: Vec<String>,
}

impl From<&InspectionRecord> for InspectionView {
    fn from(n: &InspectionRecord) -> Self {
        InspectionView {
            id: n.id.clone(),
            item_id: n.item_id.clone(),
            presence: n.presence,
            qc: n.qc,
            qc_reason: n.qc_reason.clone(),
            grade: n.grade,
            disposition: n.disposition,
            note: n.note.clone(),
            photos: n.photos.clone(),
        }
    }
}

/// An item's outcome as the bench shows it: the view of its current [`ItemDecisionRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ItemDecisionView {
    pub outcome: Outcome,
    pub amount: Option<Money>,
    pub decided_by: DecidedBy,
}

impl From<&ItemDecisionRecord> for ItemDecisionView {
    fn from(d: &ItemDecisionRecord) -> Self {
        ItemDecisionView {
            outcome: d.outcome,
            amount: d.amount,
            decided_by: d.decided_by.clone(),
        }
    }
}

/// Something in the parcel the return did not list, as the bench shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ExtraItemView {
    pub id: String,
    pub code: String,
    pub order_line_id: Option<String>,
    pub note: Option<String>,
    pub photos: Vec<String>,
}

impl From<&ExtraItemRecord> for ExtraItemView {
    fn from(x: &ExtraItemRecord) -> Self {
        ExtraItemView {
            id: x.id.clone(),
            code: x.code.clone(),
            order_line_id: x.order_line_id.clone(),
            note: x.note.clone(),
            photos: x.photos.clone(),
        }
    }
}

/// An item the return lists, with how far the bench has got with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ItemState {
    pub item_id: String,
    pub inspection: Option<InspectionView>,
    pub decision: Option<ItemDecisionView>,
    /// The return reason or the QC fail reason demands a photo.
    pub evidence_required: bool,
}

/// A QC failure reason the operator can pick for this retailer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct QcReasonOption {
    pub code: String,
    pub label: String,
    pub requires_photo: bool,
}

/// A label job as the bench shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LabelState {
    pub id: String,
    /// pending, confirmed (printed) …
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub reprint: bool,
}

/// An action of the return (refund, credit note, exchange, partner update) as the bench shows
/// it: what it is and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ActionState {
    /// refund, credit_note, exchange, tag_order, partner_update.
    pub kind: String,
    /// e.g. "59.00 NZD", in the shop's currency (a customer who paid in another currency is
    /// refunded in it, at the order's rate).
    pub amount: Option<String>,
    /// pending, sent, confirmed, failed, unknown.
    pub state: String,
    /// e.g. "54.10 AUD": what the customer got back in the currency they paid, once the
    /// target confirmed it, when that is not the shop's.
    pub paid: Option<String>,
    /// The code of the gift card a credit note is issued as, for a supervisor to pass on to
    /// the customer (it is money: operators are not shown it).
    pub gift_card_code: Option<String>,
}

/// Everything the bench shows about a return after the scan: each item's inspection and
/// decision, extras, what still blocks processing, its labels and its actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct BenchState {
    pub return_id: String,
    pub status: crate::model::ReturnStatus,
    pub trigger: crate::trigger::Trigger,
    pub items: Vec<ItemState>,
    pub extras: Vec<ExtraItemView>,
    pub qc_reasons: Vec<QcReasonOption>,
    /// Why the Process key would be refused now; empty when the return can be processed.
    pub blockers: Vec<String>,
    /// Whether this operator has a step on this return to undo.
    pub can_undo: bool,
    pub labels: Vec<LabelState>,
    /// Open exceptions about this return, as one line each.
    pub open_exceptions: Vec<String>,
    pub actions: Vec<ActionState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for d in Disposition::ALL {
            assert_eq!(Disposition::parse(d.as_str()), Some(d));
            assert_eq!(
                serde_json::to_value(d).unwrap(),
                serde_json::Value::String(d.as_str().into())
            );
        }
        for k in [
            ExceptionKind::UnknownParcel,
            ExceptionKind::Mismatch,
            ExceptionKind::QcHold,
            ExceptionKind::DuplicateProcessing,
        ] {
            assert_eq!(ExceptionKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().into())
            );
        }
    }
}
