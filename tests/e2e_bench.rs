//! End to end in the real window: the release-like app binary (UI embedded) under Xvfb,
//! driven through tauri-driver + WebKitWebDriver. Checks what the operator sees and what the
//! store recorded.

mod support;

use std::path::Path;

use returnhub_hub::{Hub, HubOptions};
use rusqlite::{Connection, OpenFlags};
use support::Driver;

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
/// The W3C WebDriver code for the Enter key: what a keyboard-wedge scanner sends as suffix.
const ENTER: char = '\u{E007}';

fn open_read_only(data_dir: &Path) -> Connection {
    Connection::open_with_flags(
        data_dir.join("returnhub.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
}

#[test]
fn the_window_shows_the_bench_and_a_scanned_demo_return() {
    let data = tempfile::tempdir().unwrap();
    // Seed the demo hub exactly as the app would on first start, to pick a connote from it.
    drop(Hub::open(HubOptions::demo(data.path())).unwrap());
    let connote: String = open_read_only(data.path())
        .query_row(
            "SELECT c.connote FROM connotes c JOIN returns r ON r.id = c.return_id
             WHERE r.hub_id = 'AKL' AND r.status = 'expected' ORDER BY c.connote LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();

    let driver = Driver::launch(Path::new(APP), data.path());
    let heading = driver.wait_for(30, "the bench heading", |d| {
        d.find("#screen-title")
            .map(|e| d.text(&e))
            .filter(|t| !t.is_empty())
    });
    assert_eq!(heading, "Bench");
    driver.wait_for(10, "the window title with the hub", |d| {
        d.title().contains("Returnhub — Bench — AKL").then_some(())
    });
    // The demo list is filled from the store through a typed command.
    driver.wait_for(10, "the demo connotes", |d| {
        d.find("#demo-connotes tbody tr").map(|_| ())
    });

    // Nobody is signed in: the sign-in screen is up with the badge box focused.
    driver.wait_for(10, "the sign-in screen", |d| {
        let overlay = d.find("#sign-in")?;
        d.attribute(&overlay, "hidden").is_none().then_some(())
    });
    let badge = driver.find("#badge-input").unwrap();
    let pin = driver.find("#pin-input").unwrap();
    driver.type_into(&badge, &format!("OP-1001{ENTER}"));
    driver.type_into(&pin, &format!("9999{ENTER}"));
    let error = driver.wait_for(10, "the refusal", |d| {
        Some(d.text(&d.find("#sign-in-error")?)).filter(|t| !t.is_empty())
    });
    assert!(error.contains("not recognised"), "{error}");
    driver.type_into(&pin, &format!("1111{ENTER}"));
    let user = driver.wait_for(10, "the signed-in operator", |d| {
        Some(d.text(&d.find("#user-name")?)).filter(|t| !t.is_empty())
    });
    assert_eq!(user, "Aroha Ngata (operator)");

    // Scan: keystrokes into the focused box, ending in Enter like a keyboard-wedge scanner.
    let input = driver.find("#scan-input").expect("scan box");
    let focused = driver.execute("return document.activeElement && document.activeElement.id");
    assert_eq!(
        focused.as_str(),
        Some("scan-input"),
        "the scan box has the focus at start"
    );
    driver.type_into(&input, &format!("{}{ENTER}", connote.to_lowercase()));
    let verdict = driver.wait_for(10, "the verdict", |d| {
        let banner = d.find("#verdict")?;
        d.attribute(&banner, "data-verdict").filter(|v| v != "idle")
    });
    assert_eq!(verdict, "expected");
    let banner = driver.text(&driver.find("#verdict").unwrap());
    assert!(banner.contains(&connote), "{banner}");
    let retailer = driver.text(&driver.find("#ret-retailer").unwrap());
    assert!(!retailer.is_empty());
    let first_item = driver.find("#ret-items li").expect("an item is shown");
    let sku = driver.attribute(&first_item, "data-sku").expect("item sku");
    assert!(driver.text(&first_item).contains(&sku));
    assert_eq!(
        driver.text(&driver.find("#ret-status").unwrap()),
        "received"
    );

    // An unknown connote gets its own signal.
    driver.type_into(&input, &format!("NOTAPARCEL123{ENTER}"));
    driver.wait_for(10, "the unknown verdict", |d| {
        let banner = d.find("#verdict")?;
        (d.attribute(&banner, "data-verdict")? == "unknown").then_some(())
    });

    if let Ok(path) = std::env::var("RETURNHUB_SCREENSHOT") {
        driver.type_into(&input, &format!("{connote}{ENTER}"));
        std::thread::sleep(std::time::Duration::from_millis(500));
        std::fs::write(path, driver.screenshot_png()).unwrap();
    }
    drop(driver);

    // The store recorded both scans, and the expected parcel is now received.
    let db = open_read_only(data.path());
    let scans: i64 = db
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'connote_scanned'
             AND json_extract(payload, '$.connote') IN (?1, 'NOTAPARCEL123')",
            [&connote],
            |r| r.get(0),
        )
        .unwrap();
    assert!(scans >= 2, "both scans are in the event log");
    let actors: String = db
        .query_row(
            "SELECT group_concat(DISTINCT actor) FROM events WHERE kind = 'connote_scanned'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        actors, "u-aroha",
        "scans are recorded as the signed-in operator"
    );
    let status: String = db
        .query_row(
            "SELECT r.status FROM returns r JOIN connotes c ON c.return_id = r.id WHERE c.connote = ?1",
            [&connote],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "received");
}
