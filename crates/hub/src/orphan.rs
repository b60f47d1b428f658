//! The orphan intake: a parcel whose connote matched nothing. The operator finds its order by
//! order number, email, or an item's SKU / EAN (scanned off the item), and attaches the
//! parcel to the order's open return, or opens a return for it; or parks the parcel as an
//! exception with photos and a note. The unknown scan itself is already in the log.

use returnhub_core::auth::Role;
use returnhub_core::bench::{ExceptionKind, ExceptionRecord};
use returnhub_core::model::{ReturnStatus, ScanResult, ScanVerdict};
use returnhub_core::record::{ReturnItemRecord, ReturnRecord};
use returnhub_core::time::rfc3339;
use returnhub_protocol::event::DomainEvent;
use serde::Serialize;
use ts_rs::TS;

use returnhub_core::time::UnixMillis;
use returnhub_store::{OrderSummaryRow, Store};

use crate::auth::Actor;
use crate::bench::new_id;
use crate::{Hub, HubError, Result};

/// A return still to be received or inspected: a parcel for it is attached, not a new return.
pub(crate) fn is_open(status: &str) -> bool {
    matches!(status, "expected" | "in_transit" | "received")
}

/// The events that attach `connote` to an open return and mark it received.
pub(crate) fn attach_and_receive(
    return_id: &str,
    status: &str,
    connote: &str,
) -> Result<Vec<DomainEvent>> {
    let mut events = vec![DomainEvent::ConnoteAttached {
        return_id: return_id.to_owned(),
        connote: connote.to_owned(),
    }];
    let from = ReturnStatus::parse(status)
        .ok_or_else(|| HubError::Corrupt(format!("return {return_id}: {status}")))?;
    if from != ReturnStatus::Received {
        events.push(DomainEvent::ReturnStatusChanged {
            return_id: return_id.to_owned(),
            from,
            to: ReturnStatus::Received,
        });
    }
    Ok(events)
}

/// An order the intake found, with its lines and any returns it already has.
#[derive(Debug, Clone, Serialize, TS)]
pub struct OrderMatch {
    pub order_id: String,
    pub retailer: String,
    pub order_number: String,
    pub customer_name: String,
    pub email: String,
    pub created_at: String,
    pub lines: Vec<OrderMatchLine>,
    /// An open return (expected, in transit or received) of this order at this hub: linking
    /// attaches the parcel to it instead of opening a new one.
    pub open_return: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct OrderMatchLine {
    pub sku: String,
    pub ean: Option<String>,
    pub title: String,
    pub quantity: u32,
}

impl Hub {
    /// Orders matching an order number ("1042" or "#1042"), an email, or a SKU / EAN.
    pub fn find_orders(&self, query: &str) -> Result<Vec<OrderMatch>> {
        self.authorize(Role::Operator)?;
        let query = returnhub_devices::scan::normalise_wedge(query).text;
        let query = query.trim();
        if query.chars().count() < 3 {
            return Err(HubError::Invalid(
                "type at least 3 characters: an order number, an email, a SKU or scan an item"
                    .into(),
            ));
        }
        let store = self.store();
        let mut out = Vec::new();
        for id in store.find_orders(query, 20)? {
            let Some(o) = store.order_summary(&id)? else {
                continue;
            };
            out.push(self.order_match(o));
        }
        Ok(out)
    }

    /// An order as the intake shows it, with this hub's open return of it if there is one.
    pub(crate) fn order_match(&self, o: OrderSummaryRow) -> OrderMatch {
        let open_return = self.open_return_of(&o).map(|(id, _)| id.to_owned());
        OrderMatch {
            order_id: o.id,
            retailer: o.retailer,
            order_number: o.order_number,
            customer_name: o.customer_name,
            email: o.email,
            created_at: o.created_at,
            lines: o
                .lines
                .into_iter()
                .map(|(_, sku, ean, title, quantity)| OrderMatchLine {
                    sku,
                    ean,
                    title,
                    quantity,
                })
                .collect(),
            open_return,
        }
    }

    /// The order's open return (expected, in transit or received) at this hub: (id, status).
    fn open_return_of<'a>(&self, order: &'a OrderSummaryRow) -> Option<(&'a str, &'a str)> {
        order
            .returns
            .iter()
            .find(|(_, hub, status)| hub == &self.options().hub_id && is_open(status))
            .map(|(id, _, status)| (id.as_str(), status.as_str()))
    }

    /// Attaches an unknown parcel to an order: to the order's open return at this hub (which
    /// is received now), or to a new return listing every line of the order (the operator
    /// marks what is missing during inspection). Answers as if the connote had been scanned.
    pub fn link_orphan(&self, connote: &str, order_id: &str) -> Result<ScanResult> {
        let actor = self.authorize(Role::Operator)?;
        let connote = returnhub_devices::scan::normalise_wedge(connote).text;
        let connote = connote.trim().to_string();
        if connote.is_empty() {
            return Err(HubError::Invalid("no connote to attach".into()));
        }
        let mut store = self.store();
        if store.return_by_connote(&connote)?.is_some() {
            return Err(HubError::Conflict(format!(
                "{connote} already belongs to a return: scan it again"
            )));
        }
        let order = store
            .order_summary(order_id)?
            .ok_or_else(|| HubError::NotFound(format!("no order {order_id}")))?;
        let now = (self.clock)();
        let mut events = Vec::new();
        let return_id = match self.open_return_of(&order) {
            Some((return_id, status)) => {
                events = attach_and_receive(return_id, status, &connote)?;
                return_id.to_owned()
            }
            None => {
                let return_id = format!("ret-{}", new_id());
                events.push(DomainEvent::ReturnExpected(ReturnRecord {
                    external_id: None,
                    id: return_id.clone(),
                    retailer_id: order.retailer_id.clone(),
                    hub_id: self.options().hub_id.clone(),
                    order_id: order.id.clone(),
                    source: "orphan_intake".into(),
                    status: ReturnStatus::Received,
                    created_at: rfc3339(now),
                    connotes: vec![connote.clone()],
                    items: order
                        .lines
                        .iter()
                        .map(|(line_id, _, _, _, quantity)| ReturnItemRecord {
                            external_id: None,
                            id: format!("itm-{}", new_id()),
                            order_line_id: line_id.clone(),
                            quantity: *quantity,
                            reason_code: "NOT_GIVEN".into(),
                            sub_reason_code: None,
                            comment: Some("Opened at the hub for a parcel with no return".into()),
                            chosen_option: None,
                        })
                        .collect(),
                }));
                return_id
            }
        };
        let message = format!(
            "{connote} attached to order {}: inspect the items.",
            order.order_number
        );
        self.write_link(
            &mut store, &actor, now, events, &return_id, &connote, message,
        )
    }

    /// Appends a link's events in one write and answers as if the connote had been scanned:
    /// an expected parcel, with the return open at the bench.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_link(
        &self,
        store: &mut Store,
        actor: &Actor,
        now: UnixMillis,
        events: Vec<DomainEvent>,
        return_id: &str,
        connote: &str,
        message: String,
    ) -> Result<ScanResult> {
        // The receipt's RC for the retailer's tracking webhooks, in the same transaction (as
        // a scan queues it): the return as this transaction made it names its items.
        let retailer_id = match events.iter().find_map(|e| match e {
            DomainEvent::ReturnExpected(r) => Some(r.retailer_id.clone()),
            _ => None,
        }) {
            Some(id) => Some(id),
            None => store.return_by_id(return_id)?.map(|r| r.retailer.id),
        };
        // No RC when one went already (the carrier's first scan brought it forward, for a
        // retailer whose RC goes at the first scan).
        let retailer = match retailer_id {
            Some(_) if crate::webhooks::receipt_told_already(store, return_id)? => None,
            Some(id) => Some(crate::bench::retailer_of(store, &id)?),
            None => None,
        };
        let mut queued = false;
        let (received, _) = store.write(now, |tx| {
            let mut receipt = None;
            for event in events {
                let received = matches!(
                    &event,
                    DomainEvent::ReturnExpected(ReturnRecord {
                        status: ReturnStatus::Received,
                        ..
                    }) | DomainEvent::ReturnStatusChanged {
                        to: ReturnStatus::Received,
                        ..
                    }
                );
                let appended = tx.append(self.input(actor, event))?;
                if received {
                    receipt = Some(appended.id);
                }
            }
            let received = receipt.is_some();
            if let (Some(event_id), Some(retailer)) = (receipt, &retailer) {
                let view = tx.return_by_id(return_id)?;
                let body = view.and_then(|ret| {
                    crate::webhooks::tracking_batch(
                        retailer,
                        &ret,
                        &self.options().hub_name,
                        "RC",
                        now,
                        &[],
                        &[],
                    )
                });
                if let Some(body) = body {
                    crate::webhooks::queue_batch(tx, retailer, &event_id, return_id, "RC", &body)?;
                    queued = true;
                }
            }
            Ok(received)
        })?;
        if queued {
            self.webhooks_queued();
        }
        let message = match received {
            true => match self.fire_first_scan(store, actor, return_id, now)? {
                0 => message,
                n => format!("{message} {n} action(s) fired at the first scan."),
            },
            false => message,
        };
        let ret = store.return_by_id(return_id)?;
        let bench = Some(self.state_of(store, return_id, actor)?);
        Ok(ScanResult {
            verdict: ScanVerdict::Expected,
            connote: connote.to_owned(),
            raw: connote.to_owned(),
            message,
            ret,
            bench,
        })
    }

    /// A First-scan retailer's actions when a standalone hub receives a parcel it linked by
    /// hand ([`Hub::first_scan_at_the_bench`]): the return only exists once the link's write
    /// made it, so they are decided from it and written next; a crash between the two writes
    /// is caught up when the return is processed. How many fired.
    fn fire_first_scan(
        &self,
        store: &mut Store,
        actor: &Actor,
        return_id: &str,
        now: UnixMillis,
    ) -> Result<usize> {
        let Some(ret) = store.return_by_id(return_id)? else {
            return Ok(0);
        };
        let due = self.first_scan_at_the_bench(store, &ret, now)?;
        let fired = due.len();
        if fired > 0 {
            store.write(now, |tx| {
                for action in due {
                    tx.append(self.input(actor, DomainEvent::ActionDue(action)))?;
                }
                Ok(())
            })?;
            self.actions_queued();
        }
        Ok(fired)
    }

    /// Parks an unknown parcel for the supervisor, with a note and photos.
    pub fn park_orphan(&self, connote: &str, note: &str, photos: Vec<String>) -> Result<String> {
        let actor = self.authorize(Role::Operator)?;
        let note = note.trim();
        if note.is_empty() {
            return Err(HubError::Invalid(
                "say what is in the parcel, so the supervisor can match it".into(),
            ));
        }
        for hash in &photos {
            self.photos.check_stored(hash)?;
        }
        let id = new_id();
        self.store().write((self.clock)(), |tx| {
            tx.append(self.input(
                &actor,
                DomainEvent::ExceptionRaised(ExceptionRecord {
                    id: id.clone(),
                    kind: ExceptionKind::UnknownParcel,
                    return_id: None,
                    connote: Some(connote.trim().to_string()),
                    note: note.to_string(),
                    photos,
                }),
            ))
        })?;
        Ok(id)
    }
}
