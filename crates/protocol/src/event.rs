//! The hub's domain events: every state change is one of these, appended to the event log with
//! its effects in one transaction, and synced between devices through the central store.
//!
//! Compatibility rules (devices of one hub do not all update on the same day):
//! - Every kind has a version, written with each event ([`EVENT_KINDS`]). Adding a field with a
//!   default keeps the version; changing or removing one, or changing a field's meaning, makes
//!   a new version, and [`KnownEvents::decode`] upgrades the older versions to it.
//! - Every kind at every version has a golden payload in `tests/golden/events/`, checked in
//!   once and never edited: the golden test decodes each of them.
//! - A device meeting a kind, or a version of a kind, that it does not know parks the event
//!   (kept, shown to supervisors as needing an update) and keeps syncing; it applies the event
//!   once it has been updated ([`Decoded::NeedsUpdate`]).

use serde::{Deserialize, Serialize};

use returnhub_core::bench::{
    ExceptionRecord, ExtraItemRecord, InspectionRecord, ItemDecisionRecord, LabelJob,
};
use returnhub_core::model::ReturnStatus;
use returnhub_core::record::{
    OrderRecord, RetailerRecord, ReturnRecord, SignOutReason, UserRecord,
};
use returnhub_core::trigger::{ActionDue, IdempotencyKey};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    /// A hub (site) this device may see returns for.
    HubRegistered { id: String, name: String },
    /// A user who may sign in at this hub's stations (replaces an earlier record of the id).
    UserEnrolled(UserRecord),
    /// A user signed in at a station.
    SignedIn { user_id: String, station: String },
    /// A user signed out, or the station locked after inactivity.
    SignedOut {
        user_id: String,
        station: String,
        reason: SignOutReason,
    },
    /// A sign-in was refused. The badge is kept for the audit; the PIN never is.
    SignInRefused {
        badge: String,
        station: String,
        reason: String,
    },
    /// An admin lifted a badge's wrong-PIN lockout at a station.
    UserUnlocked { user_id: String, station: String },
    /// A retailer's configuration, whole (replaces the previous one).
    RetailerConfigured(RetailerRecord),
    /// An order became known to the hub (imported from Shopify, synced, or demo data).
    OrderImported(OrderRecord),
    /// A batch of orders imported at once (a shop's bulk import): the same as one
    /// `OrderImported` per order, in one event.
    OrdersImported {
        retailer_id: String,
        orders: Vec<OrderRecord>,
    },
    /// A newer version of an imported order (the shop changed it): the whole order as it is
    /// now. Lines are updated or added, never removed (a return may point at one).
    OrderUpdated(OrderRecord),
    /// A return the hub should expect, with its connotes and items.
    ReturnExpected(ReturnRecord),
    /// A connote was scanned at the bench. Recorded for every scan, known or not: nothing
    /// scanned is ever dropped.
    ConnoteScanned {
        raw: String,
        connote: String,
        return_id: Option<String>,
        station: String,
    },
    /// The return's status changed.
    ReturnStatusChanged {
        return_id: String,
        from: ReturnStatus,
        to: ReturnStatus,
    },
    /// A return action became due when the retailer's trigger fired. Its idempotency key is
    /// fixed here, before anything is sent; the store keeps one `action` outbox row per key,
    /// so a repeated trigger cannot queue a second one.
    ActionDue(ActionDue),
    /// An item inspected (or re-inspected) at the bench: the item's whole inspection state.
    ItemInspected(InspectionRecord),
    /// Something in the parcel the return did not list.
    ExtraItemRecorded(ExtraItemRecord),
    /// The operator undid an earlier inspection step. The step stays in the log; this marks
    /// it undone.
    StepUndone {
        return_id: String,
        undone_event_id: String,
    },
    /// Items' outcomes: by the rules engine when the return is processed, or a supervisor's
    /// override.
    ItemsDecided {
        return_id: String,
        decisions: Vec<ItemDecisionRecord>,
    },
    /// A parcel or return put in front of the supervisor.
    ExceptionRaised(ExceptionRecord),
    /// The supervisor dealt with an exception.
    ExceptionResolved { id: String, resolution: String },
    /// A label to print at a station; printed from the `label` outbox.
    LabelQueued(LabelJob),
    /// An orphan parcel's connote attached to a return found by its order.
    ConnoteAttached { return_id: String, connote: String },
    /// A supervisor's note on a return (for example why it was closed by hand).
    ReturnNoted { return_id: String, note: String },
    /// A station's scanner, printer and keyboard-wedge settings, whole.
    StationConfigured(returnhub_core::station::StationConfig),
    /// The target confirmed that the action's effect exists (sent and acknowledged, or found
    /// by reconciliation). `reference` is the target's id of the effect (a refund or gift
    /// card GID). The `action` outbox row is marked confirmed in the same transaction.
    ActionConfirmed {
        key: IdempotencyKey,
        return_id: String,
        target: String,
        reference: String,
        /// What the customer got back in the currency they paid, when that is not the
        /// action's (a Shopify order paid in its presentment currency): v2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paid: Option<returnhub_core::money::Money>,
    },
    /// The target refused the action for good (or the dispatcher gave up); a supervisor sees
    /// the reason and may retry it. The `action` outbox row is marked failed in the same
    /// transaction.
    ActionFailed {
        key: IdempotencyKey,
        return_id: String,
        target: String,
        reason: String,
    },
    /// A supervisor asked for a failed action to be tried again. It is reconciled against the
    /// target first (the effect may exist after all), then sent only if it does not.
    ActionRetried {
        key: IdempotencyKey,
        return_id: String,
    },
    /// An admin connected a retailer to its Shopify shop; the credentials were verified
    /// (`shop_name` is what Shopify answered). The access token is not here: it is a secret,
    /// kept in the keyring.
    ShopConnected {
        retailer_id: String,
        shop_domain: String,
        shop_name: String,
    },
    /// An admin disconnected a retailer from its shop: nothing more is imported or sent.
    ShopDisconnected { retailer_id: String },
    /// An import from a retailer's shop reached this point: `cursor` resumes the stream and
    /// `updated_since` is the high-water mark for the next incremental import. Appended in the
    /// same transaction as the orders it covers, so the cursor never runs ahead of them.
    ImportCheckpoint {
        retailer_id: String,
        stream: String,
        cursor: Option<String>,
        updated_since: Option<String>,
    },
    /// Rows of a partner's upload that the central store refused, with what the uploader was
    /// told: sent to the hubs they concern so their supervisors see them. Only the central
    /// store records it.
    UploadRowsRefused(UploadRefusals),
    /// A return (its parcel sent on) moved from one hub to another. Only the central store
    /// records it, when a supervisor of the sending hub asks (`POST /v1/hand-overs`): the
    /// sending hub's copy becomes read-only, and the receiving hub gets the return, its order
    /// and this event by sync.
    ReturnHandedOver(HandOver),
}

/// A return handed from one hub to another, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOver {
    pub return_id: String,
    pub from_hub: String,
    pub to_hub: String,
    /// The supervisor of the sending hub who asked (a user id of that hub).
    pub by: String,
    pub reason: String,
}

/// The rows of one upload that the central store refused for a retailer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRefusals {
    pub retailer_id: String,
    /// The uploading key's source (partner_upload, loop_upload).
    pub source: String,
    /// When the upload came (RFC 3339).
    pub received_at: String,
    pub rows: Vec<RefusedUploadRow>,
}

/// One refused row: enough of it to find the parcel, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedUploadRow {
    /// Zero-based index in its upload.
    pub row: u32,
    pub consignment_no: String,
    pub order_number: String,
    pub sku: String,
    /// The hub the row named (perhaps not one that exists).
    pub hub_id: String,
    pub errors: Vec<crate::wire::FieldError>,
}

/// Every event kind this build reads and writes, with the version of its payload that this
/// build writes (and the highest it reads). A new kind or version goes here, with its golden
/// payload.
pub const EVENT_KINDS: &[(&str, u32)] = &[
    ("hub_registered", 1),
    ("user_enrolled", 1),
    ("signed_in", 1),
    ("signed_out", 1),
    ("sign_in_refused", 1),
    ("user_unlocked", 1),
    // v2: the Shopify policy's `notify_customer` and the partner policy's `receipt_notice`
    // (a v1 payload reads with their defaults: customers notified, RC at the hub's receipt).
    ("retailer_configured", 2),
    ("order_imported", 1),
    ("orders_imported", 1),
    ("order_updated", 1),
    ("return_expected", 1),
    ("connote_scanned", 1),
    ("return_status_changed", 1),
    ("action_due", 1),
    ("item_inspected", 1),
    ("extra_item_recorded", 1),
    ("step_undone", 1),
    ("items_decided", 1),
    ("exception_raised", 1),
    ("exception_resolved", 1),
    ("label_queued", 1),
    ("connote_attached", 1),
    ("return_noted", 1),
    ("station_configured", 1),
    // v2: `paid`, the amount in the customer's currency (a v1 payload reads without it).
    ("action_confirmed", 2),
    ("action_failed", 1),
    ("action_retried", 1),
    ("shop_connected", 1),
    ("shop_disconnected", 1),
    ("import_checkpoint", 1),
    ("upload_rows_refused", 1),
    ("return_handed_over", 1),
];

/// The event kinds and versions a device understands: this build's ([`KnownEvents::this_build`]),
/// or fewer, to play an older build in the mixed-version tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownEvents {
    kinds: Vec<(&'static str, u32)>,
}

/// What a device can make of an event that reached it from another device.
// Unboxed: one per pulled event, matched and moved out at once; a box would be an allocation
// per event on the sync path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Understood (an older version upgraded to this build's).
    Event(DomainEvent),
    /// A kind, or a version of a kind, newer than this build: keep it, apply it after an
    /// update. The sentence says which.
    NeedsUpdate(String),
    /// A kind and version this build knows whose payload does not read as one: kept and shown,
    /// never applied.
    Malformed(String),
}

impl KnownEvents {
    pub fn this_build() -> KnownEvents {
        KnownEvents {
            kinds: EVENT_KINDS.to_vec(),
        }
    }

    /// This build as an older one that has never heard of `kind`.
    pub fn without(mut self, kind: &str) -> KnownEvents {
        self.kinds.retain(|(k, _)| *k != kind);
        self
    }

    /// The highest version of `kind` understood, if the kind is known at all.
    pub fn version_of(&self, kind: &str) -> Option<u32> {
        self.kinds.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v)
    }

    /// Whether an event of `kind` at `version` can be applied here.
    pub fn understands(&self, kind: &str, version: u32) -> bool {
        self.version_of(kind)
            .is_some_and(|known| (1..=known).contains(&version))
    }

    /// Reads an event that came from another device: its kind and version as the envelope
    /// says, and its payload as JSON text.
    pub fn decode(&self, kind: &str, version: u32, payload: &str) -> Decoded {
        let Some(known) = self.version_of(kind) else {
            return Decoded::NeedsUpdate(format!(
                "a {kind} event (version {version}) comes from a newer Returnhub; update this one"
            ));
        };
        if version > known {
            return Decoded::NeedsUpdate(format!(
                "a {kind} event is version {version}; this Returnhub reads up to version {known}: \
                 update it"
            ));
        }
        if version == 0 {
            return Decoded::Malformed(format!("a {kind} event says version 0"));
        }
        // An older payload is upgraded here, before it is read as this build's. So far every
        // later version only added fields with defaults (retailer_configured v2,
        // action_confirmed v2), so an older
        // payload reads as it is.
        match serde_json::from_str::<DomainEvent>(payload) {
            Ok(event) if event.kind() == kind => Decoded::Event(event),
            Ok(event) => Decoded::Malformed(format!(
                "the envelope says {kind} but the payload is a {} event",
                event.kind()
            )),
            Err(e) => Decoded::Malformed(format!("a {kind} payload that does not read: {e}")),
        }
    }
}

impl DomainEvent {
    /// The version of this kind's payload that this build writes.
    pub fn version(&self) -> u32 {
        // A payload with nothing an older version lacks is written as that version, so that
        // devices still on it keep applying it: only a confirmation that carries `paid`
        // needs action_confirmed v2.
        if let DomainEvent::ActionConfirmed { paid: None, .. } = self {
            return 1;
        }
        let kind = self.kind();
        // Every kind is listed (a debug build stops here otherwise, so every test would).
        let listed = EVENT_KINDS.iter().find(|(k, _)| *k == kind);
        debug_assert!(listed.is_some(), "{kind} is missing from EVENT_KINDS");
        listed.map_or(1, |(_, v)| *v)
    }

    /// The stable text stored in the event log's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::HubRegistered { .. } => "hub_registered",
            DomainEvent::UserEnrolled(_) => "user_enrolled",
            DomainEvent::SignedIn { .. } => "signed_in",
            DomainEvent::SignedOut { .. } => "signed_out",
            DomainEvent::SignInRefused { .. } => "sign_in_refused",
            DomainEvent::UserUnlocked { .. } => "user_unlocked",
            DomainEvent::RetailerConfigured(_) => "retailer_configured",
            DomainEvent::OrderImported(_) => "order_imported",
            DomainEvent::OrdersImported { .. } => "orders_imported",
            DomainEvent::OrderUpdated(_) => "order_updated",
            DomainEvent::ReturnExpected(_) => "return_expected",
            DomainEvent::ConnoteScanned { .. } => "connote_scanned",
            DomainEvent::ReturnStatusChanged { .. } => "return_status_changed",
            DomainEvent::ActionDue(_) => "action_due",
            DomainEvent::ItemInspected(_) => "item_inspected",
            DomainEvent::ExtraItemRecorded(_) => "extra_item_recorded",
            DomainEvent::StepUndone { .. } => "step_undone",
            DomainEvent::ItemsDecided { .. } => "items_decided",
            DomainEvent::ExceptionRaised(_) => "exception_raised",
            DomainEvent::ExceptionResolved { .. } => "exception_resolved",
            DomainEvent::LabelQueued(_) => "label_queued",
            DomainEvent::ConnoteAttached { .. } => "connote_attached",
            DomainEvent::StationConfigured(_) => "station_configured",
            DomainEvent::ReturnNoted { .. } => "return_noted",
            DomainEvent::ActionConfirmed { .. } => "action_confirmed",
            DomainEvent::ActionFailed { .. } => "action_failed",
            DomainEvent::ImportCheckpoint { .. } => "import_checkpoint",
            DomainEvent::ActionRetried { .. } => "action_retried",
            DomainEvent::ShopConnected { .. } => "shop_connected",
            DomainEvent::ShopDisconnected { .. } => "shop_disconnected",
            DomainEvent::UploadRowsRefused(_) => "upload_rows_refused",
            DomainEvent::ReturnHandedOver(_) => "return_handed_over",
        }
    }

    /// The id of the order or return the event is about.
    pub fn aggregate_id(&self) -> Option<&str> {
        match self {
            DomainEvent::HubRegistered { id, .. } => Some(id),
            DomainEvent::UserEnrolled(u) => Some(&u.id),
            DomainEvent::SignedIn { user_id, .. } | DomainEvent::SignedOut { user_id, .. } => {
                Some(user_id)
            }
            DomainEvent::SignInRefused { .. } => None,
            DomainEvent::UserUnlocked { user_id, .. } => Some(user_id),
            DomainEvent::RetailerConfigured(r) => Some(&r.id),
            DomainEvent::OrderImported(o) | DomainEvent::OrderUpdated(o) => Some(&o.id),
            DomainEvent::OrdersImported { retailer_id, .. } => Some(retailer_id),
            DomainEvent::ReturnExpected(r) => Some(&r.id),
            DomainEvent::ConnoteScanned { return_id, .. } => return_id.as_deref(),
            DomainEvent::ReturnStatusChanged { return_id, .. } => Some(return_id),
            DomainEvent::ActionDue(a) => Some(&a.return_id),
            DomainEvent::ItemInspected(i) => Some(&i.return_id),
            DomainEvent::ExtraItemRecorded(x) => Some(&x.return_id),
            DomainEvent::StepUndone { return_id, .. }
            | DomainEvent::ItemsDecided { return_id, .. }
            | DomainEvent::ConnoteAttached { return_id, .. }
            | DomainEvent::ReturnNoted { return_id, .. } => Some(return_id),
            // An exception about a return is part of that return's history.
            DomainEvent::ExceptionRaised(x) => x.return_id.as_deref().or(Some(&x.id)),
            DomainEvent::ExceptionResolved { id, .. } => Some(id),
            DomainEvent::LabelQueued(j) => Some(&j.return_id),
            DomainEvent::StationConfigured(s) => Some(&s.station),
            DomainEvent::ActionConfirmed { return_id, .. }
            | DomainEvent::ActionFailed { return_id, .. } => Some(return_id),
            DomainEvent::ImportCheckpoint { retailer_id, .. }
            | DomainEvent::ShopConnected { retailer_id, .. }
            | DomainEvent::ShopDisconnected { retailer_id } => Some(retailer_id),
            DomainEvent::UploadRowsRefused(u) => Some(&u.retailer_id),
            DomainEvent::ActionRetried { return_id, .. } => Some(return_id),
            DomainEvent::ReturnHandedOver(h) => Some(&h.return_id),
        }
    }
}
