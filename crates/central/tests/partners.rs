//! With a central store, it is the one that sends partner actions too: a hub's Loop return
//! (source "loop", Loop's ids) is processed there and its partner update pushed; the central
//! store's dispatcher (a router over the retailer's connections: the connection from the
//! retailer's configuration, the key set here with `partner-secret` after a test) sends it to
//! the Loop simulator once, keeps it unknown while Loop only queued it, and confirms it under
//! "loop" when Loop closes the return; the hub learns the outcome when it syncs.

mod support;

use returnhub_simulators::loop_sim;

use std::time::Duration;

use loop_sim::{LoopSim, SimState, API_KEY};
use returnhub_central::dispatch::dispatch_due;
use returnhub_central::shopify::{set_partner_secret, ShopifyDispatcher};
use returnhub_central::storage::CentralStorage;
use returnhub_connectors::ClientOptions;
use returnhub_core::bench::{Disposition, InspectionRecord, Presence};
use returnhub_core::decision::ReturnOption;
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::Money;
use returnhub_core::partner::{ActionTarget, PartnerConnection};
use returnhub_core::record::{OrderLineRecord, OrderRecord, ReturnItemRecord, ReturnRecord};
use returnhub_core::rules::{Grade, QcStatus};
use returnhub_core::trigger::{ActionDue, ActionKind, IdempotencyKey, Trigger};
use returnhub_protocol::event::DomainEvent;
use returnhub_protocol::wire::ClaimState;
use returnhub_store::{OutboxState, Store};
use returnhub_sync::{HttpTransport, Syncer};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_central_store_sends_a_loop_returns_update_once_and_confirms_it_when_loop_closes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let mut hub = station(&central, tmp.path(), "h1", &clock);

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
        insecure: false,
    });
    configure(&mut hub.store, clock.now(), &[acme]);
    let action = ActionDue {
        key: IdempotencyKey::derive("acme", "R-L1", &["R-L1-i1"], ActionKind::PartnerUpdate),
        retailer_id: "acme".into(),
        return_id: "R-L1".into(),
        item_ids: vec!["R-L1-i1".into()],
        kind: ActionKind::PartnerUpdate,
        amount: None,
        credit_note_expiry_days: None,
    };
    let mut events = Expected {
        order: "O-L1",
        sku: "SKU-L1",
        return_id: "R-L1",
        source: "loop",
        external_ids: Some(("7001", "801")),
        connote: "LOOPC1",
    }
    .events();
    events.extend([
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
    ]);
    append(&mut hub.store, clock.now(), events);
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
    let post = |body: &str, signature: Option<String>| {
        post_signed(&url, "X-Loop-Signature", body.to_owned(), signature)
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

/// Increff's notifications at `/v1/increff/webhook/{retailer}`: refused until a secret is
/// set, then only with a valid signature over the exact body; a pick-up of a known AWB is
/// recorded once as its RT tracking event and pulled by the return's hub (which forwards it
/// to the retailer's tracking webhook URLs); an AWB no return has is recorded, not pulled;
/// return order events are acknowledged and not used; an unknown event is a clear 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increff_notifications_are_signed_recorded_once_and_reach_the_return_s_hub() {
    use returnhub_connectors::increff_notify::sign;
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let mut hub = hub_of(&central, &clock, tmp.path(), Trigger::Processing);
    append(
        &mut hub.store,
        clock.now(),
        Expected {
            order: "O-I1",
            sku: "SKU-I1",
            return_id: "R-I1",
            source: "increff",
            external_ids: Some(("CP-I1", "IC-1")),
            connote: "INCAWB1",
        }
        .events(),
    );
    hub.sync_once().await.unwrap();

    let url = format!("{}/v1/increff/webhook/acme", central.url());
    let secret = "increff-webhook-secret-0123456789";
    let post = |body: &str, signature: Option<String>| {
        post_signed(&url, "X-Increff-Signature", body.to_owned(), signature)
    };
    let signed = |body: &str| Some(sign(secret.as_bytes(), body.as_bytes()));
    let pickup = r#"{"eventType":"RETURN_PICKED_UP","returnOrderCode":"CP-I1","awbNumber":"incawb1","courierName":"Delhivery","eventTime":"2026-11-23T08:00:00Z"}"#;
    let (status, _) = post(pickup, signed(pickup)).await;
    assert_eq!(status, 401, "no secret set yet: refused");
    let vault = returnhub_central::shopify::vault(&central.dir);
    assert!(returnhub_central::increff::set_webhook_secret(&vault, "acme", "short").is_err());
    returnhub_central::increff::set_webhook_secret(&vault, "acme", secret).unwrap();

    let (status, answer) = post(pickup, signed(pickup)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["event"], "RETURN_PICKED_UP");
    assert_eq!(answer["recorded"], true);
    assert_eq!(answer["return_id"], "R-I1");
    let (status, answer) = post(pickup, signed(pickup)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["duplicate"], true,
        "Increff's resend is recorded once"
    );

    let tampered = pickup.replace("incawb1", "incawb2");
    let (status, _) = post(&tampered, signed(pickup)).await;
    assert_eq!(status, 401, "a tampered body is refused");
    let (status, _) = post(pickup, None).await;
    assert_eq!(status, 401, "an unsigned one too");
    let wrong = sign(b"another-secret-0123456789", pickup.as_bytes());
    let (status, _) = post(pickup, Some(wrong)).await;
    assert_eq!(status, 401, "and one signed with another secret");

    let rto = r#"{"eventType":"RTO","awbNumber":"NOSUCHAWB9"}"#;
    let (status, answer) = post(rto, signed(rto)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["recorded"], true);
    assert!(answer["return_id"].is_null());
    assert!(answer["note"].as_str().unwrap().contains("not forwarded"));
    // Without an eventTime, its redelivery — later, by the clock — is still the same event.
    clock.advance(90_000);
    let (status, answer) = post(rto, signed(rto)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["duplicate"], true, "{answer}");
    let create = r#"{"eventType":"RETURN_ORDER_CREATE","returnOrderCode":"CP-I9"}"#;
    let (status, answer) = post(create, signed(create)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["recorded"], false);
    let odd = r#"{"eventType":"SHIPPED","awbNumber":"INCAWB1"}"#;
    let (status, answer) = post(odd, signed(odd)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("unknown eventType"));
    let bad_awb = r#"{"eventType":"RTO","awbNumber":"AWB 1 2"}"#;
    let (status, answer) = post(bad_awb, signed(bad_awb)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("ConsignmentNo"));

    // The return's hub pulls the pick-up (and only its own events) to forward it.
    hub.sync_once().await.unwrap();
    let pulled = hub.store.unforwarded_tracking(10).unwrap();
    assert_eq!(pulled.len(), 1, "{pulled:?}");
    assert_eq!(pulled[0].return_id.as_deref(), Some("R-I1"));
    assert_eq!(pulled[0].connote, "INCAWB1");
    assert_eq!(pulled[0].code, "RT");
    assert_eq!(pulled[0].source, "increff/Delhivery");
    hub.sync_once().await.unwrap();
    assert_eq!(
        hub.store.unforwarded_tracking(10).unwrap().len(),
        1,
        "pulled once"
    );
}

/// A first-scan action the central store made due itself (a carrier's RT for a First-scan
/// retailer) and failed to send shows on the return's hub: the pulled failure gives the hub a
/// row, already failed (never sent from the hub), which its supervisor retries — and the retry
/// reopens the central store's claim for reconciliation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_action_the_central_store_made_due_shows_on_the_return_s_hub() {
    use returnhub_central::storage::ClaimEnd;
    use returnhub_store::EventInput;
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let mut hub = hub_of(&central, &clock, tmp.path(), Trigger::FirstScan);
    append(
        &mut hub.store,
        clock.now(),
        Expected {
            order: "O-F1",
            sku: "SKU-F1",
            return_id: "R-F1",
            source: "portal",
            external_ids: None,
            connote: "FSAWB1",
        }
        .events(),
    );
    hub.sync_once().await.unwrap();
    let partner = Partner::with_new_key(&central, "Acme Apparel", clock.now());
    let answer = partner
        .tracking(&[returnhub_protocol::wire::TrackingIn {
            consignment_no: "FSAWB1".into(),
            code: "RT".into(),
            status: "In transit".into(),
            event_dt: "2026-11-23T08:00:00Z".into(),
            carrier: Some("NZ Post".into()),
            item_no: None,
        }])
        .await;
    assert_eq!(answer.actions_due, 1, "{answer:?}");
    let claims = central
        .storage
        .claims_in_state(ClaimState::Claimed, None, 10)
        .unwrap();
    assert_eq!(claims.len(), 1);
    let claim = claims[0].clone();
    assert!(central
        .storage
        .finish_claim(
            &claim,
            ClaimState::Claimed,
            &ClaimEnd::Failed {
                target: "shopify".into(),
                reason: "Shopify refused the refund: order is archived".into(),
            },
            clock.now(),
        )
        .unwrap());

    // Before this, the hub held no row for an action it never made due: F5 showed nothing.
    hub.sync_once().await.unwrap();
    let troubled = hub.store.troubled_actions(10).unwrap();
    assert_eq!(troubled.len(), 1, "{troubled:?}");
    assert_eq!(troubled[0].action.key.as_str(), claim.key);
    assert_eq!(troubled[0].state, OutboxState::Failed);
    assert!(troubled[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("archived"));
    assert!(
        hub.store
            .due_actions(None, i64::MAX, 10)
            .unwrap()
            .is_empty(),
        "a failed row is never sent from the hub"
    );

    // The supervisor retries it at the hub; the central store reconciles it before resending.
    let key = troubled[0].action.key.clone();
    hub.store
        .write(clock.now(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::ActionRetried {
                    key: key.clone(),
                    return_id: "R-F1".into(),
                },
                actor: "SV-2001".into(),
                station: Some("bench-1".into()),
            })
            .map(|_| ())
        })
        .unwrap();
    hub.sync_once().await.unwrap();
    let reopened = central
        .storage
        .claims_in_state(ClaimState::Unknown, None, 10)
        .unwrap();
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].key, claim.key);
}

/// Hub h1's store, syncing with `central`, with retailer acme (`trigger`) configured.
fn hub_of(
    central: &Central,
    clock: &SimClock,
    dir: &std::path::Path,
    trigger: Trigger,
) -> Syncer<HttpTransport> {
    let token = create_device(&central.storage, "h1", clock.now());
    let store = Store::open(&dir.join("h1.sqlite3")).unwrap();
    let transport = HttpTransport::new(&central.url(), &token, Duration::from_secs(10)).unwrap();
    let mut hub = Syncer::new(store, transport, clock.as_fn());
    configure(
        &mut hub.store,
        clock.now(),
        &[retailer("acme", "Acme Apparel", trigger)],
    );
    hub
}

/// An order of one line and its expected return at hub h1 of retailer acme, as a hub records
/// them; `external_ids`: the partner's (return, item) ids.
struct Expected<'a> {
    order: &'a str,
    sku: &'a str,
    return_id: &'a str,
    source: &'a str,
    external_ids: Option<(&'a str, &'a str)>,
    connote: &'a str,
}

impl Expected<'_> {
    fn events(&self) -> Vec<DomainEvent> {
        let aud = |m| Money::new(m, aud());
        let line = format!("{}-l1", self.order);
        vec![
            DomainEvent::OrderImported(OrderRecord {
                id: self.order.into(),
                retailer_id: "acme".into(),
                order_number: format!("#{}", self.order),
                customer_name: "Ana".into(),
                email: "ana@example.com".into(),
                created_at: "2026-11-01T00:00:00.000Z".into(),
                country: "AU".into(),
                tags: vec![],
                subtotal: aud(5_000),
                discount: aud(0),
                total: aud(5_000),
                lines: vec![OrderLineRecord {
                    id: line.clone(),
                    sku: self.sku.into(),
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
                id: self.return_id.into(),
                retailer_id: "acme".into(),
                hub_id: "h1".into(),
                order_id: self.order.into(),
                source: self.source.into(),
                external_id: self.external_ids.map(|(r, _)| r.to_owned()),
                status: ReturnStatus::Expected,
                created_at: "2026-11-02T00:00:00.000Z".into(),
                connotes: vec![self.connote.into()],
                items: vec![ReturnItemRecord {
                    id: format!("{}-i1", self.return_id),
                    external_id: self.external_ids.map(|(_, i)| i.to_owned()),
                    order_line_id: line,
                    quantity: 1,
                    reason_code: "too_small".into(),
                    sub_reason_code: None,
                    comment: None,
                    chosen_option: Some(ReturnOption::Refund),
                }],
            }),
        ]
    }
}

/// POSTs `body` to `url` with `header: signature` if given: (status, JSON answer).
async fn post_signed(
    url: &str,
    header: &str,
    body: String,
    signature: Option<String>,
) -> (u16, serde_json::Value) {
    let mut request = plain_client()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(s) = signature {
        request = request.header(header, s);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (
        status,
        answer.json::<serde_json::Value>().await.unwrap_or_default(),
    )
}
