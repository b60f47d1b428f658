//! The tracking webhook's durable queue (`webhook_deliveries`): one row per tracking event
//! batch and URL, written by the hub in the same transaction as the event that produced it
//! (a first scan's RC, a processing's RP), so an acknowledged scan's events cannot be lost.
//! Its body is kept apart (`webhook_bodies`, migration 0017), written once: recording an
//! attempt rewrites only the row's bookkeeping.
//!
//! A row's bookkeeping (attempts, next try, last error, the alert flag, delivered) is written
//! straight to the row in its own autocommit statement, like the action outbox's intermediate
//! states: how far a delivery got, not a change to the domain. Rows are never deleted and
//! never given up: after the retry budget a row is flagged `alerted_at` (the supervisor's
//! screen shows it) and is still retried, at the longest interval, until a 200.
//!
//! Delivered rows are also counted per retailer and URL in `webhook_delivery_totals` (by a
//! trigger, in the same transaction), so the supervisor's view never reads the delivered
//! history.

use returnhub_core::time::{rfc3339, UnixMillis};
use rusqlite::{params, Row};

use crate::write::WriteTx;
use crate::{Result, Store, StoreError};
use returnhub_protocol::wire::TrackingRecord;

/// One queued delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub retailer_id: String,
    pub return_id: String,
    /// RC, RP, …
    pub code: String,
    pub url: String,
    /// The JSON array, exactly as it is posted.
    pub body: String,
    pub delivered: bool,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub alerted_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// The result of one attempt, for [`Store::record_attempts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Answered 200.
    Delivered { id: i64 },
    /// Anything else: try again at `next_at`; `alert` flags the row for the supervisor.
    Failed {
        id: i64,
        next_at: UnixMillis,
        error: String,
        alert: bool,
    },
}

/// Per retailer and URL: what is waiting, what is flagged, and the latest error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySummary {
    pub retailer_id: String,
    pub url: String,
    pub pending: u64,
    /// Pending rows past the retry budget (the alert).
    pub alerted: u64,
    pub delivered: u64,
    pub last_error: Option<String>,
    /// The earliest next try of a pending row.
    pub next_attempt_at: Option<String>,
}

/// A delivery's columns, its body joined (`FROM webhook_deliveries d JOIN webhook_bodies b`).
const COLUMNS: &str = "d.id, d.event_id, d.retailer_id, d.return_id, d.code, d.url, b.body,
     d.state, d.attempts, d.next_attempt_at, d.last_error, d.alerted_at, d.created_at,
     d.delivered_at";
const FROM: &str = "FROM webhook_deliveries d JOIN webhook_bodies b ON b.delivery_id = d.id";

/// Queues a delivery with its body; nothing when the same event and URL are queued already.
const QUEUE: &str = "INSERT INTO webhook_deliveries (event_id, retailer_id, return_id, code, url,
       next_attempt_at, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
     ON CONFLICT (event_id, url) DO NOTHING";
const QUEUE_BODY: &str = "INSERT INTO webhook_bodies (delivery_id, body) VALUES (?1, ?2)";

/// Runs [`QUEUE`] and, when it queued a row, [`QUEUE_BODY`] for it.
#[allow(clippy::too_many_arguments)]
fn queue(
    conn: &rusqlite::Connection,
    event_id: &str,
    retailer_id: &str,
    return_id: &str,
    code: &str,
    url: &str,
    body: &str,
    now: &str,
) -> Result<()> {
    let queued = conn.prepare_cached(QUEUE)?.execute(params![
        event_id,
        retailer_id,
        return_id,
        code,
        url,
        now
    ])?;
    if queued == 1 {
        conn.prepare_cached(QUEUE_BODY)?
            .execute(params![conn.last_insert_rowid(), body])?;
    }
    Ok(())
}

fn row(r: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        event_id: r.get(1)?,
        retailer_id: r.get(2)?,
        return_id: r.get(3)?,
        code: r.get(4)?,
        url: r.get(5)?,
        body: r.get(6)?,
        delivered: r.get::<_, String>(7)? == "delivered",
        attempts: r.get(8)?,
        next_attempt_at: r.get(9)?,
        last_error: r.get(10)?,
        alerted_at: r.get(11)?,
        created_at: r.get(12)?,
        delivered_at: r.get(13)?,
    })
}

/// What a pulled tracking event becomes: `body` for each of `urls` (none: it needs no
/// delivery — its return is not at this hub, or the retailer has no URL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackingForward {
    pub tracking_id: String,
    pub retailer_id: String,
    pub return_id: String,
    pub code: String,
    pub urls: Vec<String>,
    pub body: String,
    /// The return's receipt notice (RC) that this event brings forward (a carrier's first
    /// scan, for a retailer whose RC goes at the first scan): queued beside it, for the same
    /// URLs, under the return's id with `/RC`, so once per return however many carrier
    /// events come.
    pub receipt: Option<String>,
}

/// Whether a return's RC was queued: asked at every receipt scan, so through
/// `webhook_deliveries_by_return`, never by reading the queue (migration 0010).
pub const RECEIPT_QUEUED: &str = "SELECT EXISTS (SELECT 1 FROM webhook_deliveries
     WHERE return_id = ?1 AND code = 'RC')";

/// The delivery id of the receipt notice a carrier's first scan brought forward.
pub fn receipt_event_id(return_id: &str) -> String {
    format!("{return_id}/RC")
}

impl WriteTx<'_> {
    /// Queues `body` (a JSON array of tracking events) for `url`, due now. `event_id` is the
    /// event appended in this transaction that produced it; the same event and URL are
    /// queued once.
    pub fn queue_delivery(
        &mut self,
        event_id: &str,
        retailer_id: &str,
        return_id: &str,
        code: &str,
        url: &str,
        body: &str,
    ) -> Result<()> {
        if !self.appended.iter().any(|a| a.id == event_id) {
            return Err(StoreError::Invalid(format!(
                "a tracking delivery must come from an event of its own transaction, not {event_id}"
            )));
        }
        let now = rfc3339(self.now);
        queue(
            &self.tx,
            event_id,
            retailer_id,
            return_id,
            code,
            url,
            body,
            &now,
        )
    }
}

impl Store {
    /// Pulled tracking events (kept by [`Store::apply_remote_page`]) not forwarded yet, oldest
    /// first.
    /// Whether this device queued the return's receipt notice (RC) already, at the hub's
    /// receipt or brought forward by the carrier's first scan.
    pub fn receipt_queued(&self, return_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(RECEIPT_QUEUED)?
            .query_row([return_id], |r| r.get(0))?)
    }

    pub fn unforwarded_tracking(&self, limit: usize) -> Result<Vec<TrackingRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, return_id, connote, code, status, event_at, source FROM tracking_in
             WHERE forwarded_at IS NULL ORDER BY received_at, id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(TrackingRecord {
                id: r.get(0)?,
                return_id: r.get(1)?,
                connote: r.get(2)?,
                code: r.get(3)?,
                status: r.get(4)?,
                event_at: r.get(5)?,
                source: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Marks each pulled tracking event forwarded and queues its deliveries, in one
    /// transaction (bookkeeping, like [`Store::record_attempts`]: the events themselves are
    /// already in `tracking_in`); the same event and URL are queued once, and an event
    /// already forwarded is left alone.
    pub fn forward_tracking(
        &mut self,
        now: UnixMillis,
        forwards: &[TrackingForward],
    ) -> Result<()> {
        let at = rfc3339(now);
        let tx = self.conn.transaction()?;
        {
            let mut mark = tx.prepare_cached(
                "UPDATE tracking_in SET forwarded_at = ?2 WHERE id = ?1 AND forwarded_at IS NULL",
            )?;
            for f in forwards {
                if mark.execute(params![f.tracking_id, at])? == 0 {
                    continue;
                }
                for url in &f.urls {
                    queue(
                        &tx,
                        &f.tracking_id,
                        &f.retailer_id,
                        &f.return_id,
                        &f.code,
                        url,
                        &f.body,
                        &at,
                    )?;
                    if let Some(receipt) = &f.receipt {
                        queue(
                            &tx,
                            &receipt_event_id(&f.return_id),
                            &f.retailer_id,
                            &f.return_id,
                            "RC",
                            url,
                            receipt,
                            &at,
                        )?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Pending deliveries due at `now`, oldest first.
    pub fn due_deliveries(&self, now: UnixMillis, limit: usize) -> Result<Vec<DeliveryRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} {FROM}
             WHERE d.state = 'pending' AND d.next_attempt_at <= ?1
             ORDER BY d.next_attempt_at, d.id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![rfc3339(now), limit as i64], row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// When the next pending delivery is due, if any is pending.
    pub fn next_delivery_at(&self) -> Result<Option<String>> {
        Ok(self.conn.query_row(
            "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Every delivery of a return, oldest first (for tests and the audit).
    pub fn deliveries_of(&self, return_id: &str) -> Result<Vec<DeliveryRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} {FROM} WHERE d.return_id = ?1 ORDER BY d.id"
        ))?;
        let rows = stmt.query_map([return_id], row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a pass's attempts in one transaction (durable on return), so a pass costs one
    /// sync of the file, not one per delivery.
    pub fn record_attempts(&mut self, now: UnixMillis, attempts: &[Attempt]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut delivered = tx.prepare_cached(
                "UPDATE webhook_deliveries
                 SET state = 'delivered', attempts = attempts + 1, delivered_at = ?2,
                     last_error = NULL
                 WHERE id = ?1 AND state = 'pending'",
            )?;
            let mut failed = tx.prepare_cached(
                "UPDATE webhook_deliveries
                 SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3,
                     alerted_at = CASE WHEN ?4 THEN coalesce(alerted_at, ?5) ELSE alerted_at END
                 WHERE id = ?1 AND state = 'pending'",
            )?;
            let at = rfc3339(now);
            for attempt in attempts {
                match attempt {
                    Attempt::Delivered { id } => {
                        delivered.execute(params![id, at])?;
                    }
                    Attempt::Failed {
                        id,
                        next_at,
                        error,
                        alert,
                    } => {
                        failed.execute(params![id, rfc3339(*next_at), error, alert, at])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A supervisor's "send now": every pending delivery of the retailer (to `url`, or to
    /// all its URLs) is due at once. Attempts and the alert flag stay as they are until a
    /// delivery succeeds. Returns how many rows were made due.
    pub fn retry_deliveries_now(
        &self,
        retailer_id: &str,
        url: Option<&str>,
        now: UnixMillis,
    ) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE webhook_deliveries SET next_attempt_at = ?3
                 WHERE state = 'pending' AND retailer_id = ?1 AND (?2 IS NULL OR url = ?2)",
            )?
            .execute(params![retailer_id, url, rfc3339(now)])?)
    }

    /// Per retailer and URL, what the supervisor's screen shows (each second, while F5 is
    /// open). The cost follows what is waiting, not what was ever sent: pending rows are
    /// read through `webhook_deliveries_pending` (an index of pending rows only), delivered
    /// ones are counted in `webhook_delivery_totals` (kept by a trigger as each is delivered).
    /// One statement, so the counts are of one snapshot.
    pub fn delivery_summaries(&self) -> Result<Vec<DeliverySummary>> {
        let mut stmt = self.conn.prepare_cached(DELIVERY_SUMMARIES)?;
        let rows = stmt.query_map([], |r| {
            Ok(DeliverySummary {
                retailer_id: r.get(0)?,
                url: r.get(1)?,
                pending: r.get(2)?,
                alerted: r.get(3)?,
                delivered: r.get(4)?,
                last_error: r.get(5)?,
                next_attempt_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// [`Store::delivery_summaries`]'s query (public for the plan check in the tests).
pub const DELIVERY_SUMMARIES: &str =
    "SELECT retailer_id, url, sum(pending), sum(alerted), sum(delivered),
        (SELECT d.last_error FROM webhook_deliveries d
         WHERE d.retailer_id = q.retailer_id AND d.url = q.url
           AND d.state = 'pending' AND d.last_error IS NOT NULL
         ORDER BY d.id DESC LIMIT 1),
        min(next_attempt_at)
 FROM (SELECT retailer_id, url, count(*) AS pending, count(alerted_at) AS alerted,
              0 AS delivered, min(next_attempt_at) AS next_attempt_at
       FROM webhook_deliveries WHERE state = 'pending' GROUP BY retailer_id, url
       UNION ALL
       SELECT retailer_id, url, 0, 0, delivered, NULL FROM webhook_delivery_totals) q
 GROUP BY retailer_id, url ORDER BY retailer_id, url";
