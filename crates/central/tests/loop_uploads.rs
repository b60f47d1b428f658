//! Loop issues its own credit: the returns it uploads are marked as Loop's and are never
//! actioned anywhere (Shopify as well would pay twice). The hub's tracking events are what
//! Loop credits on; an action a hub makes due for such a return is refused, and a first scan
//! makes nothing due.

mod support;

use std::time::Duration;

use returnhub_central::storage::CentralStorage;
use returnhub_core::money::Money;
use returnhub_core::record::ReturnRecord;
use returnhub_core::rules::Outcome;
use returnhub_core::trigger::{actions_due, ItemOutcome, ReturnEvent, Trigger};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::Store;
use returnhub_sync::{HttpTransport, Syncer};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_uploads_are_loops_and_never_actioned_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let dir = tmp.path().join("central");
    let central = Central::start(&dir, clock.clone()).await;
    let mut hub = Syncer::new(
        Store::open(&tmp.path().join("hub.sqlite3")).unwrap(),
        HttpTransport::new(
            &central.url(),
            &create_device(&central.storage, "h1", clock.now()),
            Duration::from_secs(30),
        )
        .unwrap(),
        clock.as_fn(),
    );
    configure(
        &mut hub.store,
        clock.now(),
        &[
            retailer("acme", "Acme Apparel", Trigger::Processing),
            retailer("bolt", "Bolt Outdoor", Trigger::FirstScan),
        ],
    );
    hub.sync_once().await.unwrap();

    // The CLI makes a Loop key, and says Loop credits nothing without the tracking events.
    let out = cli(
        &dir,
        &[
            "add-api-key",
            "--retailer",
            "Acme Apparel",
            "--source",
            "loop_upload",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let acme_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(said.contains("sends no tracking events to Loop"), "{said}");
    let wrong = cli(
        &dir,
        &[
            "add-api-key",
            "--retailer",
            "Acme Apparel",
            "--source",
            "shopify",
        ],
    );
    assert!(!wrong.status.success());

    let loop_for = |name: &str, key: String| Partner {
        client: plain_client(),
        base: central.url(),
        key,
        retailer: name.into(),
    };
    let acme = loop_for("Acme Apparel", acme_key);
    let bolt = loop_for(
        "Bolt Outdoor",
        central
            .storage
            .create_api_key_for("Bolt Outdoor", "loop_upload", clock.now())
            .unwrap(),
    );
    let answer = acme
        .upload(&[upload_row("L1", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    assert_eq!(answer.returns_created, 1, "{answer:?}");
    let answer = bolt
        .upload(&[upload_row("L2", "#1", "SKU-1", "h1", "REFUND")])
        .await;
    assert_eq!(answer.returns_created, 1, "{answer:?}");

    // The same parcel from a plain partner key and from Loop: the second is refused, since
    // Loop would credit it and the retailer's routes action it too.
    let portal = loop_for(
        "Acme Apparel",
        central
            .storage
            .create_api_key_for("Acme Apparel", "partner_upload", clock.now())
            .unwrap(),
    );
    let answer = portal
        .upload(&[upload_row("P1", "#2", "SKU-1", "h1", "REFUND")])
        .await;
    assert_eq!(answer.returns_created, 1, "{answer:?}");
    for (who, consignment) in [(&acme, "P1"), (&portal, "L1")] {
        let answer = who
            .upload(&[upload_row(consignment, "#2", "SKU-1", "h1", "REFUND")])
            .await;
        assert_eq!(answer.rejected_rows, 1, "{answer:?}");
        assert!(
            answer.rows[0].errors[0].message.contains("pay twice"),
            "{answer:?}"
        );
    }

    // Marked as Loop's, at the central store and at the hub.
    hub.sync_once().await.unwrap();
    let record: ReturnRecord = hub
        .store
        .reader()
        .query_row(
            "SELECT r.id FROM returns r JOIN connotes c ON c.return_id = r.id
             WHERE c.connote = 'L1'",
            [],
            |r| r.get::<_, String>(0),
        )
        .map(|id| {
            central
                .storage
                .with_conn(|c| {
                    c.query_row("SELECT record FROM returns WHERE id = ?1", [&id], |r| {
                        r.get::<_, String>(0)
                    })
                })
                .unwrap()
        })
        .map(|json| serde_json::from_str(&json).unwrap())
        .unwrap();
    assert_eq!(record.source, "loop_upload");
    let source_at_hub = hub.store.return_source(&record.id).unwrap();
    assert_eq!(source_at_hub.as_deref(), Some("loop_upload"));

    // A hub's refund for it is refused: Loop pays it.
    let due = actions_due(
        Trigger::Processing,
        ReturnEvent::Processed,
        "acme",
        &record.id,
        &[ItemOutcome {
            item_id: record.items[0].id.clone(),
            outcome: Outcome::Refund,
            amount: Some(Money::new(100, aud())),
        }],
    );
    append(
        &mut hub.store,
        clock.now(),
        vec![DomainEvent::ActionDue(due[0].clone())],
    );
    hub.sync_once().await.unwrap();
    let held = hub.store.held_events(10).unwrap();
    assert_eq!(held.len(), 1);
    assert!(
        held[0]
            .reason
            .contains("uploaded by Loop, which credits it itself"),
        "{}",
        held[0].reason
    );

    // A first-scan retailer's Loop return: the carrier's RT makes nothing due.
    let rt = bolt
        .tracking(&[returnhub_protocol::wire::TrackingIn {
            consignment_no: "L2".into(),
            code: "RT".into(),
            status: "In transit".into(),
            event_dt: "2026-11-23T08:00:00+13:00".into(),
            carrier: Some("nzpost".into()),
            item_no: None,
        }])
        .await;
    assert_eq!((rt.recorded, rt.actions_due), (1, 0));
    let claims: i64 = central
        .storage
        .with_conn(|c| c.query_row("SELECT count(*) FROM action_claims", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(claims, 0, "nothing of Loop's returns is actioned here");
}
