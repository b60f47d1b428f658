//! What the sync worker needs from the hub's store, and nothing else:
//! - the `sync` outbox rows still pending, joined to their events, in log order;
//! - marking them confirmed once the central store acknowledged them;
//! - applying events pulled from the central store *as they are* (original id, device, HLC,
//!   payload), idempotently, with the pull cursor moved in the same transaction.
//!
//! A pulled event runs the same projection as a local append, with two differences:
//! - it adds no `sync` outbox row (it came from the central store; it is not ours to push);
//! - a status change is last-writer-wins by HLC: the return's status is the `to` of the status
//!   change with the highest stamp that this store holds. A local append always carries the
//!   highest stamp the device has seen (the clock observes every pulled stamp), so local
//!   appends keep their `from` check and every replica converges to the same status whatever
//!   order the events arrived in. The central store applies the same rule.
//!   A local append by another connection to the same file (the bench's, while the worker
//!   pulls through its own) first observes the highest pulled stamp, kept in `meta`.
//! - a pulled `ActionDue` queues no `action` outbox row: with a central store configured, the
//!   central store claims and dispatches every action (architecture invariant 3). A pulled
//!   failure of such an action gives it a row, already failed (never sent from here), so the
//!   hub's supervisors see it on F5 and can retry it (the retry syncs to the central store).
//!
//! A pulled event this build cannot read (a kind or version from a newer build, or a payload
//! that is not what its kind says) is held in `held_events`, whole, instead of the log, and
//! the pull goes on: one device's newer build never stops another's sync. Held events that
//! need an update are applied by the first pull after one.

use returnhub_core::time::{rfc3339, UnixMillis};
use returnhub_protocol::event::{Decoded, DomainEvent, KnownEvents};
use returnhub_protocol::hlc::{HlcClock, HlcStamp, MAX_AHEAD_MS};
use returnhub_protocol::wire::{RemoteEvent, SyncCursor, TrackingRecord, CENTRAL_DEVICE};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::write::{AppendedEvent, WriteTx};
use crate::{Result, Store, StoreError};

/// A `sync` outbox row still waiting for the central store's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSync {
    pub outbox_id: i64,
    pub event: RemoteEvent,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Events new to this store, inserted and projected.
    pub applied: usize,
    /// Events already in the log (ours echoed back, or a repeated pull): skipped.
    pub skipped: usize,
    /// Events this build cannot read, held (see the module docs).
    pub held: usize,
    /// Held events applied now that this build reads them.
    pub released: usize,
}

/// Why a pulled event is held rather than applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldState {
    /// From a newer build: applied after this station's update.
    NeedsUpdate,
    /// Not what its kind says: never applied.
    Malformed,
    /// Readable, but its effects failed here (it needs an event this station holds): retried
    /// with the events that need an update.
    Unapplied,
    /// One of this station's own events that the central store refused (kept there, not
    /// applied or relayed).
    Refused,
}

impl HeldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldState::NeedsUpdate => "needs_update",
            HeldState::Malformed => "malformed",
            HeldState::Unapplied => "unapplied",
            HeldState::Refused => "refused",
        }
    }

    fn parse(text: &str) -> HeldState {
        match text {
            "malformed" => HeldState::Malformed,
            "unapplied" => HeldState::Unapplied,
            "refused" => HeldState::Refused,
            _ => HeldState::NeedsUpdate,
        }
    }
}

/// How many events are held, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldCounts {
    /// Pulled from a newer build, or needing one that is.
    pub needs_update: u64,
    pub malformed: u64,
    /// This station's own, refused by the central store.
    pub refused: u64,
}

/// A pulled event held back, for the supervisors' list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldEvent {
    pub event: RemoteEvent,
    pub state: HeldState,
    pub reason: String,
    pub held_at: String,
}

/// Why a page could not be applied: because of one of its events (applied again, event by
/// event, so that one is held), or because of the store (the pull stops, to be retried).
enum PageFailure {
    Event(StoreError),
    Store(StoreError),
}

impl PageFailure {
    fn into_store(self) -> StoreError {
        match self {
            PageFailure::Event(e) | PageFailure::Store(e) => e,
        }
    }

    fn map(self, f: impl FnOnce(StoreError) -> StoreError) -> PageFailure {
        match self {
            PageFailure::Event(e) => PageFailure::Event(f(e)),
            PageFailure::Store(e) => PageFailure::Store(f(e)),
        }
    }
}

impl<E: Into<StoreError>> From<E> for PageFailure {
    fn from(e: E) -> PageFailure {
        PageFailure::Store(e.into())
    }
}

/// What became of one pulled event.
enum Applied {
    New,
    AlreadyHere,
    Held,
}

const CURSOR_KEY: &str = "sync_cursor";
/// The highest HLC stamp pulled into this file, by whichever connection pulled it.
const SEEN_KEY: &str = "hlc_seen";

/// Moves `clock` past every stamp pulled into this file. [`Store::write`] calls it inside its
/// IMMEDIATE transaction, so a local append sorts after everything pulled before it even when
/// the sync worker pulled it through its own connection (a point lookup in `meta`).
pub(crate) fn observe_pulled(
    tx: &rusqlite::Transaction<'_>,
    clock: &mut HlcClock,
    now: UnixMillis,
) -> Result<()> {
    let seen: Option<String> = tx
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([SEEN_KEY], |r| r.get(0))
        .optional()?;
    if let Some(stamp) = seen.and_then(|s| s.parse::<HlcStamp>().ok()) {
        // Bounded when it was pulled (see `apply_remote_batch`); trusted now.
        clock.catch_up(&stamp, now.max(0) as u64);
    }
    Ok(())
}

impl Store {
    /// Up to `limit` pending `sync` rows, oldest first, with their events.
    pub fn pending_sync(&self, limit: u32) -> Result<Vec<PendingSync>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT o.id, e.id, e.device_id, e.hlc, e.actor, e.station, e.kind, e.aggregate_id,
                    e.payload, e.recorded_at, e.version
             FROM outbox o JOIN events e ON e.id = o.event_id
             WHERE o.topic = 'sync' AND o.state = 'pending'
             ORDER BY o.id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(PendingSync {
                outbox_id: r.get(0)?,
                event: RemoteEvent::from_row(r, 1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many events wait to be pushed (the queue depth the UI shows).
    pub fn sync_queue_depth(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM outbox WHERE topic = 'sync' AND state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// How many of this station's events about `return_id` wait to be pushed (a return is
    /// handed to another hub only once the central store has its whole story from here).
    pub fn unsynced_about(&self, return_id: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM outbox o JOIN events e ON e.id = o.event_id
             WHERE o.topic = 'sync' AND o.state = 'pending' AND e.aggregate_id = ?1",
            [return_id],
            |r| r.get(0),
        )?)
    }

    /// Marks the `sync` rows of `event_ids` confirmed: call only with ids the central store
    /// acknowledged (it answers after its commit). Unknown or already confirmed ids are
    /// ignored. Returns how many rows changed.
    pub fn confirm_synced(&mut self, event_ids: &[String], now: UnixMillis) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changed = 0;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET state = 'confirmed', attempts = attempts + 1, updated_at = ?2,
                   last_error = NULL
                 WHERE topic = 'sync' AND dedupe_key = ?1 AND state = 'pending'",
            )?;
            let at = rfc3339(now);
            for id in event_ids {
                changed += stmt.execute(params![id, at])?;
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// The pull cursor (zero before the first pull).
    pub fn sync_cursor(&self) -> Result<SyncCursor> {
        match self.meta(CURSOR_KEY)? {
            Some(text) => Ok(serde_json::from_str(&text)?),
            None => Ok(SyncCursor::default()),
        }
    }

    /// Applies pulled events in order and moves the cursor to `cursor`, in one IMMEDIATE
    /// transaction: after a crash either both happened or neither did, and a repeated pull
    /// skips what is already here.
    pub fn apply_remote_batch(
        &mut self,
        now: UnixMillis,
        events: &[RemoteEvent],
        cursor: SyncCursor,
    ) -> Result<ApplyOutcome> {
        self.apply_remote_page(now, events, &[], cursor)
    }

    /// [`Store::apply_remote_batch`] with the page's tracking events, kept (once each, by id)
    /// in `tracking_in` in the same transaction, for the hub to forward.
    pub fn apply_remote_page(
        &mut self,
        now: UnixMillis,
        events: &[RemoteEvent],
        tracking: &[TrackingRecord],
        cursor: SyncCursor,
    ) -> Result<ApplyOutcome> {
        // A savepoint per event costs a copy of every page it touches: the page is applied
        // without them, and only when one of its events cannot be (it needs a held one) is
        // it applied again, each event in its own savepoint, so that one is held alone.
        match self.apply_page(now, events, tracking, cursor, false) {
            Err(PageFailure::Event(e)) => {
                tracing::info!(error = %e, "a pulled event cannot be applied here: the page again, event by event");
                self.apply_page(now, events, tracking, cursor, true)
                    .map_err(PageFailure::into_store)
            }
            other => other.map_err(PageFailure::into_store),
        }
    }

    fn apply_page(
        &mut self,
        now: UnixMillis,
        events: &[RemoteEvent],
        tracking: &[TrackingRecord],
        cursor: SyncCursor,
        careful: bool,
    ) -> std::result::Result<ApplyOutcome, PageFailure> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut w = WriteTx {
            tx,
            clock: &mut self.clock,
            device_id: &self.device_id,
            now,
            actor: String::new(),
            station: None,
            appended: Vec::new(),
        };
        // Events that wait for a held one are retried on every page (what they need may have
        // just been applied); events that need an update, once per opening of the file.
        let mut outcome = ApplyOutcome {
            released: w.release_held(&self.known, !self.held_retried, careful)?,
            ..ApplyOutcome::default()
        };
        for event in events {
            // Name the event: a pull that cannot be applied stops the worker's rounds, and
            // the sentence is what the UI shows as the last error.
            let applied = w
                .apply_remote(event, &self.known, careful)
                .map_err(|failure| {
                    failure.map(|e| {
                        StoreError::Invalid(format!(
                            "pulled event {} ({}) from device {} could not be applied: {e}",
                            event.id, event.kind, event.device_id
                        ))
                    })
                })?;
            match applied {
                Applied::New => outcome.applied += 1,
                Applied::AlreadyHere => outcome.skipped += 1,
                Applied::Held => outcome.held += 1,
            }
        }
        for t in tracking {
            w.tx.prepare_cached(
                "INSERT INTO tracking_in (id, return_id, connote, code, status, event_at, source,
                   received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                t.id,
                t.return_id,
                t.connote,
                t.code,
                t.status,
                t.event_at,
                t.source,
                rfc3339(now)
            ])?;
        }
        let set_meta = "INSERT INTO meta (key, value) VALUES (?1, ?2)
                        ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        w.tx.execute(
            set_meta,
            params![CURSOR_KEY, serde_json::to_string(&cursor)?],
        )?;
        // A stamp too far ahead (a peer with a wrong clock) is kept with its event but never
        // becomes what this file has seen: it would pin every later local stamp to it.
        let pulled_max = w
            .appended
            .iter()
            .map(|a| &a.hlc)
            .filter(|h| h.wall_ms.saturating_sub(now.max(0) as u64) <= MAX_AHEAD_MS)
            .max();
        if let Some(high) = pulled_max {
            let seen: Option<HlcStamp> =
                w.tx.query_row("SELECT value FROM meta WHERE key = ?1", [SEEN_KEY], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
                .and_then(|s| s.parse().ok());
            if seen.as_ref() < Some(high) {
                w.tx.execute(set_meta, params![SEEN_KEY, high.encode()])?;
            }
        }
        w.tx.commit()?;
        self.held_retried = true;
        Ok(outcome)
    }

    /// Pulled events held back, newest first (at most `limit`), and how many there are of each
    /// state.
    pub fn held_events(&self, limit: u32) -> Result<Vec<HeldEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, device_id, hlc, actor, station, kind, aggregate_id, payload, recorded_at,
                    version, state, reason, held_at
             FROM held_events ORDER BY held_at DESC, id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            let state: String = r.get(10)?;
            Ok(HeldEvent {
                event: RemoteEvent::from_row(r, 0)?,
                state: HeldState::parse(&state),
                reason: r.get(11)?,
                held_at: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many pulled events wait for an update (or for one that does), how many are
    /// malformed, and how many of this station's own the central store refused.
    pub fn held_counts(&self) -> Result<HeldCounts> {
        Ok(self.conn.query_row(
            "SELECT count(*) FILTER (WHERE state IN ('needs_update', 'unapplied')),
                    count(*) FILTER (WHERE state = 'malformed'),
                    count(*) FILTER (WHERE state = 'refused')
             FROM held_events",
            [],
            |r| {
                Ok(HeldCounts {
                    needs_update: r.get(0)?,
                    malformed: r.get(1)?,
                    refused: r.get(2)?,
                })
            },
        )?)
    }

    /// This station's own events the central store refused, oldest first (at most `limit`):
    /// to be sent again after a fix there.
    pub fn refused_events(&self, limit: u32) -> Result<Vec<RemoteEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, device_id, hlc, actor, station, kind, aggregate_id, payload, recorded_at,
                    version
             FROM held_events WHERE state = 'refused' ORDER BY hlc LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| RemoteEvent::from_row(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// After refused events were sent again: those the central store took leave the held
    /// list; those it still refuses keep their place with the reason it gives now.
    pub fn settle_refused(&mut self, taken: &[String], still: &[(String, String)]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut forget =
                tx.prepare_cached("DELETE FROM held_events WHERE id = ?1 AND state = 'refused'")?;
            for id in taken {
                forget.execute([id])?;
            }
            let mut reword = tx.prepare_cached(
                "UPDATE held_events SET reason = ?2 WHERE id = ?1 AND state = 'refused'",
            )?;
            for (id, reason) in still {
                reword.execute(params![id, reason])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Keeps, for the supervisors, a copy of each of this station's events that the central
    /// store refused, with its reason (once each). Returns how many were new.
    pub fn record_refused(
        &mut self,
        refused: &[(String, String)],
        now: UnixMillis,
    ) -> Result<usize> {
        if refused.is_empty() {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut new = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO held_events (id, device_id, hlc, actor, station, kind,
                   aggregate_id, payload, recorded_at, version, state, reason, held_at)
                 SELECT id, device_id, hlc, actor, station, kind, aggregate_id, payload,
                        recorded_at, version, 'refused', ?2, ?3
                 FROM events WHERE id = ?1",
            )?;
            let at = rfc3339(now);
            for (id, reason) in refused {
                new += stmt.execute(params![id, reason, at])?;
            }
        }
        tx.commit()?;
        Ok(new)
    }
}

impl WriteTx<'_> {
    /// Inserts a pulled event as it is and projects it; `false` (and nothing changed) when an
    /// event with its id is already in the log.
    fn apply_remote(
        &mut self,
        ev: &RemoteEvent,
        known: &KnownEvents,
        careful: bool,
    ) -> std::result::Result<Applied, PageFailure> {
        let present: Option<i64> = self
            .tx
            .prepare_cached(
                "SELECT 1 FROM events WHERE id = ?1 UNION ALL SELECT 1 FROM held_events WHERE id = ?1",
            )?
            .query_row([&ev.id], |r| r.get(0))
            .optional()?;
        if present.is_some() {
            return Ok(Applied::AlreadyHere);
        }
        let stamp: HlcStamp = ev
            .hlc
            .parse()
            .map_err(|e: returnhub_protocol::hlc::BadStamp| StoreError::Invalid(e.to_string()))?;
        let event = match known.decode(&ev.kind, ev.version, &ev.payload) {
            Decoded::Event(event) => event,
            Decoded::NeedsUpdate(reason) => {
                self.hold(ev, HeldState::NeedsUpdate, &reason)?;
                return Ok(Applied::Held);
            }
            Decoded::Malformed(reason) => {
                self.hold(ev, HeldState::Malformed, &reason)?;
                return Ok(Applied::Held);
            }
        };
        if !careful {
            return match self.insert_remote(ev, &stamp, &event) {
                Ok(()) => Ok(Applied::New),
                Err(e) if about_the_event(&e) => Err(PageFailure::Event(e)),
                Err(e) => Err(PageFailure::Store(e)),
            };
        }
        // Its effects in a savepoint: an event that needs one this station holds (an order of
        // a retailer configured by a newer build) is held too, instead of stopping the pull.
        self.tx
            .prepare_cached("SAVEPOINT pulled_event")?
            .execute([])?;
        match self.insert_remote(ev, &stamp, &event) {
            Ok(()) => {
                self.tx
                    .prepare_cached("RELEASE pulled_event")?
                    .execute([])?;
                Ok(Applied::New)
            }
            Err(e) if about_the_event(&e) => {
                self.tx
                    .prepare_cached("ROLLBACK TO pulled_event")?
                    .execute([])?;
                self.tx
                    .prepare_cached("RELEASE pulled_event")?
                    .execute([])?;
                self.hold(
                    ev,
                    HeldState::Unapplied,
                    &format!("not applied here yet: {e}"),
                )?;
                Ok(Applied::Held)
            }
            Err(e) => Err(PageFailure::Store(e)),
        }
    }

    /// Keeps a pulled event this build cannot apply, whole, and says so in the log.
    fn hold(&self, ev: &RemoteEvent, state: HeldState, reason: &str) -> Result<()> {
        tracing::warn!(event = %ev.id, kind = %ev.kind, version = ev.version, device = %ev.device_id, state = state.as_str(), reason, "pulled event held");
        self.tx
            .prepare_cached(
                "INSERT INTO held_events (id, device_id, hlc, actor, station, kind, aggregate_id,
                   payload, recorded_at, version, state, reason, held_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
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
                ev.version,
                state.as_str(),
                reason,
                rfc3339(self.now),
            ])?;
        Ok(())
    }

    /// Applies the held events that this build reads, oldest first: those that waited for a
    /// held one, and (`needing_update_too`) those from a newer build this one now reads; the
    /// others stay held.
    fn release_held(
        &mut self,
        known: &KnownEvents,
        needing_update_too: bool,
        careful: bool,
    ) -> std::result::Result<usize, PageFailure> {
        let held: Vec<RemoteEvent> = self
            .tx
            .prepare_cached(
                "SELECT id, device_id, hlc, actor, station, kind, aggregate_id, payload,
                        recorded_at, version
                 FROM held_events
                 WHERE state = 'unapplied' OR (?1 AND state = 'needs_update')
                 ORDER BY hlc, id",
            )?
            .query_map([needing_update_too], |r| RemoteEvent::from_row(r, 0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut released = 0;
        for ev in held
            .iter()
            .filter(|ev| known.understands(&ev.kind, ev.version))
        {
            self.tx
                .prepare_cached("DELETE FROM held_events WHERE id = ?1")?
                .execute([&ev.id])?;
            match self.apply_remote(ev, known, careful)? {
                Applied::New => {
                    tracing::info!(event = %ev.id, kind = %ev.kind, "held event applied after an update");
                    released += 1;
                }
                Applied::AlreadyHere | Applied::Held => {}
            }
        }
        Ok(released)
    }

    /// Inserts a pulled event this build reads, as it is, and projects it. On an error the
    /// caller rolls back to its savepoint (the clock may have moved on: harmless).
    fn insert_remote(
        &mut self,
        ev: &RemoteEvent,
        stamp: &HlcStamp,
        event: &DomainEvent,
    ) -> Result<()> {
        // Local events from now on sort after everything this device has seen — but a stamp
        // from a clock that runs far ahead moves nothing (the event is still applied).
        if let Err(e) = self.clock.observe(stamp, self.now.max(0) as u64) {
            tracing::warn!(event = %ev.id, device = %ev.device_id, error = %e, "pulled event from a clock that runs ahead");
        }
        self.tx
            .prepare_cached(
                "INSERT INTO events (id, device_id, hlc, actor, station, kind, aggregate_id, payload,
                   recorded_at, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
                ev.version,
            ])?;
        let seq = self.tx.last_insert_rowid();
        // Read models that record who did it (inspections, exceptions) record the author.
        self.actor.clone_from(&ev.actor);
        self.station.clone_from(&ev.station);
        match event {
            DomainEvent::ReturnStatusChanged { return_id, to, .. } => {
                self.settle_status(return_id)?;
                crate::reports::note_status(
                    &self.tx,
                    return_id,
                    *to,
                    &ev.recorded_at,
                    &ev.actor,
                    ev.station.as_deref(),
                )?;
            }
            // The device or central store that made it due sends it; here it is counted.
            DomainEvent::ActionDue(action) => crate::reports::note_action_due(&self.tx, action)?,
            DomainEvent::ActionConfirmed {
                key,
                return_id,
                reference,
                paid,
                ..
            } => {
                crate::outbox::project_confirmed(
                    &self.tx,
                    key,
                    reference,
                    paid.as_ref(),
                    &ev.recorded_at,
                    false,
                )?;
                crate::reports::note_confirmed(&self.tx, key.as_str(), return_id, &ev.recorded_at)?;
            }
            DomainEvent::ActionFailed { key, reason, .. } => {
                self.adopt_failed_action(key, &ev.recorded_at)?;
                crate::outbox::project_failed(&self.tx, key, reason, &ev.recorded_at, false)?;
            }
            DomainEvent::ActionRetried { key, .. } => {
                crate::outbox::project_retried(&self.tx, key, &ev.recorded_at, false)?;
            }
            // The central store sends an order or a return again when a return is handed to a
            // hub that may have it already (it went there and back): the first import stands,
            // as at the central store, and the return gains the connotes attached meanwhile.
            // From any other device a second import of an id is refused as before (held).
            DomainEvent::OrderImported(o)
                if ev.device_id == CENTRAL_DEVICE && self.has_row("orders", &o.id)? => {}
            DomainEvent::ReturnExpected(r)
                if ev.device_id == CENTRAL_DEVICE && self.has_row("returns", &r.id)? =>
            {
                self.add_connotes(r)?;
                self.settle_status(&r.id)?;
            }
            DomainEvent::ReturnExpected(r) => {
                self.project(event, &ev.id, &ev.recorded_at)?;
                // A status change that arrived before its return takes effect now.
                self.settle_status(&r.id)?;
            }
            other => self.project(other, &ev.id, &ev.recorded_at)?,
        }
        self.appended.push(AppendedEvent {
            id: ev.id.clone(),
            seq,
            hlc: stamp.clone(),
        });
        Ok(())
    }

    /// A failure of an action this device holds no row for (made due by the central store —
    /// a first scan reported by a carrier — or by another device of this hub) gets its row
    /// here, already failed, so the supervisors of the return's hub see it and can retry it.
    /// A failed row is never sent by a dispatcher; the row is made from the `ActionDue` in the
    /// log (nothing is shown if the log does not have it).
    fn adopt_failed_action(
        &self,
        key: &returnhub_core::trigger::IdempotencyKey,
        at: &str,
    ) -> Result<()> {
        let held: Option<i64> = self
            .tx
            .prepare_cached("SELECT id FROM outbox WHERE topic = 'action' AND dedupe_key = ?1")?
            .query_row([key.as_str()], |r| r.get(0))
            .optional()?;
        if held.is_some() {
            return Ok(());
        }
        let due: Option<(String, String)> = self
            .tx
            .prepare_cached(
                "SELECT id, payload FROM events
                 WHERE kind = 'action_due' AND json_extract(payload, '$.key') = ?1
                 ORDER BY seq LIMIT 1",
            )?
            .query_row([key.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((event_id, payload)) = due else {
            return Ok(());
        };
        let DomainEvent::ActionDue(action) = serde_json::from_str(&payload)? else {
            return Ok(());
        };
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (topic, dedupe_key, event_id, payload, state, created_at,
                   updated_at)
                 VALUES ('action', ?1, ?2, ?3, 'failed', ?4, ?4)",
            )?
            .execute(params![
                key.as_str(),
                event_id,
                serde_json::to_string(&action)?,
                at
            ])?;
        Ok(())
    }

    /// The connotes of `r` the store does not have for it yet, after its own (a parcel
    /// attached at another hub while the return was there).
    fn add_connotes(&self, r: &returnhub_core::record::ReturnRecord) -> Result<()> {
        for connote in &r.connotes {
            self.tx
                .prepare_cached(
                    // One another return holds here breaks the connotes' key: held, and shown.
                    "INSERT INTO connotes (connote, return_id, position)
                     SELECT ?1, ?2, coalesce(max(position), -1) + 1 FROM connotes
                     WHERE return_id = ?2
                     HAVING NOT EXISTS (SELECT 1 FROM connotes WHERE connote = ?1 AND return_id = ?2)",
                )?
                .execute(params![connote, r.id])?;
        }
        Ok(())
    }

    /// Whether `table` (orders or returns) has a row with this id.
    fn has_row(&self, table: &'static str, id: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached(&format!("SELECT 1 FROM {table} WHERE id = ?1"))?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Sets the return's status to the `to` of its status change with the highest HLC in
    /// the log, if it has any (last writer wins; see the module docs).
    fn settle_status(&self, return_id: &str) -> Result<()> {
        let latest: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT payload FROM events
                 WHERE aggregate_id = ?1 AND kind = 'return_status_changed'
                 ORDER BY hlc DESC LIMIT 1",
            )?
            .query_row([return_id], |r| r.get(0))
            .optional()?;
        let Some(payload) = latest else {
            return Ok(());
        };
        if let DomainEvent::ReturnStatusChanged { to, .. } = serde_json::from_str(&payload)? {
            self.tx
                .prepare_cached(
                    "UPDATE returns SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status != ?2",
                )?
                .execute(params![return_id, to.as_str(), rfc3339(self.now)])?;
        }
        Ok(())
    }
}

/// Whether applying an event failed because of the event (a constraint it breaks here, a
/// payload the projection refuses), not because of the store (disk full, I/O): those stop the
/// pull, to be retried whole.
fn about_the_event(e: &StoreError) -> bool {
    match e {
        StoreError::Sql(rusqlite::Error::SqliteFailure(f, _)) => {
            f.code == rusqlite::ErrorCode::ConstraintViolation
        }
        StoreError::Json(_) | StoreError::Invalid(_) => true,
        _ => false,
    }
}
