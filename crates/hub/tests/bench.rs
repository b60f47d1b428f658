//! The bench after the scan, on a real store: inspection, undo, processing (decisions,
//! actions, labels, exceptions in one write), the orphan intake, the supervisor's queue,
//! overrides and manual close, the audit trail, and the print queue on a real TCP socket and
//! a real PDF folder. Each test checks what the hub answered and what the store holds.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use returnhub_core::bench::{Disposition, ExceptionKind, Presence};
use returnhub_core::model::{ReturnStatus, ScanVerdict};
use returnhub_core::rules::{Grade, Outcome, QcStatus};
use returnhub_core::station::{PrinterSettings, StationConfig};
use returnhub_hub::{ErrorCode, ErrorView, Hub, HubOptions, InspectRequest};

const NOW: i64 = 1_795_461_900_000; // 2026-11-23T19:25:00Z

fn demo_hub(dir: &Path) -> Arc<Hub> {
    let hub = Hub::open_with_clock(HubOptions::demo(dir), Box::new(|| NOW)).unwrap();
    hub.sign_in("OP-1001", "1111").unwrap();
    Arc::new(hub)
}

fn count(hub: &Hub, sql: &str) -> i64 {
    hub.with_store(|s| s.reader().query_row(sql, [], |r| r.get(0)).unwrap())
}

/// An expected connote at this hub of `retailer` whose return has `items` items.
fn connote_with(hub: &Hub, retailer: &str, items: i64) -> String {
    hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT min(c.connote) FROM connotes c JOIN returns r ON r.id = c.return_id
                 WHERE r.retailer_id = ?1 AND r.hub_id = 'AKL' AND r.status = 'expected'
                   AND (SELECT count(*) FROM return_items i WHERE i.return_id = r.id) = ?2",
                rusqlite::params![retailer, items],
                |r| r.get(0),
            )
            .unwrap()
    })
}

fn return_of(hub: &Hub, connote: &str) -> String {
    hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT return_id FROM connotes WHERE connote = ?1",
                [connote],
                |r| r.get(0),
            )
            .unwrap()
    })
}

/// The actions queued for a return.
fn actions_of(hub: &Hub, return_id: &str) -> i64 {
    hub.with_store(|s| s.actions_of(return_id).unwrap().len() as i64)
}

fn pass(return_id: &str, item_id: &str) -> InspectRequest {
    support::passed(return_id, item_id)
}

fn png() -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        64,
        48,
        image::Rgb([200, 30, 30]),
    ))
    .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
    .unwrap();
    out
}

/// The message of an error of `code`.
fn refused(e: returnhub_hub::HubError, code: ErrorCode) -> String {
    let view = ErrorView::from(e);
    assert_eq!(view.code, code, "{}", view.message);
    view.message
}

fn invalid(e: returnhub_hub::HubError) -> String {
    let view = ErrorView::from(e);
    assert_eq!(view.code, ErrorCode::Invalid, "{}", view.message);
    view.message
}

#[test]
fn a_happy_one_item_return_is_scan_pass_process_and_its_label_prints() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let connote = connote_with(&hub, "kowhai", 1);

    // 1. Scan.
    let scan = hub.scan(&format!("{connote}\r")).unwrap();
    assert_eq!(scan.verdict, ScanVerdict::Expected);
    let ret = scan.ret.unwrap();
    let state = scan.bench.unwrap();
    assert_eq!(state.status, ReturnStatus::Received);
    assert_eq!(state.blockers, vec!["Item 1 is not inspected."]);
    let item = ret.items[0].id.clone();
    let refused = invalid(hub.process_return(&ret.id).unwrap_err());
    assert!(refused.contains("not inspected"), "{refused}");

    // 2. QC verdict.
    let state = hub.inspect_item(pass(&ret.id, &item)).unwrap();
    assert!(state.blockers.is_empty(), "{:?}", state.blockers);
    let inspection = state.items[0].inspection.as_ref().unwrap();
    assert_eq!(
        inspection.disposition,
        Some(Disposition::BackToStock),
        "a pass defaults to stock"
    );

    // 3. Process.
    let done = hub.process_return(&ret.id).unwrap();
    assert_eq!(done.state.status, ReturnStatus::Processed);
    let decision = done.state.items[0].decision.as_ref().unwrap();
    let sends = matches!(
        decision.outcome,
        Outcome::Refund | Outcome::CreditNote { .. } | Outcome::Exchange
    );
    assert_eq!(
        done.actions_queued,
        u32::from(sends),
        "Processing trigger: due now"
    );
    assert_eq!(done.labels_queued, 1);
    assert_eq!(
        count(
            &hub,
            &format!(
                "SELECT count(*) FROM outbox WHERE topic = 'action' AND payload LIKE '%{}%'",
                ret.id
            )
        ),
        i64::from(done.actions_queued)
    );
    assert_eq!(
        count(&hub, &format!("SELECT count(*) FROM decisions WHERE return_id = '{}' AND explanation_json LIKE '%notes%'", ret.id)),
        1,
        "the decision is stored with its explanation"
    );
    assert_eq!(
        count(
            &hub,
            &format!(
                "SELECT count(*) FROM returns WHERE id = '{}' AND status = 'processed'",
                ret.id
            )
        ),
        1
    );

    // The label goes to the station's printer: here a PDF folder.
    let pdfs = dir.path().join("labels");
    let mut config = StationConfig::default_for(&hub.options().station);
    config.printer = PrinterSettings::PdfFolder {
        dir: pdfs.display().to_string(),
    };
    hub.sign_in("AD-3001", "3333").unwrap();
    hub.save_station(config).unwrap();
    let round = hub.print_due_labels().unwrap();
    assert_eq!((round.printed, round.failed), (1, 0));
    let printed: Vec<_> = std::fs::read_dir(&pdfs).unwrap().collect();
    assert_eq!(printed.len(), 1);
    let pdf = std::fs::read(printed[0].as_ref().unwrap().path()).unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM outbox WHERE topic = 'label' AND state = 'confirmed'"
        ),
        1
    );
    assert_eq!(hub.print_due_labels().unwrap().printed, 0, "printed once");
}

#[test]
fn a_two_item_return_with_a_qc_fail_needs_a_reason_and_a_photo_and_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let connote = connote_with(&hub, "kowhai", 2);
    let scan = hub.scan(&connote).unwrap();
    let ret = scan.ret.unwrap();
    let (first, second) = (ret.items[0].id.clone(), ret.items[1].id.clone());
    hub.inspect_item(pass(&ret.id, &first)).unwrap();

    let mut fail = pass(&ret.id, &second);
    fail.qc = Some(QcStatus::Fail);
    fail.grade = Some(Grade::D);
    let msg = invalid(hub.inspect_item(fail.clone()).unwrap_err());
    assert!(msg.contains("needs a reason"), "{msg}");
    fail.qc_reason = Some("NOT_A_REASON".into());
    let msg = invalid(hub.inspect_item(fail.clone()).unwrap_err());
    assert!(
        msg.contains("not one of this retailer's QC reasons"),
        "{msg}"
    );

    // Kōwhai's own reason, which demands a photo.
    fail.qc_reason = Some("PILLING".into());
    let state = hub.inspect_item(fail.clone()).unwrap();
    assert_eq!(state.blockers, vec!["Item 2 needs a photo as evidence."]);
    let photo = hub.add_photo(&png()).unwrap();
    fail.photos = vec![photo.hash.clone()];
    let state = hub.inspect_item(fail).unwrap();
    assert!(state.blockers.is_empty(), "{:?}", state.blockers);
    assert_eq!(
        state.items[1].inspection.as_ref().unwrap().disposition,
        Some(Disposition::ResaleHold)
    );

    let done = hub.process_return(&ret.id).unwrap();
    let held = done.state.items[1].decision.as_ref().unwrap();
    assert_eq!(
        held.outcome,
        Outcome::HoldForReview,
        "Kōwhai holds QC fails for review"
    );
    assert_eq!(done.exceptions_raised, 1);
    assert_eq!(
        count(&hub, &format!("SELECT count(*) FROM exceptions WHERE kind = 'qc_hold' AND state = 'open' AND return_id = '{}'", ret.id)),
        1
    );
    assert_eq!(done.labels_queued, 2);

    // The supervisor decides the held item; the hold is settled and the refund is queued
    // (Kōwhai's trigger, Processing, has fired already).
    hub.sign_in("SV-2001", "2222").unwrap();
    let queue = hub.exceptions(false).unwrap();
    assert!(queue
        .iter()
        .any(|x| x.kind == ExceptionKind::QcHold && x.return_id.as_deref() == Some(&ret.id)));
    let msg = invalid(
        hub.override_decision(&ret.id, &second, Outcome::Refund, " ")
            .unwrap_err(),
    );
    assert!(msg.contains("reason"), "{msg}");
    let before = count(&hub, "SELECT count(*) FROM outbox WHERE topic = 'action'");
    let result = hub
        .override_decision(
            &ret.id,
            &second,
            Outcome::Refund,
            "pilling is within tolerance",
        )
        .unwrap();
    assert_eq!(result.actions_queued, 1);
    let decided = result.state.items[1].decision.as_ref().unwrap();
    assert_eq!(decided.outcome, Outcome::Refund);
    assert!(decided.amount.unwrap().minor > 0);
    assert_eq!(
        count(&hub, "SELECT count(*) FROM outbox WHERE topic = 'action'"),
        before + 1
    );
    assert_eq!(
        count(&hub, &format!("SELECT count(*) FROM exceptions WHERE kind = 'qc_hold' AND state = 'open' AND return_id = '{}'", ret.id)),
        0,
        "nothing is held any more"
    );
    let msg = refused(
        hub.override_decision(&ret.id, &second, Outcome::NoAction, "changed my mind")
            .unwrap_err(),
        ErrorCode::Conflict,
    );
    assert!(msg.contains("already queued"), "{msg}");
    // The trail says who did what, with before and after.
    let trail = hub.audit_trail(&ret.id).unwrap();
    let text: Vec<String> = trail
        .iter()
        .map(|e| format!("{} {}", e.who, e.what))
        .collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("Aroha") && t.contains("Status received → processed")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("Sam") && t.contains("supervisor override of Hold for review")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|t| t.contains("QC fail, PILLING, grade D")),
        "{text:#?}"
    );
}

#[test]
fn item_scans_tick_items_record_extras_and_undo_is_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let connote = connote_with(&hub, "kowhai", 1);
    let ret = hub.scan(&connote).unwrap().ret.unwrap();
    let item = &ret.items[0];
    let ean = item.ean.clone().expect("demo items have EANs");

    let first = hub.scan_item(&ret.id, &format!("{ean}\r")).unwrap();
    assert_eq!(first.matched_item.as_deref(), Some(item.id.as_str()));
    assert_eq!(
        first.state.items[0].inspection.as_ref().unwrap().presence,
        Presence::Found
    );
    assert_eq!(
        first.state.blockers,
        vec!["Item 1 needs a QC pass or fail."]
    );
    let second = hub.scan_item(&ret.id, &ean).unwrap();
    assert!(second.extra, "a second unit of a one-unit line is extra");
    let stranger = hub.scan_item(&ret.id, "9400000000001").unwrap();
    assert!(stranger.extra);
    assert_eq!(stranger.state.extras.len(), 2);

    let state = hub.undo_last(&ret.id).unwrap();
    assert_eq!(state.extras.len(), 1, "the last step is undone");
    assert_eq!(
        count(&hub, "SELECT count(*) FROM extra_items"),
        2,
        "kept, marked undone"
    );
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM events WHERE kind = 'step_undone'"
        ),
        1
    );

    // Another operator cannot undo Aroha's steps.
    hub.sign_in("OP-1002", "1212").unwrap();
    let msg = invalid(hub.undo_last(&ret.id).unwrap_err());
    assert!(msg.contains("nothing of yours"), "{msg}");
    assert!(!hub.bench_state(&ret.id).unwrap().can_undo);
    // Aroha's steps are read from the log, so they outlive a restart of the app.
    drop(hub);
    let hub = demo_hub(dir.path());
    assert!(hub.bench_state(&ret.id).unwrap().can_undo);

    // Processing with an extra item raises a mismatch for the supervisor.
    hub.inspect_item(pass(&ret.id, &item.id)).unwrap();
    let done = hub.process_return(&ret.id).unwrap();
    assert_eq!(done.exceptions_raised, 1);
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM exceptions WHERE kind = 'mismatch'"
        ),
        1
    );
    let msg = refused(
        hub.inspect_item(pass(&ret.id, &item.id)).unwrap_err(),
        ErrorCode::Conflict,
    );
    assert!(msg.contains("can no longer change"), "{msg}");
}

#[test]
fn an_unknown_parcel_is_matched_by_order_number_or_parked() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let unknown = "LZ999999995NZ";
    let scan = hub.scan(unknown).unwrap();
    assert_eq!(scan.verdict, ScanVerdict::Unknown);

    // An order with no return yet.
    let (order_id, number): (String, String) = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT id, order_number FROM orders o WHERE retailer_id = 'kowhai'
                   AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.order_id = o.id)
                 ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    });
    let matches = hub.find_orders(number.trim_start_matches('#')).unwrap();
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].order_id, order_id);
    assert!(matches[0].open_return.is_none());
    let msg = invalid(hub.find_orders("ab").unwrap_err());
    assert!(msg.contains("at least 3"), "{msg}");

    let linked = hub.link_orphan(unknown, &order_id).unwrap();
    assert_eq!(linked.verdict, ScanVerdict::Expected);
    let ret = linked.ret.unwrap();
    assert_eq!(ret.status, ReturnStatus::Received);
    assert_eq!(linked.bench.unwrap().items.len(), ret.items.len());
    // The connote now finds the return; the parcel is on the bench.
    assert_eq!(hub.scan(unknown).unwrap().verdict, ScanVerdict::Expected);
    let msg = refused(
        hub.link_orphan(unknown, &order_id).unwrap_err(),
        ErrorCode::Conflict,
    );
    assert!(msg.contains("already belongs"), "{msg}");

    // A parcel nobody can match goes to the supervisor with a photo.
    let photo = hub.add_photo(&png()).unwrap();
    let msg = invalid(hub.park_orphan("XX1", " ", vec![]).unwrap_err());
    assert!(msg.contains("say what is in the parcel"), "{msg}");
    hub.park_orphan(
        "LZ999999981NZ",
        "blue hoodie, no paperwork",
        vec![photo.hash],
    )
    .unwrap();
    hub.sign_in("SV-2001", "2222").unwrap();
    let queue = hub.exceptions(false).unwrap();
    let parked = queue
        .iter()
        .find(|x| x.kind == ExceptionKind::UnknownParcel)
        .unwrap();
    assert_eq!(parked.photos.len(), 1);
    hub.resolve_exception(&parked.id, "matched to order by email")
        .unwrap();
    assert!(hub
        .exceptions(false)
        .unwrap()
        .iter()
        .all(|x| x.id != parked.id));
}

#[test]
fn a_duplicate_scan_is_one_exception_and_processing_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let connote = connote_with(&hub, "kowhai", 1);
    let ret = hub.scan(&connote).unwrap().ret.unwrap();
    hub.inspect_item(pass(&ret.id, &ret.items[0].id)).unwrap();
    hub.process_return(&ret.id).unwrap();
    let actions = count(&hub, "SELECT count(*) FROM outbox WHERE topic = 'action'");

    for _ in 0..3 {
        let again = hub.scan(&connote).unwrap();
        assert_eq!(again.verdict, ScanVerdict::AlreadyProcessed);
    }
    let msg = refused(
        hub.process_return(&ret.id).unwrap_err(),
        ErrorCode::Conflict,
    );
    assert!(msg.contains("already processed"), "{msg}");
    assert_eq!(
        count(&hub, "SELECT count(*) FROM exceptions WHERE kind = 'duplicate_processing' AND state = 'open'"),
        1,
        "one duplicate for the supervisor, however often it is scanned"
    );
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM events WHERE kind = 'connote_scanned'"
        ),
        4
    );
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM events WHERE kind = 'exception_raised'"
        ),
        1,
        "raised once, not once per scan"
    );
    assert_eq!(
        count(&hub, "SELECT count(*) FROM outbox WHERE topic = 'action'"),
        actions,
        "nothing fires twice"
    );
}

#[test]
fn a_supervisor_close_fires_a_manual_retailers_actions_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let connote = connote_with(&hub, "maple", 1);
    let ret = hub.scan(&connote).unwrap().ret.unwrap();
    hub.inspect_item(pass(&ret.id, &ret.items[0].id)).unwrap();
    let done = hub.process_return(&ret.id).unwrap();
    assert_eq!(
        done.actions_queued, 0,
        "Manual trigger: nothing fires at processing"
    );
    assert!(
        done.message.contains("supervisor closes"),
        "{}",
        done.message
    );

    // An operator may not close.
    let err = ErrorView::from(hub.close_return(&ret.id, "").unwrap_err());
    assert_eq!(err.code, ErrorCode::Forbidden);
    assert_eq!(
        ErrorView::from(hub.exceptions(false).unwrap_err()).code,
        ErrorCode::Forbidden
    );
    assert_eq!(count(&hub, "SELECT count(*) FROM events WHERE kind = 'return_status_changed' AND payload LIKE '%closed%'"), 0);

    hub.sign_in("SV-2001", "2222").unwrap();
    let decision = done.state.items[0].decision.clone().unwrap();
    let sends = matches!(
        decision.outcome,
        Outcome::Refund | Outcome::CreditNote { .. } | Outcome::Exchange
    );
    let closed = hub.close_return(&ret.id, "checked").unwrap();
    assert_eq!(closed.state.status, ReturnStatus::Closed);
    assert_eq!(closed.actions_queued, u32::from(sends));
    assert_eq!(
        count(
            &hub,
            &format!(
                "SELECT count(*) FROM outbox WHERE topic = 'action' AND payload LIKE '%{}%'",
                ret.id
            )
        ),
        i64::from(sends)
    );
    let msg = refused(
        hub.close_return(&ret.id, "").unwrap_err(),
        ErrorCode::Conflict,
    );
    assert!(msg.contains("cannot be closed"), "{msg}");
    let trail = hub.audit_trail(&ret.id).unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.who == "Sam Walker" && e.what == "Note: checked"),
        "the close note is in the trail: {trail:#?}"
    );

    // Reprint: the label again, marked as a reprint.
    let state = hub.reprint_labels(&ret.id).unwrap();
    assert_eq!(state.labels.len(), 2);
    assert!(state.labels[1].reprint);
    let job: returnhub_core::bench::LabelJob =
        hub.with_store(|s| s.label_jobs(&ret.id).unwrap().pop().unwrap().job);
    let zpl = returnhub_hub::render_label(&job).unwrap().to_zpl();
    assert!(zpl.contains("REPRINT"));
}

/// At a standalone hub no carrier event arrives: the receipt scan is a First-scan retailer's
/// first scan and fires its actions there, once, and processing says what really fired
/// (before, nothing fired and processing said the actions had).
#[test]
fn a_standalone_hubs_receipt_fires_a_first_scan_retailers_actions_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let connote = connote_with(&hub, "bondi", 1);
    let return_id = return_of(&hub, &connote);
    assert_eq!(actions_of(&hub, &return_id), 0);
    let ret = hub.scan(&connote).unwrap().ret.unwrap();
    assert_eq!(
        actions_of(&hub, &return_id),
        1,
        "bondi's default credit note fires at the receipt"
    );
    // Scanning again receives nothing and fires nothing.
    hub.scan(&connote).unwrap();
    assert_eq!(actions_of(&hub, &return_id), 1);
    hub.inspect_item(pass(&ret.id, &ret.items[0].id)).unwrap();
    let done = hub.process_return(&ret.id).unwrap();
    assert_eq!(done.actions_queued, 0);
    assert!(
        done.message.contains("1 action(s) fired at the first scan"),
        "{}",
        done.message
    );
    assert_eq!(actions_of(&hub, &return_id), 1);
}

/// An order of `retailer` with no return yet: (id, its lines' ids).
fn order_without_return(hub: &Hub, retailer: &str) -> (String, Vec<String>) {
    hub.with_store(|s| {
        let id: String = s
            .reader()
            .query_row(
                "SELECT id FROM orders o WHERE retailer_id = ?1
                   AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.order_id = o.id)
                 ORDER BY id LIMIT 1",
                [retailer],
                |r| r.get(0),
            )
            .unwrap();
        let lines = s
            .reader()
            .prepare("SELECT id FROM order_lines WHERE order_id = ?1 ORDER BY id")
            .unwrap()
            .query_map([&id], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<String>>>()
            .unwrap();
        (id, lines)
    })
}

/// A parcel with no return, linked by hand to a First-scan retailer's order at a standalone
/// hub, is that return's first scan: its actions fire there, once, and the bench says so
/// (before, nothing fired for it at all).
#[test]
fn a_hand_linked_parcel_is_a_first_scan_retailers_first_scan_at_a_standalone_hub() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let (order_id, _) = order_without_return(&hub, "bondi");
    let unknown = "LZ999999995NZ";
    assert_eq!(hub.scan(unknown).unwrap().verdict, ScanVerdict::Unknown);
    let linked = hub.link_orphan(unknown, &order_id).unwrap();
    let ret = linked.ret.unwrap();
    assert_eq!(ret.status, ReturnStatus::Received);
    let fired = actions_of(&hub, &ret.id);
    assert!(fired >= 1, "bondi's items are owed at the first scan");
    assert!(
        linked
            .message
            .ends_with(&format!("{fired} action(s) fired at the first scan.")),
        "{}",
        linked.message
    );
    // Scanning it again and processing it fire nothing more.
    hub.scan(unknown).unwrap();
    for item in &ret.items {
        hub.inspect_item(pass(&ret.id, &item.id)).unwrap();
    }
    let done = hub.process_return(&ret.id).unwrap();
    assert_eq!(done.actions_queued, 0);
    assert_eq!(actions_of(&hub, &ret.id), fired);
}

/// The link and its first-scan actions are two writes (the return must exist before its
/// items can be decided): a crash between them leaves a received return with nothing fired,
/// which processing catches up, once.
#[test]
fn processing_fires_the_first_scan_actions_a_crash_kept_from_firing() {
    use returnhub_core::record::{ReturnItemRecord, ReturnRecord};
    use returnhub_protocol::event::DomainEvent;
    use returnhub_store::{EventInput, Store};
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let (order_id, lines) = order_without_return(&hub, "bondi");
    // The link's write, as it stood when the process died.
    let mut store = Store::open(&dir.path().join("returnhub.db")).unwrap();
    store
        .write(NOW, |tx| {
            tx.append(EventInput {
                event: DomainEvent::ReturnExpected(ReturnRecord {
                    id: "ret-crashed".into(),
                    retailer_id: "bondi".into(),
                    hub_id: "AKL".into(),
                    order_id: order_id.clone(),
                    source: "orphan_intake".into(),
                    external_id: None,
                    status: ReturnStatus::Received,
                    created_at: "2026-11-23T19:25:00.000Z".into(),
                    connotes: vec!["LZ999999995NZ".into()],
                    items: lines
                        .iter()
                        .enumerate()
                        .map(|(i, line)| ReturnItemRecord {
                            id: format!("itm-crashed-{i}"),
                            external_id: None,
                            order_line_id: line.clone(),
                            quantity: 1,
                            reason_code: "NOT_GIVEN".into(),
                            sub_reason_code: None,
                            comment: None,
                            chosen_option: None,
                        })
                        .collect(),
                }),
                actor: "u-op".into(),
                station: None,
            })
        })
        .unwrap();
    drop(store);
    assert_eq!(actions_of(&hub, "ret-crashed"), 0);
    let ret = hub.scan("LZ999999995NZ").unwrap().ret.unwrap();
    assert_eq!(
        actions_of(&hub, "ret-crashed"),
        0,
        "a scan receives nothing"
    );
    for item in &ret.items {
        hub.inspect_item(pass(&ret.id, &item.id)).unwrap();
    }
    let done = hub.process_return(&ret.id).unwrap();
    let fired = actions_of(&hub, "ret-crashed");
    assert!(fired >= 1);
    assert_eq!(i64::from(done.actions_queued), fired);
    assert!(
        done.message
            .contains(&format!("{fired} action(s) fired at the first scan")),
        "{}",
        done.message
    );
}

/// A Manual retailer's return that never reaches the bench is closed off by hand: closing
/// decides its items as the customer returned them (no QC) and fires their actions, once.
#[test]
fn closing_an_unprocessed_return_fires_a_manual_retailers_actions_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let connote = connote_with(&hub, "maple", 2);
    let return_id = return_of(&hub, &connote);
    hub.sign_in("SV-2001", "2222").unwrap();
    let closed = hub
        .close_return(&return_id, "lost in transit, refunded")
        .unwrap();
    assert_eq!(closed.state.status, ReturnStatus::Closed);
    assert!(
        closed
            .message
            .starts_with("Closed unprocessed: decided as returned, without QC"),
        "{}",
        closed.message
    );
    let decided: Vec<(Outcome, Option<returnhub_core::money::Money>)> = closed
        .state
        .items
        .iter()
        .map(|i| {
            let d = i.decision.as_ref().expect("every item decided");
            (d.outcome, d.amount)
        })
        .collect();
    assert_eq!(decided.len(), 2);
    let paying = decided
        .iter()
        .filter(|(o, _)| matches!(o, Outcome::Refund | Outcome::CreditNote { .. }))
        .count();
    assert!(
        paying > 0,
        "the demo's maple items are refunds: {decided:?}"
    );
    assert!(decided
        .iter()
        .filter(|(o, _)| matches!(o, Outcome::Refund | Outcome::CreditNote { .. }))
        .all(|(_, amount)| amount.is_some_and(|m| m.minor > 0)));
    assert!(closed.actions_queued >= 1);
    let actions = actions_of(&hub, &return_id);
    assert_eq!(actions, i64::from(closed.actions_queued));
    // Once: closed is closed.
    assert_eq!(
        ErrorView::from(hub.close_return(&return_id, "").unwrap_err()).code,
        ErrorCode::Conflict
    );
    assert_eq!(actions_of(&hub, &return_id), actions);
}

#[test]
fn a_printer_that_is_off_keeps_the_label_until_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    // A port nothing listens on: bind, note it, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    hub.sign_in("AD-3001", "3333").unwrap();
    let mut config = StationConfig::default_for(&hub.options().station);
    config.printer = PrinterSettings::Tcp {
        addr: format!("127.0.0.1:{port}"),
    };
    hub.save_station(config.clone()).unwrap();
    let mut bad = config.clone();
    bad.printer = PrinterSettings::Tcp {
        addr: "printer".into(),
    };
    let msg = invalid(hub.save_station(bad).unwrap_err());
    assert!(msg.contains("host:port"), "{msg}");

    hub.sign_in("OP-1001", "1111").unwrap();
    let connote = connote_with(&hub, "kowhai", 1);
    let ret = hub.scan(&connote).unwrap().ret.unwrap();
    hub.inspect_item(pass(&ret.id, &ret.items[0].id)).unwrap();
    hub.process_return(&ret.id).unwrap();

    let round = hub.print_due_labels().unwrap();
    assert_eq!((round.printed, round.failed), (0, 1));
    let queue = hub.printer_queue().unwrap();
    assert_eq!(queue.waiting, 1);
    assert!(queue.last_error.unwrap().contains("unreachable"));

    // The printer comes on (same port) and the retry time has come: the job prints.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let reader = std::thread::spawn(move || {
        // A ready Zebra: answers the status request, then takes the job.
        let (mut status, _) = listener.accept().unwrap();
        let mut ask = [0u8; 3];
        status.read_exact(&mut ask).unwrap();
        assert_eq!(&ask, b"~HS");
        status
            .write_all(
                b"\x02030,0,0,1218,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,4,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n",
            )
            .unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        String::from_utf8(got).unwrap()
    });
    hub.with_store(|s| {
        s.reader()
            .execute(
                "UPDATE outbox SET next_attempt_at = NULL WHERE topic = 'label'",
                [],
            )
            .unwrap()
    });
    let round = hub.print_due_labels().unwrap();
    assert_eq!((round.printed, round.failed), (1, 0));
    let zpl = reader.join().unwrap();
    assert!(zpl.starts_with("^XA") && zpl.contains(&connote), "{zpl}");
    assert_eq!(hub.printer_queue().unwrap().waiting, 0);
}

#[test]
fn a_bench_scan_is_an_item_an_extra_or_the_next_parcel() {
    use returnhub_hub::BenchScan;
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let connote = connote_with(&hub, "kowhai", 1);
    let BenchScan::Parcel { result } = hub.bench_scan(&connote, None).unwrap() else {
        panic!("nothing open: a parcel")
    };
    let ret = result.ret.unwrap();
    let ean = ret.items[0].ean.clone().unwrap();
    let BenchScan::Item { result } = hub.bench_scan(&ean, Some(&ret.id)).unwrap() else {
        panic!("an item of the open return")
    };
    assert_eq!(
        result.matched_item.as_deref(),
        Some(ret.items[0].id.as_str())
    );
    let BenchScan::Item { result } = hub.bench_scan("ZZTOP-42", Some(&ret.id)).unwrap() else {
        panic!("an unshaped unknown code is an extra item")
    };
    assert!(result.extra);
    let next = connote_with(&hub, "maple", 1);
    let BenchScan::Parcel { result } = hub.bench_scan(&next, Some(&ret.id)).unwrap() else {
        panic!("a carrier connote is the next parcel")
    };
    assert_eq!(result.verdict, ScanVerdict::Expected);
}

#[test]
fn a_hub_with_a_central_store_syncs_in_the_background_and_says_when_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    // Standalone first: no central store, nothing running, the queue still counted.
    let hub = demo_hub(dir.path());
    let view = hub.sync_view().unwrap();
    assert!(!view.running && view.central_url.is_none());
    assert!(view.queue_depth > 0, "events wait in the outbox");
    drop(hub);

    // A central store that is not there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("hub.toml"),
        format!("[hub]\nid = \"AKL\"\nname = \"Auckland\"\ndemo = true\n[central]\nurl = \"http://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let hub =
        Hub::open_with_clock(HubOptions::in_dir(dir.path()).unwrap(), Box::new(|| NOW)).unwrap();
    assert!(!hub.start_sync_if_configured().unwrap(), "no token yet");
    hub.sign_in("OP-1001", "1111").unwrap();
    let err = ErrorView::from(hub.set_central_token("tok_0123456789abcdef").unwrap_err());
    assert_eq!(err.code, ErrorCode::Forbidden);
    hub.sign_in("AD-3001", "3333").unwrap();
    let msg = invalid(hub.set_central_token("short").unwrap_err());
    assert!(msg.contains("not a device token"), "{msg}");
    let view = hub.set_central_token("tok_0123456789abcdef").unwrap();
    assert!(view.running);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let view = loop {
        let view = hub.sync_view().unwrap();
        if view.last_error.is_some() {
            break view;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no error reported: {view:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!view.online);
    // The token is kept out of the store, the log and the error.
    assert!(!view.last_error.unwrap().contains("tok_0123456789abcdef"));
    let in_store = count(
        &hub,
        "SELECT count(*) FROM events WHERE payload LIKE '%tok_0123456789abcdef%'",
    );
    assert_eq!(in_store, 0);
    drop(hub);
    // Restarted, it picks the stored token up by itself.
    let hub =
        Hub::open_with_clock(HubOptions::in_dir(dir.path()).unwrap(), Box::new(|| NOW)).unwrap();
    assert!(hub.start_sync_if_configured().unwrap());
}
