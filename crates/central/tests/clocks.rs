//! One bench PC whose clock runs an hour fast must not break everyone's sync. The central
//! store refuses its events whole, with the reason the PC shows (they wait in its outbox),
//! and no clock moves: the central store's own next stamp and an honest device's stay at the
//! real time. A stamp exactly at the bound is accepted; one millisecond more is not.

mod support;

use std::time::Duration;

use returnhub_central::storage::CentralStorage;
use returnhub_core::trigger::Trigger;
use returnhub_protocol::hlc::MAX_AHEAD_MS;
use returnhub_store::Store;
use returnhub_sync::{HttpTransport, SyncError, Syncer};
use support::*;

fn central_events(central: &Central) -> i64 {
    central
        .storage
        .with_conn(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_whose_clock_runs_ahead_is_refused_and_moves_no_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let device = |name: &str| {
        let token = create_device(&central.storage, "h1", clock.now());
        let store = Store::open(&tmp.path().join(format!("{name}.sqlite3"))).unwrap();
        let t = HttpTransport::new(&central.url(), &token, Duration::from_secs(10)).unwrap();
        Syncer::new(store, t, clock.as_fn())
    };
    let mut fast = device("fast");
    let mut edge = device("edge");
    let mut honest = device("honest");
    let now = clock.now();

    append(&mut fast.store, now + 3_600_000, scan(3));
    match fast.push_one_batch().await {
        Err(SyncError::Refused {
            status: 400,
            message,
        }) => {
            assert!(message.contains("3600 s ahead"), "{message}");
            assert!(message.contains("clock"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fast.store.sync_queue_depth().unwrap(),
        3,
        "kept, to go once fixed"
    );
    assert_eq!(central_events(&central), 0, "nothing of the batch stored");

    // Exactly at the bound: accepted.
    append(&mut edge.store, now + MAX_AHEAD_MS as i64, scan(1));
    assert_eq!(edge.push_one_batch().await.unwrap(), 1);
    append(&mut edge.store, now + MAX_AHEAD_MS as i64 + 1, scan(1));
    assert!(matches!(
        edge.push_one_batch().await,
        Err(SyncError::Refused { status: 400, .. })
    ));

    // The central store's own stamps stay at the real time (within the bound it accepted).
    central
        .storage
        .configure_retailer(&retailer("acme", "Acme", Trigger::Processing), now)
        .unwrap();
    let own: String = central
        .storage
        .with_conn(|c| {
            c.query_row(
                "SELECT hlc FROM events WHERE kind = 'retailer_configured'",
                [],
                |r| r.get::<_, String>(0),
            )
        })
        .unwrap();
    let own_wall: i64 = own[..15].parse().unwrap();
    assert!(
        own_wall <= now + MAX_AHEAD_MS as i64 + 1,
        "not moved by the refused hour: {own}"
    );

    // An honest device syncs on, and its next stamp is its own time.
    append(&mut honest.store, now, scan(2));
    honest.sync_once().await.unwrap();
    assert_eq!(honest.store.sync_queue_depth().unwrap(), 0);
    assert_eq!(central_events(&central), 4);
}
