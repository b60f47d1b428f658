//! What processing a return at the bench produces, decided in one place: the items' decisions,
//! the return's status, the actions that became due, a rack label per item found, and the
//! exceptions a supervisor must see. Pure: the hub gathers the facts (the bench's state, the
//! decisions the rules engine made, the actions the trigger made due and not yet queued),
//! asks [`plan`], and records the plan in one write.

use crate::bench::{
    BenchState, ExceptionKind, ExceptionRecord, InspectionView, ItemDecisionRecord, Presence,
};
use crate::model::{ReturnStatus, Transition};
use crate::rules::Outcome;
use crate::trigger::ActionDue;

/// Why a return cannot be processed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotProcessable {
    /// Processed or closed already: pressing Process again is a duplicate for the supervisor.
    AlreadyDone(ReturnStatus),
    /// What the operator must do first, one sentence each.
    Blocked(Vec<String>),
}

/// Everything processing records, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPlan {
    pub decisions: Vec<ItemDecisionRecord>,
    /// From the return's status to processed.
    pub status_change: (ReturnStatus, ReturnStatus),
    pub actions_due: Vec<ActionDue>,
    /// The inspections of the items found in the parcel: each gets a rack label.
    pub labels: Vec<InspectionView>,
    pub exceptions: Vec<ExceptionRecord>,
    /// The items the bench found missing (the retailer's tracking webhooks leave them out).
    pub missing_items: Vec<String>,
}

/// Whether the return in `state` can be processed now.
pub fn check(state: &BenchState) -> Result<(), NotProcessable> {
    match state.status {
        ReturnStatus::Processed | ReturnStatus::Closed => {
            Err(NotProcessable::AlreadyDone(state.status))
        }
        _ if !state.blockers.is_empty() => Err(NotProcessable::Blocked(state.blockers.clone())),
        _ => Ok(()),
    }
}

/// What processing the return in `state` records, given its items' `decisions` and the
/// actions its retailer's trigger made due for them (those not queued already). `connote`
/// names the parcel in the exceptions; `new_id` mints their ids. Call [`check`] first.
pub fn plan(
    state: &BenchState,
    connote: Option<&str>,
    decisions: Vec<ItemDecisionRecord>,
    actions_due: Vec<ActionDue>,
    new_id: &mut dyn FnMut() -> String,
) -> ProcessPlan {
    debug_assert!(state
        .status
        .can_move(ReturnStatus::Processed, Transition::HubProcess));
    let presence = |p: Presence| {
        state
            .items
            .iter()
            .filter(move |i| i.inspection.as_ref().map(|n| n.presence) == Some(p))
    };
    let labels: Vec<InspectionView> = presence(Presence::Found)
        .filter_map(|i| i.inspection.clone())
        .collect();
    let missing_items: Vec<String> = presence(Presence::Missing)
        .map(|i| i.item_id.clone())
        .collect();
    let mut exceptions = Vec::new();
    let mut raise = |kind: ExceptionKind, note: String| {
        exceptions.push(ExceptionRecord {
            id: new_id(),
            kind,
            return_id: Some(state.return_id.clone()),
            connote: connote.map(str::to_string),
            note,
            photos: Vec::new(),
        })
    };
    if !missing_items.is_empty() || !state.extras.is_empty() {
        raise(
            ExceptionKind::Mismatch,
            format!(
                "{} item(s) missing, {} extra item(s) in the parcel",
                missing_items.len(),
                state.extras.len()
            ),
        );
    }
    let held = decisions
        .iter()
        .filter(|d| d.outcome == Outcome::HoldForReview)
        .count();
    if held > 0 {
        raise(
            ExceptionKind::QcHold,
            format!("{held} item(s) held for review: decide each one"),
        );
    }
    ProcessPlan {
        decisions,
        status_change: (state.status, ReturnStatus::Processed),
        actions_due,
        labels,
        exceptions,
        missing_items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{DecidedBy, ExtraItemView, ItemState};
    use crate::trigger::Trigger;

    fn inspected(item_id: &str, presence: Presence) -> ItemState {
        ItemState {
            item_id: item_id.into(),
            inspection: Some(InspectionView {
                id: format!("n-{item_id}"),
                item_id: item_id.into(),
                presence,
                qc: None,
                qc_reason: None,
                grade: None,
                disposition: None,
                note: None,
                photos: vec![],
            }),
            decision: None,
            evidence_required: false,
        }
    }

    fn state(items: Vec<ItemState>, extras: usize) -> BenchState {
        BenchState {
            return_id: "r1".into(),
            status: ReturnStatus::Received,
            trigger: Trigger::Processing,
            items,
            extras: (0..extras)
                .map(|n| ExtraItemView {
                    id: format!("x{n}"),
                    code: format!("EXTRA{n}"),
                    order_line_id: None,
                    note: None,
                    photos: vec![],
                })
                .collect(),
            qc_reasons: vec![],
            blockers: vec![],
            can_undo: false,
            labels: vec![],
            open_exceptions: vec![],
            actions: vec![],
        }
    }

    fn decision(item_id: &str, outcome: Outcome) -> ItemDecisionRecord {
        ItemDecisionRecord {
            id: format!("d-{item_id}"),
            return_id: "r1".into(),
            item_id: item_id.into(),
            outcome,
            amount: None,
            decided_by: DecidedBy::NotReceived,
        }
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("x-{n}")
        }
    }

    #[test]
    fn found_items_get_labels_and_a_clean_return_raises_nothing() {
        let s = state(
            vec![
                inspected("a", Presence::Found),
                inspected("b", Presence::Found),
            ],
            0,
        );
        assert_eq!(check(&s), Ok(()));
        let p = plan(
            &s,
            Some("C1"),
            vec![
                decision("a", Outcome::Refund),
                decision("b", Outcome::NoAction),
            ],
            vec![],
            &mut ids(),
        );
        assert_eq!(
            p.status_change,
            (ReturnStatus::Received, ReturnStatus::Processed)
        );
        let labelled: Vec<_> = p.labels.iter().map(|n| n.item_id.as_str()).collect();
        assert_eq!(labelled, ["a", "b"]);
        assert!(p.exceptions.is_empty() && p.missing_items.is_empty());
    }

    #[test]
    fn missing_and_extra_items_are_one_mismatch_and_holds_one_qc_hold() {
        let s = state(
            vec![
                inspected("a", Presence::Missing),
                inspected("b", Presence::Found),
            ],
            2,
        );
        let p = plan(
            &s,
            Some("C1"),
            vec![
                decision("a", Outcome::NoAction),
                decision("b", Outcome::HoldForReview),
            ],
            vec![],
            &mut ids(),
        );
        assert_eq!(p.missing_items, ["a"]);
        assert_eq!(p.labels.len(), 1, "no label for what is not there");
        let raised: Vec<_> = p
            .exceptions
            .iter()
            .map(|x| (x.kind, x.note.as_str(), x.id.as_str(), x.connote.as_deref()))
            .collect();
        assert_eq!(
            raised,
            [
                (
                    ExceptionKind::Mismatch,
                    "1 item(s) missing, 2 extra item(s) in the parcel",
                    "x-1",
                    Some("C1")
                ),
                (
                    ExceptionKind::QcHold,
                    "1 item(s) held for review: decide each one",
                    "x-2",
                    Some("C1")
                ),
            ]
        );
    }

    #[test]
    fn a_processed_or_closed_return_or_one_with_blockers_is_not_processed() {
        let mut s = state(vec![inspected("a", Presence::Found)], 0);
        s.status = ReturnStatus::Processed;
        assert_eq!(
            check(&s),
            Err(NotProcessable::AlreadyDone(ReturnStatus::Processed))
        );
        s.status = ReturnStatus::Closed;
        assert_eq!(
            check(&s),
            Err(NotProcessable::AlreadyDone(ReturnStatus::Closed))
        );
        s.status = ReturnStatus::Received;
        s.blockers = vec!["Item 1 needs a QC pass or fail.".into()];
        assert_eq!(
            check(&s),
            Err(NotProcessable::Blocked(vec![
                "Item 1 needs a QC pass or fail.".into()
            ]))
        );
    }
}
