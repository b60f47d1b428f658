//! What a supervisor does with what went wrong: the exception queue, overriding an item's
//! decision (with a reason), reprinting labels, closing a return by hand (which fires the
//! actions of retailers whose trigger is Manual), and reading a return's audit trail.
//! Every command here checks for the supervisor role in the core, whatever the window shows.

use returnhub_core::auth::Role;
use returnhub_core::bench::{BenchState, DecidedBy, ExceptionKind, ItemDecisionRecord, LabelJob};
use returnhub_core::model::{ReturnStatus, Transition};
use returnhub_core::rules::Outcome;
use returnhub_core::time::rfc3339;
use returnhub_core::trigger::{ReturnEvent, Trigger};
use returnhub_protocol::event::DomainEvent;
use serde::Serialize;
use ts_rs::TS;

use crate::bench::{decide_items, due_actions, new_id, outcome_text, retailer_of, worth_of};
use crate::{Hub, HubError, Result};

/// One exception in the supervisor's queue.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ExceptionView {
    pub id: String,
    pub kind: ExceptionKind,
    pub return_id: Option<String>,
    pub connote: Option<String>,
    pub note: String,
    pub photos: Vec<String>,
    pub open: bool,
    pub raised_by: String,
    pub raised_at: String,
    pub resolution: Option<String>,
}

/// One line of a return's audit trail: who did what, when, where.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AuditEntry {
    pub at: String,
    pub who: String,
    pub station: Option<String>,
    pub what: String,
}

/// The answer to a supervisor's change to a return.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SupervisorResult {
    pub message: String,
    pub actions_queued: u32,
    pub state: BenchState,
}

impl Hub {
    /// Open exceptions first, newest first (resolved ones too when asked).
    pub fn exceptions(&self, include_resolved: bool) -> Result<Vec<ExceptionView>> {
        self.authorize(Role::Supervisor)?;
        Ok(self
            .store()
            .exceptions(include_resolved, 500)?
            .into_iter()
            .map(|x| ExceptionView {
                id: x.id,
                kind: x.kind,
                return_id: x.return_id,
                connote: x.connote,
                note: x.note,
                photos: x.photos,
                open: x.open,
                raised_by: x.raised_by,
                raised_at: x.raised_at,
                resolution: x.resolution,
            })
            .collect())
    }

    pub fn resolve_exception(&self, id: &str, resolution: &str) -> Result<Vec<ExceptionView>> {
        let actor = self.authorize(Role::Supervisor)?;
        let resolution = resolution.trim();
        if resolution.is_empty() {
            return Err(HubError::Invalid(
                "say how the exception was resolved".into(),
            ));
        }
        self.store().write((self.clock)(), |tx| {
            tx.append(self.input(
                &actor,
                DomainEvent::ExceptionResolved {
                    id: id.to_string(),
                    resolution: resolution.to_string(),
                },
            ))
        })?;
        self.exceptions(false)
    }

    /// Replaces an item's decision with the supervisor's, with the reason. If the retailer's
    /// trigger has already fired for this return, the new outcome's action is queued now.
    /// Refused when an action for the item is already queued: what was queued may already be
    /// on its way to the retailer, and is settled there, not by a second decision.
    pub fn override_decision(
        &self,
        return_id: &str,
        item_id: &str,
        outcome: Outcome,
        reason: &str,
    ) -> Result<SupervisorResult> {
        let actor = self.authorize(Role::Supervisor)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(HubError::Invalid("an override needs a reason".into()));
        }
        let mut store = self.store();
        let ret = store
            .return_by_id(return_id)?
            .ok_or_else(|| HubError::NotFound(format!("no return {return_id}")))?;
        self.own_return(&ret)?;
        let current = store
            .current_decisions(return_id)?
            .into_iter()
            .find(|d| d.item_id == item_id)
            .ok_or_else(|| {
                HubError::Invalid("this item has no decision yet: process the return first".into())
            })?;
        if current.decided_by == DecidedBy::NotReceived {
            return Err(HubError::Invalid(
                "this item was not in the parcel: there is nothing to decide".into(),
            ));
        }
        let queued = store
            .actions_of(return_id)?
            .into_iter()
            .any(|(_, _, payload)| {
                serde_json::from_str::<returnhub_core::trigger::ActionDue>(&payload)
                    .is_ok_and(|a| a.item_ids.iter().any(|i| i == item_id))
            });
        if queued {
            return Err(HubError::Conflict(
                "an action for this item is already queued; settle it with the retailer".into(),
            ));
        }
        let retailer = retailer_of(&store, &ret.retailer.id)?;
        let now = (self.clock)();
        let state = self.state_of(&store, return_id, &actor)?;
        // The amount is what the item is worth, whoever picks the outcome.
        // A credit note picked without an expiry gets the retailer's usual one.
        let outcome = match outcome {
            Outcome::CreditNote { expiry_days: None } => Outcome::CreditNote {
                expiry_days: retailer.policy.credit_note_expiry_days,
            },
            other => other,
        };
        let amount = match outcome {
            Outcome::Refund | Outcome::CreditNote { .. } => worth_of(&store, return_id, item_id)?,
            _ => None,
        };
        if matches!(outcome, Outcome::Refund | Outcome::CreditNote { .. }) && amount.is_none() {
            return Err(HubError::Invalid(
                "nothing is refundable on this item any more".into(),
            ));
        }
        let decision = ItemDecisionRecord {
            id: new_id(),
            return_id: return_id.to_string(),
            item_id: item_id.to_string(),
            outcome,
            amount,
            decided_by: DecidedBy::Supervisor {
                reason: reason.to_string(),
                previous: Some(current.outcome),
            },
        };
        let fired = match retailer.policy.trigger {
            Trigger::Processing => {
                matches!(ret.status, ReturnStatus::Processed | ReturnStatus::Closed)
                    .then_some(ReturnEvent::Processed)
            }
            Trigger::Manual => (ret.status == ReturnStatus::Closed).then_some(ReturnEvent::Closed),
            // The carrier's event already fired; an override after it is sent now.
            Trigger::FirstScan => Some(ReturnEvent::CarrierInTransit),
        };
        let due = match fired {
            Some(event) => due_actions(
                &store,
                &retailer,
                event,
                return_id,
                std::slice::from_ref(&decision),
            )?,
            None => Vec::new(),
        };
        let actions_queued = due.len() as u32;
        let mut events = vec![DomainEvent::ItemsDecided {
            return_id: return_id.to_string(),
            decisions: vec![decision.clone()],
        }];
        events.extend(due.into_iter().map(DomainEvent::ActionDue));
        // The hold is settled when no item of the return is held any more.
        let still_held = state.items.iter().any(|i| {
            i.item_id != item_id
                && i.decision.as_ref().map(|d| d.outcome) == Some(Outcome::HoldForReview)
        });
        if outcome != Outcome::HoldForReview && !still_held {
            if let Some(id) = store.open_exception(ExceptionKind::QcHold, return_id)? {
                events.push(DomainEvent::ExceptionResolved {
                    id,
                    resolution: format!("decided by supervisor: {reason}"),
                });
            }
        }
        store.write(now, |tx| {
            for event in events {
                tx.append(self.input(&actor, event))?;
            }
            Ok(())
        })?;
        self.actions_queued();
        Ok(SupervisorResult {
            message: format!(
                "Item decided: {} ({actions_queued} action(s) queued).",
                outcome_text(&decision.outcome, decision.amount)
            ),
            actions_queued,
            state: self.state_of(&store, return_id, &actor)?,
        })
    }

    /// Closes a return by hand. For a retailer whose trigger is Manual this is what fires the
    /// return's actions: from the decisions made when it was processed, or, for a return never
    /// processed, from deciding its items now as returned (no QC); closing again finds them
    /// queued and adds nothing.
    pub fn close_return(&self, return_id: &str, note: &str) -> Result<SupervisorResult> {
        let actor = self.authorize(Role::Supervisor)?;
        let mut store = self.store();
        let ret = self.movable(
            &store,
            return_id,
            ReturnStatus::Closed,
            Transition::SupervisorClose,
            "closed",
        )?;
        let retailer = retailer_of(&store, &ret.retailer.id)?;
        let mut decisions = store.current_decisions(return_id)?;
        // Closing is when a Manual retailer's actions fire, processed or not (a return that
        // never reaches the hub is closed off by hand): an unprocessed one is decided now,
        // every item as the customer returned it, without QC.
        let unprocessed = decisions.is_empty() && retailer.policy.trigger == Trigger::Manual;
        if unprocessed {
            decisions = decide_items(&store, &retailer, return_id, None, (self.clock)())?;
        }
        let due = due_actions(
            &store,
            &retailer,
            ReturnEvent::Closed,
            return_id,
            &decisions,
        )?;
        let actions_queued = due.len() as u32;
        let mut events = Vec::new();
        if unprocessed {
            events.push(DomainEvent::ItemsDecided {
                return_id: return_id.to_string(),
                decisions: decisions.clone(),
            });
        }
        events.push(DomainEvent::ReturnStatusChanged {
            return_id: return_id.to_string(),
            from: ret.status,
            to: ReturnStatus::Closed,
        });
        events.extend(due.into_iter().map(DomainEvent::ActionDue));
        let note = note.trim();
        if !note.is_empty() {
            events.push(DomainEvent::ReturnNoted {
                return_id: return_id.to_string(),
                note: note.to_string(),
            });
        }
        for x in store.open_exceptions_for(return_id)? {
            events.push(DomainEvent::ExceptionResolved {
                id: x.id,
                resolution: if note.is_empty() {
                    "return closed by supervisor".into()
                } else {
                    format!("return closed by supervisor: {note}")
                },
            });
        }
        store.write((self.clock)(), |tx| {
            for event in events {
                tx.append(self.input(&actor, event))?;
            }
            Ok(())
        })?;
        self.actions_queued();
        let message = match (retailer.policy.trigger, unprocessed) {
            (Trigger::Manual, true) => format!(
                "Closed unprocessed: decided as returned, without QC ({}); {actions_queued} \
                 action(s) queued.",
                decisions
                    .iter()
                    .map(|d| outcome_text(&d.outcome, d.amount))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (Trigger::Manual, false) => format!("Closed: {actions_queued} action(s) queued."),
            _ => "Closed. (This retailer's actions do not fire on close.)".to_string(),
        };
        Ok(SupervisorResult {
            message,
            actions_queued,
            state: self.state_of(&store, return_id, &actor)?,
        })
    }

    /// Cancels a return that has not reached the hub (the customer kept the parcel, the
    /// retailer called it off), with the supervisor's reason. Nothing fires for it afterwards:
    /// its actions not yet sent are stopped (failed with the reason, so the dispatcher and the
    /// central store leave them); one already sent or confirmed is left as it is and shown
    /// (the customer may have been paid: cancelling undoes nothing silently).
    pub fn cancel_return(&self, return_id: &str, reason: &str) -> Result<SupervisorResult> {
        let actor = self.authorize(Role::Supervisor)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(HubError::Invalid(
                "say why the return is cancelled (the customer kept it, the retailer called it off…)"
                    .into(),
            ));
        }
        let mut store = self.store();
        let ret = self.movable(
            &store,
            return_id,
            ReturnStatus::Cancelled,
            Transition::Cancel,
            "cancelled: only one that has not reached the hub can (close it instead)",
        )?;
        let who = store
            .user_name(&actor.user_id)?
            .unwrap_or_else(|| actor.user_id.clone());
        let events = vec![
            DomainEvent::ReturnStatusChanged {
                return_id: return_id.to_string(),
                from: ret.status,
                to: ReturnStatus::Cancelled,
            },
            DomainEvent::ReturnNoted {
                return_id: return_id.to_string(),
                note: format!("Cancelled: {reason}"),
            },
        ];
        let stop_reason = format!("return cancelled by {who}: {reason}");
        let ((stopped, left), _) = store.write((self.clock)(), |tx| {
            for event in events {
                tx.append(self.input(&actor, event))?;
            }
            // Read in the same transaction: the dispatcher cannot mark one sent meanwhile.
            let (mut stopped, mut left) = (0u32, Vec::new());
            for (_, state, payload) in tx.actions_of(return_id)? {
                let action: returnhub_core::trigger::ActionDue = serde_json::from_str(&payload)?;
                if state == "pending" {
                    stopped += 1;
                    tx.append(self.input(
                        &actor,
                        DomainEvent::ActionFailed {
                            key: action.key,
                            return_id: return_id.to_string(),
                            target: "hub".into(),
                            reason: stop_reason.clone(),
                        },
                    ))?;
                } else if state != "failed" {
                    left.push(format!("{} {state}", action.kind.name().replace('_', " ")));
                }
            }
            Ok((stopped, left))
        })?;
        // With a central store it is the one that sends: the hub's row being pending says
        // nothing of whether it did, so the hub can only ask it to stop.
        let stopped_text = if self.options().central_url.is_some() {
            format!("the central store asked to stop {stopped} action(s) it has not sent")
        } else {
            format!("{stopped} action(s) stopped before they were sent")
        };
        let message = match (stopped, left.is_empty()) {
            (0, true) => "Cancelled; nothing was due for it.".to_string(),
            (_, true) => format!("Cancelled; {stopped_text}."),
            (_, false) => format!(
                "Cancelled; {stopped_text}. Already sent, and not undone: {} — settle it with \
                 the customer if they should not have it.",
                left.join(", ")
            ),
        };
        Ok(SupervisorResult {
            message,
            actions_queued: 0,
            state: self.state_of(&store, return_id, &actor)?,
        })
    }

    /// Prints the return's labels again, each marked as a reprint.
    pub fn reprint_labels(&self, return_id: &str) -> Result<BenchState> {
        let actor = self.authorize(Role::Supervisor)?;
        let mut store = self.store();
        let ret = store
            .return_by_id(return_id)?
            .ok_or_else(|| HubError::NotFound(format!("no return {return_id}")))?;
        self.own_return(&ret)?;
        let originals: Vec<LabelJob> = store
            .label_jobs(return_id)?
            .into_iter()
            .map(|l| l.job)
            .filter(|j| j.reprint_of.is_none())
            .collect();
        if originals.is_empty() {
            return Err(HubError::Invalid(
                "this return has no label yet: it prints when the return is processed".into(),
            ));
        }
        let when = rfc3339((self.clock)())[..16].replace('T', " ");
        store.write((self.clock)(), |tx| {
            for original in &originals {
                let mut fields = original.fields.clone();
                fields.insert("reprinted_at".into(), when.clone());
                tx.append(self.input(
                    &actor,
                    DomainEvent::LabelQueued(LabelJob {
                        id: new_id(),
                        return_id: return_id.to_string(),
                        station: self.options().station.clone(),
                        template: original.template.clone(),
                        fields,
                        reprint_of: Some(original.id.clone()),
                    }),
                ))?;
            }
            Ok(())
        })?;
        self.print_wakeup();
        self.state_of(&store, return_id, &actor)
    }

    /// Everything that happened to a return, oldest first.
    pub fn audit_trail(&self, return_id: &str) -> Result<Vec<AuditEntry>> {
        self.authorize(Role::Supervisor)?;
        let store = self.store();
        let rows = store.events_for(return_id)?;
        let mut names = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let who = match names.get(&row.actor) {
                Some(name) => name,
                None => {
                    let name = store
                        .user_name(&row.actor)?
                        .unwrap_or_else(|| row.actor.clone());
                    names.entry(row.actor.clone()).or_insert(name)
                }
            }
            .clone();
            let event: DomainEvent = serde_json::from_str(&row.payload).map_err(|e| {
                HubError::Corrupt(format!("event {} cannot be read: {e}", row.event_id))
            })?;
            out.push(AuditEntry {
                at: row.recorded_at,
                who,
                station: row.station,
                what: describe(&event),
            });
        }
        Ok(out)
    }
}

/// The return, if `cause` may move it to `to`; else a conflict saying it "cannot be {what}".
impl Hub {
    /// Refused unless the return is this hub's: one handed to another hub is read-only here
    /// (the central store refuses what this hub would record about it).
    pub(crate) fn own_return(&self, ret: &returnhub_core::model::ReturnView) -> Result<()> {
        if ret.hub_id == self.options().hub_id {
            return Ok(());
        }
        Err(HubError::Conflict(format!(
            "this return is hub {}'s: it is read-only here",
            ret.hub_id
        )))
    }

    /// The return, if this hub may move it to `to` by `cause`.
    fn movable(
        &self,
        store: &returnhub_store::Store,
        return_id: &str,
        to: ReturnStatus,
        cause: Transition,
        what: &str,
    ) -> Result<returnhub_core::model::ReturnView> {
        let ret = store
            .return_by_id(return_id)?
            .ok_or_else(|| HubError::NotFound(format!("no return {return_id}")))?;
        self.own_return(&ret)?;
        movable_from(ret, to, cause, what)
    }
}

fn movable_from(
    ret: returnhub_core::model::ReturnView,
    to: ReturnStatus,
    cause: Transition,
    what: &str,
) -> Result<returnhub_core::model::ReturnView> {
    if !ret.status.can_move(to, cause) {
        return Err(HubError::Conflict(format!(
            "a {} return cannot be {what}",
            ret.status.as_str()
        )));
    }
    Ok(ret)
}

/// A line of a history (a person's, a retailer's) from its event row: the actor by name where
/// it is a person (system actors such as `system:setup` as they are).
pub(crate) fn audit_entry(
    store: &returnhub_store::Store,
    row: returnhub_store::AuditRow,
    what: String,
) -> Result<AuditEntry> {
    let who = if row.actor.starts_with("system:") {
        row.actor
    } else {
        store.user_name(&row.actor)?.unwrap_or(row.actor)
    };
    Ok(AuditEntry {
        at: row.recorded_at,
        who,
        station: row.station,
        what,
    })
}

/// One sentence per event, before → after where there is one.
pub(crate) fn describe(event: &DomainEvent) -> String {
    match event {
        DomainEvent::ReturnExpected(r) => format!("Return expected ({})", r.source),
        DomainEvent::ConnoteScanned { connote, .. } => format!("Scanned {connote}"),
        DomainEvent::ReturnStatusChanged { from, to, .. } => {
            format!("Status {} → {}", from.as_str(), to.as_str())
        }
        DomainEvent::ItemInspected(n) => {
            let mut parts = vec![format!(
                "Item {}: {}",
                short(&n.item_id),
                n.presence.as_str()
            )];
            if let Some(qc) = n.qc {
                parts.push(format!("QC {}", qc.name()));
            }
            if let Some(r) = &n.qc_reason {
                parts.push(r.clone());
            }
            if let Some(g) = n.grade {
                parts.push(format!("grade {}", g.name()));
            }
            if let Some(d) = n.disposition {
                parts.push(d.as_str().replace('_', " "));
            }
            if !n.photos.is_empty() {
                parts.push(format!("{} photo(s)", n.photos.len()));
            }
            parts.join(", ")
        }
        DomainEvent::ExtraItemRecorded(x) => format!("Extra item {}", x.code),
        DomainEvent::StepUndone {
            undone_event_id, ..
        } => {
            format!("Undid step {}", short(undone_event_id))
        }
        DomainEvent::ItemsDecided { decisions, .. } => decisions
            .iter()
            .map(|d| {
                let by = match &d.decided_by {
                    DecidedBy::Engine { decision } => match &decision.source {
                        returnhub_core::decision::DecisionSource::Rule { rule_name, .. } => {
                            format!("rule “{rule_name}”")
                        }
                        returnhub_core::decision::DecisionSource::CustomerChoice => {
                            "customer's choice".into()
                        }
                        returnhub_core::decision::DecisionSource::RetailerDefault => {
                            "retailer default".into()
                        }
                        returnhub_core::decision::DecisionSource::QcFailPolicy => {
                            "QC-fail policy".into()
                        }
                    },
                    DecidedBy::Supervisor { reason, previous } => format!(
                        "supervisor override of {} ({reason})",
                        previous
                            .map(|p| outcome_text(&p, None))
                            .unwrap_or_else(|| "nothing".into())
                    ),
                    DecidedBy::NotReceived => "not in the parcel".into(),
                };
                // The engine's explanation: how the policy played out, and why the rule
                // that matched did.
                let why = match &d.decided_by {
                    DecidedBy::Engine { decision } => {
                        let e = &decision.explanation;
                        let mut parts = e.notes.clone();
                        if let Some(m) = e.matched.as_ref().filter(|m| !m.why.is_empty()) {
                            parts.push(format!("because {}", m.why));
                        }
                        if parts.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", parts.join("; "))
                        }
                    }
                    _ => String::new(),
                };
                format!(
                    "Item {}: {} by {by}{why}",
                    short(&d.item_id),
                    outcome_text(&d.outcome, d.amount)
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        DomainEvent::ActionDue(a) => format!(
            "{} due{} (key {}…)",
            a.kind.name().replace('_', " "),
            a.amount.map(|m| format!(" {m}")).unwrap_or_default(),
            &a.key.as_str()[..12]
        ),
        DomainEvent::ExceptionRaised(x) => {
            format!(
                "Exception: {} — {}",
                x.kind.as_str().replace('_', " "),
                x.note
            )
        }
        DomainEvent::ExceptionResolved { resolution, .. } => format!("Resolved: {resolution}"),
        DomainEvent::LabelQueued(j) => match &j.reprint_of {
            Some(_) => format!("Label reprinted at {}", j.station),
            None => format!("Label queued at {}", j.station),
        },
        DomainEvent::ConnoteAttached { connote, .. } => format!("Connote {connote} attached"),
        DomainEvent::ReturnNoted { note, .. } => format!("Note: {note}"),
        DomainEvent::ActionConfirmed {
            key,
            target,
            reference,
            paid,
            ..
        } => format!(
            "Action {}… confirmed by {target} ({reference}){}",
            &key.as_str()[..12],
            match paid {
                Some(paid) => format!(": {paid} paid back in the customer's currency"),
                None => String::new(),
            }
        ),
        DomainEvent::ActionFailed {
            key,
            target,
            reason,
            ..
        } => format!(
            "Action {}… failed at {target}: {reason}",
            &key.as_str()[..12]
        ),
        DomainEvent::ActionRetried { key, .. } => format!(
            "Action {}… retried (reconciled with the target first)",
            &key.as_str()[..12]
        ),
        DomainEvent::ReturnHandedOver(h) => format!(
            "Handed over from hub {} to hub {}: {}",
            h.from_hub, h.to_hub, h.reason
        ),
        other => other.kind().replace('_', " "),
    }
}

fn short(id: &str) -> &str {
    let start = id.len().saturating_sub(6);
    id.get(start..).unwrap_or(id)
}
