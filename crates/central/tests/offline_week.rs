//! A hub device offline for a simulated week records 50,000 events (scans, status changes,
//! actions due), then reconnects: everything reaches the central store once, the other
//! device of the hub pulls it, and all three read models agree.
//! `RETURNHUB_OFFLINE_RETURNS` changes the size (4 events per return; default 12,500).

mod support;

use std::time::Duration;

use returnhub_core::model::ReturnStatus;
use returnhub_core::money::Money;
use returnhub_core::rules::Outcome;
use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent, Trigger};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::Store;
use returnhub_sync::{HttpTransport, SyncError, Syncer};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_offline_for_a_week_with_50000_events_converges() {
    let returns: usize = std::env::var("RETURNHUB_OFFLINE_RETURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12_500);
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let timeout = Duration::from_secs(30);
    let mut devices = Vec::new();
    for i in 0..2 {
        let token = create_device(&central.storage, "h1", clock.now());
        let store = Store::open(&tmp.path().join(format!("hub-{i}.sqlite3"))).unwrap();
        let t = HttpTransport::new(&central.url(), &token, timeout).unwrap();
        devices.push((token, Syncer::new(store, t, clock.as_fn())));
    }
    configure(
        &mut devices[1].1.store,
        clock.now(),
        &[retailer("acme", "Acme Apparel", Trigger::Processing)],
    );
    devices[1].1.sync_once().await.unwrap();
    let partner = Partner {
        client: plain_client(),
        base: central.url(),
        key: central_key(&central),
        retailer: "Acme Apparel".into(),
    };
    for chunk in (0..returns).collect::<Vec<_>>().chunks(2_500) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|n| {
                upload_row(
                    &format!("C{n:06}"),
                    &format!("#{n}"),
                    "SKU-1",
                    "h1",
                    "REFUND",
                )
            })
            .collect();
        assert_eq!(partner.upload(&rows).await.rejected_rows, 0);
    }
    for (_, d) in devices.iter_mut() {
        d.pull_limit = 5_000;
        d.sync_once().await.unwrap();
    }

    // Offline: the central store's address is now a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (token, online) = devices.remove(0);
    let mut offline = Syncer::new(
        online.store,
        HttpTransport::new(&dead, &token, timeout).unwrap(),
        clock.as_fn(),
    );
    assert!(matches!(
        offline.sync_once().await,
        Err(SyncError::Unreachable(_))
    ));

    let work: Vec<(String, String)> = {
        let mut stmt = offline
            .store
            .reader()
            .prepare(
                "SELECT r.id, i.id FROM returns r JOIN return_items i ON i.return_id = r.id
                 ORDER BY r.id",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(work.len(), returns);
    let week_ms = 7 * 86_400_000;
    let per_write = 125;
    let writes = work.len().div_ceil(per_write) as i64;
    for chunk in work.chunks(per_write) {
        clock.advance(week_ms / writes);
        let mut events = Vec::with_capacity(chunk.len() * 4);
        for (return_id, item_id) in chunk {
            let change = |from, to| DomainEvent::ReturnStatusChanged {
                return_id: return_id.clone(),
                from,
                to,
            };
            events.push(DomainEvent::ConnoteScanned {
                raw: "scan".into(),
                connote: "scan".into(),
                return_id: Some(return_id.clone()),
                station: "bench-1".into(),
            });
            events.push(change(ReturnStatus::Expected, ReturnStatus::Received));
            events.push(change(ReturnStatus::Received, ReturnStatus::Processed));
            events.extend(
                actions_due(
                    Trigger::Processing,
                    ReturnEvent::Processed,
                    "acme",
                    return_id,
                    &[ItemOutcome {
                        item_id: item_id.clone(),
                        outcome: Outcome::Refund,
                        amount: Some(Money::new(4995, aud())),
                    }],
                )
                .into_iter()
                .map(DomainEvent::ActionDue),
            );
        }
        append(&mut offline.store, clock.now(), events);
    }
    let queued = offline.store.sync_queue_depth().unwrap();
    assert_eq!(queued, 4 * returns as u64);
    println!("{queued} events queued over a simulated week offline");

    // Back online.
    let mut back = Syncer::new(
        offline.store,
        HttpTransport::new(&central.url(), &token, timeout).unwrap(),
        clock.as_fn(),
    );
    let started = std::time::Instant::now();
    let round = back.sync_once().await.unwrap();
    assert_eq!(round.pushed, 4 * returns);
    let (_, other) = &mut devices[0];
    let pulled = other.sync_once().await.unwrap().pulled;
    assert_eq!(pulled, 4 * returns);
    println!(
        "reconnected: {} pushed, {pulled} pulled by the hub's other device in {:?}",
        round.pushed,
        started.elapsed()
    );
    assert_all_pushed_exactly_once(&back.store, &central.storage);
    assert_central_ids_unique(&central.storage);
    let c = digest(&central_view(&central.storage, "h1"));
    assert_eq!(digest(&hub_view(&back.store, "h1")), c);
    assert_eq!(digest(&hub_view(&other.store, "h1")), c);
    let processed = hub_view(&other.store, "h1")
        .iter()
        .filter(|(_, s)| s == "processed")
        .count();
    assert_eq!(processed, returns);
    let claims: i64 = central
        .storage
        .with_conn(|c| c.query_row("SELECT count(*) FROM action_claims", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(claims, returns as i64);
}

fn central_key(central: &Central) -> String {
    use returnhub_central::storage::CentralStorage;
    central
        .storage
        .create_api_key("Acme Apparel", SimClock::new().now())
        .unwrap()
}
