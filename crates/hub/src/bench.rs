//! The bench after the scan: inspect each item (found / missing / extra, QC, grade,
//! disposition, photos, note), undo the last step, and process the return with one key.
//!
//! Processing is one write: the decisions with their explanations, the status change, the
//! actions that the retailer's trigger makes due (keys fixed now), the labels to print and the
//! exceptions for the supervisor all commit together, before the operator sees "processed".

use std::collections::HashMap;

use returnhub_core::auth::Role;
use returnhub_core::bench::{
    ActionState, BenchState, DecidedBy, Disposition, ExceptionKind, ExceptionRecord,
    ExtraItemRecord, ExtraItemView, InspectionRecord, InspectionView, ItemDecisionRecord,
    ItemDecisionView, ItemState, LabelJob, LabelState, Presence, QcReasonOption,
};
use returnhub_core::decision::{Decider, ReturnOption};
use returnhub_core::model::{ReturnStatus, ScanResult};
use returnhub_core::money::Money;
use returnhub_core::process::{self, NotProcessable};
use returnhub_core::record::RetailerRecord;
use returnhub_core::refund::{
    refund_for_return, Order, OrderLine, ReceivedLine, RefundPolicy, RestockingFee,
};
use returnhub_core::rules::{discount_share, Grade, ItemFacts, Outcome, QcStatus};
use returnhub_core::time::{parse_rfc3339, rfc3339, MS_PER_DAY};
use returnhub_core::trigger::{
    actions_due_under, ActionDue, ActionKind, CreditNoteVia, ItemOutcome, ReturnEvent,
};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, HistoryRow, Store};
use serde::Deserialize;
use ts_rs::TS;

use crate::{Actor, Hub, HubError, Result};

/// An item's inspection as the operator sets it (the whole state, each time).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
pub struct InspectRequest {
    pub return_id: String,
    pub item_id: String,
    pub presence: Presence,
    pub qc: Option<QcStatus>,
    pub qc_reason: Option<String>,
    pub grade: Option<Grade>,
    pub disposition: Option<Disposition>,
    pub note: Option<String>,
    pub photos: Vec<String>,
}

/// What scanning an item's barcode during inspection did.
#[derive(Debug, Clone, serde::Serialize, TS)]
pub struct ItemScan {
    /// The return item the code ticked as found, if it matched one.
    pub matched_item: Option<String>,
    /// The code matched nothing on the return and was recorded as an extra item.
    pub extra: bool,
    pub message: String,
    pub state: BenchState,
}

/// The answer to the Process key.
#[derive(Debug, Clone, serde::Serialize, TS)]
pub struct ProcessResult {
    pub message: String,
    pub actions_queued: u32,
    pub labels_queued: u32,
    pub exceptions_raised: u32,
    pub state: BenchState,
}

/// A scan at the bench, routed by what it is: a parcel's connote, or an item of the return
/// being inspected.
#[derive(Debug, Clone, serde::Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BenchScan {
    Parcel { result: Box<ScanResult> },
    Item { result: Box<ItemScan> },
}

impl Hub {
    /// The bench's view of a return.
    pub fn bench_state(&self, return_id: &str) -> Result<BenchState> {
        let actor = self.authorize(Role::Operator)?;
        let store = self.store();
        self.state_of(&store, return_id, &actor)
    }

    pub(crate) fn state_of(
        &self,
        store: &Store,
        return_id: &str,
        actor: &Actor,
    ) -> Result<BenchState> {
        let ret = store
            .return_by_id(return_id)?
            .ok_or_else(|| HubError::NotFound(format!("no return {return_id}")))?;
        let retailer = retailer_of(store, &ret.retailer.id)?;
        let qc_reasons = qc_reason_options(store, &retailer)?;
        let inspections: HashMap<String, InspectionRecord> = store
            .current_inspections(return_id)?
            .into_iter()
            .map(|row| (row.record.item_id.clone(), row.record))
            .collect();
        let decisions: HashMap<String, ItemDecisionRecord> = store
            .current_decisions(return_id)?
            .into_iter()
            .map(|d| (d.item_id.clone(), d))
            .collect();
        let rows = store.return_item_rows(return_id)?;
        let mut items = Vec::new();
        for item in &ret.items {
            let inspection = inspections.get(&item.id).cloned();
            let reason_code = rows
                .iter()
                .find(|r| r.item_id == item.id)
                .map(|r| r.reason_code.as_str())
                .unwrap_or("");
            let evidence_required =
                evidence_required(&retailer, &qc_reasons, reason_code, inspection.as_ref());
            items.push(ItemState {
                item_id: item.id.clone(),
                inspection: inspection.as_ref().map(InspectionView::from),
                decision: decisions.get(&item.id).map(ItemDecisionView::from),
                evidence_required,
            });
        }
        let extras = store
            .extra_items(return_id)?
            .iter()
            .map(|(_, x)| ExtraItemView::from(x))
            .collect();
        let labels = store
            .label_jobs(return_id)?
            .into_iter()
            .map(|l| LabelState {
                id: l.job.id.clone(),
                state: l.state,
                attempts: l.attempts,
                last_error: l.last_error,
                reprint: l.job.reprint_of.is_some(),
            })
            .collect();
        let open_exceptions = store
            .open_exceptions_for(return_id)?
            .into_iter()
            .map(|x| format!("{}: {}", x.kind.as_str().replace('_', " "), x.note))
            .collect();
        let can_undo = ret.status == ReturnStatus::Received
            && store
                .last_undoable_step(return_id, &actor.user_id, &self.options().station)?
                .is_some();
        // Only a hub that sends its own actions knows the key its gift card codes are made
        // with (with a central store, its `gift-card-code` command shows them). A keyring
        // that cannot answer costs the code, never the scan.
        let codes_key = (actor.role.covers(Role::Supervisor)
            && self.options().central_url.is_none())
        .then(|| self.gift_card_secret())
        .and_then(|key| {
            key.map_err(|e| tracing::warn!(error = %e, "gift card codes not shown"))
                .ok()
        });
        let actions = actions_shown(store, &retailer, return_id, codes_key.as_deref())?;
        let mut state = BenchState {
            return_id: return_id.to_string(),
            status: ret.status,
            trigger: ret.retailer.trigger,
            items,
            extras,
            qc_reasons,
            blockers: Vec::new(),
            can_undo,
            labels,
            open_exceptions,
            actions,
        };
        state.blockers = blockers(&state, &ret.hub_id, &self.options().hub_id);
        Ok(state)
    }

    /// Records an item's inspection. Refused (with the reason) unless the return is at this
    /// hub and received, the item is on it, and the QC verdict is complete.
    pub fn inspect_item(&self, req: InspectRequest) -> Result<BenchState> {
        let actor = self.authorize(Role::Operator)?;
        let mut store = self.store();
        let ret = self.open_for_inspection(&store, &req.return_id)?;
        if !ret.items.iter().any(|i| i.id == req.item_id) {
            return Err(HubError::NotFound(format!(
                "item {} is not on this return",
                req.item_id
            )));
        }
        let retailer = retailer_of(&store, &ret.retailer.id)?;
        let qc_reasons = qc_reason_options(&store, &retailer)?;
        let record = checked_inspection(req, &qc_reasons)?;
        for hash in &record.photos {
            self.photos.check_stored(hash)?;
        }
        let return_id = record.return_id.clone();
        store.write((self.clock)(), |tx| {
            tx.append(self.input(&actor, DomainEvent::ItemInspected(record)))
        })?;
        self.state_of(&store, &return_id, &actor)
    }

    /// An item's barcode scanned during inspection: ticks the first item with that EAN or
    /// SKU that is not yet found, or records the code as an extra item. A pass needs a QC key
    /// press afterwards; the scan only says the item is there.
    pub fn scan_item(&self, return_id: &str, raw: &str) -> Result<ItemScan> {
        let actor = self.authorize(Role::Operator)?;
        let code = returnhub_devices::scan::normalise_wedge(raw).text;
        let code = code.trim().to_string();
        if code.is_empty() {
            return Err(HubError::Invalid("nothing readable was scanned".into()));
        }
        let mut store = self.store();
        let ret = self.open_for_inspection(&store, return_id)?;
        let inspections: HashMap<String, InspectionRecord> = store
            .current_inspections(return_id)?
            .into_iter()
            .map(|r| (r.record.item_id.clone(), r.record))
            .collect();
        let candidates: Vec<_> = ret
            .items
            .iter()
            .filter(|i| i.ean.as_deref() == Some(code.as_str()) || i.sku == code)
            .collect();
        let open = candidates.iter().find(|i| {
            inspections
                .get(&i.id)
                .is_none_or(|n| n.presence != Presence::Found)
        });
        let (event, matched, message) = match (open, candidates.first()) {
            (Some(item), _) => {
                let previous = inspections.get(&item.id);
                let record = InspectionRecord {
                    id: new_id(),
                    return_id: return_id.to_string(),
                    item_id: item.id.clone(),
                    presence: Presence::Found,
                    qc: previous.and_then(|p| p.qc),
                    qc_reason: previous.and_then(|p| p.qc_reason.clone()),
                    grade: previous.and_then(|p| p.grade),
                    disposition: previous.and_then(|p| p.disposition),
                    note: previous.and_then(|p| p.note.clone()),
                    photos: previous.map(|p| p.photos.clone()).unwrap_or_default(),
                };
                (
                    DomainEvent::ItemInspected(record),
                    Some(item.id.clone()),
                    format!("{} found: QC pass or fail?", item.title),
                )
            }
            (None, Some(item)) => {
                // Already ticked: a second unit of a single-unit line is an extra.
                let line = store
                    .return_item_rows(return_id)?
                    .into_iter()
                    .find(|r| r.item_id == item.id)
                    .map(|r| r.line_id);
                let record = extra_record(return_id, &code, line)?;
                (
                    DomainEvent::ExtraItemRecorded(record),
                    None,
                    format!("{code} is here once more than the return lists: recorded as extra"),
                )
            }
            (None, None) => {
                let record = extra_record(return_id, &code, None)?;
                (
                    DomainEvent::ExtraItemRecorded(record),
                    None,
                    format!("{code} is not on this return: recorded as an extra item"),
                )
            }
        };
        let extra = matched.is_none();
        store.write((self.clock)(), |tx| tx.append(self.input(&actor, event)))?;
        Ok(ItemScan {
            matched_item: matched,
            extra,
            message,
            state: self.state_of(&store, return_id, &actor)?,
        })
    }

    /// A return opened from the supervisor's queue (or reopened on the bench): what a scan
    /// of its connote would show, without recording a scan.
    pub fn open_return(&self, return_id: &str) -> Result<ScanResult> {
        let actor = self.authorize(Role::Operator)?;
        let store = self.store();
        let ret = store
            .return_by_id(return_id)?
            .ok_or_else(|| HubError::NotFound(format!("no return {return_id}")))?;
        let verdict = returnhub_core::model::ScanVerdict::for_known(
            ret.status,
            &ret.hub_id,
            &self.options().hub_id,
        );
        let bench = (ret.hub_id == self.options().hub_id)
            .then(|| self.state_of(&store, return_id, &actor))
            .transpose()?;
        Ok(ScanResult {
            verdict,
            connote: ret.connotes.first().cloned().unwrap_or_default(),
            raw: String::new(),
            message: format!(
                "Return for order {} ({}).",
                ret.order_number,
                ret.status.as_str()
            ),
            ret: Some(ret),
            bench,
        })
    }

    /// Every scan at the bench comes here, from the keyboard wedge or a serial scanner. With
    /// a return open for inspection, a code that is one of its items ticks the item; a code
    /// shaped like a connote (a carrier format, an SSCC, a retailer pattern) or one that finds
    /// a return is the next parcel; anything else is an extra item in this parcel. With no
    /// return open, every scan is a parcel.
    pub fn bench_scan(&self, raw: &str, open_return: Option<&str>) -> Result<BenchScan> {
        let Some(return_id) = open_return else {
            return Ok(BenchScan::Parcel {
                result: Box::new(self.scan(raw)?),
            });
        };
        let code = returnhub_devices::scan::normalise_wedge(raw).text;
        let code = code.trim();
        let (inspecting, is_item) = {
            let store = self.store();
            match store.return_by_id(return_id)? {
                Some(ret)
                    if ret.status == ReturnStatus::Received
                        && ret.hub_id == self.options().hub_id =>
                {
                    let is_item = ret
                        .items
                        .iter()
                        .any(|i| i.sku == code || i.ean.as_deref() == Some(code));
                    (true, is_item)
                }
                _ => (false, false),
            }
        };
        if !inspecting || code.is_empty() {
            return Ok(BenchScan::Parcel {
                result: Box::new(self.scan(raw)?),
            });
        }
        if is_item {
            return Ok(BenchScan::Item {
                result: Box::new(self.scan_item(return_id, raw)?),
            });
        }
        let classified = self
            .connote_rules
            .classify_scan(&returnhub_devices::scan::normalise_wedge(raw));
        let parcel = match &classified {
            returnhub_devices::classify::Classification::Unrecognised { connote } => {
                self.store().return_by_connote(connote)?.is_some()
            }
            _ => true,
        };
        if parcel {
            Ok(BenchScan::Parcel {
                result: Box::new(self.scan(raw)?),
            })
        } else {
            Ok(BenchScan::Item {
                result: Box::new(self.scan_item(return_id, raw)?),
            })
        }
    }

    /// Undoes this operator's last inspection step on the return, as its own event.
    pub fn undo_last(&self, return_id: &str) -> Result<BenchState> {
        let actor = self.authorize(Role::Operator)?;
        let mut store = self.store();
        self.open_for_inspection(&store, return_id)?;
        let step = store
            .last_undoable_step(return_id, &actor.user_id, &self.options().station)?
            .ok_or_else(|| HubError::Invalid("nothing of yours to undo on this return".into()))?;
        store.write((self.clock)(), |tx| {
            tx.append(self.input(
                &actor,
                DomainEvent::StepUndone {
                    return_id: return_id.to_string(),
                    undone_event_id: step,
                },
            ))
        })?;
        self.state_of(&store, return_id, &actor)
    }

    /// The Process key: decides every item, records why, moves the return to processed,
    /// queues the actions the trigger makes due, the labels, and any exceptions, in one write.
    pub fn process_return(&self, return_id: &str) -> Result<ProcessResult> {
        let actor = self.authorize(Role::Operator)?;
        let mut store = self.store();
        let ret = store
            .return_by_id(return_id)?
            .ok_or_else(|| HubError::NotFound(format!("no return {return_id}")))?;
        let state = self.state_of(&store, return_id, &actor)?;
        match process::check(&state) {
            Ok(()) => {}
            Err(NotProcessable::Blocked(blockers)) => {
                return Err(HubError::Invalid(blockers.join(" ")))
            }
            Err(NotProcessable::AlreadyDone(status)) => {
                self.raise_duplicate(&mut store, &actor, &ret, status)?;
                return Err(HubError::Conflict(format!(
                    "this return is already {}: put the parcel aside for the supervisor",
                    status.as_str()
                )));
            }
        }
        let retailer = retailer_of(&store, &ret.retailer.id)?;
        let now = (self.clock)();
        let decisions = decide_items(&store, &retailer, return_id, Some(&state), now)?;
        let mut due = due_actions(
            &store,
            &retailer,
            ReturnEvent::Processed,
            return_id,
            &decisions,
        )?;
        // A First-scan retailer's actions the receipt did not get to fire (a crash between a
        // hand-linked parcel's two writes): fired now, with the first scan's keys, once.
        if store.actions_of(return_id)?.is_empty() {
            due.extend(self.first_scan_at_the_bench(&store, &ret, now)?);
        }
        let connote = ret.connotes.first().map(String::as_str);
        let plan = process::plan(&state, connote, decisions, due, &mut new_id);

        // RP for the retailer's tracking webhooks (items found missing left out), queued with
        // the status change, in the same transaction.
        let outcomes: Vec<(String, Outcome)> = plan
            .decisions
            .iter()
            .map(|d| (d.item_id.clone(), d.outcome))
            .collect();
        let tracking = crate::webhooks::tracking_batch(
            &retailer,
            &ret,
            &self.options().hub_name,
            "RP",
            now,
            &outcomes,
            &plan.missing_items,
        );
        let labels: Vec<LabelJob> = plan
            .labels
            .iter()
            .map(|n| {
                let sku = ret.items.iter().find(|i| i.id == n.item_id);
                self.item_label(
                    &ret.id,
                    connote.unwrap_or(""),
                    &ret.retailer.name,
                    sku.map(|v| v.sku.as_str()).unwrap_or(""),
                    n,
                    now,
                )
            })
            .collect();
        let (actions_queued, labels_queued, exceptions_raised) = (
            plan.actions_due.len() as u32,
            labels.len() as u32,
            plan.exceptions.len() as u32,
        );
        let summary: Vec<String> = plan
            .decisions
            .iter()
            .map(|d| outcome_text(&d.outcome, d.amount))
            .collect();
        let (from, to) = plan.status_change;
        store.write(now, |tx| {
            tx.append(self.input(
                &actor,
                DomainEvent::ItemsDecided {
                    return_id: return_id.to_string(),
                    decisions: plan.decisions,
                },
            ))?;
            let status = tx.append(self.input(
                &actor,
                DomainEvent::ReturnStatusChanged {
                    return_id: return_id.to_string(),
                    from,
                    to,
                },
            ))?;
            if let Some(body) = &tracking {
                crate::webhooks::queue_batch(tx, &retailer, &status.id, return_id, "RP", body)?;
            }
            let rest = (plan.actions_due.into_iter().map(DomainEvent::ActionDue))
                .chain(labels.into_iter().map(DomainEvent::LabelQueued))
                .chain(
                    plan.exceptions
                        .into_iter()
                        .map(DomainEvent::ExceptionRaised),
                );
            for event in rest {
                tx.append(self.input(&actor, event))?;
            }
            Ok(())
        })?;
        if tracking.is_some() {
            self.webhooks_queued();
        }
        self.print_wakeup();
        self.actions_queued();
        let state = self.state_of(&store, return_id, &actor)?;
        let credited_by_uploader = returnhub_core::partner::pays_itself(
            &store.return_source(return_id)?.unwrap_or_default(),
        );
        Ok(ProcessResult {
            message: format!(
                "Processed: {}. {}",
                summary.join(", "),
                match (actions_queued, retailer.policy.trigger) {
                    _ if credited_by_uploader => "Loop uploaded this return and credits it \
                                                  itself when it receives the RP event: \
                                                  nothing else is sent."
                        .to_string(),
                    (0, returnhub_core::trigger::Trigger::Processing) => {
                        "No action to send.".to_string()
                    }
                    (n, returnhub_core::trigger::Trigger::Processing) => {
                        format!("{n} action(s) queued.")
                    }
                    (_, returnhub_core::trigger::Trigger::Manual) => {
                        "Actions fire when a supervisor closes the return.".to_string()
                    }
                    (_, returnhub_core::trigger::Trigger::FirstScan) => {
                        first_scan_note(
                            store.actions_of(return_id)?.len(),
                            self.options().central_url.is_none(),
                        )
                    }
                }
            ),
            actions_queued,
            labels_queued,
            exceptions_raised,
            state,
        })
    }

    /// The actions a First-scan retailer's return fires when a standalone hub receives it:
    /// with no central store, no carrier event reaches the hub, so its receipt scan is the
    /// first scan; each item is decided as returned (no QC yet). A hub that syncs fires
    /// nothing here: the central store hears both the carrier and this scan, and fires once
    /// at whichever comes first.
    pub(crate) fn first_scan_at_the_bench(
        &self,
        store: &Store,
        ret: &returnhub_core::model::ReturnView,
        now: i64,
    ) -> Result<Vec<returnhub_core::trigger::ActionDue>> {
        if self.options().central_url.is_some() {
            return Ok(Vec::new());
        }
        let retailer = retailer_of(store, &ret.retailer.id)?;
        if retailer.policy.trigger != returnhub_core::trigger::Trigger::FirstScan {
            return Ok(Vec::new());
        }
        let decisions = decide_items(store, &retailer, &ret.id, None, now)?;
        due_actions(
            store,
            &retailer,
            ReturnEvent::CarrierInTransit,
            &ret.id,
            &decisions,
        )
    }

    /// Process pressed again on a return processed or closed already: one exception for the
    /// supervisor (not one per press).
    fn raise_duplicate(
        &self,
        store: &mut Store,
        actor: &Actor,
        ret: &returnhub_core::model::ReturnView,
        status: ReturnStatus,
    ) -> Result<()> {
        if store
            .open_exception(ExceptionKind::DuplicateProcessing, &ret.id)?
            .is_some()
        {
            return Ok(());
        }
        let note = format!(
            "Process pressed again on a {} return at station {}",
            status.as_str(),
            self.options().station
        );
        store.write((self.clock)(), |tx| {
            tx.append(self.input(
                actor,
                DomainEvent::ExceptionRaised(ExceptionRecord {
                    id: new_id(),
                    kind: ExceptionKind::DuplicateProcessing,
                    return_id: Some(ret.id.clone()),
                    connote: ret.connotes.first().cloned(),
                    note,
                    photos: Vec::new(),
                }),
            ))
        })?;
        Ok(())
    }

    /// The return, if the bench may still change its inspection.
    fn open_for_inspection(
        &self,
        store: &Store,
        return_id: &str,
    ) -> Result<returnhub_core::model::ReturnView> {
        let ret = store
            .return_by_id(return_id)?
            .ok_or_else(|| HubError::NotFound(format!("no return {return_id}")))?;
        self.own_return(&ret)?;
        if ret.status != ReturnStatus::Received {
            return Err(HubError::Conflict(format!(
                "this return is {}: its inspection can no longer change",
                ret.status.as_str()
            )));
        }
        Ok(ret)
    }

    pub(crate) fn input(&self, actor: &Actor, event: DomainEvent) -> EventInput {
        EventInput {
            event,
            actor: actor.user_id.clone(),
            station: Some(self.options().station.clone()),
        }
    }

    /// The hub item label for one inspected item.
    pub(crate) fn item_label(
        &self,
        return_id: &str,
        connote: &str,
        retailer: &str,
        sku: &str,
        n: &InspectionView,
        now: i64,
    ) -> LabelJob {
        let disposition = n
            .disposition
            .or(n.qc.map(Disposition::default_for))
            .unwrap_or(Disposition::ResaleHold);
        let grade = n.grade.map(|g| g.name()).unwrap_or("-");
        let fields = returnhub_devices::label::templates::hub_item_fields(
            return_id,
            connote,
            retailer,
            sku,
            grade,
            disposition.label_text(),
            &bin_for(disposition, n.grade),
            &rfc3339(now)[..16].replace('T', " "),
            &format!("rh:{return_id}:{}", n.item_id),
        );
        LabelJob {
            id: new_id(),
            return_id: return_id.to_string(),
            station: self.options().station.clone(),
            template: "hub_item".into(),
            fields,
            reprint_of: None,
        }
    }
}

/// Where an item goes on the racks: the disposition's area, then the grade.
fn bin_for(disposition: Disposition, grade: Option<Grade>) -> String {
    let area = match disposition {
        Disposition::BackToStock => "STOCK",
        Disposition::ResaleHold => "HOLD",
        Disposition::Refurbish => "REFURB",
        Disposition::Recycle => "RECYCLE",
        Disposition::Donate => "DONATE",
        Disposition::Destroy => "DESTROY",
        Disposition::ReturnToVendor => "RTV",
    };
    match grade {
        Some(g) => format!("{area}-{}", g.name()),
        None => area.to_string(),
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn retailer_of(store: &Store, id: &str) -> Result<RetailerRecord> {
    store
        .retailer_record(id)?
        .ok_or_else(|| HubError::UnknownRetailer(id.to_string()))
}

/// The standard QC reasons and the retailer's own, in the admin's order.
fn qc_reason_options(store: &Store, retailer: &RetailerRecord) -> Result<Vec<QcReasonOption>> {
    let mut out: Vec<QcReasonOption> = store
        .standard_qc_reasons()?
        .into_iter()
        .map(|r| QcReasonOption {
            code: r.code,
            label: r.label,
            requires_photo: r.requires_photo,
        })
        .collect();
    for r in &retailer.qc_reasons {
        out.retain(|o| o.code != r.code);
        out.push(QcReasonOption {
            code: r.code.clone(),
            label: r.label.clone(),
            requires_photo: r.requires_photo,
        });
    }
    Ok(out)
}

/// The return's actions as the bench shows them. A credit note issued as a Shopify gift card
/// carries the card's code (derived from the action's key with `codes_key`, so known before
/// Shopify answers) when `codes_key` is given: for supervisors and admins only, a code is
/// money.
fn actions_shown(
    store: &Store,
    retailer: &RetailerRecord,
    return_id: &str,
    codes_key: Option<&str>,
) -> Result<Vec<ActionState>> {
    let actions: Vec<(ActionDue, String)> = store
        .actions_of(return_id)?
        .into_iter()
        .filter_map(|(_, state, payload)| Some((serde_json::from_str(&payload).ok()?, state)))
        .collect();
    let paid = store.actions_paid(return_id)?;
    // Codes only for credit notes issued as Shopify gift cards (not through a partner).
    let codes_key = match codes_key {
        Some(key)
            if retailer.policy.shopify.credit_note == CreditNoteVia::GiftCard
                && actions
                    .iter()
                    .any(|(a, _)| a.kind == ActionKind::CreditNote) =>
        {
            let source = store.return_source(return_id)?.unwrap_or_default();
            (!retailer.policy.partners.target_for(&source).is_partner()).then_some(key)
        }
        _ => None,
    };
    Ok(actions
        .into_iter()
        .map(|(action, state)| ActionState {
            kind: action.kind.name().to_owned(),
            amount: action.amount.map(|m| m.to_string()),
            paid: paid
                .iter()
                .find(|(key, _)| key == action.key.as_str())
                .map(|(_, m)| m.to_string()),
            state,
            gift_card_code: codes_key
                .filter(|_| action.kind == ActionKind::CreditNote)
                .map(|key| {
                    returnhub_connectors::shopify::gift_card_code(key.as_bytes(), &action.key)
                }),
        })
        .collect())
}

fn evidence_required(
    retailer: &RetailerRecord,
    qc_reasons: &[QcReasonOption],
    reason_code: &str,
    inspection: Option<&InspectionRecord>,
) -> bool {
    let by_reason = retailer
        .reasons
        .iter()
        .any(|r| r.code == reason_code && r.requires_evidence);
    let by_qc = inspection
        .filter(|n| n.qc == Some(QcStatus::Fail))
        .and_then(|n| n.qc_reason.as_deref())
        .is_some_and(|code| {
            qc_reasons
                .iter()
                .any(|q| q.code == code && q.requires_photo)
        });
    // Evidence is about the item in hand: a missing item has nothing to photograph.
    inspection.is_none_or(|n| n.presence == Presence::Found) && (by_reason || by_qc)
}

/// Why the return cannot be processed yet, one sentence each.
fn blockers(state: &BenchState, return_hub: &str, this_hub: &str) -> Vec<String> {
    let mut out = Vec::new();
    if return_hub != this_hub {
        out.push(format!("This return belongs to hub {return_hub}."));
        return out;
    }
    if state.status != ReturnStatus::Received {
        out.push(format!("The return is {}.", state.status.as_str()));
        return out;
    }
    for (index, item) in state.items.iter().enumerate() {
        let n = index + 1;
        match &item.inspection {
            None => out.push(format!("Item {n} is not inspected.")),
            Some(i) if i.presence == Presence::Found && i.qc.is_none() => {
                out.push(format!("Item {n} needs a QC pass or fail."))
            }
            Some(i) if item.evidence_required && i.photos.is_empty() => {
                out.push(format!("Item {n} needs a photo as evidence."))
            }
            Some(_) => {}
        }
    }
    out
}

fn checked_inspection(
    req: InspectRequest,
    qc_reasons: &[QcReasonOption],
) -> Result<InspectionRecord> {
    let note = req
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(HubError::Invalid(
            "the note is longer than 2000 characters".into(),
        ));
    }
    if req.presence == Presence::Missing
        && (req.qc.is_some() || req.grade.is_some() || req.disposition.is_some())
    {
        return Err(HubError::Invalid(
            "a missing item has no QC verdict, grade or disposition".into(),
        ));
    }
    let qc_reason = match (req.qc, req.qc_reason) {
        (Some(QcStatus::Fail), None) => {
            return Err(HubError::Invalid(
                "a QC fail needs a reason from the list".into(),
            ))
        }
        (Some(QcStatus::Fail), Some(code)) => {
            if !qc_reasons.iter().any(|q| q.code == code) {
                return Err(HubError::Invalid(format!(
                    "'{code}' is not one of this retailer's QC reasons"
                )));
            }
            Some(code)
        }
        (_, Some(_)) => {
            return Err(HubError::Invalid("only a QC fail takes a reason".into()));
        }
        (_, None) => None,
    };
    if req.photos.len() > 12 {
        return Err(HubError::Invalid("at most 12 photos per item".into()));
    }
    let disposition = req.disposition.or(req.qc.map(Disposition::default_for));
    Ok(InspectionRecord {
        id: new_id(),
        return_id: req.return_id,
        item_id: req.item_id,
        presence: req.presence,
        qc: req.qc,
        qc_reason,
        grade: req.grade,
        disposition,
        note,
        photos: req.photos,
    })
}

fn extra_record(
    return_id: &str,
    code: &str,
    order_line_id: Option<String>,
) -> Result<ExtraItemRecord> {
    if code.chars().count() > 128 {
        return Err(HubError::Invalid(
            "that code is too long to be an item barcode".into(),
        ));
    }
    Ok(ExtraItemRecord {
        id: new_id(),
        return_id: return_id.to_string(),
        code: code.to_string(),
        order_line_id,
        note: None,
        photos: Vec::new(),
    })
}

/// One line for the operator: "Refund NZD 45.00", "Hold for review".
pub(crate) fn outcome_text(outcome: &Outcome, amount: Option<Money>) -> String {
    let name = match outcome {
        Outcome::Refund => "Refund",
        Outcome::CreditNote { .. } => "Credit note",
        Outcome::Exchange => "Exchange",
        Outcome::NoAction => "No action",
        Outcome::HoldForReview => "Hold for review",
    };
    match amount {
        Some(m) => format!("{name} {m}"),
        None => name.to_string(),
    }
}

/// What processing says of a First-scan retailer's actions: what really fired for the return
/// (`fired` actions here), not what should have.
fn first_scan_note(fired: usize, standalone: bool) -> String {
    match (fired, standalone) {
        (0, true) => "Nothing was owed at the first scan, so no action fired.".to_string(),
        (0, false) => "The first scan's actions are made due by the central store; none has \
                       reached this station yet."
            .to_string(),
        (n, _) => format!("{n} action(s) fired at the first scan."),
    }
}

/// Decides every item of the return: with the bench's state (`inspected`), a missing item is
/// owed nothing and a found one goes through the retailer's rules with its QC result; without
/// it (nothing was inspected: a return closed unprocessed, a first scan) every item goes
/// through the rules as the customer returned it, without QC. A decided item is worth the
/// received quantity's share of what was paid, less what earlier returns already refunded.
pub(crate) fn decide_items(
    store: &Store,
    retailer: &RetailerRecord,
    return_id: &str,
    inspected: Option<&BenchState>,
    now: i64,
) -> Result<Vec<ItemDecisionRecord>> {
    let decider = Decider::new(&retailer.rules, &retailer.policy).map_err(HubError::Rules)?;
    let rows = store.return_item_rows(return_id)?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let order = order_for_refunds(store, first, return_id, true)?;
    let today = now.div_euclid(MS_PER_DAY);
    let mut out = Vec::new();
    for row in &rows {
        let inspection = inspected.and_then(|state| {
            state
                .items
                .iter()
                .find(|i| i.item_id == row.item_id)
                .and_then(|i| i.inspection.as_ref())
        });
        // Not inspected at all (a first scan, a return closed unprocessed): every item is
        // decided on what the customer asked for, without QC.
        let found =
            inspected.is_none() || inspection.is_some_and(|n| n.presence == Presence::Found);
        if !found {
            out.push(ItemDecisionRecord {
                id: new_id(),
                return_id: return_id.to_string(),
                item_id: row.item_id.clone(),
                outcome: Outcome::NoAction,
                amount: None,
                decided_by: DecidedBy::NotReceived,
            });
            continue;
        }
        let qc = (
            inspection.and_then(|n| n.qc),
            inspection.and_then(|n| n.grade),
        );
        let facts = item_facts(row, &order, qc, today)?;
        let choice = row.chosen_option.as_deref().and_then(ReturnOption::parse);
        let decision = decider.decide_explained(&facts, choice);
        let amount = match decision.outcome {
            Outcome::Refund | Outcome::CreditNote { .. } => Some(item_worth(&order, row)?),
            _ => None,
        };
        out.push(ItemDecisionRecord {
            id: new_id(),
            return_id: return_id.to_string(),
            item_id: row.item_id.clone(),
            outcome: decision.outcome,
            amount,
            decided_by: DecidedBy::Engine { decision },
        });
    }
    Ok(out)
}

/// What the received item is worth as a refund or credit: its share of what was paid, for
/// the quantity received, less what earlier returns of the order already took.
pub(crate) fn item_worth(order: &Order, row: &HistoryRow) -> Result<Money> {
    Ok(refund_for_return(
        order,
        &[ReceivedLine {
            line_id: row.line_id.clone(),
            quantity_received: row.quantity,
        }],
        &RefundPolicy {
            restocking_fee: RestockingFee::None,
            refund_shipping_when_fully_returned: false,
        },
    )
    .map_err(|e| HubError::Corrupt(format!("order {}: {e}", row.order_id)))?
    .total)
}

/// What one received item of a return is worth (see [`item_worth`]), whatever its outcome:
/// a supervisor who turns a hold into a refund refunds this.
pub(crate) fn worth_of(store: &Store, return_id: &str, item_id: &str) -> Result<Option<Money>> {
    let rows = store.return_item_rows(return_id)?;
    let Some(row) = rows.iter().find(|r| r.item_id == item_id) else {
        return Ok(None);
    };
    let order = order_for_refunds(store, row, return_id, true)?;
    let worth = item_worth(&order, row)?;
    Ok((worth.minor > 0).then_some(worth))
}

/// The order as the refund arithmetic sees it; with `count_earlier`, less what the order's
/// other returns (not `return_id`) already took.
pub(crate) fn order_for_refunds(
    store: &Store,
    row: &HistoryRow,
    return_id: &str,
    count_earlier: bool,
) -> Result<Order> {
    let currency = row.order_total.currency;
    let earlier = if count_earlier {
        store.already_refunded(&row.order_id, return_id)?
    } else {
        Default::default()
    };
    Ok(Order {
        currency,
        lines: store
            .order_lines(&row.order_id)?
            .into_iter()
            .map(|l| {
                let (amount, quantity) = earlier.get(&l.id).copied().unwrap_or((0, 0));
                OrderLine {
                    line_id: l.id,
                    unit_price: l.unit_price,
                    quantity: l.quantity,
                    line_discount: l.discount,
                    refunded_amount: Money::new(amount, currency),
                    refunded_quantity: quantity,
                }
            })
            .collect(),
        order_discount: row.order_discount,
        shipping_paid: Money::zero(currency),
        shipping_refunded: Money::zero(currency),
    })
}

/// What the rules see of one returned item: its order's facts, its QC result (if inspected)
/// and the whole days from the order to `today` (a day number since the Unix epoch).
pub(crate) fn item_facts(
    row: &HistoryRow,
    order: &Order,
    qc: (Option<QcStatus>, Option<Grade>),
    today: i64,
) -> Result<ItemFacts> {
    let (order_discount, order_discount_amount) = discount_share(
        order
            .lines
            .iter()
            .map(|l| (l.unit_price, l.quantity, l.line_discount)),
        order.order_discount,
    );
    let order_day = parse_rfc3339(&row.order_created_at)
        .map(|ms| ms.div_euclid(MS_PER_DAY))
        .ok_or_else(|| HubError::Corrupt(format!("order {}: bad date", row.order_id)))?;
    Ok(ItemFacts {
        return_reason: row.reason_code.clone(),
        sub_reason: row.sub_reason_code.clone(),
        order_discount,
        order_discount_amount,
        order_value: row.order_total,
        order_country: row.country.parse().map_err(HubError::Corrupt)?,
        product_tags: row.product_tags.clone(),
        order_tags: row.order_tags.clone(),
        qc_status: qc.0,
        qc_grade: qc.1,
        days_since_order: (today - order_day).max(0) as u32,
        item_price: row.unit_price,
        sku: row.sku.clone(),
    })
}

/// The actions `event` makes due for these decisions under the retailer's trigger, minus
/// those already queued.
pub(crate) fn due_actions(
    store: &Store,
    retailer: &RetailerRecord,
    event: ReturnEvent,
    return_id: &str,
    decisions: &[ItemDecisionRecord],
) -> Result<Vec<returnhub_core::trigger::ActionDue>> {
    let items: Vec<ItemOutcome> = decisions
        .iter()
        .map(|d| ItemOutcome {
            item_id: d.item_id.clone(),
            outcome: d.outcome,
            amount: d.amount,
        })
        .collect();
    let source = store.return_source(return_id)?.unwrap_or_default();
    let due = actions_due_under(
        &retailer.policy,
        &source,
        event,
        &retailer.id,
        return_id,
        &items,
    );
    let mut out = Vec::new();
    for action in due {
        // Already queued by an earlier firing (a re-close, a replayed event): same key, once.
        if !store.outbox_has("action", action.key.as_str())? {
            out.push(action);
        }
    }
    Ok(out)
}
