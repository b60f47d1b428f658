//! The bench's flows end to end in the real window (tauri-driver + WebKitWebDriver under
//! Xvfb): keys are pressed wherever the focus is, connotes and item barcodes arrive as a
//! keyboard-wedge burst, and each flow checks both the screen and the store.

mod support;

use std::path::Path;

use returnhub_hub::{Hub, HubOptions};
use rusqlite::{Connection, OpenFlags};
use support::Driver;

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
const ENTER: char = '\u{E007}';
const ESCAPE: char = '\u{E00C}';
const CONTROL: char = '\u{E009}';
const SHIFT: char = '\u{E008}';

fn db(data_dir: &Path) -> Connection {
    Connection::open_with_flags(
        data_dir.join("returnhub.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
}

fn one<T: rusqlite::types::FromSql>(data: &Path, sql: &str) -> T {
    db(data).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// An expected connote at AKL of `retailer` whose return has `items` items, with the items'
/// EANs.
fn expected_return(data: &Path, retailer: &str, items: i64, skip: i64) -> (String, Vec<String>) {
    let connote: String = db(data)
        .query_row(
            "SELECT c.connote FROM connotes c JOIN returns r ON r.id = c.return_id
             WHERE r.retailer_id = ?1 AND r.hub_id = 'AKL' AND r.status = 'expected'
               AND (SELECT count(*) FROM return_items i WHERE i.return_id = r.id) = ?2
             ORDER BY c.connote LIMIT 1 OFFSET ?3",
            rusqlite::params![retailer, items, skip],
            |r| r.get(0),
        )
        .unwrap();
    let conn = db(data);
    let mut stmt = conn
        .prepare(
            "SELECT l.ean FROM return_items i JOIN order_lines l ON l.id = i.order_line_id
             JOIN connotes c ON c.return_id = i.return_id WHERE c.connote = ?1 ORDER BY i.id",
        )
        .unwrap();
    let eans = stmt
        .query_map([&connote], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    (connote, eans)
}

fn status_of(data: &Path, connote: &str) -> String {
    db(data)
        .query_row(
            "SELECT r.status FROM returns r JOIN connotes c ON c.return_id = r.id WHERE c.connote = ?1",
            [connote],
            |r| r.get(0),
        )
        .unwrap()
}

/// Waits for the banner to show `verdict` and returns its text.
fn verdict(driver: &Driver, verdict: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // Kind and text read together: the banner can change between two reads.
        let got = driver.execute(
            "const b = document.getElementById('verdict'); return [b.dataset.verdict, b.innerText]",
        );
        let text = got[1].as_str().unwrap_or_default().to_string();
        if got[0].as_str() == Some(verdict) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited for the {verdict} banner; it says: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Scans into the connote box: a burst of keys ending in Enter.
fn scan_connote(driver: &Driver, connote: &str) {
    let input = driver.find("#scan-input").unwrap();
    driver.type_into(&input, &format!("{connote}{ENTER}"));
}

fn item_state(driver: &Driver, index: usize) -> String {
    let items = driver.execute(&format!(
        "const li = document.querySelectorAll('#ret-items li')[{index}]; return li ? li.dataset.inspection : null"
    ));
    items.as_str().unwrap_or_default().to_string()
}

fn wait_item(driver: &Driver, index: usize, want: &str) {
    driver.wait_for(10, &format!("item {index} to be {want}"), |d| {
        (item_state(d, index) == want).then_some(())
    });
}

fn demo_data() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    // Seed the demo hub as the app does on first start, to pick connotes from it.
    drop(Hub::open(HubOptions::demo(data.path())).unwrap());
    data
}

#[test]
fn an_operator_processes_returns_with_the_keyboard_and_the_scanner() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = demo_data();
    let dir = data.path();
    let (happy, _) = expected_return(dir, "kowhai", 1, 0);
    let (two, two_eans) = expected_return(dir, "kowhai", 2, 0);
    let driver = Driver::launch(Path::new(APP), dir);
    driver.sign_in("OP-1001", "1111");

    // A happy one-item return: scan, P, Enter — three operator actions.
    scan_connote(&driver, &happy);
    verdict(&driver, "expected");
    driver.keys("p", 0);
    wait_item(&driver, 0, "found:pass");
    driver.keys(&ENTER.to_string(), 0);
    let done = verdict(&driver, "done");
    assert!(done.starts_with("Processed:"), "{done}");
    assert_eq!(
        driver.text(&driver.find("#ret-status").unwrap()),
        "processed"
    );
    assert_eq!(status_of(dir, &happy), "processed");
    let decided: i64 = one(dir, "SELECT count(*) FROM decisions");
    assert_eq!(decided, 1);
    let labels: i64 = one(dir, "SELECT count(*) FROM outbox WHERE topic = 'label'");
    assert_eq!(labels, 1, "the label is queued for the station's printer");
    let focused = driver.execute("return document.activeElement.id");
    assert_eq!(
        focused.as_str(),
        Some("scan-input"),
        "ready for the next parcel"
    );

    // A duplicate scan of the same parcel: its own signal, one exception.
    scan_connote(&driver, &happy);
    let dup = verdict(&driver, "already_processed");
    assert!(dup.contains("already processed"), "{dup}");
    scan_connote(&driver, &happy);
    verdict(&driver, "already_processed");
    let duplicates: i64 = one(
        dir,
        "SELECT count(*) FROM exceptions WHERE kind = 'duplicate_processing' AND state = 'open'",
    );
    assert_eq!(duplicates, 1);

    // A two-item return: the first item's barcode is scanned off the item (a wedge burst
    // while the return has the focus), passed; the second fails QC for a listed reason.
    scan_connote(&driver, &two);
    verdict(&driver, "expected");
    driver.keys(&format!("{}{ENTER}", two_eans[0]), 0);
    wait_item(&driver, 0, "found");
    driver.keys("p", 0);
    wait_item(&driver, 0, "found:pass");
    driver.keys("f", 0);
    driver.wait_for(5, "the QC reasons", |d| {
        let picker = d.find("#fail-reasons")?;
        d.attribute(&picker, "hidden").is_none().then_some(())
    });
    driver.keys("2", 0); // Tag missing
    wait_item(&driver, 1, "found:fail");
    // A photo of the item, attached as a file (H opens the same picker). Whether or not the
    // reason demands one, the evidence is kept with the inspection.
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/icons/icon.png");
    driver.type_into(
        &driver.find("#photo-file").unwrap(),
        &photo.display().to_string(),
    );
    driver.wait_for(10, "the photo on item 2", |d| {
        d.text_of("#ret-items li:nth-child(2) .inspection")?
            .contains("1 photo(s)")
            .then_some(())
    });
    driver.keys(&ENTER.to_string(), 0);
    verdict(&driver, "done");
    let held = driver.execute(
        "return [...document.querySelectorAll('#ret-items .decision')].map(d => d.dataset.outcome)",
    );
    let outcomes: Vec<String> = serde_json::from_value(held).unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(
        outcomes[1], "hold_for_review",
        "Kōwhai holds QC fails for review"
    );
    let holds: i64 = one(
        dir,
        "SELECT count(*) FROM exceptions WHERE kind = 'qc_hold' AND state = 'open'",
    );
    assert_eq!(holds, 1);
    let (reason, photos): (String, String) = db(dir)
        .query_row(
            "SELECT qc_reason, photos_json FROM inspections WHERE qc = 'fail' ORDER BY rowid DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(reason, "TAG_MISSING");
    let photos: Vec<String> = serde_json::from_str(&photos).unwrap();
    assert_eq!(photos.len(), 1);
    assert!(
        dir.join("photos")
            .join(format!("{}.jpg", photos[0]))
            .is_file(),
        "stored under its content hash"
    );

    // An unknown parcel, matched to its order by the order number.
    let (order_id, number): (String, String) = db(dir)
        .query_row(
            "SELECT id, order_number FROM orders o WHERE retailer_id = 'kowhai'
               AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.order_id = o.id) ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let orphan = "LZ999999995NZ";
    scan_connote(&driver, orphan);
    verdict(&driver, "unknown");
    let focused = driver.execute("return document.activeElement.id");
    assert_eq!(
        focused.as_str(),
        Some("orphan-query"),
        "the intake is ready to search"
    );
    driver.keys(&format!("{}{ENTER}", number.trim_start_matches('#')), 150);
    driver.wait_for(10, "the matching order", |d| {
        d.find("#orphan-results button")
    });
    driver.keys("1", 0);
    let attached = verdict(&driver, "expected");
    assert!(attached.contains("attached"), "{attached}");
    let linked: String = db(dir)
        .query_row("SELECT r.order_id FROM connotes c JOIN returns r ON r.id = c.return_id WHERE c.connote = ?1", [orphan], |r| r.get(0))
        .unwrap();
    assert_eq!(linked, order_id);
    assert_eq!(status_of(dir, orphan), "received");
    driver.keys(&ESCAPE.to_string(), 0);

    // A command above the operator's role, called straight at the IPC: refused by the core.
    let refused = driver.execute(&format!(
        "return window.__TAURI_INTERNALS__.invoke('close_return', {{returnId: '{}', note: ''}})
            .then(() => 'allowed', e => e.code)",
        one::<String>(
            dir,
            &format!("SELECT return_id FROM connotes WHERE connote = '{happy}'")
        )
    ));
    assert_eq!(refused.as_str(), Some("forbidden"));
    assert_eq!(status_of(dir, &happy), "processed", "nothing changed");

    if let Ok(path) = std::env::var("RETURNHUB_SCREENSHOT") {
        scan_connote(&driver, &two);
        verdict(&driver, "already_processed");
        std::thread::sleep(std::time::Duration::from_millis(400));
        std::fs::write(path, driver.screenshot_png()).unwrap();
    }
}

#[test]
fn a_supervisor_closes_a_manual_return_and_works_the_exception_queue() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = demo_data();
    let dir = data.path();
    let (maple, _) = expected_return(dir, "maple", 1, 0);
    let driver = Driver::launch(Path::new(APP), dir);
    driver.sign_in("OP-1001", "1111");
    scan_connote(&driver, &maple);
    verdict(&driver, "expected");
    driver.keys("p", 0);
    wait_item(&driver, 0, "found:pass");
    // The operator's X does nothing (and the hub would refuse it anyway).
    driver.keys("x", 0);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let dialog = driver.find("#close-dialog").unwrap();
    assert!(driver.attribute(&dialog, "hidden").is_some());
    driver.keys(&ENTER.to_string(), 0);
    let done = verdict(&driver, "done");
    assert!(done.contains("supervisor closes"), "{done}");
    let before: i64 = one(dir, "SELECT count(*) FROM outbox WHERE topic = 'action'");
    assert_eq!(before, 0, "Manual trigger: nothing fires at processing");

    // A parcel nobody can match is parked for the supervisor.
    scan_connote(&driver, "LZ999999987NZ");
    verdict(&driver, "unknown");
    let note = driver.find("#orphan-note").unwrap();
    driver.type_into(
        &note,
        &format!("grey hoodie, no paperwork{CONTROL}{ENTER}{CONTROL}"),
    );
    let parked = verdict(&driver, "done");
    assert!(parked.contains("parked"), "{parked}");

    // Sign out (Ctrl+Shift+L) and in as the supervisor; the parcel is scanned again.
    driver.chord(&[CONTROL, SHIFT, 'l']);
    driver.sign_in("SV-2001", "2222");
    scan_connote(&driver, &maple);
    verdict(&driver, "already_processed");
    driver.keys("x", 0);
    driver.wait_for(5, "the close dialog", |d| {
        let dialog = d.find("#close-dialog")?;
        d.attribute(&dialog, "hidden").is_none().then_some(())
    });
    driver.keys(&format!("checked on the bench{ENTER}"), 80);
    let closed = verdict(&driver, "done");
    assert!(closed.starts_with("Closed"), "{closed}");
    assert_eq!(status_of(dir, &maple), "closed");
    let outcome: String = one(dir, "SELECT outcome FROM decisions");
    let sends = !outcome.contains("no_action") && !outcome.contains("hold");
    let actions: i64 = one(dir, "SELECT count(*) FROM outbox WHERE topic = 'action'");
    assert_eq!(
        actions,
        i64::from(sends),
        "the close fires the decided action: {outcome}"
    );

    // Closing settled the duplicate scan; the parked parcel waits in the queue. R resolves.
    driver.keys("\u{E033}", 0); // F3
    driver.wait_for(10, "the exceptions", |d| {
        d.find("#exceptions-table tbody tr")
    });
    let kinds = driver.execute(
        "return [...document.querySelectorAll('#exceptions-table tbody tr')].map(r => r.dataset.kind)",
    );
    let kinds: Vec<String> = serde_json::from_value(kinds).unwrap();
    assert_eq!(kinds, vec!["unknown_parcel"]);
    driver.keys("r", 0);
    driver.wait_for(5, "the resolve box", |d| {
        let dialog = d.find("#resolve-dialog")?;
        d.attribute(&dialog, "hidden").is_none().then_some(())
    });
    driver.keys(&format!("parcel returned to the shelf{ENTER}"), 80);
    driver.wait_for(10, "the exception resolved", |_| {
        (one::<i64>(dir, "SELECT count(*) FROM exceptions WHERE state = 'resolved' AND resolution = 'parcel returned to the shelf'") == 1)
            .then_some(())
    });
    let who: String = one(
        dir,
        "SELECT resolved_by FROM exceptions WHERE state = 'resolved'",
    );
    assert_eq!(who, "u-sam");

    // A station on a newer Returnhub recorded a kind this one does not know; the sync
    // worker's connection pulls it. The header says so to everyone, F3 lists it.
    let mut worker = returnhub_store::Store::open(&dir.join("returnhub.db")).unwrap();
    let mut clock = returnhub_protocol::hlc::HlcClock::new("newer-station");
    let now = support::now_ms();
    let note = returnhub_protocol::event::DomainEvent::ReturnNoted {
        return_id: "r-none".into(),
        note: "sealed on pallet 4".into(),
    };
    let mut future = returnhub_protocol::wire::RemoteEvent::new(
        &note,
        "01900000-0000-7000-8000-00000000f00d".into(),
        "newer-station",
        &clock.tick(now as u64),
        "u-other",
        Some("bench-9"),
        returnhub_core::time::rfc3339(now),
    )
    .unwrap();
    future.kind = "pallet_sealed".into();
    let applied = worker
        .apply_remote_batch(now, &[future], Default::default())
        .unwrap();
    assert_eq!(applied.held, 1);
    driver.wait_for(10, "the header's held count", |d| {
        let status = d.find("#sync-status")?;
        d.text(&status)
            .contains("1 event(s) need this station updated")
            .then_some(())
    });
    driver.keys("i", 0); // reloads the queue (and the held list)
    let row = driver.wait_for(10, "the held event on F3", |d| {
        d.text_of("#held-table tbody tr[data-state='needs_update']")
    });
    assert!(row.contains("pallet_sealed v1"), "{row}");
    assert!(row.contains("newer-station / bench-9"), "{row}");
    let summary = driver.text_of("#held-summary").unwrap();
    assert!(summary.contains("needs an update"), "{summary}");
}
