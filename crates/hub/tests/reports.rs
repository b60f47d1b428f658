//! A supervisor's reports on the demo hub after a morning's work done through the bench's own
//! commands: every table's totals equal a direct count in the store, the CSV files open with
//! the `csv` crate and say the same, the end-of-shift PDF (read back with `pdftotext` from
//! poppler-utils) carries the figures, an operator may not see them, and the migration's
//! backfill of an older store gives the same milestones and counters the projection keeps.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use returnhub_core::bench::Presence;
use returnhub_core::rules::{Grade, QcStatus};
use returnhub_hub::{Cell, ErrorCode, ErrorView, Hub, HubOptions, ReportFilter, ReportSet};

const START: i64 = 1_795_424_400_000; // 2026-11-23T09:00:00Z
const MINUTE: i64 = 60_000;
/// The returns processed on 2026-11-23, by the event log.
const PROCESSED_TODAY: &str = "SELECT DISTINCT aggregate_id FROM events
    WHERE kind = 'return_status_changed' AND json_extract(payload, '$.to') = 'processed'
      AND recorded_at LIKE '2026-11-23%'";

fn one<T: rusqlite::types::FromSql>(hub: &Hub, sql: &str) -> T {
    hub.with_store(|s| s.reader().query_row(sql, [], |r| r.get(0)).unwrap())
}

/// `n` expected connotes at this hub of `retailer` whose return has one item, for a reason
/// that needs no photo.
fn expected_connotes(hub: &Hub, retailer: &str, n: usize) -> Vec<String> {
    hub.with_store(|s| {
        let conn = s.reader();
        let mut stmt = conn
            .prepare(
                "SELECT c.connote FROM connotes c JOIN returns r ON r.id = c.return_id
                 WHERE r.retailer_id = ?1 AND r.hub_id = 'AKL' AND r.status = 'expected'
                   AND (SELECT count(*) FROM return_items i WHERE i.return_id = r.id) = 1
                   AND c.position = 0
                   AND NOT EXISTS (SELECT 1 FROM return_items i JOIN return_reasons rr
                       ON rr.retailer_id = r.retailer_id AND rr.code = i.reason_code
                       WHERE i.return_id = r.id AND rr.requires_evidence = 1)
                 ORDER BY c.connote LIMIT ?2",
            )
            .unwrap();
        stmt.query_map(rusqlite::params![retailer, n as i64], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<String>>>()
            .unwrap()
    })
}

fn table<'a>(set: &'a ReportSet, name: &str) -> &'a returnhub_hub::ReportTable {
    set.tables.iter().find(|t| t.name == name).unwrap()
}

fn column(t: &returnhub_hub::ReportTable, key: &str) -> usize {
    t.columns.iter().position(|c| c.key == key).unwrap()
}

fn number(c: &Cell) -> i64 {
    match c {
        Cell::Number(n) => *n,
        other => panic!("not a number: {other:?}"),
    }
}

fn sum(t: &returnhub_hub::ReportTable, key: &str) -> i64 {
    let i = column(t, key);
    t.rows.iter().map(|r| number(&r[i])).sum()
}

fn today() -> ReportFilter {
    ReportFilter {
        from: Some("2026-11-23".into()),
        to: Some("2026-11-23".into()),
        ..ReportFilter::default()
    }
}

/// Receives `connotes` ten minutes apart, each processed `minutes` after its receipt; the
/// last one's item fails QC.
fn a_mornings_work(hub: &Hub, clock: &AtomicI64, connotes: &[String], minutes: i64) {
    for (n, connote) in connotes.iter().enumerate() {
        clock.store(START + n as i64 * 10 * MINUTE, Ordering::SeqCst);
        let ret = hub.scan(connote).unwrap().ret.unwrap();
        clock.fetch_add(minutes * MINUTE, Ordering::SeqCst);
        let mut inspection = support::passed(&ret.id, &ret.items[0].id);
        if n == 0 {
            // Inspected twice (the operator changed the grade): the item counts once.
            let mut first = inspection.clone();
            first.grade = Some(Grade::B);
            hub.inspect_item(first).unwrap();
        }
        if n + 1 == connotes.len() {
            inspection.qc = Some(QcStatus::Fail);
            // Kōwhai's own QC reason: its label is found without a retailer filter too.
            inspection.qc_reason = Some("PILLING".into());
            inspection.grade = Some(Grade::C);
            inspection.photos = vec![hub.add_photo(&png()).unwrap().hash];
        }
        assert_eq!(inspection.presence, Presence::Found);
        hub.inspect_item(inspection).unwrap();
        hub.process_return(&ret.id).unwrap();
    }
}

fn png() -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(8, 8, image::Rgb([9, 9, 9])))
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// The demo hub on a clock the test moves (from 09:00), Aroha signed in at the bench.
fn ticking_hub(dir: &Path) -> (Hub, Arc<AtomicI64>) {
    let clock = Arc::new(AtomicI64::new(START));
    let ticking = Arc::clone(&clock);
    let hub = Hub::open_with_clock(
        HubOptions::demo(dir),
        Box::new(move || ticking.load(Ordering::SeqCst)),
    )
    .unwrap();
    hub.sign_in("OP-1001", "1111").unwrap();
    (hub, clock)
}

fn read_csv(path: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[test]
fn reports_count_what_the_bench_did_and_export_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, clock) = ticking_hub(dir.path());
    let connotes = expected_connotes(&hub, "kowhai", 4);
    assert_eq!(connotes.len(), 4);
    a_mornings_work(&hub, &clock, &connotes, 7);
    // One more parcel received and not yet processed.
    let waiting = expected_connotes(&hub, "kowhai", 1).remove(0);
    clock.fetch_add(MINUTE, Ordering::SeqCst);
    hub.scan(&waiting).unwrap();

    let refused = ErrorView::from(hub.reports(today()).unwrap_err());
    assert_eq!(refused.code, ErrorCode::Forbidden);
    hub.sign_in("SV-2001", "2222").unwrap();
    let set = hub.reports(today()).unwrap();
    assert_eq!(set.period, "2026-11-23 to 2026-11-23 (UTC)");

    // Headline figures against the event log itself. (The demo's returns made already
    // received count as received when they were made; none was processed at the bench.)
    let processed: i64 = one(&hub, &format!("SELECT count(*) FROM ({PROCESSED_TODAY})"));
    assert_eq!(processed, 4);
    assert_eq!(set.processed, 4);
    assert_eq!(set.items, 4);
    let received: i64 = one(
        &hub,
        "SELECT count(DISTINCT aggregate_id) FROM events WHERE kind = 'return_status_changed'
           AND json_extract(payload, '$.to') = 'received' AND recorded_at LIKE '2026-11-23%'",
    );
    assert_eq!(received, 5);
    let made_received: i64 = one(
        &hub,
        "SELECT count(*) FROM events WHERE kind = 'return_expected'
           AND json_extract(payload, '$.status') IN ('received', 'processed', 'closed')
           AND json_extract(payload, '$.created_at') LIKE '2026-11-23%'",
    );
    assert_eq!(set.received as i64, received + made_received);
    let by_hour = table(&set, "throughput_hour");
    assert_eq!(sum(by_hour, "processed"), 4);
    assert_eq!(sum(by_hour, "received"), set.received as i64);
    let nine = by_hour
        .rows
        .iter()
        .find(|r| r[0] == Cell::Text("2026-11-23 09:00".into()))
        .unwrap();
    assert_eq!((number(&nine[2]), number(&nine[3])), (4, 4), "{nine:?}");
    let operator: String = one(&hub, "SELECT id FROM users WHERE badge = 'OP-1001'");
    let people = table(&set, "throughput_operator");
    let theirs = people
        .rows
        .iter()
        .find(|r| r[0] == Cell::Text(operator.clone()))
        .unwrap();
    assert_eq!(theirs[1], Cell::Text("Aroha Ngata".into()), "{theirs:?}");
    assert_eq!(number(&theirs[column(people, "processed")]), 4);
    assert_eq!(number(&theirs[column(people, "received")]), 5);
    let station = table(&set, "throughput_station");
    assert_eq!(sum(station, "received"), set.received as i64);

    // Dock to stock: each took seven minutes from receipt to processing.
    let spans = table(&set, "dock_to_stock");
    let first = &spans.rows[0];
    assert_eq!(first[0], Cell::Text("Received → processed".into()));
    assert_eq!(number(&first[1]), 4);
    assert_eq!(number(&first[2]), 7 * MINUTE);
    assert_eq!(number(&first[5]), 7 * MINUTE);
    // Nothing was confirmed yet: no figure rather than a zero.
    assert_eq!(number(&spans.rows[1][1]), 0);
    assert_eq!(spans.rows[1][2], Cell::Empty);

    // Reasons, QC, grades: their totals are the processed returns' items.
    let items: i64 = one(
        &hub,
        &format!("SELECT count(*) FROM return_items WHERE return_id IN ({PROCESSED_TODAY})"),
    );
    assert_eq!(sum(table(&set, "reasons"), "items"), items);
    let qc = table(&set, "qc");
    assert_eq!(sum(qc, "items"), items);
    let failed: Vec<&Vec<Cell>> = qc
        .rows
        .iter()
        .filter(|r| r[0] == Cell::Text("fail".into()))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0][column(qc, "qc_reason_code")],
        Cell::Text("PILLING".into())
    );
    assert_eq!(
        failed[0][column(qc, "qc_reason")],
        Cell::Text("Pilling".into())
    );
    assert_eq!(sum(table(&set, "grades"), "items"), items);

    // Money: each currency's sum is the actions' own.
    let money = table(&set, "money");
    let direct: i64 = one(
        &hub,
        &format!(
            "SELECT coalesce(sum(json_extract(payload, '$.amount.minor')), 0) FROM outbox
             WHERE topic = 'action' AND json_extract(payload, '$.return_id') IN ({PROCESSED_TODAY})"
        ),
    );
    assert!(direct > 0, "the demo's refunds carry money");
    assert_eq!(sum(money, "due_minor"), direct);
    let actions: i64 = one(
        &hub,
        &format!(
            "SELECT count(*) FROM outbox WHERE topic = 'action'
             AND json_extract(payload, '$.return_id') IN ({PROCESSED_TODAY})"
        ),
    );
    assert_eq!(sum(money, "due"), actions);
    assert_eq!(sum(money, "confirmed"), 0, "nothing was sent");

    // The QC fail is held for review: one open exception, under an hour old.
    let exceptions = table(&set, "open_exceptions");
    let open: i64 = one(&hub, "SELECT count(*) FROM exceptions WHERE state = 'open'");
    let all_ages: i64 = ["under_1h", "1h_to_8h", "8h_to_24h", "1d_to_7d", "over_7d"]
        .iter()
        .map(|k| sum(exceptions, k))
        .sum();
    assert_eq!(all_ages, open);
    assert!(open >= 1);

    // What was sent: every return made today, by retailer, source and hub.
    let made_today: i64 = one(
        &hub,
        "SELECT count(*) FROM returns WHERE created_at LIKE '2026-11-23%'",
    );
    assert_eq!(sum(table(&set, "uploads"), "returns"), made_today);
    let ever = hub.reports(ReportFilter::default()).unwrap();
    let made: i64 = one(&hub, "SELECT count(*) FROM returns");
    assert!(made > 0);
    assert_eq!(sum(table(&ever, "uploads"), "returns"), made);
    // Expected, not yet here: this hub's returns not yet received, whatever their age.
    let awaited: i64 = one(
        &hub,
        "SELECT count(*) FROM returns WHERE hub_id = 'AKL' AND status IN ('expected', 'in_transit')",
    );
    let awaited_table = table(&set, "awaited");
    let all_ages: i64 = ["under_1d", "1d_to_3d", "3d_to_7d", "7d_to_14d", "over_14d"]
        .iter()
        .map(|k| sum(awaited_table, k))
        .sum();
    assert!(awaited > 0);
    assert_eq!(all_ages, awaited);

    // A filter narrows: another day has nothing; the operator has everything.
    let tomorrow = hub
        .reports(ReportFilter {
            from: Some("2026-11-24".into()),
            to: Some("2026-11-24".into()),
            ..ReportFilter::default()
        })
        .unwrap();
    assert_eq!((tomorrow.received, tomorrow.processed), (0, 0));
    assert!(table(&tomorrow, "reasons").rows.is_empty());
    let theirs = hub
        .reports(ReportFilter {
            operator: Some(operator.clone()),
            ..today()
        })
        .unwrap();
    assert_eq!(theirs.processed, 4);
    let nobody = hub
        .reports(ReportFilter {
            operator: Some("nobody".into()),
            ..today()
        })
        .unwrap();
    assert_eq!(nobody.processed, 0);
    // Days are the station's: the morning (09:00–09:40 UTC) is the evening of the 23rd in
    // Auckland (UTC+13:00), before the 23rd begins in Honolulu (UTC-10:00).
    let auckland = |day: &str| ReportFilter {
        from: Some(day.into()),
        to: Some(day.into()),
        utc_offset_minutes: 780,
        ..ReportFilter::default()
    };
    let evening = hub.reports(auckland("2026-11-23")).unwrap();
    assert_eq!(evening.processed, 4);
    assert_eq!(evening.period, "2026-11-23 to 2026-11-23 (UTC+13:00)");
    let hours = table(&evening, "throughput_hour");
    assert!(
        hours
            .rows
            .iter()
            .any(|r| r[0] == Cell::Text("2026-11-23 22:00".into()) && number(&r[2]) == 4),
        "{:?}",
        hours.rows
    );
    assert_eq!(sum(table(&evening, "qc"), "items"), items);
    assert_eq!(hub.reports(auckland("2026-11-24")).unwrap().processed, 0);
    let honolulu = hub
        .reports(ReportFilter {
            utc_offset_minutes: -600,
            ..today()
        })
        .unwrap();
    assert_eq!(honolulu.processed, 0);
    // A half-hour zone (the Marquesas, UTC-09:30, like India's +05:30 the other way): the day
    // turns at 09:30 UTC, between the third processing (09:27) and the fourth (09:37), and its
    // hours begin at half past.
    let marquesas = |day: &str| ReportFilter {
        from: Some(day.into()),
        to: Some(day.into()),
        utc_offset_minutes: -570,
        ..ReportFilter::default()
    };
    let (before, after) = (
        hub.reports(marquesas("2026-11-22")).unwrap(),
        hub.reports(marquesas("2026-11-23")).unwrap(),
    );
    assert_eq!((before.processed, after.processed), (3, 1));
    for (set, hour, processed) in [
        (&before, "2026-11-22 23:00", 3),
        (&after, "2026-11-23 00:00", 1),
    ] {
        let hours = table(set, "throughput_hour");
        let at = column(hours, "processed");
        assert_eq!(
            hours
                .rows
                .iter()
                .filter(|r| number(&r[at]) > 0)
                .map(|r| (r[0].clone(), number(&r[at])))
                .collect::<Vec<_>>(),
            vec![(Cell::Text(hour.into()), processed)],
        );
    }
    let nowhere = ErrorView::from(
        hub.reports(ReportFilter {
            utc_offset_minutes: 24 * 60,
            ..today()
        })
        .unwrap_err(),
    );
    assert_eq!(nowhere.code, ErrorCode::Invalid);
    let bad = ErrorView::from(
        hub.reports(ReportFilter {
            from: Some("23/11/2026".into()),
            ..ReportFilter::default()
        })
        .unwrap_err(),
    );
    assert_eq!(bad.code, ErrorCode::Invalid);

    // CSV: the header is the columns' keys, the totals are the store's.
    let exported = hub.export_report_csv(today(), "reasons").unwrap();
    let (header, rows) = read_csv(&exported.path);
    assert_eq!(
        header,
        [
            "retailer",
            "reason_code",
            "reason",
            "sub_reason_code",
            "sub_reason",
            "items",
            "quantity"
        ]
    );
    assert_eq!(exported.rows, rows.len() as u64);
    let csv_items: i64 = rows.iter().map(|r| r[5].parse::<i64>().unwrap()).sum();
    assert_eq!(csv_items, items);
    let exported = hub.export_report_csv(today(), "money").unwrap();
    let (header, rows) = read_csv(&exported.path);
    assert_eq!(
        header,
        [
            "action",
            "currency",
            "due",
            "due_minor",
            "due_amount",
            "confirmed",
            "confirmed_minor",
            "confirmed_amount"
        ]
    );
    let csv_minor: i64 = rows.iter().map(|r| r[3].parse::<i64>().unwrap()).sum();
    assert_eq!(csv_minor, direct);
    assert!(rows.iter().any(|r| r[1] == "NZD"));
    for r in &rows {
        // The decimal column says the same amount as the minor units (NZD: two decimals);
        // an action without money has neither.
        let minor: i64 = r[3].parse().unwrap();
        match r[1].as_str() {
            "NZD" => assert_eq!(r[4], format!("{}.{:02}", minor / 100, minor % 100)),
            "" => assert_eq!((minor, r[4].as_str()), (0, ""), "{r:?}"),
            other => panic!("the demo's Kōwhai sells in NZD, not {other}"),
        }
    }
    let unknown = ErrorView::from(hub.export_report_csv(today(), "nonsense").unwrap_err());
    assert_eq!(unknown.code, ErrorCode::Invalid);

    // The end-of-shift summary.
    let pdf = hub.shift_summary_pdf(today()).unwrap();
    assert!(pdf.path.ends_with(".pdf"), "{}", pdf.path);
    let text = pdf_text(&pdf.path);
    for expected in [
        "End of shift",
        "Returns processed: 4",
        "Period: 2026-11-23 to 2026-11-23",
        &format!("Returns received: {}", set.received),
        "Why they came back",
        "Pilling",
        "Dock to stock",
        "7 min",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(!Path::new(&format!("{}.partial", pdf.path)).exists());
}

fn pdf_text(path: &str) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", path, "-"])
        .output()
        .expect("pdftotext (poppler-utils) must be installed");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_migration_backfills_the_milestones_and_counters_the_projection_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, clock) = ticking_hub(dir.path());
    let connotes = expected_connotes(&hub, "kowhai", 3);
    a_mornings_work(&hub, &clock, &connotes, 8);
    let waiting = expected_connotes(&hub, "kowhai", 1).remove(0);
    hub.scan(&waiting).unwrap();
    drop(hub);

    let path = dir.path().join("returnhub.db");
    let milestones = |path: &Path| -> Vec<Vec<Option<String>>> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT return_id, retailer_id, received_at, received_by, received_station,
                        processed_at, processed_by, processed_station, CAST(items AS TEXT),
                        confirmed_at
                 FROM return_milestones ORDER BY return_id",
            )
            .unwrap();
        stmt.query_map([], |r| (0..10).map(|i| r.get(i)).collect())
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    };
    let counters = |path: &Path| -> Vec<Vec<Option<String>>> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT measure, period, retailer_id, actor, station, k1, k2, k3,
                        CAST(n AS TEXT), CAST(amount AS TEXT)
                 FROM report_counts WHERE n != 0 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
            )
            .unwrap();
        stmt.query_map([], |r| (0..10).map(|i| r.get(i)).collect())
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    };
    let kept = milestones(&path);
    let counted = counters(&path);
    assert!(counted.iter().any(|c| c[0].as_deref() == Some("qc")));
    assert_eq!(kept.iter().filter(|m| m[5].is_some()).count(), 3);
    assert!(kept.iter().filter(|m| m[2].is_some()).count() >= 4);

    // The same store as the release before the milestones had it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE return_milestones; DROP TABLE report_counts; DROP TABLE report_actions;
             DROP TABLE upload_refusals; -- 0015, made again after 0014
             DROP TABLE webhook_bodies; -- 0017, with the column it moved
             ALTER TABLE webhook_deliveries ADD COLUMN body TEXT NOT NULL DEFAULT '[]';
         PRAGMA user_version = 13;",
    )
    .unwrap();
    drop(conn);
    drop(returnhub_store::Store::open(&path).unwrap());
    assert_eq!(milestones(&path), kept);
    assert_eq!(counters(&path), counted);
}
