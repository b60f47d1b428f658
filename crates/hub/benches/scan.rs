//! A durable scan at the bench, beside a bare INSERT of one event-sized row plus COMMIT at
//! the same durability (WAL, synchronous=FULL), in the same run and on the same disk:
//! - the durable scan event: the store's one transaction for a scanned expected parcel
//!   (the scan and the status change appended, projected, queued for sync, committed);
//! - `Hub::scan` as the window's command runs it: classify, look the connote up, that
//!   transaction, and the bench's answer. (The bench retailer has no tracking webhook URL,
//!   so no batch is queued with it.)
//!
//! ```text
//! cargo bench -p returnhub-hub --bench scan [-- --returns 20000 --scans 400]
//! ```
//!
//! The two alternate scan by scan, so the disk's moods fall on both alike; medians.

use std::path::Path;
use std::time::{Duration, Instant};

use returnhub_core::model::{ReturnStatus, ScanVerdict};
use returnhub_hub::{Hub, HubOptions};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::bulk::{bench_arg, generate, BulkReturns};
use returnhub_store::{EventInput, Store};

/// A valid UPU S10 connote (so it scans as a connote) for bulk return `n`.
fn bulk_connote(n: u64) -> String {
    let serial = format!("{:08}", 10_000_000 + n);
    let check = returnhub_devices::checkdigit::s10(&serial).expect("eight digits");
    format!("XB{serial}{check}NZ")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bare_store(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE events (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);",
    )
    .unwrap();
    conn
}

fn main() {
    let returns = bench_arg("--returns", 20_000);
    let scans = bench_arg("--scans", 400).min(returns / 2).max(1) as usize;
    let dir = tempfile::tempdir().unwrap();
    drop(Hub::open(HubOptions::demo(dir.path())).unwrap());
    generate(
        &dir.path().join("returnhub.db"),
        &BulkReturns {
            returns,
            items_per_return: 2,
            retailer_id: "kowhai",
            hub_id: "AKL",
            connote: &bulk_connote,
        },
    );
    let bare = bare_store(&dir.path().join("bare.db"));
    // An event row's size: the scan's payload as the store keeps it.
    let payload = format!(
        "{{\"type\":\"connote_scanned\",\"raw\":\"{0}\",\"connote\":\"{0}\",\
         \"return_id\":\"bulk-ret0\",\"station\":\"bench-1\"}}",
        bulk_connote(0)
    );
    let mut insert = bare
        .prepare("INSERT INTO events (payload) VALUES (?1)")
        .unwrap();
    let mut bare_insert = || {
        // Autocommit: the INSERT is its own transaction, committed before it returns.
        let t = Instant::now();
        insert.execute([&payload]).unwrap();
        t.elapsed()
    };
    // Half the returns for each part; each scan receives a parcel not received before.
    let step = returns / 2 / scans as u64;

    let mut store = Store::open(&dir.path().join("returnhub.db")).unwrap();
    let (mut events, mut events_baseline) = (Vec::new(), Vec::new());
    for i in 0..scans as u64 {
        let n = i * step;
        let (connote, return_id) = (bulk_connote(n), format!("bulk-ret{n}"));
        let t = Instant::now();
        store
            .write(returnhub_sync::unix_now_ms(), |tx| {
                tx.append(EventInput {
                    event: DomainEvent::ConnoteScanned {
                        raw: connote.clone(),
                        connote,
                        return_id: Some(return_id.clone()),
                        station: "bench-1".into(),
                    },
                    actor: "u-aroha".into(),
                    station: Some("bench-1".into()),
                })?;
                tx.append(EventInput {
                    event: DomainEvent::ReturnStatusChanged {
                        return_id,
                        from: ReturnStatus::Expected,
                        to: ReturnStatus::Received,
                    },
                    actor: "u-aroha".into(),
                    station: Some("bench-1".into()),
                })
            })
            .unwrap();
        events.push(t.elapsed());
        events_baseline.push(bare_insert());
    }
    drop(store);

    let hub = Hub::open(HubOptions::demo(dir.path())).unwrap();
    hub.sign_in("OP-1001", "1111").unwrap();
    let (mut ours, mut baseline) = (Vec::new(), Vec::new());
    for i in 0..scans as u64 {
        let connote = bulk_connote(returns / 2 + i * step);
        let t = Instant::now();
        let result = hub.scan(&connote).unwrap();
        ours.push(t.elapsed());
        assert_eq!(result.verdict, ScanVerdict::Expected, "{connote}");
        baseline.push(bare_insert());
    }
    let received: i64 = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT count(*) FROM returns WHERE status = 'received'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    });
    assert_eq!(received, 2 * scans as i64, "every scan received its parcel");
    let (events, events_baseline) = (median(events), median(events_baseline));
    let (ours, baseline) = (median(ours), median(baseline));
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
    println!(
        "durable scan event (the store's transaction), {returns} returns, median of {scans}: \
         {} (bare INSERT + COMMIT at the same durability: {})",
        ms(events),
        ms(events_baseline)
    );
    println!(
        "Hub::scan of an expected parcel, {returns} returns, median of {scans}: {} \
         (bare INSERT + COMMIT at the same durability: {})",
        ms(ours),
        ms(baseline)
    );
    // For scripts/bench: what | ours | baseline | ratio | goal.
    println!(
        "figure: durable scan event (scan and receipt appended, projected, queued for sync; \
         synchronous=FULL), {returns} returns | {} | bare INSERT + COMMIT, same durability {} | \
         {:.2}× | ≤ 1.5×",
        ms(events),
        ms(events_baseline),
        events.as_secs_f64() / events_baseline.as_secs_f64()
    );
    println!(
        "figure: Hub::scan of an expected parcel, end to end (lookup, that transaction, the \
         bench's answer; no tracking webhook URL), {returns} returns | {} | bare INSERT + \
         COMMIT, same durability {} | {:.2}× | —",
        ms(ours),
        ms(baseline),
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
}
