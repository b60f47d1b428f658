//! The central store's HTTP contract: authentication (tokens, API key + exact retailer
//! name), per-row validation of uploads, idempotent pushes, a device seeing only its hub,
//! first-scan actions, and the answer to a second claim of an action key.

mod support;

use returnhub_simulators as shopify;

use std::time::Duration;

use returnhub_central::storage::CentralStorage;
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::rules::Outcome;
use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent, Trigger};
use returnhub_protocol::event::DomainEvent;
use returnhub_protocol::wire::{self, PushRequest, PushResponse, TrackingIn};
use returnhub_store::Store;
use returnhub_sync::{HttpTransport, SyncError, Syncer, Transport};
use support::*;

struct World {
    _tmp: tempfile::TempDir,
    central: Central,
    clock: SimClock,
    partner: Partner,
    bolt: Partner,
    h1a: Syncer<HttpTransport>,
    h1b: Syncer<HttpTransport>,
    h2: Syncer<HttpTransport>,
}

async fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let device = |name: &str, hub: &str| {
        let token = create_device(&central.storage, hub, clock.now());
        let store = Store::open(&tmp.path().join(format!("{name}.sqlite3"))).unwrap();
        let t = HttpTransport::new(&central.url(), &token, Duration::from_secs(10)).unwrap();
        Syncer::new(store, t, clock.as_fn())
    };
    let mut h1a = device("h1a", "h1");
    let h1b = device("h1b", "h1");
    let h2 = device("h2", "h2");
    configure(
        &mut h1a.store,
        clock.now(),
        &[
            retailer("acme", "Acme Apparel", Trigger::Processing),
            retailer("bolt", "Bolt Outdoor", Trigger::FirstScan),
        ],
    );
    h1a.sync_once().await.unwrap();
    let partner_for = |name: &str| Partner {
        client: plain_client(),
        base: central.url(),
        key: central.storage.create_api_key(name, clock.now()).unwrap(),
        retailer: name.into(),
    };
    let partner = partner_for("Acme Apparel");
    let bolt = partner_for("Bolt Outdoor");
    World {
        _tmp: tmp,
        central,
        clock,
        partner,
        bolt,
        h1a,
        h1b,
        h2,
    }
}

/// A carrier's "return in transit" (first scan) event for connote `c`.
/// Bolt (First-scan) uploads consignment B1: a credit note and a refund. Its return's id.
async fn bolt_b1(w: &World) -> String {
    let up = w
        .bolt
        .upload(&[
            upload_row("B1", "#1", "SKU-1", "h1", "CREDIT NOTE"),
            upload_row("B1", "#1", "SKU-2", "h1", "REFUND"),
        ])
        .await;
    up.rows[0].return_id.clone().unwrap()
}

fn rt(c: &str) -> TrackingIn {
    TrackingIn {
        consignment_no: c.into(),
        code: "RT".into(),
        status: "In transit".into(),
        event_dt: "2026-11-23T10:00:00+10:00".into(),
        ..TrackingIn::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_need_a_valid_key_for_exactly_the_retailer_named() {
    let w = world().await;
    let rows = vec![upload_row("C1", "#1", "SKU-1", "h1", "REFUND")];
    let p = &w.partner;
    let (status, body) = p
        .post_raw(wire::UPLOAD_PATH, &rows, "rhk_nope_nope", "Acme Apparel")
        .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, body) = p
        .post_raw(wire::UPLOAD_PATH, &rows, &p.key, "acme apparel")
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    assert!(body["error"].as_str().unwrap().contains("exactly"));
    let (status, _) = p
        .post_raw(wire::UPLOAD_PATH, &rows, &w.bolt.key, "Acme Apparel")
        .await;
    assert_eq!(status, 403, "Bolt's key is not Acme's");
    let r = p
        .client
        .post(format!("{}{}", p.base, wire::UPLOAD_PATH))
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (status, _) = p
        .post_raw(wire::UPLOAD_PATH, &rows, &p.key, "Acme Apparel")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_answer_per_row_and_a_resent_upload_creates_nothing() {
    let mut w = world().await;
    let mut bad_value = upload_row("C2", "#2", "SKU-1", "h1", "REFUND");
    bad_value.item_value = "12.345".into();
    let rows = vec![
        upload_row("C1", "#1", "SKU-1", "h1", "REFUND"),
        upload_row("C1", "#1", "SKU-2", "h1", "CREDIT NOTE"),
        bad_value,
        upload_row("C2", "#2", "SKU-2", "h1", "REFUND"),
        upload_row("C3", "#3", "SKU-1", "nowhere", "REFUND"),
        upload_row("C4", "#4", "SKU-1", "h2", "CASH"),
    ];
    let a = w.partner.upload(&rows).await;
    assert_eq!(
        (a.accepted_rows, a.rejected_rows, a.returns_created),
        (2, 4, 1)
    );
    assert!(a.rows[0].errors.is_empty() && a.rows[0].return_id == a.rows[1].return_id);
    assert_eq!(a.rows[2].errors[0].field, "ItemValue");
    assert!(
        a.rows[3].errors[0].message.contains("row 2"),
        "{:?}",
        a.rows[3]
    );
    assert_eq!(a.rows[4].errors[0].field, "HubId");
    assert_eq!(a.rows[5].errors[0].field, "ReturnAction");
    // The refused rows are kept with what the uploader was told, and listed by the CLI.
    let kept = w.central.storage.upload_refusals(None, 100).unwrap();
    assert_eq!(
        kept.iter()
            .map(|r| (r.row, r.consignment_no.as_str(), r.hub_id.as_str()))
            .collect::<Vec<_>>(),
        [
            (5, "C4", "h2"),
            (4, "C3", "nowhere"),
            (3, "C2", "h1"),
            (2, "C2", "h1")
        ]
    );
    assert!(kept
        .iter()
        .all(|r| r.retailer_id == "acme" && !r.key_id.is_empty() && r.key_id == kept[0].key_id));
    assert_eq!(kept[0].errors, a.rows[5].errors);
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_returnhub-central"))
        .args(["upload-refusals", "--data-dir"])
        .arg(&w.central.dir)
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(listed.lines().count(), 4, "{listed}");
    let newest: Vec<&str> = listed.lines().next().unwrap().split('\t').collect();
    assert_eq!(
        (newest[4], newest[5], newest[7]),
        ("5", "C4", "h2"),
        "{listed}"
    );
    assert!(newest[8].starts_with("ReturnAction: "), "{listed}");
    // And sent to the hub that serves the retailer (h1: a row naming another hub goes there
    // too), whose supervisors see them in their reports; h2 does not serve Acme.
    w.h1b.sync_once().await.unwrap();
    w.h2.sync_once().await.unwrap();
    let query = returnhub_store::ReportQuery::default();
    let (seen, total) = w.h1b.store.report_refused_uploads(&query).unwrap();
    assert_eq!(total, 4);
    let mut seen_rows: Vec<(i64, &str, &str)> = seen
        .iter()
        .map(|r| (r.row, r.consignment_no.as_str(), r.hub_id.as_str()))
        .collect();
    seen_rows.sort();
    assert_eq!(
        seen_rows,
        [
            (2, "C2", "h1"),
            (3, "C2", "h1"),
            (4, "C3", "nowhere"),
            (5, "C4", "h2")
        ]
    );
    let row2 = seen.iter().find(|r| r.row == 2).unwrap();
    assert!(row2.errors.starts_with("ItemValue: "), "{row2:?}");
    assert_eq!(w.h2.store.report_refused_uploads(&query).unwrap().1, 0);
    let again = w.partner.upload(&rows[..2]).await;
    assert_eq!(again.returns_created, 0);
    assert_eq!(again.rows[0].return_id, a.rows[0].return_id);
    let none = vec![upload_row("C9", "#9", "SKU-1", "h1", "nope")];
    let (status, _) = w
        .partner
        .post_raw(wire::UPLOAD_PATH, &none, &w.partner.key, "Acme Apparel")
        .await;
    assert_eq!(status, 422);
}

/// EXCHANGE is refused for a retailer with exchanges turned off, and taken once an admin
/// turns them on: the customer's choice reaches the hub with the return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_upload_is_taken_where_the_retailer_offers_exchanges() {
    let mut w = world().await;
    let rows = vec![upload_row("X1", "#1", "SKU-1", "h1", "EXCHANGE")];
    let refused = w.partner.upload(&rows).await;
    assert_eq!((refused.accepted_rows, refused.returns_created), (0, 0));
    assert_eq!(refused.rows[0].errors[0].field, "ReturnAction");
    assert!(
        refused.rows[0].errors[0]
            .message
            .contains("exchanges turned off"),
        "{refused:?}"
    );
    let mut acme = retailer("acme", "Acme Apparel", Trigger::Processing);
    acme.policy.exchange_enabled = true;
    configure(&mut w.h1a.store, w.clock.now(), &[acme]);
    w.h1a.sync_once().await.unwrap();
    let taken = w.partner.upload(&rows).await;
    assert_eq!(
        (taken.accepted_rows, taken.returns_created),
        (1, 1),
        "{taken:?}"
    );
    w.h1a.sync_once().await.unwrap();
    let chosen: Option<String> = w
        .h1a
        .store
        .reader()
        .query_row(
            "SELECT chosen_option FROM return_items WHERE return_id = ?1",
            [taken.rows[0].return_id.as_deref().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(chosen.as_deref(), Some("exchange"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_idempotent_and_authenticated_and_a_device_sees_only_its_hub() {
    let mut w = world().await;
    w.partner
        .upload(&[
            upload_row("C1", "#1", "SKU-1", "h1", "REFUND"),
            upload_row("C2", "#2", "SKU-1", "h2", "REFUND"),
        ])
        .await;
    for d in [&mut w.h1a, &mut w.h1b, &mut w.h2] {
        d.sync_once().await.unwrap();
    }
    assert_eq!(hub_view(&w.h1b.store, "h1").len(), 1);
    assert!(hub_view(&w.h1b.store, "h2").is_empty());
    assert_eq!(hub_view(&w.h2.store, "h2").len(), 1);
    assert!(hub_view(&w.h2.store, "h1").is_empty());
    let central_count = |c: &Central| {
        c.storage
            .with_conn(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)))
            .unwrap()
    };

    // A resent batch is a no-op.
    append(
        &mut w.h1a.store,
        w.clock.now(),
        vec![DomainEvent::ConnoteScanned {
            raw: "X".into(),
            connote: "X".into(),
            return_id: None,
            station: "b".into(),
        }],
    );
    let req = PushRequest {
        events: w
            .h1a
            .store
            .pending_sync(10)
            .unwrap()
            .into_iter()
            .map(|p| p.event)
            .collect(),
    };
    let first = w.h1a.transport.push(&req).await.unwrap();
    let before = central_count(&w.central);
    let second = w.h1a.transport.push(&req).await.unwrap();
    assert_eq!((first.new, first.duplicates), (1, 0));
    assert_eq!((second.new, second.duplicates), (0, 1));
    assert_eq!(second.acknowledged, first.acknowledged);
    assert_eq!(central_count(&w.central), before);

    // Another device's token cannot push this device's events.
    match w.h2.transport.push(&req).await {
        Err(SyncError::Refused { status: 403, .. }) => {}
        other => panic!("{other:?}"),
    }
    let bad = HttpTransport::new(&w.central.url(), "rhd_x_y", Duration::from_secs(5)).unwrap();
    match bad.push(&req).await {
        Err(SyncError::Refused { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
}

fn processed_with_action(store: &mut Store, now: i64, return_id: &str) -> Vec<DomainEvent> {
    let item: String = store
        .reader()
        .query_row(
            "SELECT id FROM return_items WHERE return_id = ?1",
            [return_id],
            |r| r.get(0),
        )
        .unwrap();
    let mut events = vec![
        DomainEvent::ReturnStatusChanged {
            return_id: return_id.into(),
            from: ReturnStatus::Expected,
            to: ReturnStatus::Received,
        },
        DomainEvent::ReturnStatusChanged {
            return_id: return_id.into(),
            from: ReturnStatus::Received,
            to: ReturnStatus::Processed,
        },
    ];
    events.extend(
        actions_due(
            Trigger::Processing,
            ReturnEvent::Processed,
            "acme",
            return_id,
            &[ItemOutcome {
                item_id: item,
                outcome: Outcome::Refund,
                amount: Some(Money::new(4995, aud())),
            }],
        )
        .into_iter()
        .map(DomainEvent::ActionDue),
    );
    append(store, now, events.clone());
    events
}

async fn push_all(s: &mut Syncer<HttpTransport>) -> PushResponse {
    let req = PushRequest {
        events: s
            .store
            .pending_sync(100)
            .unwrap()
            .into_iter()
            .map(|p| p.event)
            .collect(),
    };
    s.transport.push(&req).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_claim_gets_the_first_ones_outcome_and_is_flagged() {
    let mut w = world().await;
    let up = w
        .partner
        .upload(&[upload_row("C1", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    let return_id = up.rows[0].return_id.clone().unwrap();
    w.h1a.sync_once().await.unwrap();
    w.h1b.sync_once().await.unwrap();
    // Both devices process the same return while apart.
    processed_with_action(&mut w.h1a.store, w.clock.now(), &return_id);
    w.clock.advance(1000);
    processed_with_action(&mut w.h1b.store, w.clock.now(), &return_id);
    let a = push_all(&mut w.h1a).await;
    let b = push_all(&mut w.h1b).await;
    assert!(a.claims[0].first);
    assert!(!b.claims[0].first);
    assert_eq!(b.claims[0].key, a.claims[0].key);
    assert_eq!(b.claims[0].owner_device, w.h1a.store.device_id());
    assert_eq!(b.claims[0].state, a.claims[0].state);
    let conflicts: Vec<wire::Conflict> = plain_client()
        .get(format!("{}{}", w.central.url(), wire::CONFLICTS_PATH))
        .bearer_auth(w.central.storage.create_device("h1", "sup", 0).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = conflicts.iter().map(|c| c.kind.as_str()).collect();
    assert!(kinds.contains(&"duplicate_action") && kinds.contains(&"double_processing"));
    assert!(conflicts
        .iter()
        .all(|c| c.second_device == w.h1b.store.device_id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_scan_makes_the_actions_of_a_first_scan_retailer_due_once() {
    let mut w = world().await;
    bolt_b1(&w).await;
    w.partner
        .upload(&[upload_row("A1", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    let first = w.bolt.tracking(&[rt("b1")]).await;
    assert_eq!((first.recorded, first.actions_due), (1, 2));
    let again = w.bolt.tracking(&[rt("B1")]).await;
    assert_eq!(
        (again.recorded, again.duplicates, again.actions_due),
        (0, 1, 0)
    );
    // Acme's trigger is Processing: in transit, nothing due.
    let acme = w.partner.tracking(&[rt("A1")]).await;
    assert_eq!((acme.recorded, acme.actions_due), (1, 0));
    // Bolt's key cannot report Acme's parcels.
    let other = w.bolt.tracking(&[rt("A1")]).await;
    assert_eq!(other.rows[0].errors[0].field, "ConsignmentNo");
    let claims = w
        .central
        .storage
        .claims_in_state(wire::ClaimState::Claimed, None, 10)
        .unwrap();
    assert_eq!(claims.len(), 2);
    assert!(claims.iter().all(|c| c.device_id == "central"));
    // The hub sees the return in transit and the tracking events.
    let mut report = Default::default();
    while w.h1a.pull_one_page(&mut report).await.unwrap() {}
    assert_eq!(report.tracking, 2);
    let view = hub_view(&w.h1a.store, "h1");
    assert!(view.iter().all(|(_, s)| s == "in_transit"), "{view:?}");
}

/// A parcel the carrier scanned before anyone knew it, attached at the bench to a First-scan
/// retailer's return and received in the same write: the early RT fires the return's actions
/// once, and the return stays received (the central store's own move to in transit, stamped
/// later, used to overtake the receipt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_parcels_early_carrier_scan_fires_once_and_keeps_the_receipt() {
    let mut w = world().await;
    let return_id = bolt_b1(&w).await;
    // The second parcel's RT, before the hub attaches it: kept with the retailer.
    let early = w.bolt.tracking(&[rt("B9")]).await;
    assert_eq!((early.recorded, early.actions_due), (1, 0));
    w.h1a.sync_once().await.unwrap();
    append(
        &mut w.h1a.store,
        w.clock.now(),
        vec![
            DomainEvent::ConnoteAttached {
                return_id: return_id.clone(),
                connote: "B9".into(),
            },
            DomainEvent::ReturnStatusChanged {
                return_id: return_id.clone(),
                from: ReturnStatus::Expected,
                to: ReturnStatus::Received,
            },
        ],
    );
    w.h1a.sync_once().await.unwrap();
    let claims = w
        .central
        .storage
        .claims_in_state(wire::ClaimState::Claimed, None, 10)
        .unwrap();
    assert_eq!(claims.len(), 2, "the first scan's actions, once");
    let status = |v: Vec<(String, String)>| {
        v.into_iter()
            .find(|(c, _)| c == "B1")
            .map(|(_, s)| s)
            .unwrap()
    };
    assert_eq!(status(central_view(&w.central.storage, "h1")), "received");
    w.h1a.sync_once().await.unwrap();
    assert_eq!(status(hub_view(&w.h1a.store, "h1")), "received");
}

/// A return cancelled at its hub after the carrier's first scan made a First-scan retailer's
/// actions due: the central store stops the claims not yet sent (failed with the reason, told
/// to the hub), sends nothing for them, and a later carrier event fires nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_return_stops_its_claims_not_yet_sent() {
    use returnhub_central::dispatch::{
        dispatch_due, ActionDispatcher, ClaimContext, DispatchOutcome,
    };
    use returnhub_central::storage::ActionClaim;
    struct Counting(std::sync::atomic::AtomicUsize);
    impl ActionDispatcher for Counting {
        fn dispatch(&self, _: &ActionClaim, _: &ClaimContext<'_>) -> DispatchOutcome {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            DispatchOutcome::Confirmed("sent".into())
        }
        fn reconcile(&self, _: &ActionClaim, _: &ClaimContext<'_>) -> DispatchOutcome {
            DispatchOutcome::NotApplied
        }
    }
    let mut w = world().await;
    let return_id = bolt_b1(&w).await;
    assert_eq!(w.bolt.tracking(&[rt("B1")]).await.actions_due, 2);
    w.h1a.sync_once().await.unwrap();
    append(
        &mut w.h1a.store,
        w.clock.now(),
        vec![
            DomainEvent::ReturnStatusChanged {
                return_id: return_id.clone(),
                from: ReturnStatus::InTransit,
                to: ReturnStatus::Cancelled,
            },
            DomainEvent::ReturnNoted {
                return_id: return_id.clone(),
                note: "Cancelled: the customer kept it".into(),
            },
        ],
    );
    w.h1a.sync_once().await.unwrap();

    let storage = w.central.storage.clone();
    let failed = storage
        .claims_in_state(wire::ClaimState::Failed, None, 10)
        .unwrap();
    assert_eq!(failed.len(), 2, "both claims stopped");
    assert!(failed.iter().all(|c| c
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("cancelled"))));
    let counting = Counting(Default::default());
    let now = w.clock.now();
    let report = tokio::task::spawn_blocking(move || {
        let report = dispatch_due(storage.as_ref(), &counting, now, 100).unwrap();
        (report, counting.0.into_inner())
    })
    .await
    .unwrap();
    assert_eq!(report.1, 0, "nothing sent for a cancelled return");
    // The hub hears why; a later carrier event fires nothing again.
    w.h1a.sync_once().await.unwrap();
    let told: i64 = w
        .h1a
        .store
        .reader()
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'action_failed'
               AND json_extract(payload, '$.reason') LIKE '%cancelled%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(told, 2);
    let later = w
        .bolt
        .tracking(&[TrackingIn {
            code: "DL".into(),
            ..rt("B1")
        }])
        .await;
    assert_eq!(later.actions_due, 0);
    let status: String = w
        .h1a
        .store
        .reader()
        .query_row(
            "SELECT status FROM returns WHERE id = ?1",
            [&return_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "cancelled");
}

/// A First-scan retailer's actions fire once, at whichever first scan the central store hears
/// of first: here the hub's receipt scan comes before the carrier's RT, which then fires
/// nothing (before, nothing fired at all: the RT found the return received and stopped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bench_scan_before_the_carriers_fires_a_first_scan_retailers_actions_once() {
    let mut w = world().await;
    w.bolt
        .upload(&[
            upload_row("B2", "#1", "SKU-1", "h1", "CREDIT NOTE"),
            upload_row("B2", "#1", "SKU-2", "h1", "REFUND"),
        ])
        .await;
    w.h1a.sync_once().await.unwrap();
    let return_id: String = w
        .h1a
        .store
        .reader()
        .query_row(
            "SELECT return_id FROM connotes WHERE connote = 'B2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    append(
        &mut w.h1a.store,
        w.clock.now(),
        vec![DomainEvent::ReturnStatusChanged {
            return_id: return_id.clone(),
            from: ReturnStatus::Expected,
            to: ReturnStatus::Received,
        }],
    );
    w.h1a.sync_once().await.unwrap();
    let claims_of = |w: &World| {
        w.central
            .storage
            .with_conn(|c| {
                c.query_row(
                    "SELECT count(*) FROM action_claims WHERE return_id = ?1 AND device_id = 'central'",
                    [&return_id],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap()
    };
    assert_eq!(claims_of(&w), 2, "fired at the hub's receipt");
    let late = w.bolt.tracking(&[rt("B2")]).await;
    assert_eq!((late.recorded, late.actions_due), (1, 0));
    assert_eq!(claims_of(&w), 2, "the carrier's RT fires nothing more");
    // The hub gets the actions the central store made due, and keeps its status.
    w.h1a.sync_once().await.unwrap();
    let due: i64 = w
        .h1a
        .store
        .reader()
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'action_due' AND aggregate_id = ?1",
            [&return_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(due, 2);
    assert_eq!(
        hub_view(&w.h1a.store, "h1"),
        vec![("B2".into(), "received".into())]
    );
}

/// A carrier's first scan can arrive before the partner's upload of the return: it is kept,
/// linked when the return arrives (and reaches the return's hub), and the return's actions
/// become due then, once. Another retailer's upload of the same connote does not take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_scan_before_the_upload_counts_when_the_return_arrives() {
    let mut w = world().await;
    let early = w.bolt.tracking(&[rt("B7"), rt("B8")]).await;
    assert_eq!((early.recorded, early.actions_due), (2, 0));
    assert_eq!(early.rows[0].return_id, None);
    let linked = |w: &World, connote: &str| -> i64 {
        w.central
            .storage
            .with_conn(|c| {
                c.query_row(
                    "SELECT count(*) FROM tracking_events WHERE connote = ?1 AND return_id IS NOT NULL",
                    [connote],
                    |r| r.get(0),
                )
            })
            .unwrap()
    };
    // Another retailer's return with that connote does not take Bolt's scan.
    w.partner
        .upload(&[upload_row("B8", "#9", "SKU-1", "h1", "REFUND")])
        .await;
    assert_eq!(
        linked(&w, "B8"),
        0,
        "Acme's return does not take Bolt's tracking event"
    );
    let answer = w
        .bolt
        .upload(&[
            upload_row("B7", "#1", "SKU-1", "h1", "CREDIT NOTE"),
            upload_row("B7", "#1", "SKU-2", "h1", "REFUND"),
        ])
        .await;
    assert_eq!(answer.returns_created, 1, "{answer:?}");
    assert_eq!(linked(&w, "B7"), 1);
    let claims = w
        .central
        .storage
        .claims_in_state(wire::ClaimState::Claimed, None, 10)
        .unwrap();
    assert_eq!(claims.len(), 2, "a First-scan retailer's actions, once");
    // Sent again, nothing new is due.
    let again = w.bolt.tracking(&[rt("B7")]).await;
    assert_eq!(
        (again.recorded, again.duplicates, again.actions_due),
        (0, 1, 0)
    );
    let mut report = Default::default();
    while w.h1a.pull_one_page(&mut report).await.unwrap() {}
    assert_eq!(
        report.tracking, 1,
        "the hub gets the early event, once linked"
    );
    let view = hub_view(&w.h1a.store, "h1");
    assert!(
        view.contains(&("B7".to_string(), "in_transit".to_string())),
        "{view:?}"
    );
}

/// The retailer's one order as the central store holds it.
fn central_order(w: &World, retailer: &str) -> returnhub_core::record::OrderRecord {
    let record: String = w
        .central
        .storage
        .with_conn(|c| {
            c.query_row(
                "SELECT record FROM orders WHERE retailer_id = ?1",
                [retailer],
                |r| r.get(0),
            )
        })
        .unwrap();
    serde_json::from_str(&record).unwrap()
}

/// The shop's copy of an order the central store holds.
fn sim_order_of(order: &returnhub_core::record::OrderRecord) -> shopify::simulator::SimOrder {
    use shopify::simulator::{SimLine, SimOrder};
    SimOrder {
        id: order.id.clone(),
        name: order.order_number.clone(),
        email: order.email.clone(),
        customer: order.customer_name.clone(),
        created_at: "2026-11-20T00:00:00Z".into(),
        updated_at: "2026-11-20T00:00:00Z".into(),
        currency: order.total.currency,
        country: order.country.clone(),
        tags: vec![],
        discount_codes: vec![],
        lines: order
            .lines
            .iter()
            .map(|l| SimLine {
                id: l.id.clone(),
                sku: l.sku.clone(),
                title: l.title.clone(),
                barcode: None,
                image: None,
                product_tags: vec![],
                quantity: l.quantity,
                unit_price: l.unit_price.minor,
                discount: l.discount.minor,
            })
            .collect(),
        payment: (
            "gid://shopify/OrderTransaction/1".into(),
            "shopify_payments".into(),
            order.total.minor,
        ),
        refunds: vec![],
        fulfillment_orders: vec![],
    }
}

/// With a central store, it is the one that sends: a First-scan retailer's claimed actions go
/// to its Shopify shop (the simulator) once — a refund and a credit note — and a second pass
/// sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_central_store_sends_claimed_actions_to_the_retailers_shop_once() {
    use returnhub_central::dispatch::dispatch_due;
    use returnhub_central::shopify::{connect_shop, ShopifyDispatcher};
    use returnhub_connectors::shopify::{legacy_gift_card_code, refund_note};
    use returnhub_connectors::{ClientOptions, ShopCredentials};
    use shopify::simulator::{Simulator, TOKEN};

    let w = world().await;
    bolt_b1(&w).await;
    let scanned = w
        .bolt
        .tracking(&[TrackingIn {
            consignment_no: "B1".into(),
            code: "RT".into(),
            status: "In transit".into(),
            event_dt: "2026-11-23T10:00:00+10:00".into(),
            ..TrackingIn::default()
        }])
        .await;
    assert_eq!(scanned.actions_due, 2);

    // The shop holds Bolt's order as the central store knows it.
    let order = central_order(&w, "bolt");
    let sim = Simulator::start("Bolt Outdoor");
    sim.add_order(sim_order_of(&order));

    let storage = w.central.storage.clone();
    let vault_dir = tempfile::tempdir().unwrap();
    let vault = returnhub_central::shopify::vault(vault_dir.path());
    let data_dir = vault_dir.path().to_path_buf();
    let now = w.clock.now();
    let credentials = ShopCredentials::new(&sim.base(), TOKEN).unwrap();
    let (report, again, claims) = tokio::task::spawn_blocking(move || {
        // A wrong token is refused and nothing is kept; the right one connects.
        let wrong = ShopCredentials::new(&sim.base(), "shpat_wrong_0000000000000000").unwrap();
        assert!(connect_shop(storage.as_ref(), &vault, "bolt", &wrong, now).is_err());
        assert!(storage.shop_connections().unwrap().is_empty());
        let connection = connect_shop(storage.as_ref(), &vault, "bolt", &credentials, now).unwrap();
        assert_eq!(connection.shop_name, "Bolt Outdoor");
        let dispatcher =
            ShopifyDispatcher::new(storage.clone(), &vault, ClientOptions::default()).unwrap();
        let report = dispatch_due(storage.as_ref(), &dispatcher, now, 100).unwrap();
        let again = dispatch_due(storage.as_ref(), &dispatcher, now, 100).unwrap();
        let claims = storage
            .claims_in_state(wire::ClaimState::Confirmed, None, 10)
            .unwrap();
        let ledger = sim.ledger();
        let refunds = &ledger.orders[&order.id].refunds;
        assert_eq!(refunds.len(), 1, "one refund");
        assert_eq!(ledger.gift_cards.len(), 1, "one credit note");
        for claim in &claims {
            match claim.action.kind {
                returnhub_core::trigger::ActionKind::Refund => {
                    assert_eq!(
                        refunds[0].note.as_deref(),
                        Some(refund_note(&claim.action.key).as_str())
                    );
                    assert_eq!(
                        Some(refunds[0].amount),
                        claim.action.amount.map(|m| m.minor)
                    );
                }
                _ => {
                    // The code is made with the central store's own key: its CLI shows it,
                    // and the action's key alone does not give it.
                    let shown = cli(
                        &data_dir,
                        &["gift-card-code", "--action", claim.action.key.as_str()],
                    );
                    assert!(shown.status.success(), "{shown:?}");
                    let shown = String::from_utf8(shown.stdout).unwrap();
                    assert_eq!(ledger.gift_cards[0].code, shown.trim());
                    assert_ne!(
                        ledger.gift_cards[0].code,
                        legacy_gift_card_code(&claim.action.key)
                    );
                    assert_eq!(
                        Some(ledger.gift_cards[0].amount),
                        claim.action.amount.map(|m| m.minor)
                    );
                }
            }
        }
        (report, again, claims.len())
    })
    .await
    .unwrap();
    assert_eq!(report.sent, 2);
    assert_eq!(claims, 2, "both claims confirmed");
    assert_eq!(
        again.sent + again.reconciled,
        0,
        "a second pass sends nothing"
    );
}

/// Posts an `orders/updated` webhook as Shopify would: (status, body).
async fn post_webhook(
    w: &World,
    shop: &str,
    body: &str,
    signature: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    let answer = plain_client()
        .post(format!(
            "{}{}",
            w.central.url(),
            returnhub_central::api::SHOPIFY_ORDERS_UPDATED_PATH
        ))
        .header("X-Shopify-Topic", "orders/updated")
        .header("X-Shopify-Shop-Domain", shop)
        .header(
            "X-Shopify-Webhook-Id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        )
        .header("X-Shopify-Hmac-Sha256", signature)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = answer.status();
    (status, answer.json().await.unwrap_or_default())
}

/// Shopify's `orders/updated` webhook at the central store (hubs cannot be reached from the
/// internet): an unsigned or tampered delivery is refused and records nothing; a signed one
/// makes the central store read the order from the shop and record what changed for the hub
/// that holds the order, which pulls it; the same delivery again records nothing; an order no
/// hub holds is left to the hubs' imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orders_updated_webhook_brings_the_shops_change_to_the_hub_that_holds_the_order() {
    use returnhub_central::shopify::{connect_shop, set_webhook_secret};
    use returnhub_connectors::webhook::sign;
    use returnhub_connectors::ShopCredentials;
    use shopify::simulator::{Simulator, TOKEN};
    const SECRET: &str = "shpss_0123456789abcdef0123456789abcdef";

    let mut w = world().await;
    w.bolt
        .upload(&[upload_row("B1", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    let mut report = Default::default();
    while w.h1a.pull_one_page(&mut report).await.unwrap() {}
    let order = central_order(&w, "bolt");
    let sim = Simulator::start("Bolt Outdoor");
    let mut shop_order = sim_order_of(&order);
    sim.add_order(shop_order.clone());
    let mut elsewhere = sim_order_of(&order);
    elsewhere.id = "gid://shopify/Order/424242".into();
    elsewhere.name = "#424242".into();
    sim.add_order(elsewhere);

    let storage = w.central.storage.clone();
    let vault = returnhub_central::shopify::vault(&w.central.dir);
    let credentials = ShopCredentials::new(&sim.base(), TOKEN).unwrap();
    let now = w.clock.now();
    tokio::task::spawn_blocking(move || {
        assert!(
            set_webhook_secret(storage.as_ref(), &vault, "bolt", SECRET).is_err(),
            "not connected yet"
        );
        connect_shop(storage.as_ref(), &vault, "bolt", &credentials, now).unwrap();
        set_webhook_secret(storage.as_ref(), &vault, "bolt", SECRET).unwrap();
    })
    .await
    .unwrap();
    let shop = sim.base();
    let events = |w: &World| -> i64 {
        w.central
            .storage
            .with_conn(|c| {
                c.query_row(
                    "SELECT count(*) FROM events WHERE kind = 'order_updated'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap()
    };

    // The shop tags the order.
    shop_order.tags = vec!["vip".into()];
    sim.add_order(shop_order);
    let body = serde_json::json!({
        "id": 1, "admin_graphql_api_id": order.id, "updated_at": "2026-11-23T09:00:00Z",
    })
    .to_string();
    let signature = sign(SECRET.as_bytes(), body.as_bytes());
    let tampered = body.replace("09:00", "09:01");
    let (status, _) = post_webhook(&w, &shop, &tampered, &signature).await;
    assert_eq!(status, 401, "a tampered body is refused");
    let (status, _) = post_webhook(&w, &shop, &body, "").await;
    assert_eq!(status, 401, "an unsigned body is refused");
    let (status, _) = post_webhook(&w, "other.myshopify.com", &body, &signature).await;
    assert_eq!(status, 401, "a shop nobody is connected to");
    assert_eq!(events(&w), 0, "nothing recorded");

    let (status, answer) = post_webhook(&w, &shop, &body, &signature).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "updated");
    assert_eq!(central_order(&w, "bolt").tags, vec!["vip".to_owned()]);
    let (status, answer) = post_webhook(&w, &shop, &body, &signature).await;
    assert_eq!(
        (status.as_u16(), answer["outcome"].clone()),
        (200, "unchanged".into())
    );
    assert_eq!(events(&w), 1, "the same delivery again records nothing");

    // The hub that holds the order pulls the change.
    while w.h1a.pull_one_page(&mut report).await.unwrap() {}
    let tags: String = w
        .h1a
        .store
        .reader()
        .query_row(
            "SELECT tags_json FROM orders WHERE id = ?1",
            [&order.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tags, r#"["vip"]"#);

    let other =
        serde_json::json!({ "id": 2, "admin_graphql_api_id": "gid://shopify/Order/424242" })
            .to_string();
    let (status, answer) = post_webhook(
        &w,
        &shop,
        &other,
        &sign(SECRET.as_bytes(), other.as_bytes()),
    )
    .await;
    assert_eq!(
        (status.as_u16(), answer["outcome"].clone()),
        (200, "not_held".into())
    );
    assert_eq!(events(&w), 1);
}

/// A dispatcher whose first send is refused for good and whose later sends succeed; nothing
/// is ever found by reconciliation (the refused send did nothing). It notes each send's
/// context (its retries), as `dispatch_due` read it for the claim.
#[derive(Default)]
struct RefusesOnce {
    sends: std::sync::Mutex<u32>,
    reconciles: std::sync::Mutex<u32>,
    retries_sent: std::sync::Mutex<Vec<Option<u32>>>,
}

impl returnhub_central::dispatch::ActionDispatcher for RefusesOnce {
    fn target(&self) -> &str {
        "shopify"
    }
    fn dispatch(
        &self,
        _: &returnhub_central::storage::ActionClaim,
        context: &returnhub_central::dispatch::ClaimContext<'_>,
    ) -> returnhub_central::dispatch::DispatchOutcome {
        use returnhub_central::dispatch::DispatchOutcome;
        self.retries_sent
            .lock()
            .unwrap()
            .push(context.get().ok().map(|c| c.retries));
        let mut sends = self.sends.lock().unwrap();
        *sends += 1;
        if *sends == 1 {
            DispatchOutcome::Failed("refundCreate: Order is archived".into())
        } else {
            DispatchOutcome::Confirmed("gid://shopify/Refund/9".into())
        }
    }
    fn reconcile(
        &self,
        _: &returnhub_central::storage::ActionClaim,
        _: &returnhub_central::dispatch::ClaimContext<'_>,
    ) -> returnhub_central::dispatch::DispatchOutcome {
        *self.reconciles.lock().unwrap() += 1;
        returnhub_central::dispatch::DispatchOutcome::NotApplied
    }
}

/// With a central store, an action's end comes back to the hub that made it due: a refusal
/// shows on the hub (its outbox row failed, with the reason) and a supervisor's Retry there
/// (an `ActionRetried` event, pushed) sends the claim back through reconciliation at the
/// central store, then once more; the confirmation and its reference reach the hub. Another
/// device of the same hub, which never made the action due, gets a row with the failure
/// (never sent from there) and then the confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_action_reaches_the_hub_and_its_retry_there_is_reconciled_then_sent_once() {
    use returnhub_central::dispatch::dispatch_due;
    use returnhub_store::{EventInput, OutboxState};

    let mut w = world().await;
    let up = w
        .partner
        .upload(&[upload_row("F1", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    let return_id = up.rows[0].return_id.clone().unwrap();
    w.h1a.sync_once().await.unwrap();
    processed_with_action(&mut w.h1a.store, w.clock.now(), &return_id);
    w.h1a.sync_once().await.unwrap();
    let claim = w
        .central
        .storage
        .claims_in_state(wire::ClaimState::Claimed, None, 10)
        .unwrap()
        .pop()
        .expect("the hub's action is claimed");
    let key = claim.action.key.clone();

    let dispatcher = RefusesOnce::default();
    let storage = w.central.storage.clone();
    let now = w.clock.now();
    dispatch_due(storage.as_ref(), &dispatcher, now, 10).unwrap();
    w.h1a.sync_once().await.unwrap();
    w.h1b.sync_once().await.unwrap();
    let row = w.h1a.store.action(&key).unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Failed);
    assert_eq!(
        row.last_error.as_deref(),
        Some("refundCreate: Order is archived")
    );
    // Another device of the hub, which never made the action due, shows the failure too
    // (its supervisor may be the one at hand); the row is failed, so nothing sends it there.
    let other = w.h1b.store.action(&key).unwrap().expect("h1b shows it");
    assert_eq!(other.state, OutboxState::Failed);
    assert_eq!(other.last_error, row.last_error);

    // The supervisor's Retry on the hub.
    w.h1a
        .store
        .write(w.clock.now(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::ActionRetried {
                    key: key.clone(),
                    return_id: return_id.clone(),
                },
                actor: "u-sam".into(),
                station: None,
            })
        })
        .unwrap();
    w.h1a.sync_once().await.unwrap();
    assert_eq!(
        storage
            .claims_in_state(wire::ClaimState::Unknown, None, 10)
            .unwrap()
            .len(),
        1,
        "reconciled before anything is sent"
    );
    dispatch_due(storage.as_ref(), &dispatcher, now, 10).unwrap();
    assert_eq!(*dispatcher.reconciles.lock().unwrap(), 1);
    assert_eq!(
        *dispatcher.sends.lock().unwrap(),
        2,
        "sent once more, not twice"
    );
    assert_eq!(
        *dispatcher.retries_sent.lock().unwrap(),
        [Some(0), Some(1)],
        "each send with its claim's context as it was then"
    );
    w.h1a.sync_once().await.unwrap();
    w.h1b.sync_once().await.unwrap();
    let row = w.h1a.store.action(&key).unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Confirmed);
    assert_eq!(row.reference.as_deref(), Some("gid://shopify/Refund/9"));
    let other = w.h1b.store.action(&key).unwrap().unwrap();
    assert_eq!(other.state, OutboxState::Confirmed, "and its confirmation");
    dispatch_due(storage.as_ref(), &dispatcher, now, 10).unwrap();
    assert_eq!(*dispatcher.sends.lock().unwrap(), 2, "nothing more");
    let outcomes: i64 = w
        .central
        .storage
        .with_conn(|c| {
            c.query_row(
                "SELECT count(*) FROM events WHERE kind IN ('action_failed', 'action_confirmed')
                 AND hub_id = 'h1'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(outcomes, 2, "both ends recorded for the hub");
}

/// Bulk-imported orders travel as a few large `OrdersImported` events: a push and a pull page
/// are cut by payload bytes (at least one event each), so none nears the central store's
/// body limit, and another device of the hub gets every order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_import_events_sync_in_pages_cut_by_bytes() {
    use returnhub_core::record::{OrderLineRecord, OrderRecord};

    let mut w = world().await;
    let aud = |m| Money::new(m, aud());
    let orders: Vec<OrderRecord> = (0..2_500)
        .map(|n| OrderRecord {
            id: format!("gid://shopify/Order/{n}"),
            retailer_id: "acme".into(),
            order_number: format!("#B{n}"),
            customer_name: "Bulk Buyer".into(),
            email: format!("bulk{n}@example.com"),
            created_at: "2026-11-20T00:00:00.000Z".into(),
            country: "AU".into(),
            tags: vec![],
            subtotal: aud(5_000),
            discount: aud(0),
            total: aud(5_000),
            lines: vec![OrderLineRecord {
                id: format!("gid://shopify/LineItem/{n}"),
                sku: format!("SKU-{n}"),
                ean: None,
                title: "Bulk tee".into(),
                image: None,
                quantity: 1,
                unit_price: aud(5_000),
                discount: aud(0),
                product_tags: vec![],
            }],
        })
        .collect();
    let events: Vec<DomainEvent> = orders
        .chunks(1_000)
        .map(|c| DomainEvent::OrdersImported {
            retailer_id: "acme".into(),
            orders: c.to_vec(),
        })
        .collect();
    let sizes: Vec<usize> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap().len())
        .collect();
    append(&mut w.h1a.store, w.clock.now(), events);
    // A budget smaller than one event: one event per push.
    let budget = (sizes[0] / 2) as u64;
    w.h1a.page_bytes = budget;
    let mut pushes = Vec::new();
    loop {
        match w.h1a.push_one_batch().await.unwrap() {
            0 => break,
            n => pushes.push(n),
        }
    }
    assert_eq!(pushes, vec![1, 1, 1], "one large event per push");
    // Twice an event's size: pages of one or two events.
    w.h1b.page_bytes = (sizes[0] * 2 + sizes[0] / 2) as u64;
    let mut report = Default::default();
    let mut pages = 1;
    while w.h1b.pull_one_page(&mut report).await.unwrap() {
        pages += 1;
    }
    assert!(pages >= 2, "the pull was cut into pages ({pages})");
    let held: i64 = w
        .h1b
        .store
        .reader()
        .query_row(
            "SELECT count(*) FROM orders WHERE retailer_id = 'acme' AND order_number LIKE '#B%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(held, 2_500, "every order reached the other device");
    let at_central: i64 = w
        .central
        .storage
        .with_conn(|c| {
            c.query_row(
                "SELECT count(*) FROM orders WHERE order_number LIKE '#B%' AND hub_id = 'h1'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(at_central, 2_500, "and the central store's orders");
}

/// A hub that sent its actions itself before it synced here: the outcomes it pushes settle
/// the claims, so the central store does not send a confirmed action again (and leaves a
/// refused one failed, for the hub's Retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_a_hub_reached_itself_settle_the_claims() {
    use returnhub_central::dispatch::dispatch_due;

    let mut w = world().await;
    let up = w
        .partner
        .upload(&[
            upload_row("S1", "#1", "SKU-1", "h1", "REFUND"),
            upload_row("S2", "#2", "SKU-1", "h1", "REFUND"),
        ])
        .await;
    w.h1a.sync_once().await.unwrap();
    let mut keys = Vec::new();
    for (row, outcome) in up.rows.iter().zip(["confirmed", "failed"]) {
        let return_id = row.return_id.clone().unwrap();
        let events = processed_with_action(&mut w.h1a.store, w.clock.now(), &return_id);
        let Some(DomainEvent::ActionDue(action)) = events.last() else {
            panic!("an action is due: {events:?}");
        };
        let event = if outcome == "confirmed" {
            DomainEvent::ActionConfirmed {
                key: action.key.clone(),
                return_id: return_id.clone(),
                target: "shopify".into(),
                reference: "gid://shopify/Refund/1".into(),
                paid: None,
            }
        } else {
            DomainEvent::ActionFailed {
                key: action.key.clone(),
                return_id: return_id.clone(),
                target: "shopify".into(),
                reason: "refundCreate: Order is archived".into(),
            }
        };
        append(&mut w.h1a.store, w.clock.now(), vec![event]);
        keys.push(action.key.as_str().to_owned());
    }
    w.h1a.sync_once().await.unwrap();
    let storage = w.central.storage.clone();
    let state = |key: &str| -> String {
        storage
            .with_conn(|c| {
                c.query_row(
                    "SELECT state FROM action_claims WHERE key = ?1",
                    [key],
                    |r| r.get(0),
                )
            })
            .unwrap()
    };
    assert_eq!(state(&keys[0]), "confirmed");
    assert_eq!(state(&keys[1]), "failed");
    let dispatcher = RefusesOnce::default();
    dispatch_due(storage.as_ref(), &dispatcher, w.clock.now(), 10).unwrap();
    assert_eq!(*dispatcher.sends.lock().unwrap(), 0, "nothing sent again");
}

/// The Upload API's connote lookup is the calling retailer's: another retailer uploading a
/// consignment number that is already one of Acme's returns (even for an order with the same
/// number) neither learns that return's id nor gets it as its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connote_of_another_retailer_is_neither_revealed_nor_taken() {
    let w = world().await;
    let acme = w
        .partner
        .upload(&[upload_row("SHARED1", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    let acme_return = acme.rows[0].return_id.clone().expect("Acme's return");
    let bolt = w
        .bolt
        .upload(&[upload_row("SHARED1", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    let row = &bolt.rows[0];
    assert_eq!(row.return_id, None, "not Acme's return");
    let said = serde_json::to_string(&bolt).unwrap();
    assert!(!said.contains(&acme_return), "nothing of Acme's: {said}");
    assert!(said.contains("already in use"), "{said}");
    // Acme's own resend still finds its return.
    let again = w
        .partner
        .upload(&[upload_row("SHARED1", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    assert_eq!(
        again.rows[0].return_id.as_deref(),
        Some(acme_return.as_str())
    );
}

/// A target that never gives a certain answer: every send and every check is "unknown".
struct Silent;

impl returnhub_central::dispatch::ActionDispatcher for Silent {
    fn target(&self) -> &str {
        "silent"
    }
    fn dispatch(
        &self,
        _: &returnhub_central::storage::ActionClaim,
        _: &returnhub_central::dispatch::ClaimContext<'_>,
    ) -> returnhub_central::dispatch::DispatchOutcome {
        returnhub_central::dispatch::DispatchOutcome::Unknown("timed out".into())
    }
    fn reconcile(
        &self,
        _: &returnhub_central::storage::ActionClaim,
        _: &returnhub_central::dispatch::ClaimContext<'_>,
    ) -> returnhub_central::dispatch::DispatchOutcome {
        returnhub_central::dispatch::DispatchOutcome::Unknown("no answer".into())
    }
}

/// Unknown outcomes are checked again later and later with jitter, a new claim never waits
/// behind them, and after the cap a claim ends failed: the return's hub is told, for its
/// supervisors to see and retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_actions_are_checked_less_often_then_given_up_and_new_ones_go_first() {
    use returnhub_central::dispatch::{check_delay_ms, dispatch_due, MAX_CHECKS};
    let w = world().await;
    let rows: Vec<_> = (0..60)
        .map(|n| {
            upload_row(
                &format!("U{n:03}"),
                &format!("#{n}"),
                "SKU-1",
                "h1",
                "REFUND",
            )
        })
        .collect();
    assert_eq!(w.bolt.upload(&rows).await.returns_created, 60);
    let first: Vec<_> = (0..50).map(|n| rt(&format!("U{n:03}"))).collect();
    assert_eq!(w.bolt.tracking(&first).await.actions_due, 50);
    let storage = &w.central.storage;
    let mut now = w.clock.now();
    // The first pass sends all 50 (unknown); the next checks each once: still unknown, each
    // deferred.
    let report = dispatch_due(storage.as_ref(), &Silent, now, 100).unwrap();
    assert_eq!((report.sent, report.reconciled), (50, 0));
    let report = dispatch_due(storage.as_ref(), &Silent, now, 100).unwrap();
    assert_eq!((report.sent, report.reconciled), (0, 50));
    let pending = storage
        .claims_in_state(wire::ClaimState::Unknown, None, 1000)
        .unwrap();
    assert_eq!(pending.len(), 50);
    assert!(pending.iter().all(|c| c.checks == 1));
    // Not checked again before its time.
    let again = dispatch_due(storage.as_ref(), &Silent, now + 1_000, 100).unwrap();
    assert_eq!((again.sent, again.reconciled), (0, 0));
    // Jittered: the 50 are not all due at one moment.
    let delays: std::collections::BTreeSet<i64> =
        pending.iter().map(|c| check_delay_ms(1, &c.key)).collect();
    assert!(delays.len() > 10, "{delays:?}");
    assert!(delays.iter().all(|d| (15_000..=30_000).contains(d)));

    // A new claim goes out on the next pass, however many old ones are due for a check.
    let late: Vec<_> = (50..60).map(|n| rt(&format!("U{n:03}"))).collect();
    assert_eq!(w.bolt.tracking(&late).await.actions_due, 10);
    now += 3_600_000;
    let report = dispatch_due(storage.as_ref(), &Silent, now, 20).unwrap();
    assert_eq!(report.sent, 10, "new claims first");

    // Checked until the cap, then failed, and the hub is told.
    for _ in 0..MAX_CHECKS + 1 {
        now += 2 * 3_600_000;
        dispatch_due(storage.as_ref(), &Silent, now, 1000).unwrap();
    }
    let failed = storage
        .claims_in_state(wire::ClaimState::Failed, None, 1000)
        .unwrap();
    assert_eq!(failed.len(), 60);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("after {MAX_CHECKS} checks")),
        "{:?}",
        failed[0].last_error
    );
    let told: i64 = storage
        .with_conn(|c| {
            c.query_row(
                "SELECT count(*) FROM events WHERE kind = 'action_failed' AND hub_id = 'h1'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(told, 60);
}

/// An action a hub makes due is checked against the order: no more than the items are worth,
/// in the order's currency, on items of the return, and never for a retailer whose actions
/// become due at the carrier's first scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_action_is_checked_against_what_the_order_allows() {
    let mut w = world().await;
    let up = w
        .partner
        .upload(&[upload_row("M1", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    let return_id = up.rows[0].return_id.clone().unwrap();
    w.h1a.sync_once().await.unwrap();
    let item: String = w
        .h1a
        .store
        .reader()
        .query_row(
            "SELECT id FROM return_items WHERE return_id = ?1",
            [&return_id],
            |r| r.get(0),
        )
        .unwrap();
    let due = |retailer: &str, item: &str, amount: Money| {
        actions_due(
            Trigger::Processing,
            ReturnEvent::Processed,
            retailer,
            &return_id,
            &[ItemOutcome {
                item_id: item.into(),
                outcome: Outcome::Refund,
                amount: Some(amount),
            }],
        )
        .remove(0)
    };
    let nzd: Currency = "NZD".parse().unwrap();
    let attempts = [
        due("acme", &item, Money::new(4996, aud())),
        due("acme", &item, Money::new(100, nzd)),
        due("acme", "not-an-item", Money::new(100, aud())),
    ];
    append(
        &mut w.h1a.store,
        w.clock.now(),
        attempts
            .iter()
            .cloned()
            .map(DomainEvent::ActionDue)
            .collect(),
    );
    let answer = push_all(&mut w.h1a).await;
    let why: Vec<&str> = answer.held.iter().map(|h| h.reason.as_str()).collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(
        why[0].contains("more than its items are worth") && why[0].contains("(4995)"),
        "{why:?}"
    );
    assert!(why[1].contains("is in NZD"), "{why:?}");
    assert!(
        why[2].contains("item not-an-item is not on return"),
        "{why:?}"
    );
    let claims = w
        .central
        .storage
        .claims_in_state(wire::ClaimState::Claimed, None, 10)
        .unwrap();
    assert!(claims.is_empty(), "{claims:?}");
    // What the item is worth goes through.
    append(
        &mut w.h1a.store,
        w.clock.now(),
        vec![DomainEvent::ActionDue(due(
            "acme",
            &item,
            Money::new(4995, aud()),
        ))],
    );
    // (push_all leaves the outbox as it is: the three refused go again, refused again.)
    let again = push_all(&mut w.h1a).await;
    assert_eq!((again.held.len(), again.new), (3, 1), "{again:?}");
    assert_eq!(
        w.central
            .storage
            .claims_in_state(wire::ClaimState::Claimed, None, 10)
            .unwrap()
            .len(),
        1
    );
}
