//! The tracking webhook queue's summary (F5, every second): it reads pending rows through
//! their partial index and delivered counts from `webhook_delivery_totals`, and must say
//! exactly what an aggregation over every row says, at every step of a row's life.

use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::money::Currency;
use returnhub_core::record::RetailerRecord;
use returnhub_core::rules::{Outcome, RuleSet};
use returnhub_core::time::UnixMillis;
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{Attempt, DeliverySummary, EventInput, Store, DELIVERY_SUMMARIES};
use rusqlite::Connection;

const NOW: UnixMillis = 1_795_461_900_000;
const A: &str = "https://a.example/hook";
const B: &str = "https://b.example/hook";

fn retailer(id: &str) -> RetailerRecord {
    RetailerRecord {
        id: id.into(),
        name: format!("Retailer {id}"),
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

/// Queues one batch for each (retailer, url), each tied to its own event of the same write
/// (an event and a URL are queued once).
fn queue(store: &mut Store, batches: &[(&str, &str)]) {
    store
        .write(NOW, |tx| {
            for (i, (retailer_id, url)) in batches.iter().enumerate() {
                let event = tx.append(EventInput {
                    event: DomainEvent::RetailerConfigured(retailer(retailer_id)),
                    actor: "test".into(),
                    station: None,
                })?;
                tx.queue_delivery(&event.id, retailer_id, &format!("ret-{i}"), "RC", url, "[]")?;
            }
            Ok(())
        })
        .unwrap();
}

/// What the summary said before it had an index and a totals table: every row aggregated.
fn aggregated(store: &Store) -> Vec<DeliverySummary> {
    let mut stmt = store
        .reader()
        .prepare(
            "SELECT retailer_id, url,
                    sum(state = 'pending'),
                    sum(state = 'pending' AND alerted_at IS NOT NULL),
                    sum(state = 'delivered'),
                    (SELECT d.last_error FROM webhook_deliveries d
                     WHERE d.retailer_id = w.retailer_id AND d.url = w.url
                       AND d.state = 'pending' AND d.last_error IS NOT NULL
                     ORDER BY d.id DESC LIMIT 1),
                    min(CASE WHEN state = 'pending' THEN next_attempt_at END)
             FROM webhook_deliveries w
             GROUP BY retailer_id, url ORDER BY retailer_id, url",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(DeliverySummary {
            retailer_id: r.get(0)?,
            url: r.get(1)?,
            pending: r.get(2)?,
            alerted: r.get(3)?,
            delivered: r.get(4)?,
            last_error: r.get(5)?,
            next_attempt_at: r.get(6)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The summary, checked against the full aggregation.
fn summary(store: &Store) -> Vec<DeliverySummary> {
    let s = store.delivery_summaries().unwrap();
    assert_eq!(s, aggregated(store));
    s
}

fn counts(s: &[DeliverySummary]) -> Vec<(&str, &str, u64, u64, u64)> {
    s.iter()
        .map(|q| {
            (
                q.retailer_id.as_str(),
                q.url.as_str(),
                q.pending,
                q.alerted,
                q.delivered,
            )
        })
        .collect()
}

fn ids(store: &Store, retailer_id: &str, url: &str) -> Vec<i64> {
    store
        .reader()
        .prepare(
            "SELECT id FROM webhook_deliveries WHERE retailer_id = ?1 AND url = ?2 ORDER BY id",
        )
        .unwrap()
        .query_map([retailer_id, url], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn failed(id: i64, at: UnixMillis, error: &str, alert: bool) -> Attempt {
    Attempt::Failed {
        id,
        next_at: at,
        error: error.into(),
        alert,
    }
}

#[test]
fn the_summary_stays_right_across_queue_deliver_fail_and_alert() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.db")).unwrap();
    assert!(summary(&store).is_empty());

    queue(
        &mut store,
        &[
            ("r1", A),
            ("r1", A),
            ("r1", A),
            ("r1", B),
            ("r1", B),
            ("r2", A),
        ],
    );
    let s = summary(&store);
    assert_eq!(
        counts(&s),
        [("r1", A, 3, 0, 0), ("r1", B, 2, 0, 0), ("r2", A, 1, 0, 0)]
    );
    assert!(s.iter().all(|q| q.last_error.is_none()));
    let (a1, b1) = (ids(&store, "r1", A), ids(&store, "r1", B));

    // Failures: errors and next tries; the newest row's error is the one shown.
    store
        .record_attempts(
            NOW + 1_000,
            &[
                failed(a1[0], NOW + 60_000, "503 from a", false),
                failed(a1[1], NOW + 30_000, "timed out", false),
                failed(b1[0], NOW + 5_000, "refused", false),
            ],
        )
        .unwrap();
    let s = summary(&store);
    assert_eq!(s[0].last_error.as_deref(), Some("timed out"));
    assert_eq!(
        s[0].next_attempt_at.as_deref(),
        Some("2026-11-23T19:25:00.000Z")
    );

    // The budget spent: alerted, still pending.
    store
        .record_attempts(
            NOW + 2_000,
            &[
                failed(a1[0], NOW + 90_000, "503 again", true),
                failed(b1[0], NOW + 9_000, "refused again", true),
            ],
        )
        .unwrap();
    let s = summary(&store);
    assert_eq!(
        counts(&s),
        [("r1", A, 3, 1, 0), ("r1", B, 2, 1, 0), ("r2", A, 1, 0, 0)]
    );

    // Deliveries, an alerted one among them; a row reported delivered twice counts once.
    store
        .record_attempts(
            NOW + 3_000,
            &[
                Attempt::Delivered { id: a1[0] },
                Attempt::Delivered { id: a1[2] },
                Attempt::Delivered { id: b1[1] },
            ],
        )
        .unwrap();
    store
        .record_attempts(NOW + 4_000, &[Attempt::Delivered { id: a1[0] }])
        .unwrap();
    let s = summary(&store);
    assert_eq!(
        counts(&s),
        [("r1", A, 1, 0, 2), ("r1", B, 1, 1, 1), ("r2", A, 1, 0, 0)]
    );
    assert_eq!(s[0].last_error.as_deref(), Some("timed out"));

    // "Send now", then everything delivered: the URLs stay listed with nothing waiting.
    store.retry_deliveries_now("r1", None, NOW + 5_000).unwrap();
    summary(&store);
    let rest: Vec<Attempt> = [a1[1], b1[0], ids(&store, "r2", A)[0]]
        .into_iter()
        .map(|id| Attempt::Delivered { id })
        .collect();
    store.record_attempts(NOW + 6_000, &rest).unwrap();
    let s = summary(&store);
    assert_eq!(
        counts(&s),
        [("r1", A, 0, 0, 3), ("r1", B, 0, 0, 2), ("r2", A, 0, 0, 1)]
    );
    assert!(s
        .iter()
        .all(|q| q.last_error.is_none() && q.next_attempt_at.is_none()));

    // More queued after: pending again, the delivered count kept.
    queue(&mut store, &[("r1", B)]);
    assert_eq!(counts(&summary(&store))[1], ("r1", B, 1, 0, 2));
}

#[test]
fn an_upgraded_store_counts_what_was_delivered_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    Store::migrate_file_to(&path, 5).unwrap(); // the schema before webhook_delivery_totals
    let conn = Connection::open(&path).unwrap();
    for (i, (url, state)) in [
        (A, "delivered"),
        (A, "delivered"),
        (A, "pending"),
        (B, "delivered"),
    ]
    .into_iter()
    .enumerate()
    {
        conn.execute(
            "INSERT INTO webhook_deliveries (event_id, retailer_id, return_id, code, url, body,
               state, next_attempt_at, created_at)
             VALUES (?1, 'r1', 'ret', 'RC', ?2, '[]', ?3, '2026-11-23T19:25:00.000Z',
               '2026-11-23T19:25:00.000Z')",
            (format!("e{i}"), url, state),
        )
        .unwrap();
    }
    drop(conn);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(
        counts(&summary(&store)),
        [("r1", A, 1, 0, 2), ("r1", B, 0, 0, 1)]
    );
    let pending = ids(&store, "r1", A)[2];
    store
        .record_attempts(NOW, &[Attempt::Delivered { id: pending }])
        .unwrap();
    assert_eq!(counts(&summary(&store))[0], ("r1", A, 0, 0, 3));
}

#[test]
fn the_summary_reads_pending_rows_through_their_index_and_never_scans_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hub.db")).unwrap();
    let plan: Vec<String> = store
        .reader()
        .prepare(&format!("EXPLAIN QUERY PLAN {DELIVERY_SUMMARIES}"))
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let on_deliveries: Vec<&String> = plan
        .iter()
        .filter(|step| step.contains("webhook_deliveries ") || step.contains(" d "))
        .collect();
    assert!(
        on_deliveries.len() >= 2,
        "the grouping and the latest error: {plan:?}"
    );
    assert!(
        on_deliveries
            .iter()
            .all(|step| step.contains("INDEX webhook_deliveries_pending")),
        "every read of webhook_deliveries goes through the pending index: {plan:?}"
    );
}

/// Whether a return's receipt notice was queued is asked at every receipt scan: through its
/// index, whatever the queue holds.
#[test]
fn the_receipt_lookup_goes_through_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hub.db")).unwrap();
    let plan: Vec<String> = store
        .reader()
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            returnhub_store::RECEIPT_QUEUED
        ))
        .unwrap()
        .query_map(["r1"], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|step| step.contains("webhook_deliveries_by_return")),
        "{plan:?}"
    );
    assert!(!store.receipt_queued("r1").unwrap());
}

/// Migration 0017 moves each delivery's body to `webhook_bodies`: a row queued before it is
/// posted with its body intact, and recording attempts leaves the body where it is.
#[test]
fn bodies_queued_before_their_own_table_are_posted_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    Store::migrate_file_to(&path, 16).unwrap(); // bodies still in the delivery rows
    let body = format!("[{}]", vec!["{\"code\":\"RC\"}"; 400].join(","));
    let conn = Connection::open(&path).unwrap();
    for (event, url) in [("e1", A), ("e1", B)] {
        conn.execute(
            "INSERT INTO webhook_deliveries (event_id, retailer_id, return_id, code, url, body,
               next_attempt_at, created_at)
             VALUES (?1, 'r1', 'ret', 'RC', ?2, ?3, '2026-11-23T19:25:00.000Z',
               '2026-11-23T19:25:00.000Z')",
            (event, url, &body),
        )
        .unwrap();
    }
    drop(conn);
    let mut store = Store::open(&path).unwrap();
    let due = store.due_deliveries(NOW, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|d| d.body == body));
    store
        .record_attempts(
            NOW,
            &[
                Attempt::Delivered { id: due[0].id },
                Attempt::Failed {
                    id: due[1].id,
                    next_at: NOW,
                    error: "HTTP 503".into(),
                    alert: false,
                },
            ],
        )
        .unwrap();
    let after = store.deliveries_of("ret").unwrap();
    assert_eq!(after.len(), 2);
    assert!(after[0].delivered && !after[1].delivered);
    assert!(after.iter().all(|d| d.body == body));
    let columns: Vec<String> = store
        .reader()
        .prepare("SELECT name FROM pragma_table_info('webhook_deliveries')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!columns.iter().any(|c| c == "body"), "{columns:?}");
}
