//! Benchmark: a supervisor's search (F8) over a hub store holding 1,000,000 returns
//! (5,000,000 items), beside the bare SQL that finds the same rows in the same run.
//!
//!     cargo bench -p returnhub-store --bench search [-- --returns N --runs N]
//!
//! The store file is the lookup bench's (generated once under $RETURNHUB_BENCH_DIR, default
//! the system temp dir). Each search answers a page of 50 and the total it finds:
//! - by connote and by order number: one return;
//! - by a SKU every order has ("SKU-0"): all of them, the worst a popular item can do (a key
//!   on more than `COMMON_KEY` returns is counted only that far);
//! - by status only, newest change first: all of them.
//!
//! Prints medians and ratios; asserts nothing about time.

use returnhub_core::model::ReturnStatus;
use returnhub_store::bulk::{bench_arg as arg, bench_connote as connote, median_time as time};
use returnhub_store::{ReturnQuery, Store};
use rusqlite::Connection;

fn main() {
    let returns = arg("--returns", 1_000_000);
    let runs = arg("--runs", 15);
    let path = returnhub_store::bulk::bench_store(returns, 5);
    // Opening applies any newer migration (the search's indexes) to an older file, once.
    let store = Store::open(&path).unwrap();
    let bare = Connection::open(&path).unwrap();
    let page = |q: ReturnQuery| ReturnQuery { limit: 50, ..q };
    let middle = returns / 2;
    let cases: Vec<(&str, ReturnQuery, String, u64)> = vec![
        (
            "connote",
            page(ReturnQuery {
                key: Some(connote(middle)),
                ..ReturnQuery::default()
            }),
            format!(
                "SELECT r.id FROM connotes c JOIN returns r ON r.id = c.return_id
                 WHERE c.connote = '{}'",
                connote(middle)
            ),
            1,
        ),
        (
            "order number",
            page(ReturnQuery {
                key: Some(format!("B{middle}")),
                ..ReturnQuery::default()
            }),
            format!(
                "SELECT r.id FROM orders o JOIN returns r ON r.order_id = o.id
                 WHERE o.order_number = '#B{middle}'"
            ),
            1,
        ),
        (
            "a SKU on every order",
            page(ReturnQuery {
                key: Some("SKU-0".into()),
                ..ReturnQuery::default()
            }),
            "SELECT count(DISTINCT i.return_id) FROM order_lines l
             JOIN return_items i ON i.order_line_id = l.id WHERE l.sku = 'SKU-0'"
                .into(),
            returns,
        ),
        (
            "status, newest change first",
            page(ReturnQuery {
                status: Some(ReturnStatus::Expected),
                ..ReturnQuery::default()
            }),
            "SELECT count(*) FROM returns WHERE status = 'expected'".into(),
            returns,
        ),
    ];
    println!(
        "store: {returns} returns, {} items, {}",
        returns * 5,
        path.display()
    );
    for (name, query, bare_sql, want) in cases {
        let found = store.search_returns(&query).unwrap();
        let total = found.total;
        let counted = if found.at_least {
            format!("at least {total}")
        } else {
            total.to_string()
        };
        assert!(total == want || (found.at_least && want > total), "{name}");
        assert_eq!(found.hits.len() as u64, want.min(50), "{name}");
        let ours = time(runs, || store.search_returns(&query).unwrap());
        let base = time(runs, || {
            let mut stmt = bare.prepare_cached(&bare_sql).unwrap();
            let rows: Vec<String> = stmt
                .query_map([], |r| r.get::<_, rusqlite::types::Value>(0))
                .unwrap()
                .map(|v| format!("{:?}", v.unwrap()))
                .collect();
            rows
        });
        println!(
            "search by {name:<30} median {ours:>10.2?}  bare SQL {base:>10.2?}  ratio {:.1}x  (found {counted})",
            ours.as_secs_f64() / base.as_secs_f64()
        );
    }
}
