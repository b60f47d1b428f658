//! Finding past returns for supervisors: by a key (a connote, an order number, a customer's
//! email, an item's SKU or EAN), a retailer, a status, the day of the last change and a person
//! who worked on it, newest change first or oldest, a page at a time. Every key is an exact
//! match on an index (migration 0013), so a search over a million returns reads only the
//! returns it finds.

use returnhub_core::model::ReturnStatus;
use rusqlite::types::Value;

use crate::{Result, Store};

/// What a supervisor searches for; every part given narrows the search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnQuery {
    /// A connote, an order number ("1042" or "#1042"), an email, or a SKU / EAN, as typed
    /// (SKUs and order names keep their case).
    pub key: Option<String>,
    /// The key as a connote reads (a keyboard wedge's case and spaces undone); the key itself
    /// when `None`.
    pub connote_form: Option<String>,
    pub retailer_id: Option<String>,
    pub status: Option<ReturnStatus>,
    /// RFC 3339 bounds on the return's last change: from (inclusive), until (exclusive).
    pub changed_from: Option<String>,
    pub changed_until: Option<String>,
    /// A person (user id) who recorded any event of the return.
    pub actor: Option<String>,
    pub oldest_first: bool,
    pub limit: u32,
    pub offset: u32,
}

/// The returns a key matches: `?1` the key as typed, `?2` it as an order number with its '#',
/// `?3` it as a scanner would read a connote.
const KEY_MATCHES: &str = "SELECT return_id FROM connotes WHERE connote = ?3
     UNION SELECT r2.id FROM orders o2 JOIN returns r2 ON r2.order_id = o2.id
           WHERE o2.order_number IN (?1, ?2)
     UNION SELECT r2.id FROM orders o2 JOIN returns r2 ON r2.order_id = o2.id
           WHERE o2.email = ?1 COLLATE NOCASE
     UNION SELECT i.return_id FROM order_lines l JOIN return_items i ON i.order_line_id = l.id
           WHERE l.sku = ?1
     UNION SELECT i.return_id FROM order_lines l JOIN return_items i ON i.order_line_id = l.id
           WHERE l.ean = ?1";

/// Above this many returns a key is common: it is checked per return, and the total is
/// counted only this far.
pub const COMMON_KEY: i64 = 10_000;

/// One page of a search and how many it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    pub hits: Vec<ReturnHit>,
    pub total: u64,
    /// The key is on more returns than [`COMMON_KEY`]: `total` is a lower bound.
    pub at_least: bool,
}

/// A return found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnHit {
    pub return_id: String,
    pub status: String,
    pub retailer: String,
    pub order_number: String,
    pub customer_name: String,
    pub email: String,
    /// The return's first connote (its AWB), if it has one.
    pub connote: Option<String>,
    pub items: u32,
    pub created_at: String,
    pub updated_at: String,
    /// The hub whose return it is (another than this one's once handed over).
    pub hub_id: String,
}

impl Store {
    /// One page of the returns `query` finds, with how many it finds in all.
    pub fn search_returns(&self, query: &ReturnQuery) -> Result<SearchResult> {
        let mut filters: Vec<&str> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        let mut arg = |v: String| {
            args.push(Value::Text(v));
            args.len()
        };
        let mut key_filter = String::new();
        let mut key_is_common = false;
        if let Some(key) = query
            .key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            let hashed = format!("#{}", key.trim_start_matches('#'));
            let connote = query.connote_form.clone().unwrap_or_else(|| key.to_owned());
            // A rare key (a connote, an order, most SKUs) is looked up first and the page
            // read from its few returns; a key on many returns (a best-selling SKU) is checked
            // per return while the pages are read newest first, which stops after a page.
            let found: i64 = self
                .conn
                .prepare_cached(&format!(
                    "SELECT count(*) FROM ({} LIMIT ?4)",
                    // Without the deduplication: it stops at the limit.
                    KEY_MATCHES.replace("UNION SELECT", "UNION ALL SELECT")
                ))?
                .query_row(
                    rusqlite::params![key, hashed, connote, COMMON_KEY + 1],
                    |r| r.get(0),
                )?;
            key_is_common = found > COMMON_KEY;
            // The key's three parameters are the statement's first: ?1, ?2, ?3.
            arg(key.to_owned());
            arg(hashed);
            arg(connote);
            key_filter = if key_is_common {
                "(EXISTS (SELECT 1 FROM connotes c WHERE c.return_id = r.id AND c.connote = ?3)
                  OR EXISTS (SELECT 1 FROM orders o2 WHERE o2.id = r.order_id
                             AND (o2.order_number IN (?1, ?2) OR o2.email = ?1 COLLATE NOCASE))
                  OR EXISTS (SELECT 1 FROM return_items i
                             JOIN order_lines l ON l.id = i.order_line_id
                             WHERE i.return_id = r.id AND (l.sku = ?1 OR l.ean = ?1)))"
                    .to_owned()
            } else {
                format!("r.id IN ({KEY_MATCHES})")
            };
        }
        let retailer = query
            .retailer_id
            .clone()
            .map(|v| format!("r.retailer_id = ?{}", arg(v)));
        let status = query
            .status
            .map(|s| format!("r.status = ?{}", arg(s.as_str().to_owned())));
        let from = query
            .changed_from
            .clone()
            .map(|v| format!("r.updated_at >= ?{}", arg(v)));
        let until = query
            .changed_until
            .clone()
            .map(|v| format!("r.updated_at < ?{}", arg(v)));
        let actor = query.actor.clone().map(|v| {
            format!(
                "EXISTS (SELECT 1 FROM events e WHERE e.aggregate_id = r.id AND e.actor = ?{})",
                arg(v)
            )
        });
        if !key_filter.is_empty() {
            filters.push(&key_filter);
        }
        for f in [&retailer, &status, &from, &until, &actor]
            .into_iter()
            .flatten()
        {
            filters.push(f);
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filters.join(" AND "))
        };
        // Counted in full, but for a common key: "more than COMMON_KEY" is all it says then.
        let total: i64 = if key_is_common {
            self.conn
                .prepare_cached(&format!(
                    "SELECT count(*) FROM (SELECT 1 FROM returns r {filter} LIMIT {})",
                    COMMON_KEY + 1
                ))?
                .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?
        } else {
            self.conn
                .prepare_cached(&format!("SELECT count(*) FROM returns r {filter}"))?
                .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?
        };
        let order = if query.oldest_first { "ASC" } else { "DESC" };
        let limit = arg_number(&mut args, query.limit.clamp(1, 500));
        let offset = arg_number(&mut args, query.offset);
        // Cached by its text: a supervisor's searches repeat a few shapes of filter.
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT r.id, r.status, t.name, o.order_number, o.customer_name, o.email,
                    (SELECT connote FROM connotes c WHERE c.return_id = r.id
                     ORDER BY c.position, c.connote LIMIT 1),
                    (SELECT count(*) FROM return_items i WHERE i.return_id = r.id),
                    r.created_at, r.updated_at, r.hub_id
             FROM returns r JOIN orders o ON o.id = r.order_id
             JOIN retailers t ON t.id = r.retailer_id
             {filter}
             ORDER BY r.updated_at {order}, r.id {order}
             LIMIT ?{limit} OFFSET ?{offset}"
        ))?;
        let hits = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok(ReturnHit {
                    return_id: r.get(0)?,
                    status: r.get(1)?,
                    retailer: r.get(2)?,
                    order_number: r.get(3)?,
                    customer_name: r.get(4)?,
                    email: r.get(5)?,
                    connote: r.get(6)?,
                    items: r.get(7)?,
                    created_at: r.get(8)?,
                    updated_at: r.get(9)?,
                    hub_id: r.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(SearchResult {
            hits,
            total: total.max(0) as u64,
            at_least: key_is_common && total > COMMON_KEY,
        })
    }
}

fn arg_number(args: &mut Vec<Value>, n: u32) -> usize {
    args.push(Value::Integer(i64::from(n)));
    args.len()
}
