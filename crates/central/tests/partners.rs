//! With a central store, it is the one that sends partner actions too: a hub's Loop return
//! (source "loop", Loop's ids) is processed there and its partner update pushed; the central
//! store's dispatcher (a router over the retailer's connections: the connection from the
//! retailer's configuration, the key set here with `partner-secret` after a test) sends it to
//! the Loop simulator once, keeps it unknown while Loop only queued it, and confirms it under
//! "loop" when Loop closes the return; the hub learns the outcome when it syncs.

mod support;

#[allow(dead_code)]
#[path = "../../connectors/tests/support/loop_sim.rs"]
mod loop_sim;
#[allow(dead_code)]
#[path = "../../connectors/tests/support/receiver.rs"]
mod receiver;

use std::time::Duration;

use loop_sim::{LoopSim, SimState, API_KEY};
use returnhub_central::dispatch::dispatch_due;
use returnhub_central::shopify::{set_partner_secret, ShopifyDispatcher};
use returnhub_central::storage::CentralStorage;
use returnhub_connectors::ClientOptions;
use returnhub_core::bench::{Disposition, InspectionRecord, Presence};
use returnhub_core::decision::ReturnOption;
use returnhub_core::event::{
    DomainEvent, OrderLineRecord, OrderRecord, ReturnItemRecord, ReturnRecord,
};
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::Money;
use returnhub_core::partner::{ActionTarget, PartnerConnection};
use returnhub_core::rules::{Grade, QcStatus};
use returnhub_core::trigger::{ActionDue, ActionKind, IdempotencyKey, Trigger};
use returnhub_store::{OutboxState, Store};
use returnhub_sync::wire::ClaimState;
use returnhub_sync::{HttpTransport, Syncer};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_central_store_sends_a_loop_returns_update_once_and_confirms_it_when_loop_closes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let token = create_device(&central.storage, "h1", clock.now());
    let store = Store::open(&tmp.path().join("h1.sqlite3")).unwrap();
    let transport = HttpTransport::new(&central.url(), &token, Duration::from_secs(10)).unwrap();
    let mut hub = Syncer::new(store, transport, clock.as_fn());

    let sim = LoopSim::start();
    sim.add_return("7001", &[("801", "SKU-L1")]);
    let mut acme = retailer("acme", "Acme Apparel", Trigger::Processing);
    acme.policy.partners.connections.push(PartnerConnection {
        target: ActionTarget::Loop,
        base_url: sim.base(),
        username: None,
        domain: None,
        qc_path: None,
        photo_url_base: None,
        connected_at: "2026-11-23T00:00:00.000Z".into(),
    });
    configure(&mut hub.store, clock.now(), &[acme]);
    let aud = |m| Money::new(m, aud());
    let action = ActionDue {
        key: IdempotencyKey::derive("acme", "R-L1", &["R-L1-i1"], ActionKind::PartnerUpdate),
        retailer_id: "acme".into(),
        return_id: "R-L1".into(),
        item_ids: vec!["R-L1-i1".into()],
        kind: ActionKind::PartnerUpdate,
        amount: None,
        credit_note_expiry_days: None,
    };
    append(
        &mut hub.store,
        clock.now(),
        vec![
            DomainEvent::OrderImported(OrderRecord {
                id: "O-L1".into(),
                retailer_id: "acme".into(),
                order_number: "#L1".into(),
                customer_name: "Ana".into(),
                email: "ana@example.com".into(),
                created_at: "2026-11-01T00:00:00.000Z".into(),
                country: "AU".into(),
                tags: vec![],
                subtotal: aud(5_000),
                discount: aud(0),
                total: aud(5_000),
                lines: vec![OrderLineRecord {
                    id: "O-L1-l1".into(),
                    sku: "SKU-L1".into(),
                    ean: None,
                    title: "Shell jacket".into(),
                    image: None,
                    quantity: 1,
                    unit_price: aud(5_000),
                    discount: aud(0),
                    product_tags: vec![],
                }],
            }),
            DomainEvent::ReturnExpected(ReturnRecord {
                id: "R-L1".into(),
                retailer_id: "acme".into(),
                hub_id: "h1".into(),
                order_id: "O-L1".into(),
                source: "loop".into(),
                external_id: Some("7001".into()),
                status: ReturnStatus::Expected,
                created_at: "2026-11-02T00:00:00.000Z".into(),
                connotes: vec!["LOOPC1".into()],
                items: vec![ReturnItemRecord {
                    id: "R-L1-i1".into(),
                    external_id: Some("801".into()),
                    order_line_id: "O-L1-l1".into(),
                    quantity: 1,
                    reason_code: "too_small".into(),
                    sub_reason_code: None,
                    comment: None,
                    chosen_option: Some(ReturnOption::Refund),
                }],
            }),
            DomainEvent::ItemInspected(InspectionRecord {
                id: "I-L1".into(),
                return_id: "R-L1".into(),
                item_id: "R-L1-i1".into(),
                presence: Presence::Found,
                qc: Some(QcStatus::Pass),
                qc_reason: None,
                grade: Some(Grade::A),
                disposition: Some(Disposition::BackToStock),
                note: None,
                photos: vec![],
            }),
            DomainEvent::ActionDue(action.clone()),
        ],
    );
    hub.sync_once().await.unwrap();

    let storage = central.storage.clone();
    let vault_dir = tempfile::tempdir().unwrap();
    let vault = returnhub_central::shopify::vault(vault_dir.path());
    let now = clock.now();
    let sim_for_dispatch = sim.clone();
    let (first, unknown, second, confirmed) = tokio::task::spawn_blocking(move || {
        // The key is tested against the retailer's connection before it is kept.
        let refused = set_partner_secret(storage.as_ref(), &vault, "acme", "loop", "wrong-key");
        assert!(refused.unwrap_err().contains("did not accept"));
        let dispatcher =
            ShopifyDispatcher::new(storage.clone(), &vault, ClientOptions::default()).unwrap();
        assert!(
            dispatcher.is_empty(),
            "no secret yet: nothing to send through"
        );
        set_partner_secret(storage.as_ref(), &vault, "acme", "loop", API_KEY).unwrap();
        let dispatcher =
            ShopifyDispatcher::new(storage.clone(), &vault, ClientOptions::default()).unwrap();
        let first = dispatch_due(storage.as_ref(), &dispatcher, now, 100).unwrap();
        let unknown = storage
            .claims_in_state(ClaimState::Unknown, None, 10)
            .unwrap()
            .len();
        assert!(sim_for_dispatch.complete("7001"));
        let second = dispatch_due(storage.as_ref(), &dispatcher, now, 100).unwrap();
        let confirmed = storage
            .claims_in_state(ClaimState::Confirmed, None, 10)
            .unwrap()
            .len();
        (first, unknown, second, confirmed)
    })
    .await
    .unwrap();
    assert_eq!(first.sent, 1);
    assert_eq!(
        unknown, 1,
        "Loop only queued it: unknown until Loop closes the return"
    );
    assert_eq!(second.reconciled, 1);
    assert_eq!(confirmed, 1);
    check_loop_webhooks(&central).await;
    let at_loop = sim.get("7001");
    assert_eq!(at_loop.state, SimState::Closed);
    assert_eq!(at_loop.processed, 1, "processed once");
    assert_eq!(at_loop.grades["801"]["condition_category"], "grade_a");

    // The hub learns the outcome, recorded under "loop".
    hub.sync_once().await.unwrap();
    let row = hub.store.action(&action.key).unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Confirmed);
    let target: String = hub
        .store
        .reader()
        .query_row(
            "SELECT json_extract(payload, '$.target') FROM events WHERE kind = 'action_confirmed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(target, "loop");
}

/// Loop's webhooks at `/v1/loop/webhook/{retailer}`: refused until a secret is set, then
/// only with a valid `X-Loop-Signature` over the exact body (checked before it is read).
async fn check_loop_webhooks(central: &Central) {
    use returnhub_connectors::loop_returns::sign_webhook;
    let url = format!("{}/v1/loop/webhook/acme", central.url());
    let body = r#"{"topic":"return.closed","return":{"id":7001}}"#;
    let secret = "loop-webhook-secret-0123456789";
    let post = |body: &'static str, signature: Option<String>| {
        let url = url.clone();
        async move {
            let mut request = plain_client()
                .post(url)
                .header("Content-Type", "application/json")
                .body(body);
            if let Some(s) = signature {
                request = request.header("X-Loop-Signature", s);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (
                status,
                answer.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let signed = sign_webhook(secret.as_bytes(), body.as_bytes());
    let (status, _) = post(body, Some(signed.clone())).await;
    assert_eq!(status, 401, "no secret set yet: refused");
    let vault = returnhub_central::shopify::vault(&central.dir);
    returnhub_central::shopify::set_loop_webhook_secret(&vault, "acme", secret).unwrap();
    let (status, answer) = post(body, Some(signed.clone())).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["topic"], "return.closed");
    assert_eq!(answer["return_id"], "7001");
    assert_eq!(
        answer["awaiting"], 0,
        "confirmed already: nothing waits for Loop"
    );
    let tampered = r#"{"topic":"return.closed","return":{"id":7002}}"#;
    let (status, answer) = post(tampered, Some(signed)).await;
    assert_eq!(status, 401, "a tampered body is refused: {answer}");
    let (status, _) = post(body, None).await;
    assert_eq!(status, 401, "an unsigned one too");
    let wrong = sign_webhook(b"another-secret-0123456789", body.as_bytes());
    let (status, _) = post(body, Some(wrong)).await;
    assert_eq!(status, 401, "and one signed with another secret");
}
