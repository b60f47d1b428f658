//! A supervisor finds a return in the real window (tauri-driver + WebKitWebDriver under Xvfb):
//! F8, a key typed or an item's EAN scanned into the box, the return's timeline with Enter,
//! and O to open it on the bench. An operator has no F8.

mod support;

use std::path::Path;

use returnhub_hub::{Hub, HubOptions};
use support::{one, Driver};

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
const ENTER: char = '\u{E007}';
const CONTROL: char = '\u{E009}';
const SHIFT: char = '\u{E008}';
const F8: char = '\u{E038}';

/// The returns the results table lists, by id.
fn listed(driver: &Driver) -> Vec<String> {
    serde_json::from_value(driver.execute(
        "return [...document.querySelectorAll('#search-table tbody tr')].map(r => r.dataset.returnId)",
    ))
    .unwrap()
}

/// Types `key` into the search box (cleared first) as a person types, then Enter.
fn search_for(driver: &Driver, key: &str) {
    driver.execute(
        "const box = document.getElementById('search-key'); box.value = ''; box.focus(); \
         document.getElementById('search-table').tBodies[0].replaceChildren();",
    );
    driver.keys(&format!("{key}{ENTER}"), 60);
}

fn wait_listed(driver: &Driver, return_id: &str) {
    driver.wait_for(10, &format!("{return_id} among the results"), |d| {
        listed(d).contains(&return_id.to_owned()).then_some(())
    });
}

#[test]
fn a_supervisor_finds_a_return_by_its_keys_and_reads_its_timeline() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    drop(Hub::open(HubOptions::demo(dir)).unwrap());
    let row = |sql: &str| -> String { one(dir, sql) };
    let pick = "FROM returns r JOIN connotes c ON c.return_id = r.id JOIN orders o ON o.id = r.order_id
                JOIN return_items i ON i.return_id = r.id JOIN order_lines l ON l.id = i.order_line_id
                WHERE r.hub_id = 'AKL' AND r.status = 'expected' AND l.ean IS NOT NULL
                ORDER BY r.id LIMIT 1";
    let return_id = row(&format!("SELECT r.id {pick}"));
    let (other_id, other_connote) = (
        row(
            "SELECT r.id FROM returns r WHERE r.hub_id = 'AKL' AND r.status = 'expected'
             ORDER BY r.id DESC LIMIT 1",
        ),
        row(
            "SELECT c.connote FROM returns r JOIN connotes c ON c.return_id = r.id
             WHERE r.hub_id = 'AKL' AND r.status = 'expected' ORDER BY r.id DESC LIMIT 1",
        ),
    );
    let connote = row(&format!("SELECT c.connote {pick}"));
    let email = row(&format!("SELECT o.email {pick}"));
    let number = row(&format!("SELECT o.order_number {pick}"));
    let ean = row(&format!("SELECT l.ean {pick}"));

    let driver = Driver::launch(Path::new(APP), dir);
    driver.sign_in("OP-1001", "1111");
    // The operator receives the parcel; F8 is not theirs.
    let input = driver.find("#scan-input").unwrap();
    driver.type_into(&input, &format!("{connote}{ENTER}"));
    driver.wait_for(10, "the receipt", |_| {
        (one::<String>(
            dir,
            &format!("SELECT status FROM returns WHERE id = '{return_id}'"),
        ) == "received")
            .then_some(())
    });
    assert!(!driver.visible("nav-search"));
    driver.keys(&F8.to_string(), 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !driver.visible("search-screen"),
        "an operator has no search"
    );

    driver.chord(&[CONTROL, SHIFT, 'l']);
    driver.sign_in("SV-2001", "2222");
    assert!(driver.visible("nav-search"));
    driver.keys(&F8.to_string(), 0);
    driver.wait_for(10, "the search screen with every return", |d| {
        (d.visible("search-screen") && !listed(d).is_empty()).then_some(())
    });
    // The newest change first: the return just received.
    assert_eq!(listed(&driver)[0], return_id);

    // By connote, typed: one return; Enter shows its timeline.
    search_for(&driver, &connote);
    wait_listed(&driver, &return_id);
    // The summary has its own line; the status filter keeps its choices.
    let summary = driver.execute("return document.getElementById('search-summary').textContent");
    assert_eq!(summary.as_str(), Some("1–1 of 1 return(s)"));
    let choices = driver.execute("return document.getElementById('search-status').options.length");
    assert_eq!(choices.as_u64(), Some(7));
    // E writes what the search finds to a CSV file and says where.
    driver.keys("e", 0);
    let exported = driver.wait_for(10, "the export", |d| {
        d.execute("return document.getElementById('search-summary').textContent")
            .as_str()
            .filter(|t| t.starts_with("Exported"))
            .map(str::to_owned)
    });
    assert!(
        exported.starts_with("Exported 1 return(s) to "),
        "{exported}"
    );
    let path = exported.trim_start_matches("Exported 1 return(s) to ");
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text
        .lines()
        .nth(1)
        .unwrap()
        .starts_with(&format!("{return_id},{connote},")));
    assert_eq!(listed(&driver), std::slice::from_ref(&return_id));
    driver.keys(&ENTER.to_string(), 0);
    let timeline = driver.wait_for(10, "the timeline", |d| {
        d.visible("search-timeline")
            .then(|| d.text_of("#timeline-list"))
            .flatten()
    });
    assert!(timeline.contains("Return expected"), "{timeline}");
    assert!(
        timeline.contains(&format!("Scanned {connote}")),
        "{timeline}"
    );
    assert!(
        timeline.contains("Status expected → received"),
        "{timeline}"
    );
    assert!(
        timeline.contains("Aroha Ngata @ "),
        "who scanned it, where: {timeline}"
    );
    let kinds: Vec<String> = serde_json::from_value(driver.execute(
        "return [...document.querySelectorAll('#timeline-list li')].map(li => li.dataset.kind)",
    ))
    .unwrap();
    let logged: i64 = one(
        dir,
        &format!("SELECT count(*) FROM events WHERE aggregate_id = '{return_id}'"),
    );
    let events = kinds.iter().filter(|k| *k == "event").count() as i64;
    assert_eq!(events, logged, "every event of its log: {kinds:?}");
    // A First-scan retailer's action fired at the receipt is there with its attempts.
    let actions: i64 = one(
        dir,
        &format!(
            "SELECT count(*) FROM outbox WHERE topic = 'action'
               AND json_extract(payload, '$.return_id') = '{return_id}'"
        ),
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "action").count() as i64,
        actions
    );

    // By the customer's email in capitals, and by the order number without its '#'.
    for key in [
        email.to_uppercase(),
        number.trim_start_matches('#').to_owned(),
    ] {
        search_for(&driver, &key);
        wait_listed(&driver, &return_id);
    }

    // An item's EAN scanned (a wedge burst) on this screen is what to find.
    driver.execute("document.getElementById('search-table').tBodies[0].replaceChildren(); document.getElementById('search-screen').focus();");
    driver.keys(&format!("{ean}{ENTER}"), 0);
    wait_listed(&driver, &return_id);
    let boxed: String = serde_json::from_value(
        driver.execute("return document.getElementById('search-key').value"),
    )
    .unwrap();
    assert_eq!(boxed, ean);

    // O opens the selected return on the bench.
    driver.execute("document.getElementById('search-screen').focus();");
    let first = listed(&driver);
    assert_eq!(first[0], return_id, "{first:?}");
    driver.keys("o", 0);
    driver.wait_for(10, "the return on the bench", |d| {
        (d.visible("bench-screen") && d.text_of("#ret-order").is_some_and(|t| t.contains(&number)))
            .then_some(())
    });

    // Back on F8, C cancels a return that has not arrived, with the supervisor's reason.
    driver.keys(&F8.to_string(), 0);
    driver.wait_for(10, "the search screen", |d| {
        d.visible("search-screen").then_some(())
    });
    search_for(&driver, &other_connote);
    wait_listed(&driver, &other_id);
    driver.keys("c", 0);
    driver.wait_for(5, "the cancel box", |d| {
        d.visible("cancel-dialog").then_some(())
    });
    driver.keys(&format!("the customer kept it{ENTER}"), 80);
    let said = driver.wait_for(10, "the cancel's answer", |d| {
        d.execute("return document.getElementById('search-summary').textContent")
            .as_str()
            .filter(|t| t.contains("Cancelled"))
            .map(str::to_owned)
    });
    assert!(said.contains(&other_id), "{said}");
    assert_eq!(
        one::<String>(
            dir,
            &format!("SELECT status FROM returns WHERE id = '{other_id}'")
        ),
        "cancelled"
    );
}
