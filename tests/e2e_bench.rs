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

/// Signs in through the sign-in screen by typing, as a badge scanner and a person would.
fn sign_in(driver: &Driver, badge: &str, pin: &str) -> String {
    driver.wait_for(30, "the sign-in screen", |d| {
        let overlay = d.find("#sign-in")?;
        d.attribute(&overlay, "hidden").is_none().then_some(())
    });
    let badge_box = driver.find("#badge-input").unwrap();
    driver.type_into(&badge_box, &format!("{badge}{ENTER}"));
    driver.type_into(
        &driver.find("#pin-input").unwrap(),
        &format!("{pin}{ENTER}"),
    );
    driver.wait_for(10, "the signed-in user", |d| {
        Some(d.text(&d.find("#user-name")?)).filter(|t| !t.is_empty())
    })
}

#[test]
fn the_window_shows_the_bench_and_a_scanned_demo_return() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
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

/// Kōwhai's demo rules plus "change of mind gets credit" (shared with the hub's tests).
const CHANGED_MIND_CREDIT: &str = include_str!("fixtures/rules_changed_mind_credit.json");

#[test]
fn an_admin_checks_dry_runs_and_saves_rules_an_operator_cannot_reach() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = tempfile::tempdir().unwrap();
    let driver = Driver::launch(Path::new(APP), data.path());

    // An operator has no rules screen.
    assert_eq!(
        sign_in(&driver, "OP-1002", "1212"),
        "Liam Parata (operator)"
    );
    for screen in ["#nav-rules", "#nav-exceptions"] {
        let button = driver.find(screen).unwrap();
        assert!(
            driver.attribute(&button, "hidden").is_some(),
            "no {screen} for operators"
        );
    }
    driver.click(&driver.find("#sign-out").unwrap());

    assert_eq!(sign_in(&driver, "AD-3001", "3333"), "Ada Clarke (admin)");
    driver.click(&driver.find("#nav-rules").unwrap());
    driver.wait_for(10, "the rules screen", |d| {
        (d.text(&d.find("#screen-title")?) == "Rules").then_some(())
    });
    driver.wait_for(10, "the retailers", |d| {
        d.find("#rules-retailer option").map(|_| ())
    });
    driver.execute(
        "const s = document.getElementById('rules-retailer'); s.value = 'kowhai'; \
         s.dispatchEvent(new Event('change'));",
    );
    driver.wait_for(10, "Kōwhai's rules in the editor", |d| {
        let text = d.execute("return document.getElementById('rules-text').value");
        text.as_str()?.contains("sale-items").then_some(())
    });

    // A draft with an unknown field: the error names the rule; nothing is dry-run.
    let set_draft = |draft: &str| {
        driver.execute(&format!(
            "document.getElementById('rules-text').value = {};",
            serde_json::to_string(draft).unwrap()
        ));
    };
    set_draft(&CHANGED_MIND_CREDIT.replace(
        "\"return_reason\", \"op\": \"eq\", \"value\": {\"text\": \"CHANGED_MIND\"}",
        "\"colour\", \"op\": \"eq\", \"value\": {\"text\": \"red\"}",
    ));
    driver.click(&driver.find("#rules-check").unwrap());
    let issue = driver.wait_for(10, "the rule error", |d| {
        Some(d.text(&d.find("#rules-issues li.error")?)).filter(|t| !t.is_empty())
    });
    assert!(
        issue.contains("Change of mind gets credit") && issue.contains("colour"),
        "{issue}"
    );

    // The good draft: the dry run lists the change-of-mind items, then it is saved.
    set_draft(CHANGED_MIND_CREDIT);
    driver.click(&driver.find("#rules-check").unwrap());
    let changed = driver.wait_for(10, "the dry run", |d| {
        let rows = d.execute("return document.querySelectorAll('#dryrun-changes tbody tr').length");
        rows.as_u64().filter(|n| *n > 0)
    });
    let summary = driver.text(&driver.find("#dryrun-summary").unwrap());
    assert!(
        summary.contains(&format!("{changed} would get a different outcome")),
        "{summary}"
    );
    driver.click(&driver.find("#rules-save").unwrap());
    driver.wait_for(10, "the saved status", |d| {
        d.text(&d.find("#rules-status")?)
            .starts_with("Saved")
            .then_some(())
    });
    if let Ok(path) = std::env::var("RETURNHUB_SCREENSHOT_RULES") {
        std::fs::write(path, driver.screenshot_png()).unwrap();
    }
    drop(driver);

    let db = open_read_only(data.path());
    let (actor, rules): (String, String) = db
        .query_row(
            "SELECT e.actor, r.rules_json FROM events e JOIN retailers r ON r.id = 'kowhai'
             WHERE e.kind = 'retailer_configured' ORDER BY e.seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(actor, "u-ada");
    assert!(rules.contains("changed-mind"));
}
