//! Bulk test data for the benchmarks (feature `bench-data`, never in the app): a million
//! returns written with plain batched INSERTs into a store created by `Store::open`, so the
//! schema and indexes are the real ones. Not through the event log: this is volume for
//! reads, not a history.

use std::path::Path;
use std::time::Instant;

use rusqlite::{params, Connection};

use crate::Store;

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
    let path = if items_per_return == 5 {
        dir.join(format!("lookup-{returns}.db"))
    } else {
        dir.join(format!("lookup-{returns}x{items_per_return}.db"))
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
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")
        .unwrap();
    eprintln!(
        "generated {} returns in {:.1?}",
        spec.returns,
        started.elapsed()
    );
}
