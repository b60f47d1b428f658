//! The rules admin on the demo hub's real store: a bad draft is refused with issues pointing at
//! the rule and changes nothing; a good one is saved as an event and survives a reopen; the
//! dry run replays the last 30 days and reports exactly the items whose outcome changes.

use returnhub_core::rules::{OutcomeKind, Severity};
use returnhub_hub::{Hub, HubError, HubOptions};

const NOW: i64 = 1_795_461_900_000;

/// The demo hub with its admin signed in.
fn demo_hub(dir: &std::path::Path) -> Hub {
    let hub = Hub::open_with_clock(HubOptions::demo(dir), Box::new(|| NOW)).unwrap();
    hub.sign_in("AD-3001", "3333").unwrap();
    hub
}

fn events(hub: &Hub) -> i64 {
    hub.with_store(|s| {
        s.reader()
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap()
    })
}

/// Kōwhai's demo rules plus "change of mind gets credit" (shared with the window test).
const CHANGED_MIND_CREDIT: &str =
    include_str!("../../../tests/fixtures/rules_changed_mind_credit.json");

#[test]
fn a_draft_with_errors_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let before_rules = hub.retailer_rules("kowhai").unwrap();
    let before_events = events(&hub);
    let bad = r#"{"rules": [{"id": "x", "name": "Colourful", "priority": 1,
        "condition": {"predicate": {"field": "colour", "op": "eq", "value": {"text": "red"}}},
        "outcome": {"kind": "refund"}}]}"#;
    let check = hub.save_rules("kowhai", bad).unwrap();
    assert!(!check.saved);
    let error = check
        .issues
        .iter()
        .find(|i| i.severity == Severity::Error)
        .expect("an error");
    let text = error.to_string();
    assert!(
        text.contains("Colourful") && text.contains("colour"),
        "{text}"
    );
    assert_eq!(events(&hub), before_events, "nothing recorded");
    assert_eq!(hub.retailer_rules("kowhai").unwrap(), before_rules);

    // Exchange is disabled for Bondi: a rule that gives it is an error pointing at the rule.
    let exchange = r#"{"rules": [{"id": "swap", "name": "Swap fits", "priority": 1,
        "condition": {"predicate": {"field": "return_reason", "op": "eq", "value": {"text": "FIT"}}},
        "outcome": {"kind": "exchange"}}]}"#;
    let issues = hub.check_rules("bondi", exchange).unwrap();
    assert!(
        issues
            .iter()
            .any(|i| i.severity == Severity::Error && i.to_string().contains("Swap fits")),
        "{issues:?}"
    );

    assert!(matches!(
        hub.check_rules("nobody", "{}"),
        Err(HubError::UnknownRetailer(_))
    ));
    assert!(hub.dry_run_rules("kowhai", "{not json").is_err());
}

#[test]
fn a_good_draft_is_saved_as_an_event_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let before = events(&hub);
    let check = hub.save_rules("kowhai", CHANGED_MIND_CREDIT).unwrap();
    assert!(check.saved, "{:?}", check.issues);
    assert_eq!(events(&hub), before + 1);
    let actor: String = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT actor FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap()
    });
    assert_eq!(actor, "u-ada");
    drop(hub);
    let hub = demo_hub(dir.path());
    let rules = hub.retailer_rules("kowhai").unwrap();
    assert_eq!(rules.rules.len(), 3);
    assert!(rules.rules.iter().any(|r| r.id == "changed-mind"));
    // The rest of the configuration (reasons) came through the save whole.
    let reasons: i64 = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT count(*) FROM return_reasons WHERE retailer_id = 'kowhai'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    });
    assert_eq!(reasons, 5);
}

#[test]
fn the_dry_run_reports_exactly_the_items_that_change() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let current = serde_json::to_string(&hub.retailer_rules("kowhai").unwrap()).unwrap();
    let same = hub.dry_run_rules("kowhai", &current).unwrap();
    assert!(same.items > 0, "the demo has recent returns");
    assert!(same.changes.is_empty(), "the current rules change nothing");

    let report = hub.dry_run_rules("kowhai", CHANGED_MIND_CREDIT).unwrap();
    assert_eq!(report.items, same.items);
    let changed_mind: Vec<String> = hub.with_store(|s| {
        let mut stmt = s
            .reader()
            .prepare(
                "SELECT i.id FROM return_items i JOIN returns r ON r.id = i.return_id
                 JOIN order_lines l ON l.id = i.order_line_id
                 WHERE r.retailer_id = 'kowhai' AND i.reason_code = 'CHANGED_MIND'
                   AND l.product_tags_json NOT LIKE '%Sale Item%'
                   AND (i.chosen_option IS NULL OR i.chosen_option != 'credit_note')
                 ORDER BY i.id",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    });
    let mut reported: Vec<String> = report.changes.iter().map(|c| c.item_id.clone()).collect();
    reported.sort();
    assert_eq!(
        reported, changed_mind,
        "exactly the change-of-mind items that were not credit already"
    );
    assert!(!reported.is_empty());
    for change in &report.changes {
        assert_eq!(change.draft.kind(), OutcomeKind::CreditNote);
        assert_eq!(
            change.draft_rule.as_deref(),
            Some("Change of mind gets credit")
        );
        assert!(change.amount.minor > 0 && change.amount.currency.code() == "NZD");
    }
    // Totals: the same number of items on both sides, split by outcome.
    let count = |totals: &[returnhub_core::dryrun::OutcomeTotal]| {
        totals.iter().map(|t| t.items).sum::<u32>()
    };
    assert_eq!(count(&report.current), report.items);
    assert_eq!(count(&report.draft), report.items);
}
