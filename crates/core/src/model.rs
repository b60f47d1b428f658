//! The return's life cycle and the shapes the bench shows. The state machine is the single
//! authority on which status changes are allowed; the store and the UI only ask it.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::decision::ReturnOption;
use crate::money::Money;
use crate::trigger::Trigger;

/// Where a return is in its journey. Stored as the snake_case text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    /// Created in a portal, uploaded by a partner or by hand; the parcel is not with us yet.
    Expected,
    /// The carrier reported the parcel in transit (the "first scan").
    InTransit,
    /// Scanned in at the hub; inspection under way.
    Received,
    /// Inspected and processed at the hub.
    Processed,
    /// Closed by a supervisor (the Manual trigger) or after processing.
    Closed,
    /// Cancelled before it reached the hub.
    Cancelled,
}

impl ReturnStatus {
    pub const ALL: [ReturnStatus; 6] = [
        ReturnStatus::Expected,
        ReturnStatus::InTransit,
        ReturnStatus::Received,
        ReturnStatus::Processed,
        ReturnStatus::Closed,
        ReturnStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnStatus::Expected => "expected",
            ReturnStatus::InTransit => "in_transit",
            ReturnStatus::Received => "received",
            ReturnStatus::Processed => "processed",
            ReturnStatus::Closed => "closed",
            ReturnStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ReturnStatus> {
        ReturnStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether a return may move from `self` to `to` by `cause`.
    pub fn can_move(self, to: ReturnStatus, cause: Transition) -> bool {
        use ReturnStatus::*;
        use Transition::*;
        matches!(
            (self, to, cause),
            (Expected, InTransit, CarrierFirstScan)
                | (Expected | InTransit, Received, HubScan)
                | (Received, Processed, HubProcess)
                | (
                    Expected | InTransit | Received | Processed,
                    Closed,
                    SupervisorClose
                )
                | (Expected | InTransit, Cancelled, Cancel)
                | (Received, InTransit, HandOver)
        )
    }

    /// Whether a return in this status may be handed to another hub: not once it was
    /// processed, closed or cancelled (its parcel's journey is over).
    pub fn may_hand_over(self) -> bool {
        matches!(
            self,
            ReturnStatus::Expected | ReturnStatus::InTransit | ReturnStatus::Received
        )
    }

    /// The status a return handed to another hub has from then on: a parcel received here
    /// and sent on is in transit again; one that has not arrived keeps its status.
    pub fn after_hand_over(self) -> ReturnStatus {
        match self {
            ReturnStatus::Received => ReturnStatus::InTransit,
            other => other,
        }
    }
}

/// What asks for a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    CarrierFirstScan,
    HubScan,
    HubProcess,
    SupervisorClose,
    Cancel,
    /// The central store handed the return to another hub.
    HandOver,
}

/// The signal the bench gives for a scanned connote. Each has its own colour and sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ScanVerdict {
    /// A return this hub expects: inspect it.
    Expected,
    /// Already processed here: a duplicate scan.
    AlreadyProcessed,
    Closed,
    Cancelled,
    /// A known return that belongs to another hub.
    OtherHub,
    /// No return has this connote: an orphan parcel.
    Unknown,
    /// Not a connote at all (empty, or unreadable characters): scan again.
    Misread,
}

impl ScanVerdict {
    /// The verdict for a known return in `status` at `hub` when scanned at `this_hub`.
    pub fn for_known(status: ReturnStatus, return_hub: &str, this_hub: &str) -> ScanVerdict {
        if return_hub != this_hub {
            return ScanVerdict::OtherHub;
        }
        match status {
            ReturnStatus::Expected | ReturnStatus::InTransit | ReturnStatus::Received => {
                ScanVerdict::Expected
            }
            ReturnStatus::Processed => ScanVerdict::AlreadyProcessed,
            ReturnStatus::Closed => ScanVerdict::Closed,
            ReturnStatus::Cancelled => ScanVerdict::Cancelled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RetailerSummary {
    pub id: String,
    pub name: String,
    pub trigger: Trigger,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ReturnItemView {
    pub id: String,
    pub sku: String,
    pub ean: Option<String>,
    pub title: String,
    /// The product image: a path inside the app's assets (e.g. "demo/tee.svg"), or the
    /// Shopify CDN address imported with the order (the only remote origin the window's CSP
    /// lets images come from; nothing else is loaded).
    pub image: Option<String>,
    pub quantity: u32,
    pub unit_price: Money,
    pub reason: String,
    pub sub_reason: Option<String>,
    pub comment: Option<String>,
    pub chosen_option: Option<ReturnOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ReturnView {
    pub id: String,
    pub retailer: RetailerSummary,
    pub hub_id: String,
    pub order_number: String,
    pub customer_name: String,
    pub customer_email: String,
    pub status: ReturnStatus,
    pub connotes: Vec<String>,
    pub items: Vec<ReturnItemView>,
}

/// What the bench shows after a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ScanResult {
    pub verdict: ScanVerdict,
    /// The connote after normalisation (what was looked up).
    pub connote: String,
    /// The scan exactly as it arrived, for the audit trail.
    pub raw: String,
    /// One line for the operator, e.g. "Unknown connote: open an orphan intake".
    pub message: String,
    pub ret: Option<ReturnView>,
    /// The bench's state for a return of this hub (inspections so far, what blocks processing).
    pub bench: Option<crate::bench::BenchState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_allowed_and_nothing_leaves_closed() {
        use ReturnStatus::*;
        use Transition::*;
        assert!(Expected.can_move(InTransit, CarrierFirstScan));
        assert!(InTransit.can_move(Received, HubScan));
        assert!(Received.can_move(Processed, HubProcess));
        assert!(Processed.can_move(Closed, SupervisorClose));
        for to in ReturnStatus::ALL {
            for cause in [
                CarrierFirstScan,
                HubScan,
                HubProcess,
                SupervisorClose,
                Cancel,
                HandOver,
            ] {
                assert!(!Closed.can_move(to, cause), "closed -> {to:?}");
                assert!(!Cancelled.can_move(to, cause), "cancelled -> {to:?}");
            }
        }
        assert!(
            !Expected.can_move(Processed, HubProcess),
            "must be received first"
        );
        assert!(
            !Received.can_move(Cancelled, Cancel),
            "a parcel in hand is not cancelled"
        );
    }

    #[test]
    fn a_parcel_sent_on_is_in_transit_again_and_a_finished_one_stays() {
        use ReturnStatus::*;
        assert_eq!(Received.after_hand_over(), InTransit);
        assert!(Received.can_move(InTransit, Transition::HandOver));
        for s in [Expected, InTransit] {
            assert!(s.may_hand_over());
            assert_eq!(s.after_hand_over(), s);
        }
        for s in [Processed, Closed, Cancelled] {
            assert!(!s.may_hand_over(), "{s:?}");
        }
        assert!(!Processed.can_move(InTransit, Transition::HandOver));
    }

    #[test]
    fn text_forms_round_trip() {
        for s in ReturnStatus::ALL {
            assert_eq!(ReturnStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(
            ReturnOption::parse("credit_note"),
            Some(ReturnOption::CreditNote)
        );
        assert_eq!(
            ReturnOption::parse("no_action"),
            None,
            "customers cannot choose it"
        );
        assert_eq!(Trigger::parse("manual"), Some(Trigger::Manual));
        assert_eq!(Trigger::parse("Manual"), None);
        for t in [Trigger::FirstScan, Trigger::Processing, Trigger::Manual] {
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
    }

    #[test]
    fn scan_verdicts_tell_every_case_apart() {
        use ReturnStatus::*;
        assert_eq!(
            ScanVerdict::for_known(InTransit, "akl", "akl"),
            ScanVerdict::Expected
        );
        assert_eq!(
            ScanVerdict::for_known(Processed, "akl", "akl"),
            ScanVerdict::AlreadyProcessed
        );
        assert_eq!(
            ScanVerdict::for_known(Closed, "akl", "akl"),
            ScanVerdict::Closed
        );
        assert_eq!(
            ScanVerdict::for_known(Cancelled, "akl", "akl"),
            ScanVerdict::Cancelled
        );
        assert_eq!(
            ScanVerdict::for_known(Expected, "syd", "akl"),
            ScanVerdict::OtherHub
        );
    }
}
