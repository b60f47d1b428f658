//! A retailer's partner connection through the hub, on a real store and the Loop simulator (a
//! real socket): an admin connects Kōwhai to Loop (a refused key keeps nothing; the key goes
//! to the keyring, never to the log), a Loop return is scanned, inspected and processed at the
//! bench, and the hub's own dispatch thread sends its one partner update to Loop — recorded
//! under "loop" and confirmed only when Loop closes the return. Roles are checked in the core.

mod support;

use returnhub_simulators::loop_sim;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loop_sim::{LoopSim, SimState, API_KEY};
use returnhub_core::bench::Presence;
use returnhub_core::decision::ReturnOption;
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::partner::ActionTarget;
use returnhub_core::record::{OrderLineRecord, OrderRecord, ReturnItemRecord, ReturnRecord};
use returnhub_core::rules::{Grade, QcStatus};
use returnhub_hub::{
    DispatchSchedule, ErrorCode, ErrorView, Hub, HubOptions, InspectRequest, PartnerConnectionInput,
};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, OutboxState, Store};

const NOW: i64 = 1_795_461_900_000; // 2026-11-23T19:25:00Z
const CONNOTE: &str = "LZ123456785NZ";

/// On the system clock (the dispatcher's backoff is written with it), with the dispatcher's
/// retries quick enough for a test (`[dispatch]`).
fn demo_hub(dir: &Path) -> Arc<Hub> {
    let mut options = HubOptions::demo(dir);
    options.dispatch_schedule = DispatchSchedule {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(1_000),
        ..DispatchSchedule::default()
    };
    Arc::new(Hub::open(options).unwrap())
}

fn loop_input(base: &str, key: &str) -> PartnerConnectionInput {
    PartnerConnectionInput {
        target: ActionTarget::Loop,
        base_url: base.into(),
        username: None,
        domain: None,
        qc_path: None,
        photo_url_base: None,
        secret: key.into(),
        insecure: false,
    }
}

/// A Loop return of Kōwhai (Loop's id `loop_id`, line `line`) expected at this hub.
fn expect_loop_return(dir: &Path, loop_id: &str, line: &str) {
    let nzd = |m| Money::new(m, Currency::NZD);
    let mut store = Store::open(&dir.join("returnhub.db")).unwrap();
    let input = |event| EventInput {
        event,
        actor: "test:loop".into(),
        station: None,
    };
    store
        .write(NOW, |tx| {
            tx.append(input(DomainEvent::OrderImported(OrderRecord {
                id: "LOOP-ORDER-1".into(),
                retailer_id: "kowhai".into(),
                order_number: "#L1001".into(),
                customer_name: "Mere".into(),
                email: "mere@example.com".into(),
                created_at: "2026-11-10T00:00:00.000Z".into(),
                country: "NZ".into(),
                tags: vec![],
                subtotal: nzd(6_900),
                discount: nzd(0),
                total: nzd(6_900),
                lines: vec![OrderLineRecord {
                    id: "LOOP-ORDER-1-l1".into(),
                    sku: "KOW-LOOP-1".into(),
                    ean: None,
                    title: "Merino crew".into(),
                    image: None,
                    quantity: 1,
                    unit_price: nzd(6_900),
                    discount: nzd(0),
                    product_tags: vec![],
                }],
            })))?;
            tx.append(input(DomainEvent::ReturnExpected(ReturnRecord {
                external_id: Some(loop_id.into()),
                id: "RET-LOOP-1".into(),
                retailer_id: "kowhai".into(),
                hub_id: "AKL".into(),
                order_id: "LOOP-ORDER-1".into(),
                source: "loop".into(),
                status: ReturnStatus::Expected,
                created_at: "2026-11-20T00:00:00.000Z".into(),
                connotes: vec![CONNOTE.into()],
                items: vec![ReturnItemRecord {
                    external_id: Some(line.into()),
                    id: "RET-LOOP-1-i1".into(),
                    order_line_id: "LOOP-ORDER-1-l1".into(),
                    quantity: 1,
                    reason_code: "TOO_SMALL".into(),
                    sub_reason_code: None,
                    comment: None,
                    chosen_option: Some(ReturnOption::Refund),
                }],
            })))
        })
        .unwrap();
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_loop_return_processed_at_the_bench_reaches_loop_once_and_confirms_when_loop_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let sim = LoopSim::start();
    sim.add_return("9001", &[("501", "KOW-LOOP-1")]);
    expect_loop_return(dir.path(), "9001", "501");

    // Operators and supervisors cannot connect partners; a refused key keeps nothing.
    hub.sign_in("SV-2001", "2222").unwrap();
    assert!(hub.partner_connections().unwrap().is_empty());
    let e = ErrorView::from(
        hub.connect_partner("kowhai", loop_input(&sim.base(), API_KEY))
            .unwrap_err(),
    );
    assert_eq!(e.code, ErrorCode::Forbidden);
    hub.sign_out().unwrap();
    hub.sign_in("AD-3001", "3333").unwrap();
    let e = ErrorView::from(
        hub.connect_partner("kowhai", loop_input(&sim.base(), "loop_wrong_key"))
            .unwrap_err(),
    );
    assert!(e.message.contains("loop did not accept"), "{}", e.message);
    assert!(
        !e.message.contains("loop_wrong_key"),
        "never echoes the key"
    );
    assert!(
        hub.partner_connections().unwrap().is_empty(),
        "nothing kept"
    );
    let views = hub
        .connect_partner("kowhai", loop_input(&sim.base(), API_KEY))
        .unwrap();
    assert_eq!(views.len(), 1);
    assert!(views[0].has_secret);
    assert!(hub
        .test_partner("kowhai", ActionTarget::Loop)
        .unwrap()
        .contains("works"));
    let shops = hub.shops_view().unwrap();
    let kowhai = shops
        .retailers
        .iter()
        .find(|r| r.retailer_id == "kowhai")
        .unwrap();
    assert_eq!(kowhai.partners.len(), 1);
    hub.sign_out().unwrap();

    // The bench: scan, inspect, process. One partner update is queued, not a refund.
    hub.sign_in("OP-1001", "1111").unwrap();
    let scan = hub.scan(CONNOTE).unwrap();
    let ret = scan.ret.unwrap();
    hub.inspect_item(InspectRequest {
        return_id: ret.id.clone(),
        item_id: ret.items[0].id.clone(),
        presence: Presence::Found,
        qc: Some(QcStatus::Pass),
        qc_reason: None,
        grade: Some(Grade::B),
        disposition: None,
        note: None,
        photos: vec![],
    })
    .unwrap();
    assert_eq!(hub.process_return(&ret.id).unwrap().actions_queued, 1);
    let actions = hub.with_store(|s| s.actions_of(&ret.id).unwrap());
    assert_eq!(actions.len(), 1);
    assert!(actions[0].2.contains("partner_update"), "{actions:?}");

    // The hub's dispatch thread grades and queues processing at Loop; the action stays
    // unknown (a 200 from Loop is only "queued") until Loop closes the return.
    Hub::start_shop_workers(hub.clone());
    wait_until("Loop has queued the return", || {
        matches!(sim.get("9001").state, SimState::Processing(_))
    });
    let at_loop = sim.get("9001");
    assert_eq!(at_loop.processed, 1);
    assert_eq!(at_loop.grades["501"]["condition_category"], "grade_b");
    let key = returnhub_core::trigger::IdempotencyKey::parse(&actions[0].0).unwrap();
    let state = || hub.with_store(|s| s.action(&key).unwrap().unwrap().state);
    wait_until("the action is unknown (queued at Loop)", || {
        state() == OutboxState::Unknown
    });
    assert!(sim.complete("9001"));
    wait_until("the action is confirmed", || {
        state() == OutboxState::Confirmed
    });
    assert_eq!(sim.get("9001").processed, 1, "processed once");
    let target: String = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT json_extract(payload, '$.target') FROM events WHERE kind = 'action_confirmed'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    });
    assert_eq!(target, "loop");
    let leaked: i64 = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT count(*) FROM events WHERE payload LIKE ?1",
                [format!("%{API_KEY}%")],
                |r| r.get(0),
            )
            .unwrap()
    });
    assert_eq!(leaked, 0, "the key never reaches the event log");

    // Disconnected: the key is forgotten.
    hub.sign_out().unwrap();
    hub.sign_in("AD-3001", "3333").unwrap();
    assert!(hub
        .disconnect_partner("kowhai", ActionTarget::Loop)
        .unwrap()
        .is_empty());
    let e = ErrorView::from(hub.test_partner("kowhai", ActionTarget::Loop).unwrap_err());
    assert!(e.message.contains("not connected"), "{}", e.message);
}

#[test]
fn an_admin_binds_a_source_to_another_target_and_its_returns_follow() {
    use returnhub_core::partner::SourceRoute;
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    expect_loop_return(dir.path(), "9002", "502");
    let to_shopify = vec![SourceRoute {
        source: "loop".into(),
        target: ActionTarget::Shopify,
    }];

    hub.sign_in("SV-2001", "2222").unwrap();
    assert!(hub.partner_routes().unwrap().is_empty());
    let e = ErrorView::from(
        hub.save_partner_routes("kowhai", to_shopify.clone())
            .unwrap_err(),
    );
    assert_eq!(e.code, ErrorCode::Forbidden, "supervisors see, admins bind");
    hub.sign_out().unwrap();

    hub.sign_in("AD-3001", "3333").unwrap();
    let bad = vec![SourceRoute {
        source: "Loop Returns".into(),
        target: ActionTarget::Shopify,
    }];
    let e = ErrorView::from(hub.save_partner_routes("kowhai", bad).unwrap_err());
    assert!(e.message.contains("lower-case"), "{}", e.message);
    assert!(hub.partner_routes().unwrap().is_empty(), "nothing kept");
    let routes = hub.save_partner_routes("kowhai", to_shopify).unwrap();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].target, ActionTarget::Shopify);
    assert_eq!(routes[0].default_target, ActionTarget::Loop);
    hub.sign_out().unwrap();

    // The Loop return is now actioned on Shopify: a refund per item, no partner update.
    hub.sign_in("OP-1001", "1111").unwrap();
    let ret = hub.scan(CONNOTE).unwrap().ret.unwrap();
    hub.inspect_item(support::passed(&ret.id, &ret.items[0].id))
        .unwrap();
    hub.process_return(&ret.id).unwrap();
    let actions = hub.with_store(|s| s.actions_of(&ret.id).unwrap());
    assert_eq!(actions.len(), 1);
    assert!(actions[0].2.contains("\"refund\""), "{actions:?}");
}
