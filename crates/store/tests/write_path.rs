//! The one write path: an event and its effects commit together or not at all, including when
//! the process dies in the middle. The crash tests run this test binary again as a child that
//! writes and is killed (by a failpoint abort inside the transaction, or SIGKILL at a random
//! moment); the parent then reopens the file and checks every invariant.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use returnhub_core::decision::{QcFailPolicy, RetailerPolicy, ReturnOption};
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::record::{
    OrderLineRecord, OrderRecord, RetailerRecord, ReturnItemRecord, ReturnRecord,
};
use returnhub_core::rules::{Outcome, RuleSet};
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, Store, StoreError};

const CHILD_ENV: &str = "RETURNHUB_TEST_CHILD_DB";

fn input(event: DomainEvent) -> EventInput {
    EventInput {
        event,
        actor: "test".into(),
        station: Some("bench-t".into()),
    }
}

fn retailer() -> RetailerRecord {
    RetailerRecord {
        id: "r1".into(),
        name: "Retailer One".into(),
        currency: Currency::NZD,
        country: None,
        policy: RetailerPolicy {
            trigger: Trigger::Processing,
            customers_choose: true,
            exchange_enabled: false,
            rules_override_customer_choice: false,
            default_outcome: Outcome::Refund,
            qc_fail: QcFailPolicy::HoldForReview,
            credit_note_expiry_days: None,
            currency: Some(Currency::NZD),
            shopify: Default::default(),
            partners: Default::default(),
        },
        rules: RuleSet { rules: vec![] },
        reasons: vec![],
        qc_reasons: vec![],
    }
}

fn order(n: u32) -> OrderRecord {
    let nzd = |m| Money::new(m, Currency::NZD);
    OrderRecord {
        id: format!("o{n}"),
        retailer_id: "r1".into(),
        order_number: format!("#{n}"),
        customer_name: "Ana".into(),
        email: "ana@example.com".into(),
        created_at: "2026-11-01T00:00:00.000Z".into(),
        country: "NZ".into(),
        tags: vec![],
        subtotal: nzd(5000),
        discount: nzd(0),
        total: nzd(5000),
        lines: vec![OrderLineRecord {
            id: format!("o{n}-l1"),
            sku: "SKU-1".into(),
            ean: None,
            title: "Tee".into(),
            image: None,
            quantity: 1,
            unit_price: nzd(5000),
            discount: nzd(0),
            product_tags: vec![],
        }],
    }
}

fn expected_return(n: u32) -> ReturnRecord {
    ReturnRecord {
        external_id: None,
        id: format!("ret{n}"),
        retailer_id: "r1".into(),
        hub_id: "AKL".into(),
        order_id: format!("o{n}"),
        source: "portal".into(),
        status: ReturnStatus::Expected,
        created_at: "2026-11-02T00:00:00.000Z".into(),
        connotes: vec![format!("LZ{n:08}0NZ")],
        items: vec![ReturnItemRecord {
            external_id: None,
            id: format!("ret{n}-i1"),
            order_line_id: format!("o{n}-l1"),
            quantity: 1,
            reason_code: "FIT".into(),
            sub_reason_code: None,
            comment: None,
            chosen_option: Some(ReturnOption::Refund),
        }],
    }
}

/// Appends order n and return n, in one transaction.
fn write_pair(store: &mut Store, n: u32) -> Result<(), StoreError> {
    store.write(1_795_000_000_000 + i64::from(n), |tx| {
        tx.append(input(DomainEvent::OrderImported(order(n))))?;
        tx.append(input(DomainEvent::ReturnExpected(expected_return(n))))?;
        Ok(())
    })?;
    Ok(())
}

fn seeded_store(path: &Path) -> Store {
    let mut store = Store::open(path).unwrap();
    store
        .write(1_795_000_000_000, |tx| {
            tx.append(input(DomainEvent::RetailerConfigured(retailer())))?;
            Ok(())
        })
        .unwrap();
    store
}

fn count(store: &Store, sql: &str) -> i64 {
    store.reader().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every invariant that ties the read models to the log.
fn assert_consistent(store: &Store) {
    assert!(store.integrity_ok().unwrap(), "integrity_check");
    let events = count(store, "SELECT count(*) FROM events");
    assert_eq!(
        count(store, "SELECT count(*) FROM outbox WHERE topic = 'sync'"),
        events,
        "one sync row per event"
    );
    assert_eq!(
        count(
            store,
            "SELECT count(*) FROM events WHERE kind = 'order_imported'"
        ),
        count(store, "SELECT count(*) FROM orders"),
        "every imported-order event has its order"
    );
    assert_eq!(
        count(
            store,
            "SELECT count(*) FROM events WHERE kind = 'return_expected'"
        ),
        count(store, "SELECT count(*) FROM returns"),
        "every expected-return event has its return"
    );
    assert_eq!(
        count(store, "SELECT count(*) FROM returns"),
        count(store, "SELECT count(*) FROM connotes"),
        "every return has its connote"
    );
    // Pairs are written together: never an order without its return.
    assert_eq!(
        count(store, "SELECT count(*) FROM orders"),
        count(store, "SELECT count(*) FROM returns")
    );
    assert_eq!(
        count(store, "SELECT count(*) FROM outbox o LEFT JOIN events e ON e.id = o.event_id WHERE e.id IS NULL"),
        0
    );
}

/// The child's body: write pairs until killed (or until n reaches the limit).
#[test]
fn child_writer() {
    let Some(db) = std::env::var_os(CHILD_ENV) else {
        return; // Only meaningful when spawned by a crash test below.
    };
    let mut store = seeded_store(Path::new(&db));
    for n in 1..100_000 {
        write_pair(&mut store, n).unwrap();
        println!("acked {n}");
    }
}

fn spawn_child(db: &Path, failpoint: Option<&str>) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(fp) = failpoint {
        cmd.env("RETURNHUB_FAILPOINT", fp);
    }
    cmd.spawn().unwrap()
}

#[test]
fn an_abort_inside_the_transaction_leaves_no_half_applied_event() {
    for failpoint in ["after_event_row", "after_projection"] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hub.db");
        let out = spawn_child(&db, Some(failpoint))
            .wait_with_output()
            .unwrap();
        assert!(
            !out.status.success(),
            "the child must have aborted at {failpoint}"
        );
        let store = Store::open(&db).unwrap();
        assert_consistent(&store);
        // The failpoint fires in the child's first append (the retailer's): its event row was
        // written inside the transaction, and none of it may survive.
        assert_eq!(count(&store, "SELECT count(*) FROM events"), 0);
        assert_eq!(count(&store, "SELECT count(*) FROM retailers"), 0);
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    // Seeded so a failure replays; each round kills the writer after a different delay.
    let mut seed: u64 = 0x0DDB_1A5E;
    let mut total_acked = 0;
    for round in 0..6 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let delay_ms = 150 + (seed >> 33) % 400;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hub.db");
        let mut child = spawn_child(&db, None);
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL on Unix
        let out = child.wait_with_output().unwrap();
        let acked = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("acked "))
            .filter_map(|n| n.parse::<i64>().ok())
            .max()
            .unwrap_or(0);
        let store = Store::open(&db).unwrap();
        assert_consistent(&store);
        let returns = count(&store, "SELECT count(*) FROM returns");
        assert!(
            returns >= acked,
            "round {round}: {acked} writes were acknowledged but only {returns} survived"
        );
        assert!(
            returns <= acked + 1,
            "round {round}: at most the one in flight may be extra"
        );
        total_acked += acked;
    }
    assert!(
        total_acked > 0,
        "the children must have acknowledged writes before being killed"
    );
}

#[test]
fn a_write_without_an_event_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.db")).unwrap();
    let err = store.write(0, |_tx| Ok(())).err().unwrap();
    assert!(matches!(err, StoreError::NoEvent));
}

#[test]
fn a_failing_effect_rolls_back_its_event_and_the_whole_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(&dir.path().join("hub.db"));
    write_pair(&mut store, 1).unwrap();
    let before = count(&store, "SELECT count(*) FROM events");
    // Order 2 is new, but return 2 reuses return 1's connote: the second append fails.
    let err = store
        .write(1_795_000_100_000, |tx| {
            tx.append(input(DomainEvent::OrderImported(order(2))))?;
            let mut r = expected_return(2);
            r.connotes = vec!["LZ000000010NZ".into()];
            tx.append(input(DomainEvent::ReturnExpected(r)))?;
            Ok(())
        })
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("already belongs to another return"),
        "{err}"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM events"), before);
    assert_eq!(
        count(&store, "SELECT count(*) FROM orders WHERE id = 'o2'"),
        0,
        "order 2 rolled back too"
    );
    assert_consistent(&store);
}

#[test]
fn the_event_log_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(&dir.path().join("hub.db"));
    let conn = store.reader();
    let update = conn
        .execute("UPDATE events SET actor = 'mallory'", [])
        .unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
}

#[test]
fn a_status_change_from_a_stale_status_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(&dir.path().join("hub.db"));
    write_pair(&mut store, 1).unwrap();
    let change = |from, to| DomainEvent::ReturnStatusChanged {
        return_id: "ret1".into(),
        from,
        to,
    };
    store
        .write(1, |tx| {
            tx.append(input(change(
                ReturnStatus::Expected,
                ReturnStatus::Received,
            )))
        })
        .unwrap();
    let err = store
        .write(2, |tx| {
            tx.append(input(change(
                ReturnStatus::Expected,
                ReturnStatus::Received,
            )))
        })
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("is not expected any more"),
        "{err}"
    );
    let view = store.return_by_connote("LZ000000010NZ").unwrap().unwrap();
    assert_eq!(view.status, ReturnStatus::Received);
    assert_eq!(view.items.len(), 1);
    assert_eq!(view.items[0].unit_price, Money::new(5000, Currency::NZD));
}

#[test]
fn hlc_stamps_increase_across_reopen_even_if_the_clock_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let mut store = seeded_store(&path);
    let (_, first) = store
        .write(2_000_000_000_000, |tx| {
            tx.append(input(DomainEvent::OrderImported(order(1))))
        })
        .unwrap();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let (_, second) = store
        .write(1_000, |tx| {
            tx.append(input(DomainEvent::OrderImported(order(2))))
        })
        .unwrap();
    assert!(second[0].hlc > first[0].hlc);
    assert!(second[0].seq > first[0].seq);
}

#[test]
fn a_retailer_configuration_reads_back_whole_and_in_order() {
    use returnhub_core::record::{QcReasonRecord, ReasonRecord, SubReasonRecord};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.db")).unwrap();
    let mut r = retailer();
    let sub = |c: &str| SubReasonRecord {
        code: c.into(),
        label: c.to_lowercase(),
    };
    r.reasons = vec![
        ReasonRecord {
            code: "ZED".into(),
            label: "Last alphabetically, first in the list".into(),
            requires_evidence: true,
            sub_reasons: vec![sub("Z2"), sub("A1")],
        },
        ReasonRecord {
            code: "ALPHA".into(),
            label: "Second".into(),
            requires_evidence: false,
            sub_reasons: vec![],
        },
    ];
    r.qc_reasons = vec![QcReasonRecord {
        code: "PILLING".into(),
        label: "Pilling".into(),
        requires_photo: true,
    }];
    store
        .write(1, |tx| {
            tx.append(input(DomainEvent::RetailerConfigured(r.clone())))
        })
        .unwrap();
    assert_eq!(store.retailer_record("r1").unwrap(), Some(r.clone()));
    // Configured again without a reason: it is gone (the configuration is whole).
    r.reasons.pop();
    store
        .write(2, |tx| {
            tx.append(input(DomainEvent::RetailerConfigured(r.clone())))
        })
        .unwrap();
    assert_eq!(store.retailer_record("r1").unwrap(), Some(r));
    assert_eq!(store.retailer_record("nobody").unwrap(), None);
}

#[test]
fn an_action_due_queues_one_outbox_row_per_idempotency_key() {
    use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent};
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(&dir.path().join("hub.db"));
    let items = [ItemOutcome {
        item_id: "i1".into(),
        outcome: Outcome::Refund,
        amount: Some(Money::new(4500, Currency::NZD)),
    }];
    let fire = |store: &mut Store| {
        let due = actions_due(
            Trigger::Processing,
            ReturnEvent::Processed,
            "r1",
            "R1",
            &items,
        );
        assert_eq!(due.len(), 1);
        store
            .write(1_000, |tx| {
                for action in &due {
                    tx.append(input(DomainEvent::ActionDue(action.clone())))?;
                }
                Ok(due[0].key.clone())
            })
            .unwrap()
            .0
    };
    let first = fire(&mut store);
    let second = fire(&mut store);
    assert_eq!(
        first, second,
        "the key is fixed by what is due, not by when"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM outbox WHERE topic = 'action'"),
        1,
        "a repeated trigger queues nothing new"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM events WHERE kind = 'action_due'"
        ),
        2,
        "but the repeat is in the log"
    );
    let payload: String = store
        .reader()
        .query_row(
            "SELECT payload FROM outbox WHERE topic = 'action' AND dedupe_key = ?1",
            [first.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    let action: returnhub_core::trigger::ActionDue = serde_json::from_str(&payload).unwrap();
    assert_eq!(action.amount, Some(Money::new(4500, Currency::NZD)));
    assert_consistent(&store);
}

#[test]
fn the_benchs_reads_of_one_return_use_indexes_not_scans() {
    // A scan must stay fast on a hub with a million returns and their outbox rows: every
    // per-return query of the bench is an index search. (A plan check, not a timing.)
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(&dir.path().join("hub.db"));
    let plans = [
        "SELECT id FROM outbox WHERE topic = 'label' AND json_extract(payload, '$.return_id') = 'R1' ORDER BY id",
        "SELECT dedupe_key FROM outbox WHERE topic = 'action' AND json_extract(payload, '$.return_id') = 'R1' ORDER BY id",
        "SELECT id FROM exceptions WHERE return_id = 'R1' AND state = 'open' ORDER BY rowid",
        "SELECT id FROM inspections WHERE return_id = 'R1'",
        "SELECT id FROM decisions WHERE return_id = 'R1'",
        "SELECT id FROM extra_items WHERE return_id = 'R1'",
    ];
    for sql in plans {
        let plan: Vec<String> = store
            .reader()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX") || step.contains("USING COVERING INDEX")),
            "{sql}: {plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN")),
            "{sql}: {plan:?}"
        );
    }
}

#[test]
fn an_order_update_changes_the_order_and_adds_lines_but_never_removes_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(&dir.path().join("hub.db"));
    write_pair(&mut store, 1).unwrap();
    assert_eq!(
        store.order_record("o1").unwrap(),
        Some(order(1)),
        "reads back whole"
    );

    let mut newer = order(1);
    newer.email = "ana.new@example.com".into();
    newer.tags = vec!["vip".into()];
    let mut added = newer.lines[0].clone();
    added.id = "o1-l2".into();
    added.sku = "SKU-2".into();
    // The shop no longer lists the first line (e.g. it was edited away); the return points at it.
    newer.lines = vec![added];
    store
        .write(2_000, |tx| {
            tx.append(input(DomainEvent::OrderUpdated(newer.clone())))
        })
        .unwrap();
    let stored = store.order_record("o1").unwrap().unwrap();
    assert_eq!(stored.email, "ana.new@example.com");
    assert_eq!(stored.tags, vec!["vip".to_string()]);
    let lines: Vec<&str> = stored.lines.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(lines, vec!["o1-l1", "o1-l2"], "the returned line stays");

    let refused = store.write(3_000, |tx| {
        tx.append(input(DomainEvent::OrderUpdated(order(9))))
    });
    assert!(
        matches!(&refused, Err(StoreError::Invalid(m)) if m.contains("not in the store")),
        "{refused:?}"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM orders WHERE id = 'o9'"),
        0
    );
}
