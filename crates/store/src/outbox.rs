//! The `action` outbox as the dispatcher sees it: which actions are due, and their state
//! changes pending → sent → confirmed, or → unknown → (reconciled) → confirmed / pending, or
//! → failed.
//!
//! The intermediate states (sent, unknown, a rescheduled pending) are operational bookkeeping,
//! written straight to the row in their own autocommit statement (durable on return:
//! WAL + synchronous=FULL), so `sent` is on disk before the request leaves. The final
//! states are domain facts: `confirmed` and `failed` are set only by the projection of the
//! `ActionConfirmed` / `ActionFailed` events, in the same transaction that appends them.

use returnhub_core::time::{rfc3339, UnixMillis};
use returnhub_core::trigger::{ActionDue, IdempotencyKey};
use returnhub_protocol::action::{ActionContext, ReturnFacts, ReturnItemFacts};
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::{Result, Store, StoreError};

/// The state column of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutboxState {
    Pending,
    Sent,
    Confirmed,
    Unknown,
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Confirmed => "confirmed",
            OutboxState::Unknown => "unknown",
            OutboxState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        [
            OutboxState::Pending,
            OutboxState::Sent,
            OutboxState::Confirmed,
            OutboxState::Unknown,
            OutboxState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// One `action` outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRow {
    pub action: ActionDue,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub reference: Option<String>,
    /// When the row last changed (queued, sent, answered).
    pub updated_at: String,
}

/// Counts a return's `ActionRetried` events for `key` (hub and central event logs alike).
pub const RETRIES_SQL: &str = "SELECT count(*) FROM events
     WHERE aggregate_id = ?1 AND kind = 'action_retried' AND json_extract(payload, '$.key') = ?2";

/// A retailer connected to its Shopify shop (see the `ShopConnected` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopConnectionRow {
    pub retailer_id: String,
    pub shop_domain: String,
    pub shop_name: String,
    pub connected_at: String,
}

/// Where an order import stands (see the `ImportCheckpoint` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportCursor {
    pub cursor: Option<String>,
    pub updated_since: Option<String>,
    pub updated_at: String,
}

const ACTION_COLUMNS: &str =
    "payload, state, attempts, next_attempt_at, last_error, reference, updated_at FROM outbox";

/// payload, state, attempts, next_attempt_at, last_error, reference, updated_at.
type RawActionRow = (
    String,
    String,
    u32,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn action_row(row: &Row<'_>) -> rusqlite::Result<RawActionRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn decode(
    (payload, state, attempts, next_attempt_at, last_error, reference, updated_at): RawActionRow,
) -> Result<ActionRow> {
    let state = OutboxState::parse(&state)
        .ok_or_else(|| StoreError::Invalid(format!("outbox row has unknown state {state:?}")))?;
    Ok(ActionRow {
        action: serde_json::from_str(&payload)?,
        state,
        attempts,
        next_attempt_at,
        last_error,
        reference,
        updated_at,
    })
}

impl Store {
    /// The actions the dispatcher should look at now, oldest first: pending, sent (a crash
    /// after marking sent: reconcile) and unknown rows whose next attempt is due; only
    /// `retailers`' actions when given (a dispatcher serves the retailers it has targets for).
    pub fn due_actions(
        &self,
        retailers: Option<&[String]>,
        now: UnixMillis,
        limit: usize,
    ) -> Result<Vec<ActionRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS}
             WHERE topic = 'action' AND state IN ('pending', 'sent', 'unknown')
               AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)
               AND (?3 IS NULL OR json_extract(payload, '$.retailer_id')
                                  IN (SELECT value FROM json_each(?3)))
             ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(
                params![rfc3339(now), limit as i64, retailer_filter(retailers)?],
                action_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// The earliest `next_attempt_at` of an action still to be worked on (of `retailers`
    /// when given), if any; `Some("")` when one is due now.
    pub fn next_action_at(&self, retailers: Option<&[String]>) -> Result<Option<String>> {
        Ok(self.conn.query_row(
            "SELECT min(coalesce(next_attempt_at, '')) FROM outbox
             WHERE topic = 'action' AND state IN ('pending', 'sent', 'unknown')
               AND (?1 IS NULL OR json_extract(payload, '$.retailer_id')
                                  IN (SELECT value FROM json_each(?1)))",
            [retailer_filter(retailers)?],
            |r| r.get(0),
        )?)
    }

    /// Actions a supervisor should see: failed ones (with the reason) and ones whose
    /// outcome is still unknown, newest first.
    pub fn troubled_actions(&self, limit: usize) -> Result<Vec<ActionRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS}
             WHERE topic = 'action' AND state IN ('failed', 'unknown')
             ORDER BY updated_at DESC, id DESC LIMIT ?1"
        ))?;
        let rows = stmt
            .query_map(params![limit as i64], action_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(decode).collect()
    }

    pub fn action(&self, key: &IdempotencyKey) -> Result<Option<ActionRow>> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {ACTION_COLUMNS} WHERE topic = 'action' AND dedupe_key = ?1"),
                [key.as_str()],
                action_row,
            )
            .optional()?;
        row.map(decode).transpose()
    }

    pub fn shop_connections(&self) -> Result<Vec<ShopConnectionRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT retailer_id, shop_domain, shop_name, connected_at FROM shop_connections
             ORDER BY retailer_id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ShopConnectionRow {
                    retailer_id: r.get(0)?,
                    shop_domain: r.get(1)?,
                    shop_name: r.get(2)?,
                    connected_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// How many action rows of each retailer are in each state.
    pub fn action_counts_by_retailer(&self) -> Result<Vec<(String, OutboxState, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT json_extract(payload, '$.retailer_id'), state, count(*) FROM outbox
             WHERE topic = 'action' GROUP BY 1, 2 ORDER BY 1, 2",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(retailer, state, n)| {
                OutboxState::parse(&state)
                    .map(|s| (retailer, s, n))
                    .ok_or_else(|| StoreError::Invalid(format!("unknown outbox state {state:?}")))
            })
            .collect()
    }

    /// How many action rows are in each state.
    pub fn action_counts(&self) -> Result<Vec<(OutboxState, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, count(*) FROM outbox WHERE topic = 'action' GROUP BY state ORDER BY state",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(state, n)| {
                OutboxState::parse(&state)
                    .map(|s| (s, n))
                    .ok_or_else(|| StoreError::Invalid(format!("unknown outbox state {state:?}")))
            })
            .collect()
    }

    /// pending → sent, one more attempt. Must return before the request goes out: a crash
    /// after this leaves `sent`, which the dispatcher reconciles instead of resending.
    pub fn mark_action_sent(&self, key: &IdempotencyKey, now: UnixMillis) -> Result<()> {
        self.move_action(
            key,
            &["pending"],
            "sent",
            "attempts = attempts + 1, next_attempt_at = NULL",
            None,
            now,
        )
    }

    /// sent/unknown → unknown: the request may or may not have taken effect; reconcile at
    /// `next_at` before anything is sent again.
    pub fn mark_action_unknown(
        &self,
        key: &IdempotencyKey,
        now: UnixMillis,
        next_at: UnixMillis,
        error: &str,
    ) -> Result<()> {
        self.move_action(
            key,
            &["sent", "unknown"],
            "unknown",
            "next_attempt_at = ?4",
            Some((next_at, error)),
            now,
        )
    }

    /// sent/unknown → pending at `next_at`: it is known that nothing took effect (refused
    /// before it ran, or reconciliation found no effect), so sending again is safe.
    pub fn reschedule_action(
        &self,
        key: &IdempotencyKey,
        now: UnixMillis,
        next_at: UnixMillis,
        error: &str,
    ) -> Result<()> {
        self.move_action(
            key,
            &["sent", "unknown"],
            "pending",
            "next_attempt_at = ?4",
            Some((next_at, error)),
            now,
        )
    }

    fn move_action(
        &self,
        key: &IdempotencyKey,
        from: &[&str],
        to: &str,
        set: &str,
        next: Option<(UnixMillis, &str)>,
        now: UnixMillis,
    ) -> Result<()> {
        let from_list = from
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE outbox SET state = '{to}', {set}, last_error = coalesce(?3, last_error), updated_at = ?2
             WHERE topic = 'action' AND dedupe_key = ?1 AND state IN ({from_list})"
        );
        let (next_at, error) = match next {
            Some((at, error)) => (Some(rfc3339(at)), Some(error)),
            None => (None, None),
        };
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let changed = if sql.contains("?4") {
            stmt.execute(params![key.as_str(), rfc3339(now), error, next_at])?
        } else {
            stmt.execute(params![key.as_str(), rfc3339(now), error])?
        };
        if changed != 1 {
            return Err(StoreError::Invalid(format!(
                "action {key} is not {} any more; move to {to} refused",
                from.join(" or ")
            )));
        }
        Ok(())
    }

    /// The order and lines of `action`, with each item's latest disposition.
    /// The return's source (portal, loop, …), if the return is in the store.
    pub fn return_source(&self, return_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT source FROM returns WHERE id = ?1")?
            .query_row([return_id], |r| r.get(0))
            .optional()?)
    }

    /// The context `action` is carried out with: this store's facts, made into a context by
    /// [`ActionContext::build`] (the central store's are too).
    pub fn action_context(&self, action: &ActionDue) -> Result<ActionContext> {
        let (order_id, source, external_id, policy_json): (
            String,
            String,
            Option<String>,
            Option<String>,
        ) = self
            .conn
            .prepare_cached(
                "SELECT r.order_id, r.source, r.external_id, t.policy_json
                 FROM returns r LEFT JOIN retailers t ON t.id = r.retailer_id
                 WHERE r.id = ?1",
            )?
            .query_row([&action.return_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "action {}: return {} is not in the store",
                    action.key, action.return_id
                ))
            })?;
        let mut inspections = self.current_inspections(&action.return_id)?;
        let items = self
            .conn
            .prepare_cached(
                "SELECT ri.id, ri.order_line_id, ri.quantity, ri.external_id, coalesce(l.sku, ''),
                        ri.chosen_option,
                        (SELECT json_extract(d.outcome, '$.kind') FROM decisions d
                         WHERE d.return_item_id = ri.id ORDER BY d.rowid DESC LIMIT 1)
                 FROM return_items ri LEFT JOIN order_lines l ON l.id = ri.order_line_id
                 WHERE ri.return_id = ?1",
            )?
            .query_map([&action.return_id], |r| {
                Ok(ReturnItemFacts {
                    return_item_id: r.get(0)?,
                    order_line_id: r.get(1)?,
                    quantity: r.get(2)?,
                    external_id: r.get(3)?,
                    sku: r.get(4)?,
                    chosen_option: r.get(5)?,
                    outcome: r.get(6)?,
                    inspection: None,
                })
            })?
            .collect::<rusqlite::Result<Vec<ReturnItemFacts>>>()?
            .into_iter()
            .map(|mut item| {
                if let Some(at) = inspections
                    .iter()
                    .position(|i| i.record.item_id == item.return_item_id)
                {
                    let row = inspections.swap_remove(at);
                    item.inspection = Some((row.record, row.inspected_at));
                }
                item
            })
            .collect();
        let facts = ReturnFacts {
            order_id,
            source,
            external_id,
            policy: policy_json
                .map(|json| serde_json::from_str(&json))
                .transpose()?,
            connotes: self.connotes_of(&action.return_id)?,
            retries: self
                .conn
                .prepare_cached(RETRIES_SQL)?
                .query_row(params![action.return_id, action.key.as_str()], |r| r.get(0))?,
        };
        ActionContext::build(action, facts, items).map_err(StoreError::Invalid)
    }

    pub fn import_cursor(&self, retailer_id: &str, stream: &str) -> Result<Option<ImportCursor>> {
        Ok(self
            .conn
            .query_row(
                "SELECT cursor, updated_since, updated_at FROM import_cursors
                 WHERE retailer_id = ?1 AND stream = ?2",
                [retailer_id, stream],
                |r| {
                    Ok(ImportCursor {
                        cursor: r.get(0)?,
                        updated_since: r.get(1)?,
                        updated_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// An order as the store holds it, lines in id order (to tell whether an import changes it).
    pub fn order_record(&self, id: &str) -> Result<Option<returnhub_core::record::OrderRecord>> {
        use returnhub_core::money::{Currency, Money};
        use returnhub_core::record::{OrderLineRecord, OrderRecord};
        let header = self
            .conn
            .prepare_cached(
                "SELECT retailer_id, order_number, customer_name, email, created_at, country,
                        currency, tags_json, subtotal_minor, discount_minor, total_minor
                 FROM orders WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    (
                        r.get::<_, i64>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, i64>(10)?,
                    ),
                ))
            })
            .optional()?;
        let Some((
            retailer_id,
            order_number,
            customer_name,
            email,
            created_at,
            country,
            code,
            tags,
            minor,
        )) = header
        else {
            return Ok(None);
        };
        let currency: Currency = code
            .parse()
            .map_err(|_| StoreError::Invalid(format!("order {id} has currency {code:?}")))?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, sku, ean, title, image, quantity, unit_price_minor, discount_minor,
                    product_tags_json
             FROM order_lines WHERE order_id = ?1 ORDER BY id",
        )?;
        let lines = stmt
            .query_map([id], |r| {
                Ok((
                    OrderLineRecord {
                        id: r.get(0)?,
                        sku: r.get(1)?,
                        ean: r.get(2)?,
                        title: r.get(3)?,
                        image: r.get(4)?,
                        quantity: r.get(5)?,
                        unit_price: Money::new(r.get(6)?, currency),
                        discount: Money::new(r.get(7)?, currency),
                        product_tags: Vec::new(),
                    },
                    r.get::<_, String>(8)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .map(|(mut line, tags)| {
                line.product_tags = serde_json::from_str(&tags)?;
                Ok(line)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(OrderRecord {
            id: id.to_owned(),
            retailer_id,
            order_number,
            customer_name,
            email,
            created_at,
            country,
            tags: serde_json::from_str(&tags)?,
            subtotal: Money::new(minor.0, currency),
            discount: Money::new(minor.1, currency),
            total: Money::new(minor.2, currency),
            lines,
        }))
    }

    /// Which of `ids` are already in the store (one query for a whole import batch).
    pub fn existing_orders(&self, ids: &[&str]) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM orders WHERE id IN (SELECT value FROM json_each(?1))",
        )?;
        let rows = stmt
            .query_map([serde_json::to_string(ids)?], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

/// Projection of `ActionConfirmed`: whatever state the row was in, it is confirmed now.
///
/// `strict: false` for an outcome pulled from the central store (which dispatches when there is
/// one): this device may hold no row for the action (the central store or another device made
/// it due), and that is not an error. The same for the two below.
pub(crate) fn project_confirmed(
    tx: &Transaction<'_>,
    key: &IdempotencyKey,
    reference: &str,
    paid: Option<&returnhub_core::money::Money>,
    at: &str,
    strict: bool,
) -> Result<()> {
    let paid = paid.map(serde_json::to_string).transpose()?;
    let changed = tx
        .prepare_cached(
            "UPDATE outbox SET state = 'confirmed', reference = ?2, paid_json = ?4,
               next_attempt_at = NULL, updated_at = ?3
             WHERE topic = 'action' AND dedupe_key = ?1",
        )?
        .execute(params![key.as_str(), reference, at, paid])?;
    if changed != 1 && strict {
        return Err(StoreError::Invalid(format!(
            "action {key} is not in the outbox; cannot confirm it"
        )));
    }
    Ok(())
}

/// Projection of `ActionFailed`: a confirmed action never becomes failed.
pub(crate) fn project_failed(
    tx: &Transaction<'_>,
    key: &IdempotencyKey,
    reason: &str,
    at: &str,
    strict: bool,
) -> Result<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE outbox SET state = 'failed', last_error = ?2, next_attempt_at = NULL,
               updated_at = ?3
             WHERE topic = 'action' AND dedupe_key = ?1 AND state != 'confirmed'",
        )?
        .execute(params![key.as_str(), reason, at])?;
    if changed != 1 && strict {
        return Err(StoreError::Invalid(format!(
            "action {key} is confirmed or not in the outbox; cannot mark it failed"
        )));
    }
    Ok(())
}

/// Projection of `ActionRetried`: a failed action goes back through reconciliation (unknown,
/// due now, attempts counted afresh), so an effect that did happen is found, not repeated.
pub(crate) fn project_retried(
    tx: &Transaction<'_>,
    key: &IdempotencyKey,
    at: &str,
    strict: bool,
) -> Result<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE outbox SET state = 'unknown', attempts = 0, next_attempt_at = NULL,
               updated_at = ?2
             WHERE topic = 'action' AND dedupe_key = ?1 AND state = 'failed'",
        )?
        .execute(params![key.as_str(), at])?;
    if changed != 1 && strict {
        return Err(StoreError::Invalid(format!(
            "action {key} has not failed; there is nothing to retry"
        )));
    }
    Ok(())
}

/// `retailers` as the JSON array the outbox queries filter by (NULL: no filter).
fn retailer_filter(retailers: Option<&[String]>) -> Result<Option<String>> {
    Ok(match retailers {
        Some(ids) => Some(serde_json::to_string(ids)?),
        None => None,
    })
}

/// Projection of `ImportCheckpoint`.
pub(crate) fn project_checkpoint(
    tx: &Transaction<'_>,
    retailer_id: &str,
    stream: &str,
    cursor: Option<&str>,
    updated_since: Option<&str>,
    at: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO import_cursors (retailer_id, stream, cursor, updated_since, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (retailer_id, stream) DO UPDATE SET cursor = excluded.cursor,
           updated_since = coalesce(excluded.updated_since, updated_since),
           updated_at = excluded.updated_at",
    )?
    .execute(params![retailer_id, stream, cursor, updated_since, at])?;
    Ok(())
}
