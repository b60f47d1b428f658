//! Devices of one hub on different builds, syncing through one central store that may be
//! older or newer than either. The older builds here are this build narrowed to fewer event
//! kinds (`KnownEvents::without`): what a build from before a kind existed knows of it.
//!
//! What must hold: an event that a device or the central store cannot read is kept, shown
//! and relayed, never fatal; everything else keeps syncing; after an update the held events
//! are applied and every replica agrees again. A malformed event is acknowledged and kept at
//! the central store only, never relayed.

mod support;

use std::time::Duration;

use returnhub_central::storage::CentralStorage;
use returnhub_core::model::ReturnStatus;
use returnhub_protocol::event::{DomainEvent, KnownEvents};
use returnhub_protocol::wire::PushRequest;
use returnhub_protocol::wire::RemoteEvent;
use returnhub_store::{HeldCounts, HeldState, Store};
use returnhub_sync::{HttpTransport, Syncer, Transport};
use support::*;

/// What an older build of the store and of the station knows: no status changes yet.
fn older() -> KnownEvents {
    KnownEvents::this_build().without("return_status_changed")
}

fn status_at_hub(store: &Store, connote: &str) -> String {
    store
        .reader()
        .query_row(
            "SELECT r.status FROM returns r JOIN connotes c ON c.return_id = r.id
             WHERE c.connote = ?1",
            [connote],
            |r| r.get(0),
        )
        .unwrap()
}

fn status_at_central(central: &Central, connote: &str) -> String {
    central
        .storage
        .with_conn(|c| {
            c.query_row(
                "SELECT r.status FROM returns r JOIN connotes c ON c.return_id = r.id
                 WHERE c.connote = ?1",
                [connote],
                |r| r.get(0),
            )
        })
        .unwrap()
}

fn return_id(store: &Store, connote: &str) -> String {
    store
        .reader()
        .query_row(
            "SELECT return_id FROM connotes WHERE connote = ?1",
            [connote],
            |r| r.get(0),
        )
        .unwrap()
}

/// One of `store`'s own pending events re-dressed as another kind: what a device on another
/// build would push (its own id, a fresh event id, a valid stamp).
fn redressed(store: &Store, kind: &str, version: u32, payload: &str) -> RemoteEvent {
    let mut ev = store.pending_sync(1).unwrap().remove(0).event;
    ev.id = uuid::Uuid::now_v7().to_string();
    ev.kind = kind.into();
    ev.version = version;
    ev.payload = payload.into();
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_and_a_new_build_sync_through_one_central_store_and_agree_after_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    // The central store runs the older build first.
    let mut central = Central::start_as(&tmp.path().join("central"), clock.clone(), older()).await;
    let timeout = Duration::from_secs(30);
    let token_new = create_device(&central.storage, "h1", clock.now());
    let token_old = create_device(&central.storage, "h1", clock.now());
    let new_path = tmp.path().join("new.sqlite3");
    let old_path = tmp.path().join("old.sqlite3");
    let mut new = Syncer::new(
        Store::open(&new_path).unwrap(),
        HttpTransport::new(&central.url(), &token_new, timeout).unwrap(),
        clock.as_fn(),
    );
    let mut old = Syncer::new(
        Store::open(&old_path).unwrap().with_known_events(older()),
        HttpTransport::new(&central.url(), &token_old, timeout).unwrap(),
        clock.as_fn(),
    );
    configure(
        &mut new.store,
        clock.now(),
        &[retailer(
            "acme",
            "Acme Apparel",
            returnhub_core::trigger::Trigger::Manual,
        )],
    );
    new.sync_once().await.unwrap();
    let partner = Partner::with_new_key(&central, "Acme Apparel", clock.now());
    let answer = partner
        .upload(&[
            upload_row("C1", "#1", "SKU-1", "h1", "REFUND"),
            upload_row("C2", "#2", "SKU-1", "h1", "REFUND"),
        ])
        .await;
    assert_eq!(answer.returns_created, 2, "{answer:?}");
    new.sync_once().await.unwrap();
    old.sync_once().await.unwrap();
    let c1 = return_id(&new.store, "C1");

    // The new build receives C1 and records it (a kind the old builds do not know), then scans
    // C2 (a kind they do).
    clock.advance(1_000);
    append(
        &mut new.store,
        clock.now(),
        vec![DomainEvent::ReturnStatusChanged {
            return_id: c1.clone(),
            from: ReturnStatus::Expected,
            to: ReturnStatus::Received,
        }],
    );
    clock.advance(1_000);
    append(&mut new.store, clock.now(), vec![scan_of("C2")]);
    let pushed = new.sync_once().await.unwrap();
    assert_eq!(
        pushed.pushed, 2,
        "the older central store acknowledges both"
    );
    assert_eq!(
        status_at_central(&central, "C1"),
        "expected",
        "held, not projected"
    );
    let held = central.storage.held_events().unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].kind.as_str(), held[0].state.as_str()),
        ("return_status_changed", "needs_update")
    );

    // The old station keeps syncing: it holds what it cannot read and applies the rest.
    let round = old.sync_once().await.unwrap();
    assert_eq!(round.held, 1, "{round:?}");
    assert!(round.pulled >= 1, "the scan after it is applied: {round:?}");
    assert_eq!(status_at_hub(&old.store, "C1"), "expected");
    let scans: i64 = old
        .store
        .reader()
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'connote_scanned' AND json_extract(payload, '$.connote') = 'C2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(scans, 1);
    let waiting = old.store.held_events(10).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].state, HeldState::NeedsUpdate);
    assert!(
        waiting[0].reason.contains("update"),
        "{}",
        waiting[0].reason
    );
    assert_eq!(
        old.store.held_counts().unwrap(),
        HeldCounts {
            needs_update: 1,
            malformed: 0,
            refused: 0
        }
    );
    // And what the old station records reaches the new one.
    clock.advance(1_000);
    append(&mut old.store, clock.now(), vec![scan_of("C1")]);
    old.sync_once().await.unwrap();
    let round = new.sync_once().await.unwrap();
    assert_eq!((round.pulled, round.held), (1, 0));

    // A repeated pull does not hold it twice.
    old.sync_once().await.unwrap();
    assert_eq!(
        old.store.held_counts().unwrap(),
        HeldCounts {
            needs_update: 1,
            malformed: 0,
            refused: 0
        }
    );

    // The central store is updated: on opening, it projects what it held.
    central.known = KnownEvents::this_build();
    central.restart().await;
    assert_eq!(status_at_central(&central, "C1"), "received");
    assert!(central.storage.held_events().unwrap().is_empty());

    // The old station is updated: its first sync applies what it held.
    drop(old);
    let mut updated = Syncer::new(
        Store::open(&old_path).unwrap(),
        HttpTransport::new(&central.url(), &token_old, timeout).unwrap(),
        clock.as_fn(),
    );
    updated.sync_once().await.unwrap();
    assert_eq!(status_at_hub(&updated.store, "C1"), "received");
    assert_eq!(
        updated.store.held_counts().unwrap(),
        HeldCounts {
            needs_update: 0,
            malformed: 0,
            refused: 0
        }
    );
    for connote in ["C1", "C2"] {
        assert_eq!(
            status_at_hub(&updated.store, connote),
            status_at_hub(&new.store, connote)
        );
        assert_eq!(
            status_at_hub(&new.store, connote),
            status_at_central(&central, connote)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_from_the_future_is_relayed_and_held_and_a_malformed_event_is_kept_at_central_only()
{
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let timeout = Duration::from_secs(30);
    let token_a = create_device(&central.storage, "h1", clock.now());
    let token_b = create_device(&central.storage, "h1", clock.now());
    let transport_a = HttpTransport::new(&central.url(), &token_a, timeout).unwrap();
    let mut a = Syncer::new(
        Store::open(&tmp.path().join("a.sqlite3")).unwrap(),
        transport_a.clone(),
        clock.as_fn(),
    );
    let mut b = Syncer::new(
        Store::open(&tmp.path().join("b.sqlite3")).unwrap(),
        HttpTransport::new(&central.url(), &token_b, timeout).unwrap(),
        clock.as_fn(),
    );
    append(&mut a.store, clock.now(), vec![scan_of("X1")]);
    let future = redressed(
        &a.store,
        "pallet_sealed",
        1,
        r#"{"type":"pallet_sealed","pallet":"P1"}"#,
    );
    let newer = redressed(
        &a.store,
        "connote_scanned",
        7,
        r#"{"type":"connote_scanned","raw":"X2"}"#,
    );
    let malformed = redressed(
        &a.store,
        "return_noted",
        1,
        r#"{"type":"return_noted","return_id":7}"#,
    );
    let answer = transport_a
        .push(&PushRequest {
            events: vec![future.clone(), newer.clone(), malformed.clone()],
        })
        .await
        .unwrap();
    assert_eq!(
        answer.acknowledged,
        vec![future.id.clone(), newer.id.clone(), malformed.id.clone()]
    );
    assert_eq!(answer.held.len(), 1, "{answer:?}");
    assert_eq!(answer.held[0].id, malformed.id);
    // Sent again (the answer was lost): duplicates, nothing held twice.
    let again = transport_a
        .push(&PushRequest {
            events: vec![future.clone(), newer.clone(), malformed.clone()],
        })
        .await
        .unwrap();
    assert_eq!((again.new, again.duplicates), (0, 3));
    let held = central.storage.held_events().unwrap();
    let state_of = |id: &str| held.iter().find(|h| h.id == id).map(|h| h.state.clone());
    assert_eq!(held.len(), 3, "{held:?}");
    assert_eq!(state_of(&future.id).as_deref(), Some("needs_update"));
    assert_eq!(state_of(&newer.id).as_deref(), Some("needs_update"));
    assert_eq!(state_of(&malformed.id).as_deref(), Some("malformed"));
    // Whoever runs the central store sees them.
    let listed = cli(&central.dir, &["held-events"]);
    assert!(listed.status.success());
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let line = listed
        .lines()
        .find(|l| l.starts_with(&malformed.id))
        .unwrap();
    assert!(line.contains("\treturn_noted\tv1\tmalformed\t"), "{line}");
    // The device's own event still goes, and so does everything after.
    a.sync_once().await.unwrap();
    assert_eq!(a.store.sync_queue_depth().unwrap(), 0);

    let round = b.sync_once().await.unwrap();
    assert_eq!(
        (round.pulled, round.held),
        (1, 2),
        "the malformed one is never relayed"
    );
    let held_b = b.store.held_events(10).unwrap();
    let mut kinds: Vec<_> = held_b
        .iter()
        .map(|h| (h.event.kind.clone(), h.event.version))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("connote_scanned".to_string(), 7),
            ("pallet_sealed".to_string(), 1)
        ]
    );
    // Byte for byte as pushed: a station updated later applies exactly what was recorded.
    let kept = held_b.iter().find(|h| h.event.id == future.id).unwrap();
    assert_eq!(kept.event, future);

    // Reopened by this same build, nothing it cannot read is applied.
    drop(b);
    let mut b = Syncer::new(
        Store::open(&tmp.path().join("b.sqlite3")).unwrap(),
        HttpTransport::new(&central.url(), &token_b, timeout).unwrap(),
        clock.as_fn(),
    );
    b.sync_once().await.unwrap();
    assert_eq!(
        b.store.held_counts().unwrap(),
        HeldCounts {
            needs_update: 2,
            malformed: 0,
            refused: 0
        }
    );
}

fn scan_of(connote: &str) -> DomainEvent {
    DomainEvent::ConnoteScanned {
        raw: connote.into(),
        connote: connote.into(),
        return_id: None,
        station: "bench-1".into(),
    }
}
