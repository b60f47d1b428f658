//! Benchmark: the supervisors' reports (F9) over a hub store holding 1,000,000 processed
//! returns (1.33M items, 1.33M inspections, 1M actions) and 10,000,000 events, beside bare SQL
//! over the same rows in the same run; and what the reports' counters cost a durable receipt.
//!
//!     cargo bench -p returnhub-store --bench reports [-- --returns N --runs N]
//!
//! The store is generated once under $RETURNHUB_BENCH_DIR (default the system temp dir): 90
//! days of a busy hub, ~11,000 returns a day. Each report is timed for a day, a week, a month
//! and the whole 90 days; "bare" is the plain SQL aggregate over the rows the report counts
//! (returns, items, inspections, actions: what a report would read without the counters the
//! projection keeps). The search rows are a supervisor's F8 over the same store. A durable
//! receipt (a store of 200,000 returns) is timed without and with the reports' rows, and with
//! and without F8's index on the last change (the one search index a receipt writes). Prints
//! medians and ratios; asserts nothing about time. "Expected, not yet here" is timed on the
//! lookup bench's store of 1M returns all still expected.

use std::hint::black_box;
use std::time::{Duration, Instant};

use returnhub_store::bulk::{bench_arg as arg, median_time as time};
use returnhub_store::{ReportQuery, ReturnQuery, Store};
use rusqlite::{params, Connection};

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// A ratio as a person reads it: "1.12×", or "1/1159" when ours is far below the baseline.
fn ratio(ours: Duration, base: Duration) -> String {
    let r = ours.as_secs_f64() / base.as_secs_f64();
    if r < 0.1 {
        format!("1/{:.0}", 1.0 / r)
    } else {
        format!("{r:.2}×")
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Runs a bare aggregate and reads every row it gives.
fn bare(conn: &Connection, sql: &str, from: &str, until: &str) -> usize {
    let mut stmt = conn.prepare_cached(sql).unwrap();
    let mut rows = stmt.query(params![from, until]).unwrap();
    let mut n = 0;
    while let Some(r) = rows.next().unwrap() {
        black_box(r.get_ref(0).unwrap());
        n += 1;
    }
    n
}

const IN_PERIOD: &str = "m.processed_at >= ?1 AND m.processed_at < ?2";

fn main() {
    let returns = arg("--returns", 1_000_000);
    let runs = arg("--runs", 7);
    let path = returnhub_store::bulk::history_store(returns);
    let store = Store::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    let events: i64 = conn
        .query_row("SELECT max(seq) FROM events", [], |r| r.get(0))
        .unwrap();
    println!("store: {returns} processed returns, {events} events, 90 days");

    let periods = [
        (
            "day",
            "2026-11-15T00:00:00.000Z",
            "2026-11-16T00:00:00.000Z",
        ),
        (
            "week",
            "2026-11-09T00:00:00.000Z",
            "2026-11-16T00:00:00.000Z",
        ),
        (
            "month",
            "2026-10-16T00:00:00.000Z",
            "2026-11-16T00:00:00.000Z",
        ),
        (
            "90 days",
            "2026-09-01T00:00:00.000Z",
            "2026-12-01T00:00:00.000Z",
        ),
    ];
    type Ours<'a> = Box<dyn Fn(&ReportQuery) -> usize + 'a>;
    let reports: Vec<(&str, Ours<'_>, String)> = vec![
        (
            "throughput by hour",
            Box::new(|q| store.report_throughput(q, "hour").unwrap().len()),
            format!(
                "SELECT substr(m.received_at, 1, 13), count(*) FROM return_milestones m
                 WHERE m.received_at >= ?1 AND m.received_at < ?2 GROUP BY 1
                 UNION ALL
                 SELECT substr(m.processed_at, 1, 13), count(*) || sum(m.items)
                 FROM return_milestones m WHERE {IN_PERIOD} GROUP BY 1"
            ),
        ),
        (
            "throughput by person",
            Box::new(|q| store.report_throughput(q, "actor").unwrap().len()),
            format!(
                "SELECT m.received_by, count(*) FROM return_milestones m
                 WHERE m.received_at >= ?1 AND m.received_at < ?2 GROUP BY 1
                 UNION ALL
                 SELECT m.processed_by, count(*) || sum(m.items) FROM return_milestones m
                 WHERE {IN_PERIOD} GROUP BY 1"
            ),
        ),
        (
            "dock to stock",
            Box::new(|q| store.report_spans(q).unwrap().len()),
            format!(
                "SELECT julianday(m.processed_at) - julianday(m.received_at),
                        julianday(m.confirmed_at) - julianday(m.processed_at),
                        julianday(m.confirmed_at) - julianday(m.received_at)
                 FROM return_milestones m WHERE {IN_PERIOD}"
            ),
        ),
        (
            "reasons",
            Box::new(|q| store.report_reasons(q).unwrap().len()),
            format!(
                "SELECT i.reason_code, i.sub_reason_code, count(*), sum(i.quantity)
                 FROM return_milestones m JOIN return_items i ON i.return_id = m.return_id
                 WHERE {IN_PERIOD} GROUP BY 1, 2"
            ),
        ),
        (
            "QC",
            Box::new(|q| store.report_qc(q).unwrap().len()),
            format!(
                "SELECT n.qc, n.presence, n.qc_reason, count(*)
                 FROM return_milestones m JOIN inspections n ON n.return_id = m.return_id
                 WHERE {IN_PERIOD} AND n.undone_by IS NULL GROUP BY 1, 2, 3"
            ),
        ),
        (
            "grades",
            Box::new(|q| store.report_grades(q).unwrap().len()),
            format!(
                "SELECT n.grade, n.disposition, count(*)
                 FROM return_milestones m JOIN inspections n ON n.return_id = m.return_id
                 WHERE {IN_PERIOD} AND n.undone_by IS NULL AND n.presence = 'found'
                 GROUP BY 1, 2"
            ),
        ),
        (
            "money",
            Box::new(|q| store.report_money(q).unwrap().len()),
            format!(
                "SELECT o.state, count(*), sum(json_extract(o.payload, '$.amount.minor'))
                 FROM return_milestones m JOIN outbox o ON o.topic = 'action'
                   AND json_extract(o.payload, '$.return_id') = m.return_id
                 WHERE {IN_PERIOD} GROUP BY 1"
            ),
        ),
        (
            "what was sent",
            Box::new(|q| store.report_uploads(q).unwrap().len()),
            "SELECT retailer_id, source, hub_id, count(*) FROM returns
             WHERE created_at >= ?1 AND created_at < ?2 GROUP BY 1, 2, 3"
                .to_owned(),
        ),
        (
            "failed and unknown actions",
            Box::new(|q| store.report_troubled_actions(q).unwrap().0.len()),
            // Not by period: what stands now (?1 and ?2 unused).
            "SELECT count(*) FROM outbox WHERE topic = 'action' AND state IN ('failed', 'unknown')
               AND ?1 IS NOT NULL AND ?2 IS NOT NULL
             UNION ALL
             SELECT * FROM (SELECT dedupe_key FROM outbox WHERE topic = 'action'
               AND state IN ('failed', 'unknown') ORDER BY updated_at, id LIMIT 500)"
                .to_owned(),
        ),
    ];

    println!("\n| report | period | ours | bare SQL | ratio |\n|---|---|---|---|---|");
    let mut worst = Duration::ZERO;
    for (period, from, until) in periods {
        let query = ReportQuery {
            from: Some(from.into()),
            until: Some(until.into()),
            ..ReportQuery::default()
        };
        let mut total_ours = Duration::ZERO;
        let mut total_bare = Duration::ZERO;
        for (name, ours, sql) in &reports {
            let t_ours = time(runs, || ours(&query));
            let t_bare = time(runs, || bare(&conn, sql, from, until));
            total_ours += t_ours;
            total_bare += t_bare;
            println!(
                "| {name} | {period} | {} | {} | {} |",
                ms(t_ours),
                ms(t_bare),
                ratio(t_ours, t_bare)
            );
        }
        worst = worst.max(total_ours);
        println!(
            "| **all of F9** | {period} | {} | {} | {} |",
            ms(total_ours),
            ms(total_bare),
            ratio(total_ours, total_bare)
        );
    }

    // F8 over the same store.
    let by_connote = ReturnQuery {
        key: Some("HZ000500000NZ".into()),
        limit: 50,
        ..ReturnQuery::default()
    };
    let by_status = ReturnQuery {
        status: Some(returnhub_core::model::ReturnStatus::Processed),
        limit: 50,
        ..ReturnQuery::default()
    };
    // "Expected, not yet here" reads the returns still awaited, now: none in this store, all
    // of them in the lookup bench's store of 1M expected returns (its worst case).
    let awaiting = Store::open(&returnhub_store::bulk::bench_store(returns, 5)).unwrap();
    let awaiting_bare = Connection::open(returnhub_store::bulk::bench_store(returns, 5)).unwrap();
    let now = "2026-12-01T00:00:00.000Z";
    let t_ours = time(runs, || {
        awaiting
            .report_awaited(&ReportQuery::default(), "AKL", now)
            .unwrap()
            .len()
    });
    let t_bare = time(runs, || {
        bare(
            &awaiting_bare,
            "SELECT retailer_id, status, count(*), min(created_at) FROM returns
             WHERE hub_id = 'AKL' AND status IN ('expected', 'in_transit')
               AND ?1 IS NOT NULL AND ?2 IS NOT NULL GROUP BY 1, 2",
            now,
            now,
        )
    });
    println!(
        "| expected, not yet here ({returns} awaited) | now | {} | {} | {} |",
        ms(t_ours),
        ms(t_bare),
        ratio(t_ours, t_bare)
    );

    println!("\nF8 over the same store (the search bench compares it with bare SQL):");
    for (name, q) in [
        ("search by connote", by_connote),
        (
            "search by status, newest first (page 1 and the total)",
            by_status,
        ),
    ] {
        let t_ours = time(runs, || store.search_returns(&q).unwrap().hits.len());
        println!("| {name} | {} |", ms(t_ours));
    }
    println!(
        "\nslowest whole F9 (all reports, one period): {}",
        ms(worst)
    );
    // For scripts/bench: what | ours | baseline | ratio | goal.
    println!(
        "figure: every report of F9 at once, its longest period, {returns} processed returns | \
         {} | — | — | < 1 s",
        ms(worst)
    );

    // What the reports cost a durable receipt: the receipt's rows (event, status, sync outbox)
    // committed at synchronous=FULL, without and with what the projection adds for the
    // reports (the milestone and the receipt counter).
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("receipts.db");
    returnhub_store::bulk::generate(
        &small,
        &returnhub_store::bulk::BulkReturns {
            returns: 200_000,
            items_per_return: 2,
            retailer_id: "r1",
            hub_id: "AKL",
            connote: &returnhub_store::bulk::bench_connote,
        },
    );
    let mut w = Connection::open(&small).unwrap();
    w.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .unwrap();
    let receipts = 400;
    let mut next = 0u64;
    let mut without = Vec::new();
    let mut with = Vec::new();
    for n in 0..receipts {
        // Interleaved, so the disk's moods fall on both alike.
        let t = Instant::now();
        receipt(&mut w, next, n % 2 == 1);
        next += 1;
        if n % 2 == 1 {
            with.push(t.elapsed());
        } else {
            without.push(t.elapsed());
        }
    }
    let (without, with) = (median(without), median(with));
    println!(
        "\ndurable receipt (synchronous=FULL), median of {}: {} without the reports' rows, {} \
         with them ({:+.1}%)",
        receipts / 2,
        ms(without),
        ms(with),
        (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
    println!(
        "figure: durable receipt (event, status, sync outbox, reports' rows; synchronous=FULL) | \
         {} | the same without the reports' rows {} | {:.2}× | within the receipt's figure",
        ms(with),
        ms(without),
        with.as_secs_f64() / without.as_secs_f64()
    );

    // What F8's index on the last change (hub migration 0013; the only one of its indexes a
    // receipt writes) costs the same receipt: with it, without it, with it again.
    let mut phase = |w: &mut Connection| {
        median(
            (0..receipts / 2)
                .map(|_| {
                    let t = Instant::now();
                    receipt(w, next, true);
                    next += 1;
                    t.elapsed()
                })
                .collect(),
        )
    };
    let before = phase(&mut w);
    w.execute_batch("DROP INDEX returns_by_updated").unwrap();
    let bare = phase(&mut w);
    w.execute_batch("CREATE INDEX returns_by_updated ON returns (updated_at, id)")
        .unwrap();
    let after = phase(&mut w);
    println!(
        "durable receipt, median of {}: {} and {} with F8's index on the last change, {} without \
         it",
        receipts / 2,
        ms(before),
        ms(after),
        ms(bare)
    );
}

/// One durable receipt of return `bulk-ret{n}` (event row, status, sync outbox row), with the
/// reports' rows when `with_milestone`; committed at the connection's durability.
fn receipt(w: &mut Connection, n: u64, with_milestone: bool) {
    let id = format!("bulk-ret{n}");
    let next = n + 1;
    let tx = w
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let event = format!("bench-ev-{next}");
    tx.prepare_cached(
        "INSERT INTO events (id, device_id, hlc, actor, station, kind, aggregate_id, payload,
           recorded_at, version)
         VALUES (?1, 'd', ?1, 'u-1', 'bench-1', 'return_status_changed', ?2,
           '{\"type\":\"return_status_changed\"}', '2026-11-23T09:00:00.000Z', 1)",
    )
    .unwrap()
    .execute(params![event, id])
    .unwrap();
    tx.prepare_cached(
        "UPDATE returns SET status = 'received', updated_at = '2026-11-23T09:00:00.000Z'
         WHERE id = ?1 AND status = 'expected'",
    )
    .unwrap()
    .execute([&id])
    .unwrap();
    tx.prepare_cached(
        "INSERT INTO outbox (topic, dedupe_key, event_id, payload, created_at, updated_at)
         VALUES ('sync', ?1, ?1, '{}', '2026-11-23T09:00:00.000Z', '2026-11-23T09:00:00.000Z')",
    )
    .unwrap()
    .execute([&event])
    .unwrap();
    if with_milestone {
        returnhub_store::bulk::note_receipt(&tx, &id, "2026-11-23T09:00:00.000Z", "u-1", "bench-1")
            .unwrap();
    }
    tx.commit().unwrap();
}
