//! The embedded SQLite backend of [`CentralStorage`]: one file, WAL + `synchronous=FULL`,
//! every request one IMMEDIATE transaction (so an answer is sent only for what is on disk).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, MutexGuard};

use returnhub_core::decision::Decider;
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::record::{
    OrderLineRecord, OrderRecord, RetailerRecord, ReturnItemRecord, ReturnRecord,
};
use returnhub_core::rules::{discount_share, CountryCode, ItemFacts};
use returnhub_core::time::{parse_rfc3339, rfc3339, UnixMillis, MS_PER_DAY};
use returnhub_core::trigger::{
    actions_due_under, ActionDue, IdempotencyKey, ItemOutcome, ReturnEvent, Trigger,
};
use returnhub_protocol::action::{ActionContext, ReturnFacts, ReturnItemFacts};
use returnhub_protocol::event::{
    Decoded, DomainEvent, KnownEvents, RefusedUploadRow, UploadRefusals,
};
use returnhub_protocol::hlc::{HlcClock, HlcStamp};
use returnhub_protocol::wire::RemoteEvent;
use returnhub_protocol::wire::{
    ClaimOutcome, ClaimState, Conflict, FieldError, HeldAnswer, PullRequest, PullResponse,
    PushResponse, RowResult, SyncCursor, TrackingIn, TrackingRecord, TrackingResponse,
    UploadResponse, UploadRow,
};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::auth;
use crate::storage::{
    ActionClaim, CentralError, CentralStorage, ClaimEnd, DeviceIdentity, DeviceRow, Failpoint,
    HeldRetry, HeldRow, OrderUpdate, PartnerIdentity, Result, ShopConnection, ShopInstall,
    UploadRefusal,
};
use crate::upload::{validate_row, validate_tracking, ValidRow};

mod hand_over;

pub use returnhub_protocol::wire::CENTRAL_DEVICE;

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../../../migrations/central/0001_init.sql"),
    ),
    (
        "0002_shops",
        include_str!("../../../migrations/central/0002_shops.sql"),
    ),
    (
        "0003_device_revocation",
        include_str!("../../../migrations/central/0003_device_revocation.sql"),
    ),
    (
        "0004_tracking_by_connote",
        include_str!("../../../migrations/central/0004_tracking_by_connote.sql"),
    ),
    (
        "0005_event_versions",
        include_str!("../../../migrations/central/0005_event_versions.sql"),
    ),
    (
        "0006_unapplied_events",
        include_str!("../../../migrations/central/0006_unapplied_events.sql"),
    ),
    (
        "0007_first_scans",
        include_str!("../../../migrations/central/0007_first_scans.sql"),
    ),
    (
        "0008_api_key_sources",
        include_str!("../../../migrations/central/0008_api_key_sources.sql"),
    ),
    (
        "0009_shop_installs",
        include_str!("../../../migrations/central/0009_shop_installs.sql"),
    ),
    (
        "0010_upload_refusals",
        include_str!("../../../migrations/central/0010_upload_refusals.sql"),
    ),
];

impl SqliteStorage {
    /// Keeps the rows of an upload that were refused, with what the uploader was told, and
    /// sends them to the hubs they concern (the row's hub where it serves the retailer, else
    /// every hub that does): one transaction after the upload's own writes (a crash in
    /// between loses the record of a refusal the uploader was not yet told of, never a
    /// return).
    fn keep_refusals(
        &self,
        partner: &PartnerIdentity,
        retailer_id: &str,
        rows: &[UploadRow],
        results: &[RowResult],
        now: UnixMillis,
    ) -> Result<()> {
        let refused: Vec<(&RowResult, &UploadRow)> = results
            .iter()
            .filter(|r| !r.errors.is_empty())
            .filter_map(|r| rows.get(r.row).map(|row| (r, row)))
            .collect();
        if refused.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock()?;
        let mut w = inner.write(now)?;
        let serving: Vec<String> = {
            let mut stmt =
                w.tx.prepare_cached("SELECT hub_id FROM retailer_hubs WHERE retailer_id = ?1")?;
            let hubs = stmt
                .query_map([retailer_id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            hubs
        };
        let mut by_hub: std::collections::BTreeMap<String, Vec<RefusedUploadRow>> =
            Default::default();
        {
            let mut insert = w.tx.prepare_cached(
                "INSERT INTO upload_refusals (received_at, retailer_id, key_id, source, row_index,
                   consignment_no, order_number, hub_id, errors_json, row_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for (r, row) in &refused {
                insert.execute(params![
                    rfc3339(now),
                    retailer_id,
                    partner.key_id,
                    partner.source,
                    r.row as i64,
                    row.consignment_no,
                    row.order_number,
                    row.hub_id,
                    serde_json::to_string(&r.errors)?,
                    serde_json::to_string(row)?,
                ])?;
                let refused_row = RefusedUploadRow {
                    row: u32::try_from(r.row).unwrap_or(u32::MAX),
                    consignment_no: row.consignment_no.clone(),
                    order_number: row.order_number.clone(),
                    sku: row.sku.clone(),
                    hub_id: row.hub_id.clone(),
                    errors: r.errors.clone(),
                };
                let targets: Vec<String> = if serving.contains(&row.hub_id) {
                    vec![row.hub_id.clone()]
                } else {
                    serving.clone()
                };
                for hub in targets {
                    by_hub.entry(hub).or_default().push(refused_row.clone());
                }
            }
        }
        for (hub, rows) in by_hub {
            w.append_own(
                DomainEvent::UploadRowsRefused(UploadRefusals {
                    retailer_id: retailer_id.to_owned(),
                    source: partner.source.clone(),
                    received_at: rfc3339(now),
                    rows,
                }),
                Some(&hub),
            )?;
        }
        w.tx.commit()?;
        Ok(())
    }
}

pub struct SqliteStorage {
    path: PathBuf,
    /// Fair when asked ([`MutexGuard::unlock_fair`]): a long writer that lets go between
    /// chunks hands the lock to a waiting request instead of taking it straight back.
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Connection,
    clock: HlcClock,
    /// The event kinds and versions this store projects; others pushed are held.
    known: KnownEvents,
}

impl SqliteStorage {
    /// Opens (creating) `<data_dir>/central.sqlite3`, applies the migrations, and projects the
    /// held events this build reads.
    pub fn open(data_dir: &Path) -> Result<SqliteStorage> {
        SqliteStorage::open_as(data_dir, KnownEvents::this_build())
    }

    /// [`SqliteStorage::open`] projecting only the event kinds and versions in `known`: this
    /// build playing an older one, for the mixed-version tests.
    pub fn open_as(data_dir: &Path, known: KnownEvents) -> Result<SqliteStorage> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            CentralError::Storage(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join("central.sqlite3");
        // Every hub's data and the claims: readable by the service's user only (SQLite gives
        // the -wal and -shm files the database's permissions).
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let private = |e: std::io::Error| {
                CentralError::Storage(format!("cannot make {} private: {e}", path.display()))
            };
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(private)?;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(private)?;
        }
        let mut conn = Connection::open(&path)?;
        // Room for every statement the store prepares (rusqlite keeps 16 by default, fewer
        // than one push runs, so each push parsed its SQL again).
        conn.set_prepared_statement_cache_capacity(256);
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;",
        )?;
        let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current as usize > MIGRATIONS.len() {
            return Err(CentralError::Storage(format!(
                "{} has schema version {current}, newer than this binary knows",
                path.display()
            )));
        }
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
            tx.commit()?;
            tracing::info!(migration = name, "applied central migration");
        }
        let last: Option<String> = conn
            .query_row(
                "SELECT hlc FROM events WHERE device_id = ?1 ORDER BY seq DESC LIMIT 1",
                [CENTRAL_DEVICE],
                |r| r.get(0),
            )
            .optional()?;
        let last = last.and_then(|s| s.parse::<HlcStamp>().ok());
        let mut clock = HlcClock::resume(CENTRAL_DEVICE, last.as_ref());
        // Past every stamp it stored, so its own events order after what it has seen.
        let max: Option<String> = conn
            .query_row("SELECT max(hlc) FROM events", [], |r| r.get(0))
            .optional()?
            .flatten();
        if let Some(max) = max.and_then(|s| s.parse::<HlcStamp>().ok()) {
            // Every stored stamp was bounded when it was pushed.
            clock.catch_up(&max, 0);
        }
        let storage = SqliteStorage {
            path,
            inner: Mutex::new(Inner { conn, clock, known }),
        };
        storage.release_held(returnhub_sync::unix_now_ms())?;
        Ok(storage)
    }

    /// Projects the held events that this build reads (it was updated since they were
    /// pushed); they are in the log already. Runs when the store opens.
    pub fn release_held(&self, now: UnixMillis) -> Result<usize> {
        let mut inner = self.lock()?;
        let known = inner.known.clone();
        let mut w = inner.write(now)?;
        let held = w.held_in(&["needs_update"])?;
        let mut released = 0;
        for (ev, device_hub) in held {
            let Decoded::Event(event) = known.decode(&ev.kind, ev.version, &ev.payload) else {
                continue;
            };
            w.tx.execute("DELETE FROM held_events WHERE id = ?1", [&ev.id])?;
            let hub: Option<String> =
                w.tx.query_row("SELECT hub_id FROM events WHERE id = ?1", [&ev.id], |r| {
                    r.get(0)
                })?;
            w.project(&event, &ev, hub.as_deref().or(Some(&device_hub)))?;
            tracing::info!(event = %ev.id, kind = %ev.kind, "held event projected after an update");
            released += 1;
        }
        w.tx.commit()?;
        Ok(released)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        // No poisoning: a request that panicked while holding the lock rolled its transaction
        // back as it unwound (the Transaction is dropped), so the connection is whole and the
        // next request takes the lock, instead of every later request failing for good.
        Ok(self.inner.lock())
    }

    /// Direct read access for tests and reports.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let inner = self.lock()?;
        Ok(f(&inner.conn)?)
    }
}

impl Inner {
    /// One try at a pushed batch in one transaction. Not `careful`: `None` (nothing kept)
    /// when an event does not apply, for the caller to try again carefully; `careful`: each
    /// event in a savepoint, and one that does not apply is held as `unapplied`.
    fn push_attempt(
        &mut self,
        device: &DeviceIdentity,
        events: &[RemoteEvent],
        parsed: &[HlcStamp],
        now: UnixMillis,
        failpoint: Failpoint,
        careful: bool,
    ) -> Result<Option<PushResponse>> {
        let known = self.known.clone();
        let mut w = self.write(now)?;
        let bound: Option<String> = w.tx.query_row(
            "SELECT bound_device_id FROM devices WHERE id = ?1",
            [&device.token_id],
            |r| r.get(0),
        )?;
        let origin = match (&bound, events.first()) {
            (Some(b), _) => b.clone(),
            // The central store's own events go out under this id: no device may take it.
            (None, Some(first)) if first.device_id == CENTRAL_DEVICE => {
                return Err(CentralError::Forbidden(format!(
                    "the device id '{CENTRAL_DEVICE}' is the central store's own"
                )));
            }
            (None, Some(first)) => {
                w.tx.execute(
                    "UPDATE devices SET bound_device_id = ?2 WHERE id = ?1",
                    params![device.token_id, first.device_id],
                )
                .map_err(|_| {
                    CentralError::Forbidden(format!(
                        "device {} is already registered under another token",
                        first.device_id
                    ))
                })?;
                first.device_id.clone()
            }
            (None, None) => String::new(),
        };
        let mut answer = PushResponse {
            acknowledged: Vec::with_capacity(events.len()),
            new: 0,
            duplicates: 0,
            claims: Vec::new(),
            held: Vec::new(),
        };
        for (ev, stamp) in events.iter().zip(parsed) {
            if ev.device_id != origin {
                return Err(CentralError::Forbidden(format!(
                    "event {} was recorded by device {}, not by this token's device",
                    ev.id, ev.device_id
                )));
            }
            w.clock
                .observe(stamp, now.max(0) as u64)
                .map_err(|e| CentralError::BadRequest(format!("event {}: {e}", ev.id)))?;
            // Acknowledged whatever it holds: an event this build cannot read is kept (and
            // shown to whoever runs the central store), and the device goes on syncing.
            let event = match known.decode(&ev.kind, ev.version, &ev.payload) {
                Decoded::Event(event) => event,
                Decoded::NeedsUpdate(reason) => {
                    // Relayed to the device's hub, where a station as new as its author
                    // applies it; projected here after this store's update.
                    if w.insert_event(ev, Some(&device.hub_id))? {
                        w.hold(ev, &device.hub_id, "needs_update", &reason)?;
                        answer.new += 1;
                    } else {
                        answer.duplicates += 1;
                    }
                    answer.acknowledged.push(ev.id.clone());
                    continue;
                }
                Decoded::Malformed(reason) => {
                    w.keep_apart(ev, &device.hub_id, "malformed", reason, &mut answer)?;
                    continue;
                }
            };
            // A resent event that was taken already is not judged again.
            let stored =
                w.tx.prepare_cached("SELECT 1 FROM events WHERE id = ?1")?
                    .query_row([&ev.id], |_| Ok(()))
                    .optional()?
                    .is_some();
            let refused = match stored {
                true => None,
                false => w.refusal(&event, &ev.actor, &device.hub_id)?,
            };
            if let Some(reason) = refused {
                w.keep_apart(ev, &device.hub_id, "refused", reason, &mut answer)?;
                continue;
            }
            let applied = if careful {
                w.in_savepoint(|w| w.take_pushed(&event, ev, &device.hub_id))?
            } else {
                match w.take_pushed(&event, ev, &device.hub_id) {
                    Err(e) if e.is_about_the_request() => {
                        tracing::info!(event = %ev.id, kind = %ev.kind, error = %e, "a pushed event does not apply: the batch is taken again event by event");
                        return Ok(None);
                    }
                    other => Ok(other?),
                }
            };
            match applied {
                Ok(true) => answer.new += 1,
                Ok(false) => answer.duplicates += 1,
                Err(e) => {
                    let reason = format!("it does not apply here: {e}");
                    w.keep_apart(ev, &device.hub_id, "unapplied", reason, &mut answer)?;
                    continue;
                }
            }
            if let DomainEvent::ActionDue(a) = &event {
                answer
                    .claims
                    .push(w.claim_outcome(a.key.as_str(), &ev.device_id, &ev.id)?);
            }
            answer.acknowledged.push(ev.id.clone());
        }
        if failpoint == Failpoint::BeforeCommit {
            return Err(CentralError::Storage(
                "failpoint: died before commit".into(),
            ));
        }
        w.tx.commit()?;
        if failpoint == Failpoint::AfterCommit {
            return Err(CentralError::Storage("failpoint: died after commit".into()));
        }
        Ok(Some(answer))
    }
}

/// One write transaction with the central clock.
struct Tx<'a> {
    tx: Transaction<'a>,
    clock: &'a mut HlcClock,
    now: UnixMillis,
}

fn state_of(text: &str) -> ClaimState {
    ClaimState::parse(text).unwrap_or(ClaimState::Unknown)
}

impl Tx<'_> {
    /// The hub that should see `event` pushed by a device of `device_hub`: retailer
    /// configuration goes to every hub; what is about a return goes to the return's hub.
    fn scope(&self, event: &DomainEvent, device_hub: &str) -> Result<Option<String>> {
        Ok(match event {
            DomainEvent::RetailerConfigured(_) => None,
            DomainEvent::ReturnExpected(r) => Some(r.hub_id.clone()),
            DomainEvent::ReturnStatusChanged { return_id, .. } => {
                Some(self.hub_of(return_id)?.unwrap_or_else(|| device_hub.into()))
            }
            DomainEvent::ActionDue(a) => Some(
                self.hub_of(&a.return_id)?
                    .unwrap_or_else(|| device_hub.into()),
            ),
            _ => Some(device_hub.to_string()),
        })
    }

    /// Why a device of `hub` may not push `event`, or `None` when it may: the central store
    /// decides, the device proposes. A hub acts on its own returns and records, on the
    /// retailers it serves, and changes a retailer only through one of its admins.
    fn refusal(&self, event: &DomainEvent, actor: &str, hub: &str) -> Result<Option<String>> {
        Ok(match event {
            DomainEvent::HubRegistered { id, .. } => {
                (id != hub).then(|| format!("a device of hub {hub} registered hub {id}"))
            }
            DomainEvent::RetailerConfigured(r) => {
                let known = self.retailer_exists(&r.id)?;
                if known && !self.serves(hub, &r.id)? {
                    Some(format!(
                        "hub {hub} does not serve retailer {}: the central store lists its hubs \
                         (returnhub-central retailer-hubs)",
                        r.id
                    ))
                } else if !self.is_admin(actor, hub)? {
                    Some(format!(
                        "{actor} is not an admin of hub {hub}: only an admin changes a retailer"
                    ))
                } else {
                    None
                }
            }
            DomainEvent::OrderImported(o) | DomainEvent::OrderUpdated(o) => {
                self.not_served(hub, &o.retailer_id)?
            }
            DomainEvent::OrdersImported { retailer_id, .. }
            | DomainEvent::ShopConnected { retailer_id, .. }
            | DomainEvent::ShopDisconnected { retailer_id }
            | DomainEvent::ImportCheckpoint { retailer_id, .. } => {
                self.not_served(hub, retailer_id)?
            }
            DomainEvent::UploadRowsRefused(_) => {
                Some("only the central store records refused upload rows".to_owned())
            }
            DomainEvent::ReturnHandedOver(_) => Some(
                "only the central store hands a return to another hub: ask it (POST /v1/hand-overs)"
                    .to_owned(),
            ),
            DomainEvent::ReturnExpected(r) => {
                if r.hub_id != hub {
                    Some(format!(
                        "a device of hub {hub} expected return {} at hub {}",
                        r.id, r.hub_id
                    ))
                } else if let Some(owner) = self.hub_of(&r.id)?.filter(|h| h != hub) {
                    Some(format!("return {} is hub {owner}'s", r.id))
                } else {
                    self.not_served(hub, &r.retailer_id)?
                }
            }
            DomainEvent::ActionDue(a) => match self.return_facts(&a.return_id)? {
                None => Some(format!("return {} is not known here", a.return_id)),
                Some((owner, _)) if owner != hub => {
                    Some(format!("return {} is hub {owner}'s", a.return_id))
                }
                Some((_, retailer)) if retailer != a.retailer_id => Some(format!(
                    "return {} is retailer {retailer}'s, not {}'s",
                    a.return_id, a.retailer_id
                )),
                Some(_) => self.action_refusal(a)?,
            },
            DomainEvent::ReturnStatusChanged { return_id, .. }
            | DomainEvent::ActionConfirmed { return_id, .. }
            | DomainEvent::ActionFailed { return_id, .. }
            | DomainEvent::ActionRetried { return_id, .. }
            | DomainEvent::StepUndone { return_id, .. }
            | DomainEvent::ItemsDecided { return_id, .. }
            | DomainEvent::ReturnNoted { return_id, .. }
            | DomainEvent::ConnoteAttached { return_id, .. } => {
                self.not_own(hub, return_id, true)?
            }
            DomainEvent::ItemInspected(i) => self.not_own(hub, &i.return_id, true)?,
            DomainEvent::ExtraItemRecorded(x) => self.not_own(hub, &x.return_id, true)?,
            DomainEvent::ConnoteScanned {
                return_id: Some(return_id),
                ..
            } => self.not_own(hub, return_id, true)?,
            DomainEvent::ExceptionRaised(x) => match &x.return_id {
                Some(return_id) => self.not_own(hub, return_id, true)?,
                None => None,
            },
            // A badge label names a person, not a return.
            DomainEvent::LabelQueued(j) => self.not_own(hub, &j.return_id, false)?,
            // The hub's own people, sign-ins, stations and exceptions: seen by that hub only.
            DomainEvent::UserEnrolled(_)
            | DomainEvent::SignedIn { .. }
            | DomainEvent::SignedOut { .. }
            | DomainEvent::SignInRefused { .. }
            | DomainEvent::UserUnlocked { .. }
            | DomainEvent::StationConfigured(_)
            | DomainEvent::ExceptionResolved { .. }
            | DomainEvent::ConnoteScanned {
                return_id: None, ..
            } => None,
        })
    }

    /// Why an action a device made due on its own hub's return cannot stand: the items must
    /// be the return's, the retailer's actions must become due at the hub (not at the
    /// carrier's first scan, which the central store itself acts on), and an amount must be
    /// in the order's currency and no more than the items are worth on it.
    fn action_refusal(&self, a: &ActionDue) -> Result<Option<String>> {
        let record: String = self
            .tx
            .prepare_cached("SELECT record FROM returns WHERE id = ?1")?
            .query_row([&a.return_id], |r| r.get(0))?;
        let ret: ReturnRecord = serde_json::from_str(&record)?;
        if returnhub_core::partner::pays_itself(&ret.source) {
            return Ok(Some(format!(
                "return {} was uploaded by Loop, which credits it itself: an action would pay \
                 twice",
                ret.id
            )));
        }
        if let Some(stray) = a
            .item_ids
            .iter()
            .find(|id| !ret.items.iter().any(|i| &i.id == *id))
        {
            return Ok(Some(format!("item {stray} is not on return {}", ret.id)));
        }
        let trigger: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT json_extract(record, '$.policy.trigger') FROM retailers WHERE id = ?1",
            )?
            .query_row([&a.retailer_id], |r| r.get(0))
            .optional()?;
        if trigger.as_deref() == Some(Trigger::FirstScan.as_str()) {
            return Ok(Some(format!(
                "retailer {}'s actions become due at the carrier's first scan, here, not at a hub",
                a.retailer_id
            )));
        }
        let Some(amount) = a.amount else {
            return Ok(None);
        };
        Ok(match self.worth(&ret, &a.item_ids)? {
            None => Some(format!("order {} is not known here", ret.order_id)),
            Some(worth) if worth.currency != amount.currency => Some(format!(
                "action {} is in {}, order {} in {}",
                a.key.as_str(),
                amount.currency.code(),
                ret.order_id,
                worth.currency.code()
            )),
            Some(worth) if amount.minor > worth.minor => Some(format!(
                "action {} asks {} minor units, more than its items are worth on order {} ({})",
                a.key.as_str(),
                amount.minor,
                ret.order_id,
                worth.minor
            )),
            Some(_) => None,
        })
    }

    /// What `item_ids` of `ret` are worth as a refund: their share of what was paid on the
    /// order for the quantity the return lists, discounts spread as the hub spreads them
    /// (earlier returns not subtracted: a ceiling). `None` when the order is not here.
    fn worth(&self, ret: &ReturnRecord, item_ids: &[String]) -> Result<Option<Money>> {
        let record: Option<String> = self
            .tx
            .prepare_cached("SELECT record FROM orders WHERE id = ?1")?
            .query_row([&ret.order_id], |r| r.get(0))
            .optional()?;
        let Some(record) = record else {
            return Ok(None);
        };
        let order: OrderRecord = serde_json::from_str(&record)?;
        let currency = order.total.currency;
        let paid = returnhub_core::refund::Order {
            currency,
            lines: order
                .lines
                .iter()
                .map(|l| returnhub_core::refund::OrderLine {
                    line_id: l.id.clone(),
                    unit_price: l.unit_price,
                    quantity: l.quantity,
                    line_discount: l.discount,
                    refunded_amount: Money::zero(currency),
                    refunded_quantity: 0,
                })
                .collect(),
            order_discount: order.discount,
            shipping_paid: Money::zero(currency),
            shipping_refunded: Money::zero(currency),
        };
        let received: Vec<returnhub_core::refund::ReceivedLine> = ret
            .items
            .iter()
            .filter(|i| item_ids.contains(&i.id))
            .map(|i| returnhub_core::refund::ReceivedLine {
                line_id: i.order_line_id.clone(),
                quantity_received: i.quantity,
            })
            .collect();
        let policy = returnhub_core::refund::RefundPolicy {
            restocking_fee: returnhub_core::refund::RestockingFee::None,
            refund_shipping_when_fully_returned: false,
        };
        returnhub_core::refund::refund_for_return(&paid, &received, &policy)
            .map(|r| Some(r.total))
            .map_err(|e| CentralError::Invalid(format!("order {}: {e}", order.id)))
    }

    /// Refused unless the return is `hub`'s (or, with `must_exist` false, unknown here).
    fn not_own(&self, hub: &str, return_id: &str, must_exist: bool) -> Result<Option<String>> {
        Ok(match self.hub_of(return_id)? {
            Some(owner) if owner != hub => Some(self.others_return(return_id, &owner, hub)?),
            Some(_) => None,
            None if must_exist => Some(format!("return {return_id} is not known here")),
            None => None,
        })
    }

    /// Why a device of `hub` may not act on `owner`'s return: plainly, or — when `hub` handed
    /// it over — that what its stations still recorded about it came too late, so that the
    /// station's supervisor (who sees it on F3) knows whom to tell.
    fn others_return(&self, return_id: &str, owner: &str, hub: &str) -> Result<String> {
        let handed: Option<(String, String)> = self
            .tx
            .prepare_cached(
                "SELECT json_extract(payload, '$.to_hub'), recorded_at FROM events
                 WHERE aggregate_id = ?1 AND kind = 'return_handed_over'
                   AND json_extract(payload, '$.from_hub') = ?2
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([return_id, hub], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match handed {
            Some((to, at)) => format!(
                "return {return_id} was handed from hub {hub} to hub {to} at {at}: what a station \
                 of hub {hub} recorded about it after that is not applied (it is hub {owner}'s \
                 now; tell its supervisors what was done here)"
            ),
            None => format!("return {return_id} is hub {owner}'s"),
        })
    }

    fn not_served(&self, hub: &str, retailer_id: &str) -> Result<Option<String>> {
        Ok((!self.serves(hub, retailer_id)?)
            .then(|| format!("hub {hub} does not serve retailer {retailer_id}")))
    }

    fn serves(&self, hub: &str, retailer_id: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM retailer_hubs WHERE retailer_id = ?1 AND hub_id = ?2")?
            .query_row([retailer_id, hub], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn retailer_exists(&self, retailer_id: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM retailers WHERE id = ?1")?
            .query_row([retailer_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The return's hub and retailer.
    fn return_facts(&self, return_id: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .tx
            .prepare_cached("SELECT hub_id, retailer_id FROM returns WHERE id = ?1")?
            .query_row([return_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Whether `user_id` is an active admin of `hub`, by the latest enrolment its stations
    /// pushed.
    fn is_admin(&self, user_id: &str, hub: &str) -> Result<bool> {
        Ok(self.enrolled_role(user_id, hub)? == Some(returnhub_core::auth::Role::Admin))
    }

    /// The role of `user_id` at `hub` while the person is active, by the latest enrolment the
    /// hub's stations pushed.
    fn enrolled_role(
        &self,
        user_id: &str,
        hub: &str,
    ) -> Result<Option<returnhub_core::auth::Role>> {
        let latest: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT payload FROM events e
                 WHERE aggregate_id = ?1 AND kind = 'user_enrolled' AND hub_id = ?2
                   AND NOT EXISTS (SELECT 1 FROM held_events h WHERE h.id = e.id)
                 ORDER BY hlc DESC LIMIT 1",
            )?
            .query_row([user_id, hub], |r| r.get(0))
            .optional()?;
        Ok(
            match latest.map(|p| serde_json::from_str::<DomainEvent>(&p)) {
                Some(Ok(DomainEvent::UserEnrolled(u))) if u.active => Some(u.role),
                _ => None,
            },
        )
    }

    /// The configuration of the retailer whose return this is, if both are known here.
    fn retailer_of_return(&self, return_id: &str) -> Result<Option<RetailerRecord>> {
        let record: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT t.record FROM returns r JOIN retailers t ON t.id = r.retailer_id
                 WHERE r.id = ?1",
            )?
            .query_row([return_id], |r| r.get(0))
            .optional()?;
        Ok(record.map(|r| serde_json::from_str(&r)).transpose()?)
    }

    fn hub_of(&self, return_id: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT hub_id FROM returns WHERE id = ?1")?
            .query_row([return_id], |r| r.get(0))
            .optional()?)
    }

    /// Inserts an event as it is; false if its id is already stored.
    fn insert_event(&mut self, ev: &RemoteEvent, hub: Option<&str>) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO events (id, device_id, hlc, actor, station, kind,
                   aggregate_id, payload, recorded_at, hub_id, received_at, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                ev.id,
                ev.device_id,
                ev.hlc,
                ev.actor,
                ev.station,
                ev.kind,
                ev.aggregate_id,
                ev.payload,
                ev.recorded_at,
                hub,
                rfc3339(self.now),
                ev.version,
            ])?;
        Ok(n == 1)
    }

    /// The held events in one of `states`, oldest first, each with the pushing device's hub.
    fn held_in(&self, states: &[&str]) -> Result<Vec<(RemoteEvent, String)>> {
        let mut held = Vec::new();
        let mut stmt = self.tx.prepare_cached(
            "SELECT id, device_id, hlc, actor, station, kind, aggregate_id, payload,
                    recorded_at, version, hub_id
             FROM held_events WHERE state = ?1",
        )?;
        for state in states {
            let rows =
                stmt.query_map([state], |r| Ok((RemoteEvent::from_row(r, 0)?, r.get(10)?)))?;
            held.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
        }
        held.sort_by(|a: &(RemoteEvent, String), b| a.0.hlc.cmp(&b.0.hlc));
        Ok(held)
    }

    /// Takes a pushed event the device may push: logged and projected, scoped to the hub
    /// that should see it. `false`: it was taken already. A copy held from an earlier push
    /// (refused, or not applying then) goes once it is taken.
    fn take_pushed(
        &mut self,
        event: &DomainEvent,
        ev: &RemoteEvent,
        device_hub: &str,
    ) -> Result<bool> {
        if let DomainEvent::RetailerConfigured(r) = event {
            // The hub whose admin created a retailer serves it.
            self.tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO retailer_hubs (retailer_id, hub_id)
                     SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM retailers WHERE id = ?1)",
                )?
                .execute([&r.id, device_hub])?;
        }
        let hub = self.scope(event, device_hub)?;
        if !self.insert_event(ev, hub.as_deref())? {
            return Ok(false);
        }
        self.project(event, ev, hub.as_deref())?;
        self.tx
            .prepare_cached("DELETE FROM held_events WHERE id = ?1 AND state <> 'needs_update'")?
            .execute([&ev.id])?;
        Ok(true)
    }

    /// Runs `f` in a savepoint: what it wrote stays if it succeeds and is undone if it fails
    /// because of what was asked ([`CentralError::is_about_the_request`]); that error is
    /// returned inside. Any other failure fails the transaction.
    fn in_savepoint<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<std::result::Result<T, CentralError>> {
        self.tx.execute_batch("SAVEPOINT pushed_event")?;
        match f(self) {
            Ok(value) => {
                self.tx.execute_batch("RELEASE pushed_event")?;
                Ok(Ok(value))
            }
            Err(e) if e.is_about_the_request() => {
                self.tx
                    .execute_batch("ROLLBACK TO pushed_event; RELEASE pushed_event")?;
                Ok(Err(e))
            }
            Err(e) => Err(e),
        }
    }

    /// Acknowledges a pushed event that is kept here but never applied or relayed (malformed,
    /// or refused), and tells the device which and why: its supervisors see it, and its other
    /// events go on.
    fn keep_apart(
        &self,
        ev: &RemoteEvent,
        hub: &str,
        state: &str,
        reason: String,
        answer: &mut PushResponse,
    ) -> Result<()> {
        if self.hold(ev, hub, state, &reason)? {
            answer.new += 1;
        } else {
            answer.duplicates += 1;
        }
        answer.held.push(HeldAnswer {
            id: ev.id.clone(),
            reason,
        });
        answer.acknowledged.push(ev.id.clone());
        Ok(())
    }

    /// Keeps a pushed event this build cannot project (see migration 0005); false if it was
    /// held already.
    fn hold(&self, ev: &RemoteEvent, hub: &str, state: &str, reason: &str) -> Result<bool> {
        tracing::warn!(event = %ev.id, kind = %ev.kind, version = ev.version, device = %ev.device_id, state, reason, "pushed event held");
        let n = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO held_events (id, device_id, hub_id, hlc, actor, station,
                   kind, version, aggregate_id, payload, recorded_at, state, reason, held_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                ev.id,
                ev.device_id,
                hub,
                ev.hlc,
                ev.actor,
                ev.station,
                ev.kind,
                ev.version,
                ev.aggregate_id,
                ev.payload,
                ev.recorded_at,
                state,
                reason,
                rfc3339(self.now),
            ])?;
        Ok(n == 1)
    }

    /// Appends an event written by the central store itself, and projects it.
    fn append_own(&mut self, event: DomainEvent, hub: Option<&str>) -> Result<RemoteEvent> {
        self.append_by(event, hub, "system:central", None)
    }

    /// An event the central store records on a person's behalf (a supervisor's hand-over):
    /// written by the central store, with who asked and at which station.
    fn append_by(
        &mut self,
        event: DomainEvent,
        hub: Option<&str>,
        actor: &str,
        station: Option<&str>,
    ) -> Result<RemoteEvent> {
        let stamp = self.clock.tick(self.now.max(0) as u64);
        let ev = RemoteEvent::new(
            &event,
            uuid::Uuid::now_v7().to_string(),
            CENTRAL_DEVICE,
            &stamp,
            actor,
            station,
            rfc3339(self.now),
        )
        .map_err(|e| CentralError::Storage(e.to_string()))?;
        self.insert_event(&ev, hub)?;
        self.project(&event, &ev, hub)?;
        Ok(ev)
    }

    /// An order as first imported (a later import of the same id changes nothing).
    fn insert_order(&self, o: &OrderRecord, hub: Option<&str>) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO orders (id, retailer_id, order_number, hub_id, record)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                o.id,
                o.retailer_id,
                o.order_number,
                hub,
                serde_json::to_string(o)?
            ])?;
        Ok(())
    }

    /// The read-model effects of a newly stored event (the same rules as a hub's store).
    fn project(&mut self, event: &DomainEvent, ev: &RemoteEvent, hub: Option<&str>) -> Result<()> {
        match event {
            DomainEvent::RetailerConfigured(r) => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO retailers (id, name, record) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, record = excluded.record",
                    )?
                    .execute(params![r.id, r.name, serde_json::to_string(r)?])?;
            }
            DomainEvent::OrderImported(o) => self.insert_order(o, hub)?,
            DomainEvent::OrdersImported { orders, .. } => {
                for o in orders {
                    self.insert_order(o, hub)?;
                }
            }
            DomainEvent::OrderUpdated(o) => {
                // As on the hubs: a line the shop no longer lists is kept (a return may point
                // at it).
                let stored: Option<String> = self
                    .tx
                    .prepare_cached("SELECT record FROM orders WHERE id = ?1")?
                    .query_row([&o.id], |r| r.get(0))
                    .optional()?;
                let mut merged = o.clone();
                if let Some(stored) = stored {
                    let stored: OrderRecord = serde_json::from_str(&stored)?;
                    for line in stored.lines {
                        if !merged.lines.iter().any(|l| l.id == line.id) {
                            merged.lines.push(line);
                        }
                    }
                }
                self.tx
                    .prepare_cached(
                        "UPDATE orders SET order_number = ?2, record = ?3 WHERE id = ?1",
                    )?
                    .execute(params![
                        o.id,
                        o.order_number,
                        serde_json::to_string(&merged)?
                    ])?;
            }
            DomainEvent::ReturnExpected(r) => {
                self.tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO returns (id, retailer_id, hub_id, order_id, status, record)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![
                        r.id,
                        r.retailer_id,
                        r.hub_id,
                        r.order_id,
                        r.status.as_str(),
                        serde_json::to_string(r)?
                    ])?;
                for c in &r.connotes {
                    self.tx
                        .prepare_cached(
                            "INSERT OR IGNORE INTO connotes (connote, return_id) VALUES (?1, ?2)",
                        )?
                        .execute(params![c, r.id])?;
                }
                self.settle_status(&r.id)?;
                self.link_early_tracking(r, true)?;
            }
            DomainEvent::ReturnStatusChanged { return_id, to, .. } => {
                if matches!(to, ReturnStatus::Processed | ReturnStatus::Closed) {
                    let earlier: Option<String> = self
                        .tx
                        .prepare_cached(
                            "SELECT device_id FROM events
                             WHERE aggregate_id = ?1 AND kind = 'return_status_changed'
                               AND device_id != ?2 AND id != ?3
                               AND json_extract(payload, '$.to') = ?4
                             ORDER BY seq LIMIT 1",
                        )?
                        .query_row(params![return_id, ev.device_id, ev.id, to.as_str()], |r| {
                            r.get(0)
                        })
                        .optional()?;
                    if let Some(first) = earlier {
                        self.flag("double_processing", return_id, "", &first, ev, hub)?;
                    }
                }
                self.settle_status(return_id)?;
                if *to == ReturnStatus::Cancelled {
                    self.stop_claims_of_cancelled(return_id)?;
                }
                // The hub's receipt scan is a first scan too when the carrier's has not come.
                if *to == ReturnStatus::Received {
                    if let Some(retailer) = self.retailer_of_return(return_id)? {
                        self.fire_first_scan(return_id, &retailer, "hub_receipt")?;
                    }
                }
            }
            // A parcel attached to the return at the bench: its connote finds the return (its
            // tracking events too, those that came before it included), and it joins the
            // return's connotes after the others, as the hub records it.
            DomainEvent::ConnoteAttached { return_id, connote } => {
                let attached = self
                    .tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO connotes (connote, return_id) VALUES (?1, ?2)",
                    )?
                    .execute(params![connote, return_id])?;
                if attached == 1 {
                    self.tx
                        .prepare_cached(
                            "UPDATE returns SET record = json_insert(record, '$.connotes[#]', ?2)
                             WHERE id = ?1",
                        )?
                        .execute(params![return_id, connote])?;
                    let record: Option<String> = self
                        .tx
                        .prepare_cached("SELECT record FROM returns WHERE id = ?1")?
                        .query_row([return_id], |r| r.get(0))
                        .optional()?;
                    if let Some(record) = record {
                        let mut record: ReturnRecord = serde_json::from_str(&record)?;
                        record.connotes = vec![connote.clone()];
                        // The hub received the parcel in the same write: the early RT fires
                        // the first scan but moves no status (it would overtake the receipt).
                        self.link_early_tracking(&record, false)?;
                    }
                }
            }
            DomainEvent::ActionDue(action) => self.claim(action, ev, hub)?,
            DomainEvent::ReturnHandedOver(h) => self.project_hand_over(h)?,
            // A hub's supervisor retries a failed action: reconciled before anything is sent.
            DomainEvent::ActionRetried { key, .. } => {
                self.tx
                    .prepare_cached(
                        "UPDATE action_claims SET state = 'unknown', attempts = 0, checks = 0,
                           next_check_ms = 0, last_error = NULL, updated_at = ?2
                         WHERE key = ?1 AND state = 'failed'",
                    )?
                    .execute(params![key.as_str(), rfc3339(self.now)])?;
            }
            // An outcome a hub reached itself (while it dispatched alone, before it synced
            // here): the claim takes it, so the effect is not sent again from here. (The
            // central store's own outcome events pass through here too, changing nothing.)
            DomainEvent::ActionConfirmed { key, .. } => {
                self.tx
                    .prepare_cached(
                        "UPDATE action_claims SET state = 'confirmed', last_error = NULL,
                           updated_at = ?2
                         WHERE key = ?1 AND state != 'confirmed'",
                    )?
                    .execute(params![key.as_str(), rfc3339(self.now)])?;
            }
            DomainEvent::ActionFailed { key, reason, .. } => {
                self.tx
                    .prepare_cached(
                        "UPDATE action_claims SET state = 'failed', last_error = ?2,
                           updated_at = ?3
                         WHERE key = ?1 AND state = 'claimed'",
                    )?
                    .execute(params![key.as_str(), reason, rfc3339(self.now)])?;
            }
            _ => {}
        }
        Ok(())
    }

    fn flag(
        &self,
        kind: &str,
        return_id: &str,
        key: &str,
        first: &str,
        ev: &RemoteEvent,
        hub: Option<&str>,
    ) -> Result<()> {
        tracing::warn!(kind, return_id, first, second = %ev.device_id, "conflict flagged");
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO conflicts (kind, return_id, hub_id, action_key, first_device,
                   second_device, event_id, detected_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                kind,
                return_id,
                hub,
                key,
                first,
                ev.device_id,
                ev.id,
                rfc3339(self.now)
            ])?;
        Ok(())
    }

    /// Claims the action's key for this event, unless someone claimed it first.
    fn claim(&self, action: &ActionDue, ev: &RemoteEvent, hub: Option<&str>) -> Result<()> {
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO action_claims (key, return_id, retailer_id, hub_id, event_id,
                   device_id, action, claimed_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            )?
            .execute(params![
                action.key.as_str(),
                action.return_id,
                action.retailer_id,
                hub,
                ev.id,
                ev.device_id,
                serde_json::to_string(action)?,
                rfc3339(self.now)
            ])?;
        if inserted == 0 {
            let first: String = self.tx.query_row(
                "SELECT device_id FROM action_claims WHERE key = ?1",
                [action.key.as_str()],
                |r| r.get(0),
            )?;
            if first != ev.device_id {
                self.flag(
                    "duplicate_action",
                    &action.return_id,
                    action.key.as_str(),
                    &first,
                    ev,
                    hub,
                )?;
            }
        }
        Ok(())
    }

    fn claim_outcome(&self, key: &str, device: &str, event_id: &str) -> Result<ClaimOutcome> {
        let (owner, state, claimer_event): (String, String, String) = self.tx.query_row(
            "SELECT device_id, state, event_id FROM action_claims WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(ClaimOutcome {
            key: key.to_string(),
            first: owner == device && claimer_event == event_id,
            owner_device: owner,
            state: state_of(&state),
        })
    }

    /// Last writer wins by HLC, exactly as on the hubs (see `returnhub_store`'s sync module).
    fn settle_status(&self, return_id: &str) -> Result<()> {
        let latest: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT payload FROM events e
                 WHERE aggregate_id = ?1 AND kind = 'return_status_changed'
                   AND NOT EXISTS (SELECT 1 FROM held_events h WHERE h.id = e.id)
                 ORDER BY hlc DESC LIMIT 1",
            )?
            .query_row([return_id], |r| r.get(0))
            .optional()?;
        if let Some(payload) = latest {
            if let DomainEvent::ReturnStatusChanged { to, .. } = serde_json::from_str(&payload)? {
                self.tx
                    .prepare_cached("UPDATE returns SET status = ?2 WHERE id = ?1")?
                    .execute(params![return_id, to.as_str()])?;
            }
        }
        Ok(())
    }

    /// A cancelled return's claims not yet sent (a First-scan retailer's, made due at the
    /// carrier's first scan) are stopped: failed with the reason, told to the return's hub.
    /// One already sent is left to its outcome: cancelling undoes nothing silently.
    fn stop_claims_of_cancelled(&mut self, return_id: &str) -> Result<()> {
        let status: Option<String> = self
            .tx
            .prepare_cached("SELECT status FROM returns WHERE id = ?1")?
            .query_row([return_id], |r| r.get(0))
            .optional()?;
        // The latest status by HLC decides: a cancel an older event overtook stops nothing.
        if status.as_deref() != Some(ReturnStatus::Cancelled.as_str()) {
            return Ok(());
        }
        let claimed: Vec<String> = self
            .tx
            .prepare_cached(
                "SELECT key FROM action_claims WHERE return_id = ?1 AND state = 'claimed'
                 ORDER BY key",
            )?
            .query_map([return_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let hub = self.hub_of(return_id)?;
        for key in claimed {
            let reason = "the return was cancelled before this action was sent";
            self.tx
                .prepare_cached(
                    "UPDATE action_claims SET state = 'failed', last_error = ?2, updated_at = ?3
                     WHERE key = ?1 AND state = 'claimed'",
                )?
                .execute(params![key, reason, rfc3339(self.now)])?;
            let Some(key) = IdempotencyKey::parse(&key) else {
                continue;
            };
            tracing::info!(key = %key, return_id, "claim of a cancelled return stopped");
            self.append_own(
                DomainEvent::ActionFailed {
                    key,
                    return_id: return_id.to_owned(),
                    target: "central".into(),
                    reason: reason.into(),
                },
                hub.as_deref(),
            )?;
        }
        Ok(())
    }

    /// The configuration of the retailer a partner's key is for; refused until a hub pushed it.
    fn retailer_by_name(&self, name: &str) -> Result<RetailerRecord> {
        retailer_named(&self.tx, name)
    }

    /// First scan: the return moves to in transit; for a First-scan retailer its actions
    /// become due (decided by the customer's choice and the rules) and are claimed here.
    /// Tracking events that came for the return's connotes before the return did (sent with
    /// its retailer's key) are linked to it now, under new feed positions so its hub pulls
    /// them, and a first scan among them makes the return's actions due, once.
    fn link_early_tracking(&mut self, r: &ReturnRecord, move_status: bool) -> Result<()> {
        let mut first_scan = false;
        for connote in &r.connotes {
            type Early = (i64, String, String, String, String, String, String);
            let early: Vec<Early> = self
                .tx
                .prepare_cached(
                    "SELECT tseq, id, code, status, event_at, source, received_at
                     FROM tracking_events
                     WHERE connote = ?1 AND return_id IS NULL AND retailer_id = ?2
                     ORDER BY tseq",
                )?
                .query_map([connote, &r.retailer_id], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (tseq, id, code, status, event_at, source, received_at) in early {
                // Moved to a new feed position (same id): the hub's pull cursor may be past
                // the old one.
                self.tx
                    .prepare_cached("DELETE FROM tracking_events WHERE tseq = ?1")?
                    .execute([tseq])?;
                self.tx
                    .prepare_cached(
                        "INSERT INTO tracking_events (id, hub_id, return_id, connote, code, status,
                           event_at, source, received_at, retailer_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )?
                    .execute(params![
                        id,
                        r.hub_id,
                        r.id,
                        connote,
                        code,
                        status,
                        event_at,
                        source,
                        received_at,
                        r.retailer_id
                    ])?;
                first_scan |= code == "RT";
            }
        }
        if !first_scan {
            return Ok(());
        }
        let record: Option<String> = self
            .tx
            .prepare_cached("SELECT record FROM retailers WHERE id = ?1")?
            .query_row([&r.retailer_id], |row| row.get(0))
            .optional()?;
        if let Some(record) = record {
            let retailer: RetailerRecord = serde_json::from_str(&record)?;
            self.first_scan(&r.id, &retailer, move_status)?;
        }
        Ok(())
    }

    /// The carrier's first scan (RT) of a return: in transit if it was expected (and
    /// `move_status`), and a First-scan retailer's actions made due unless the hub's receipt
    /// fired them already.
    fn first_scan(
        &mut self,
        return_id: &str,
        retailer: &RetailerRecord,
        move_status: bool,
    ) -> Result<usize> {
        let status: String = self.tx.query_row(
            "SELECT status FROM returns WHERE id = ?1",
            [return_id],
            |r| r.get(0),
        )?;
        // A cancelled return fires nothing, whatever the carrier says of its parcel.
        if status == ReturnStatus::Cancelled.as_str() {
            return Ok(0);
        }
        if move_status && status == ReturnStatus::Expected.as_str() {
            let hub = self.hub_of(return_id)?;
            self.append_own(
                DomainEvent::ReturnStatusChanged {
                    return_id: return_id.into(),
                    from: ReturnStatus::Expected,
                    to: ReturnStatus::InTransit,
                },
                hub.as_deref(),
            )?;
        }
        self.fire_first_scan(return_id, retailer, "carrier")
    }

    /// Makes a First-scan retailer's actions for the return due, once: at the carrier's RT
    /// or at the hub's receipt scan, whichever the central store hears of first
    /// (`first_scans` remembers it, even when nothing was owed). Each item is decided as
    /// returned (no QC yet) by the same rules and facts a hub uses.
    fn fire_first_scan(
        &mut self,
        return_id: &str,
        retailer: &RetailerRecord,
        fired_by: &str,
    ) -> Result<usize> {
        if retailer.policy.trigger != Trigger::FirstScan {
            return Ok(0);
        }
        let first = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO first_scans (return_id, fired_by, fired_at)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![return_id, fired_by, rfc3339(self.now)])?;
        if first == 0 {
            return Ok(0);
        }
        let (hub, record): (String, String) = self.tx.query_row(
            "SELECT hub_id, record FROM returns WHERE id = ?1",
            [return_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let ret: ReturnRecord = serde_json::from_str(&record)?;
        let order: OrderRecord = serde_json::from_str(&self.tx.query_row(
            "SELECT record FROM orders WHERE id = ?1",
            [&ret.order_id],
            |r| r.get::<_, String>(0),
        )?)?;
        let decider = Decider::new(&retailer.rules, &retailer.policy).map_err(|issues| {
            CentralError::Invalid(format!(
                "retailer {}'s rules do not compile ({} issues); first-scan actions not made due",
                retailer.name,
                issues.len()
            ))
        })?;
        let (order_discount, order_discount_amount) = discount_share(
            order
                .lines
                .iter()
                .map(|l| (l.unit_price, l.quantity, l.discount)),
            order.discount,
        );
        let mut outcomes = Vec::new();
        for item in &ret.items {
            let Some(line) = order.lines.iter().find(|l| l.id == item.order_line_id) else {
                continue;
            };
            let facts = ItemFacts {
                return_reason: item.reason_code.clone(),
                sub_reason: item.sub_reason_code.clone(),
                order_discount,
                order_discount_amount,
                order_value: order.total,
                order_country: order
                    .country
                    .parse()
                    .ok()
                    .or(CountryCode::new(*b"ZZ"))
                    .ok_or_else(|| CentralError::Storage("country code".into()))?,
                product_tags: line.product_tags.clone(),
                order_tags: order.tags.clone(),
                qc_status: None,
                qc_grade: None,
                days_since_order: parse_rfc3339(&order.created_at)
                    .map(|t| ((self.now - t).max(0) / MS_PER_DAY) as u32)
                    .unwrap_or(0),
                item_price: line.unit_price,
                sku: line.sku.clone(),
            };
            let verdict = decider.decide(&facts, item.chosen_option);
            outcomes.push(ItemOutcome {
                item_id: item.id.clone(),
                outcome: verdict.outcome,
                amount: self.worth(&ret, std::slice::from_ref(&item.id))?,
            });
        }
        let due = actions_due_under(
            &retailer.policy,
            &ret.source,
            ReturnEvent::CarrierInTransit,
            &ret.retailer_id,
            &ret.id,
            &outcomes,
        );
        let n = due.len();
        for action in due {
            self.append_own(DomainEvent::ActionDue(action), Some(&hub))?;
        }
        Ok(n)
    }
}

/// Consignments of an upload written in one transaction (see `upload_returns`).
const UPLOAD_CHUNK: usize = 256;

fn row_errors(row: usize, consignment: &str, errors: Vec<FieldError>) -> RowResult {
    RowResult {
        row,
        consignment_no: consignment.to_string(),
        return_id: None,
        errors,
    }
}

/// The configuration of the retailer named `name` (a partner key's name); refused until a hub
/// or the CLI configured it.
fn retailer_named(conn: &Connection, name: &str) -> Result<RetailerRecord> {
    let record: Option<String> = conn
        .query_row(
            "SELECT record FROM retailers WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    // The key's name as typed at the CLI may be composed differently from the name the
    // hub's form recorded ("ō" as one character or two): a retailer's few names are
    // compared normalised when the exact text is not there.
    let record = match record {
        Some(r) => Some(r),
        None => {
            let wanted = crate::auth::normalise_name(name);
            let mut stmt = conn.prepare_cached("SELECT name, record FROM retailers")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut found = None;
            for row in rows {
                let (candidate, record) = row?;
                if crate::auth::normalise_name(&candidate) == wanted {
                    found = Some(record);
                    break;
                }
            }
            found
        }
    };
    let record = record.ok_or_else(|| {
        CentralError::Invalid(format!(
            "retailer '{name}' is not configured at the central store yet"
        ))
    })?;
    Ok(serde_json::from_str(&record)?)
}

/// A hub's name as the latest `HubRegistered` its own stations pushed says; none before one
/// of them was set up and synced.
fn hub_name(conn: &Connection, hub_id: &str) -> Result<Option<String>> {
    let registered: Option<String> = conn
        .prepare_cached(
            "SELECT payload FROM events e
             WHERE aggregate_id = ?1 AND kind = 'hub_registered' AND hub_id = ?1
               AND NOT EXISTS (SELECT 1 FROM held_events h WHERE h.id = e.id)
             ORDER BY hlc DESC LIMIT 1",
        )?
        .query_row([hub_id], |r| r.get(0))
        .optional()?;
    Ok(match registered {
        Some(payload) => match serde_json::from_str::<DomainEvent>(&payload)? {
            DomainEvent::HubRegistered { name, .. } => Some(name),
            _ => None,
        },
        None => None,
    })
}

fn field(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

impl Inner {
    fn write(&mut self, now: UnixMillis) -> Result<Tx<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Tx {
            tx,
            clock: &mut self.clock,
            now,
        })
    }
}

fn shop_install_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ShopInstall> {
    Ok(ShopInstall {
        state_sha256: r.get(0)?,
        retailer_id: r.get(1)?,
        shop_domain: r.get(2)?,
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

impl CentralStorage for SqliteStorage {
    fn create_device(&self, hub_id: &str, name: &str, now: UnixMillis) -> Result<String> {
        let (id, secret, token) = auth::mint("rhd")?;
        self.lock()?.conn.execute(
            "INSERT INTO devices (id, hub_id, name, secret_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, hub_id, name, auth::digest(&secret).to_vec(), rfc3339(now)],
        )?;
        Ok(token)
    }

    fn upload_refusals(&self, since: Option<&str>, limit: u32) -> Result<Vec<UploadRefusal>> {
        let inner = self.lock()?;
        let mut stmt = inner.conn.prepare_cached(
            "SELECT received_at, retailer_id, key_id, source, row_index, consignment_no,
                    order_number, hub_id, errors_json
             FROM upload_refusals WHERE ?1 IS NULL OR received_at >= ?1
             ORDER BY received_at DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![since, limit], |r| {
            Ok((
                UploadRefusal {
                    received_at: r.get(0)?,
                    retailer_id: r.get(1)?,
                    key_id: r.get(2)?,
                    source: r.get(3)?,
                    row: r.get(4)?,
                    consignment_no: r.get(5)?,
                    order_number: r.get(6)?,
                    hub_id: r.get(7)?,
                    errors: Vec::new(),
                },
                r.get::<_, String>(8)?,
            ))
        })?;
        rows.map(|row| {
            let (mut refusal, errors) = row?;
            refusal.errors = serde_json::from_str(&errors).map_err(|e| {
                CentralError::Storage(format!("a kept refusal cannot be read: {e}"))
            })?;
            Ok(refusal)
        })
        .collect()
    }

    fn devices(&self) -> Result<Vec<DeviceRow>> {
        let inner = self.lock()?;
        let mut stmt = inner.conn.prepare_cached(
            "SELECT id, hub_id, name, bound_device_id, created_at, revoked_at FROM devices
             ORDER BY hub_id, created_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DeviceRow {
                id: r.get(0)?,
                hub_id: r.get(1)?,
                name: r.get(2)?,
                bound_device_id: r.get(3)?,
                created_at: r.get(4)?,
                revoked_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn revoke_device(&self, id: &str, now: UnixMillis) -> Result<()> {
        let changed = self.lock()?.conn.execute(
            "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, rfc3339(now)],
        )?;
        if changed == 0 {
            return Err(CentralError::Invalid(format!(
                "no device token {id} that is not revoked already (device-list shows them)"
            )));
        }
        Ok(())
    }

    fn rotate_device(&self, id: &str) -> Result<String> {
        let (_, secret, _) = auth::mint("rhd")?;
        let changed = self.lock()?.conn.execute(
            "UPDATE devices SET secret_sha256 = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, auth::digest(&secret).to_vec()],
        )?;
        if changed == 0 {
            return Err(CentralError::Invalid(format!(
                "no device token {id} to rotate (revoked tokens stay revoked: add a device)"
            )));
        }
        Ok(format!("rhd_{id}_{secret}"))
    }

    fn create_api_key_for(
        &self,
        retailer_name: &str,
        source: &str,
        now: UnixMillis,
    ) -> Result<String> {
        if !crate::storage::UPLOAD_SOURCES.contains(&source) {
            return Err(CentralError::Invalid(format!(
                "an upload source is one of {}, not {source:?}",
                crate::storage::UPLOAD_SOURCES.join(", ")
            )));
        }
        let (id, secret, token) = auth::mint("rhk")?;
        self.lock()?.conn.execute(
            "INSERT INTO api_keys (id, retailer_name, secret_sha256, created_at, source)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                retailer_name,
                auth::digest(&secret).to_vec(),
                rfc3339(now),
                source
            ],
        )?;
        Ok(token)
    }

    fn authenticate_device(&self, token: &str) -> Result<Option<DeviceIdentity>> {
        let inner = self.lock()?;
        let (id, secret) = auth::split("rhd", token);
        let row: Option<(String, Vec<u8>, Option<String>)> = inner
            .conn
            .prepare_cached(
                "SELECT hub_id, secret_sha256, bound_device_id FROM devices
                 WHERE id = ?1 AND revoked_at IS NULL",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let stored = row.as_ref().map(|r| r.1.as_slice());
        if !auth::verify(secret, stored) {
            return Ok(None);
        }
        Ok(row.map(|(hub_id, _, bound)| DeviceIdentity {
            token_id: id.to_string(),
            hub_id,
            bound_device_id: bound,
        }))
    }

    fn tracking_event_at(&self, connote: &str, code: &str, source: &str) -> Result<Option<String>> {
        let inner = self.lock()?;
        let first = inner
            .conn
            .prepare_cached(
                "SELECT event_at FROM tracking_events WHERE connote = ?1 AND code = ?2 AND source = ?3
                 ORDER BY tseq LIMIT 1",
            )?
            .query_row(params![connote, code, source], |r| r.get(0))
            .optional()?;
        Ok(first)
    }

    fn health(&self) -> Result<crate::storage::Health> {
        let schema: u32 =
            self.with_conn(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))?;
        Ok(crate::storage::Health {
            schema,
            expected: MIGRATIONS.len() as u32,
        })
    }

    fn device_info(&self, device: &DeviceIdentity) -> Result<returnhub_protocol::wire::DeviceInfo> {
        let inner = self.lock()?;
        let device_name: String = inner.conn.query_row(
            "SELECT name FROM devices WHERE id = ?1",
            [&device.token_id],
            |r| r.get(0),
        )?;
        let hub_name = hub_name(&inner.conn, &device.hub_id)?;
        Ok(returnhub_protocol::wire::DeviceInfo {
            hub_id: device.hub_id.clone(),
            device_name,
            hub_name,
        })
    }

    fn hand_over_targets(
        &self,
        device: &DeviceIdentity,
        return_id: &str,
    ) -> Result<Vec<returnhub_protocol::wire::HubChoice>> {
        let inner = self.lock()?;
        let retailer: Option<(String, String)> = inner
            .conn
            .prepare_cached("SELECT hub_id, retailer_id FROM returns WHERE id = ?1")?
            .query_row([return_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match retailer {
            None => Err(CentralError::Invalid(format!(
                "return {return_id} is not known here"
            ))),
            Some((owner, _)) if owner != device.hub_id => Err(CentralError::Forbidden(format!(
                "return {return_id} is hub {owner}'s"
            ))),
            Some((_, retailer_id)) => hand_over::targets(&inner.conn, &device.hub_id, &retailer_id),
        }
    }

    fn hand_over(
        &self,
        device: &DeviceIdentity,
        req: &returnhub_protocol::wire::HandOverRequest,
        now: UnixMillis,
    ) -> Result<returnhub_protocol::wire::HandOverResponse> {
        let mut inner = self.lock()?;
        let mut w = inner.write(now)?;
        let answer = w.hand_over(&device.hub_id, req)?;
        w.tx.commit()?;
        Ok(answer)
    }

    fn authenticate_partner(&self, key: &str) -> Result<Option<PartnerIdentity>> {
        let inner = self.lock()?;
        let (id, secret) = auth::split("rhk", key);
        let row: Option<(String, Vec<u8>, String)> = inner
            .conn
            .prepare_cached(
                "SELECT retailer_name, secret_sha256, source FROM api_keys WHERE id = ?1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        if !auth::verify(secret, row.as_ref().map(|r| r.1.as_slice())) {
            return Ok(None);
        }
        Ok(row.map(|(retailer_name, _, source)| PartnerIdentity {
            key_id: id.to_string(),
            retailer_name,
            source,
        }))
    }

    fn push(
        &self,
        device: &DeviceIdentity,
        events: &[RemoteEvent],
        now: UnixMillis,
        failpoint: Failpoint,
    ) -> Result<PushResponse> {
        // Parse everything before taking the lock: a bad batch is refused whole.
        let mut parsed = Vec::with_capacity(events.len());
        for ev in events {
            let stamp: HlcStamp =
                ev.hlc
                    .parse()
                    .map_err(|e: returnhub_protocol::hlc::BadStamp| {
                        CentralError::BadRequest(e.to_string())
                    })?;
            // A clock far ahead would pin every device's clock to its future: refused whole,
            // with the reason the pushing station shows (its events wait in its outbox).
            let ahead_ms = stamp.wall_ms.saturating_sub(now.max(0) as u64);
            if ahead_ms > returnhub_protocol::hlc::MAX_AHEAD_MS {
                let e = returnhub_protocol::hlc::TooFarAhead { ahead_ms };
                tracing::warn!(event = %ev.id, device = %ev.device_id, error = %e, "push refused: clock ahead");
                return Err(CentralError::BadRequest(format!(
                    "event {} is {e}: set that PC's clock right, then it syncs again",
                    ev.id
                )));
            }
            if uuid::Uuid::parse_str(&ev.id).is_err() {
                return Err(CentralError::BadRequest(format!(
                    "event {:?}: an event id is a UUID",
                    ev.id
                )));
            }
            parsed.push(stamp);
        }
        let mut inner = self.lock()?;
        // Most batches apply whole. One whose event breaks a rule of the stored data (a
        // retailer named like another, say) is taken again event by event, each in a
        // savepoint, and that event is held instead of failing the device's sync for good.
        match inner.push_attempt(device, events, &parsed, now, failpoint, false)? {
            Some(answer) => Ok(answer),
            None => Ok(inner
                .push_attempt(device, events, &parsed, now, failpoint, true)?
                .expect("a careful attempt holds what does not apply")),
        }
    }

    fn pull(&self, device: &DeviceIdentity, req: &PullRequest) -> Result<PullResponse> {
        let inner = self.lock()?;
        let limit = req.limit.clamp(1, 10_000);
        let me = device.bound_device_id.as_deref().unwrap_or("");
        let mut cursor = req.cursor;
        let mut stmt = inner.conn.prepare_cached(
            // Two ordered index ranges merged (an OR would sort everything after the
            // cursor on every page).
            "SELECT * FROM (
               SELECT seq, id, device_id, hlc, actor, station, kind, aggregate_id, payload, recorded_at,
                 version
               FROM events WHERE hub_id = ?2 AND seq > ?1 AND device_id != ?3
               ORDER BY seq LIMIT ?4)
             UNION ALL
             SELECT * FROM (
               SELECT seq, id, device_id, hlc, actor, station, kind, aggregate_id, payload, recorded_at,
                 version
               FROM events WHERE hub_id IS NULL AND seq > ?1 AND device_id != ?3
               ORDER BY seq LIMIT ?4)
             ORDER BY seq LIMIT ?4",
        )?;
        let budget = req
            .max_bytes
            .unwrap_or(returnhub_protocol::wire::MAX_PAGE_BYTES)
            .clamp(1, returnhub_protocol::wire::MAX_PAGE_BYTES);
        let mut events = Vec::new();
        let mut bytes = 0u64;
        let mut full = false;
        let rows = stmt.query_map(params![req.cursor.events, device.hub_id, me, limit], |r| {
            Ok((r.get::<_, i64>(0)?, RemoteEvent::from_row(r, 1)?))
        })?;
        for row in rows {
            let (seq, ev) = row?;
            bytes += ev.payload.len() as u64;
            // At least one event per page, whatever its size.
            if !events.is_empty() && bytes > budget {
                full = true;
                break;
            }
            cursor.events = seq;
            events.push(ev);
        }
        let more_events = full || events.len() as u32 == limit;
        if !more_events {
            // Nothing of ours beyond this point: skip the rest of the log next time.
            let max: Option<i64> =
                inner
                    .conn
                    .query_row("SELECT max(seq) FROM events", [], |r| r.get(0))?;
            cursor.events = cursor.events.max(max.unwrap_or(0));
        }
        let mut tstmt = inner.conn.prepare_cached(
            "SELECT tseq, id, return_id, connote, code, status, event_at, source
             FROM tracking_events WHERE tseq > ?1 AND hub_id = ?2 ORDER BY tseq LIMIT ?3",
        )?;
        let mut tracking = Vec::new();
        let rows = tstmt.query_map(params![req.cursor.tracking, device.hub_id, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                TrackingRecord {
                    id: r.get(1)?,
                    return_id: r.get(2)?,
                    connote: r.get(3)?,
                    code: r.get(4)?,
                    status: r.get(5)?,
                    event_at: r.get(6)?,
                    source: r.get(7)?,
                },
            ))
        })?;
        for row in rows {
            let (tseq, t) = row?;
            cursor.tracking = tseq;
            tracking.push(t);
        }
        let more = more_events || tracking.len() as u32 == limit;
        Ok(PullResponse {
            events,
            tracking,
            cursor: SyncCursor {
                events: cursor.events,
                tracking: cursor.tracking,
            },
            more,
        })
    }

    fn retry_held(&self, now: UnixMillis) -> Result<Vec<HeldRetry>> {
        let mut inner = self.lock()?;
        let known = inner.known.clone();
        let mut w = inner.write(now)?;
        let held = w.held_in(&["refused", "unapplied"])?;
        let mut outcomes = Vec::with_capacity(held.len());
        for (ev, device_hub) in held {
            let Decoded::Event(event) = known.decode(&ev.kind, ev.version, &ev.payload) else {
                continue;
            };
            let (state, reason) = match w.refusal(&event, &ev.actor, &device_hub)? {
                Some(reason) => ("refused", reason),
                None => match w.in_savepoint(|w| w.take_pushed(&event, &ev, &device_hub))? {
                    Ok(_) => {
                        tracing::info!(event = %ev.id, kind = %ev.kind, "held event taken on retry");
                        outcomes.push(HeldRetry {
                            id: ev.id,
                            kind: ev.kind,
                            taken: true,
                            reason: None,
                        });
                        continue;
                    }
                    Err(e) => ("unapplied", format!("it does not apply here: {e}")),
                },
            };
            w.tx.execute(
                "UPDATE held_events SET state = ?2, reason = ?3 WHERE id = ?1",
                params![ev.id, state, reason],
            )?;
            outcomes.push(HeldRetry {
                id: ev.id,
                kind: ev.kind,
                taken: false,
                reason: Some(reason),
            });
        }
        w.tx.commit()?;
        Ok(outcomes)
    }

    fn held_events(&self) -> Result<Vec<HeldRow>> {
        let inner = self.lock()?;
        let mut stmt = inner.conn.prepare(
            "SELECT id, device_id, hub_id, kind, version, state, reason, held_at
             FROM held_events ORDER BY held_at DESC, id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(HeldRow {
                id: r.get(0)?,
                device_id: r.get(1)?,
                hub_id: r.get(2)?,
                kind: r.get(3)?,
                version: r.get(4)?,
                state: r.get(5)?,
                reason: r.get(6)?,
                held_at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn upload_returns(
        &self,
        partner: &PartnerIdentity,
        rows: &[UploadRow],
        now: UnixMillis,
    ) -> Result<UploadResponse> {
        // Checking and grouping the rows needs only the retailer's configuration: it is done
        // before the store's write lock, so a large upload holds up no other hub's push while
        // it is checked, and grouping is one hash lookup a row (64k rows, not 64k² steps).
        let retailer = retailer_named(&self.lock()?.conn, &partner.retailer_name)?;
        let reasons: Vec<String> = retailer.reasons.iter().map(|r| r.code.clone()).collect();
        let mut results: Vec<RowResult> = Vec::with_capacity(rows.len());
        // Validate every row, then group the valid ones by consignment (first-seen order).
        let mut groups: Vec<(String, Vec<(usize, ValidRow)>)> = Vec::new();
        let mut group_of: HashMap<String, usize> = HashMap::new();
        let mut bad_consignments: HashMap<String, usize> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            match validate_row(
                row,
                retailer.currency,
                &reasons,
                retailer.policy.exchange_enabled,
            ) {
                Ok(v) => match group_of.get(&v.consignment) {
                    Some(&g) => groups[g].1.push((i, v)),
                    None => {
                        group_of.insert(v.consignment.clone(), groups.len());
                        groups.push((v.consignment.clone(), vec![(i, v)]));
                    }
                },
                Err(errors) => {
                    bad_consignments
                        .entry(row.consignment_no.trim().to_uppercase())
                        .or_insert(i);
                    results.push(row_errors(i, &row.consignment_no, errors));
                }
            }
        }
        // Written a few hundred returns a transaction, the lock let go between them: another
        // hub's push waits for one chunk, not for the whole file. A crash part-way leaves the
        // chunks written so far; resending the upload (the answer never came) creates only
        // the rest, as a resent consignment of the same order creates nothing.
        let mut created = 0;
        let mut groups = groups.into_iter().peekable();
        while groups.peek().is_some() {
            let mut inner = self.lock()?;
            {
                let mut w = inner.write(now)?;
                for (consignment, lines) in groups.by_ref().take(UPLOAD_CHUNK) {
                    let fail_all = |results: &mut Vec<RowResult>, f: FieldError| {
                        for (i, v) in &lines {
                            results.push(row_errors(*i, &v.consignment, vec![f.clone()]));
                        }
                    };
                    if let Some(bad) = bad_consignments.get(&consignment) {
                        fail_all(
                            &mut results,
                            field(
                                "ConsignmentNo",
                                format!("not created: row {bad} of this consignment has errors"),
                            ),
                        );
                        continue;
                    }
                    let first = &lines[0].1;
                    if lines.iter().any(|(_, v)| {
                        v.order_number != first.order_number || v.hub_id != first.hub_id
                    }) {
                        fail_all(
                            &mut results,
                            field(
                                "OrderNumber",
                                "rows of one consignment must name the same order and hub",
                            ),
                        );
                        continue;
                    }
                    let hub_known: bool = w.tx.query_row(
                        "SELECT EXISTS (SELECT 1 FROM devices WHERE hub_id = ?1)",
                        [&first.hub_id],
                        |r| r.get(0),
                    )?;
                    if !hub_known {
                        fail_all(
                            &mut results,
                            field(
                                "HubId",
                                format!("hub '{}' has no registered device", first.hub_id),
                            ),
                        );
                        continue;
                    }
                    let existing: Option<(String, String, String, String)> =
                        w.tx.query_row(
                            "SELECT r.id, o.order_number, r.retailer_id,
                                    json_extract(r.record, '$.source') FROM connotes c
                     JOIN returns r ON r.id = c.return_id
                     JOIN orders o ON o.id = r.order_id WHERE c.connote = ?1",
                            [&consignment],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                        )
                        .optional()?;
                    if let Some((_, _, owner, _)) = existing.as_ref().filter(|e| e.2 != retailer.id)
                    {
                        // Another retailer's parcel: neither its return nor its retailer is named, and
                        // nothing of it is touched.
                        tracing::warn!(retailer = %retailer.id, owner = %owner, "upload named another retailer's connote");
                        fail_all(
                            &mut results,
                            field("ConsignmentNo", "this consignment number is already in use"),
                        );
                        continue;
                    }
                    if let Some((return_id, _, _, source)) = existing
                        .as_ref()
                        .filter(|e| e.3 != partner.source)
                        .filter(|e| {
                            returnhub_core::partner::pays_itself(&e.3)
                                || returnhub_core::partner::pays_itself(&partner.source)
                        })
                    {
                        // The same parcel from Loop and from anyone else: one of them would
                        // be paid by Loop and the other actioned here, so twice.
                        tracing::warn!(retailer = %retailer.id, return_id = %return_id, existing = %source, uploader = %partner.source, "upload of a consignment another source uploaded");
                        fail_all(
                            &mut results,
                            field(
                                "ConsignmentNo",
                                format!(
                                    "already uploaded as return {return_id} by {source}; a \
                                     return Loop credits and one actioned here would pay twice"
                                ),
                            ),
                        );
                        continue;
                    }
                    if let Some((return_id, order_number, _, _)) = existing {
                        if order_number == first.order_number {
                            // A resent upload: the same return, nothing new.
                            for (i, v) in &lines {
                                results.push(RowResult {
                                    row: *i,
                                    consignment_no: v.consignment.clone(),
                                    return_id: Some(return_id.clone()),
                                    errors: vec![],
                                });
                            }
                        } else {
                            fail_all(
                                &mut results,
                                field(
                                    "ConsignmentNo",
                                    format!(
                                        "already belongs to return {return_id} of another order"
                                    ),
                                ),
                            );
                        }
                        continue;
                    }
                    // The order: known (a second return from it) or new, made from these rows.
                    let known: Option<String> =
                    w.tx.query_row(
                        "SELECT record FROM orders WHERE retailer_id = ?1 AND order_number = ?2",
                        params![retailer.id, first.order_number],
                        |r| r.get(0),
                    )
                    .optional()?;
                    let order: OrderRecord = match known {
                        Some(record) => serde_json::from_str(&record)?,
                        None => {
                            let order = new_order(&retailer.id, retailer.currency, &lines, now)?;
                            w.append_own(
                                DomainEvent::OrderImported(order.clone()),
                                Some(&first.hub_id),
                            )?;
                            order
                        }
                    };
                    let mut items = Vec::new();
                    let mut missing = Vec::new();
                    for (i, v) in &lines {
                        match order.lines.iter().find(|l| l.sku == v.sku) {
                            Some(line) => items.push(ReturnItemRecord {
                                external_id: None,
                                id: uuid::Uuid::now_v7().to_string(),
                                order_line_id: line.id.clone(),
                                quantity: v.quantity,
                                reason_code: v.reason.clone(),
                                sub_reason_code: v.sub_reason.clone(),
                                comment: v.description.clone(),
                                chosen_option: Some(v.option),
                            }),
                            None => missing.push(*i),
                        }
                    }
                    if !missing.is_empty() {
                        fail_all(
                            &mut results,
                            field(
                                "Sku",
                                format!(
                                    "order {} has no line with the SKU of row(s) {missing:?}",
                                    first.order_number
                                ),
                            ),
                        );
                        continue;
                    }
                    let ret = ReturnRecord {
                        external_id: None,
                        id: uuid::Uuid::now_v7().to_string(),
                        retailer_id: retailer.id.clone(),
                        hub_id: first.hub_id.clone(),
                        order_id: order.id.clone(),
                        source: partner.source.clone(),
                        status: ReturnStatus::Expected,
                        created_at: rfc3339(now),
                        connotes: vec![consignment.clone()],
                        items,
                    };
                    let return_id = ret.id.clone();
                    w.append_own(DomainEvent::ReturnExpected(ret), Some(&first.hub_id))?;
                    created += 1;
                    for (i, v) in &lines {
                        results.push(RowResult {
                            row: *i,
                            consignment_no: v.consignment.clone(),
                            return_id: Some(return_id.clone()),
                            errors: vec![],
                        });
                    }
                }
                w.tx.commit()?;
            }
            MutexGuard::unlock_fair(inner);
        }
        results.sort_by_key(|r| r.row);
        self.keep_refusals(partner, &retailer.id, rows, &results, now)?;
        let rejected = results.iter().filter(|r| !r.errors.is_empty()).count();
        Ok(UploadResponse {
            accepted_rows: results.len() - rejected,
            rejected_rows: rejected,
            returns_created: created,
            rows: results,
        })
    }

    fn record_tracking(
        &self,
        partner: &PartnerIdentity,
        events: &[TrackingIn],
        now: UnixMillis,
    ) -> Result<TrackingResponse> {
        let mut inner = self.lock()?;
        let mut w = inner.write(now)?;
        let retailer = w.retailer_by_name(&partner.retailer_name)?;
        let mut answer = TrackingResponse {
            recorded: 0,
            duplicates: 0,
            actions_due: 0,
            rows: Vec::new(),
        };
        for (i, t) in events.iter().enumerate() {
            let (connote, at) = match validate_tracking(t) {
                Ok(v) => v,
                Err(errors) => {
                    answer.rows.push(row_errors(i, &t.consignment_no, errors));
                    continue;
                }
            };
            let found: Option<(String, String, String)> =
                w.tx.query_row(
                    "SELECT r.id, r.hub_id, r.retailer_id FROM connotes c
                     JOIN returns r ON r.id = c.return_id WHERE c.connote = ?1",
                    [&connote],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((_, _, retailer_id)) = &found {
                if *retailer_id != retailer.id {
                    answer.rows.push(row_errors(
                        i,
                        &connote,
                        vec![field(
                            "ConsignmentNo",
                            format!("is not a return of {}", retailer.name),
                        )],
                    ));
                    continue;
                }
            }
            let code = t.code.trim().to_ascii_uppercase();
            let id = auth::hex(&auth::digest(&format!(
                "{connote}\0{code}\0{at}\0{}",
                t.item_no.as_deref().unwrap_or("")
            )))[..32]
                .to_string();
            let source = t.carrier.clone().unwrap_or_else(|| partner.key_id.clone());
            let inserted = w.tx.execute(
                "INSERT OR IGNORE INTO tracking_events (id, hub_id, return_id, connote, code, status,
                   event_at, source, received_at, retailer_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    id,
                    found.as_ref().map(|f| &f.1),
                    found.as_ref().map(|f| &f.0),
                    connote,
                    code,
                    t.status,
                    at,
                    source,
                    rfc3339(now),
                    retailer.id,
                ],
            )?;
            if inserted == 0 {
                answer.duplicates += 1;
            } else {
                answer.recorded += 1;
                if let (Some((return_id, _, _)), "RT") = (&found, code.as_str()) {
                    answer.actions_due += w.first_scan(return_id, &retailer, true)?;
                }
            }
            answer.rows.push(RowResult {
                row: i,
                consignment_no: connote,
                return_id: found.map(|f| f.0),
                errors: vec![],
            });
        }
        w.tx.commit()?;
        Ok(answer)
    }

    fn conflicts(&self, hub_id: Option<&str>) -> Result<Vec<Conflict>> {
        let inner = self.lock()?;
        let mut stmt = inner.conn.prepare_cached(
            "SELECT id, kind, return_id, action_key, first_device, second_device, event_id, detected_at
             FROM conflicts WHERE ?1 IS NULL OR hub_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([hub_id], |r| {
            let key: String = r.get(3)?;
            Ok(Conflict {
                id: r.get(0)?,
                kind: r.get(1)?,
                return_id: r.get(2)?,
                action_key: (!key.is_empty()).then_some(key),
                first_device: r.get(4)?,
                second_device: r.get(5)?,
                event_id: r.get(6)?,
                detected_at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn claims_in_state(
        &self,
        state: ClaimState,
        retailers: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<ActionClaim>> {
        self.claims_due(state, retailers, i64::MAX, limit)
    }

    fn claims_due(
        &self,
        state: ClaimState,
        retailers: Option<&[String]>,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<ActionClaim>> {
        let inner = self.lock()?;
        let mut stmt = inner.conn.prepare_cached(
            "SELECT key, return_id, hub_id, device_id, event_id, action, state, attempts, last_error,
                    checks
             FROM action_claims WHERE state = ?1 AND next_check_ms <= ?4
               AND (?3 IS NULL OR retailer_id IN (SELECT value FROM json_each(?3)))
             ORDER BY claimed_at, key LIMIT ?2",
        )?;
        let retailers = retailers.map(serde_json::to_string).transpose()?;
        let rows = stmt.query_map(params![state.as_str(), limit, retailers, now], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ),
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, u32>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, u32>(9)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                (key, return_id, hub_id, device_id, event_id),
                action,
                state,
                attempts,
                last_error,
                checks,
            ) = row?;
            out.push(ActionClaim {
                key,
                return_id,
                hub_id,
                device_id,
                event_id,
                action: serde_json::from_str(&action)?,
                state: state_of(&state),
                attempts,
                checks,
                last_error,
            });
        }
        Ok(out)
    }

    fn defer_claim(&self, key: &str, checks: u32, next_check: UnixMillis) -> Result<()> {
        self.lock()?.conn.execute(
            "UPDATE action_claims SET checks = ?2, next_check_ms = ?3 WHERE key = ?1",
            params![key, checks, next_check],
        )?;
        Ok(())
    }

    fn set_claim_state(
        &self,
        key: &str,
        from: ClaimState,
        to: ClaimState,
        error: Option<&str>,
        now: UnixMillis,
    ) -> Result<bool> {
        let inner = self.lock()?;
        let n = inner.conn.execute(
            "UPDATE action_claims SET state = ?3, last_error = ?4, updated_at = ?5,
               attempts = attempts + (?3 = 'sent')
             WHERE key = ?1 AND state = ?2",
            params![key, from.as_str(), to.as_str(), error, rfc3339(now)],
        )?;
        Ok(n == 1)
    }

    fn finish_claim(
        &self,
        claim: &ActionClaim,
        from: ClaimState,
        end: &ClaimEnd,
        now: UnixMillis,
    ) -> Result<bool> {
        let mut inner = self.lock()?;
        let mut w = inner.write(now)?;
        let (to, error, event) = match end {
            ClaimEnd::Confirmed {
                target,
                reference,
                paid,
            } => (
                ClaimState::Confirmed,
                None,
                DomainEvent::ActionConfirmed {
                    key: claim.action.key.clone(),
                    return_id: claim.return_id.clone(),
                    target: target.clone(),
                    reference: reference.clone(),
                    paid: *paid,
                },
            ),
            ClaimEnd::Failed { target, reason } => (
                ClaimState::Failed,
                Some(reason.as_str()),
                DomainEvent::ActionFailed {
                    key: claim.action.key.clone(),
                    return_id: claim.return_id.clone(),
                    target: target.clone(),
                    reason: reason.clone(),
                },
            ),
        };
        let moved = w.tx.execute(
            "UPDATE action_claims SET state = ?3, last_error = ?4, updated_at = ?5
             WHERE key = ?1 AND state = ?2",
            params![claim.key, from.as_str(), to.as_str(), error, rfc3339(now)],
        )?;
        if moved != 1 {
            return Ok(false);
        }
        let hub = match &claim.hub_id {
            Some(hub) => Some(hub.clone()),
            None => w.hub_of(&claim.return_id)?,
        };
        w.append_own(event, hub.as_deref())?;
        w.tx.commit()?;
        Ok(true)
    }

    fn connect_shop(&self, connection: &ShopConnection) -> Result<()> {
        let inner = self.lock()?;
        let known: bool = inner.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM retailers WHERE id = ?1)",
            [&connection.retailer_id],
            |r| r.get(0),
        )?;
        if !known {
            return Err(CentralError::Invalid(format!(
                "no retailer {} at the central store (a hub pushes retailers when it syncs)",
                connection.retailer_id
            )));
        }
        inner.conn.execute(
            "INSERT INTO shop_connections (retailer_id, shop_domain, shop_name, connected_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (retailer_id) DO UPDATE SET shop_domain = excluded.shop_domain,
               shop_name = excluded.shop_name, connected_at = excluded.connected_at",
            params![
                connection.retailer_id,
                connection.shop_domain,
                connection.shop_name,
                connection.connected_at
            ],
        )?;
        Ok(())
    }

    fn shop_connections(&self) -> Result<Vec<ShopConnection>> {
        let inner = self.lock()?;
        let mut stmt = inner.conn.prepare_cached(
            "SELECT retailer_id, shop_domain, shop_name, connected_at FROM shop_connections
             ORDER BY retailer_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ShopConnection {
                retailer_id: r.get(0)?,
                shop_domain: r.get(1)?,
                shop_name: r.get(2)?,
                connected_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn begin_shop_install(&self, install: &ShopInstall) -> Result<()> {
        let inner = self.lock()?;
        let known: bool = inner.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM retailers WHERE id = ?1)",
            [&install.retailer_id],
            |r| r.get(0),
        )?;
        if !known {
            return Err(CentralError::Invalid(format!(
                "no retailer {} at the central store (a hub pushes retailers when it syncs)",
                install.retailer_id
            )));
        }
        // Installs long over are of no use to anyone.
        inner.conn.execute(
            "DELETE FROM shop_installs WHERE expires_at < ?1",
            [install.created_at - 7 * 86_400_000],
        )?;
        inner.conn.execute(
            "INSERT INTO shop_installs (state_sha256, retailer_id, shop_domain, created_at,
               expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                install.state_sha256,
                install.retailer_id,
                install.shop_domain,
                install.created_at,
                install.expires_at
            ],
        )?;
        Ok(())
    }

    fn take_shop_install(
        &self,
        state_sha256: &str,
        now: UnixMillis,
    ) -> Result<Option<ShopInstall>> {
        let inner = self.lock()?;
        // One statement: two callbacks with the same state cannot both take it.
        let taken = inner
            .conn
            .query_row(
                "UPDATE shop_installs SET used_at = ?2
                 WHERE state_sha256 = ?1 AND used_at IS NULL AND expires_at > ?2
                 RETURNING state_sha256, retailer_id, shop_domain, created_at, expires_at",
                params![state_sha256, now],
                shop_install_row,
            )
            .optional()?;
        Ok(taken)
    }

    fn pending_shop_install(
        &self,
        shop_domain: &str,
        now: UnixMillis,
    ) -> Result<Option<ShopInstall>> {
        let inner = self.lock()?;
        Ok(inner
            .conn
            .query_row(
                "SELECT state_sha256, retailer_id, shop_domain, created_at, expires_at
                 FROM shop_installs
                 WHERE shop_domain = ?1 AND used_at IS NULL AND expires_at > ?2
                 ORDER BY created_at DESC LIMIT 1",
                params![shop_domain, now],
                shop_install_row,
            )
            .optional()?)
    }

    fn update_shop_order(&self, order: &OrderRecord, now: UnixMillis) -> Result<OrderUpdate> {
        let mut inner = self.lock()?;
        let mut w = inner.write(now)?;
        let held: Option<(Option<String>, String)> =
            w.tx.query_row(
                "SELECT hub_id, record FROM orders WHERE id = ?1",
                [&order.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((hub, record)) = held else {
            return Ok(OrderUpdate::NotHeld);
        };
        let stored: OrderRecord = serde_json::from_str(&record)?;
        if stored.retailer_id != order.retailer_id {
            return Err(CentralError::Invalid(format!(
                "order {} belongs to retailer {}, not {}",
                order.id, stored.retailer_id, order.retailer_id
            )));
        }
        if stored.total.currency != order.total.currency {
            return Err(CentralError::Invalid(format!(
                "order {}: its currency changed from {} to {}; not applied",
                stored.order_number, stored.total.currency, order.total.currency
            )));
        }
        if !returnhub_connectors::import::changes(&stored, order) {
            return Ok(OrderUpdate::Unchanged);
        }
        w.append_own(DomainEvent::OrderUpdated(order.clone()), hub.as_deref())?;
        w.tx.commit()?;
        Ok(OrderUpdate::Updated)
    }

    fn retailer(&self, retailer_id: &str) -> Result<Option<RetailerRecord>> {
        let inner = self.lock()?;
        let record: Option<String> = inner
            .conn
            .query_row(
                "SELECT record FROM retailers WHERE id = ?1",
                [retailer_id],
                |r| r.get(0),
            )
            .optional()?;
        record
            .map(|r| serde_json::from_str(&r).map_err(CentralError::from))
            .transpose()
    }

    fn retailer_ids(&self) -> Result<Vec<String>> {
        let inner = self.lock()?;
        let mut stmt = inner
            .conn
            .prepare_cached("SELECT id FROM retailers ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn retailers(&self) -> Result<Vec<RetailerRecord>> {
        let inner = self.lock()?;
        let mut stmt = inner
            .conn
            .prepare_cached("SELECT record FROM retailers ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    fn retailer_hubs(&self, retailer_id: &str) -> Result<Vec<String>> {
        let inner = self.lock()?;
        let mut stmt = inner
            .conn
            .prepare("SELECT hub_id FROM retailer_hubs WHERE retailer_id = ?1 ORDER BY hub_id")?;
        let rows = stmt.query_map([retailer_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn set_retailer_hubs(&self, retailer_id: &str, hubs: &[String]) -> Result<()> {
        let mut inner = self.lock()?;
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let known: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM retailers WHERE id = ?1)",
            [retailer_id],
            |r| r.get(0),
        )?;
        if !known {
            return Err(CentralError::Invalid(format!(
                "there is no retailer {retailer_id} (returnhub-central retailer-list)"
            )));
        }
        tx.execute(
            "DELETE FROM retailer_hubs WHERE retailer_id = ?1",
            [retailer_id],
        )?;
        for hub in hubs {
            tx.execute(
                "INSERT OR IGNORE INTO retailer_hubs (retailer_id, hub_id) VALUES (?1, ?2)",
                params![retailer_id, hub.trim()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn configure_retailer(&self, record: &RetailerRecord, now: UnixMillis) -> Result<()> {
        let mut inner = self.lock()?;
        let mut w = inner.write(now)?;
        // No hub: retailer configuration is pulled by every hub.
        w.append_own(DomainEvent::RetailerConfigured(record.clone()), None)?;
        w.tx.commit()?;
        Ok(())
    }

    fn returns_by_external_id(&self, retailer_id: &str, external_id: &str) -> Result<Vec<String>> {
        let inner = self.lock()?;
        let mut stmt = inner.conn.prepare_cached(
            "SELECT id FROM returns
             WHERE retailer_id = ?1 AND json_extract(record, '$.external_id') = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![retailer_id, external_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn action_context(&self, claim: &ActionClaim) -> Result<ActionContext> {
        let inner = self.lock()?;
        let (order_id, record): (String, String) = inner
            .conn
            .query_row(
                "SELECT order_id, record FROM returns WHERE id = ?1",
                [&claim.return_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| {
                CentralError::Invalid(format!(
                    "action {}: return {} is not at the central store",
                    claim.key, claim.return_id
                ))
            })?;
        let record: returnhub_core::record::ReturnRecord = serde_json::from_str(&record)?;
        // The item's latest inspection that was not undone, as the hubs' stores keep it.
        let mut inspection = inner.conn.prepare_cached(
            "SELECT e.payload, e.recorded_at FROM events e
             WHERE e.aggregate_id = ?1 AND e.kind = 'item_inspected'
               AND json_extract(e.payload, '$.item_id') = ?2
               AND NOT EXISTS (SELECT 1 FROM events u
                               WHERE u.aggregate_id = ?1 AND u.kind = 'step_undone'
                                 AND json_extract(u.payload, '$.undone_event_id') = e.id)
             ORDER BY e.hlc DESC LIMIT 1",
        )?;
        let mut decided = inner.conn.prepare_cached(
            "SELECT json_extract(d.value, '$.outcome.kind')
             FROM events e, json_each(e.payload, '$.decisions') d
             WHERE e.aggregate_id = ?1 AND e.kind = 'items_decided'
               AND json_extract(d.value, '$.item_id') = ?2
             ORDER BY e.hlc DESC LIMIT 1",
        )?;
        let order: Option<returnhub_core::record::OrderRecord> = inner
            .conn
            .query_row(
                "SELECT record FROM orders WHERE id = ?1",
                [&order_id],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(|json| serde_json::from_str(&json))
            .transpose()?;
        let mut items = Vec::with_capacity(record.items.len());
        for item in &record.items {
            let inspected: Option<(String, String)> = inspection
                .query_row(params![claim.return_id, item.id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            items.push(ReturnItemFacts {
                return_item_id: item.id.clone(),
                order_line_id: item.order_line_id.clone(),
                quantity: item.quantity,
                external_id: item.external_id.clone(),
                sku: order
                    .as_ref()
                    .and_then(|o| o.lines.iter().find(|l| l.id == item.order_line_id))
                    .map(|l| l.sku.clone())
                    .unwrap_or_default(),
                chosen_option: item.chosen_option.map(|o| o.as_str().to_owned()),
                inspection: inspected
                    .map(|(payload, at)| serde_json::from_str(&payload).map(|r| (r, at)))
                    .transpose()?,
                outcome: decided
                    .query_row(params![claim.return_id, item.id], |r| r.get(0))
                    .optional()?
                    .flatten(),
            });
        }
        let policy: Option<String> = inner
            .conn
            .query_row(
                "SELECT record FROM retailers WHERE id = ?1",
                [&record.retailer_id],
                |r| r.get(0),
            )
            .optional()?;
        let facts = ReturnFacts {
            order_id,
            source: record.source,
            external_id: record.external_id,
            policy: policy
                .map(|json| serde_json::from_str::<RetailerRecord>(&json).map(|r| r.policy))
                .transpose()?,
            connotes: record.connotes,
            retries: inner
                .conn
                .prepare_cached(returnhub_store::RETRIES_SQL)?
                .query_row(params![claim.return_id, claim.key], |r| r.get(0))?,
        };
        ActionContext::build(&claim.action, facts, items).map_err(CentralError::Invalid)
    }

    fn return_statuses(&self, hub_id: &str) -> Result<Vec<(String, String)>> {
        let inner = self.lock()?;
        let mut stmt = inner
            .conn
            .prepare_cached("SELECT id, status FROM returns WHERE hub_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([hub_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// A new order made from the uploaded lines of one consignment (one order line per SKU).
fn new_order(
    retailer_id: &str,
    currency: Currency,
    lines: &[(usize, ValidRow)],
    now: UnixMillis,
) -> Result<OrderRecord> {
    let first = &lines[0].1;
    let order_id = uuid::Uuid::now_v7().to_string();
    let mut order_lines: Vec<OrderLineRecord> = Vec::new();
    let mut subtotal = Money::zero(currency);
    for (_, v) in lines {
        if order_lines.iter().any(|l| l.sku == v.sku) {
            continue;
        }
        let value = v
            .unit_price
            .checked_mul(i64::from(v.quantity))
            .and_then(|m| subtotal.checked_add(m))
            .map_err(|e| CentralError::Invalid(e.to_string()))?;
        subtotal = value;
        order_lines.push(OrderLineRecord {
            id: uuid::Uuid::now_v7().to_string(),
            sku: v.sku.clone(),
            ean: v.ean.clone(),
            title: v.description.clone().unwrap_or_else(|| v.sku.clone()),
            image: None,
            quantity: v.quantity,
            unit_price: v.unit_price,
            discount: Money::zero(currency),
            product_tags: vec![],
        });
    }
    Ok(OrderRecord {
        id: order_id,
        retailer_id: retailer_id.to_string(),
        order_number: first.order_number.clone(),
        customer_name: first.customer_name.clone(),
        email: first.email.clone(),
        created_at: rfc3339(now),
        country: first.country.clone(),
        tags: vec![],
        subtotal,
        discount: Money::zero(currency),
        total: subtotal,
        lines: order_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request that panics with the storage lock held degrades that request only.
    #[test]
    fn a_panic_holding_the_lock_does_not_stop_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let panicked = std::thread::scope(|s| {
            s.spawn(|| {
                let _held = storage.inner.lock();
                panic!("a handler's bug");
            })
            .join()
        });
        assert!(panicked.is_err());
        assert!(!storage.inner.is_locked());
        let token = storage.create_device("h1", "bench-1", 0).unwrap();
        assert!(storage.authenticate_device(&token).unwrap().is_some());
    }
}
