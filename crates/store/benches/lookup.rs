//! Benchmark: open a hub store holding 1,000,000 returns (5,000,000 items) and look connotes
//! up, beside a bare indexed `SELECT` on the same file in the same run.
//!
//!     cargo bench -p returnhub-store --bench lookup [-- --returns N --lookups N]
//!
//! The store file is generated once (bulk SQL, same schema via `Store::open`) under
//! $RETURNHUB_BENCH_DIR (default: the system temp dir) and reused by later runs.
//! Prints medians and the ratio; asserts nothing about time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use returnhub_store::bulk::{
    bench_arg as arg, bench_connote as connote, VIEW_BY_CONNOTE, VIEW_CONNOTES, VIEW_HEAD,
    VIEW_ITEMS,
};
use returnhub_store::Store;
use rusqlite::Connection;

const ITEMS_PER_RETURN: u64 = 5;

/// Deterministic pseudo-random sequence (xorshift) so every run looks up the same connotes.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    xs[((xs.len() as f64 - 1.0) * p) as usize]
}

fn main() {
    let returns = arg("--returns", 1_000_000);
    let lookups = arg("--lookups", 20_000);
    let path = returnhub_store::bulk::bench_store(returns, ITEMS_PER_RETURN);
    // A hub's store lives in the page cache once the hub has run a while; read it once so the
    // figure does not depend on what the benchmark before this one left there (a cold 2 GB
    // store made the full-view lookup five times slower, the one-index baseline barely).
    for file in [path.clone(), path.with_extension("db-wal")] {
        if let Ok(mut f) = std::fs::File::open(&file) {
            std::io::copy(&mut f, &mut std::io::sink()).unwrap();
        }
    }
    // Opening: migrations check, pragmas, device id, clock resume.
    let opens: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            black_box(Store::open(&path).unwrap());
            t.elapsed()
        })
        .collect();

    let store = Store::open(&path).unwrap();
    let bare = Connection::open(&path).unwrap();
    bare.execute_batch("PRAGMA synchronous = FULL;").unwrap();
    let mut bare_stmt = bare
        .prepare("SELECT return_id FROM connotes WHERE connote = ?1")
        .unwrap();
    // The fair baseline: the same reads the store does for the view (the return with its
    // retailer and order, its connotes, its items with their lines and reason labels),
    // prepared once, each column read as it is: the same work minus our layers. On a
    // connection of its own opened as the store opens one (next to a bare
    // `Connection::open`, the store's lookups measured 45 µs instead of 27, and 30 alone).
    let view_store = Store::open(&path).unwrap();
    let view_conn = view_store.reader();
    let mut view_head = view_conn
        .prepare(&format!("{VIEW_HEAD} {VIEW_BY_CONNOTE}"))
        .unwrap();
    let mut view_connotes = view_conn.prepare(VIEW_CONNOTES).unwrap();
    let mut view_items = view_conn.prepare(VIEW_ITEMS).unwrap();
    let mut bare_view = |k: &str| -> usize {
        let (id, retailer): (String, String) = view_head
            .query_row([k], |r| {
                for i in 0..10 {
                    black_box(r.get_ref(i)?);
                }
                Ok((r.get(0)?, r.get(3)?))
            })
            .unwrap();
        let mut rows = view_connotes.query([&id]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            black_box(r.get_ref(0).unwrap());
        }
        let mut items = 0;
        let mut rows = view_items.query([&id, &retailer]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            for i in 0..11 {
                black_box(r.get_ref(i).unwrap());
            }
            items += 1;
        }
        items
    };

    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let keys: Vec<String> = (0..lookups)
        .map(|_| connote(next(&mut seed) % returns))
        .collect();
    // Warm both paths the same way (page cache, statement cache).
    for k in keys.iter().take(1000) {
        black_box(store.return_by_connote(k).unwrap());
        black_box(bare_stmt.query_row([k], |r| r.get::<_, String>(0)).unwrap());
        black_box(bare_view(k));
    }
    let mut ours = Vec::with_capacity(keys.len());
    let mut baseline = Vec::with_capacity(keys.len());
    let mut same_view = Vec::with_capacity(keys.len());
    for (n, k) in keys.iter().enumerate() {
        // Whichever reads a return first brings its pages in from the OS for the others:
        // the view and its bare read take turns going first.
        let mut run_ours = || {
            let t = Instant::now();
            let view = black_box(store.return_by_connote(k).unwrap().unwrap());
            ours.push(t.elapsed());
            assert_eq!(view.items.len() as u64, ITEMS_PER_RETURN);
        };
        let mut run_view = || {
            let t = Instant::now();
            let items = black_box(bare_view(k));
            same_view.push(t.elapsed());
            assert_eq!(items as u64, ITEMS_PER_RETURN);
        };
        if n % 2 == 0 {
            run_ours();
            run_view();
        } else {
            run_view();
            run_ours();
        }
        let t = Instant::now();
        black_box(bare_stmt.query_row([k], |r| r.get::<_, String>(0)).unwrap());
        baseline.push(t.elapsed());
    }
    let (ours_med, base_med) = (median(ours.clone()), median(baseline.clone()));
    let view_med = median(same_view.clone());
    println!(
        "store: {returns} returns, {} items, {}",
        returns * ITEMS_PER_RETURN,
        path.display()
    );
    println!(
        "open store (migrate check + pragmas): median {:?}",
        median(opens)
    );
    println!(
        "connote lookup, full return view ({ITEMS_PER_RETURN} items): median {ours_med:?}, p99 {:?}",
        percentile(ours, 0.99)
    );
    println!(
        "baseline bare indexed SELECT return_id:           median {base_med:?}, p99 {:?}",
        percentile(baseline, 0.99)
    );
    let ratio = ours_med.as_secs_f64() / base_med.as_secs_f64();
    println!("ratio (ours / bare): {ratio:.1}x");
    let fair = ours_med.as_secs_f64() / view_med.as_secs_f64();
    println!(
        "baseline bare read of the same view (3 prepared statements): median {view_med:?}, p99 \
         {:?}; ratio ours / it: {fair:.2}x",
        percentile(same_view, 0.99)
    );
    // For scripts/bench: what | ours | baseline | ratio | goal.
    println!(
        "figure: connote lookup, full return view, {returns} returns | {ours_med:.1?} | bare read \
         of the same view {view_med:.1?} | {fair:.2}× | ≤ 1.5×, median < 100 µs"
    );
}
