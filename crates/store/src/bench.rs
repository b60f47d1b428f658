//! The bench's read models: inspections (undoable), extra items, decisions, the exception
//! queue, label jobs and station settings. Projections run inside the one write path; reads
//! are point lookups by return or by state.

use returnhub_core::bench::{DecidedBy, ExceptionKind};
use returnhub_core::station::StationConfig;
use returnhub_core::time::rfc3339;
use returnhub_protocol::event::DomainEvent;
use rusqlite::{params, OptionalExtension};

use crate::write::WriteTx;
use crate::{Result, Store, StoreError};

impl WriteTx<'_> {
    pub(crate) fn project_bench(&self, event: &DomainEvent, event_id: &str) -> Result<()> {
        let at = rfc3339(self.now);
        match event {
            DomainEvent::ItemInspected(i) => {
                let on_return: bool = self
                    .tx
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM return_items WHERE id = ?1 AND return_id = ?2)",
                    )?
                    .query_row(params![i.item_id, i.return_id], |r| r.get(0))?;
                if !on_return {
                    return Err(StoreError::Invalid(format!(
                        "item {} is not on return {}",
                        i.item_id, i.return_id
                    )));
                }
                self.tx
                    .prepare_cached(
                        "INSERT INTO inspections (id, return_item_id, return_id, event_id, presence, qc,
                           qc_reason, grade, disposition, note, photos_json, inspected_by, inspected_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    )?
                    .execute(params![
                        i.id,
                        i.item_id,
                        i.return_id,
                        event_id,
                        i.presence.as_str(),
                        i.qc.map(|q| q.name()),
                        i.qc_reason,
                        i.grade.map(|g| g.name()),
                        i.disposition.map(|d| d.as_str()),
                        i.note,
                        serde_json::to_string(&i.photos)?,
                        self.actor,
                        at,
                    ])?;
            }
            DomainEvent::ExtraItemRecorded(x) => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO extra_items (id, return_id, code, order_line_id, note, photos_json,
                           event_id, recorded_by, recorded_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?
                    .execute(params![
                        x.id,
                        x.return_id,
                        x.code,
                        x.order_line_id,
                        x.note,
                        serde_json::to_string(&x.photos)?,
                        event_id,
                        self.actor,
                        at,
                    ])?;
            }
            DomainEvent::StepUndone {
                return_id,
                undone_event_id,
            } => {
                let mut changed = 0;
                for table in ["inspections", "extra_items"] {
                    changed += self.tx.execute(
                        &format!(
                            "UPDATE {table} SET undone_by = ?1
                             WHERE event_id = ?2 AND return_id = ?3 AND undone_by IS NULL"
                        ),
                        params![event_id, undone_event_id, return_id],
                    )?;
                }
                if changed != 1 {
                    return Err(StoreError::Invalid(format!(
                        "nothing to undo: step {undone_event_id} of return {return_id} is not an \
                         inspection step, or is already undone"
                    )));
                }
            }
            DomainEvent::ItemsDecided {
                return_id,
                decisions,
            } => {
                let mut stmt = self.tx.prepare_cached(
                    "INSERT INTO decisions (id, return_item_id, return_id, event_id, outcome,
                       amount_minor, currency, source, rule_id, explanation_json, decided_at, decided_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?;
                for d in decisions {
                    if &d.return_id != return_id {
                        return Err(StoreError::Invalid(format!(
                            "decision {} is for return {}, not {return_id}",
                            d.id, d.return_id
                        )));
                    }
                    let (source, rule_id) = match &d.decided_by {
                        DecidedBy::Engine { decision } => match &decision.source {
                            returnhub_core::decision::DecisionSource::Rule { rule_id, .. } => {
                                ("rule", Some(rule_id.clone()))
                            }
                            returnhub_core::decision::DecisionSource::CustomerChoice => {
                                ("customer_choice", None)
                            }
                            returnhub_core::decision::DecisionSource::RetailerDefault => {
                                ("retailer_default", None)
                            }
                            returnhub_core::decision::DecisionSource::QcFailPolicy => {
                                ("qc_fail_policy", None)
                            }
                        },
                        DecidedBy::Supervisor { .. } => ("supervisor", None),
                        DecidedBy::NotReceived => ("not_received", None),
                    };
                    stmt.execute(params![
                        d.id,
                        d.item_id,
                        d.return_id,
                        event_id,
                        serde_json::to_string(&d.outcome)?,
                        d.amount.map(|m| m.minor),
                        d.amount.map(|m| m.currency.code().to_string()),
                        source,
                        rule_id,
                        serde_json::to_string(&d.decided_by)?,
                        at,
                        self.actor,
                    ])?;
                }
            }
            DomainEvent::ExceptionRaised(x) => {
                // An open exception of the same kind for the same return already says it.
                self.tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO exceptions (id, kind, return_id, connote, note, photos_json,
                           raised_by, raised_at, station)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?
                    .execute(params![
                        x.id,
                        x.kind.as_str(),
                        x.return_id,
                        x.connote,
                        x.note,
                        serde_json::to_string(&x.photos)?,
                        self.actor,
                        at,
                        self.station,
                    ])?;
            }
            DomainEvent::ExceptionResolved { id, resolution } => {
                let changed = self.tx.execute(
                    "UPDATE exceptions SET state = 'resolved', resolution = ?2, resolved_by = ?3,
                       resolved_at = ?4
                     WHERE id = ?1 AND state = 'open'",
                    params![id, resolution, self.actor, at],
                )?;
                if changed != 1 {
                    return Err(StoreError::Invalid(format!(
                        "exception {id} is not open (resolved already, or unknown)"
                    )));
                }
            }
            DomainEvent::LabelQueued(job) => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO outbox (topic, dedupe_key, event_id, payload, created_at, updated_at)
                         VALUES ('label', ?1, ?2, ?3, ?4, ?4)",
                    )?
                    .execute(params![job.id, event_id, serde_json::to_string(job)?, at])?;
            }
            DomainEvent::ConnoteAttached { return_id, connote } => {
                // After the return's others: the first stays the return's AWB.
                self.tx
                    .prepare_cached(
                        "INSERT INTO connotes (connote, return_id, position)
                         VALUES (?1, ?2, (SELECT count(*) FROM connotes WHERE return_id = ?2))",
                    )?
                    .execute(params![connote, return_id])
                    .map_err(|e| match e {
                        rusqlite::Error::SqliteFailure(f, _)
                            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                        {
                            StoreError::Invalid(format!(
                                "connote {connote} already belongs to a return"
                            ))
                        }
                        other => other.into(),
                    })?;
            }
            DomainEvent::StationConfigured(config) => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO stations (id, config_json, updated_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO UPDATE SET config_json = excluded.config_json,
                           updated_at = excluded.updated_at",
                    )?
                    .execute(params![config.station, serde_json::to_string(config)?, at])?;
            }
            other => {
                return Err(StoreError::Invalid(format!(
                    "{} is not a bench event",
                    other.kind()
                )))
            }
        }
        Ok(())
    }
}

/// An inspection row as the bench reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionRow {
    pub event_id: String,
    pub record: returnhub_core::bench::InspectionRecord,
    pub inspected_by: String,
    pub inspected_at: String,
}

/// An open or resolved exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRow {
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

/// A label job waiting in (or gone through) the `label` outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRow {
    pub outbox_id: i64,
    pub job: returnhub_core::bench::LabelJob,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
}

impl Store {
    /// The event of the latest inspection step (an inspection or an extra item) that `actor`
    /// recorded on `return_id` at `station` and that is not undone: what the bench's Undo
    /// takes back. Read from the log's projection, so it outlives a restart of the app.
    pub fn last_undoable_step(
        &self,
        return_id: &str,
        actor: &str,
        station: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT e.id FROM (
                   SELECT event_id FROM inspections WHERE return_id = ?1 AND undone_by IS NULL
                   UNION ALL
                   SELECT event_id FROM extra_items WHERE return_id = ?1 AND undone_by IS NULL
                 ) AS s JOIN events e ON e.id = s.event_id
                 WHERE e.actor = ?2 AND e.station = ?3
                 ORDER BY e.seq DESC LIMIT 1",
            )?
            .query_row(params![return_id, actor, station], |r| r.get(0))
            .optional()?)
    }

    /// The current (latest, not undone) inspection of each item of a return.
    pub fn current_inspections(&self, return_id: &str) -> Result<Vec<InspectionRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT n.event_id, n.id, n.return_item_id, n.presence, n.qc, n.qc_reason, n.grade,
                    n.disposition, n.note, n.photos_json, n.inspected_by, n.inspected_at
             FROM inspections n
             WHERE n.return_id = ?1 AND n.undone_by IS NULL
               AND n.rowid = (SELECT max(m.rowid) FROM inspections m
                              WHERE m.return_item_id = n.return_item_id AND m.undone_by IS NULL)
             ORDER BY n.rowid",
        )?;
        let rows = stmt.query_map([return_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, String>(10)?,
                r.get::<_, String>(11)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                event_id,
                id,
                item_id,
                presence,
                qc,
                qc_reason,
                grade,
                disposition,
                note,
                photos,
                by,
                at,
            ) = row?;
            let text = |v: Option<String>| v.map(serde_json::Value::String);
            out.push(InspectionRow {
                event_id,
                record: returnhub_core::bench::InspectionRecord {
                    id,
                    return_id: return_id.to_string(),
                    item_id,
                    presence: serde_json::from_value(serde_json::Value::String(presence))?,
                    qc: text(qc).map(serde_json::from_value).transpose()?,
                    qc_reason,
                    grade: text(grade).map(serde_json::from_value).transpose()?,
                    disposition: text(disposition).map(serde_json::from_value).transpose()?,
                    note,
                    photos: serde_json::from_str(&photos)?,
                },
                inspected_by: by,
                inspected_at: at,
            });
        }
        Ok(out)
    }

    /// Extra items recorded for a return and not undone, oldest first.
    pub fn extra_items(
        &self,
        return_id: &str,
    ) -> Result<Vec<(String, returnhub_core::bench::ExtraItemRecord)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT event_id, id, code, order_line_id, note, photos_json FROM extra_items
             WHERE return_id = ?1 AND undone_by IS NULL ORDER BY rowid",
        )?;
        let rows = stmt.query_map([return_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (event_id, id, code, order_line_id, note, photos) = row?;
            out.push((
                event_id,
                returnhub_core::bench::ExtraItemRecord {
                    id,
                    return_id: return_id.to_string(),
                    code,
                    order_line_id,
                    note,
                    photos: serde_json::from_str(&photos)?,
                },
            ));
        }
        Ok(out)
    }

    /// The current decision of each item of a return (the latest row per item).
    pub fn current_decisions(
        &self,
        return_id: &str,
    ) -> Result<Vec<returnhub_core::bench::ItemDecisionRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.id, d.return_item_id, d.outcome, d.amount_minor, d.currency, d.explanation_json
             FROM decisions d
             WHERE d.return_id = ?1
               AND d.rowid = (SELECT max(e.rowid) FROM decisions e WHERE e.return_item_id = d.return_item_id)
             ORDER BY d.rowid",
        )?;
        let rows = stmt.query_map([return_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, item_id, outcome, amount, currency, decided_by) = row?;
            let amount = match (amount, currency) {
                (Some(minor), Some(code)) => Some(returnhub_core::money::Money::new(
                    minor,
                    code.parse().map_err(|_| {
                        StoreError::Invalid(format!("decision {id}: bad currency {code}"))
                    })?,
                )),
                _ => None,
            };
            out.push(returnhub_core::bench::ItemDecisionRecord {
                id,
                return_id: return_id.to_string(),
                item_id,
                outcome: serde_json::from_str(&outcome)?,
                amount,
                decided_by: serde_json::from_str(&decided_by)?,
            });
        }
        Ok(out)
    }

    /// Exceptions, open ones first, newest first; at most `limit`.
    pub fn exceptions(&self, include_resolved: bool, limit: u32) -> Result<Vec<ExceptionRow>> {
        self.exception_rows(
            "WHERE state = 'open' OR ?1
             ORDER BY state = 'open' DESC, raised_at DESC, rowid DESC LIMIT ?2",
            params![include_resolved, limit],
        )
    }

    /// The open exceptions about one return, oldest first.
    pub fn open_exceptions_for(&self, return_id: &str) -> Result<Vec<ExceptionRow>> {
        self.exception_rows(
            "WHERE return_id = ?1 AND state = 'open' ORDER BY rowid",
            params![return_id],
        )
    }

    fn exception_rows(&self, tail: &str, args: impl rusqlite::Params) -> Result<Vec<ExceptionRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, kind, return_id, connote, note, photos_json, state, raised_by, raised_at,
                    resolution
             FROM exceptions {tail}"
        ))?;
        let rows = stmt.query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                id,
                kind,
                return_id,
                connote,
                note,
                photos,
                state,
                raised_by,
                raised_at,
                resolution,
            ) = row?;
            out.push(ExceptionRow {
                kind: ExceptionKind::parse(&kind)
                    .ok_or_else(|| StoreError::Invalid(format!("exception {id}: kind {kind}")))?,
                id,
                return_id,
                connote,
                note,
                photos: serde_json::from_str(&photos)?,
                open: state == "open",
                raised_by,
                raised_at,
                resolution,
            });
        }
        Ok(out)
    }

    /// The open exception of `kind` for a return, if there is one.
    pub fn open_exception(&self, kind: ExceptionKind, return_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id FROM exceptions WHERE kind = ?1 AND return_id = ?2 AND state = 'open'",
            )?
            .query_row(params![kind.as_str(), return_id], |r| r.get(0))
            .optional()?)
    }

    /// Label jobs of a return, oldest first.
    pub fn label_jobs(&self, return_id: &str) -> Result<Vec<LabelRow>> {
        self.label_rows(
            "WHERE topic = 'label' AND json_extract(payload, '$.return_id') = ?1 ORDER BY id",
            params![return_id],
        )
    }

    /// Label jobs still to print at `station` whose retry time has come, oldest first.
    pub fn labels_due(&self, station: &str, now: &str) -> Result<Vec<LabelRow>> {
        self.label_rows(
            "WHERE topic = 'label' AND state IN ('pending', 'unknown')
               AND json_extract(payload, '$.station') = ?1
               AND (next_attempt_at IS NULL OR next_attempt_at <= ?2)
             ORDER BY id",
            params![station, now],
        )
    }

    /// How many labels wait to print at `station`.
    pub fn labels_waiting(&self, station: &str) -> Result<u32> {
        Ok(self.conn.prepare_cached(
            "SELECT count(*) FROM outbox WHERE topic = 'label' AND state IN ('pending', 'unknown')
               AND json_extract(payload, '$.station') = ?1",
        )?
        .query_row([station], |r| r.get(0))?)
    }

    fn label_rows(&self, tail: &str, args: impl rusqlite::Params) -> Result<Vec<LabelRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, payload, state, attempts, next_attempt_at, last_error FROM outbox {tail}"
        ))?;
        let rows = stmt.query_map(args, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (outbox_id, payload, state, attempts, next_attempt_at, last_error) = row?;
            out.push(LabelRow {
                outbox_id,
                job: serde_json::from_str(&payload)?,
                state,
                attempts,
                next_attempt_at,
                last_error,
            });
        }
        Ok(out)
    }

    /// Records a print attempt's result on a label job. Printing is bookkeeping on the outbox
    /// row, not a domain event: the job itself (what to print) is the event.
    pub fn label_attempted(
        &mut self,
        outbox_id: i64,
        now: &str,
        result: std::result::Result<(), (String, String)>,
    ) -> Result<()> {
        match result {
            Ok(()) => self.conn.execute(
                "UPDATE outbox SET state = 'confirmed', attempts = attempts + 1, last_error = NULL,
                   next_attempt_at = NULL, updated_at = ?2
                 WHERE id = ?1 AND topic = 'label'",
                params![outbox_id, now],
            )?,
            Err((error, retry_at)) => self.conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3,
                   updated_at = ?4
                 WHERE id = ?1 AND topic = 'label'",
                params![outbox_id, error, retry_at, now],
            )?,
        };
        Ok(())
    }

    /// The station's saved settings, if any were saved.
    pub fn station_config(&self, station: &str) -> Result<Option<StationConfig>> {
        let json: Option<String> = self
            .conn
            .prepare_cached("SELECT config_json FROM stations WHERE id = ?1")?
            .query_row([station], |r| r.get(0))
            .optional()?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    /// Orders matching an order number, an email, or an item's SKU / EAN, newest first.
    pub fn find_orders(&self, query: &str, limit: u32) -> Result<Vec<String>> {
        let q = query.trim();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM (
               SELECT id, created_at FROM orders WHERE order_number = ?1 OR order_number = '#' || ?1
               UNION SELECT id, created_at FROM orders WHERE email = lower(?1)
               UNION SELECT o.id, o.created_at FROM order_lines l JOIN orders o ON o.id = l.order_id
                     WHERE l.sku = ?1
               UNION SELECT o.id, o.created_at FROM order_lines l JOIN orders o ON o.id = l.order_id
                     WHERE l.ean = ?1)
             ORDER BY created_at DESC LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(params![q, limit], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ids)
    }

    /// A user's display name.
    pub fn user_name(&self, user_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT name FROM users WHERE id = ?1")?
            .query_row([user_id], |r| r.get(0))
            .optional()?)
    }

    /// An order's head and lines for the orphan intake: (order row, lines).
    pub fn order_summary(&self, order_id: &str) -> Result<Option<OrderSummaryRow>> {
        let head = self
            .conn
            .prepare_cached(
                "SELECT o.id, o.retailer_id, t.name, o.order_number, o.customer_name, o.email,
                        o.created_at
                 FROM orders o JOIN retailers t ON t.id = o.retailer_id WHERE o.id = ?1",
            )?
            .query_row([order_id], |r| {
                Ok(OrderSummaryRow {
                    id: r.get(0)?,
                    retailer_id: r.get(1)?,
                    retailer: r.get(2)?,
                    order_number: r.get(3)?,
                    customer_name: r.get(4)?,
                    email: r.get(5)?,
                    created_at: r.get(6)?,
                    lines: Vec::new(),
                    returns: Vec::new(),
                })
            })
            .optional()?;
        let Some(mut head) = head else {
            return Ok(None);
        };
        let mut lines = self.conn.prepare_cached(
            "SELECT id, sku, ean, title, quantity FROM order_lines WHERE order_id = ?1 ORDER BY id",
        )?;
        head.lines = lines
            .query_map([order_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut returns = self.conn.prepare_cached(
            "SELECT id, hub_id, status FROM returns WHERE order_id = ?1 ORDER BY created_at",
        )?;
        head.returns = returns
            .query_map([order_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(head))
    }

    /// The returns a retailer's partner knows by `external_id` (its request or return id),
    /// from `source`: (return id, hub id, status), oldest first.
    pub fn returns_by_external_id(
        &self,
        retailer_id: &str,
        source: &str,
        external_id: &str,
    ) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, hub_id, status FROM returns
             WHERE retailer_id = ?1 AND external_id = ?2 AND source = ?3 ORDER BY created_at",
        )?;
        let rows = stmt.query_map(params![retailer_id, external_id, source], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether the outbox holds `key` under `topic` (in any state).
    pub fn outbox_has(&self, topic: &str, key: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE topic = ?1 AND dedupe_key = ?2)",
            )?
            .query_row(params![topic, key], |r| r.get(0))?)
    }

    /// The standard QC failure reasons every retailer starts with, in order.
    pub fn standard_qc_reasons(&self) -> Result<Vec<returnhub_core::record::QcReasonRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT code, label, requires_photo FROM qc_reasons WHERE retailer_id = '' ORDER BY position",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(returnhub_core::record::QcReasonRecord {
                code: r.get(0)?,
                label: r.get(1)?,
                requires_photo: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The action outbox rows of a return: (idempotency key, state, payload).
    pub fn actions_of(&self, return_id: &str) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT dedupe_key, state, payload FROM outbox
             WHERE topic = 'action' AND json_extract(payload, '$.return_id') = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([return_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// What each confirmed action of the return paid the customer in the currency they paid,
    /// where that is not the action's own, by action key.
    pub fn actions_paid(
        &self,
        return_id: &str,
    ) -> Result<Vec<(String, returnhub_core::money::Money)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT dedupe_key, paid_json FROM outbox
             WHERE topic = 'action' AND json_extract(payload, '$.return_id') = ?1
               AND paid_json IS NOT NULL",
        )?;
        let rows = stmt.query_map([return_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, paid) = row?;
            out.push((key, serde_json::from_str(&paid)?));
        }
        Ok(out)
    }

    /// The events about one return (or exception), oldest first: the audit trail.
    pub fn events_for(&self, aggregate_id: &str) -> Result<Vec<AuditRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, actor, station, recorded_at, payload, device_id, hlc FROM events
             WHERE aggregate_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([aggregate_id], |r| {
            Ok(AuditRow {
                event_id: r.get(0)?,
                kind: r.get(1)?,
                actor: r.get(2)?,
                station: r.get(3)?,
                recorded_at: r.get(4)?,
                payload: r.get(5)?,
                device_id: r.get(6)?,
                hlc: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The carriers' tracking events the central store relayed for a return, oldest first.
    pub fn tracking_in_for(&self, return_id: &str) -> Result<Vec<TrackingInRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT connote, code, status, event_at, source, received_at FROM tracking_in
             WHERE return_id = ?1 ORDER BY received_at, id",
        )?;
        let rows = stmt.query_map([return_id], |r| {
            Ok(TrackingInRow {
                connote: r.get(0)?,
                code: r.get(1)?,
                status: r.get(2)?,
                event_at: r.get(3)?,
                source: r.get(4)?,
                received_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The tracking notices queued for a return's retailer's webhook URLs, in queue order.
    pub fn deliveries_for(&self, return_id: &str) -> Result<Vec<TrackingOutRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT code, url, state, attempts, last_error, created_at, delivered_at
             FROM webhook_deliveries WHERE return_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([return_id], |r| {
            Ok(TrackingOutRow {
                code: r.get(0)?,
                url: r.get(1)?,
                delivered: r.get::<_, String>(2)? == "delivered",
                attempts: r.get(3)?,
                last_error: r.get(4)?,
                created_at: r.get(5)?,
                delivered_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// An order as the orphan intake lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummaryRow {
    pub id: String,
    pub retailer_id: String,
    pub retailer: String,
    pub order_number: String,
    pub customer_name: String,
    pub email: String,
    pub created_at: String,
    /// (line id, sku, ean, title, quantity)
    pub lines: Vec<(String, String, Option<String>, String, u32)>,
    /// (return id, hub id, status)
    pub returns: Vec<(String, String, String)>,
}

/// One event of an audit trail, with its JSON payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub event_id: String,
    pub kind: String,
    pub actor: String,
    pub station: Option<String>,
    pub recorded_at: String,
    pub payload: String,
    /// The device that recorded it and its hybrid logical clock stamp.
    pub device_id: String,
    pub hlc: String,
}

/// A carrier's tracking event for a return, as the central store relayed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingInRow {
    pub connote: String,
    pub code: String,
    pub status: String,
    pub event_at: String,
    pub source: String,
    pub received_at: String,
}

/// A tracking notice for a return to one of its retailer's webhook URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingOutRow {
    pub code: String,
    pub url: String,
    pub delivered: bool,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}
