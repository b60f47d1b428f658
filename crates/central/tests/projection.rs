//! One projection, tested against both event logs: the same events, recorded at a hub and
//! pushed to a real central store, give the same read models on both sides — the return's
//! status and connotes, and above all the context an action is carried out with, which either
//! side may have to dispatch (the hub alone, the central store when there is one).

mod support;

use returnhub_central::storage::CentralStorage;
use returnhub_core::bench::{
    DecidedBy, Disposition, InspectionRecord, ItemDecisionRecord, Presence,
};
use returnhub_core::decision::ReturnOption;
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::Money;
use returnhub_core::record::{OrderLineRecord, OrderRecord, ReturnItemRecord, ReturnRecord};
use returnhub_core::rules::{Grade, Outcome, QcStatus};
use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent, Trigger};
use returnhub_protocol::event::DomainEvent;
use returnhub_protocol::wire::{ClaimState, TrackingIn};
use support::*;

fn order() -> OrderRecord {
    let price = Money::new(4995, aud());
    let line = |n: u32| OrderLineRecord {
        id: format!("o1-l{n}"),
        sku: format!("SKU-{n}"),
        ean: None,
        title: "Tee".into(),
        image: None,
        quantity: 1,
        unit_price: price,
        discount: Money::zero(aud()),
        product_tags: vec![],
    };
    OrderRecord {
        id: "o1".into(),
        retailer_id: "acme".into(),
        order_number: "#1001".into(),
        customer_name: "Mere".into(),
        email: "mere@example.com".into(),
        created_at: "2026-11-20T00:00:00.000Z".into(),
        country: "AU".into(),
        tags: vec![],
        subtotal: Money::new(3 * 4995, aud()),
        discount: Money::zero(aud()),
        total: Money::new(3 * 4995, aud()),
        lines: (1..=3).map(line).collect(),
    }
}

fn item(n: u32, chosen: Option<ReturnOption>) -> ReturnItemRecord {
    ReturnItemRecord {
        external_id: Some(format!("ext-{n}")),
        id: format!("r1-i{n}"),
        order_line_id: format!("o1-l{n}"),
        quantity: 1,
        reason_code: "too_small".into(),
        sub_reason_code: None,
        comment: None,
        chosen_option: chosen,
    }
}

fn inspected(id: &str, item: &str, qc: QcStatus, disposition: Disposition) -> DomainEvent {
    DomainEvent::ItemInspected(InspectionRecord {
        id: id.into(),
        return_id: "r1".into(),
        item_id: item.into(),
        presence: Presence::Found,
        qc: Some(qc),
        qc_reason: (qc == QcStatus::Fail).then(|| "damaged".into()),
        grade: Some(Grade::B),
        disposition: Some(disposition),
        note: Some(format!("inspection {id}")),
        photos: vec![],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_events_give_the_same_action_context_at_the_hub_and_the_central_store() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let mut hub = station(&central, tmp.path(), "h1", &clock);
    configure(
        &mut hub.store,
        clock.now(),
        &[retailer("acme", "Acme Apparel", Trigger::Processing)],
    );
    let now = clock.now();
    append(
        &mut hub.store,
        now,
        vec![
            DomainEvent::OrderImported(order()),
            DomainEvent::ReturnExpected(ReturnRecord {
                external_id: Some("ext-r1".into()),
                id: "r1".into(),
                retailer_id: "acme".into(),
                hub_id: "h1".into(),
                order_id: "o1".into(),
                source: "portal".into(),
                status: ReturnStatus::Expected,
                created_at: "2026-11-21T00:00:00.000Z".into(),
                connotes: vec!["LZ500".into()],
                items: vec![
                    item(1, Some(ReturnOption::Refund)),
                    item(2, None),
                    item(3, Some(ReturnOption::Exchange)),
                ],
            }),
            // A second parcel of the same return, attached at the bench: it sorts before
            // the first, and comes after it.
            DomainEvent::ConnoteAttached {
                return_id: "r1".into(),
                connote: "LZ100".into(),
            },
            DomainEvent::ReturnStatusChanged {
                return_id: "r1".into(),
                from: ReturnStatus::Expected,
                to: ReturnStatus::Received,
            },
            inspected("n1", "r1-i1", QcStatus::Pass, Disposition::BackToStock),
            inspected("n3", "r1-i3", QcStatus::Pass, Disposition::ResaleHold),
        ],
    );
    // Item 2 inspected as failed, then the step undone: it stands uninspected.
    append(
        &mut hub.store,
        now,
        vec![inspected(
            "n2",
            "r1-i2",
            QcStatus::Fail,
            Disposition::Recycle,
        )],
    );
    let undone: String = hub
        .store
        .reader()
        .query_row(
            "SELECT id FROM events WHERE kind = 'item_inspected'
               AND json_extract(payload, '$.id') = 'n2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let refund = Money::new(4995, aud());
    let due = actions_due(
        Trigger::Processing,
        ReturnEvent::Processed,
        "acme",
        "r1",
        &[ItemOutcome {
            item_id: "r1-i1".into(),
            outcome: Outcome::Refund,
            amount: Some(refund),
        }],
    );
    let decided = |item: &str, outcome: Outcome| ItemDecisionRecord {
        id: format!("d-{item}"),
        return_id: "r1".into(),
        item_id: item.into(),
        outcome,
        amount: (outcome == Outcome::Refund).then_some(refund),
        decided_by: DecidedBy::Supervisor {
            reason: "checked by hand".into(),
            previous: None,
        },
    };
    // The shop changed the order since: line 1's SKU renamed, line 3 no longer listed (an
    // edit removed it). Lines are updated or added, never removed: the return points at it.
    let mut updated = order();
    updated.lines[0].sku = "SKU-1-NEW".into();
    updated.lines.pop();
    let mut events = vec![
        DomainEvent::OrderUpdated(updated),
        DomainEvent::StepUndone {
            return_id: "r1".into(),
            undone_event_id: undone,
        },
        DomainEvent::ItemsDecided {
            return_id: "r1".into(),
            decisions: vec![
                decided("r1-i1", Outcome::Refund),
                decided("r1-i3", Outcome::HoldForReview),
            ],
        },
        DomainEvent::ReturnStatusChanged {
            return_id: "r1".into(),
            from: ReturnStatus::Received,
            to: ReturnStatus::Processed,
        },
    ];
    events.extend(due.iter().cloned().map(DomainEvent::ActionDue));
    append(&mut hub.store, now, events);
    hub.sync_once().await.unwrap();

    let at_hub = hub.store.action_context(&due[0]).unwrap();
    let claim = central
        .storage
        .claims_in_state(ClaimState::Claimed, None, 10)
        .unwrap()
        .into_iter()
        .find(|c| c.action.key == due[0].key)
        .expect("the hub's action is claimed at the central store");
    let at_central = central.storage.action_context(&claim).unwrap();
    assert_eq!(at_hub, at_central);

    // And it is the context the bench's record says it is.
    assert_eq!(at_hub.connotes, ["LZ500", "LZ100"], "in the order recorded");
    assert_eq!(at_hub.external_id.as_deref(), Some("ext-r1"));
    assert_eq!(at_hub.lines.len(), 1);
    let line = &at_hub.lines[0];
    assert_eq!(line.disposition.as_deref(), Some("back_to_stock"));
    assert_eq!(line.outcome.as_deref(), Some("refund"));
    assert_eq!(line.sku, "SKU-1-NEW");
    assert_eq!(line.chosen_option.as_deref(), Some("refund"));
    assert_eq!(
        at_hub.others[1].sku, "SKU-3",
        "a line the shop dropped is kept"
    );
    let others: Vec<(&str, Option<&str>, Option<&str>)> = at_hub
        .others
        .iter()
        .map(|l| {
            (
                l.return_item_id.as_str(),
                l.qc.as_ref().and_then(|q| q.qc.as_deref()),
                l.outcome.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        others,
        [
            ("r1-i2", None, None),
            ("r1-i3", Some("pass"), Some("hold_for_review"))
        ]
    );

    // The attached parcel's carrier events find the return at the central store too.
    let carrier = Partner::with_new_key(&central, "Acme Apparel", clock.now());
    let tracked = carrier
        .tracking(&[TrackingIn {
            consignment_no: "LZ100".into(),
            code: "DL".into(),
            status: "Delivered to the hub".into(),
            event_dt: "2026-11-23T10:00:00+10:00".into(),
            ..TrackingIn::default()
        }])
        .await;
    assert_eq!(tracked.recorded, 1);
    assert_eq!(tracked.rows[0].return_id.as_deref(), Some("r1"));

    // The read models the digests compare agree as well.
    assert_eq!(
        hub_view(&hub.store, "h1"),
        central_view(&central.storage, "h1")
    );
}
