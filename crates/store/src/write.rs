//! The one write path. [`Store::write`] opens an IMMEDIATE transaction; inside it the caller
//! can only append events, and each append applies that event's effects (read-model rows and
//! the outbox row that syncs it) before the transaction commits. A write with no event is
//! refused, so no state change can bypass the log.

use returnhub_core::bench::InspectionRecord;
use returnhub_core::record::{OrderRecord, RetailerRecord, ReturnRecord};
use returnhub_core::time::{rfc3339, UnixMillis};
use returnhub_protocol::event::DomainEvent;
use returnhub_protocol::hlc::{HlcClock, HlcStamp};
use rusqlite::{params, Transaction, TransactionBehavior};

use crate::{Result, Store, StoreError};

/// An event to append, with who caused it.
#[derive(Debug, Clone)]
pub struct EventInput {
    pub event: DomainEvent,
    /// A user id, or a system actor such as "system:demo" or "sync".
    pub actor: String,
    pub station: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedEvent {
    pub id: String,
    pub seq: i64,
    pub hlc: HlcStamp,
}

pub struct WriteTx<'a> {
    pub(crate) tx: Transaction<'a>,
    pub(crate) clock: &'a mut HlcClock,
    pub(crate) device_id: &'a str,
    pub(crate) now: UnixMillis,
    /// Who and where the event being projected came from (bench read models record them).
    pub(crate) actor: String,
    pub(crate) station: Option<String>,
    pub(crate) appended: Vec<AppendedEvent>,
}

impl Store {
    /// Runs `f` in one IMMEDIATE transaction and commits only if it returns Ok and appended at
    /// least one event. Durable (WAL, synchronous=FULL) when this returns Ok.
    pub fn write<T>(
        &mut self,
        now: UnixMillis,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>,
    ) -> Result<(T, Vec<AppendedEvent>)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        crate::sync::observe_pulled(&tx, &mut self.clock, now)?;
        let mut w = WriteTx {
            tx,
            clock: &mut self.clock,
            device_id: &self.device_id,
            now,
            actor: String::new(),
            station: None,
            appended: Vec::new(),
        };
        let value = f(&mut w)?;
        if w.appended.is_empty() {
            return Err(StoreError::NoEvent);
        }
        let WriteTx { tx, appended, .. } = w;
        tx.commit()?;
        Ok((value, appended))
    }
}

const INSERT_LINE: &str = "INSERT INTO order_lines (id, order_id, sku, ean, title, image, quantity,
       unit_price_minor, discount_minor, product_tags_json)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// A line of an updated order: updated in place, or added; only ever on its own order.
const UPSERT_LINE: &str = "INSERT INTO order_lines (id, order_id, sku, ean, title, image, quantity,
       unit_price_minor, discount_minor, product_tags_json)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
     ON CONFLICT (id) DO UPDATE SET sku = excluded.sku, ean = excluded.ean,
       title = excluded.title, image = excluded.image, quantity = excluded.quantity,
       unit_price_minor = excluded.unit_price_minor, discount_minor = excluded.discount_minor,
       product_tags_json = excluded.product_tags_json
     WHERE order_lines.order_id = excluded.order_id";

impl WriteTx<'_> {
    /// Appends `input` to the event log and applies its effects.
    pub fn append(&mut self, input: EventInput) -> Result<AppendedEvent> {
        let id = uuid::Uuid::now_v7().to_string();
        let hlc = self.clock.tick(self.now.max(0) as u64);
        let payload = serde_json::to_string(&input.event)?;
        let recorded_at = rfc3339(self.now);
        self.tx
            .prepare_cached(
                "INSERT INTO events (id, device_id, hlc, actor, station, kind, aggregate_id, payload,
                   recorded_at, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                id,
                self.device_id,
                hlc.encode(),
                input.actor,
                input.station,
                input.event.kind(),
                input.event.aggregate_id(),
                payload,
                recorded_at,
                input.event.version(),
            ])?;
        let seq = self.tx.last_insert_rowid();
        failpoint("after_event_row");
        self.actor.clone_from(&input.actor);
        self.station.clone_from(&input.station);
        self.project(&input.event, &id, &recorded_at)?;
        failpoint("after_projection");
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (topic, dedupe_key, event_id, payload, created_at, updated_at)
                 VALUES ('sync', ?1, ?1, '{}', ?2, ?2)",
            )?
            .execute(params![id, recorded_at])?;
        let appended = AppendedEvent { id, seq, hlc };
        self.appended.push(appended.clone());
        Ok(appended)
    }

    /// The effects of one event on the read models.
    pub(crate) fn project(
        &self,
        event: &DomainEvent,
        event_id: &str,
        recorded_at: &str,
    ) -> Result<()> {
        match event {
            DomainEvent::HubRegistered { id, name } => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO hubs (id, name) VALUES (?1, ?2)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                    )?
                    .execute(params![id, name])?;
                Ok(())
            }
            DomainEvent::UserEnrolled(u) => {
                // A new PIN for the person ends their badge's wrong-PIN count.
                self.tx
                    .prepare_cached(
                        "DELETE FROM sign_in_failures WHERE badge = ?1
                           AND EXISTS (SELECT 1 FROM users WHERE id = ?2 AND pin_hash != ?3)",
                    )?
                    .execute(params![u.badge, u.id, u.pin_hash])?;
                self.tx
                    .prepare_cached(
                        "INSERT INTO users (id, name, badge, pin_hash, role, active, must_change_pin)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                           badge = excluded.badge, pin_hash = excluded.pin_hash,
                           role = excluded.role, active = excluded.active,
                           must_change_pin = excluded.must_change_pin",
                    )?
                    .execute(params![
                        u.id,
                        u.name,
                        u.badge,
                        u.pin_hash,
                        u.role.as_str(),
                        u.active,
                        u.must_change_pin
                    ])?;
                Ok(())
            }
            // A refused sign-in counts towards its badge's lockout (on every station of the
            // hub, as the event syncs); a sign-in or a lifted lockout ends the count.
            DomainEvent::SignInRefused { badge, .. } => {
                let at = returnhub_core::time::parse_rfc3339(recorded_at).unwrap_or(self.now);
                self.tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO sign_in_failures (event_id, badge, at_ms)
                         VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![event_id, badge, at])?;
                // Old refusals decide nothing any more: the table stays small.
                self.tx
                    .prepare_cached("DELETE FROM sign_in_failures WHERE badge = ?1 AND at_ms < ?2")?
                    .execute(params![badge, at - returnhub_core::time::MS_PER_DAY])?;
                Ok(())
            }
            DomainEvent::SignedIn { user_id, .. } | DomainEvent::UserUnlocked { user_id, .. } => {
                self.tx
                    .prepare_cached(
                        "DELETE FROM sign_in_failures
                         WHERE badge = (SELECT badge FROM users WHERE id = ?1)",
                    )?
                    .execute([user_id])?;
                Ok(())
            }
            // The log is the audit trail of sessions; no read model needed.
            DomainEvent::SignedOut { .. } => Ok(()),
            DomainEvent::RetailerConfigured(retailer) => self.project_retailer(retailer),
            DomainEvent::OrderImported(order) => self.project_order(order),
            DomainEvent::OrdersImported { orders, .. } => {
                for order in orders {
                    self.project_order(order)?;
                }
                Ok(())
            }
            DomainEvent::OrderUpdated(order) => self.project_order_update(order),
            DomainEvent::ReturnExpected(ret) => self.project_return(ret),
            // A scan or a note changes no read model by itself; the log is its record.
            DomainEvent::ConnoteScanned { .. } | DomainEvent::ReturnNoted { .. } => Ok(()),
            DomainEvent::ReturnStatusChanged {
                return_id,
                from,
                to,
            } => {
                let changed = self
                    .tx
                    .prepare_cached(
                        "UPDATE returns SET status = ?3, updated_at = ?4 WHERE id = ?1 AND status = ?2",
                    )?
                    .execute(params![
                        return_id,
                        from.as_str(),
                        to.as_str(),
                        rfc3339(self.now)
                    ])?;
                if changed != 1 {
                    return Err(StoreError::Invalid(format!(
                        "return {return_id} is not {} any more; status change to {} refused",
                        from.as_str(),
                        to.as_str()
                    )));
                }
                crate::reports::note_status(
                    &self.tx,
                    return_id,
                    *to,
                    recorded_at,
                    &self.actor,
                    self.station.as_deref(),
                )
            }
            // An inspection of a return already processed (synced late) moves its counters.
            DomainEvent::ItemInspected(InspectionRecord { return_id, .. })
            | DomainEvent::StepUndone { return_id, .. } => {
                crate::reports::recounted(&self.tx, return_id, || {
                    self.project_bench(event, event_id)
                })
            }
            DomainEvent::ExtraItemRecorded(_)
            | DomainEvent::ItemsDecided { .. }
            | DomainEvent::ExceptionRaised(_)
            | DomainEvent::ExceptionResolved { .. }
            | DomainEvent::LabelQueued(_)
            | DomainEvent::ConnoteAttached { .. }
            | DomainEvent::StationConfigured(_) => self.project_bench(event, event_id),
            DomainEvent::ActionDue(action) => {
                crate::reports::note_action_due(&self.tx, action)?;
                // OR IGNORE: the key was fixed when the action first became due; a repeat of
                // the trigger finds it and queues nothing (the event still records the repeat).
                self.tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO outbox (topic, dedupe_key, event_id, payload, created_at, updated_at)
                         VALUES ('action', ?1, ?2, ?3, ?4, ?4)",
                    )?
                    .execute(params![
                        action.key.as_str(),
                        event_id,
                        serde_json::to_string(action)?,
                        recorded_at
                    ])?;
                Ok(())
            }
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
                    recorded_at,
                    true,
                )?;
                crate::reports::note_confirmed(&self.tx, key.as_str(), return_id, recorded_at)
            }
            DomainEvent::ActionFailed { key, reason, .. } => {
                crate::outbox::project_failed(&self.tx, key, reason, recorded_at, true)
            }
            DomainEvent::ActionRetried { key, .. } => {
                crate::outbox::project_retried(&self.tx, key, recorded_at, true)
            }
            DomainEvent::ShopConnected {
                retailer_id,
                shop_domain,
                shop_name,
            } => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO shop_connections (retailer_id, shop_domain, shop_name, connected_at)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (retailer_id) DO UPDATE SET shop_domain = excluded.shop_domain,
                           shop_name = excluded.shop_name, connected_at = excluded.connected_at",
                    )?
                    .execute(params![retailer_id, shop_domain, shop_name, recorded_at])?;
                Ok(())
            }
            DomainEvent::ShopDisconnected { retailer_id } => {
                self.tx
                    .prepare_cached("DELETE FROM shop_connections WHERE retailer_id = ?1")?
                    .execute([retailer_id])?;
                Ok(())
            }
            DomainEvent::ImportCheckpoint {
                retailer_id,
                stream,
                cursor,
                updated_since,
            } => crate::outbox::project_checkpoint(
                &self.tx,
                retailer_id,
                stream,
                cursor.as_deref(),
                updated_since.as_deref(),
                recorded_at,
            ),
            // Only the central store records it; it reaches both hubs. Here the return becomes
            // the receiving hub's: read-only at the sending one, the bench's at the other.
            DomainEvent::ReturnHandedOver(h) => {
                crate::reports::note_hand_over(&self.tx, &h.return_id, &h.to_hub)?;
                let changed = self
                    .tx
                    .prepare_cached(
                        "UPDATE returns SET hub_id = ?2, updated_at = ?3 WHERE id = ?1",
                    )?
                    .execute(params![h.return_id, h.to_hub, rfc3339(self.now)])?;
                if changed != 1 {
                    return Err(StoreError::Invalid(format!(
                        "return {} is not in the store: it cannot be handed over",
                        h.return_id
                    )));
                }
                Ok(())
            }
            DomainEvent::UploadRowsRefused(u) => {
                let mut insert = self.tx.prepare_cached(
                    "INSERT OR IGNORE INTO upload_refusals (event_id, row_index, received_at,
                       retailer_id, source, consignment_no, order_number, sku, hub_id,
                       errors_json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?;
                for r in &u.rows {
                    insert.execute(params![
                        event_id,
                        r.row,
                        u.received_at,
                        u.retailer_id,
                        u.source,
                        r.consignment_no,
                        r.order_number,
                        r.sku,
                        r.hub_id,
                        serde_json::to_string(&r.errors)?,
                    ])?;
                }
                Ok(())
            }
        }
    }

    fn project_order(&self, o: &OrderRecord) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO orders (id, retailer_id, order_number, customer_name, email, created_at,
                   country, currency, tags_json, subtotal_minor, discount_minor, total_minor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                o.id,
                o.retailer_id,
                o.order_number,
                o.customer_name,
                o.email,
                o.created_at,
                o.country,
                o.total.currency.code(),
                serde_json::to_string(&o.tags)?,
                o.subtotal.minor,
                o.discount.minor,
                o.total.minor,
            ])?;
        self.project_lines(o, INSERT_LINE)
    }

    /// The order's header as it is now; each line updated in place or added. A line the shop
    /// no longer lists stays: a return may point at it.
    fn project_order_update(&self, o: &OrderRecord) -> Result<()> {
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE orders SET order_number = ?2, customer_name = ?3, email = ?4, country = ?5,
                   tags_json = ?6, subtotal_minor = ?7, discount_minor = ?8, total_minor = ?9
                 WHERE id = ?1 AND retailer_id = ?10 AND currency = ?11",
            )?
            .execute(params![
                o.id,
                o.order_number,
                o.customer_name,
                o.email,
                o.country,
                serde_json::to_string(&o.tags)?,
                o.subtotal.minor,
                o.discount.minor,
                o.total.minor,
                o.retailer_id,
                o.total.currency.code(),
            ])?;
        if changed != 1 {
            return Err(StoreError::Invalid(format!(
                "order {} of retailer {} in {} is not in the store: it cannot be updated",
                o.order_number, o.retailer_id, o.total.currency
            )));
        }
        self.project_lines(o, UPSERT_LINE)
    }

    /// The order's lines, through `sql` (a plain insert for a new order, an upsert for an
    /// update); every line must be in the order's currency.
    fn project_lines(&self, o: &OrderRecord, sql: &str) -> Result<()> {
        let mut line_stmt = self.tx.prepare_cached(sql)?;
        for l in &o.lines {
            if l.unit_price.currency != o.total.currency {
                return Err(StoreError::Invalid(format!(
                    "order {}: line {} is in {}, the order in {}",
                    o.order_number, l.sku, l.unit_price.currency, o.total.currency
                )));
            }
            line_stmt.execute(params![
                l.id,
                o.id,
                l.sku,
                l.ean,
                l.title,
                l.image,
                l.quantity,
                l.unit_price.minor,
                l.discount.minor,
                serde_json::to_string(&l.product_tags)?,
            ])?;
        }
        Ok(())
    }

    fn project_return(&self, r: &ReturnRecord) -> Result<()> {
        let recounting = crate::reports::before_return(&self.tx, &r.id)?;
        let at = &r.created_at;
        self.tx
            .prepare_cached(
                "INSERT INTO returns (id, retailer_id, hub_id, order_id, source, status, created_at, updated_at, external_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
            )?
            .execute(params![
                r.id,
                r.retailer_id,
                r.hub_id,
                r.order_id,
                r.source,
                r.status.as_str(),
                at,
                r.external_id,
            ])?;
        let mut item_stmt = self.tx.prepare_cached(
            "INSERT INTO return_items (id, return_id, order_line_id, quantity, reason_code,
               sub_reason_code, comment, chosen_option, external_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for i in &r.items {
            item_stmt.execute(params![
                i.id,
                r.id,
                i.order_line_id,
                i.quantity,
                i.reason_code,
                i.sub_reason_code,
                i.comment,
                i.chosen_option.map(|o| o.as_str()),
                i.external_id,
            ])?;
        }
        let mut connote_stmt = self.tx.prepare_cached(
            "INSERT INTO connotes (connote, return_id, position) VALUES (?1, ?2, ?3)",
        )?;
        for (position, c) in r.connotes.iter().enumerate() {
            connote_stmt
                .execute(params![c, r.id, position as i64])
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        StoreError::Invalid(format!(
                            "connote {c} already belongs to another return"
                        ))
                    }
                    other => other.into(),
                })?;
        }
        crate::reports::note_return(
            &self.tx,
            r,
            recounting,
            &self.actor,
            self.station.as_deref(),
        )
    }

    fn project_retailer(&self, r: &RetailerRecord) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO retailers (id, name, currency, policy_json, rules_json, country)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET
                   name = excluded.name, currency = excluded.currency,
                   policy_json = excluded.policy_json, rules_json = excluded.rules_json,
                   country = excluded.country",
            )?
            .execute(params![
                r.id,
                r.name,
                r.currency.code(),
                serde_json::to_string(&r.policy)?,
                serde_json::to_string(&r.rules)?,
                r.country,
            ])?;
        // The configuration is whole: reasons not in it are gone. Sub-reasons first (they
        // reference their reason).
        self.tx.execute(
            "DELETE FROM return_sub_reasons WHERE retailer_id = ?1",
            [&r.id],
        )?;
        self.tx
            .execute("DELETE FROM return_reasons WHERE retailer_id = ?1", [&r.id])?;
        self.tx
            .execute("DELETE FROM qc_reasons WHERE retailer_id = ?1", [&r.id])?;
        for (position, reason) in r.reasons.iter().enumerate() {
            self.tx.execute(
                "INSERT INTO return_reasons (retailer_id, code, label, requires_evidence, position)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    r.id,
                    reason.code,
                    reason.label,
                    reason.requires_evidence,
                    position
                ],
            )?;
            for (sub_position, sub) in reason.sub_reasons.iter().enumerate() {
                self.tx.execute(
                    "INSERT INTO return_sub_reasons (retailer_id, reason_code, code, label, position)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![r.id, reason.code, sub.code, sub.label, sub_position],
                )?;
            }
        }
        for (position, qc) in r.qc_reasons.iter().enumerate() {
            self.tx.execute(
                "INSERT INTO qc_reasons (retailer_id, code, label, requires_photo, position)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.id, qc.code, qc.label, qc.requires_photo, position],
            )?;
        }
        Ok(())
    }
}

/// Crash points for the child-process durability tests. Compiled in only with the
/// `failpoints` feature; set `RETURNHUB_FAILPOINT` to a name to abort the process there.
#[cfg(feature = "failpoints")]
fn failpoint(name: &str) {
    static TARGET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if TARGET
        .get_or_init(|| std::env::var("RETURNHUB_FAILPOINT").ok())
        .as_deref()
        == Some(name)
    {
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
fn failpoint(_name: &str) {}
