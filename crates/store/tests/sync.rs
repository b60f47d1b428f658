//! The store's sync API: pending rows and confirmation, and pulled events applied as they
//! are, idempotently, with last-writer-wins status by HLC whatever the arrival order.

use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::Money;
use returnhub_core::record::{
    OrderLineRecord, OrderRecord, RetailerRecord, ReturnItemRecord, ReturnRecord,
};
use returnhub_core::rules::{Outcome, RuleSet};
use returnhub_core::time::rfc3339;
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::{DomainEvent, KnownEvents};
use returnhub_protocol::hlc::HlcClock;
use returnhub_protocol::wire::{RemoteEvent, SyncCursor};
use returnhub_store::{EventInput, HeldCounts, HeldState, Store};

const NOW: i64 = 1_795_392_000_000;

fn remote(clock: &mut HlcClock, now: i64, event: &DomainEvent) -> RemoteEvent {
    let hlc = clock.tick(now as u64);
    let id = uuid::Uuid::now_v7().to_string();
    RemoteEvent::new(event, id, "other-device", &hlc, "u-2", None, rfc3339(now)).unwrap()
}

fn seed() -> Vec<DomainEvent> {
    let aud = "AUD".parse().unwrap();
    let price = Money::new(1000, aud);
    vec![
        DomainEvent::RetailerConfigured(RetailerRecord {
            id: "acme".into(),
            name: "Acme".into(),
            currency: aud,
            country: None,
            policy: RetailerPolicy {
                trigger: Trigger::Processing,
                customers_choose: true,
                exchange_enabled: false,
                rules_override_customer_choice: false,
                default_outcome: Outcome::Refund,
                qc_fail: QcFailPolicy::RuleDriven,
                credit_note_expiry_days: None,
                currency: Some(aud),
                shopify: Default::default(),
                partners: Default::default(),
            },
            rules: RuleSet { rules: vec![] },
            reasons: vec![],
            qc_reasons: vec![],
        }),
        DomainEvent::OrderImported(OrderRecord {
            id: "o1".into(),
            retailer_id: "acme".into(),
            order_number: "#1".into(),
            customer_name: "C".into(),
            email: "c@example.com".into(),
            created_at: rfc3339(NOW),
            country: "AU".into(),
            tags: vec![],
            subtotal: price,
            discount: Money::zero(aud),
            total: price,
            lines: vec![OrderLineRecord {
                id: "l1".into(),
                sku: "S".into(),
                ean: None,
                title: "T".into(),
                image: None,
                quantity: 1,
                unit_price: price,
                discount: Money::zero(aud),
                product_tags: vec![],
            }],
        }),
        DomainEvent::ReturnExpected(ReturnRecord {
            external_id: None,
            id: "r1".into(),
            retailer_id: "acme".into(),
            hub_id: "h1".into(),
            order_id: "o1".into(),
            source: "test".into(),
            status: ReturnStatus::Expected,
            created_at: rfc3339(NOW),
            connotes: vec!["C1".into()],
            items: vec![ReturnItemRecord {
                external_id: None,
                id: "i1".into(),
                order_line_id: "l1".into(),
                quantity: 1,
                reason_code: "x".into(),
                sub_reason_code: None,
                comment: None,
                chosen_option: None,
            }],
        }),
    ]
}

fn change(from: ReturnStatus, to: ReturnStatus) -> DomainEvent {
    DomainEvent::ReturnStatusChanged {
        return_id: "r1".into(),
        from,
        to,
    }
}

fn status(store: &Store) -> String {
    store
        .reader()
        .query_row("SELECT status FROM returns WHERE id = 'r1'", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// `events` recorded by this device (as user u-1), in one write.
fn write_local(store: &mut Store, events: Vec<DomainEvent>) {
    store
        .write(NOW, |tx| {
            for event in events {
                tx.append(EventInput {
                    event,
                    actor: "u-1".into(),
                    station: None,
                })?;
            }
            Ok(())
        })
        .unwrap();
}

fn count(store: &Store, sql: &str) -> i64 {
    store.reader().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn pulled_events_are_kept_as_they_are_once_and_queue_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.sqlite3")).unwrap();
    let mut other = HlcClock::new("other-device");
    let events: Vec<RemoteEvent> = seed().iter().map(|e| remote(&mut other, NOW, e)).collect();
    let cursor = SyncCursor {
        events: 3,
        tracking: 0,
    };
    let first = store.apply_remote_batch(NOW, &events, cursor).unwrap();
    assert_eq!((first.applied, first.skipped), (3, 0));
    let again = store.apply_remote_batch(NOW, &events, cursor).unwrap();
    assert_eq!((again.applied, again.skipped), (0, 3));
    assert_eq!(store.sync_cursor().unwrap(), cursor);
    assert_eq!(count(&store, "SELECT count(*) FROM events"), 3);
    assert_eq!(count(&store, "SELECT count(*) FROM outbox"), 0);
    let (id, device, hlc, payload): (String, String, String, String) = store
        .reader()
        .query_row(
            "SELECT id, device_id, hlc, payload FROM events WHERE kind = 'return_expected'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (id, device, hlc, payload),
        (
            events[2].id.clone(),
            events[2].device_id.clone(),
            events[2].hlc.clone(),
            events[2].payload.clone()
        )
    );
    assert_eq!(status(&store), "expected");

    // A local append afterwards sorts after what was pulled, even with a clock behind.
    let (_, appended) = store
        .write(NOW - 10_000, |w| {
            w.append(EventInput {
                event: change(ReturnStatus::Expected, ReturnStatus::Received),
                actor: "u-1".into(),
                station: None,
            })
        })
        .unwrap();
    assert!(appended[0].hlc.encode() > events[2].hlc);
    let pending = store.pending_sync(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(store.sync_queue_depth().unwrap(), 1);
    assert_eq!(pending[0].event.id, appended[0].id);
    assert_eq!(
        store
            .confirm_synced(&[appended[0].id.clone(), "unknown".into()], NOW)
            .unwrap(),
        1
    );
    assert_eq!(store.sync_queue_depth().unwrap(), 0);
}

#[test]
fn status_is_last_writer_wins_by_hlc_in_any_arrival_order() {
    let mut other = HlcClock::new("other-device");
    let base: Vec<RemoteEvent> = seed().iter().map(|e| remote(&mut other, NOW, e)).collect();
    let older = remote(
        &mut other,
        NOW + 1_000,
        &change(ReturnStatus::Expected, ReturnStatus::InTransit),
    );
    let newer = remote(
        &mut other,
        NOW + 2_000,
        &change(ReturnStatus::Expected, ReturnStatus::Received),
    );
    let orders = [
        vec![
            base[0].clone(),
            base[1].clone(),
            base[2].clone(),
            older.clone(),
            newer.clone(),
        ],
        vec![
            base[0].clone(),
            base[1].clone(),
            base[2].clone(),
            newer.clone(),
            older.clone(),
        ],
        // A status change that arrives before its return takes effect when the return does.
        vec![
            base[0].clone(),
            base[1].clone(),
            newer.clone(),
            older.clone(),
            base[2].clone(),
        ],
    ];
    for order in orders {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("hub.sqlite3")).unwrap();
        for ev in &order {
            store
                .apply_remote_batch(NOW, std::slice::from_ref(ev), SyncCursor::default())
                .unwrap();
        }
        assert_eq!(status(&store), "received");
    }
}

#[test]
fn a_pulled_event_this_build_cannot_read_is_held_and_the_page_still_applies() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.sqlite3")).unwrap();
    let mut other = HlcClock::new("other-device");
    let events = seed();
    let readable: Vec<RemoteEvent> = events.iter().map(|e| remote(&mut other, NOW, e)).collect();
    // A return's payload under an order's kind; a kind from a newer build.
    let mut lying = remote(&mut other, NOW, &events[2]);
    lying.kind = "order_imported".into();
    let mut future = remote(&mut other, NOW, &events[1]);
    future.kind = "pallet_sealed".into();
    let page = vec![
        lying.clone(),
        readable[0].clone(),
        future.clone(),
        readable[1].clone(),
        readable[2].clone(),
    ];
    let cursor = SyncCursor {
        events: 9,
        tracking: 0,
    };
    let outcome = store.apply_remote_batch(NOW, &page, cursor).unwrap();
    assert_eq!((outcome.applied, outcome.held), (3, 2), "{outcome:?}");
    assert_eq!(
        store.sync_cursor().unwrap(),
        cursor,
        "the pull goes on past them"
    );
    assert_eq!(
        store.held_counts().unwrap(),
        HeldCounts {
            needs_update: 1,
            malformed: 1,
            refused: 0
        }
    );
    let held = store.held_events(10).unwrap();
    let lying_held = held.iter().find(|h| h.event.id == lying.id).unwrap();
    assert_eq!(lying_held.state, HeldState::Malformed);
    assert_eq!(lying_held.event, lying, "kept whole, as pulled");
    let future_held = held.iter().find(|h| h.event.id == future.id).unwrap();
    assert_eq!(future_held.state, HeldState::NeedsUpdate);
    // Neither is in the log, nor pushed back, nor held twice by a repeated pull.
    assert_eq!(count(&store, "SELECT count(*) FROM events"), 3);
    assert_eq!(store.sync_queue_depth().unwrap(), 0);
    let again = store.apply_remote_batch(NOW, &page, cursor).unwrap();
    assert_eq!(
        (again.applied, again.skipped, again.held),
        (0, page.len(), 0)
    );
    assert_eq!(status(&store), "expected");
}

#[test]
fn held_events_and_those_that_need_them_apply_at_the_first_pull_after_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.sqlite3");
    // A build from before retailers were configured at all: the order and the return, which
    // need their retailer, wait with it instead of stopping the pull.
    let older = KnownEvents::this_build().without("retailer_configured");
    let mut store = Store::open(&path).unwrap().with_known_events(older.clone());
    let mut other = HlcClock::new("other-device");
    let mut events = seed();
    events.push(change(ReturnStatus::Expected, ReturnStatus::Received));
    let page: Vec<RemoteEvent> = events.iter().map(|e| remote(&mut other, NOW, e)).collect();
    let outcome = store
        .apply_remote_batch(NOW, &page, SyncCursor::default())
        .unwrap();
    assert_eq!((outcome.held, outcome.applied), (3, 1), "{outcome:?}");
    let states: Vec<_> = store
        .held_events(10)
        .unwrap()
        .into_iter()
        .map(|h| (h.event.kind, h.state))
        .collect();
    assert!(states.contains(&("retailer_configured".into(), HeldState::NeedsUpdate)));
    assert!(states.contains(&("order_imported".into(), HeldState::Unapplied)));
    assert!(states.contains(&("return_expected".into(), HeldState::Unapplied)));
    assert_eq!(
        store.held_counts().unwrap(),
        HeldCounts {
            needs_update: 3,
            malformed: 0,
            refused: 0
        }
    );
    // Reopened by the same older build: the first pull retries, and they stay held.
    drop(store);
    let mut store = Store::open(&path).unwrap().with_known_events(older);
    let outcome = store
        .apply_remote_batch(NOW, &[], SyncCursor::default())
        .unwrap();
    assert_eq!(outcome.released, 0);
    assert_eq!(
        store.held_counts().unwrap(),
        HeldCounts {
            needs_update: 3,
            malformed: 0,
            refused: 0
        }
    );
    // Reopened by the updated build: applied oldest first, and the return's status is what
    // it would have been had they been read when they arrived.
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let outcome = store
        .apply_remote_batch(NOW, &[], SyncCursor::default())
        .unwrap();
    assert_eq!(outcome.released, 3, "{outcome:?}");
    assert_eq!(status(&store), "received");
    assert_eq!(
        store.held_counts().unwrap(),
        HeldCounts {
            needs_update: 0,
            malformed: 0,
            refused: 0
        }
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM events") as usize,
        page.len()
    );
}

#[test]
fn the_bench_connection_sorts_after_what_the_worker_connection_pulled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.sqlite3");
    let mut bench = Store::open(&path).unwrap();
    let mut worker = Store::open(&path).unwrap();
    // Another device whose clock runs two minutes ahead (drift within the bound; an hour
    // ahead moves no clock at all, see below).
    let mut other = HlcClock::new("other-device");
    let ahead = NOW + 120_000;
    let mut events: Vec<RemoteEvent> = seed()
        .iter()
        .map(|e| remote(&mut other, ahead, e))
        .collect();
    events.push(remote(
        &mut other,
        ahead,
        &change(ReturnStatus::Expected, ReturnStatus::Received),
    ));
    worker
        .apply_remote_batch(NOW, &events, SyncCursor::default())
        .unwrap();
    assert_eq!(status(&bench), "received");
    let (_, appended) = bench
        .write(NOW, |w| {
            w.append(EventInput {
                event: change(ReturnStatus::Received, ReturnStatus::Processed),
                actor: "u-1".into(),
                station: None,
            })
        })
        .unwrap();
    assert!(appended[0].hlc.encode() > events[3].hlc);
    // So a third replica applying both, in either order, agrees with this one.
    let mine = RemoteEvent::new(
        &change(ReturnStatus::Received, ReturnStatus::Processed),
        appended[0].id.clone(),
        bench.device_id(),
        &appended[0].hlc,
        "u-1",
        None,
        rfc3339(NOW),
    )
    .unwrap();
    let third_dir = tempfile::tempdir().unwrap();
    let mut third = Store::open(&third_dir.path().join("hub.sqlite3")).unwrap();
    let mut all = events.clone();
    all.insert(3, mine);
    third
        .apply_remote_batch(NOW, &all, SyncCursor::default())
        .unwrap();
    assert_eq!(status(&third), "processed");
    assert_eq!(status(&bench), "processed");
}

/// A pulled event from a device whose clock ran an hour ahead (it slipped past before the
/// central store bounded clocks) is applied, but this device's clock does not follow it: its
/// next local stamp is at its own time, not an hour in the future, also after a restart.
#[test]
fn a_pulled_stamp_from_a_clock_far_ahead_moves_no_local_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.sqlite3");
    let mut store = Store::open(&path).unwrap();
    let mut fast = HlcClock::new("other-device");
    let hour = 3_600_000;
    let events: Vec<RemoteEvent> = seed()
        .iter()
        .map(|e| remote(&mut fast, NOW + hour, e))
        .collect();
    let cursor = SyncCursor {
        events: 3,
        tracking: 0,
    };
    let applied = store.apply_remote_batch(NOW, &events, cursor).unwrap();
    assert_eq!(applied.applied, 3, "the events are kept");
    let local = |store: &mut Store| {
        let (_, appended) = store
            .write(NOW + 1_000, |w| {
                w.append(EventInput {
                    event: DomainEvent::ConnoteScanned {
                        raw: "X".into(),
                        connote: "X".into(),
                        return_id: None,
                        station: "bench-1".into(),
                    },
                    actor: "u-1".into(),
                    station: None,
                })
            })
            .unwrap();
        appended[0].hlc.wall_ms
    };
    assert_eq!(local(&mut store), (NOW + 1_000) as u64);
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert!(
        local(&mut store) < (NOW + hour) as u64,
        "a restart does not pin it either"
    );
}

#[test]
fn an_event_that_waits_for_another_is_applied_by_the_next_page_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.sqlite3")).unwrap();
    let mut other = HlcClock::new("other-device");
    let events = seed();
    let remote_all: Vec<RemoteEvent> = events.iter().map(|e| remote(&mut other, NOW, e)).collect();
    // The order and the return arrive before their retailer (a relay that reordered them).
    let first = store
        .apply_remote_batch(NOW, &remote_all[1..3], SyncCursor::default())
        .unwrap();
    assert_eq!((first.applied, first.held), (0, 2), "{first:?}");
    let second = store
        .apply_remote_batch(NOW, &remote_all[..1], SyncCursor::default())
        .unwrap();
    assert_eq!(second.applied, 1);
    // The next page (even an empty one) applies what waited, without a restart.
    let third = store
        .apply_remote_batch(NOW, &[], SyncCursor::default())
        .unwrap();
    assert_eq!(third.released, 2, "{third:?}");
    assert_eq!(status(&store), "expected");
    assert_eq!(
        store.held_counts().unwrap(),
        HeldCounts {
            needs_update: 0,
            malformed: 0,
            refused: 0
        }
    );
}

/// The seed written at this device with a refund of 10.00 AUD due for r1's item; its action.
fn seeded_with_a_refund(store: &mut Store) -> Vec<returnhub_core::trigger::ActionDue> {
    use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent};
    let due = actions_due(
        Trigger::Processing,
        ReturnEvent::Processed,
        "acme",
        "r1",
        &[ItemOutcome {
            item_id: "i1".into(),
            outcome: Outcome::Refund,
            amount: Some(Money::new(1000, "AUD".parse().unwrap())),
        }],
    );
    let mut events = seed();
    events.extend(due.iter().cloned().map(DomainEvent::ActionDue));
    write_local(store, events);
    due
}

/// An action the central store confirmed reaches the hub with what the customer got back in
/// the currency they paid, and the hub keeps it beside the action for the bench to show.
#[test]
fn a_pulled_confirmation_keeps_what_the_customer_got_back_in_their_currency() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.sqlite3")).unwrap();
    let due = seeded_with_a_refund(&mut store);
    let nzd = "NZD".parse().unwrap();
    let confirmed = DomainEvent::ActionConfirmed {
        key: due[0].key.clone(),
        return_id: "r1".into(),
        target: "shopify".into(),
        reference: "gid://shopify/Refund/1".into(),
        paid: Some(Money::new(1093, nzd)),
    };
    assert!(store.actions_paid("r1").unwrap().is_empty());
    let mut central = HlcClock::new("central");
    let pulled = remote(&mut central, NOW, &confirmed);
    store
        .apply_remote_batch(
            NOW,
            &[pulled],
            SyncCursor {
                events: 1,
                tracking: 0,
            },
        )
        .unwrap();
    assert_eq!(
        store.actions_paid("r1").unwrap(),
        vec![(due[0].key.as_str().to_owned(), Money::new(1093, nzd))]
    );
}

/// The reports' milestones come out the same whatever order another device's events arrive
/// in: the earliest receipt and processing count, with who did them, and the confirmation.
#[test]
fn pulled_events_in_any_order_give_the_reports_their_milestones() {
    use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent};
    use returnhub_store::ReportQuery;
    let aud = "AUD".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.sqlite3")).unwrap();
    let due = seeded_with_a_refund(&mut store);
    let minute = 60_000;
    let mut other = HlcClock::new("other");
    let status = |from, to| DomainEvent::ReturnStatusChanged {
        return_id: "r1".into(),
        from,
        to,
    };
    let received = remote(
        &mut other,
        NOW,
        &status(ReturnStatus::Expected, ReturnStatus::Received),
    );
    let processed = remote(
        &mut other,
        NOW + 5 * minute,
        &status(ReturnStatus::Received, ReturnStatus::Processed),
    );
    let confirmed = remote(
        &mut other,
        NOW + 9 * minute,
        &DomainEvent::ActionConfirmed {
            key: due[0].key.clone(),
            return_id: "r1".into(),
            target: "shopify".into(),
            reference: "gid://shopify/Refund/1".into(),
            paid: None,
        },
    );
    // Newest first; then a later processing of the same return (another device, offline).
    let later = remote(
        &mut other,
        NOW + 30 * minute,
        &status(ReturnStatus::Received, ReturnStatus::Processed),
    );
    for (n, batch) in [vec![confirmed, processed, received], vec![later]]
        .into_iter()
        .enumerate()
    {
        store
            .apply_remote_batch(
                NOW + 40 * minute,
                &batch,
                SyncCursor {
                    events: n as i64 + 1,
                    tracking: 0,
                },
            )
            .unwrap();
    }
    let query = ReportQuery::default();
    let by_person = store.report_throughput(&query, "actor").unwrap();
    assert_eq!(by_person.len(), 1, "{by_person:?}");
    assert_eq!(
        (
            by_person[0].key.as_str(),
            by_person[0].received,
            by_person[0].processed,
            by_person[0].items
        ),
        ("u-2", 1, 1, 1)
    );
    let spans = store.report_spans(&query).unwrap();
    let ms: Vec<(&str, u64, i64)> = spans
        .iter()
        .map(|s| (s.span, s.returns, s.p50_ms))
        .collect();
    assert_eq!(
        ms,
        [
            ("received_to_processed", 1, 5 * minute),
            ("processed_to_confirmed", 1, 4 * minute),
            ("received_to_confirmed", 1, 9 * minute),
        ]
    );
    // Another device's action for the return, pulled with its confirmation twice, the first
    // ahead of the action: counted once, though this device's outbox never holds it.
    let theirs = actions_due(
        Trigger::Processing,
        ReturnEvent::Processed,
        "acme",
        "r1",
        &[ItemOutcome {
            item_id: "i2".into(),
            outcome: Outcome::Refund,
            amount: Some(Money::new(250, aud)),
        }],
    );
    let due = remote(
        &mut other,
        NOW + 31 * minute,
        &DomainEvent::ActionDue(theirs[0].clone()),
    );
    let their_confirmation = DomainEvent::ActionConfirmed {
        key: theirs[0].key.clone(),
        return_id: "r1".into(),
        target: "shopify".into(),
        reference: "gid://shopify/Refund/2".into(),
        paid: None,
    };
    let twice = [
        remote(&mut other, NOW + 32 * minute, &their_confirmation),
        remote(&mut other, NOW + 33 * minute, &their_confirmation),
    ];
    store
        .apply_remote_batch(
            NOW + 40 * minute,
            // Its confirmation ahead of the action itself (synced out of order), then again.
            &[twice[0].clone(), due, twice[1].clone()],
            SyncCursor {
                events: 3,
                tracking: 0,
            },
        )
        .unwrap();
    let money = store.report_money(&query).unwrap();
    assert_eq!(money.len(), 1, "{money:?}");
    assert_eq!(
        (money[0].action.as_str(), money[0].currency.as_str()),
        ("refund", "AUD")
    );
    assert_eq!(
        (
            money[0].due,
            money[0].due_minor,
            money[0].confirmed,
            money[0].confirmed_minor
        ),
        (2, 1250, 2, 1250)
    );

    // The counters kept event by event equal the migration's count over the rows.
    let path = dir.path().join("hub.sqlite3");
    drop(store);
    let kept = counters(&path);
    assert_eq!(
        kept.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        [
            // One confirmation in the first quarter hour, the other in the third.
            "confirmed",
            "confirmed",
            "due",
            "expected",
            "processed",
            "reason",
            "received"
        ],
        "{kept:?}"
    );
    assert_eq!(counted_from_scratch(&path), kept);
}

/// The reports' counters as the migration makes them from the rows: the store put back to
/// the schema before them and opened again.
fn counted_from_scratch(
    path: &std::path::Path,
) -> Vec<(String, String, String, String, String, i64, i64)> {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(
            "DROP TABLE return_milestones; DROP TABLE report_counts; DROP TABLE report_actions;
             DROP TABLE upload_refusals; -- 0015, made again after 0014
             DROP TABLE webhook_bodies; -- 0017, with the column it moved
             ALTER TABLE webhook_deliveries ADD COLUMN body TEXT NOT NULL DEFAULT '[]';
             PRAGMA user_version = 13;",
        )
        .unwrap();
    drop(Store::open(path).unwrap());
    counters(path)
}

/// The reports' counters that count something, in order.
fn counters(path: &std::path::Path) -> Vec<(String, String, String, String, String, i64, i64)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT measure, period || ' ' || retailer_id, actor || '@' || station, k1,
                    k2 || '/' || k3, n, amount
             FROM report_counts WHERE n != 0 ORDER BY 1, 2, 3, 4, 5",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<rusqlite::Result<Vec<_>>>()
    .unwrap()
}

/// A return whose processing and an action's confirmations (the later one first) are synced
/// before the return itself and its action: once everything has arrived, its counters are
/// what the migration counts from scratch, its items included.
#[test]
fn a_return_synced_after_its_processing_counts_its_items_once_it_arrives() {
    use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent};
    use returnhub_store::ReportQuery;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.sqlite3")).unwrap();
    // The retailer and the order, but not the return.
    let mut events = seed();
    let DomainEvent::ReturnExpected(mut record) = events.pop().unwrap() else {
        panic!("the seed ends with its return");
    };
    write_local(&mut store, events);
    record.items.push(ReturnItemRecord {
        id: "i2".into(),
        ..record.items[0].clone()
    });
    let due = actions_due(
        Trigger::Processing,
        ReturnEvent::Processed,
        "acme",
        "r1",
        &[ItemOutcome {
            item_id: "i1".into(),
            outcome: Outcome::Refund,
            amount: Some(Money::new(700, "AUD".parse().unwrap())),
        }],
    );
    let minute = 60_000;
    let mut other = HlcClock::new("other");
    let confirmed = DomainEvent::ActionConfirmed {
        key: due[0].key.clone(),
        return_id: "r1".into(),
        target: "shopify".into(),
        reference: "gid://shopify/Refund/9".into(),
        paid: None,
    };
    let earlier = remote(&mut other, NOW + 70 * minute, &confirmed);
    let later = remote(&mut other, NOW + 130 * minute, &confirmed);
    let pulls = [
        vec![
            remote(
                &mut other,
                NOW + minute,
                &change(ReturnStatus::Expected, ReturnStatus::Received),
            ),
            remote(
                &mut other,
                NOW + 60 * minute,
                &change(ReturnStatus::Received, ReturnStatus::Processed),
            ),
            later,
        ],
        vec![earlier],
        vec![
            remote(&mut other, NOW, &DomainEvent::ReturnExpected(record)),
            remote(
                &mut other,
                NOW + 61 * minute,
                &DomainEvent::ActionDue(due[0].clone()),
            ),
        ],
    ];
    for (n, batch) in pulls.iter().enumerate() {
        store
            .apply_remote_batch(
                NOW + 200 * minute,
                batch,
                SyncCursor {
                    events: n as i64 + 1,
                    tracking: 0,
                },
            )
            .unwrap();
    }
    let query = ReportQuery::default();
    let by_person = store.report_throughput(&query, "actor").unwrap();
    assert_eq!(
        by_person
            .iter()
            .map(|r| (r.key.as_str(), r.processed, r.items))
            .collect::<Vec<_>>(),
        [("u-2", 1, 2)]
    );
    let reasons = store.report_reasons(&query).unwrap();
    assert_eq!(
        reasons
            .iter()
            .map(|r| (r.retailer_id.as_str(), r.items))
            .collect::<Vec<_>>(),
        [("acme", 2)]
    );
    let money = store.report_money(&query).unwrap();
    assert_eq!(
        (money[0].due, money[0].confirmed, money[0].confirmed_minor),
        (1, 1, 700)
    );
    // The earliest confirmation counts, though it came second.
    let spans = store.report_spans(&query).unwrap();
    assert_eq!((spans[1].returns, spans[1].p50_ms), (1, 10 * minute));

    let path = dir.path().join("hub.sqlite3");
    drop(store);
    let kept = counters(&path);
    assert!(
        kept.iter().all(|c| c.5 > 0),
        "no negative or empty counter: {kept:?}"
    );
    assert_eq!(counted_from_scratch(&path), kept);
}
