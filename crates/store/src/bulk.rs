//! Bulk test data for the benchmarks (feature `bench-data`, never in the app): a million
//! returns written with plain batched INSERTs into a store created by `Store::open`, so the
//! schema and indexes are the real ones. Not through the event log: this is volume for
//! reads, not a history.

use std::path::Path;
use std::time::Instant;

use rusqlite::{params, Connection};

use crate::Store;

/// The reads a return's view is made of, for the lookup benchmark's bare baseline.
pub use crate::read::{VIEW_BY_CONNOTE, VIEW_CONNOTES, VIEW_HEAD, VIEW_ITEMS};

/// What a receipt adds for the reports (its milestone and the receipt counter), for the
/// benchmark that prices it per write: the projection's own code.
pub fn note_receipt(
    tx: &rusqlite::Transaction<'_>,
    return_id: &str,
    at: &str,
    actor: &str,
    station: &str,
) -> crate::Result<()> {
    crate::reports::note_status(
        tx,
        return_id,
        returnhub_core::model::ReturnStatus::Received,
        at,
        actor,
        Some(station),
    )
}

/// What to generate: `returns` expected returns at `hub_id` for `retailer_id` (created as a
/// processing-trigger NZD retailer if it does not exist), each with `items_per_return` items
/// on its own one-order, and connote number `n` spelled by `connote(n)`.
pub struct BulkReturns<'a> {
    pub returns: u64,
    pub items_per_return: u64,
    pub retailer_id: &'a str,
    pub hub_id: &'a str,
    pub connote: &'a dyn Fn(u64) -> String,
}

/// A benchmark's numeric argument `name` (`--returns 1000`), or `default`.
pub fn bench_arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `runs` timed calls of `f`, after one to warm the cache.
pub fn median_time<T>(runs: u64, mut f: impl FnMut() -> T) -> std::time::Duration {
    std::hint::black_box(f());
    let mut times: Vec<std::time::Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// A bench store's connote number `n`.
pub fn bench_connote(n: u64) -> String {
    format!("LZ{n:09}NZ")
}

/// The benchmarks' store of `returns` returns with `items_per_return` items each (connotes
/// `LZ{n:09}NZ`), generated once under `$RETURNHUB_BENCH_DIR` (default: the system temp dir)
/// and reused by later runs and by the other benchmarks that ask for the same.
pub fn bench_store(returns: u64, items_per_return: u64) -> std::path::PathBuf {
    let dir = std::env::var_os("RETURNHUB_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("returnhub-bench"));
    std::fs::create_dir_all(&dir).unwrap();
    // Named by schema and by how it is generated: one made under older migrations or with
    // planner statistics (before `s2`) would mislead the figures.
    let v = format!("{}s2", crate::migrate::SCHEMA_VERSION);
    let path = if items_per_return == 5 {
        dir.join(format!("lookup-{returns}-v{v}.db"))
    } else {
        dir.join(format!("lookup-{returns}x{items_per_return}-v{v}.db"))
    };
    if !path.exists() {
        eprintln!("generating {} (once)…", path.display());
        let tmp = path.with_extension("partial");
        let _ = std::fs::remove_file(&tmp);
        generate(
            &tmp,
            &BulkReturns {
                returns,
                items_per_return,
                retailer_id: "r1",
                hub_id: "AKL",
                connote: &bench_connote,
            },
        );
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// Adds the returns to the store at `path` (created if missing). Logs progress to stderr.
pub fn generate(path: &Path, spec: &BulkReturns<'_>) {
    let started = Instant::now();
    drop(Store::open(path).expect("create the store"));
    let mut conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF;",
    )
    .unwrap();
    conn.execute(
        "INSERT OR IGNORE INTO retailers (id, name, currency, policy_json)
         VALUES (?1, 'Bench Retailer', 'NZD', '{\"trigger\":\"processing\"}')",
        [spec.retailer_id],
    )
    .unwrap();
    conn.execute(
        "INSERT OR IGNORE INTO return_reasons (retailer_id, code, label)
         VALUES (?1, 'FIT', 'Isn''t the right fit')",
        [spec.retailer_id],
    )
    .unwrap();
    let batch = 50_000;
    let mut n = 0;
    while n < spec.returns {
        let tx = conn.transaction().unwrap();
        {
            let mut order = tx
                .prepare(
                    "INSERT INTO orders (id, retailer_id, order_number, customer_name, email, created_at,
                       country, currency, subtotal_minor, total_minor)
                     VALUES (?1, ?2, ?3, 'Bench Customer', 'bench@example.com',
                       '2026-11-01T00:00:00.000Z', 'NZ', 'NZD', 25000, 25000)",
                )
                .unwrap();
            let mut line = tx
                .prepare(
                    "INSERT INTO order_lines (id, order_id, sku, ean, title, image, quantity, unit_price_minor)
                     VALUES (?1, ?2, ?3, NULL, 'Bench item', 'demo/tee.svg', 1, 5000)",
                )
                .unwrap();
            let mut ret = tx
                .prepare(
                    "INSERT INTO returns (id, retailer_id, hub_id, order_id, source, status, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, 'portal', 'expected', '2026-11-02T00:00:00.000Z', '2026-11-02T00:00:00.000Z')",
                )
                .unwrap();
            let mut item = tx
                .prepare(
                    "INSERT INTO return_items (id, return_id, order_line_id, quantity, reason_code, chosen_option)
                     VALUES (?1, ?2, ?3, 1, 'FIT', 'refund')",
                )
                .unwrap();
            let mut con = tx
                .prepare("INSERT INTO connotes (connote, return_id) VALUES (?1, ?2)")
                .unwrap();
            for i in n..(n + batch).min(spec.returns) {
                let order_id = format!("bulk-o{i}");
                let return_id = format!("bulk-ret{i}");
                order
                    .execute(params![order_id, spec.retailer_id, format!("#B{i}")])
                    .unwrap();
                ret.execute(params![return_id, spec.retailer_id, spec.hub_id, order_id])
                    .unwrap();
                for k in 0..spec.items_per_return {
                    let line_id = format!("{order_id}-l{k}");
                    line.execute(params![line_id, order_id, format!("SKU-{k}")])
                        .unwrap();
                    item.execute(params![format!("{return_id}-i{k}"), return_id, line_id])
                        .unwrap();
                }
                con.execute(params![(spec.connote)(i), return_id]).unwrap();
            }
        }
        tx.commit().unwrap();
        n += batch;
        if n % 200_000 == 0 {
            eprintln!("  generated {n} returns ({:.0?})", started.elapsed());
        }
    }
    // No ANALYZE: the app never runs it, so a hub's store holds no statistics, and neither
    // does this one. With them (SQLite is built with STAT4) every cached statement whose
    // plan used a sample was compiled again for each new value bound to it, and the
    // benchmarks measured SQL parsing a real hub never does.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    eprintln!(
        "generated {} returns in {:.1?}",
        spec.returns,
        started.elapsed()
    );
}

/// The reports benchmark's store: `returns` returns of one NZD retailer, every one received
/// and processed over the 90 days before 2026-12-01 (a parcel every few seconds, evenly), with
/// 1–2 items each, their inspections (QC fails, grades, dispositions), one refund action each
/// (most confirmed, some failed or unknown), the milestones the projection keeps, and ten
/// events per return in the log. Generated once under `$RETURNHUB_BENCH_DIR` and reused.
pub fn history_store(returns: u64) -> std::path::PathBuf {
    let dir = std::env::var_os("RETURNHUB_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("returnhub-bench"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "history-{returns}-v{}s2.db",
        crate::migrate::SCHEMA_VERSION
    ));
    if !path.exists() {
        eprintln!("generating {} (once)…", path.display());
        let tmp = path.with_extension("partial");
        let _ = std::fs::remove_file(&tmp);
        generate_history(&tmp, returns);
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// The first instant of the history: 2026-09-02T00:00:00Z, 90 days before 2026-12-01.
pub const HISTORY_START_MS: i64 = 1_788_307_200_000;
/// The history's length.
pub const HISTORY_DAYS: i64 = 90;

fn generate_history(path: &Path, returns: u64) {
    use returnhub_core::time::rfc3339;
    let started = Instant::now();
    drop(Store::open(path).expect("create the store"));
    let mut conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF;
         INSERT INTO retailers (id, name, currency, policy_json)
           VALUES ('r1', 'Bench Retailer', 'NZD', '{\"trigger\":\"processing\"}');
         INSERT INTO return_reasons (retailer_id, code, label, position) VALUES
           ('r1', 'FIT', 'Isn''t the right fit', 1), ('r1', 'FAULTY', 'Faulty', 2),
           ('r1', 'CHANGED_MIND', 'Changed my mind', 3), ('r1', 'NOT_AS_PICTURED', 'Not as pictured', 4),
           ('r1', 'LATE', 'Arrived too late', 5), ('r1', 'WRONG_ITEM', 'Sent the wrong item', 6);
         INSERT INTO return_sub_reasons (retailer_id, reason_code, code, label) VALUES
           ('r1', 'FIT', 'TOO_SMALL', 'Too small'), ('r1', 'FIT', 'TOO_BIG', 'Too big'),
           ('r1', 'FAULTY', 'SEAM', 'Seam came apart');
         INSERT INTO stations (id, config_json, updated_at) VALUES
           ('bench-1', '{}', '2026-09-01T00:00:00.000Z'), ('bench-2', '{}', '2026-09-01T00:00:00.000Z');",
    )
    .unwrap();
    let reasons = [
        "FIT",
        "FAULTY",
        "CHANGED_MIND",
        "NOT_AS_PICTURED",
        "LATE",
        "WRONG_ITEM",
    ];
    let subs = [Some("TOO_SMALL"), Some("TOO_BIG"), None];
    let qc_fails = ["STAIN_DAMAGE", "TAG_MISSING", "USED_WORN", "WRONG_ITEM"];
    let grades = ["A", "A", "B", "B", "C", "D"];
    let people = ["u-1", "u-2", "u-3", "u-4", "u-5", "u-6"];
    let span_ms = HISTORY_DAYS * 86_400_000;
    let batch = 20_000;
    let mut n = 0;
    while n < returns {
        let tx = conn.transaction().unwrap();
        {
            let mut order = tx
                .prepare(
                    "INSERT INTO orders (id, retailer_id, order_number, customer_name, email, created_at,
                       country, currency, subtotal_minor, total_minor)
                     VALUES (?1, 'r1', ?2, 'Bench Customer', 'bench@example.com', ?3, 'NZ', 'NZD', 10000, 10000)",
                )
                .unwrap();
            let mut line = tx
                .prepare(
                    "INSERT INTO order_lines (id, order_id, sku, title, quantity, unit_price_minor)
                     VALUES (?1, ?2, ?3, 'Bench item', 1, 5000)",
                )
                .unwrap();
            let mut ret = tx
                .prepare(
                    "INSERT INTO returns (id, retailer_id, hub_id, order_id, source, status, created_at, updated_at)
                     VALUES (?1, 'r1', 'AKL', ?2, 'portal', 'processed', ?3, ?4)",
                )
                .unwrap();
            let mut item = tx
                .prepare(
                    "INSERT INTO return_items (id, return_id, order_line_id, quantity, reason_code,
                       sub_reason_code, chosen_option)
                     VALUES (?1, ?2, ?3, 1, ?4, ?5, 'refund')",
                )
                .unwrap();
            let mut con = tx
                .prepare("INSERT INTO connotes (connote, return_id) VALUES (?1, ?2)")
                .unwrap();
            let mut inspection = tx
                .prepare(
                    "INSERT INTO inspections (id, return_item_id, return_id, event_id, presence, qc,
                       qc_reason, grade, disposition, inspected_by, inspected_at)
                     VALUES (?1, ?2, ?3, ?1, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .unwrap();
            let mut action = tx
                .prepare(
                    "INSERT INTO outbox (topic, dedupe_key, event_id, payload, state, attempts,
                       last_error, created_at, updated_at)
                     VALUES ('action', ?1, ?1, ?2, ?3, 1, ?4, ?5, ?6)",
                )
                .unwrap();
            let mut milestone = tx
                .prepare(
                    "INSERT INTO return_milestones (return_id, retailer_id, received_at, received_by,
                       received_station, processed_at, processed_by, processed_station, items,
                       confirmed_at)
                     VALUES (?1, 'r1', ?2, ?3, ?4, ?5, ?3, ?4, ?6, ?7)",
                )
                .unwrap();
            let mut event = tx
                .prepare(
                    "INSERT INTO events (id, device_id, hlc, actor, station, kind, aggregate_id,
                       payload, recorded_at, version)
                     VALUES (?1, 'bench-device', ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)",
                )
                .unwrap();
            for i in n..(n + batch).min(returns) {
                let order_id = format!("h-o{i}");
                let return_id = format!("h-r{i}");
                let received = HISTORY_START_MS + (i as i64 * span_ms) / returns as i64;
                let processed = received + 5 * 60_000 + (i as i64 * 7_919 % 115) * 60_000;
                let state = match i % 100 {
                    0..=2 => "failed",
                    3 => "unknown",
                    4..=5 => "pending",
                    _ => "confirmed",
                };
                let confirmed =
                    (state == "confirmed").then(|| processed + 1_000 + (i as i64 % 600) * 1_000);
                let person = people[(i % 6) as usize];
                let station = if i % 2 == 0 { "bench-1" } else { "bench-2" };
                let items = 1 + u64::from(i % 3 == 0);
                order
                    .execute(params![
                        order_id,
                        format!("#H{i}"),
                        rfc3339(received - 86_400_000)
                    ])
                    .unwrap();
                ret.execute(params![
                    return_id,
                    order_id,
                    rfc3339(received - 3_600_000),
                    rfc3339(processed)
                ])
                .unwrap();
                con.execute(params![format!("HZ{i:09}NZ"), return_id])
                    .unwrap();
                for k in 0..items {
                    let line_id = format!("{order_id}-l{k}");
                    let item_id = format!("{return_id}-i{k}");
                    line.execute(params![line_id, order_id, format!("SKU-{}", (i + k) % 500)])
                        .unwrap();
                    let r = ((i + k) * 7 % 6) as usize;
                    item.execute(params![
                        item_id,
                        return_id,
                        line_id,
                        reasons[r],
                        if r == 0 { subs[(i % 3) as usize] } else { None },
                    ])
                    .unwrap();
                    let (presence, qc, qc_reason, grade, disposition) = match (i + k) % 20 {
                        0 => ("missing", None, None, None, None),
                        1..=3 => (
                            "found",
                            Some("fail"),
                            Some(qc_fails[((i + k) % 4) as usize]),
                            Some("D"),
                            Some("resale_hold"),
                        ),
                        m => (
                            "found",
                            Some("pass"),
                            None,
                            Some(grades[(m % 6) as usize]),
                            Some(if m % 5 == 0 {
                                "refurbish"
                            } else {
                                "back_to_stock"
                            }),
                        ),
                    };
                    inspection
                        .execute(params![
                            format!("{item_id}-n"),
                            item_id,
                            return_id,
                            presence,
                            qc,
                            qc_reason,
                            grade,
                            disposition,
                            person,
                            rfc3339(processed - 60_000)
                        ])
                        .unwrap();
                }
                let key = format!("rh1-{return_id}");
                action
                    .execute(params![
                        key,
                        format!(
                            "{{\"key\":\"{key}\",\"retailer_id\":\"r1\",\"return_id\":\"{return_id}\",\
                             \"item_ids\":[],\"kind\":\"refund\",\
                             \"amount\":{{\"minor\":{},\"currency\":\"NZD\"}},\
                             \"credit_note_expiry_days\":null}}",
                            5000 * items
                        ),
                        state,
                        (state == "failed").then_some("the shop said no"),
                        rfc3339(processed),
                        rfc3339(confirmed.unwrap_or(processed)),
                    ])
                    .unwrap();
                milestone
                    .execute(params![
                        return_id,
                        rfc3339(received),
                        person,
                        station,
                        rfc3339(processed),
                        items,
                        confirmed.map(rfc3339),
                    ])
                    .unwrap();
                let kinds = [
                    ("return_expected", received - 3_600_000),
                    ("connote_scanned", received),
                    ("return_status_changed", received),
                    ("item_inspected", processed - 60_000),
                    ("item_inspected", processed - 30_000),
                    ("items_decided", processed),
                    ("return_status_changed", processed),
                    ("action_due", processed),
                    ("label_queued", processed),
                    ("action_confirmed", confirmed.unwrap_or(processed)),
                ];
                for (e, (kind, at)) in kinds.iter().enumerate() {
                    let payload = match (kind, e) {
                        (&"return_status_changed", 2) => format!(
                            "{{\"type\":\"return_status_changed\",\"return_id\":\"{return_id}\",\
                             \"from\":\"expected\",\"to\":\"received\"}}"
                        ),
                        (&"return_status_changed", _) => format!(
                            "{{\"type\":\"return_status_changed\",\"return_id\":\"{return_id}\",\
                             \"from\":\"received\",\"to\":\"processed\"}}"
                        ),
                        _ => format!("{{\"type\":\"{kind}\",\"return_id\":\"{return_id}\"}}"),
                    };
                    event
                        .execute(params![
                            format!("{return_id}-e{e}"),
                            format!("{at:013}-{e:04}-bench-device"),
                            person,
                            station,
                            kind,
                            return_id,
                            payload,
                            rfc3339(*at),
                        ])
                        .unwrap();
                }
            }
        }
        tx.commit().unwrap();
        n += batch;
        if n % 100_000 == 0 {
            eprintln!("  generated {n} returns ({:.0?})", started.elapsed());
        }
    }
    // The reports' counters, as the migration makes them from rows written without events.
    let migration = include_str!("../../../migrations/hub/0016_quarter_hour_counters.sql");
    let counters = migration
        .split("-- @counters")
        .nth(1)
        .and_then(|rest| rest.split_once('\n'))
        .map(|(_comment, sql)| sql)
        .unwrap();
    conn.execute_batch(&format!(
        "BEGIN;
         INSERT INTO report_actions (key, return_id, retailer_id, kind, currency, minor,
           confirmed_at)
         SELECT dedupe_key, json_extract(payload, '$.return_id'), 'r1', 'refund', 'NZD',
           json_extract(payload, '$.amount.minor'),
           CASE state WHEN 'confirmed' THEN updated_at END
         FROM outbox WHERE topic = 'action';
         {counters}
         COMMIT;"
    ))
    .unwrap();
    // No ANALYZE: the app never runs it, so a hub's store holds no statistics, and neither
    // does this one. With them (SQLite is built with STAT4) every cached statement whose
    // plan used a sample was compiled again for each new value bound to it, and the
    // benchmarks measured SQL parsing a real hub never does.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    eprintln!(
        "generated {returns} processed returns, {} events, in {:.1?}",
        returns * 10,
        started.elapsed()
    );
}
