//! A device with a valid token of one hub tries to act on another hub's returns and on a
//! retailer its hub does not serve. The central store decides, the device proposes: each
//! attempt is refused and kept (listed by `held-events`, and at the pushing hub), nothing else
//! changes, nothing of it reaches the other hub, and both hubs keep syncing.

mod support;

use std::time::Duration;

use returnhub_central::storage::CentralStorage;
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::Money;
use returnhub_core::record::ReturnRecord;
use returnhub_core::rules::Outcome;
use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent, Trigger};
use returnhub_protocol::event::DomainEvent;
use returnhub_protocol::wire::PushRequest;
use returnhub_store::{EventInput, Store};
use returnhub_sync::{HttpTransport, SyncError, Syncer, Transport};
use support::*;

fn central_retailer(central: &Central, id: &str) -> String {
    central
        .storage
        .with_conn(|c| {
            c.query_row("SELECT record FROM retailers WHERE id = ?1", [id], |r| {
                r.get(0)
            })
        })
        .unwrap()
}

fn central_count(central: &Central, sql: &str) -> i64 {
    central
        .storage
        .with_conn(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_one_hub_cannot_touch_another_hubs_returns_or_retailers() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let timeout = Duration::from_secs(30);
    let device = |name: &str, token: &str| {
        Syncer::new(
            Store::open(&tmp.path().join(format!("{name}.sqlite3"))).unwrap(),
            HttpTransport::new(&central.url(), token, timeout).unwrap(),
            clock.as_fn(),
        )
    };
    let mut a1 = device("a1", &create_device(&central.storage, "h-a", clock.now()));
    let mut a2 = device("a2", &create_device(&central.storage, "h-a", clock.now()));
    let token_b = create_device(&central.storage, "h-b", clock.now());
    let mut b = device("b", &token_b);

    // Hub A's admin creates the retailer; a partner uploads a return for hub A.
    let acme = retailer("acme", "Acme Apparel", Trigger::Processing);
    configure(&mut a1.store, clock.now(), std::slice::from_ref(&acme));
    a1.sync_once().await.unwrap();
    assert_eq!(central.storage.retailer_hubs("acme").unwrap(), vec!["h-a"]);
    let partner = Partner::with_new_key(&central, "Acme Apparel", clock.now());
    let answer = partner
        .upload(&[upload_row("C1", "#1", "SKU-1", "h-a", "REFUND")])
        .await;
    assert_eq!(answer.returns_created, 1, "{answer:?}");
    a1.sync_once().await.unwrap();
    a2.sync_once().await.unwrap();
    let c1: String = a1
        .store
        .reader()
        .query_row(
            "SELECT return_id FROM connotes WHERE connote = 'C1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let c1_record: ReturnRecord = central
        .storage
        .with_conn(|c| {
            c.query_row("SELECT record FROM returns WHERE id = ?1", [&c1], |r| {
                r.get::<_, String>(0)
            })
        })
        .map(|json| serde_json::from_str(&json).unwrap())
        .unwrap();
    let acme_before = central_retailer(&central, "acme");

    // Hub B's device, with its own admin, tries everything.
    configure(&mut b.store, clock.now(), &[]);
    let mut hijacked = acme.clone();
    hijacked.policy.partners.connections = vec![returnhub_core::partner::PartnerConnection {
        target: returnhub_core::partner::ActionTarget::Loop,
        base_url: "https://attacker.example/api".into(),
        username: None,
        domain: None,
        qc_path: None,
        photo_url_base: None,
        connected_at: "2026-12-01T00:00:00.000Z".into(),
        insecure: false,
    }];
    let mut elsewhere = c1_record.clone();
    elsewhere.id = "r-forged".into();
    elsewhere.connotes = vec!["FORGED1".into()];
    let due = actions_due(
        Trigger::Processing,
        ReturnEvent::Processed,
        "acme",
        &c1,
        &[ItemOutcome {
            item_id: c1_record.items[0].id.clone(),
            outcome: Outcome::Refund,
            amount: Some(Money::new(999_999, aud())),
        }],
    );
    let mut order = returnhub_core::record::OrderRecord {
        id: "o-forged".into(),
        retailer_id: "acme".into(),
        order_number: "#666".into(),
        customer_name: "X".into(),
        email: "x@example.com".into(),
        created_at: "2026-11-01T00:00:00.000Z".into(),
        country: "AU".into(),
        tags: vec![],
        subtotal: Money::new(0, aud()),
        discount: Money::new(0, aud()),
        total: Money::new(0, aud()),
        lines: vec![],
    };
    order.tags.push("forged".into());
    // Through its own store and sync, as a bench would send them...
    let attempts = vec![
        DomainEvent::RetailerConfigured(hijacked),
        DomainEvent::ActionDue(due[0].clone()),
        DomainEvent::HubRegistered {
            id: "h-a".into(),
            name: "Hub A, says B".into(),
        },
        DomainEvent::ReturnNoted {
            return_id: c1.clone(),
            note: "not yours".into(),
        },
    ];
    let through_sync = attempts.len() as u64;
    append(&mut b.store, clock.now(), attempts);
    // ...and one it may do, after them.
    append(&mut b.store, clock.now(), scan(1));
    b.sync_once().await.unwrap();
    assert_eq!(b.store.sync_queue_depth().unwrap(), 0, "B goes on syncing");
    assert_eq!(b.store.held_counts().unwrap().refused, through_sync);
    let reasons: Vec<String> = b
        .store
        .held_events(20)
        .unwrap()
        .into_iter()
        .map(|h| format!("{}: {}", h.event.kind, h.reason))
        .collect();
    for needle in [
        "retailer_configured: hub h-b does not serve retailer acme",
        "action_due: return",
        "hub_registered: a device of hub h-b registered hub h-a",
        "return_noted: return",
    ] {
        assert!(
            reasons.iter().any(|r| r.starts_with(needle)),
            "{needle} in {reasons:#?}"
        );
    }
    // ...and crafted by hand, past its own store's checks.
    let raw_b = HttpTransport::new(&central.url(), &token_b, timeout).unwrap();
    let mut b_clock = returnhub_protocol::hlc::HlcClock::new(b.store.device_id());
    let mut crafted = |event: &DomainEvent| {
        returnhub_protocol::wire::RemoteEvent::new(
            event,
            uuid::Uuid::now_v7().to_string(),
            b.store.device_id(),
            &b_clock.tick(clock.now() as u64 + 5_000),
            "u-test",
            Some("bench-1"),
            returnhub_core::time::rfc3339(clock.now()),
        )
        .unwrap()
    };
    let forged = vec![
        crafted(&DomainEvent::ReturnExpected(elsewhere)),
        crafted(&DomainEvent::OrderImported(order)),
        crafted(&DomainEvent::ReturnStatusChanged {
            return_id: c1.clone(),
            from: ReturnStatus::Expected,
            to: ReturnStatus::Closed,
        }),
        // Only the central store says what an upload refused.
        crafted(&DomainEvent::UploadRowsRefused(
            returnhub_protocol::event::UploadRefusals {
                retailer_id: "acme".into(),
                source: "partner_upload".into(),
                received_at: returnhub_core::time::rfc3339(clock.now()),
                rows: vec![],
            },
        )),
    ];
    let answer = raw_b
        .push(&PushRequest {
            events: forged.clone(),
        })
        .await
        .unwrap();
    assert_eq!(answer.acknowledged.len(), forged.len());
    let why: Vec<&str> = answer.held.iter().map(|h| h.reason.as_str()).collect();
    assert_eq!(
        why,
        vec![
            "a device of hub h-b expected return r-forged at hub h-a",
            "hub h-b does not serve retailer acme",
            &format!("return {c1} is hub h-a's"),
            "only the central store records refused upload rows",
        ]
    );
    let tried = through_sync + forged.len() as u64;
    let held = central.storage.held_events().unwrap();
    assert_eq!(
        held.iter().filter(|h| h.state == "refused").count() as u64,
        tried,
        "{held:#?}"
    );
    // Nothing changed at the central store.
    assert_eq!(central_retailer(&central, "acme"), acme_before);
    assert_eq!(central.storage.retailer_hubs("acme").unwrap(), vec!["h-a"]);
    assert_eq!(
        central_view(&central.storage, "h-a"),
        vec![("C1".into(), "expected".into())]
    );
    assert_eq!(
        central_count(&central, "SELECT count(*) FROM action_claims"),
        0
    );
    assert_eq!(
        central_count(
            &central,
            "SELECT count(*) FROM returns WHERE id = 'r-forged'"
        ),
        0
    );
    assert_eq!(
        central_count(
            &central,
            "SELECT count(*) FROM orders WHERE id = 'o-forged'"
        ),
        0
    );

    // Hub A sees none of it, and keeps working: its own status change goes through.
    clock.advance(1_000);
    append(
        &mut a1.store,
        clock.now(),
        vec![DomainEvent::ReturnStatusChanged {
            return_id: c1.clone(),
            from: ReturnStatus::Expected,
            to: ReturnStatus::Received,
        }],
    );
    a1.sync_once().await.unwrap();
    a2.sync_once().await.unwrap();
    assert_eq!(
        hub_view(&a2.store, "h-a"),
        vec![("C1".into(), "received".into())]
    );
    let from_b: i64 = a2
        .store
        .reader()
        .query_row(
            "SELECT count(*) FROM events WHERE device_id = ?1",
            [b.store.device_id()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(from_b, 0, "nothing of B's reaches hub A");
    let acme_at_a2: String = a2
        .store
        .reader()
        .query_row(
            "SELECT policy_json FROM retailers WHERE id = 'acme'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!acme_at_a2.contains("attacker.example"));

    // B's device cannot speak for A's device either (a replay under another device's id).
    let mut replay = a1.store.reader().query_row(
        "SELECT id, device_id, hlc, actor, station, kind, aggregate_id, payload, recorded_at, version
         FROM events ORDER BY seq DESC LIMIT 1",
        [],
        |r| returnhub_protocol::wire::RemoteEvent::from_row(r, 0),
    )
    .unwrap();
    replay.id = uuid::Uuid::now_v7().to_string();
    let refused = raw_b
        .push(&PushRequest {
            events: vec![replay.clone()],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SyncError::Refused { status: 403, .. }),
        "{refused:?}"
    );
    assert_eq!(
        central_count(
            &central,
            &format!("SELECT count(*) FROM events WHERE id = '{}'", replay.id)
        ),
        0
    );

    // A retailer needs an admin of a hub that serves it; the central CLI adds hub B.
    clock.advance(1_000);
    let mut by_nobody = acme.clone();
    by_nobody.name = "Acme by nobody".into();
    b.store
        .write(clock.now(), |w| {
            w.append(EventInput {
                event: DomainEvent::RetailerConfigured(by_nobody),
                actor: "u-nobody".into(),
                station: Some("bench-1".into()),
            })?;
            Ok(())
        })
        .unwrap();
    central
        .storage
        .set_retailer_hubs("acme", &["h-a".into(), "h-b".into()])
        .unwrap();
    let mut renamed = acme.clone();
    renamed.name = "Acme Apparel (AU)".into();
    append(
        &mut b.store,
        clock.now(),
        vec![DomainEvent::RetailerConfigured(renamed)],
    );
    b.sync_once().await.unwrap();
    let refused_at_b: Vec<String> = b
        .store
        .held_events(20)
        .unwrap()
        .into_iter()
        .map(|h| format!("{}: {}", h.event.kind, h.reason))
        .collect();
    assert_eq!(
        refused_at_b.len() as u64,
        through_sync + 1,
        "the crafted ones are not B's store's: {refused_at_b:#?}"
    );
    assert!(
        refused_at_b
            .iter()
            .any(|r| r.contains("u-nobody is not an admin of hub h-b")),
        "{refused_at_b:#?}"
    );
    assert!(central_retailer(&central, "acme").contains("Acme Apparel (AU)"));
    a2.sync_once().await.unwrap();
    let name_at_a2: String = a2
        .store
        .reader()
        .query_row("SELECT name FROM retailers WHERE id = 'acme'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(name_at_a2, "Acme Apparel (AU)");
}
