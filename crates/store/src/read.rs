//! Read models the bench asks for. Every query here is a point lookup on an index: the bench
//! must answer a scan in well under a millisecond on a store of a million returns.

use returnhub_core::decision::ReturnOption;
use returnhub_core::model::{RetailerSummary, ReturnItemView, ReturnStatus, ReturnView};
use returnhub_core::money::{Currency, Money};
use returnhub_core::trigger::Trigger;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{Result, Store, StoreError};

/// A connote from the store with the return's status and hub, to show newcomers what to scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DemoConnote {
    pub connote: String,
    pub status: ReturnStatus,
    pub hub_id: String,
    pub retailer: String,
    pub items: u32,
}

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Invalid(format!("stored {what} '{value}' is not valid"))
}

impl Store {
    /// The return a normalised connote belongs to, with everything the bench shows.
    pub fn return_by_connote(&self, connote: &str) -> Result<Option<ReturnView>> {
        self.return_view(VIEW_BY_CONNOTE, connote)
    }

    /// The return with this id, as [`Store::return_by_connote`] shows it.
    pub fn return_by_id(&self, return_id: &str) -> Result<Option<ReturnView>> {
        self.return_view(
            "FROM returns r JOIN retailers t ON t.id = r.retailer_id
             JOIN orders o ON o.id = r.order_id
             WHERE r.id = ?1",
            return_id,
        )
    }

    fn return_view(&self, from_where: &str, key: &str) -> Result<Option<ReturnView>> {
        return_view_on(&self.conn, from_where, key)
    }
}

impl crate::write::WriteTx<'_> {
    /// The return's actions as this transaction sees them: (key, state, payload), as
    /// [`Store::actions_of`] lists them. Read inside the write, no dispatcher can move one
    /// between the read and what the write does with it.
    pub fn actions_of(&self, return_id: &str) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT dedupe_key, state, payload FROM outbox
             WHERE topic = 'action' AND json_extract(payload, '$.return_id') = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([return_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// [`Store::return_by_id`] as this transaction sees it (with what it appended so far).
    pub fn return_by_id(&self, return_id: &str) -> Result<Option<ReturnView>> {
        return_view_on(
            &self.tx,
            "FROM returns r JOIN retailers t ON t.id = r.retailer_id
             JOIN orders o ON o.id = r.order_id
             WHERE r.id = ?1",
            return_id,
        )
    }
}

/// A return's connotes in the order they were recorded (its own, then any attached at the
/// bench); rows from before that order was kept come first, by connote.
pub(crate) fn connotes_on(conn: &rusqlite::Connection, return_id: &str) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached(VIEW_CONNOTES)?
        .query_map([return_id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?)
}

impl Store {
    /// The return's connotes in the order they were recorded.
    pub fn connotes_of(&self, return_id: &str) -> Result<Vec<String>> {
        connotes_on(&self.conn, return_id)
    }
}

// A return's view is these reads; the lookup benchmark times them bare as its baseline.
/// The view's head: the return with its retailer and order (a FROM … WHERE follows).
pub const VIEW_HEAD: &str = "SELECT r.id, r.hub_id, r.status, t.id, t.name, t.trigger_stage,
        o.order_number, o.customer_name, o.email, o.currency";
/// The head's FROM … WHERE for a connote (?1).
pub const VIEW_BY_CONNOTE: &str = "FROM connotes c JOIN returns r ON r.id = c.return_id
     JOIN retailers t ON t.id = r.retailer_id
     JOIN orders o ON o.id = r.order_id
     WHERE c.connote = ?1";
/// The return's (?1) connotes, in the order they were recorded.
pub const VIEW_CONNOTES: &str =
    "SELECT connote FROM connotes WHERE return_id = ?1 ORDER BY position, connote";
/// The return's (?1) items with their order lines and the retailer's (?2) reason labels.
pub const VIEW_ITEMS: &str = "SELECT i.id, l.sku, l.ean, l.title, l.image, i.quantity,
        l.unit_price_minor, COALESCE(rr.label, i.reason_code), sr.label, i.comment,
        i.chosen_option
     FROM return_items i
     JOIN order_lines l ON l.id = i.order_line_id
     LEFT JOIN return_reasons rr ON rr.retailer_id = ?2 AND rr.code = i.reason_code
     LEFT JOIN return_sub_reasons sr ON sr.retailer_id = ?2
          AND sr.reason_code = i.reason_code AND sr.code = i.sub_reason_code
     WHERE i.return_id = ?1
     ORDER BY i.id";

fn return_view_on(
    conn: &rusqlite::Connection,
    from_where: &str,
    key: &str,
) -> Result<Option<ReturnView>> {
    let head = conn
        .prepare_cached(&format!("{VIEW_HEAD} {from_where}"))?
        .query_row([key], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, String>(9)?,
            ))
        })
        .optional()?;
    let Some((
        id,
        hub_id,
        status,
        retailer_id,
        retailer_name,
        trigger,
        order_number,
        customer_name,
        email,
        currency,
    )) = head
    else {
        return Ok(None);
    };
    let status = ReturnStatus::parse(&status).ok_or_else(|| bad("status", &status))?;
    let trigger = Trigger::parse(&trigger).ok_or_else(|| bad("trigger", &trigger))?;
    let currency: Currency = currency.parse().map_err(|_| bad("currency", &currency))?;

    let connotes = connotes_on(conn, &id)?;

    let mut items_stmt = conn.prepare_cached(VIEW_ITEMS)?;
    let items = items_stmt
        .query_map(params![id, retailer_id], |r| {
            let chosen: Option<String> = r.get(10)?;
            Ok(ReturnItemView {
                id: r.get(0)?,
                sku: r.get(1)?,
                ean: r.get(2)?,
                title: r.get(3)?,
                image: r.get(4)?,
                quantity: r.get(5)?,
                unit_price: Money::new(r.get(6)?, currency),
                reason: r.get(7)?,
                sub_reason: r.get(8)?,
                comment: r.get(9)?,
                chosen_option: chosen.as_deref().and_then(ReturnOption::parse),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    Ok(Some(ReturnView {
        id,
        retailer: RetailerSummary {
            id: retailer_id,
            name: retailer_name,
            trigger,
        },
        hub_id,
        order_number,
        customer_name,
        customer_email: email,
        status,
        connotes,
        items,
    }))
}

impl Store {
    /// Up to `per_status` connotes for each status, in a stable order.
    pub fn sample_connotes(&self, per_status: u32) -> Result<Vec<DemoConnote>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT connote, status, hub_id, retailer, items FROM (
                 SELECT c.connote, r.status, r.hub_id, t.name AS retailer,
                        (SELECT count(*) FROM return_items i WHERE i.return_id = r.id) AS items,
                        row_number() OVER (PARTITION BY r.status, r.hub_id ORDER BY c.connote) AS n
                 FROM connotes c JOIN returns r ON r.id = c.return_id
                 JOIN retailers t ON t.id = r.retailer_id)
             WHERE n <= ?1
             ORDER BY CASE status WHEN 'expected' THEN 0 WHEN 'in_transit' THEN 1
                        WHEN 'processed' THEN 2 WHEN 'closed' THEN 3 ELSE 4 END,
                      hub_id, connote",
        )?;
        let rows = stmt.query_map([per_status], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (connote, status, hub_id, retailer, items) = row?;
            out.push(DemoConnote {
                connote,
                status: ReturnStatus::parse(&status).ok_or_else(|| bad("status", &status))?,
                hub_id,
                retailer,
                items,
            });
        }
        Ok(out)
    }

    /// Whether any retailer is configured; an index probe, not a count, so start-up stays
    /// fast on a store of millions of returns.
    pub fn has_retailers(&self) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM retailers)", [], |r| r.get(0))?)
    }
}

impl Store {
    /// Every retailer on this hub, by name.
    pub fn retailer_summaries(&self) -> Result<Vec<RetailerSummary>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name, trigger_stage FROM retailers ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, trigger) = row?;
            out.push(RetailerSummary {
                id,
                name,
                trigger: Trigger::parse(&trigger).ok_or_else(|| bad("trigger", &trigger))?,
            });
        }
        Ok(out)
    }
}
