//! The supervisors' reports (F9): what the hub did in a period, as tables that the window
//! draws (with a chart where one helps), writes to CSV and prints as the end-of-shift summary.
//! Every table is one [`ReportTable`] — columns with a kind, rows of cells — so the screen, the
//! CSV and the PDF show the same figures from one query.
//!
//! From the local store, so they work offline. The store holds every return of this hub, from
//! all of its stations once they have synced; other hubs' returns are not in it.

use returnhub_core::auth::Role;
use returnhub_core::money::{Currency, Money};
use returnhub_store::ReportQuery;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::search::ExportedFile;
use crate::{Hub, HubError, Result};

/// What a supervisor asks the reports for; every part given narrows them.
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct ReportFilter {
    /// The first and last day (YYYY-MM-DD, the station's local days), inclusive; none for
    /// since the start.
    pub from: Option<String>,
    pub to: Option<String>,
    pub retailer_id: Option<String>,
    /// A person (user id) who received or processed.
    pub operator: Option<String>,
    pub station: Option<String>,
    /// The station's offset from UTC in minutes (east positive: +780 in New Zealand's summer)
    /// at the start of the first day: days begin at the station's local midnight, and hours
    /// read in this offset.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// Its offset at the end of the last day, when daylight saving changed it in between
    /// (none: the same).
    #[serde(default)]
    pub end_utc_offset_minutes: Option<i32>,
}

/// How a column's cells read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Text,
    /// A whole number.
    Count,
    /// A duration in milliseconds.
    Millis,
    /// Money in minor units of the row's currency column.
    Minor,
    /// Money as a decimal string in the row's currency ("59.00").
    Decimal,
}

/// One column of a report table; `key` is its CSV header.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ReportColumn {
    pub key: String,
    pub label: String,
    pub kind: ColumnKind,
}

/// A cell: text, a number, or nothing.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(untagged)]
pub enum Cell {
    Text(String),
    Number(#[ts(type = "number")] i64),
    Empty,
}

impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_owned())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}
impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Self {
        v.map_or(Cell::Empty, Cell::Text)
    }
}
impl From<u64> for Cell {
    fn from(v: u64) -> Self {
        Cell::Number(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Number(v)
    }
}
impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Cell::Empty, Cell::Number)
    }
}

impl Cell {
    /// As a CSV field: numbers unformatted, text a spreadsheet would run defused, nothing as
    /// an empty field.
    fn csv(&self) -> String {
        match self {
            Cell::Text(t) => crate::search::csv_text(t).into_owned(),
            other => other.plain(),
        }
    }

    /// As text to read (the shift summary): as it is.
    fn plain(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Number(n) => n.to_string(),
            Cell::Empty => String::new(),
        }
    }
}

/// How the window charts a table: a label column against one or more number columns.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ChartSpec {
    /// bar, horizontal_bar or doughnut.
    pub kind: String,
    pub label_column: u32,
    pub value_columns: Vec<u32>,
}

/// One report: a titled table, maybe charted.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ReportTable {
    /// Its name in file names and commands: throughput_hour, reasons, …
    pub name: String,
    pub title: String,
    /// What it counts, in a sentence.
    pub about: String,
    pub columns: Vec<ReportColumn>,
    pub rows: Vec<Vec<Cell>>,
    pub chart: Option<ChartSpec>,
}

/// All the reports for a filter, with what the filter can offer.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ReportSet {
    /// The period in words ("2026-11-23 to 2026-11-23", "since the start").
    pub period: String,
    pub tables: Vec<ReportTable>,
    /// Headline figures: returns received, returns processed, items processed.
    #[ts(type = "number")]
    pub received: u64,
    #[ts(type = "number")]
    pub processed: u64,
    #[ts(type = "number")]
    pub items: u64,
    /// (id, name) of what the filters offer.
    pub retailers: Vec<(String, String)>,
    pub people: Vec<(String, String)>,
    pub stations: Vec<String>,
}

/// Every report, by name, in the order the screen shows them.
pub const REPORT_NAMES: [&str; 13] = [
    "throughput_hour",
    "throughput_operator",
    "throughput_station",
    "dock_to_stock",
    "reasons",
    "qc",
    "grades",
    "money",
    "open_exceptions",
    "troubled_actions",
    "uploads",
    "refused_uploads",
    "awaited",
];

fn col(key: &str, label: &str, kind: ColumnKind) -> ReportColumn {
    ReportColumn {
        key: key.into(),
        label: label.into(),
        kind,
    }
}

fn chart(kind: &str, label_column: u32, value_columns: &[u32]) -> Option<ChartSpec> {
    Some(ChartSpec {
        kind: kind.into(),
        label_column,
        value_columns: value_columns.to_vec(),
    })
}

/// `minor` units of `currency` as a decimal string, or "" for no currency we know.
fn decimal(minor: i64, currency: &str) -> Cell {
    match Currency::from_input(currency) {
        Ok(currency) => Cell::Text(Money { minor, currency }.to_decimal_string()),
        Err(_) => Cell::Empty,
    }
}

/// An offset from UTC in minutes the way people write it: "+13:00", "-03:30", "UTC".
fn offset_text(minutes: i32) -> String {
    if minutes == 0 {
        return "UTC".into();
    }
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The largest offset a place on Earth keeps (Kiribati, +14:00), and then some.
const MAX_OFFSET_MINUTES: u32 = 16 * 60;

/// The store's query for a supervisor's filter: its local days as UTC instants.
fn query_of(filter: &ReportFilter) -> Result<ReportQuery> {
    let offset = filter.utc_offset_minutes;
    let end_offset = filter.end_utc_offset_minutes.unwrap_or(offset);
    for o in [offset, end_offset] {
        if o.unsigned_abs() > MAX_OFFSET_MINUTES {
            return Err(HubError::Invalid(format!(
                "{o} minutes is not an offset from UTC"
            )));
        }
    }
    let at = |ms: i64, offset: i32| returnhub_core::time::rfc3339(ms - i64::from(offset) * 60_000);
    let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    Ok(ReportQuery {
        from: given(&filter.from)
            .map(|d| crate::search::day_ms(&d, "the first day").map(|ms| at(ms, offset)))
            .transpose()?,
        until: given(&filter.to)
            .map(|d| {
                crate::search::day_ms(&d, "the last day").map(|ms| at(ms + 86_400_000, end_offset))
            })
            .transpose()?,
        retailer_id: given(&filter.retailer_id),
        actor: given(&filter.operator),
        station: given(&filter.station),
        hour_offset_minutes: offset,
    })
}

/// A local hour as the store groups it (YYYY-MM-DDTHH) as "YYYY-MM-DD HH:00".
fn hour_label(local_hour: &str) -> String {
    match local_hour.split_once('T') {
        Some((day, hour)) => format!("{day} {hour}:00"),
        None => local_hour.to_owned(),
    }
}

fn period_of(filter: &ReportFilter) -> String {
    let day = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    let days = match (day(&filter.from), day(&filter.to)) {
        (Some(f), Some(t)) => format!("{f} to {t}"),
        (Some(f), None) => format!("since {f}"),
        (None, Some(t)) => format!("until {t}"),
        (None, None) => return "since the start".into(),
    };
    format!("{days} ({})", offset_text(filter.utc_offset_minutes))
}

impl Hub {
    /// Every report for `filter` (see the module doc). Supervisors only.
    pub fn reports(&self, filter: ReportFilter) -> Result<ReportSet> {
        self.report_set(filter, None)
    }

    /// The reports for `filter`: all of them, or `only` the one so named (its export need not
    /// wait for the others). Supervisors only.
    fn report_set(&self, filter: ReportFilter, only: Option<&str>) -> Result<ReportSet> {
        self.authorize(Role::Supervisor)?;
        let query = query_of(&filter)?;
        let now = returnhub_core::time::rfc3339((self.clock)());
        // The store is taken for one query at a time: the bench's scans wait at most for one
        // report, not for all of them.
        let people: Vec<(String, String)> = self
            .store()
            .users()?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        let name_of = |id: &str| {
            people
                .iter()
                .find(|(p, _)| p == id)
                .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
        };
        let retailers: Vec<(String, String)> = self
            .store()
            .retailer_summaries()?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        let retailer_name = |id: &str| {
            retailers
                .iter()
                .find(|(r, _)| r == id)
                .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
        };
        let throughput_columns = |first: Vec<ReportColumn>| {
            let mut c = first;
            c.push(col("received", "Received", ColumnKind::Count));
            c.push(col("processed", "Processed", ColumnKind::Count));
            c.push(col("items", "Items processed", ColumnKind::Count));
            c
        };
        let mut tables = Vec::new();
        let wanted = |name: &str| only.is_none_or(|o| o == name);
        // Parcels received, returns processed, items processed: the hourly table's totals.
        let mut headline = (0, 0, 0);

        if wanted("throughput_hour") {
            let by_hour = self.store().report_throughput(&query, "hour")?;
            headline = by_hour.iter().fold((0, 0, 0), |t, r| {
                (t.0 + r.received, t.1 + r.processed, t.2 + r.items)
            });
            tables.push(ReportTable {
                name: "throughput_hour".into(),
                title: "Throughput by hour".into(),
                about: format!(
                    "Parcels received and returns processed in each hour ({}).",
                    offset_text(filter.utc_offset_minutes)
                ),
                columns: throughput_columns(vec![col("hour", "Hour", ColumnKind::Text)]),
                rows: by_hour
                    .into_iter()
                    .map(|r| {
                        vec![
                            hour_label(&r.key).into(),
                            r.received.into(),
                            r.processed.into(),
                            r.items.into(),
                        ]
                    })
                    .collect(),
                chart: chart("bar", 0, &[1, 2]),
            });
        }
        if wanted("throughput_operator") {
            tables.push(ReportTable {
                name: "throughput_operator".into(),
                title: "Throughput by person".into(),
                about: "Parcels each person received and returns each person processed.".into(),
                columns: throughput_columns(vec![
                    col("user_id", "User id", ColumnKind::Text),
                    col("person", "Person", ColumnKind::Text),
                ]),
                rows: self
                    .store()
                    .report_throughput(&query, "actor")?
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.key.clone().into(),
                            name_of(&r.key).into(),
                            r.received.into(),
                            r.processed.into(),
                            r.items.into(),
                        ]
                    })
                    .collect(),
                chart: chart("bar", 1, &[2, 3]),
            });
        }
        if wanted("throughput_station") {
            tables.push(ReportTable {
                name: "throughput_station".into(),
                title: "Throughput by station".into(),
                about: "Parcels received and returns processed at each station.".into(),
                columns: throughput_columns(vec![col("station", "Station", ColumnKind::Text)]),
                rows: self
                    .store()
                    .report_throughput(&query, "station")?
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.key.into(),
                            r.received.into(),
                            r.processed.into(),
                            r.items.into(),
                        ]
                    })
                    .collect(),
                chart: chart("bar", 0, &[1, 2]),
            });
        }
        if wanted("dock_to_stock") {
            tables.push(ReportTable {
                name: "dock_to_stock".into(),
                title: "Dock to stock".into(),
                about: "How long the returns processed in the period took: from receipt to \
                    processing, from processing to the last action confirmed, and in all."
                    .into(),
                columns: vec![
                    col("span", "From → to", ColumnKind::Text),
                    col("returns", "Returns", ColumnKind::Count),
                    col("p50_ms", "Median", ColumnKind::Millis),
                    col("p90_ms", "90th percentile", ColumnKind::Millis),
                    col("p99_ms", "99th percentile", ColumnKind::Millis),
                    col("max_ms", "Longest", ColumnKind::Millis),
                ],
                rows: self
                    .store()
                    .report_spans(&query)?
                    .into_iter()
                    .map(|s| {
                        let label = match s.span {
                            "received_to_processed" => "Received → processed",
                            "processed_to_confirmed" => "Processed → action confirmed",
                            _ => "Received → action confirmed",
                        };
                        // No return reached both: no figure, rather than a zero.
                        let ms = |v: i64| {
                            if s.returns == 0 {
                                Cell::Empty
                            } else {
                                v.into()
                            }
                        };
                        vec![
                            label.into(),
                            s.returns.into(),
                            ms(s.p50_ms),
                            ms(s.p90_ms),
                            ms(s.p99_ms),
                            ms(s.max_ms),
                        ]
                    })
                    .collect(),
                chart: None,
            });
        }
        if wanted("reasons") {
            tables.push(ReportTable {
                name: "reasons".into(),
                title: "Why they came back".into(),
                about:
                    "The items of the returns processed, by the customer's reason and sub-reason."
                        .into(),
                columns: vec![
                    col("retailer", "Retailer", ColumnKind::Text),
                    col("reason_code", "Reason code", ColumnKind::Text),
                    col("reason", "Reason", ColumnKind::Text),
                    col("sub_reason_code", "Sub-reason code", ColumnKind::Text),
                    col("sub_reason", "Sub-reason", ColumnKind::Text),
                    col("items", "Items", ColumnKind::Count),
                    col("quantity", "Quantity", ColumnKind::Count),
                ],
                rows: self
                    .store()
                    .report_reasons(&query)?
                    .into_iter()
                    .map(|r| {
                        vec![
                            retailer_name(&r.retailer_id).into(),
                            r.reason_code.into(),
                            r.reason_label.into(),
                            r.sub_reason_code.into(),
                            r.sub_reason_label.into(),
                            r.items.into(),
                            r.quantity.into(),
                        ]
                    })
                    .collect(),
                chart: chart("horizontal_bar", 2, &[5]),
            });
        }
        if wanted("qc") {
            tables.push(ReportTable {
                name: "qc".into(),
                title: "Quality check".into(),
                about: "The items inspected in the returns processed, by QC result and reason."
                    .into(),
                columns: vec![
                    col("qc", "QC", ColumnKind::Text),
                    col("presence", "Found", ColumnKind::Text),
                    col("qc_reason_code", "Reason code", ColumnKind::Text),
                    col("qc_reason", "Reason", ColumnKind::Text),
                    col("items", "Items", ColumnKind::Count),
                ],
                rows: self
                    .store()
                    .report_qc(&query)?
                    .into_iter()
                    .map(|r| {
                        let qc = match (r.qc.as_str(), r.presence.as_str()) {
                            ("", "missing") => "missing".to_owned(),
                            ("", _) => "not checked".to_owned(),
                            (qc, _) => qc.to_owned(),
                        };
                        vec![
                            qc.into(),
                            r.presence.into(),
                            r.qc_reason.clone().into(),
                            r.qc_reason_label.or(r.qc_reason).into(),
                            r.items.into(),
                        ]
                    })
                    .collect(),
                chart: chart("doughnut", 0, &[4]),
            });
        }
        if wanted("grades") {
            tables.push(ReportTable {
                name: "grades".into(),
                title: "Grades and dispositions".into(),
                about: "The items found in the returns processed, by grade and disposition.".into(),
                columns: vec![
                    col("grade", "Grade", ColumnKind::Text),
                    col("disposition", "Disposition", ColumnKind::Text),
                    col("items", "Items", ColumnKind::Count),
                ],
                rows: self
                    .store()
                    .report_grades(&query)?
                    .into_iter()
                    .map(|r| vec![r.grade.into(), r.disposition.into(), r.items.into()])
                    .collect(),
                chart: chart("bar", 0, &[2]),
            });
        }
        if wanted("money") {
            tables.push(ReportTable {
                name: "money".into(),
                title: "Money by action".into(),
                about: "Actions by kind and currency: made due for the returns processed in the \
                    period, and confirmed in the period (by whoever processed them); amounts \
                    in minor units of their currency and as a decimal."
                    .into(),
                columns: vec![
                    col("action", "Action", ColumnKind::Text),
                    col("currency", "Currency", ColumnKind::Text),
                    col("due", "Due", ColumnKind::Count),
                    col("due_minor", "Due (minor units)", ColumnKind::Minor),
                    col("due_amount", "Due amount", ColumnKind::Decimal),
                    col("confirmed", "Confirmed", ColumnKind::Count),
                    col(
                        "confirmed_minor",
                        "Confirmed (minor units)",
                        ColumnKind::Minor,
                    ),
                    col("confirmed_amount", "Confirmed amount", ColumnKind::Decimal),
                ],
                rows: self
                    .store()
                    .report_money(&query)?
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.action.replace('_', " ").into(),
                            r.currency.clone().into(),
                            r.due.into(),
                            r.due_minor.into(),
                            decimal(r.due_minor, &r.currency),
                            r.confirmed.into(),
                            r.confirmed_minor.into(),
                            decimal(r.confirmed_minor, &r.currency),
                        ]
                    })
                    .collect(),
                chart: None,
            });
        }
        if wanted("open_exceptions") {
            tables.push(ReportTable {
                name: "open_exceptions".into(),
                title: "Open exceptions by age".into(),
                about: "Exceptions open now, by kind and how long they have been open (the period \
                    does not apply)."
                    .into(),
                columns: vec![
                    col("kind", "Kind", ColumnKind::Text),
                    col("under_1h", "Under 1 h", ColumnKind::Count),
                    col("1h_to_8h", "1–8 h", ColumnKind::Count),
                    col("8h_to_24h", "8–24 h", ColumnKind::Count),
                    col("1d_to_7d", "1–7 days", ColumnKind::Count),
                    col("over_7d", "Over 7 days", ColumnKind::Count),
                ],
                rows: self
                    .store()
                    .report_open_exceptions(&query, &now)?
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.kind.replace('_', " ").into(),
                            r.under_1h.into(),
                            r.under_8h.into(),
                            r.under_24h.into(),
                            r.under_7d.into(),
                            r.older.into(),
                        ]
                    })
                    .collect(),
                chart: chart("bar", 0, &[1, 2, 3, 4, 5]),
            });
        }
        if wanted("troubled_actions") {
            let (troubled, troubled_total) = self.store().report_troubled_actions(&query)?;
            tables.push(ReportTable {
                name: "troubled_actions".into(),
                title: "Failed and unknown actions".into(),
                about: format!(
                    "Actions that failed or whose outcome is unknown, now (the period does not \
                 apply): {troubled_total} in all{}.",
                    if troubled_total > troubled.len() as u64 {
                        format!(", the oldest {} listed", troubled.len())
                    } else {
                        String::new()
                    }
                ),
                columns: vec![
                    col("return_id", "Return", ColumnKind::Text),
                    col("retailer", "Retailer", ColumnKind::Text),
                    col("action", "Action", ColumnKind::Text),
                    col("state", "State", ColumnKind::Text),
                    col("attempts", "Attempts", ColumnKind::Count),
                    col("currency", "Currency", ColumnKind::Text),
                    col("amount_minor", "Amount (minor units)", ColumnKind::Minor),
                    col("amount", "Amount", ColumnKind::Decimal),
                    col("last_error", "Last error", ColumnKind::Text),
                    col("since", "Since", ColumnKind::Text),
                    col("key", "Idempotency key", ColumnKind::Text),
                ],
                rows: troubled
                    .into_iter()
                    .map(|a| {
                        let amount = match (a.amount_minor, &a.currency) {
                            (Some(m), Some(c)) => decimal(m, c),
                            _ => Cell::Empty,
                        };
                        vec![
                            a.return_id.into(),
                            retailer_name(&a.retailer_id).into(),
                            a.action.into(),
                            a.state.into(),
                            i64::from(a.attempts).into(),
                            a.currency.into(),
                            a.amount_minor.into(),
                            amount,
                            a.last_error.into(),
                            a.updated_at.into(),
                            a.key.into(),
                        ]
                    })
                    .collect(),
                chart: None,
            });
        }
        if wanted("uploads") {
            tables.push(ReportTable {
                name: "uploads".into(),
                title: "What was sent".into(),
                about: "Returns made in the period, by retailer, where they came from (the Upload \
                    API's partner, a partner platform, the portal, the bench's orphan intake) \
                    and the hub they were sent to (the person and station filters do not \
                    apply). Rows the Upload API refused are in the next table."
                    .into(),
                columns: vec![
                    col("retailer", "Retailer", ColumnKind::Text),
                    col("source", "Source", ColumnKind::Text),
                    col("hub", "Hub", ColumnKind::Text),
                    col("returns", "Returns", ColumnKind::Count),
                ],
                rows: self
                    .store()
                    .report_uploads(&query)?
                    .into_iter()
                    .map(|u| {
                        vec![
                            retailer_name(&u.retailer_id).into(),
                            u.source.replace('_', " ").into(),
                            u.hub_id.into(),
                            u.returns.into(),
                        ]
                    })
                    .collect(),
                chart: None,
            });
        }
        if wanted("refused_uploads") {
            let (refused, refused_total) = self.store().report_refused_uploads(&query)?;
            tables.push(ReportTable {
                name: "refused_uploads".into(),
                title: "Upload rows refused".into(),
                about: format!(
                    "Rows of partners' uploads that the central store refused for this hub's \
                 retailers in the period, with what the uploader was told (the person and \
                 station filters do not apply): {refused_total} in all{}.",
                    if refused_total > refused.len() as u64 {
                        format!(", the newest {} listed", refused.len())
                    } else {
                        String::new()
                    }
                ),
                columns: vec![
                    col("received_at", "Received", ColumnKind::Text),
                    col("retailer", "Retailer", ColumnKind::Text),
                    col("source", "Source", ColumnKind::Text),
                    col("row", "Row", ColumnKind::Count),
                    col("consignment_no", "Consignment", ColumnKind::Text),
                    col("order_number", "Order", ColumnKind::Text),
                    col("sku", "SKU", ColumnKind::Text),
                    col("hub", "Hub", ColumnKind::Text),
                    col("errors", "Why", ColumnKind::Text),
                ],
                rows: refused
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.received_at.into(),
                            retailer_name(&r.retailer_id).into(),
                            r.source.replace('_', " ").into(),
                            r.row.into(),
                            r.consignment_no.into(),
                            r.order_number.into(),
                            r.sku.into(),
                            r.hub_id.into(),
                            r.errors.into(),
                        ]
                    })
                    .collect(),
                chart: None,
            });
        }
        if wanted("awaited") {
            tables.push(ReportTable {
                name: "awaited".into(),
                title: "Expected, not yet here".into(),
                about: "Returns this hub expects that have not reached it, now, by how long ago \
                    they were made (the period does not apply); F8 lists them, oldest first."
                    .into(),
                columns: vec![
                    col("retailer", "Retailer", ColumnKind::Text),
                    col("status", "Status", ColumnKind::Text),
                    col("under_1d", "Under a day", ColumnKind::Count),
                    col("1d_to_3d", "1–3 days", ColumnKind::Count),
                    col("3d_to_7d", "3–7 days", ColumnKind::Count),
                    col("7d_to_14d", "7–14 days", ColumnKind::Count),
                    col("over_14d", "Over 14 days", ColumnKind::Count),
                ],
                rows: self
                    .store()
                    .report_awaited(&query, &self.options().hub_id, &now)?
                    .into_iter()
                    .map(|a| {
                        vec![
                            retailer_name(&a.retailer_id).into(),
                            a.status.replace('_', " ").into(),
                            a.under_1d.into(),
                            a.under_3d.into(),
                            a.under_7d.into(),
                            a.under_14d.into(),
                            a.older.into(),
                        ]
                    })
                    .collect(),
                chart: chart("bar", 0, &[2, 3, 4, 5, 6]),
            });
        }
        debug_assert!(
            only.is_some()
                || tables
                    .iter()
                    .map(|t| t.name.as_str())
                    .eq(REPORT_NAMES.iter().copied())
        );
        let stations = self.store().station_ids()?;
        Ok(ReportSet {
            period: period_of(&filter),
            tables,
            received: headline.0,
            processed: headline.1,
            items: headline.2,
            retailers,
            people,
            stations,
        })
    }

    /// One report (`table`, one of [`REPORT_NAMES`]) for `filter` as a CSV file under the data
    /// dir's `exports` (RFC 4180, UTF-8, the header row, numbers unformatted).
    pub fn export_report_csv(&self, filter: ReportFilter, table: &str) -> Result<ExportedFile> {
        if !REPORT_NAMES.contains(&table) {
            return Err(HubError::Invalid(format!("there is no report {table:?}")));
        }
        let set = self.report_set(filter, Some(table))?;
        let Some(report) = set.tables.into_iter().find(|t| t.name == table) else {
            return Err(HubError::NotFound(format!("no report {table}")));
        };
        let (path, partial) = self.export_path(&format!("report-{table}"), "csv")?;
        let failed = |e: &dyn std::fmt::Display| {
            HubError::Failed(format!("cannot write {}: {e}", partial.display()))
        };
        let mut out = csv::Writer::from_path(&partial).map_err(|e| failed(&e))?;
        out.write_record(report.columns.iter().map(|c| c.key.as_str()))
            .map_err(|e| failed(&e))?;
        for row in &report.rows {
            out.write_record(row.iter().map(Cell::csv))
                .map_err(|e| failed(&e))?;
        }
        let file = out.into_inner().map_err(|e| failed(&e))?;
        file.sync_all().map_err(|e| failed(&e))?;
        drop(file);
        std::fs::rename(&partial, &path).map_err(|e| failed(&e))?;
        tracing::info!(path = %path.display(), rows = report.rows.len(), "report exported");
        Ok(ExportedFile {
            path: path.display().to_string(),
            rows: report.rows.len() as u64,
        })
    }

    /// The end-of-shift summary for `filter` as an A4 PDF under the data dir's `exports`:
    /// the headline figures and every report's table.
    pub fn shift_summary_pdf(&self, filter: ReportFilter) -> Result<ExportedFile> {
        let set = self.reports(filter.clone())?;
        let hub_name = self.options().hub_name.clone();
        let scope = [
            filter
                .retailer_id
                .as_ref()
                .and_then(|id| set.retailers.iter().find(|(r, _)| r == id))
                .map(|(_, n)| format!("retailer {n}")),
            filter
                .operator
                .as_ref()
                .and_then(|id| set.people.iter().find(|(p, _)| p == id))
                .map(|(_, n)| format!("person {n}")),
            filter
                .station
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| format!("station {s}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        let mut sections = vec![returnhub_devices::pdf::ReportSection {
            title: "Summary".into(),
            lines: vec![
                format!("Period: {}", set.period),
                format!("Returns received: {}", set.received),
                format!("Returns processed: {}", set.processed),
                format!("Items processed: {}", set.items),
                format!(
                    "Printed {} ({}){}",
                    returnhub_core::time::rfc3339(
                        (self.clock)() + i64::from(filter.utc_offset_minutes) * 60_000
                    )
                    .get(..16)
                    .unwrap_or_default()
                    .replace('T', " "),
                    offset_text(filter.utc_offset_minutes),
                    if scope.is_empty() {
                        String::new()
                    } else {
                        format!("; only {scope}")
                    }
                ),
            ],
        }];
        for t in &set.tables {
            sections.push(returnhub_devices::pdf::ReportSection {
                title: t.title.clone(),
                lines: text_table(t),
            });
        }
        let pdf =
            returnhub_devices::pdf::report_to_pdf(&format!("End of shift, {hub_name}"), &sections);
        let (path, partial) = self.export_path("shift-summary", "pdf")?;
        let failed = |e: &dyn std::fmt::Display| {
            HubError::Failed(format!("cannot write {}: {e}", partial.display()))
        };
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&partial).map_err(|e| failed(&e))?;
            f.write_all(&pdf).map_err(|e| failed(&e))?;
            f.sync_all().map_err(|e| failed(&e))?;
        }
        std::fs::rename(&partial, &path).map_err(|e| failed(&e))?;
        tracing::info!(path = %path.display(), bytes = pdf.len(), "shift summary written");
        Ok(ExportedFile {
            path: path.display().to_string(),
            rows: set.processed,
        })
    }
}

/// A duration in milliseconds as a person reads it: "950 ms", "42 s", "3 min", "5.5 h", "2.1 d".
pub fn human_millis(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{} s", ms / 1_000),
        60_000..=3_599_999 => format!("{} min", ms / 60_000),
        3_600_000..=86_399_999 => format!("{}.{} h", ms / 3_600_000, ms % 3_600_000 / 360_000),
        _ => format!("{}.{} d", ms / 86_400_000, ms % 86_400_000 / 8_640_000),
    }
}

/// Characters of Courier 8.5 pt across an A4 page between its margins.
const PDF_LINE: usize = 100;

/// A table as lines of fixed-width text for the PDF: at most 40 rows, each column cut to 24
/// characters and each line to the page's width.
fn text_table(t: &ReportTable) -> Vec<String> {
    const MAX_ROWS: usize = 40;
    const MAX_WIDTH: usize = 24;
    // Codes, keys and long text take too much of a page; the CSV has them.
    let shown: Vec<usize> = (0..t.columns.len())
        .filter(|&i| {
            let key = t.columns[i].key.as_str();
            !(key.ends_with("_code") || matches!(key, "key" | "user_id" | "last_error" | "since"))
        })
        .filter(|&i| t.columns[i].kind != ColumnKind::Minor)
        .collect();
    let text = |c: &Cell, kind: ColumnKind| match (c, kind) {
        (Cell::Number(n), ColumnKind::Millis) => human_millis(*n),
        (c, _) => c.plain(),
    };
    let cells: Vec<Vec<String>> = std::iter::once(
        shown
            .iter()
            .map(|&i| t.columns[i].label.clone())
            .collect::<Vec<_>>(),
    )
    .chain(t.rows.iter().take(MAX_ROWS).map(|r| {
        shown
            .iter()
            .map(|&i| text(&r[i], t.columns[i].kind))
            .collect()
    }))
    .map(|r: Vec<String>| {
        r.into_iter()
            .map(|s| s.chars().take(MAX_WIDTH).collect())
            .collect()
    })
    .collect();
    let widths: Vec<usize> = (0..shown.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut lines: Vec<String> = cells
        .iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(s, w)| format!("{s:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .chars()
                .take(PDF_LINE)
                .collect()
        })
        .collect();
    if t.rows.is_empty() {
        lines.push("(none)".into());
    } else if t.rows.len() > MAX_ROWS {
        lines.push(format!(
            "… and {} more rows (export the CSV for all)",
            t.rows.len() - MAX_ROWS
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_become_utc_instants_at_the_offset_each_bound_had() {
        let day = |offset: i32, end: Option<i32>| {
            let q = query_of(&ReportFilter {
                from: Some("2026-04-04".into()),
                to: Some("2026-04-05".into()),
                utc_offset_minutes: offset,
                end_utc_offset_minutes: end,
                ..ReportFilter::default()
            })
            .unwrap();
            (q.from.unwrap(), q.until.unwrap())
        };
        // Auckland: daylight saving ends on 5 April 2026 (+13:00 → +12:00).
        assert_eq!(
            day(780, Some(720)),
            (
                "2026-04-03T11:00:00.000Z".to_owned(),
                "2026-04-05T12:00:00.000Z".to_owned()
            )
        );
        assert_eq!(
            day(-600, None),
            (
                "2026-04-04T10:00:00.000Z".to_owned(),
                "2026-04-06T10:00:00.000Z".to_owned()
            )
        );
        assert_eq!(hour_label("2026-04-04T00"), "2026-04-04 00:00");
        assert!(query_of(&ReportFilter {
            utc_offset_minutes: i32::MIN,
            ..ReportFilter::default()
        })
        .is_err());
    }

    #[test]
    fn durations_read_as_a_person_reads_them() {
        assert_eq!(human_millis(950), "950 ms");
        assert_eq!(human_millis(42_500), "42 s");
        assert_eq!(human_millis(3 * 60_000), "3 min");
        assert_eq!(human_millis(5 * 3_600_000 + 1_800_000), "5.5 h");
        assert_eq!(human_millis(2 * 86_400_000 + 8_640_000), "2.1 d");
        assert_eq!(human_millis(-5), "0 ms");
    }

    #[test]
    fn a_table_prints_aligned_and_says_when_it_is_cut() {
        let t = ReportTable {
            name: "t".into(),
            title: "T".into(),
            about: String::new(),
            columns: vec![
                col("a", "Name", ColumnKind::Text),
                col("n", "Count", ColumnKind::Count),
                col("m", "Median", ColumnKind::Millis),
                col("key", "Key", ColumnKind::Text),
            ],
            rows: (0..45)
                .map(|i| {
                    vec![
                        format!("row{i}").into(),
                        Cell::Number(i),
                        Cell::Number(90_000),
                        "k".into(),
                    ]
                })
                .collect(),
            chart: None,
        };
        let lines = text_table(&t);
        assert_eq!(lines[0], "Name   Count  Median");
        assert_eq!(lines[1], "row0   0      1 min");
        assert_eq!(lines.len(), 1 + 40 + 1);
        assert!(lines[41].contains("5 more rows"), "{}", lines[41]);
    }
}
