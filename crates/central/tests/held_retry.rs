//! Held events are retryable after a fix, and an event that breaks a rule of the stored data
//! is held instead of failing its device's every push. A refused event comes back through the
//! central CLI (`held-events --retry`) or through the hub sending it again; either way it is
//! taken once, and the pushing hub's list clears.

mod support;

use std::path::Path;
use std::time::Duration;

use returnhub_central::storage::CentralStorage;
use returnhub_core::record::OrderRecord;
use returnhub_core::trigger::Trigger;
use returnhub_protocol::event::DomainEvent;
use returnhub_store::Store;
use returnhub_sync::{HttpTransport, Syncer};
use support::*;

fn central_count(central: &Central, sql: &str) -> i64 {
    central
        .storage
        .with_conn(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap()
}

fn order(id: &str, retailer: &str) -> OrderRecord {
    let nothing = returnhub_core::money::Money::new(0, aud());
    OrderRecord {
        id: id.into(),
        retailer_id: retailer.into(),
        order_number: format!("#{id}"),
        customer_name: "Aroha".into(),
        email: "aroha@example.com".into(),
        created_at: "2026-11-01T00:00:00.000Z".into(),
        country: "AU".into(),
        tags: vec![],
        subtotal: nothing,
        discount: nothing,
        total: nothing,
        lines: vec![],
    }
}

/// A device of `hub` with its own store, syncing over HTTP.
fn device(
    dir: &Path,
    central: &Central,
    clock: &SimClock,
    name: &str,
    hub: &str,
) -> Syncer<HttpTransport> {
    Syncer::new(
        Store::open(&dir.join(format!("{name}.sqlite3"))).unwrap(),
        HttpTransport::new(
            &central.url(),
            &create_device(&central.storage, hub, clock.now()),
            Duration::from_secs(30),
        )
        .unwrap(),
        clock.as_fn(),
    )
}

fn held_states(central: &Central) -> Vec<(String, String)> {
    central
        .storage
        .held_events()
        .unwrap()
        .into_iter()
        .map(|h| (h.kind, h.state))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_events_are_taken_once_after_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let dir = tmp.path().join("central");
    let central = Central::start(&dir, clock.clone()).await;
    let mut a = device(tmp.path(), &central, &clock, "a", "h-a");
    let mut b = device(tmp.path(), &central, &clock, "b", "h-b");
    let acme = retailer("acme", "Acme Apparel", Trigger::Processing);
    let kowhai = retailer("kowhai", "Kowhai Kids", Trigger::Processing);
    configure(&mut a.store, clock.now(), &[acme.clone(), kowhai.clone()]);
    a.sync_once().await.unwrap();

    // Hub B's admin (who has the retailers by sync) acts for retailers the central store
    // does not list B for yet.
    configure(&mut b.store, clock.now(), &[]);
    b.sync_once().await.unwrap();
    let mut renamed = acme.clone();
    renamed.name = "Acme Apparel (B)".into();
    append(
        &mut b.store,
        clock.now(),
        vec![
            DomainEvent::RetailerConfigured(renamed),
            DomainEvent::OrderImported(order("o-acme", "acme")),
            DomainEvent::OrderImported(order("o-kowhai", "kowhai")),
        ],
    );
    b.sync_once().await.unwrap();
    assert_eq!(b.store.held_counts().unwrap().refused, 3);
    assert_eq!(
        held_states(&central)
            .iter()
            .filter(|(_, s)| s == "refused")
            .count(),
        3
    );
    // Sending them again before any fix changes nothing.
    assert_eq!(b.resend_refused().await.unwrap(), 0);
    assert_eq!(b.store.held_counts().unwrap().refused, 3);

    // The fix for acme, then the central CLI's retry: both acme events are taken, the
    // kowhai one is still refused, with why.
    central
        .storage
        .set_retailer_hubs("acme", &["h-a".into(), "h-b".into()])
        .unwrap();
    let out = cli(&dir, &["held-events", "--retry"]);
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.matches("\ttaken").count(), 2, "{printed}");
    assert!(
        printed.contains("still held\thub h-b does not serve retailer kowhai"),
        "{printed}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 of 3 held events taken"));
    assert_eq!(
        held_states(&central),
        vec![("order_imported".into(), "refused".into())]
    );
    assert_eq!(
        central_count(&central, "SELECT count(*) FROM orders WHERE id = 'o-acme'"),
        1
    );
    // Retrying again takes nothing twice.
    let again = central.storage.retry_held(clock.now()).unwrap();
    assert_eq!(again.iter().filter(|o| o.taken).count(), 0);

    // Hub B sends its copies again: the two taken leave its list (acknowledged, not applied
    // twice); the kowhai order stays.
    assert_eq!(b.resend_refused().await.unwrap(), 2);
    assert_eq!(b.store.held_counts().unwrap().refused, 1);
    assert_eq!(
        central_count(
            &central,
            "SELECT count(*) FROM events WHERE kind = 'order_imported'"
        ),
        1
    );

    // The fix for kowhai; this time the hub's resend alone takes it, and the central store's
    // held copy goes.
    central
        .storage
        .set_retailer_hubs("kowhai", &["h-a".into(), "h-b".into()])
        .unwrap();
    assert_eq!(b.resend_refused().await.unwrap(), 1);
    assert_eq!(b.store.held_counts().unwrap().refused, 0);
    assert!(held_states(&central).is_empty());
    assert_eq!(
        central_count(
            &central,
            "SELECT count(*) FROM orders WHERE id = 'o-kowhai'"
        ),
        1
    );

    // Hub A sees the rename B's admin made, once B was listed.
    a.sync_once().await.unwrap();
    let name: String = a
        .store
        .reader()
        .query_row("SELECT name FROM retailers WHERE id = 'acme'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(name, "Acme Apparel (B)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_breaks_a_stored_rule_is_held_and_the_rest_syncs() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let dir = tmp.path().join("central");
    let central = Central::start(&dir, clock.clone()).await;
    let mut a = device(tmp.path(), &central, &clock, "a", "h-a");
    let mut b = device(tmp.path(), &central, &clock, "b", "h-b");
    let acme = retailer("acme", "Acme Apparel", Trigger::Processing);
    configure(&mut a.store, clock.now(), std::slice::from_ref(&acme));
    a.sync_once().await.unwrap();

    // Hub B's admin creates a retailer under a name already taken (retailer names are
    // unique): before, that push failed with a 500 on every try and B's sync stopped there.
    configure(&mut b.store, clock.now(), &[]);
    let clash = retailer("acme-nz", "Acme Apparel", Trigger::Processing);
    append(
        &mut b.store,
        clock.now(),
        vec![DomainEvent::RetailerConfigured(clash)],
    );
    append(&mut b.store, clock.now(), scan(3));
    let report = b.sync_once().await.unwrap();
    assert_eq!(b.store.sync_queue_depth().unwrap(), 0, "{report:?}");
    assert_eq!(
        held_states(&central),
        vec![("retailer_configured".into(), "unapplied".into())]
    );
    // (B's own store took the name for its retailer, so A's, pulled, waits there too.)
    let held: Vec<_> = b
        .store
        .held_events(10)
        .unwrap()
        .into_iter()
        .filter(|h| h.state == returnhub_store::HeldState::Refused)
        .collect();
    assert_eq!(held.len(), 1);
    assert!(
        held[0].reason.starts_with("it does not apply here:") && held[0].reason.contains("UNIQUE"),
        "{}",
        held[0].reason
    );
    // Nothing of it stayed behind; B's other events were taken.
    assert_eq!(
        central_count(
            &central,
            "SELECT count(*) FROM retailers WHERE id = 'acme-nz'"
        ),
        0
    );
    assert!(central.storage.retailer_hubs("acme-nz").unwrap().is_empty());
    assert_eq!(
        central_count(
            &central,
            "SELECT count(*) FROM events WHERE kind = 'connote_scanned'"
        ),
        3
    );

    // Hub A renames its retailer; the held one is then taken on retry, and B serves it.
    let mut renamed = acme.clone();
    renamed.name = "Acme Apparel (AU)".into();
    append(
        &mut a.store,
        clock.now(),
        vec![DomainEvent::RetailerConfigured(renamed)],
    );
    a.sync_once().await.unwrap();
    let outcomes = central.storage.retry_held(clock.now()).unwrap();
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].taken, "{outcomes:?}");
    assert!(held_states(&central).is_empty());
    assert_eq!(
        central.storage.retailer_hubs("acme-nz").unwrap(),
        vec!["h-b"]
    );
    assert_eq!(b.resend_refused().await.unwrap(), 1);
    assert_eq!(b.store.held_counts().unwrap().refused, 0);
}
