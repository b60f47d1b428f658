//! Handing a return to another hub, as the central store decides it: who may ask (a
//! supervisor of the return's hub, through `POST /v1/hand-overs`, never by pushing the event),
//! which return may go (not processed, no action on its way) and where (a hub serving its
//! retailer); then what each hub gets by its pull, in an order it can apply, there and back.

mod support;

use std::time::Duration;

use returnhub_central::storage::CentralStorage;
use returnhub_core::auth::Role;
use returnhub_core::model::ReturnStatus;
use returnhub_core::record::UserRecord;
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::{DomainEvent, HandOver};
use returnhub_protocol::wire::{HandOverRequest, TrackingIn};
use returnhub_store::Store;
use returnhub_sync::{HttpTransport, SyncError, Syncer};
use support::*;

struct Hubs {
    _tmp: tempfile::TempDir,
    central: Central,
    clock: SimClock,
    acme: Partner,
    bolt: Partner,
    wlg: Syncer<HttpTransport>,
    akl: Syncer<HttpTransport>,
    chc: Syncer<HttpTransport>,
}

/// Wellington and Auckland serve Acme (Processing) and Bolt (First scan); Christchurch
/// serves neither. Each hub's admin is `u-test`; Wellington also has an operator, `u-op`.
async fn hubs() -> Hubs {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let device = |hub: &str| {
        let token = create_device(&central.storage, hub, clock.now());
        let store = Store::open(&tmp.path().join(format!("{hub}.sqlite3"))).unwrap();
        let t = HttpTransport::new(&central.url(), &token, Duration::from_secs(10)).unwrap();
        Syncer::new(store, t, clock.as_fn())
    };
    let (mut wlg, mut akl, mut chc) = (device("WLG"), device("AKL"), device("CHC"));
    configure(
        &mut wlg.store,
        clock.now(),
        &[
            retailer("acme", "Acme Apparel", Trigger::Processing),
            retailer("bolt", "Bolt Outdoor", Trigger::FirstScan),
        ],
    );
    append(
        &mut wlg.store,
        clock.now(),
        vec![DomainEvent::UserEnrolled(UserRecord {
            id: "u-op".into(),
            name: "Hemi Walker".into(),
            badge: "OP-1".into(),
            pin_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            role: Role::Operator,
            active: true,
            must_change_pin: false,
        })],
    );
    configure(&mut akl.store, clock.now(), &[]);
    configure(&mut chc.store, clock.now(), &[]);
    for d in [&mut wlg, &mut akl, &mut chc] {
        d.sync_once().await.unwrap();
    }
    for r in ["acme", "bolt"] {
        central
            .storage
            .set_retailer_hubs(r, &["WLG".into(), "AKL".into()])
            .unwrap();
    }
    let acme = Partner::with_new_key(&central, "Acme Apparel", clock.now());
    let bolt = Partner::with_new_key(&central, "Bolt Outdoor", clock.now());
    Hubs {
        _tmp: tmp,
        central,
        clock,
        acme,
        bolt,
        wlg,
        akl,
        chc,
    }
}

fn ask(return_id: &str, to_hub: &str, by: &str, reason: &str) -> HandOverRequest {
    HandOverRequest {
        return_id: return_id.into(),
        to_hub: to_hub.into(),
        by: by.into(),
        reason: reason.into(),
        station: Some("bench-1".into()),
    }
}

/// The central store's refusal: its status and sentence.
async fn refused(device: &Syncer<HttpTransport>, req: HandOverRequest) -> (u16, String) {
    match device.transport.hand_over(&req).await {
        Err(SyncError::Refused { status, message }) => (status, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn hub_and_status(store: &Store, return_id: &str) -> (String, String) {
    store
        .reader()
        .query_row(
            "SELECT hub_id, status FROM returns WHERE id = ?1",
            [return_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

/// "What was sent" as a hub store counts it: returns by the hub they are for.
fn sent_by_hub(store: &Store) -> Vec<(String, i64)> {
    let mut stmt = store
        .reader()
        .prepare(
            "SELECT k2, sum(n) FROM report_counts WHERE measure = 'expected'
             GROUP BY 1 HAVING sum(n) != 0 ORDER BY 1",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn central_hub_and_status(h: &Hubs, return_id: &str) -> (String, String, String) {
    h.central
        .storage
        .with_conn(|c| {
            c.query_row(
                "SELECT hub_id, status, json_extract(record, '$.hub_id') FROM returns WHERE id = ?1",
                [return_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .unwrap()
}

async fn upload(partner: &Partner, connote: &str, hub: &str) -> String {
    let up = partner
        .upload(&[upload_row(connote, "#1", "SKU-1", hub, "REFUND")])
        .await;
    up.rows[0].return_id.clone().expect("uploaded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_central_store_refuses_a_hand_over_that_may_not_happen() {
    let mut h = hubs().await;
    let return_id = upload(&h.acme, "A1", "WLG").await;
    h.wlg.sync_once().await.unwrap();

    // Who asks: a supervisor or admin of the return's hub.
    let (status, why) = refused(&h.wlg, ask(&return_id, "AKL", "u-op", "sent on")).await;
    assert_eq!(
        (status, why.contains("u-op is not a supervisor of hub WLG")),
        (403, true),
        "{why}"
    );
    let (status, _) = refused(&h.wlg, ask(&return_id, "AKL", "u-nobody", "sent on")).await;
    assert_eq!(status, 403);
    let (status, why) = refused(&h.akl, ask(&return_id, "WLG", "u-test", "ours now")).await;
    assert_eq!((status, why.contains("is hub WLG's")), (403, true), "{why}");
    match h.akl.transport.hand_over_targets(&return_id).await {
        Err(SyncError::Refused { status: 403, .. }) => {}
        other => panic!("another hub's return's targets: {other:?}"),
    }

    // Where to: a hub serving the retailer, not itself; and why.
    let (status, why) = refused(&h.wlg, ask(&return_id, "CHC", "u-test", "sent on")).await;
    assert_eq!(
        (
            status,
            why.contains("hub CHC does not take retailer acme's returns")
        ),
        (422, true),
        "{why}"
    );
    assert_eq!(
        refused(&h.wlg, ask(&return_id, "WLG", "u-test", "x"))
            .await
            .0,
        422
    );
    assert_eq!(
        refused(&h.wlg, ask(&return_id, "AKL", "u-test", " "))
            .await
            .0,
        422
    );
    let long = "x".repeat(501);
    assert_eq!(
        refused(&h.wlg, ask(&return_id, "AKL", "u-test", &long))
            .await
            .0,
        422
    );
    assert_eq!(
        refused(&h.wlg, ask("r-unknown", "AKL", "u-test", "x"))
            .await
            .0,
        422
    );
    let targets = h.wlg.transport.hand_over_targets(&return_id).await.unwrap();
    assert_eq!(
        targets
            .iter()
            .map(|t| t.hub_id.as_str())
            .collect::<Vec<_>>(),
        vec!["AKL"]
    );

    // Which return: not one with an action on its way (Bolt's fire at the carrier's first
    // scan), nor one processed.
    let bolt_return = upload(&h.bolt, "B1", "WLG").await;
    let rt = TrackingIn {
        consignment_no: "B1".into(),
        code: "RT".into(),
        status: "In transit".into(),
        event_dt: "2026-11-23T10:00:00+10:00".into(),
        ..TrackingIn::default()
    };
    assert!(h.bolt.tracking(&[rt]).await.actions_due > 0);
    let (status, why) = refused(&h.wlg, ask(&bolt_return, "AKL", "u-test", "sent on")).await;
    assert_eq!(
        (
            status,
            why.contains("is claimed: the return stays at hub WLG")
        ),
        (409, true),
        "{why}"
    );
    h.wlg.sync_once().await.unwrap();
    append(
        &mut h.wlg.store,
        h.clock.now(),
        vec![
            DomainEvent::ReturnStatusChanged {
                return_id: return_id.clone(),
                from: ReturnStatus::Expected,
                to: ReturnStatus::Received,
            },
            DomainEvent::ReturnStatusChanged {
                return_id: return_id.clone(),
                from: ReturnStatus::Received,
                to: ReturnStatus::Processed,
            },
        ],
    );
    h.wlg.sync_once().await.unwrap();
    let (status, why) = refused(&h.wlg, ask(&return_id, "AKL", "u-test", "sent on")).await;
    assert_eq!((status, why.contains("is processed")), (409, true), "{why}");

    // A device cannot record a hand-over itself: pushed, it is kept apart, not applied.
    append(
        &mut h.wlg.store,
        h.clock.now(),
        vec![DomainEvent::ReturnHandedOver(HandOver {
            return_id: bolt_return.clone(),
            from_hub: "WLG".into(),
            to_hub: "AKL".into(),
            by: "u-test".into(),
            reason: "done it myself".into(),
        })],
    );
    h.wlg.sync_once().await.unwrap();
    let held = h.central.storage.held_events().unwrap();
    assert!(
        held.iter()
            .any(|e| e.kind == "return_handed_over" && e.state == "refused"),
        "{held:?}"
    );
    assert_eq!(central_hub_and_status(&h, &bolt_return).0, "WLG");
    assert_eq!(central_hub_and_status(&h, &return_id).0, "WLG");
    h.chc.sync_once().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_goes_to_another_hub_and_back_and_each_applies_all_it_gets() {
    let mut h = hubs().await;
    let return_id = upload(&h.acme, "A2", "WLG").await;
    h.wlg.sync_once().await.unwrap();
    append(
        &mut h.wlg.store,
        h.clock.now(),
        vec![
            DomainEvent::ConnoteScanned {
                raw: "A2".into(),
                connote: "A2".into(),
                return_id: Some(return_id.clone()),
                station: "bench-1".into(),
            },
            DomainEvent::ReturnStatusChanged {
                return_id: return_id.clone(),
                from: ReturnStatus::Expected,
                to: ReturnStatus::Received,
            },
        ],
    );
    h.wlg.sync_once().await.unwrap();

    let answer = h
        .wlg
        .transport
        .hand_over(&ask(&return_id, "AKL", "u-test", "posted to the wrong hub"))
        .await
        .unwrap();
    assert_eq!(answer.status, ReturnStatus::InTransit);
    assert_eq!(
        central_hub_and_status(&h, &return_id),
        ("AKL".into(), "in_transit".into(), "AKL".into())
    );
    // Auckland's pull brings, in this order, what it needs to apply the hand-over.
    let for_akl: Vec<String> = h
        .central
        .storage
        .with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT kind FROM events WHERE hub_id = 'AKL' AND device_id = 'central'
                 ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
        .unwrap();
    assert_eq!(
        for_akl,
        vec![
            "order_imported",
            "return_expected",
            "return_status_changed",
            "return_handed_over"
        ]
    );

    h.wlg.sync_once().await.unwrap();
    h.akl.sync_once().await.unwrap();
    for store in [&h.wlg.store, &h.akl.store] {
        assert_eq!(
            hub_and_status(store, &return_id),
            ("AKL".into(), "in_transit".into())
        );
        assert!(store.held_events(10).unwrap().is_empty());
        assert_eq!(sent_by_hub(store), vec![("AKL".to_owned(), 1)]);
    }
    let (who, station): (String, Option<String>) = h
        .akl
        .store
        .reader()
        .query_row(
            "SELECT actor, station FROM events WHERE kind = 'return_handed_over'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (who.as_str(), station.as_deref()),
        ("u-test", Some("bench-1"))
    );

    // Wellington's copy is read-only: what it would still record about it is refused.
    append(
        &mut h.wlg.store,
        h.clock.now(),
        vec![DomainEvent::ReturnNoted {
            return_id: return_id.clone(),
            note: "late note".into(),
        }],
    );
    h.wlg.sync_once().await.unwrap();
    assert!(h
        .wlg
        .store
        .held_events(10)
        .unwrap()
        .iter()
        .any(|e| e.reason.contains("was handed from hub WLG to hub AKL")));

    // Auckland attaches a second parcel to it, then sends it back before it arrives:
    // Wellington has the order and the return already, applies everything without holding
    // anything, and gains the attached parcel.
    append(
        &mut h.akl.store,
        h.clock.now(),
        vec![DomainEvent::ConnoteAttached {
            return_id: return_id.clone(),
            connote: "A2-SECOND".into(),
        }],
    );
    h.akl.sync_once().await.unwrap();
    h.akl
        .transport
        .hand_over(&ask(&return_id, "WLG", "u-test", "the customer moved back"))
        .await
        .unwrap();
    h.wlg.sync_once().await.unwrap();
    h.akl.sync_once().await.unwrap();
    for store in [&h.wlg.store, &h.akl.store] {
        assert_eq!(
            hub_and_status(store, &return_id),
            ("WLG".into(), "in_transit".into())
        );
        assert_eq!(sent_by_hub(store), vec![("WLG".to_owned(), 1)]);
        assert_eq!(
            store.return_by_id(&return_id).unwrap().unwrap().connotes,
            vec!["A2".to_owned(), "A2-SECOND".to_owned()]
        );
    }
    assert!(h
        .wlg
        .store
        .held_events(10)
        .unwrap()
        .iter()
        .all(|e| e.event.kind == "return_noted"));
    assert!(h.akl.store.held_events(10).unwrap().is_empty());
    // Christchurch heard of none of it.
    h.chc.sync_once().await.unwrap();
    assert!(h
        .chc
        .store
        .reader()
        .query_row("SELECT 1 FROM returns WHERE id = ?1", [&return_id], |_| Ok(
            ()
        ))
        .is_err());
}
