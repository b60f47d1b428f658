//! An unknown parcel matched to a Returns Prime request at the orphan intake, on a real store
//! and the Returns Prime simulator (a real socket): the operator looks the parcel's AWB or
//! the request number up, attaches the parcel (the request read again; rejected requests,
//! SKUs not on the order, another retailer's order and an already processed return refused,
//! nothing written), inspects and processes it at the bench, and the hub's own dispatch thread
//! sends the processing update to Returns Prime. A retailer whose token is not on this device
//! and a Returns Prime answering 5xx are named in clear sentences; signed-out is refused.

mod support;

use returnhub_simulators::rp_sim;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use returnhub_core::model::{ReturnStatus, ScanVerdict};
use returnhub_core::money::{Currency, Money};
use returnhub_core::partner::{ActionTarget, PartnerConnection};
use returnhub_core::record::{OrderLineRecord, OrderRecord};
use returnhub_core::trigger::{ActionDue, ActionKind, IdempotencyKey};
use returnhub_hub::{
    ErrorCode, ErrorView, Hub, HubOptions, PartnerConnectionInput, ReturnsPrimeLookup,
};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, OutboxState, Store};
use rp_sim::{Fault, RpLine, RpRequestSim, RpSim, TOKEN};

const NOW: i64 = 1_795_461_900_000; // 2026-11-23T19:25:00Z

fn demo_hub(dir: &Path) -> Arc<Hub> {
    Arc::new(Hub::open(HubOptions::demo(dir)).unwrap())
}

/// Kōwhai's order `number` (id `ORD-{bare number}`), one line per SKU.
fn import_order(dir: &Path, number: &str, skus: &[&str]) -> String {
    let nzd = |m| Money::new(m, Currency::NZD);
    let id = format!("ORD-{}", number.trim_start_matches('#'));
    let mut store = Store::open(&dir.join("returnhub.db")).unwrap();
    store
        .write(NOW, |tx| {
            tx.append(EventInput {
                event: DomainEvent::OrderImported(OrderRecord {
                    id: id.clone(),
                    retailer_id: "kowhai".into(),
                    order_number: number.into(),
                    customer_name: "Mere".into(),
                    email: "mere@example.com".into(),
                    created_at: "2026-11-10T00:00:00.000Z".into(),
                    country: "NZ".into(),
                    tags: vec![],
                    subtotal: nzd(13_800),
                    discount: nzd(0),
                    total: nzd(13_800),
                    lines: skus
                        .iter()
                        .enumerate()
                        .map(|(j, sku)| OrderLineRecord {
                            id: format!("{id}-l{}", j + 1),
                            sku: (*sku).into(),
                            ean: None,
                            title: format!("Merino {sku}"),
                            image: None,
                            quantity: 1,
                            unit_price: nzd(6_900),
                            discount: nzd(0),
                            product_tags: vec![],
                        })
                        .collect(),
                }),
                actor: "test:import".into(),
                station: None,
            })
        })
        .unwrap();
    id
}

/// Request `id` numbered `number`, for `order_name`, one line item per SKU (ids `{id}1`,
/// `{id}2`, …), all shipped under `awb`.
fn rp_request(id: &str, number: &str, order_name: &str, awb: &str, skus: &[&str]) -> RpRequestSim {
    RpRequestSim {
        id: id.into(),
        request_number: number.into(),
        order_name: order_name.into(),
        status: "approved".into(),
        received: false,
        rejected: false,
        lines: skus
            .iter()
            .enumerate()
            .map(|(j, sku)| RpLine {
                id: format!("{id}{}", j + 1),
                sku: (*sku).into(),
                quantity: 1,
                awbs: vec![awb.into()],
                refund_status: "pending".into(),
                qc: None,
            })
            .collect(),
    }
}

fn rp_input(base: &str) -> PartnerConnectionInput {
    PartnerConnectionInput {
        target: ActionTarget::ReturnsPrime,
        base_url: base.into(),
        username: None,
        domain: None,
        qc_path: None,
        photo_url_base: None,
        secret: TOKEN.into(),
        insecure: false,
    }
}

fn connect(hub: &Hub, retailer: &str, sim: &RpSim) {
    hub.sign_in("AD-3001", "3333").unwrap();
    hub.connect_partner(retailer, rp_input(&sim.base()))
        .unwrap();
    hub.sign_out().unwrap();
}

/// A connection synced from another device: in the retailer's configuration, its token in no
/// keyring here.
fn connect_elsewhere(dir: &Path, retailer: &str, base: &str) {
    let mut store = Store::open(&dir.join("returnhub.db")).unwrap();
    let mut record = store.retailer_record(retailer).unwrap().unwrap();
    record.policy.partners.connections.push(PartnerConnection {
        target: ActionTarget::ReturnsPrime,
        base_url: base.into(),
        username: None,
        domain: None,
        qc_path: None,
        photo_url_base: None,
        connected_at: "2026-11-20T00:00:00.000Z".into(),
        insecure: false,
    });
    store
        .write(NOW, |tx| {
            tx.append(EventInput {
                event: DomainEvent::RetailerConfigured(record),
                actor: "test:other-device".into(),
                station: None,
            })
        })
        .unwrap();
}

fn error(e: returnhub_hub::HubError) -> ErrorView {
    ErrorView::from(e)
}

fn event_count(hub: &Hub) -> i64 {
    hub.with_store(|s| {
        s.reader()
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap()
    })
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn only(lookup: ReturnsPrimeLookup) -> returnhub_hub::PartnerReturnMatch {
    assert!(lookup.problems.is_empty(), "{:?}", lookup.problems);
    assert_eq!(lookup.matches.len(), 1, "{:?}", lookup.matches);
    lookup.matches.into_iter().next().unwrap()
}

#[test]
fn a_parcel_found_at_returns_prime_is_attached_processed_and_its_update_reaches_returns_prime() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let sim = RpSim::start();
    // Enough requests that the lookups follow pages (the simulator holds 3 a page).
    for n in 0..4 {
        sim.add_request(rp_request(
            &format!("80{n}"),
            &format!("RP-OTHER-{n}"),
            "#R9999",
            &format!("AWBOTHER{n}"),
            &["KOW-X"],
        ));
    }
    sim.add_request(rp_request(
        "9001",
        "RP-1001",
        "#R1001",
        "AWB7000001",
        &["KOW-RP-1", "KOW-RP-2"],
    ));
    let order_id = import_order(dir.path(), "#R1001", &["KOW-RP-1", "KOW-RP-2", "KOW-RP-3"]);

    // Nobody signed in: refused. No connection yet: said so.
    let e = error(hub.find_at_returns_prime("AWB7000001").unwrap_err());
    assert_eq!(e.code, ErrorCode::NotSignedIn);
    let e = error(
        hub.link_returns_prime("AWB7000001", "kowhai", "9001", None)
            .unwrap_err(),
    );
    assert_eq!(e.code, ErrorCode::NotSignedIn);
    hub.sign_in("OP-1001", "1111").unwrap();
    assert!(!hub.returns_prime_connected().unwrap());
    let e = error(hub.find_at_returns_prime("AWB7000001").unwrap_err());
    assert!(
        e.message
            .contains("no retailer on this hub is connected to Returns Prime"),
        "{}",
        e.message
    );
    hub.sign_out().unwrap();
    connect(&hub, "kowhai", &sim);

    // The operator scans the parcel: unknown. Looked up by AWB and by request number.
    hub.sign_in("OP-1001", "1111").unwrap();
    assert!(hub.returns_prime_connected().unwrap());
    let scan = hub.scan("AWB7000001").unwrap();
    assert_eq!(scan.verdict, ScanVerdict::Unknown);
    let m = only(hub.find_at_returns_prime(&scan.connote).unwrap());
    assert_eq!(m.retailer_id, "kowhai");
    assert_eq!(m.retailer_name, "Kōwhai Apparel");
    assert_eq!(m.request_id, "9001");
    assert_eq!(m.request_number, "RP-1001");
    assert_eq!(m.status, "approved");
    assert!(!m.received && !m.rejected);
    assert_eq!(m.awbs, vec!["AWB7000001".to_owned()]);
    assert_eq!(m.order_name.as_deref(), Some("#R1001"));
    let order = m.order.as_ref().expect("the imported order");
    assert_eq!(order.order_id, order_id);
    assert_eq!(order.order_number, "#R1001");
    assert_eq!(m.items.len(), 2);
    assert_eq!(
        (
            m.items[0].sku.as_str(),
            m.items[0].quantity,
            m.items[0].on_order
        ),
        ("KOW-RP-1", 1, Some(true))
    );
    assert_eq!(m.items[1].line_item_id, "90012");
    assert!(m.linkable, "{:?}", m.not_linkable);
    assert_eq!(m.hub_return, None);
    let by_number = only(hub.find_at_returns_prime(" RP-1001 ").unwrap());
    assert_eq!(by_number.request_id, "9001");
    assert_eq!(by_number.order.unwrap().order_id, order_id);
    assert!(hub
        .find_at_returns_prime("NOTHING-HERE")
        .unwrap()
        .matches
        .is_empty());

    // Attached: a received return from Returns Prime, its ids, the AWB as its connote, the
    // items on the order's lines. Answered like a scan of an expected parcel.
    let linked = hub
        .link_returns_prime(&scan.connote, "kowhai", "9001", None)
        .unwrap();
    assert_eq!(linked.verdict, ScanVerdict::Expected);
    assert!(linked.message.contains("RP-1001"), "{}", linked.message);
    let ret = linked.ret.unwrap();
    assert_eq!(ret.status, ReturnStatus::Received);
    assert_eq!(ret.items.len(), 2);
    let bench = linked.bench.unwrap();
    assert_eq!(bench.return_id, ret.id);
    let (source, external_id, status): (String, Option<String>, String) = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT source, external_id, status FROM returns WHERE id = ?1",
                [&ret.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    });
    assert_eq!(
        (source.as_str(), external_id.as_deref(), status.as_str()),
        ("returns_prime", Some("9001"), "received")
    );
    let items: Vec<(String, String)> = hub.with_store(|s| {
        let mut stmt = s
            .reader()
            .prepare(
                "SELECT external_id, order_line_id FROM return_items WHERE return_id = ?1 ORDER BY id",
            )
            .unwrap();
        stmt.query_map([&ret.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    });
    assert_eq!(
        items,
        vec![
            ("90011".to_owned(), format!("{order_id}-l1")),
            ("90012".to_owned(), format!("{order_id}-l2")),
        ]
    );
    // The next scan of the AWB finds the return.
    let again = hub.scan("AWB7000001").unwrap();
    assert_eq!(again.verdict, ScanVerdict::Expected);
    assert_eq!(again.ret.unwrap().id, ret.id);
    // The lookup now shows the hub's return.
    let m = only(hub.find_at_returns_prime("RP-1001").unwrap());
    assert_eq!(m.hub_return.as_deref(), Some(ret.id.as_str()));
    assert_eq!(m.hub_return_status.as_deref(), Some("received"));
    assert!(m.linkable, "open here: a second parcel is attached to it");

    // A second parcel of the same request (another AWB, unknown here): attached to the open
    // return, not a second return.
    let second = hub
        .link_returns_prime("AWB7000001B", "kowhai", "9001", None)
        .unwrap();
    assert_eq!(second.ret.unwrap().id, ret.id);
    assert_eq!(
        hub.scan("AWB7000001B").unwrap().ret.unwrap().id,
        ret.id,
        "the new connote finds it"
    );
    let e = error(
        hub.link_returns_prime("AWB7000001B", "kowhai", "9001", None)
            .unwrap_err(),
    );
    assert!(
        e.message.contains("already belongs to return"),
        "{}",
        e.message
    );

    // Inspected and processed: one partner update, due to Returns Prime.
    for item in &ret.items {
        hub.inspect_item(support::passed(&ret.id, &item.id))
            .unwrap();
    }
    assert_eq!(hub.process_return(&ret.id).unwrap().actions_queued, 1);
    let actions = hub.with_store(|s| s.actions_of(&ret.id).unwrap());
    assert_eq!(actions.len(), 1, "{actions:?}");
    let due: ActionDue = serde_json::from_str(&actions[0].2).unwrap();
    assert_eq!(due.kind, ActionKind::PartnerUpdate);
    let context = hub.with_store(|s| s.action_context(&due).unwrap());
    assert_eq!(context.target, ActionTarget::ReturnsPrime);
    assert_eq!(context.source, "returns_prime");
    assert_eq!(context.external_id.as_deref(), Some("9001"));

    // The hub's dispatch thread tells Returns Prime, once per item, and the action confirms.
    Hub::start_shop_workers(hub.clone());
    let key = IdempotencyKey::parse(&actions[0].0).unwrap();
    wait_until("the update is confirmed", || {
        hub.with_store(|s| s.action(&key).unwrap().unwrap().state) == OutboxState::Confirmed
    });
    for line in ["90011", "90012"] {
        let effects = sim.effects_on(line);
        assert_eq!(effects.len(), 1, "{line}: {effects:?}");
        assert_eq!(effects[0].qc_status, "PASS");
    }
    assert!(sim.ledger().requests["9001"].received);

    // Processed: the request is not attached again.
    let m = only(hub.find_at_returns_prime("RP-1001").unwrap());
    assert!(!m.linkable);
    assert!(
        m.not_linkable
            .as_deref()
            .unwrap()
            .contains("already processed"),
        "{:?}",
        m.not_linkable
    );
    let before = event_count(&hub);
    let e = error(
        hub.link_returns_prime("AWB7000001C", "kowhai", "9001", None)
            .unwrap_err(),
    );
    assert!(
        e.message.contains("already processed") && e.message.contains(&ret.id),
        "{}",
        e.message
    );
    assert_eq!(event_count(&hub), before, "nothing written");
}

#[test]
fn rejected_requests_unknown_skus_and_other_orders_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let sim = RpSim::start();
    let order_id = import_order(dir.path(), "#R2001", &["KOW-RP-1"]);
    let other_order = import_order(dir.path(), "#R2002", &["KOW-RP-5"]);
    let mut rejected = rp_request("9101", "RP-2101", "#R2001", "AWB7100001", &["KOW-RP-1"]);
    rejected.rejected = true;
    rejected.status = "rejected".into();
    sim.add_request(rejected);
    sim.add_request(rp_request(
        "9102",
        "RP-2102",
        "#R2001",
        "AWB7100002",
        &["KOW-RP-1", "KOW-NOT-ON-ORDER"],
    ));
    // The order Returns Prime names is not imported here.
    sim.add_request(rp_request(
        "9103",
        "RP-2103",
        "#R2999",
        "AWB7100003",
        &["KOW-RP-5"],
    ));
    connect(&hub, "kowhai", &sim);
    hub.sign_in("OP-1002", "1212").unwrap();
    let before = event_count(&hub);

    // Rejected: shown, not linkable, refused.
    let m = only(hub.find_at_returns_prime("AWB7100001").unwrap());
    assert!(m.rejected && !m.linkable);
    assert!(m.not_linkable.unwrap().contains("rejected"));
    let e = error(
        hub.link_returns_prime("AWB7100001", "kowhai", "9101", None)
            .unwrap_err(),
    );
    assert_eq!(e.code, ErrorCode::Conflict);
    assert!(
        e.message.contains("rejected request RP-2101"),
        "{}",
        e.message
    );

    // Rejected since the lookup: the request is read again when attaching.
    let m = only(hub.find_at_returns_prime("AWB7100003").unwrap());
    assert!(m.linkable);
    sim.ledger().requests.get_mut("9103").unwrap().rejected = true;
    let e = error(
        hub.link_returns_prime("AWB7100003", "kowhai", "9103", Some(&other_order))
            .unwrap_err(),
    );
    assert!(e.message.contains("rejected"), "{}", e.message);
    sim.ledger().requests.get_mut("9103").unwrap().rejected = false;

    // A SKU the order lacks: named, nothing written.
    let m = only(hub.find_at_returns_prime("RP-2102").unwrap());
    assert!(!m.linkable);
    assert!(m.not_linkable.unwrap().contains("KOW-NOT-ON-ORDER"));
    let e = error(
        hub.link_returns_prime("AWB7100002", "kowhai", "9102", None)
            .unwrap_err(),
    );
    assert!(
        e.message.contains("SKU KOW-NOT-ON-ORDER") && e.message.contains("#R2001"),
        "{}",
        e.message
    );

    // The named order is not imported: the operator must pick one; another retailer's
    // order, or another order than the one Returns Prime names, is refused.
    let m = only(hub.find_at_returns_prime("AWB7100003").unwrap());
    assert!(m.order.is_none() && m.linkable);
    assert_eq!(m.items[0].on_order, None);
    let e = error(
        hub.link_returns_prime("AWB7100003", "kowhai", "9103", None)
            .unwrap_err(),
    );
    assert!(
        e.message.contains("#R2999") && e.message.contains("not imported"),
        "{}",
        e.message
    );
    let bondi_order: String = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT id FROM orders WHERE retailer_id = 'bondi' LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap()
    });
    let e = error(
        hub.link_returns_prime("AWB7100003", "kowhai", "9103", Some(&bondi_order))
            .unwrap_err(),
    );
    assert!(e.message.contains("another retailer"), "{}", e.message);
    let e = error(
        hub.link_returns_prime("AWB7100002", "kowhai", "9102", Some(&other_order))
            .unwrap_err(),
    );
    assert!(
        e.message.contains("is for order #R2001, not #R2002"),
        "{}",
        e.message
    );
    let e = error(
        hub.link_returns_prime("AWB7100001", "bondi", "9101", None)
            .unwrap_err(),
    );
    assert!(
        e.message
            .contains("bondi is not connected to Returns Prime"),
        "{}",
        e.message
    );
    assert_eq!(event_count(&hub), before, "nothing written by any refusal");

    // The operator's pick of the retailer's order: attached.
    let linked = hub
        .link_returns_prime("AWB7100003", "kowhai", "9103", Some(&other_order))
        .unwrap();
    let ret = linked.ret.unwrap();
    assert_eq!(ret.status, ReturnStatus::Received);
    assert_eq!(ret.order_number, "#R2002");
    assert!(ret.connotes.contains(&"AWB7100003".to_owned()));
    assert_ne!(order_id, other_order);
}

#[test]
fn no_token_on_this_device_and_returns_prime_failing_are_clear_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let sim = RpSim::start();
    import_order(dir.path(), "#R3001", &["KOW-RP-1"]);
    sim.add_request(rp_request(
        "9201",
        "RP-3201",
        "#R3001",
        "AWB7200001",
        &["KOW-RP-1"],
    ));

    // Only Bondi is connected, from another device: no token here.
    connect_elsewhere(dir.path(), "bondi", &sim.base());
    hub.sign_in("OP-1001", "1111").unwrap();
    assert!(hub.returns_prime_connected().unwrap());
    let e = error(hub.find_at_returns_prime("AWB7200001").unwrap_err());
    assert_eq!(e.code, ErrorCode::Invalid);
    assert!(
        e.message
            .contains("Bondi Surf Co's Returns Prime token is not on this device"),
        "{}",
        e.message
    );
    let e = error(
        hub.link_returns_prime("AWB7200001", "bondi", "9201", None)
            .unwrap_err(),
    );
    assert!(
        e.message.contains("token is not on this device"),
        "{}",
        e.message
    );
    hub.sign_out().unwrap();

    // Kōwhai connected here: its matches, and Bondi named as not searched.
    connect(&hub, "kowhai", &sim);
    hub.sign_in("OP-1001", "1111").unwrap();
    let lookup = hub.find_at_returns_prime("AWB7200001").unwrap();
    assert_eq!(lookup.matches.len(), 1);
    assert_eq!(lookup.matches[0].retailer_id, "kowhai");
    assert_eq!(lookup.problems.len(), 1);
    assert!(
        lookup.problems[0].contains("Bondi Surf Co"),
        "{:?}",
        lookup.problems
    );

    // Returns Prime answering 5xx (every try): a clear error, nothing written.
    let before = event_count(&hub);
    sim.force(&[Fault::ServerError, Fault::ServerError]);
    let e = error(hub.find_at_returns_prime("AWB7200001").unwrap_err());
    assert_eq!(e.code, ErrorCode::Invalid);
    assert!(
        e.message
            .contains("Kōwhai Apparel's Returns Prime could not be searched")
            && e.message.contains("HTTP 502"),
        "{}",
        e.message
    );
    assert!(e.message.contains("Bondi Surf Co"), "{}", e.message);
    sim.force(&[Fault::ServerError, Fault::ServerError]);
    let e = error(
        hub.link_returns_prime("AWB7200001", "kowhai", "9201", None)
            .unwrap_err(),
    );
    assert!(e.message.contains("HTTP 502"), "{}", e.message);
    assert_eq!(event_count(&hub), before, "nothing written");
    // One failure then an answer: the retry gets it.
    sim.force(&[Fault::ServerError]);
    assert_eq!(
        hub.find_at_returns_prime("AWB7200001")
            .unwrap()
            .matches
            .len(),
        1
    );
    // An answer not as documented.
    sim.ledger()
        .raw
        .insert("9201".into(), "{\"status\": true, \"data\": []}".into());
    let e = error(
        hub.link_returns_prime("AWB7200001", "kowhai", "9201", None)
            .unwrap_err(),
    );
    assert!(e.message.contains("not as documented"), "{}", e.message);
    sim.ledger().raw.clear();
    assert_eq!(event_count(&hub), before, "nothing written");

    // And then it works.
    let linked = hub
        .link_returns_prime("AWB7200001", "kowhai", "9201", None)
        .unwrap();
    assert_eq!(linked.verdict, ScanVerdict::Expected);
}
