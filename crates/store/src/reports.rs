//! The supervisors' reports, from the local store (so they work offline): throughput, dock-to-
//! stock times, return reasons, QC outcomes, grades and dispositions, money by action, open
//! exceptions by age and actions that failed or whose outcome is unknown.
//!
//! Everything return-based counts the returns *processed* in the period (by the person and at
//! the station that processed them); throughput also counts parcels *received*, and money also
//! what was *confirmed* in the period. They read `report_counts` and `return_milestones`
//! (migration 0014), which the projection keeps for local and synced events alike: a report
//! over a million returns reads a few thousand counters, not the rows they count. Counters
//! are by the UTC quarter hour (migration 0016): a bound inside a quarter hour counts that
//! whole quarter, and a station's local day is a range of whole quarters in every zone (India's
//! +5:30 and Nepal's +5:45 included).

use returnhub_core::model::ReturnStatus;
use returnhub_core::record::ReturnRecord;
use returnhub_core::trigger::ActionDue;
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::{Result, Store};

/// SQL for the quarter hour an RFC 3339 UTC time falls in, as counters key it:
/// `YYYY-MM-DDTHH:MM` with MM one of 00, 15, 30, 45 (`quarter_of!("m.received_at")`).
macro_rules! quarter_of {
    ($at:literal) => {
        concat!(
            "(substr(",
            $at,
            ", 1, 14) || printf('%02d', CAST(substr(",
            $at,
            ", 15, 2) AS INTEGER) / 15 * 15))"
        )
    };
}

/// What a report covers; every part given narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportQuery {
    /// RFC 3339 bounds: from (inclusive), until (exclusive).
    pub from: Option<String>,
    pub until: Option<String>,
    pub retailer_id: Option<String>,
    /// The person (user id) who received / processed.
    pub actor: Option<String>,
    pub station: Option<String>,
    /// The station's offset from UTC in minutes: the hours of the hourly table are its.
    pub hour_offset_minutes: i32,
}

/// Parcels received, returns processed and their items, for one hour, person or station.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThroughputRow {
    /// `YYYY-MM-DDTHH` (the station's local hour), a user id or a station id; "" when not
    /// recorded.
    pub key: String,
    pub received: u64,
    pub processed: u64,
    pub items: u64,
}

/// How long returns processed in the period took between two milestones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRow {
    /// received_to_processed, processed_to_confirmed, received_to_confirmed.
    pub span: &'static str,
    /// Returns that reached both milestones.
    pub returns: u64,
    pub p50_ms: i64,
    pub p90_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
}

/// Items returned for one reason and sub-reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonRow {
    pub retailer_id: String,
    pub reason_code: String,
    pub reason_label: String,
    pub sub_reason_code: Option<String>,
    pub sub_reason_label: Option<String>,
    pub items: u64,
    pub quantity: u64,
}

/// Items inspected with one QC result and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QcRow {
    /// pass, fail, or "" (found without a QC result, or missing).
    pub qc: String,
    pub presence: String,
    pub qc_reason: Option<String>,
    pub qc_reason_label: Option<String>,
    pub items: u64,
}

/// Items inspected with one grade and disposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeRow {
    pub grade: Option<String>,
    pub disposition: Option<String>,
    pub items: u64,
}

/// Actions of one kind and currency: made due for the returns processed in the period, and
/// confirmed in the period (whoever processed them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MoneyRow {
    /// refund, credit_note, exchange, tag_order, partner_update.
    pub action: String,
    /// ISO 4217, or "" for an action without an amount.
    pub currency: String,
    pub due: u64,
    pub due_minor: i64,
    pub confirmed: u64,
    pub confirmed_minor: i64,
}

/// Returns made for a hub (uploaded, sent by a partner, opened at a bench) in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub retailer_id: String,
    /// Where it came from: the Upload API's partner source, `portal`, `returns_prime`,
    /// `orphan_intake`, …
    pub source: String,
    pub hub_id: String,
    pub returns: u64,
}

/// Returns a hub expects that have not reached it, of one retailer and status, by how long
/// ago they were made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwaitedRow {
    pub retailer_id: String,
    /// expected or in_transit.
    pub status: String,
    pub under_1d: u64,
    pub under_3d: u64,
    pub under_7d: u64,
    pub under_14d: u64,
    pub older: u64,
}

/// A row of a partner's upload that the central store refused, as it told this hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRow {
    pub received_at: String,
    pub retailer_id: String,
    pub source: String,
    pub row: i64,
    pub consignment_no: String,
    pub order_number: String,
    pub sku: String,
    pub hub_id: String,
    /// "Field: reason; …" as the uploader was told.
    pub errors: String,
}

/// At most this many refused upload rows are listed (the newest first).
pub const REFUSED_LIMIT: u32 = 200;

/// Open exceptions of one kind by how long they have been open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExceptionAgeRow {
    pub kind: String,
    pub under_1h: u64,
    pub under_8h: u64,
    pub under_24h: u64,
    pub under_7d: u64,
    pub older: u64,
}

/// An action that failed or whose outcome is unknown: a supervisor's to-do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TroubledActionRow {
    pub key: String,
    pub return_id: String,
    pub retailer_id: String,
    pub action: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub updated_at: String,
}

/// At most this many troubled actions are listed (the oldest first).
pub const TROUBLED_LIMIT: u32 = 500;

/// The WHERE clause over `c` (report_counts) for `measure` in the period, with the arguments
/// it binds. `by_person`: whether the person and station filters apply.
fn counts_filter(q: &ReportQuery, measure: &str, by_person: bool) -> (String, Vec<Value>) {
    let mut clauses = vec![format!("c.measure = '{measure}'")];
    let mut args = Vec::new();
    let mut bind = |clause: &str, v: &str| {
        args.push(Value::Text(v.to_owned()));
        clauses.push(clause.replace('?', &format!("?{}", args.len())));
    };
    // Counters are by the quarter hour: a bound inside one counts that whole quarter.
    if let Some(from) = &q.from {
        bind("c.period >= ?", &quarter_bound(from, false));
    }
    if let Some(until) = &q.until {
        bind("c.period < ?", &quarter_bound(until, true));
    }
    if let Some(r) = &q.retailer_id {
        bind("c.retailer_id = ?", r);
    }
    if by_person {
        if let Some(a) = &q.actor {
            bind("c.actor = ?", a);
        }
        if let Some(s) = &q.station {
            bind("c.station = ?", s);
        }
    }
    (clauses.join(" AND "), args)
}

/// A bound at the counters' precision (YYYY-MM-DDTHH:MM, a quarter hour, UTC): the quarter
/// `at` falls in, or for an exclusive upper bound (`upper`) the next one unless `at` is its
/// very start. Text that is not a time is compared as it is.
fn quarter_bound(at: &str, upper: bool) -> String {
    const QUARTER_MS: i64 = 15 * 60_000;
    let Some(ms) = returnhub_core::time::parse_rfc3339(at) else {
        return at.to_owned();
    };
    let start = ms.div_euclid(QUARTER_MS) * QUARTER_MS;
    let bound = if upper && start != ms {
        start + QUARTER_MS
    } else {
        start
    };
    returnhub_core::time::rfc3339(bound)[..16].to_owned()
}

/// The rank-`p` percentile (nearest rank) of sorted `values`.
fn percentile(sorted: &[i64], p: u32) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// The stations this hub has configured, by id.
    pub fn station_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM stations ORDER BY id")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    /// Parcels received, returns processed and their items, by `group`: "hour" (the local
    /// hour at the query's `hour_offset_minutes`, YYYY-MM-DDTHH), "actor" or "station", in key
    /// order.
    pub fn report_throughput(&self, q: &ReportQuery, group: &str) -> Result<Vec<ThroughputRow>> {
        let local_hour = format!(
            "strftime('%Y-%m-%dT%H', c.period || ':00', '{:+} minutes')",
            q.hour_offset_minutes
        );
        let key = match group {
            "hour" => local_hour.as_str(),
            "actor" => "c.actor",
            _ => "c.station",
        };
        let mut rows: std::collections::BTreeMap<String, ThroughputRow> = Default::default();
        for measure in ["received", "processed"] {
            let (filter, args) = counts_filter(q, measure, true);
            let sql = format!(
                "SELECT {key}, sum(c.n), sum(c.amount) FROM report_counts c
                 WHERE {filter} GROUP BY 1 HAVING sum(c.n) != 0"
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut found = stmt.query(rusqlite::params_from_iter(args))?;
            while let Some(r) = found.next()? {
                let key: String = r.get(0)?;
                let row = rows.entry(key.clone()).or_insert_with(|| ThroughputRow {
                    key,
                    ..Default::default()
                });
                if measure == "received" {
                    row.received = count(r.get(1)?);
                } else {
                    row.processed = count(r.get(1)?);
                    row.items = count(r.get(2)?);
                }
            }
        }
        Ok(rows.into_values().collect())
    }

    /// Dock-to-stock: received → processed → an action confirmed, as percentiles over the
    /// returns processed in the period (to the millisecond: from the milestones' index).
    pub fn report_spans(&self, q: &ReportQuery) -> Result<Vec<SpanRow>> {
        let mut clauses = vec!["m.processed_at IS NOT NULL".to_owned()];
        let mut args = Vec::new();
        let mut bind = |clause: &str, v: &str| {
            args.push(Value::Text(v.to_owned()));
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(from) = &q.from {
            bind("m.processed_at >= ?", from);
        }
        if let Some(until) = &q.until {
            bind("m.processed_at < ?", until);
        }
        if let Some(r) = &q.retailer_id {
            bind("m.retailer_id = ?", r);
        }
        if let Some(a) = &q.actor {
            bind("m.processed_by = ?", a);
        }
        if let Some(s) = &q.station {
            bind("m.processed_station = ?", s);
        }
        let sql = format!(
            "SELECT m.received_at, m.processed_at, m.confirmed_at FROM return_milestones m
             INDEXED BY return_milestones_by_processed WHERE {}",
            clauses.join(" AND ")
        );
        let at = |t: Option<String>| t.and_then(|t| returnhub_core::time::parse_rfc3339(&t));
        let mut spans: [Vec<i64>; 3] = Default::default();
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut found = stmt.query(rusqlite::params_from_iter(args))?;
        while let Some(r) = found.next()? {
            let (received, processed, confirmed) = (at(r.get(0)?), at(r.get(1)?), at(r.get(2)?));
            for (i, pair) in [
                (received, processed),
                (processed, confirmed),
                (received, confirmed),
            ]
            .into_iter()
            .enumerate()
            {
                if let (Some(a), Some(b)) = pair {
                    // A milestone before the one it follows (clocks of two devices apart)
                    // counts as no time rather than as a negative one.
                    spans[i].push((b - a).max(0));
                }
            }
        }
        Ok([
            "received_to_processed",
            "processed_to_confirmed",
            "received_to_confirmed",
        ]
        .into_iter()
        .zip(spans)
        .map(|(span, mut v)| {
            v.sort_unstable();
            SpanRow {
                span,
                returns: v.len() as u64,
                p50_ms: percentile(&v, 50),
                p90_ms: percentile(&v, 90),
                p99_ms: percentile(&v, 99),
                max_ms: v.last().copied().unwrap_or(0),
            }
        })
        .collect())
    }

    /// The items of the returns processed in the period by reason and sub-reason, most first.
    pub fn report_reasons(&self, q: &ReportQuery) -> Result<Vec<ReasonRow>> {
        let (filter, args) = counts_filter(q, "reason", true);
        let sql = format!(
            "SELECT t.retailer_id, t.k1, coalesce(rr.label, t.k1), nullif(t.k2, ''), sr.label,
                    t.n, t.amount
             FROM (SELECT c.retailer_id, c.k1, c.k2, sum(c.n) AS n, sum(c.amount) AS amount
                   FROM report_counts c WHERE {filter} GROUP BY 1, 2, 3 HAVING sum(c.n) != 0) t
             LEFT JOIN return_reasons rr ON rr.retailer_id = t.retailer_id AND rr.code = t.k1
             LEFT JOIN return_sub_reasons sr ON sr.retailer_id = t.retailer_id
                  AND sr.reason_code = t.k1 AND sr.code = t.k2
             ORDER BY t.n DESC, 1, 2, 4"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(ReasonRow {
                    retailer_id: r.get(0)?,
                    reason_code: r.get(1)?,
                    reason_label: r.get(2)?,
                    sub_reason_code: r.get(3)?,
                    sub_reason_label: r.get(4)?,
                    items: count(r.get(5)?),
                    quantity: count(r.get(6)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The inspections (not undone) of the returns processed in the period by QC result and
    /// reason, most first.
    pub fn report_qc(&self, q: &ReportQuery) -> Result<Vec<QcRow>> {
        let (filter, args) = counts_filter(q, "qc", true);
        let retailer = q.retailer_id.clone().unwrap_or_default();
        let sql = format!(
            "SELECT t.k1, t.k2, nullif(t.k3, ''),
                    (SELECT label FROM qc_reasons qr WHERE qr.code = t.k3
                       AND (?{n} = '' OR qr.retailer_id IN (?{n}, ''))
                     ORDER BY qr.retailer_id = ?{n} DESC, qr.retailer_id = '' DESC LIMIT 1),
                    t.n
             FROM (SELECT c.k1, c.k2, c.k3, sum(c.n) AS n FROM report_counts c WHERE {filter}
                   GROUP BY 1, 2, 3 HAVING sum(c.n) != 0) t
             ORDER BY t.n DESC, 1, 2, 3",
            n = args.len() + 1
        );
        let mut args = args;
        args.push(Value::Text(retailer));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(QcRow {
                    qc: r.get(0)?,
                    presence: r.get(1)?,
                    qc_reason: r.get(2)?,
                    qc_reason_label: r.get(3)?,
                    items: count(r.get(4)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The items found (inspections not undone) in the returns processed in the period by
    /// grade and disposition, most first.
    pub fn report_grades(&self, q: &ReportQuery) -> Result<Vec<GradeRow>> {
        let (filter, args) = counts_filter(q, "grade", true);
        let sql = format!(
            "SELECT nullif(c.k1, ''), nullif(c.k2, ''), sum(c.n) FROM report_counts c
             WHERE {filter} GROUP BY c.k1, c.k2 HAVING sum(c.n) != 0 ORDER BY 3 DESC, 1, 2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(GradeRow {
                    grade: r.get(0)?,
                    disposition: r.get(1)?,
                    items: count(r.get(2)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Actions by kind and currency: due for the returns processed in the period, and
    /// confirmed in the period (the person and station filters do not apply to those).
    pub fn report_money(&self, q: &ReportQuery) -> Result<Vec<MoneyRow>> {
        let mut rows: std::collections::BTreeMap<(String, String), MoneyRow> = Default::default();
        for (measure, by_person) in [("due", true), ("confirmed", false)] {
            let (filter, args) = counts_filter(q, measure, by_person);
            let sql = format!(
                "SELECT c.k1, c.k2, sum(c.n), sum(c.amount) FROM report_counts c
                 WHERE {filter} GROUP BY 1, 2 HAVING sum(c.n) != 0"
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut found = stmt.query(rusqlite::params_from_iter(args))?;
            while let Some(r) = found.next()? {
                let (action, currency): (String, String) = (r.get(0)?, r.get(1)?);
                let row = rows
                    .entry((action.clone(), currency.clone()))
                    .or_insert_with(|| MoneyRow {
                        action,
                        currency,
                        ..Default::default()
                    });
                if measure == "due" {
                    row.due = count(r.get(2)?);
                    row.due_minor = r.get(3)?;
                } else {
                    row.confirmed = count(r.get(2)?);
                    row.confirmed_minor = r.get(3)?;
                }
            }
        }
        Ok(rows.into_values().collect())
    }

    /// The returns made in the period by retailer, source and hub, most first.
    pub fn report_uploads(&self, q: &ReportQuery) -> Result<Vec<UploadRow>> {
        let (filter, args) = counts_filter(q, "expected", false);
        let sql = format!(
            "SELECT c.retailer_id, c.k1, c.k2, sum(c.n) FROM report_counts c WHERE {filter}
             GROUP BY 1, 2, 3 HAVING sum(c.n) != 0 ORDER BY 4 DESC, 1, 2, 3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(UploadRow {
                    retailer_id: r.get(0)?,
                    source: r.get(1)?,
                    hub_id: r.get(2)?,
                    returns: count(r.get(3)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The rows the central store refused in the period (it sends those of this hub's
    /// retailers), newest first, at most [`REFUSED_LIMIT`]; and how many in all.
    pub fn report_refused_uploads(&self, q: &ReportQuery) -> Result<(Vec<RefusedRow>, u64)> {
        let filter = "(?1 IS NULL OR received_at >= ?1) AND (?2 IS NULL OR received_at < ?2)
                      AND (?3 IS NULL OR retailer_id = ?3)";
        let total: i64 = self.conn.query_row(
            &format!("SELECT count(*) FROM upload_refusals WHERE {filter}"),
            params![q.from, q.until, q.retailer_id],
            |r| r.get(0),
        )?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT received_at, retailer_id, source, row_index, consignment_no, order_number, sku,
                    hub_id, errors_json
             FROM upload_refusals WHERE {filter}
             ORDER BY received_at DESC, event_id DESC, row_index LIMIT ?4"
        ))?;
        let rows = stmt
            .query_map(
                params![q.from, q.until, q.retailer_id, REFUSED_LIMIT],
                |r| {
                    Ok((
                        RefusedRow {
                            received_at: r.get(0)?,
                            retailer_id: r.get(1)?,
                            source: r.get(2)?,
                            row: r.get(3)?,
                            consignment_no: r.get(4)?,
                            order_number: r.get(5)?,
                            sku: r.get(6)?,
                            hub_id: r.get(7)?,
                            errors: String::new(),
                        },
                        r.get::<_, String>(8)?,
                    ))
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let rows = rows
            .into_iter()
            .map(|(mut row, errors)| {
                let errors: Vec<returnhub_protocol::wire::FieldError> =
                    serde_json::from_str(&errors)?;
                row.errors = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Ok(row)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((rows, count(total)))
    }

    /// The returns `hub_id` expects that have not reached it (expected or in transit) now
    /// (`now`, RFC 3339), by retailer, status and age; of one retailer if the query names one.
    pub fn report_awaited(
        &self,
        q: &ReportQuery,
        hub_id: &str,
        now: &str,
    ) -> Result<Vec<AwaitedRow>> {
        let days = "(julianday(?2) - julianday(r.created_at))";
        let sql = format!(
            "SELECT r.retailer_id, r.status, sum({days} < 1), sum({days} >= 1 AND {days} < 3),
                    sum({days} >= 3 AND {days} < 7), sum({days} >= 7 AND {days} < 14),
                    sum({days} >= 14)
             FROM returns r
             WHERE r.hub_id = ?1 AND r.status IN ('expected', 'in_transit')
               AND (?3 IS NULL OR r.retailer_id = ?3)
             GROUP BY 1, 2 ORDER BY 1, 2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![hub_id, now, q.retailer_id], |r| {
                Ok(AwaitedRow {
                    retailer_id: r.get(0)?,
                    status: r.get(1)?,
                    under_1d: count(r.get(2)?),
                    under_3d: count(r.get(3)?),
                    under_7d: count(r.get(4)?),
                    under_14d: count(r.get(5)?),
                    older: count(r.get(6)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The exceptions open now (`now`, RFC 3339) by kind and age; of one retailer's returns
    /// if the query names one (an unknown parcel has no retailer and is then left out).
    pub fn report_open_exceptions(
        &self,
        q: &ReportQuery,
        now: &str,
    ) -> Result<Vec<ExceptionAgeRow>> {
        let hours = "(julianday(?1) - julianday(e.raised_at)) * 24.0";
        let sql = format!(
            "SELECT e.kind,
                    sum({hours} < 1), sum({hours} >= 1 AND {hours} < 8),
                    sum({hours} >= 8 AND {hours} < 24), sum({hours} >= 24 AND {hours} < 168),
                    sum({hours} >= 168)
             FROM exceptions e
             WHERE e.state = 'open'
               AND (?2 IS NULL OR e.return_id IN (SELECT id FROM returns WHERE retailer_id = ?2))
             GROUP BY 1 ORDER BY 1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![now, q.retailer_id], |r| {
                Ok(ExceptionAgeRow {
                    kind: r.get(0)?,
                    under_1h: count(r.get(1)?),
                    under_8h: count(r.get(2)?),
                    under_24h: count(r.get(3)?),
                    under_7d: count(r.get(4)?),
                    older: count(r.get(5)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Actions that failed or whose outcome is unknown, of one retailer if the query names
    /// one, oldest first (at most [`TROUBLED_LIMIT`]); and how many there are in all.
    pub fn report_troubled_actions(
        &self,
        q: &ReportQuery,
    ) -> Result<(Vec<TroubledActionRow>, u64)> {
        let retailer = "(?1 IS NULL OR json_extract(payload, '$.retailer_id') = ?1)";
        let total: i64 = self.conn.query_row(
            &format!(
                "SELECT count(*) FROM outbox WHERE topic = 'action'
                 AND state IN ('failed', 'unknown') AND {retailer}"
            ),
            [&q.retailer_id],
            |r| r.get(0),
        )?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT dedupe_key, json_extract(payload, '$.return_id'),
                    json_extract(payload, '$.retailer_id'), json_extract(payload, '$.kind'),
                    json_extract(payload, '$.amount.minor'),
                    json_extract(payload, '$.amount.currency'), state, attempts, last_error,
                    updated_at
             FROM outbox WHERE topic = 'action' AND state IN ('failed', 'unknown') AND {retailer}
             ORDER BY updated_at, id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![q.retailer_id, TROUBLED_LIMIT], |r| {
                Ok(TroubledActionRow {
                    key: r.get(0)?,
                    return_id: r.get(1)?,
                    retailer_id: r.get(2)?,
                    action: r.get(3)?,
                    amount_minor: r.get(4)?,
                    currency: r.get(5)?,
                    state: r.get(6)?,
                    attempts: r.get(7)?,
                    last_error: r.get(8)?,
                    updated_at: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((rows, count(total)))
    }
}

/// The milestone of a receipt (?1 return, ?2 at, ?3 by, ?4 station): the earliest one counts.
const RECEIVED_UPSERT: &str =
    "INSERT INTO return_milestones (return_id, retailer_id, received_at, received_by,
       received_station)
     VALUES (?1, (SELECT retailer_id FROM returns WHERE id = ?1), ?2, ?3, ?4)
     ON CONFLICT (return_id) DO UPDATE SET received_at = excluded.received_at,
       received_by = excluded.received_by, received_station = excluded.received_station
     WHERE return_milestones.received_at IS NULL
        OR excluded.received_at < return_milestones.received_at";

/// The milestone of a processing, with the return's items then: the earliest one counts.
const PROCESSED_UPSERT: &str =
    "INSERT INTO return_milestones (return_id, retailer_id, processed_at, processed_by,
       processed_station, items)
     VALUES (?1, (SELECT retailer_id FROM returns WHERE id = ?1), ?2, ?3, ?4,
       (SELECT count(*) FROM return_items WHERE return_id = ?1))
     ON CONFLICT (return_id) DO UPDATE SET processed_at = excluded.processed_at,
       processed_by = excluded.processed_by,
       processed_station = excluded.processed_station, items = excluded.items
     WHERE return_milestones.processed_at IS NULL
        OR excluded.processed_at < return_milestones.processed_at";

/// Adds `?2` (1 or -1) times a counter row; the conflict clause of every share below.
const ADD: &str = "ON CONFLICT (measure, period, retailer_id, actor, station, k1, k2, k3)
     DO UPDATE SET n = n + excluded.n, amount = amount + excluded.amount";

/// Return ?1's share of the receipt counter, times ?2.
const RECEIVED_SHARE: &str = concat!(
    "INSERT INTO report_counts (measure, period, retailer_id, actor,
       station, n)
     SELECT 'received', ",
    quarter_of!("m.received_at"),
    ", coalesce(m.retailer_id, ''),
       coalesce(m.received_by, ''), coalesce(m.received_station, ''), ?2
     FROM return_milestones m WHERE m.return_id = ?1 AND m.received_at IS NOT NULL"
);

/// Return ?1's share of the counters of processed returns, times ?2 (nothing before it is
/// processed).
const PROCESSED_SHARE: [&str; 5] = [
    concat!(
        "INSERT INTO report_counts (measure, period, retailer_id, actor, station, n, amount)
     SELECT 'processed', ",
        quarter_of!("m.processed_at"),
        ", coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), ?2,
       ?2 * coalesce(m.items, 0)
     FROM return_milestones m WHERE m.return_id = ?1 AND m.processed_at IS NOT NULL"
    ),
    concat!(
    "INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n, amount)
     SELECT 'reason', ",
    quarter_of!("m.processed_at"),
    ", coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), i.reason_code,
       coalesce(i.sub_reason_code, ''), ?2 * count(*), ?2 * sum(i.quantity)
     FROM return_milestones m JOIN return_items i ON i.return_id = m.return_id
     WHERE m.return_id = ?1 AND m.processed_at IS NOT NULL GROUP BY 6, 7"
),
    concat!(
        "INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, k3, n)
     SELECT 'qc', ",
        quarter_of!("m.processed_at"),
        ", coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), coalesce(n.qc, ''),
       n.presence, coalesce(n.qc_reason, ''), ?2 * count(*)
     FROM return_milestones m JOIN inspections n ON n.return_id = m.return_id
     WHERE m.return_id = ?1 AND m.processed_at IS NOT NULL AND n.undone_by IS NULL
       AND n.rowid = (SELECT max(l.rowid) FROM inspections l
                      WHERE l.return_item_id = n.return_item_id AND l.undone_by IS NULL)
     GROUP BY 6, 7, 8"
    ),
    concat!(
        "INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n)
     SELECT 'grade', ",
        quarter_of!("m.processed_at"),
        ", coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), coalesce(n.grade, ''),
       coalesce(n.disposition, ''), ?2 * count(*)
     FROM return_milestones m JOIN inspections n ON n.return_id = m.return_id
     WHERE m.return_id = ?1 AND m.processed_at IS NOT NULL AND n.undone_by IS NULL
       AND n.rowid = (SELECT max(l.rowid) FROM inspections l
                      WHERE l.return_item_id = n.return_item_id AND l.undone_by IS NULL)
       AND n.presence = 'found'
     GROUP BY 6, 7"
    ),
    concat!(
    "INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n, amount)
     SELECT 'due', ",
    quarter_of!("m.processed_at"),
    ", coalesce(m.retailer_id, ''),
       coalesce(m.processed_by, ''), coalesce(m.processed_station, ''), a.kind, a.currency,
       ?2 * count(*), ?2 * sum(a.minor)
     FROM return_milestones m JOIN report_actions a ON a.return_id = m.return_id
     WHERE m.return_id = ?1 AND m.processed_at IS NOT NULL AND a.kind != '' GROUP BY 6, 7"
),
];

/// Adds `sign` (1 or -1) times the shares `sqls` of `id` (a return's, or an action's).
fn add_shares(tx: &Transaction<'_>, sqls: &[&str], id: &str, sign: i64) -> Result<()> {
    for sql in sqls {
        tx.prepare_cached(&format!("{sql}\n     {ADD}"))?
            .execute(params![id, sign])?;
    }
    Ok(())
}

/// Whether return `return_id` has been processed (so changes to it move report counters).
pub(crate) fn is_processed(tx: &Transaction<'_>, return_id: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM return_milestones
               WHERE return_id = ?1 AND processed_at IS NOT NULL)",
        )?
        .query_row([return_id], |r| r.get(0))?)
}

/// Runs `change` (something a processed return's counters count: an inspection, an action)
/// with the return's share taken out before and put back after.
pub(crate) fn recounted<T>(
    tx: &Transaction<'_>,
    return_id: &str,
    change: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if !is_processed(tx, return_id)? {
        return change();
    }
    add_shares(tx, &PROCESSED_SHARE, return_id, -1)?;
    let out = change()?;
    add_shares(tx, &PROCESSED_SHARE, return_id, 1)?;
    Ok(out)
}

/// Projection: a return's status changed to `to` at `at` by `actor` at `station`. The earliest
/// receipt and the earliest processing are kept, whichever order events arrive in, and the
/// counters follow.
pub(crate) fn note_status(
    tx: &Transaction<'_>,
    return_id: &str,
    to: ReturnStatus,
    at: &str,
    actor: &str,
    station: Option<&str>,
) -> Result<()> {
    let (sql, shares): (&str, &[&str]) = match to {
        ReturnStatus::Received => (RECEIVED_UPSERT, &[RECEIVED_SHARE]),
        // A return closed by hand without being processed is done at its close.
        ReturnStatus::Processed | ReturnStatus::Closed => (PROCESSED_UPSERT, &PROCESSED_SHARE),
        _ => return Ok(()),
    };
    add_shares(tx, shares, return_id, -1)?;
    tx.prepare_cached(sql)?
        .execute(params![return_id, at, actor, station])?;
    add_shares(tx, shares, return_id, 1)
}

/// Projection: a return became known: it counts as sent for its hub, its retailer fills a
/// row a synced status change made first, and one created already received counts as
/// received from its creation.
pub(crate) fn note_return(
    tx: &Transaction<'_>,
    r: &ReturnRecord,
    recounting: bool,
    actor: &str,
    station: Option<&str>,
) -> Result<()> {
    let (return_id, retailer_id, status, created_at) = (
        r.id.as_str(),
        r.retailer_id.as_str(),
        r.status,
        r.created_at.as_str(),
    );
    // What was sent for the hub: by the quarter hour it was made, its source and its hub.
    tx.prepare_cached(&format!("{EXPECTED_SHARE}\n         {ADD}"))?
        .execute(params![created_at, retailer_id, r.source, r.hub_id, 1])?;
    if recounting {
        // Synced before its return: the milestone learns its retailer and items, and the
        // shares taken out by `before_return` go back with them.
        tx.prepare_cached(
            "UPDATE return_milestones SET retailer_id = ?2,
               items = CASE WHEN processed_at IS NOT NULL
                            THEN (SELECT count(*) FROM return_items WHERE return_id = ?1) END
             WHERE return_id = ?1",
        )?
        .execute(params![return_id, retailer_id])?;
        add_shares(tx, &all_shares(), return_id, 1)?;
    }
    if matches!(
        status,
        ReturnStatus::Received | ReturnStatus::Processed | ReturnStatus::Closed
    ) {
        note_status(
            tx,
            return_id,
            ReturnStatus::Received,
            created_at,
            actor,
            station,
        )?;
    }
    Ok(())
}

/// Every share of a return: its receipt and what its processing counts.
fn all_shares() -> Vec<&'static str> {
    std::iter::once(RECEIVED_SHARE)
        .chain(PROCESSED_SHARE)
        .collect()
}

/// Projection, before a return's rows are written: when events about it came first (a
/// status change or a confirmation synced ahead of it), its shares are taken out now, while
/// they still count what they counted, to go back once its rows are there (`note_return`
/// with `recounting`). Whether it did.
pub(crate) fn before_return(tx: &Transaction<'_>, return_id: &str) -> Result<bool> {
    let known: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM return_milestones WHERE return_id = ?1)")?
        .query_row([return_id], |r| r.get(0))?;
    if known {
        add_shares(tx, &all_shares(), return_id, -1)?;
    }
    Ok(known)
}

/// Projection: an action became due (here, at another device of the hub, or at the central
/// store): the money counters count it once, whoever sent it.
pub(crate) fn note_action_due(tx: &Transaction<'_>, action: &ActionDue) -> Result<()> {
    // A confirmation that came first (synced ahead of it) left a row without a kind.
    let confirmed_first: Option<Option<String>> = tx
        .prepare_cached("SELECT confirmed_at FROM report_actions WHERE key = ?1 AND kind = ''")?
        .query_row([action.key.as_str()], |r| r.get(0))
        .optional()?;
    recounted(tx, &action.return_id, || {
        tx.prepare_cached(
            "INSERT INTO report_actions (key, return_id, retailer_id, kind, currency, minor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (key) DO UPDATE SET return_id = excluded.return_id,
               retailer_id = excluded.retailer_id, kind = excluded.kind,
               currency = excluded.currency, minor = excluded.minor
             WHERE report_actions.kind = ''",
        )?
        .execute(params![
            action.key.as_str(),
            action.return_id,
            action.retailer_id,
            action.kind.name(),
            action
                .amount
                .map(|m| m.currency.code().to_owned())
                .unwrap_or_default(),
            action.amount.map_or(0, |m| m.minor),
        ])?;
        Ok(())
    })?;
    if let Some(Some(_)) = confirmed_first {
        add_shares(tx, &[CONFIRMED_SHARE], action.key.as_str(), 1)?;
        refresh_confirmed(tx, &action.return_id)?;
    }
    Ok(())
}

/// One return made at ?1 for retailer ?2 from source ?3 for hub ?4, times ?5.
const EXPECTED_SHARE: &str = concat!(
    "INSERT INTO report_counts (measure, period, retailer_id, actor, station, k1, k2, n)
     VALUES ('expected', ",
    quarter_of!("?1"),
    ", ?2, '', '', ?3, ?4, ?5)"
);

/// A return handed to hub `to_hub`: "what was sent" counts it for the hub it is for now, as a
/// count from scratch does. Call before the return's row changes hub.
pub(crate) fn note_hand_over(tx: &Transaction<'_>, return_id: &str, to_hub: &str) -> Result<()> {
    let row: Option<(String, String, String, String)> = tx
        .prepare_cached(
            "SELECT created_at, retailer_id, source, hub_id FROM returns WHERE id = ?1",
        )?
        .query_row([return_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((created_at, retailer_id, source, from_hub)) = row else {
        return Ok(());
    };
    if from_hub == to_hub {
        return Ok(());
    }
    for (hub, n) in [(from_hub.as_str(), -1), (to_hub, 1)] {
        tx.prepare_cached(&format!("{EXPECTED_SHARE}\n     {ADD}"))?
            .execute(params![created_at, retailer_id, source, hub, n])?;
    }
    Ok(())
}

/// Action ?1's share of the confirmed money, times ?2 (nothing before both its kind and its
/// confirmation are known).
const CONFIRMED_SHARE: &str = concat!(
    "INSERT INTO report_counts (measure, period, retailer_id, actor,
       station, k1, k2, n, amount)
     SELECT 'confirmed', ",
    quarter_of!("confirmed_at"),
    ", retailer_id, '', '', kind, currency, ?2,
       ?2 * minor
     FROM report_actions WHERE key = ?1 AND kind != '' AND confirmed_at IS NOT NULL"
);

/// A return's last confirmation: the latest of its actions' (each its earliest).
fn refresh_confirmed(tx: &Transaction<'_>, return_id: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO return_milestones (return_id, retailer_id, confirmed_at)
         SELECT return_id, retailer_id, max(confirmed_at) FROM report_actions
         WHERE return_id = ?1 AND kind != '' AND confirmed_at IS NOT NULL GROUP BY return_id
         ON CONFLICT (return_id) DO UPDATE SET confirmed_at = excluded.confirmed_at",
    )?
    .execute([return_id])?;
    Ok(())
}

/// Projection: the action `key` of `return_id` was confirmed at `at`. Its earliest
/// confirmation counts, whichever order they arrive in; a confirmation whose action this
/// store has not seen yet is kept until it comes.
pub(crate) fn note_confirmed(
    tx: &Transaction<'_>,
    key: &str,
    return_id: &str,
    at: &str,
) -> Result<()> {
    add_shares(tx, &[CONFIRMED_SHARE], key, -1)?;
    tx.prepare_cached(
        "INSERT INTO report_actions (key, return_id, retailer_id, kind, confirmed_at)
         VALUES (?1, ?2, '', '', ?3)
         ON CONFLICT (key) DO UPDATE SET confirmed_at = excluded.confirmed_at
         WHERE report_actions.confirmed_at IS NULL
            OR excluded.confirmed_at < report_actions.confirmed_at",
    )?
    .execute(params![key, return_id, at])?;
    add_shares(tx, &[CONFIRMED_SHARE], key, 1)?;
    let real: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM report_actions WHERE key = ?1 AND kind != '')",
        )?
        .query_row([key], |r| r.get(0))?;
    if real {
        refresh_confirmed(tx, return_id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{percentile, quarter_bound};

    #[test]
    fn a_bound_inside_a_quarter_hour_takes_the_whole_quarter() {
        // India's midnight (+5:30) and Nepal's (+5:45) are quarter hours in UTC.
        assert_eq!(
            quarter_bound("2026-11-22T18:30:00.000Z", false),
            "2026-11-22T18:30"
        );
        assert_eq!(
            quarter_bound("2026-11-22T18:15:00.000Z", true),
            "2026-11-22T18:15"
        );
        assert_eq!(
            quarter_bound("2026-11-23T11:07:00.000Z", false),
            "2026-11-23T11:00"
        );
        assert_eq!(
            quarter_bound("2026-11-23T11:07:00.000Z", true),
            "2026-11-23T11:15"
        );
        assert_eq!(
            quarter_bound("2026-11-23T23:45:00.001Z", true),
            "2026-11-24T00:00"
        );
        assert_eq!(quarter_bound("not a time", true), "not a time");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 90), 90);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[1, 2, 3], 50), 2);
    }
}
