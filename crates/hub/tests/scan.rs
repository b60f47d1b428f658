//! The hub service on a real store: the demo hub is deterministic and matches what the README
//! promises, and every scan is recorded durably with the right verdict before it is answered.

use std::path::Path;

use returnhub_core::model::{ReturnStatus, ScanVerdict};
use returnhub_hub::{Hub, HubOptions, DEMO_HUB_ID};

const NOW: i64 = 1_795_461_900_000; // 2026-11-23T19:25:00Z

/// The demo hub with an operator signed in.
fn demo_hub(dir: &Path, now: i64) -> Hub {
    let hub = Hub::open_with_clock(HubOptions::demo(dir), Box::new(move || now)).unwrap();
    hub.sign_in("OP-1001", "1111").unwrap();
    hub
}

fn query<T: rusqlite::types::FromSql>(hub: &Hub, sql: &str) -> T {
    hub.with_store(|s| s.reader().query_row(sql, [], |r| r.get(0)).unwrap())
}

#[test]
fn the_demo_is_deterministic_and_recent() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let first = demo_hub(a.path(), NOW);
    let second = demo_hub(b.path(), NOW + 9 * 86_400_000);
    let listing = "SELECT group_concat(c.connote || ':' || r.status || ':' || i.id || ':' || i.order_line_id, ',')
                   FROM connotes c JOIN returns r ON r.id = c.return_id JOIN return_items i ON i.return_id = r.id";
    assert_eq!(
        query::<String>(&first, listing),
        query::<String>(&second, listing)
    );

    assert_eq!(query::<i64>(&first, "SELECT count(*) FROM orders"), 300);
    assert_eq!(query::<i64>(&first, "SELECT count(*) FROM returns"), 72);
    assert_eq!(
        query::<i64>(
            &first,
            "SELECT count(DISTINCT trigger_stage) FROM retailers"
        ),
        3,
        "the demo retailers use every trigger"
    );
    let oldest: String = query(&first, "SELECT min(created_at) FROM orders");
    assert!(
        oldest.as_str() >= "2026-10-24T19:25:00.000Z",
        "orders are from the last 30 days: {oldest}"
    );
    assert_eq!(
        query::<i64>(
            &first,
            "SELECT count(*) FROM order_lines WHERE image IS NULL"
        ),
        0,
        "every line has an image"
    );
    // Opening again does not seed twice.
    drop(first);
    let again = demo_hub(a.path(), NOW + 1);
    assert_eq!(query::<i64>(&again, "SELECT count(*) FROM returns"), 72);
}

/// The README's demo connotes table, `| \`CONNOTE\` | verdict | …` under "### Demo connotes".
/// Keeps the README true.
fn readme_connotes() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    readme
        .lines()
        .skip_while(|line| *line != "### Demo connotes")
        .skip(1)
        .take_while(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let connote = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((connote.to_string(), cells.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn the_readme_demo_connotes_scan_as_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), NOW);
    let listed = readme_connotes();
    assert!(listed.len() >= 6, "the README lists demo connotes");
    for (connote, verdict) in listed {
        let result = hub.scan(&connote).unwrap();
        let got = serde_json::to_value(result.verdict).unwrap();
        assert_eq!(
            got.as_str().unwrap(),
            verdict,
            "README says {connote} is {verdict}"
        );
    }
}

#[test]
fn scans_are_recorded_with_distinct_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), NOW);
    let pick = |status: &str, hub_id: &str| -> String {
        query(
            &hub,
            &format!(
                "SELECT c.connote FROM connotes c JOIN returns r ON r.id = c.return_id
                 WHERE r.status = '{status}' AND r.hub_id = '{hub_id}' ORDER BY c.connote LIMIT 1"
            ),
        )
    };
    let expected = pick("expected", DEMO_HUB_ID);
    let events_before: i64 = query(
        &hub,
        "SELECT count(*) FROM events WHERE kind <> 'action_due'",
    );

    // Scanner noise: lower case, spaces, a CR LF suffix.
    let noisy = format!("  {}\r\n", expected.to_lowercase());
    let first = hub.scan(&noisy).unwrap();
    assert_eq!(first.verdict, ScanVerdict::Expected);
    assert_eq!(first.connote, expected);
    assert_eq!(first.raw, noisy);
    let ret = first.ret.as_ref().unwrap();
    assert_eq!(
        ret.status,
        ReturnStatus::Received,
        "a parcel scanned in is received"
    );
    assert!(!ret.items.is_empty() && ret.items.iter().all(|i| i.image.is_some()));
    // Durable before answered: a second handle on the file sees the scan and the status.
    let path = hub.options().store_path();
    let other = rusqlite::Connection::open(&path).unwrap();
    let status: String = other
        .query_row(
            "SELECT status FROM returns r JOIN connotes c ON c.return_id = r.id WHERE c.connote = ?1",
            [&expected],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "received");

    // Scanning it again: still the same return (received, not yet processed), no second change.
    let again = hub.scan(&expected).unwrap();
    assert_eq!(again.verdict, ScanVerdict::Expected);
    let changes: i64 = query(
        &hub,
        "SELECT count(*) FROM events WHERE kind = 'return_status_changed'",
    );
    assert_eq!(changes, 1);

    for (status, hub_id, verdict) in [
        ("processed", DEMO_HUB_ID, ScanVerdict::AlreadyProcessed),
        ("closed", DEMO_HUB_ID, ScanVerdict::Closed),
        ("cancelled", DEMO_HUB_ID, ScanVerdict::Cancelled),
        ("expected", "SYD", ScanVerdict::OtherHub),
    ] {
        let connote = pick(status, hub_id);
        let result = hub.scan(&connote).unwrap();
        assert_eq!(result.verdict, verdict, "{connote}");
        assert!(result.ret.is_some());
        assert!(!result.message.is_empty());
    }
    let unknown = hub.scan("ZZ999999995NZ").unwrap();
    assert_eq!(unknown.verdict, ScanVerdict::Unknown);
    assert!(unknown.ret.is_none());
    assert!(unknown.message.contains("orphan"));
    let misread = hub.scan(" \r\n").unwrap();
    assert_eq!(misread.verdict, ScanVerdict::Misread);
    // A connote-shaped scan whose check digit fails is a misread, not an unknown parcel.
    let bad_check = hub.scan("ZZ999999999NZ").unwrap();
    assert_eq!(bad_check.verdict, ScanVerdict::Misread);
    assert!(bad_check.ret.is_none());
    assert!(
        bad_check.message.contains("check digit"),
        "{}",
        bad_check.message
    );

    // Every scan is in the log, known or not, as the signed-in operator: 9 scans, 1 status
    // change, and the duplicate scan of a processed parcel raised for the supervisor. (The
    // receipt of a First-scan retailer's return also fires its actions at this standalone
    // hub: those are counted apart.)
    let events_after: i64 = query(
        &hub,
        "SELECT count(*) FROM events WHERE kind <> 'action_due'",
    );
    let actors: String = query(
        &hub,
        "SELECT group_concat(DISTINCT actor) FROM events WHERE kind = 'connote_scanned'",
    );
    assert_eq!(actors, "u-aroha");
    assert_eq!(events_after - events_before, 11);
    let duplicates: i64 = query(
        &hub,
        "SELECT count(*) FROM exceptions WHERE kind = 'duplicate_processing'",
    );
    assert_eq!(duplicates, 1);
    let orphan: i64 = query(
        &hub,
        "SELECT count(*) FROM events WHERE kind = 'connote_scanned'
         AND json_extract(payload, '$.connote') = 'ZZ999999995NZ'
         AND json_extract(payload, '$.return_id') IS NULL",
    );
    assert_eq!(orphan, 1, "an unknown parcel's scan is kept");
    let stations: i64 = query(
        &hub,
        "SELECT count(DISTINCT station) FROM events WHERE kind = 'connote_scanned'",
    );
    assert_eq!(stations, 1);
}

#[test]
fn app_info_describes_the_demo_hub() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), NOW);
    let info = hub.app_info().unwrap();
    assert!(info.demo);
    assert_eq!(info.hub_id, DEMO_HUB_ID);
    assert_eq!(
        (
            query::<i64>(&hub, "SELECT count(*) FROM returns"),
            query::<i64>(&hub, "SELECT count(*) FROM orders")
        ),
        (72, 300)
    );
    assert_eq!(info.schema_version, returnhub_store::SCHEMA_VERSION);
    let demo = hub.demo_connotes().unwrap();
    for verdict in [
        ScanVerdict::Expected,
        ScanVerdict::AlreadyProcessed,
        ScanVerdict::OtherHub,
        ScanVerdict::Closed,
    ] {
        assert!(
            demo.iter().any(|d| d.verdict == verdict),
            "the demo list shows a {verdict:?}"
        );
    }
}

#[test]
fn a_configured_hub_does_not_seed_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hub.toml"),
        "[hub]\nid = \"CHC\"\nname = \"Christchurch\"\n",
    )
    .unwrap();
    let hub = Hub::open(HubOptions::in_dir(dir.path()).unwrap()).unwrap();
    let info = hub.app_info().unwrap();
    assert!(!info.demo);
    assert_eq!(
        (
            info.hub_id.as_str(),
            query::<i64>(&hub, "SELECT count(*) FROM returns")
        ),
        ("CHC", 0)
    );
    assert!(
        hub.demo_connotes().unwrap().is_empty(),
        "no demo list on a real hub"
    );
    // No demo users either: nobody can sign in until users are enrolled.
    assert!(hub.sign_in("OP-1001", "1111").is_err());
    assert!(matches!(
        hub.scan("LZ482131160NZ"),
        Err(returnhub_hub::HubError::NotSignedIn)
    ));
}

#[test]
fn the_demo_retailers_rules_pass_validation_and_decide() {
    use returnhub_core::decision::{Decider, RetailerPolicy};
    use returnhub_core::rules::RuleSet;
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), NOW);
    let rows: Vec<(String, String, String)> = hub.with_store(|s| {
        let mut stmt = s
            .reader()
            .prepare("SELECT id, policy_json, rules_json FROM retailers ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    });
    assert_eq!(rows.len(), 3);
    for (id, policy, rules) in rows {
        let policy: RetailerPolicy = serde_json::from_str(&policy).unwrap();
        let rules: RuleSet = serde_json::from_str(&rules).unwrap();
        assert!(!rules.rules.is_empty(), "{id} has rules");
        if let Err(issues) = Decider::new(&rules, &policy) {
            panic!("{id}'s demo rules are invalid: {issues:?}");
        }
    }
}
