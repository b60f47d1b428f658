//! Reads of retailer configuration and of the recent returns a rule-set dry run replays.
//! The rows are plain: the hub maps them into the domain's facts.

use returnhub_core::decision::RetailerPolicy;
use returnhub_core::money::{Currency, Money};
use returnhub_core::record::{
    QcReasonRecord, ReasonRecord, RetailerRecord, SubReasonRecord, UserRecord,
};
use returnhub_core::rules::RuleSet;
use rusqlite::{params, OptionalExtension};

use crate::{Result, Store, StoreError};

/// One order line, for refund arithmetic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLineRow {
    pub id: String,
    pub unit_price: Money,
    pub quantity: u32,
    pub discount: Money,
}

/// One returned item of a recent return, with its order's facts and its latest inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub return_id: String,
    pub item_id: String,
    pub return_created_at: String,
    pub reason_code: String,
    pub sub_reason_code: Option<String>,
    pub chosen_option: Option<String>,
    pub quantity: u32,
    pub order_id: String,
    pub order_created_at: String,
    pub country: String,
    pub order_tags: Vec<String>,
    pub order_discount: Money,
    pub order_total: Money,
    pub line_id: String,
    pub sku: String,
    pub unit_price: Money,
    pub product_tags: Vec<String>,
    pub qc: Option<String>,
    pub grade: Option<String>,
}

impl Store {
    /// Every retailer's whole configuration, in the order of [`Store::retailer_summaries`].
    pub fn retailer_records(&self) -> Result<Vec<RetailerRecord>> {
        let mut records = Vec::new();
        for summary in self.retailer_summaries()? {
            records.extend(self.retailer_record(&summary.id)?);
        }
        Ok(records)
    }

    /// The retailer's whole configuration as last recorded.
    pub fn retailer_record(&self, id: &str) -> Result<Option<RetailerRecord>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT name, currency, policy_json, rules_json, country
                 FROM retailers WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .optional()?;
        let Some((name, currency, policy, rules, country)) = row else {
            return Ok(None);
        };
        let currency: Currency = currency
            .parse()
            .map_err(|_| StoreError::Invalid(format!("retailer {id}: bad currency {currency}")))?;
        let policy: RetailerPolicy = serde_json::from_str(&policy)?;
        let rules: RuleSet = serde_json::from_str(&rules)?;

        let mut reasons: Vec<ReasonRecord> = self
            .conn
            .prepare_cached(
                "SELECT code, label, requires_evidence FROM return_reasons
                 WHERE retailer_id = ?1 ORDER BY position, code",
            )?
            .query_map([id], |r| {
                Ok(ReasonRecord {
                    code: r.get(0)?,
                    label: r.get(1)?,
                    requires_evidence: r.get(2)?,
                    sub_reasons: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        // Every sub-reason of the retailer in one query, not one per reason.
        let mut subs = self.conn.prepare_cached(
            "SELECT reason_code, code, label FROM return_sub_reasons
             WHERE retailer_id = ?1 ORDER BY position, code",
        )?;
        let mut rows = subs.query([id])?;
        while let Some(r) = rows.next()? {
            let reason_code: String = r.get(0)?;
            if let Some(reason) = reasons.iter_mut().find(|x| x.code == reason_code) {
                reason.sub_reasons.push(SubReasonRecord {
                    code: r.get(1)?,
                    label: r.get(2)?,
                });
            }
        }
        let qc_reasons = self
            .conn
            .prepare_cached(
                "SELECT code, label, requires_photo FROM qc_reasons
                 WHERE retailer_id = ?1 ORDER BY position, code",
            )?
            .query_map([id], |r| {
                Ok(QcReasonRecord {
                    code: r.get(0)?,
                    label: r.get(1)?,
                    requires_photo: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(RetailerRecord {
            id: id.to_string(),
            name,
            currency,
            country,
            policy,
            rules,
            reasons,
            qc_reasons,
        }))
    }

    /// Every item of the retailer's returns created at or after `since` (RFC 3339).
    pub fn history_rows(&self, retailer_id: &str, since: &str) -> Result<Vec<HistoryRow>> {
        self.item_rows(
            "WHERE r.retailer_id = ?1 AND r.created_at >= ?2",
            params![retailer_id, since],
        )
    }

    /// Every item of one return, with its order's facts and its latest inspection.
    pub fn return_item_rows(&self, return_id: &str) -> Result<Vec<HistoryRow>> {
        self.item_rows("WHERE r.id = ?1", params![return_id])
    }

    fn item_rows(&self, filter: &str, args: impl rusqlite::Params) -> Result<Vec<HistoryRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT r.id, i.id, r.created_at, i.reason_code, i.sub_reason_code, i.chosen_option,
                    i.quantity, o.id, o.created_at, o.country, o.currency, o.tags_json,
                    o.discount_minor, o.total_minor, l.id, l.sku, l.unit_price_minor,
                    l.product_tags_json,
                    (SELECT qc FROM inspections n WHERE n.return_item_id = i.id
                       AND n.undone_by IS NULL ORDER BY n.rowid DESC LIMIT 1),
                    (SELECT grade FROM inspections n WHERE n.return_item_id = i.id
                       AND n.undone_by IS NULL ORDER BY n.rowid DESC LIMIT 1)
             FROM returns r
             JOIN return_items i ON i.return_id = r.id
             JOIN orders o ON o.id = r.order_id
             JOIN order_lines l ON l.id = i.order_line_id
             {filter}
             ORDER BY r.created_at, r.id, i.id"
        ))?;
        let rows = stmt.query_map(args, |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, u32>(6)?,
                ),
                (
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, String>(10)?,
                    r.get::<_, String>(11)?,
                    r.get::<_, i64>(12)?,
                    r.get::<_, i64>(13)?,
                ),
                (
                    r.get::<_, String>(14)?,
                    r.get::<_, String>(15)?,
                    r.get::<_, i64>(16)?,
                    r.get::<_, String>(17)?,
                    r.get::<_, Option<String>>(18)?,
                    r.get::<_, Option<String>>(19)?,
                ),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                (
                    return_id,
                    item_id,
                    return_created_at,
                    reason_code,
                    sub_reason_code,
                    chosen_option,
                    quantity,
                ),
                (order_id, order_created_at, country, currency, tags, discount, total),
                (line_id, sku, unit_price, product_tags, qc, grade),
            ) = row?;
            let currency: Currency = currency
                .parse()
                .map_err(|_| StoreError::Invalid(format!("order {order_id}: bad currency")))?;
            out.push(HistoryRow {
                return_id,
                item_id,
                return_created_at,
                reason_code,
                sub_reason_code,
                chosen_option,
                quantity,
                order_id,
                order_created_at,
                country,
                order_tags: serde_json::from_str(&tags)?,
                order_discount: Money::new(discount, currency),
                order_total: Money::new(total, currency),
                line_id,
                sku,
                unit_price: Money::new(unit_price, currency),
                product_tags: serde_json::from_str(&product_tags)?,
                qc,
                grade,
            });
        }
        Ok(out)
    }

    /// All lines of an order, in a stable order.
    /// What earlier returns of an order already refunded or credited per order line
    /// (amount in minor units, quantity), from those returns' current decisions.
    pub fn already_refunded(
        &self,
        order_id: &str,
        except_return: &str,
    ) -> Result<std::collections::HashMap<String, (i64, u32)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT i.order_line_id, sum(d.amount_minor), sum(i.quantity)
             FROM decisions d
             JOIN return_items i ON i.id = d.return_item_id
             JOIN returns r ON r.id = i.return_id
             WHERE r.order_id = ?1 AND r.id <> ?2 AND d.amount_minor IS NOT NULL
               AND d.rowid = (SELECT max(e.rowid) FROM decisions e WHERE e.return_item_id = d.return_item_id)
             GROUP BY i.order_line_id",
        )?;
        let rows = stmt.query_map(params![order_id, except_return], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get::<_, i64>(1)?, r.get::<_, u32>(2)?),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn order_lines(&self, order_id: &str) -> Result<Vec<OrderLineRow>> {
        let currency: String = self.conn.query_row(
            "SELECT currency FROM orders WHERE id = ?1",
            [order_id],
            |r| r.get(0),
        )?;
        let currency: Currency = currency
            .parse()
            .map_err(|_| StoreError::Invalid(format!("order {order_id}: bad currency")))?;
        let rows = self
            .conn
            .prepare_cached(
                "SELECT id, unit_price_minor, quantity, discount_minor FROM order_lines
                 WHERE order_id = ?1 ORDER BY id",
            )?
            .query_map([order_id], |r| {
                Ok(OrderLineRow {
                    id: r.get(0)?,
                    unit_price: Money::new(r.get(1)?, currency),
                    quantity: r.get(2)?,
                    discount: Money::new(r.get(3)?, currency),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

/// A user as the sign-in check needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub pin_hash: String,
    pub role: returnhub_core::auth::Role,
    pub active: bool,
    pub must_change_pin: bool,
}

impl Store {
    /// When `badge`'s refused sign-ins since `since_ms` happened, oldest first.
    pub fn sign_in_failures(&self, badge: &str, since_ms: i64) -> Result<Vec<i64>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at_ms FROM sign_in_failures WHERE badge = ?1 AND at_ms >= ?2 ORDER BY at_ms",
        )?;
        let rows = stmt.query_map(params![badge, since_ms], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every badge refused at least `count` times since `since_ms`, with its latest refusal.
    pub fn badges_refused(&self, since_ms: i64, count: u32) -> Result<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT badge, max(at_ms) FROM sign_in_failures WHERE at_ms >= ?1
             GROUP BY badge HAVING count(*) >= ?2",
        )?;
        let rows = stmt.query_map(params![since_ms, count], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether anyone at all is enrolled: a store with nobody in it is set up first.
    pub fn has_users(&self) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
    }

    /// Every enrolled person's whole record (hash included: the hub's people admin rebuilds
    /// a record from it), ordered by name.
    pub fn users(&self) -> Result<Vec<UserRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, badge, pin_hash, role, active, must_change_pin FROM users
             ORDER BY name COLLATE NOCASE, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, bool>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, badge, pin_hash, role, active, must_change_pin) = row?;
            let role = returnhub_core::auth::Role::parse(&role)
                .ok_or_else(|| StoreError::Invalid(format!("user {id}: bad role {role}")))?;
            out.push(UserRecord {
                id,
                name,
                badge,
                pin_hash,
                role,
                active,
                must_change_pin,
            });
        }
        Ok(out)
    }

    /// The user whose badge (or id) is `badge`.
    pub fn user_by_badge(&self, badge: &str) -> Result<Option<UserRow>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT id, name, pin_hash, role, active, must_change_pin FROM users
                 WHERE badge = ?1 OR id = ?1
                 ORDER BY badge = ?1 DESC LIMIT 1",
            )?
            .query_row([badge], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            })
            .optional()?;
        row.map(|(id, name, pin_hash, role, active, must_change_pin)| {
            let role = returnhub_core::auth::Role::parse(&role)
                .ok_or_else(|| StoreError::Invalid(format!("user {id}: bad role {role}")))?;
            Ok(UserRow {
                id,
                name,
                pin_hash,
                role,
                active,
                must_change_pin,
            })
        })
        .transpose()
    }
}
