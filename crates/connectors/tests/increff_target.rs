//! Increff as a dispatch target, against the Increff simulator (and, for Clickpost exchanges,
//! the Shopify simulator) over real sockets: the processing update's content, the exchange
//! rule's effect on the held replacement order, refusals, the connection check, and exactly
//! one effect per item when faults hit every kind of request across many returns.

use returnhub_simulators as support;

use support::rt;

use std::sync::Arc;
use std::time::{Duration, Instant};

use returnhub_connectors::dispatch::{DispatchOptions, Dispatcher, Target, TargetError};
use returnhub_connectors::increff::{
    IncreffConfig, IncreffTarget, REASON_ITEM_MISSING, REASON_NOT_INSPECTED,
};
use returnhub_connectors::{
    ClientOptions, ShopCredentials, ShopifyClient, ShopifySettings, ShopifyTarget, SystemClock,
};
use returnhub_core::bench::{
    DecidedBy, Disposition, InspectionRecord, ItemDecisionRecord, Presence,
};
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy, ReturnOption};
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::partner::{ActionTarget, PartnerPolicy, SourceRoute};
use returnhub_core::record::{
    OrderLineRecord, OrderRecord, RetailerRecord, ReturnItemRecord, ReturnRecord,
};
use returnhub_core::rules::{Grade, Outcome, QcStatus, RuleSet};
use returnhub_core::trigger::{ActionDue, ActionKind, IdempotencyKey, ShopifyPolicy, Trigger};
use returnhub_protocol::action::{ActionContext, ActionLine, ItemQc};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, OutboxState, Store};
use support::increff_sim::{IncreffSim, DOMAIN, PASSWORD, USERNAME};
use support::simulator::{Fault, SimFulfillmentOrder, SimLine, SimOrder, Simulator, TOKEN};

const RETAILER: &str = "kowhai";
const PHOTOS: &str = "https://photos.hub.example/kowhai";

fn config(sim: &IncreffSim) -> IncreffConfig {
    IncreffConfig {
        base_url: sim.base(),
        username: USERNAME.into(),
        password: PASSWORD.into(),
        domain: DOMAIN.into(),
        photo_url_base: Some(PHOTOS.into()),
    }
}

fn shop(sim: &Simulator, timeout: Duration) -> ShopifyTarget {
    let client = ShopifyClient::new(
        &ShopCredentials::new(&sim.base(), TOKEN).unwrap(),
        Arc::new(SystemClock),
        ClientOptions {
            timeout,
            max_retries: 0,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    ShopifyTarget::new(
        client,
        ShopifySettings::for_policy(&ShopifyPolicy::default()),
    )
}

fn qc(presence: &str, qc: Option<&str>, reason: Option<&str>, photos: &[&str]) -> ItemQc {
    ItemQc {
        presence: presence.into(),
        qc: qc.map(str::to_owned),
        qc_reason: reason.map(str::to_owned),
        grade: Some("B".into()),
        note: None,
        photos: photos.iter().map(|p| (*p).to_owned()).collect(),
        inspected_at: "2026-11-24T01:00:00Z".into(),
    }
}

fn item(n: u32, qc: Option<ItemQc>, outcome: &str) -> ActionLine {
    ActionLine {
        return_item_id: format!("R1-i{n}"),
        order_line_id: format!("gid://shopify/LineItem/{n}"),
        quantity: 1,
        disposition: Some("resale_hold".into()),
        sku: format!("TEE-{n}"),
        external_id: Some(format!("IC-{n}")),
        qc,
        outcome: Some(outcome.into()),
        // The customer asked for what was decided, unless a test says otherwise.
        chosen_option: (outcome != "no_action").then(|| outcome.into()),
    }
}

/// A PartnerUpdate of return R1 (Clickpost's reference CP-R1) for `lines`.
fn update_of(lines: Vec<ActionLine>) -> (ActionDue, ActionContext) {
    let ids: Vec<&str> = lines.iter().map(|l| l.return_item_id.as_str()).collect();
    let action = ActionDue {
        key: IdempotencyKey::derive(RETAILER, "R1", &ids, ActionKind::PartnerUpdate),
        retailer_id: RETAILER.into(),
        return_id: "R1".into(),
        item_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        kind: ActionKind::PartnerUpdate,
        amount: None,
        credit_note_expiry_days: None,
    };
    let context = ActionContext {
        order_id: "gid://shopify/Order/1".into(),
        lines,
        others: vec![],
        retries: 0,
        source: "clickpost".into(),
        target: ActionTarget::Increff,
        external_id: Some("CP-R1".into()),
        connotes: vec!["AWB0001".into()],
    };
    (action, context)
}

fn sim_line(id: &str, sku: &str, quantity: u32) -> SimLine {
    SimLine {
        id: id.into(),
        sku: sku.into(),
        title: "Tee".into(),
        barcode: None,
        image: None,
        product_tags: vec![],
        quantity,
        unit_price: 0,
        discount: 0,
    }
}

/// A replacement order held until the return passes QC, tagged for `return_id`.
fn replacement(id: &str, return_id: &str, lines: Vec<SimLine>) -> SimOrder {
    SimOrder {
        id: id.into(),
        name: format!("#X-{return_id}"),
        email: "ana@example.com".into(),
        customer: "Ana".into(),
        created_at: "2026-11-20T00:00:00Z".into(),
        updated_at: "2026-11-20T00:00:00Z".into(),
        currency: Currency::NZD,
        country: "NZ".into(),
        tags: vec![
            "clickpost-replacement".into(),
            format!("returnhub-exchange-{return_id}"),
        ],
        discount_codes: vec![],
        lines,
        payment: (
            "gid://shopify/OrderTransaction/9".into(),
            "manual".into(),
            0,
        ),
        refunds: vec![],
        fulfillment_orders: vec![SimFulfillmentOrder::awaiting_return(&format!("{id}-fo"))],
    }
}

/// Return CP-R1 of two items asked to be exchanged, and its replacement order
/// `gid://shopify/Order/{n}` whose lines `…/LineItem/{n}1` and `{n}2` each name the item they
/// replace (IC-1, IC-2) by line attribute.
fn two_item_exchange(n: &str) -> (IncreffSim, Simulator) {
    let increff = IncreffSim::start();
    increff.add_return("CP-R1", &[("IC-1", "TEE-1"), ("IC-2", "TEE-2")]);
    let shopify = Simulator::start("Kōwhai");
    let (kept, dropped) = (
        format!("gid://shopify/LineItem/{n}1"),
        format!("gid://shopify/LineItem/{n}2"),
    );
    shopify.add_order(replacement(
        &format!("gid://shopify/Order/{n}"),
        "R1",
        vec![
            sim_line(&kept, "TEE-1-L", 1),
            sim_line(&dropped, "TEE-2-L", 1),
        ],
    ));
    let mut ledger = shopify.ledger();
    ledger
        .line_attributes
        .insert(kept, vec![("_returned_item".into(), "IC-1".into())]);
    ledger
        .line_attributes
        .insert(dropped, vec![("_returned_item".into(), "IC-2".into())]);
    drop(ledger);
    (increff, shopify)
}

fn fulfillment_status(sim: &Simulator, order: &str) -> String {
    sim.ledger().orders[order].fulfillment_orders[0]
        .status
        .clone()
}

/// One update for the whole return: each item with its own status, reason and the URLs of
/// its photos (failed items only), under Increff's item code and the line's SKU.
#[test]
fn one_update_carries_each_item_s_qc_result() {
    let increff = IncreffSim::start();
    increff.add_return(
        "CP-R1",
        &[
            ("IC-1", "TEE-1"),
            ("IC-2", "TEE-2"),
            ("IC-3", "TEE-3"),
            ("IC-4", "TEE-4"),
        ],
    );
    let (action, context) = update_of(vec![
        item(1, Some(qc("found", Some("pass"), None, &["p1"])), "refund"),
        item(
            2,
            Some(qc(
                "found",
                Some("fail"),
                Some("STAIN_DAMAGE"),
                &["aa11", "bb22"],
            )),
            "no_action",
        ),
        item(3, Some(qc("missing", None, None, &[])), "no_action"),
        item(4, None, "refund"),
    ]);
    let target = IncreffTarget::new(config(&increff), Duration::from_secs(5)).unwrap();
    let confirmation = rt().block_on(target.send(&action, &context)).unwrap();
    assert_eq!(confirmation.reference, "CP-R1");

    let ledger = increff.ledger();
    assert_eq!(ledger.accepted.len(), 1, "one request for the return");
    let body = &ledger.accepted[0];
    assert_eq!(body["returnOrderCode"], "CP-R1");
    let items = body["orderItems"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["itemCode"], "IC-1");
    assert_eq!(items[0]["channelSkuCode"], "TEE-1");
    assert_eq!(items[0]["qcStatus"], "PASS");
    assert!(items[0]["qcReason"].is_null());
    assert_eq!(
        items[0]["imageUrls"],
        serde_json::json!([]),
        "photos of failed items only"
    );
    assert_eq!(items[1]["qcStatus"], "FAIL");
    assert_eq!(items[1]["qcReason"], "STAIN_DAMAGE");
    assert_eq!(
        items[1]["imageUrls"],
        serde_json::json!([format!("{PHOTOS}/aa11.jpg"), format!("{PHOTOS}/bb22.jpg")])
    );
    assert_eq!(items[2]["qcStatus"], "FAIL");
    assert_eq!(items[2]["qcReason"], REASON_ITEM_MISSING);
    assert_eq!(items[3]["qcStatus"], "FAIL");
    assert_eq!(items[3]["qcReason"], REASON_NOT_INSPECTED);
    assert_eq!(
        ledger.item("CP-R1", "IC-2").current().unwrap().status,
        "FAIL"
    );
    assert_eq!(ledger.effects(), 4);
    drop(ledger);

    // Without a photo base, no URLs (a hash is not something Increff can fetch).
    let bare = IncreffTarget::new(
        IncreffConfig {
            photo_url_base: None,
            ..config(&increff)
        },
        Duration::from_secs(5),
    )
    .unwrap();
    rt().block_on(bare.send(&action, &context)).unwrap();
    let ledger = increff.ledger();
    assert_eq!(
        ledger.accepted[1]["orderItems"][1]["imageUrls"],
        serde_json::json!([])
    );
    assert_eq!(
        ledger.item("CP-R1", "IC-2").effects,
        2,
        "the images changed: that is a change of the item's state"
    );
    assert_eq!(
        ledger.item("CP-R1", "IC-1").effects,
        1,
        "a repeat is no effect"
    );
}

/// QC PASS of an exchanged item: Increff hears PASS and the held replacement order ships.
#[test]
fn a_passed_exchange_releases_the_held_replacement_order() {
    let increff = IncreffSim::start();
    increff.add_return("CP-R1", &[("IC-1", "TEE-1")]);
    let shopify = Simulator::start("Kōwhai");
    let order = "gid://shopify/Order/61";
    shopify.add_order(replacement(
        order,
        "R1",
        vec![sim_line("gid://shopify/LineItem/611", "TEE-1-L", 1)],
    ));
    let (action, context) = update_of(vec![item(
        1,
        Some(qc("found", Some("pass"), None, &[])),
        "exchange",
    )]);
    let target = IncreffTarget::new(config(&increff), Duration::from_secs(5))
        .unwrap()
        .with_shop(shop(&shopify, Duration::from_secs(5)));
    let confirmation = rt().block_on(target.send(&action, &context)).unwrap();
    assert_eq!(confirmation.reference, format!("CP-R1 {order}"));
    assert_eq!(fulfillment_status(&shopify, order), "OPEN");
    let ledger = shopify.ledger();
    assert!(ledger.cancellations.is_empty());
    assert!(ledger.quantity_changes.is_empty());
    assert_eq!(ledger.invalid_documents, 0);
    assert_eq!(
        increff
            .ledger()
            .item("CP-R1", "IC-1")
            .current()
            .unwrap()
            .status,
        "PASS"
    );
}

/// QC FAIL of every exchanged item: the replacement order is cancelled (never released).
#[test]
fn a_failed_exchange_cancels_the_replacement_order() {
    let increff = IncreffSim::start();
    increff.add_return("CP-R1", &[("IC-1", "TEE-1")]);
    let shopify = Simulator::start("Kōwhai");
    let order = "gid://shopify/Order/62";
    shopify.add_order(replacement(
        order,
        "R1",
        vec![sim_line("gid://shopify/LineItem/621", "TEE-1-L", 1)],
    ));
    let (action, context) = update_of(vec![item(
        1,
        Some(qc("found", Some("fail"), Some("USED_WORN"), &[])),
        "exchange",
    )]);
    let target = IncreffTarget::new(config(&increff), Duration::from_secs(5))
        .unwrap()
        .with_shop(shop(&shopify, Duration::from_secs(5)));
    rt().block_on(target.send(&action, &context)).unwrap();
    {
        let ledger = shopify.ledger();
        assert_eq!(ledger.cancellations.get(order), Some(&1));
        assert_eq!(
            ledger.current_quantities.get("gid://shopify/LineItem/621"),
            Some(&0)
        );
        assert_eq!(ledger.invalid_documents, 0);
    }
    assert_eq!(
        fulfillment_status(&shopify, order),
        "CLOSED",
        "never released"
    );
    // Sent again (as after a lost answer): nothing more happens on Shopify.
    rt().block_on(target.send(&action, &context)).unwrap();
    assert_eq!(shopify.ledger().cancellations.get(order), Some(&1));
    let item = increff.ledger().item("CP-R1", "IC-1").clone();
    assert_eq!(item.current().unwrap().reason.as_deref(), Some("USED_WORN"));
    assert_eq!(item.effects, 1);
}

/// Two exchanged items, one failed: the failed item's line comes off the replacement order
/// (found by the line attribute that names the item), the other line stays and ships.
#[test]
fn a_failed_item_of_a_mixed_exchange_loses_its_line_and_the_rest_ships() {
    let (increff, shopify) = two_item_exchange("63");
    let order = "gid://shopify/Order/63";
    let (kept, dropped) = ("gid://shopify/LineItem/631", "gid://shopify/LineItem/632");
    let (action, context) = update_of(vec![
        item(1, Some(qc("found", Some("pass"), None, &[])), "exchange"),
        item(
            2,
            Some(qc("found", Some("fail"), Some("TAG_MISSING"), &[])),
            "exchange",
        ),
    ]);
    let target = IncreffTarget::new(config(&increff), Duration::from_secs(5))
        .unwrap()
        .with_shop(shop(&shopify, Duration::from_secs(5)));
    rt().block_on(target.send(&action, &context)).unwrap();
    // Again, as after a lost answer: the line is already off, the hold already released.
    rt().block_on(target.send(&action, &context)).unwrap();
    let ledger = shopify.ledger();
    assert!(ledger.cancellations.is_empty(), "the order stays");
    assert_eq!(ledger.current_quantities.get(dropped), Some(&0));
    assert_eq!(ledger.quantity_changes.get(dropped), Some(&1), "one edit");
    assert_eq!(ledger.current_quantities.get(kept), None, "untouched");
    assert_eq!(ledger.orders[order].fulfillment_orders[0].status, "OPEN");
    assert_eq!(ledger.invalid_documents, 0);
}

/// The customer asked for an exchange and the item failed QC, but the retailer's QC-fail
/// policy decided it as something else (no action; a rule's refund or credit note; whatever a
/// supervisor decides after review): Clickpost made the replacement at the request, so it is
/// cancelled all the same, and never released.
#[test]
fn a_failed_exchange_cancels_the_replacement_under_every_qc_fail_policy() {
    for (n, decided) in ["no_action", "refund", "credit_note"]
        .into_iter()
        .enumerate()
    {
        let increff = IncreffSim::start();
        increff.add_return("CP-R1", &[("IC-1", "TEE-1")]);
        let shopify = Simulator::start("Kōwhai");
        let order = format!("gid://shopify/Order/7{n}");
        shopify.add_order(replacement(
            &order,
            "R1",
            vec![sim_line(
                &format!("gid://shopify/LineItem/7{n}1"),
                "TEE-1-L",
                1,
            )],
        ));
        let mut failed = item(
            1,
            Some(qc("found", Some("fail"), Some("USED_WORN"), &[])),
            decided,
        );
        failed.chosen_option = Some("exchange".into());
        let (action, context) = update_of(vec![failed]);
        let target = IncreffTarget::new(config(&increff), Duration::from_secs(5))
            .unwrap()
            .with_shop(shop(&shopify, Duration::from_secs(5)));
        rt().block_on(target.send(&action, &context)).unwrap();
        assert_eq!(
            shopify.ledger().cancellations.get(&order),
            Some(&1),
            "decided {decided}"
        );
        assert_eq!(fulfillment_status(&shopify, &order), "CLOSED", "{decided}");
        assert_eq!(shopify.ledger().invalid_documents, 0);
    }
    // Passed QC but decided as a refund (a rule overrode the customer's exchange): the
    // replacement does not ship either.
    let increff = IncreffSim::start();
    increff.add_return("CP-R1", &[("IC-1", "TEE-1")]);
    let shopify = Simulator::start("Kōwhai");
    let order = "gid://shopify/Order/79";
    shopify.add_order(replacement(
        order,
        "R1",
        vec![sim_line("gid://shopify/LineItem/791", "TEE-1-L", 1)],
    ));
    let mut refunded = item(1, Some(qc("found", Some("pass"), None, &[])), "refund");
    refunded.chosen_option = Some("exchange".into());
    let (action, context) = update_of(vec![refunded]);
    let target = IncreffTarget::new(config(&increff), Duration::from_secs(5))
        .unwrap()
        .with_shop(shop(&shopify, Duration::from_secs(5)));
    rt().block_on(target.send(&action, &context)).unwrap();
    assert_eq!(shopify.ledger().cancellations.get(order), Some(&1));
    // An item nobody asked to exchange touches no replacement: there is none to find.
    let (action, context) = update_of(vec![item(
        2,
        Some(qc("found", Some("fail"), Some("USED_WORN"), &[])),
        "no_action",
    )]);
    let plain = IncreffSim::start();
    plain.add_return("CP-R1", &[("IC-2", "TEE-2")]);
    let target = IncreffTarget::new(config(&plain), Duration::from_secs(5))
        .unwrap()
        .with_shop(shop(&Simulator::start("Kōwhai"), Duration::from_secs(5)));
    rt().block_on(target.send(&action, &context)).unwrap();
}

/// A replacement order held by the returns platform and, besides, by a fraud check and a
/// payment hold: an exchange releases the returns platform's hold only (Shopify releases every
/// hold when `holdIds` is left out), so the order still waits for the fraud check; a resend,
/// or a reconcile after a lost answer, finds it done and releases nothing more.
#[test]
fn an_exchange_releases_only_the_returns_platforms_hold() {
    let shopify = Simulator::start("Kōwhai");
    let order = "gid://shopify/Order/81";
    let mut held = replacement(
        order,
        "R1",
        vec![sim_line("gid://shopify/LineItem/811", "TEE-1-L", 1)],
    );
    held.fulfillment_orders = vec![
        SimFulfillmentOrder::awaiting_return("fo-1").held(
            "fraud-1",
            "HIGH_RISK_OF_FRAUD",
            "Fraud Filter",
        ),
        SimFulfillmentOrder::open("fo-2").held("pay-2", "AWAITING_PAYMENT", "Shopify"),
        SimFulfillmentOrder::awaiting_return("fo-3"),
    ];
    shopify.add_order(held);
    let target = shop(&shopify, Duration::from_secs(5));
    let (exchange, context) = portal_exchange();
    let holds = |fo: usize| -> (String, Vec<String>) {
        let ledger = shopify.ledger();
        let fo = &ledger.orders[order].fulfillment_orders[fo];
        (
            fo.status.clone(),
            fo.holds.iter().map(|h| h.reason.clone()).collect(),
        )
    };
    let before = rt()
        .block_on(target.reconcile(&exchange, &context))
        .unwrap();
    assert!(before.is_none(), "held for the return: not yet done");
    let done = rt().block_on(target.send(&exchange, &context)).unwrap();
    assert_eq!(done.reference, order);
    assert_eq!(
        holds(0),
        ("ON_HOLD".into(), vec!["HIGH_RISK_OF_FRAUD".into()]),
        "the fraud hold stays"
    );
    assert_eq!(
        holds(1),
        ("ON_HOLD".into(), vec!["AWAITING_PAYMENT".into()]),
        "another's hold is not touched"
    );
    assert_eq!(holds(2), ("OPEN".into(), vec![]));
    let found = rt()
        .block_on(target.reconcile(&exchange, &context))
        .unwrap();
    assert_eq!(found.map(|c| c.reference).as_deref(), Some(order));
    assert_eq!(shopify.ledger().invalid_documents, 0);
}

/// A replacement held only for other reasons (a fraud check, another app's hold), never for
/// the returned items: the exchange fails with those reasons and releases nothing, rather
/// than confirm an order that is not going to ship.
#[test]
fn an_exchange_whose_replacement_is_held_only_by_others_fails_with_their_reasons() {
    let shopify = Simulator::start("Kōwhai");
    let order = "gid://shopify/Order/82";
    let mut held = replacement(
        order,
        "R1",
        vec![sim_line("gid://shopify/LineItem/821", "TEE-1-L", 1)],
    );
    held.fulfillment_orders = vec![SimFulfillmentOrder::open("fo-1").held(
        "fraud-1",
        "HIGH_RISK_OF_FRAUD",
        "Fraud Filter",
    )];
    shopify.add_order(held);
    let target = shop(&shopify, Duration::from_secs(5));
    let (exchange, context) = portal_exchange();
    match rt().block_on(target.send(&exchange, &context)) {
        Err(TargetError::Permanent(reason)) => {
            assert!(reason.contains("HIGH_RISK_OF_FRAUD"), "{reason}");
            assert!(reason.contains("nothing was released"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let ledger = shopify.ledger();
    assert_eq!(ledger.orders[order].fulfillment_orders[0].holds.len(), 1);
    assert!(!ledger.operations.iter().any(|o| o == "ReleaseHold"));
}

/// Without the shop, an exchange cannot be carried out: nothing is sent anywhere.
#[test]
fn an_exchange_without_a_shop_fails_before_anything_is_sent() {
    let increff = IncreffSim::start();
    increff.add_return("CP-R1", &[("IC-1", "TEE-1")]);
    let (action, context) = update_of(vec![item(
        1,
        Some(qc("found", Some("pass"), None, &[])),
        "exchange",
    )]);
    let target = IncreffTarget::new(config(&increff), Duration::from_secs(5)).unwrap();
    match rt().block_on(target.send(&action, &context)) {
        Err(TargetError::Permanent(reason)) => {
            assert!(reason.contains("Shopify shop is not connected"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(increff.ledger().accepted.is_empty());
}

/// Wrong credentials: refused for good, with a sentence that says what to fix and never the
/// password; the connection check says the same, and passes with the right ones.
#[test]
fn wrong_credentials_are_refused_with_a_clear_sentence() {
    let increff = IncreffSim::start();
    increff.add_return("CP-R1", &[("IC-1", "TEE-1")]);
    let (action, context) = update_of(vec![item(
        1,
        Some(qc("found", Some("pass"), None, &[])),
        "refund",
    )]);
    let wrong = IncreffTarget::new(
        IncreffConfig {
            password: "not-the-password".into(),
            ..config(&increff)
        },
        Duration::from_secs(5),
    )
    .unwrap();
    match rt().block_on(wrong.send(&action, &context)) {
        Err(TargetError::Permanent(reason)) => {
            assert!(reason.contains("refused the credentials"), "{reason}");
            assert!(reason.contains("HTTP 401"), "{reason}");
            assert!(!reason.contains("not-the-password"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(increff.ledger().effects(), 0);

    let bad = rt().block_on(wrong.test_connection()).unwrap_err();
    assert!(bad.contains("refused the credentials"), "{bad}");
    let wrong_domain = IncreffTarget::new(
        IncreffConfig {
            domain: "other".into(),
            ..config(&increff)
        },
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(rt().block_on(wrong_domain.test_connection()).is_err());
    let good = IncreffTarget::new(config(&increff), Duration::from_secs(5)).unwrap();
    rt().block_on(good.test_connection()).unwrap();
    assert_eq!(increff.ledger().effects(), 0, "the check changes nothing");

    // Nobody listening: not reachable, said as such.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = port.local_addr().unwrap();
    drop(port);
    let nowhere = IncreffTarget::new(
        IncreffConfig {
            base_url: format!("http://{closed}"),
            ..config(&increff)
        },
        Duration::from_secs(5),
    )
    .unwrap();
    let e = rt().block_on(nowhere.test_connection()).unwrap_err();
    assert!(e.contains("could not be reached"), "{e}");
    match rt().block_on(nowhere.send(&action, &context)) {
        Err(TargetError::NotApplied(_)) => {}
        other => panic!("connection refused is not applied: {other:?}"),
    }
}

/// Increff refuses an item it does not know: a permanent failure carrying Increff's message.
#[test]
fn increff_s_refusal_is_permanent_with_its_message() {
    let increff = IncreffSim::start();
    increff.add_return("CP-R1", &[("IC-1", "TEE-1")]);
    let (action, context) = update_of(vec![item(
        9,
        Some(qc("found", Some("pass"), None, &[])),
        "refund",
    )]);
    let target = IncreffTarget::new(config(&increff), Duration::from_secs(5)).unwrap();
    match rt().block_on(target.send(&action, &context)) {
        Err(TargetError::Permanent(reason)) => {
            assert!(reason.contains("return order CP-R1"), "{reason}");
            assert!(reason.contains("Item IC-9 does not exist"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A Shopify action routed here is refused by name, without a request.
    let (mut refund, context) = update_of(vec![item(1, None, "refund")]);
    refund.kind = ActionKind::Refund;
    match rt().block_on(target.send(&refund, &context)) {
        Err(TargetError::Permanent(reason)) => {
            assert!(reason.contains("not an update for Increff"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(increff.ledger().accepted.len(), 0);
}

// --- Many returns under faults, through the dispatcher and a real store -------------------

const RETURNS: u32 = 48;

fn input(event: DomainEvent) -> EventInput {
    EventInput {
        event,
        actor: "test".into(),
        station: Some("bench-t".into()),
    }
}

/// What return `n` is: 0 an Increff return (refund and no action, no exchange); 1 a Clickpost
/// exchange that passes; 2 one that fails; 3 two exchanged items, the first passes; 4 a
/// return opened at the hub (no Increff codes: its return order is created) like case 0; 5
/// an Increff return whose second item Increff does not list (it is added) like case 0.
fn case(n: u32) -> u32 {
    n % 6
}

/// Whether item `i` (1-based) of return `n` has an Increff item code.
fn has_code(n: u32, i: u32) -> bool {
    match case(n) {
        4 => false,
        5 => i == 1,
        _ => true,
    }
}

/// The return order code Increff knows return `n` by.
fn order_code(n: u32) -> String {
    if case(n) == 4 {
        format!("RH-{}", return_id(n))
    } else {
        format!("CP-{n}")
    }
}

/// The item code Increff knows item `i` (1-based) of return `n` by.
fn code_at_increff(n: u32, i: u32) -> String {
    if has_code(n, i) {
        format!("IC-{n}-{i}")
    } else {
        format!("{}-i{i}", return_id(n))
    }
}

fn return_id(n: u32) -> String {
    format!("R{n:05}")
}

fn replacement_gid(n: u32) -> String {
    format!("gid://shopify/Order/{}", 6_000_000 + n)
}

fn replacement_line(n: u32, i: u32) -> String {
    format!("gid://shopify/LineItem/{}", 8_000_000 + n * 10 + i)
}

/// (item id, item code, SKU, passes, outcome) of return `n`'s items.
fn items_of(n: u32) -> Vec<(String, String, String, bool, Outcome)> {
    let item = |i: u32, passes: bool, outcome: Outcome| {
        (
            format!("{}-i{i}", return_id(n)),
            format!("IC-{n}-{i}"),
            format!("SKU-{n}-{i}"),
            passes,
            outcome,
        )
    };
    match case(n) {
        0 | 4 | 5 => vec![
            item(1, true, Outcome::Refund),
            item(2, false, Outcome::NoAction),
        ],
        1 => vec![item(1, true, Outcome::Exchange)],
        2 => vec![item(1, false, Outcome::Exchange)],
        _ => vec![
            item(1, true, Outcome::Exchange),
            item(2, false, Outcome::Exchange),
        ],
    }
}

fn seed_store(store: &mut Store) -> Vec<ActionDue> {
    let nzd = |m| Money::new(m, Currency::NZD);
    let retailer = RetailerRecord {
        id: RETAILER.into(),
        name: "Kōwhai Apparel".into(),
        currency: Currency::NZD,
        country: None,
        policy: RetailerPolicy {
            trigger: Trigger::Processing,
            customers_choose: true,
            exchange_enabled: true,
            rules_override_customer_choice: false,
            default_outcome: Outcome::Refund,
            qc_fail: QcFailPolicy::HoldForReview,
            credit_note_expiry_days: None,
            currency: Some(Currency::NZD),
            shopify: ShopifyPolicy::default(),
            partners: PartnerPolicy {
                routes: vec![SourceRoute {
                    source: "orphan_intake".into(),
                    target: ActionTarget::Increff,
                }],
                ..PartnerPolicy::default()
            },
        },
        rules: RuleSet { rules: vec![] },
        reasons: vec![],
        qc_reasons: vec![],
    };
    store
        .write(0, |tx| {
            tx.append(input(DomainEvent::RetailerConfigured(retailer)))
        })
        .unwrap();
    let mut actions = Vec::new();
    store
        .write(0, |tx| {
            for n in 0..RETURNS {
                let order = format!("gid://shopify/Order/{}", 5_000_000 + n);
                let items = items_of(n);
                let line_gid =
                    |i: usize| format!("gid://shopify/LineItem/{}", 7_000_000 + n * 10 + i as u32);
                tx.append(input(DomainEvent::OrderImported(OrderRecord {
                    id: order.clone(),
                    retailer_id: RETAILER.into(),
                    order_number: format!("#{}", 10_000 + n),
                    customer_name: "Ana".into(),
                    email: format!("ana{n}@example.com"),
                    created_at: "2026-11-01T00:00:00.000Z".into(),
                    country: "NZ".into(),
                    tags: vec![],
                    subtotal: nzd(5_000),
                    discount: nzd(0),
                    total: nzd(5_000),
                    lines: items
                        .iter()
                        .enumerate()
                        .map(|(i, (_, _, sku, _, _))| OrderLineRecord {
                            id: line_gid(i),
                            sku: sku.clone(),
                            ean: None,
                            title: "Tee".into(),
                            image: None,
                            quantity: 1,
                            unit_price: nzd(2_500),
                            discount: nzd(0),
                            product_tags: vec![],
                        })
                        .collect(),
                })))?;
                tx.append(input(DomainEvent::ReturnExpected(ReturnRecord {
                    external_id: (case(n) != 4).then(|| format!("CP-{n}")),
                    id: return_id(n),
                    retailer_id: RETAILER.into(),
                    hub_id: "AKL".into(),
                    order_id: order.clone(),
                    source: match case(n) {
                        0 | 5 => "increff",
                        4 => "orphan_intake",
                        _ => "clickpost",
                    }
                    .into(),
                    status: ReturnStatus::Expected,
                    created_at: "2026-11-02T00:00:00.000Z".into(),
                    connotes: vec![format!("AWB{n:08}")],
                    items: items
                        .iter()
                        .enumerate()
                        .map(|(i, (id, code, _, _, outcome))| ReturnItemRecord {
                            external_id: has_code(n, i as u32 + 1).then(|| code.clone()),
                            id: id.clone(),
                            order_line_id: line_gid(i),
                            quantity: 1,
                            reason_code: "TOO_SMALL".into(),
                            sub_reason_code: None,
                            comment: None,
                            chosen_option: Some(if *outcome == Outcome::Exchange {
                                ReturnOption::Exchange
                            } else {
                                ReturnOption::Refund
                            }),
                        })
                        .collect(),
                })))?;
                for (i, (id, _, _, passes, _)) in items.iter().enumerate() {
                    tx.append(input(DomainEvent::ItemInspected(InspectionRecord {
                        id: format!("insp-{n}-{i}"),
                        return_id: return_id(n),
                        item_id: id.clone(),
                        presence: Presence::Found,
                        qc: Some(if *passes {
                            QcStatus::Pass
                        } else {
                            QcStatus::Fail
                        }),
                        qc_reason: (!passes).then(|| "STAIN_DAMAGE".to_owned()),
                        grade: Some(if *passes { Grade::A } else { Grade::D }),
                        disposition: Some(if *passes {
                            Disposition::BackToStock
                        } else {
                            Disposition::Recycle
                        }),
                        note: None,
                        photos: if *passes {
                            vec![]
                        } else {
                            vec![format!("h{n}x{i}")]
                        },
                    })))?;
                }
                tx.append(input(DomainEvent::ItemsDecided {
                    return_id: return_id(n),
                    decisions: items
                        .iter()
                        .map(|(id, _, _, _, outcome)| ItemDecisionRecord {
                            id: format!("dec-{id}"),
                            return_id: return_id(n),
                            item_id: id.clone(),
                            outcome: *outcome,
                            amount: None,
                            decided_by: DecidedBy::Supervisor {
                                reason: "test".into(),
                                previous: None,
                            },
                        })
                        .collect(),
                }))?;
                let ids: Vec<&str> = items.iter().map(|(id, ..)| id.as_str()).collect();
                let action = ActionDue {
                    key: IdempotencyKey::derive(
                        RETAILER,
                        &return_id(n),
                        &ids,
                        ActionKind::PartnerUpdate,
                    ),
                    retailer_id: RETAILER.into(),
                    return_id: return_id(n),
                    item_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
                    kind: ActionKind::PartnerUpdate,
                    amount: None,
                    credit_note_expiry_days: None,
                };
                tx.append(input(DomainEvent::ActionDue(action.clone())))?;
                actions.push(action);
            }
            Ok(())
        })
        .unwrap();
    actions
}

fn seed_partners(increff: &IncreffSim, shopify: &Simulator) {
    for n in 0..RETURNS {
        let items = items_of(n);
        let pairs: Vec<(&str, &str)> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| has_code(n, *i as u32 + 1))
            .map(|(_, (_, code, sku, _, _))| (code.as_str(), sku.as_str()))
            .collect();
        if case(n) != 4 {
            increff.add_return(&order_code(n), &pairs);
        }
        if matches!(case(n), 0 | 4 | 5) {
            continue;
        }
        let lines: Vec<SimLine> = items
            .iter()
            .enumerate()
            .map(|(i, (_, _, sku, _, _))| {
                sim_line(&replacement_line(n, i as u32), &format!("{sku}-L"), 1)
            })
            .collect();
        shopify.add_order(replacement(&replacement_gid(n), &return_id(n), lines));
        let mut ledger = shopify.ledger();
        for (i, (_, code, ..)) in items.iter().enumerate() {
            ledger.line_attributes.insert(
                replacement_line(n, i as u32),
                vec![("_returned_item".into(), code.clone())],
            );
        }
    }
}

/// Every kind of fault, on Increff's and on Shopify's side, across many returns: each
/// return's update is confirmed, each item's QC state was set exactly once (repeats set the
/// same state), and each replacement order was released, cancelled or edited exactly once.
#[test]
fn faults_on_every_kind_of_request_leave_one_effect_per_item() {
    let seed: u64 = std::env::var("SCENARIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1C4E_FF01);
    println!("seed {seed} (SCENARIO_SEED={seed} repeats this run)");
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.db")).unwrap();
    let actions = seed_store(&mut store);

    let increff = IncreffSim::start();
    let shopify = Simulator::start("Kōwhai");
    seed_partners(&increff, &shopify);
    shopify.set_bucket(1_000.0, 20_000.0);
    // Every fault at least once (the first requests), then 30% of requests at random.
    let hold = Duration::from_millis(400);
    let slow = Duration::from_millis(30);
    increff.force(&Fault::ALL);
    increff.inject(0.3, seed, hold, slow);
    shopify.force(&Fault::ALL);
    shopify.inject(0.3, seed ^ 0x5EED, hold, slow);

    let timeout = Duration::from_millis(200);
    let shop_client = ShopifyClient::new(
        &ShopCredentials::new(&shopify.base(), TOKEN).unwrap(),
        Arc::new(SystemClock),
        ClientOptions {
            timeout,
            max_retries: 2,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(40),
            max_throttled: 50,
            jitter_seed: seed,
        },
    )
    .unwrap();
    let target = IncreffTarget::new(config(&increff), timeout)
        .unwrap()
        .with_shop(ShopifyTarget::new(
            shop_client,
            ShopifySettings::for_policy(&ShopifyPolicy::default()),
        ));
    let dispatcher = Dispatcher::new(
        target,
        Arc::new(SystemClock),
        DispatchOptions {
            max_attempts: 60,
            batch: 100,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(50),
            jitter_seed: seed,
            actor: "system:dispatcher".into(),
            retailers: Some(vec![RETAILER.into()]),
        },
    );
    // A safety stop so a regression fails the assertions below instead of hanging the suite.
    let started = Instant::now();
    let report = rt()
        .block_on(
            dispatcher.run_until_idle(&mut store, || started.elapsed() > Duration::from_secs(240)),
        )
        .unwrap();
    println!("dispatcher: {report:?}");
    println!("increff faults: {:?}", increff.injected());
    println!("shopify faults: {:?}", shopify.injected());
    // Let every late effect land before the ledgers are read.
    std::thread::sleep(hold + Duration::from_millis(200));

    for row in store.troubled_actions(20).unwrap() {
        println!(
            "not confirmed: {} {:?}: {:?}",
            row.action.return_id, row.state, row.last_error
        );
    }
    assert_eq!(
        store.action_counts().unwrap(),
        vec![(OutboxState::Confirmed, u64::from(RETURNS))]
    );
    for fault in Fault::ALL {
        assert!(
            increff.injected().contains_key(&fault),
            "Increff: {fault:?} never injected"
        );
        assert!(
            shopify.injected().contains_key(&fault),
            "Shopify: {fault:?} never injected"
        );
    }
    assert!(report.unknown > 0 && report.rescheduled > 0, "{report:?}");

    let inc = increff.ledger();
    let shop = shopify.ledger();
    assert_eq!(shop.invalid_documents, 0);
    let (mut lost, mut doubles) = (0, 0);
    for (n, action) in (0..RETURNS).zip(&actions) {
        let row = store.action(&action.key).unwrap().unwrap();
        let reference = row.reference.unwrap();
        assert!(reference.starts_with(&order_code(n)), "{reference}");
        match case(n) {
            4 => {
                assert_eq!(inc.created.get(&order_code(n)), Some(&1), "return {n}");
                let body = &inc.create_bodies[&order_code(n)];
                assert_eq!(body["orderType"], "CUSTOMER_RETURN");
                assert_eq!(body["awbNumber"], format!("AWB{n:08}"));
            }
            _ => assert_eq!(inc.created.get(&order_code(n)), None, "return {n}"),
        }
        for (i, (_, _, _, passes, _)) in items_of(n).into_iter().enumerate() {
            let item = inc.item(&order_code(n), &code_at_increff(n, i as u32 + 1));
            match item.effects {
                0 => lost += 1,
                1 => {}
                _ => doubles += 1,
            }
            let state = item.current().unwrap();
            assert_eq!(state.status, if passes { "PASS" } else { "FAIL" });
            if !passes {
                assert_eq!(state.reason.as_deref(), Some("STAIN_DAMAGE"));
                assert_eq!(state.image_urls.len(), 1);
            }
        }
        let order = replacement_gid(n);
        let cancellations = shop.cancellations.get(&order).copied().unwrap_or(0);
        let status = |o: &str| shop.orders[o].fulfillment_orders[0].status.clone();
        match case(n) {
            0 | 4 | 5 => {}
            1 => {
                assert_eq!(status(&order), "OPEN", "return {n}: released");
                assert_eq!(cancellations, 0);
            }
            2 => {
                assert_eq!(cancellations, 1, "return {n}: cancelled once");
                assert_eq!(status(&order), "CLOSED", "return {n}: never released");
            }
            _ => {
                assert_eq!(cancellations, 0, "return {n}: the order stays");
                let failed_line = replacement_line(n, 1);
                assert_eq!(shop.current_quantities.get(&failed_line), Some(&0));
                assert_eq!(
                    shop.quantity_changes.get(&failed_line),
                    Some(&1),
                    "return {n}"
                );
                assert_eq!(shop.current_quantities.get(&replacement_line(n, 0)), None);
                assert_eq!(status(&order), "OPEN", "return {n}: the rest ships");
            }
        }
    }
    println!(
        "increff: {} updates accepted, {} effects; shopify: {} cancellations, {} line edits",
        inc.accepted.len(),
        inc.effects(),
        shop.cancellations.len(),
        shop.quantity_changes.len()
    );
    assert_eq!((lost, doubles), (0, 0), "lost, double");
    // Case 5's uncoded item was added once to each of its return orders (case 4's came
    // with their create).
    assert_eq!(
        inc.items_added,
        (0..RETURNS).filter(|n| case(*n) == 5).count() as u64
    );
    let items: u64 = (0..RETURNS).map(|n| items_of(n).len() as u64).sum();
    assert_eq!(inc.effects(), items, "one effect per item, nothing else");
}

/// Two items asked to be exchanged; one passes, the other is held for a supervisor's review.
/// The first update releases nothing and cancels nothing (the held item may yet fail); when
/// the supervisor decides the second (QC failed, no action), its line comes off and the
/// replacement ships with the first item's line.
#[test]
fn an_item_under_review_keeps_the_replacement_held_until_it_is_decided() {
    let (increff, shopify) = two_item_exchange("64");
    let order = "gid://shopify/Order/64";
    let (kept, dropped) = ("gid://shopify/LineItem/641", "gid://shopify/LineItem/642");
    let target = IncreffTarget::new(config(&increff), Duration::from_secs(5))
        .unwrap()
        .with_shop(shop(&shopify, Duration::from_secs(5)));
    let passed = item(1, Some(qc("found", Some("pass"), None, &[])), "exchange");
    let mut under_review = item(
        2,
        Some(qc("found", Some("fail"), Some("TAG_MISSING"), &[])),
        "hold_for_review",
    );
    under_review.chosen_option = Some("exchange".into());

    let (action, mut context) = update_of(vec![passed.clone()]);
    context.others = vec![under_review.clone()];
    rt().block_on(target.send(&action, &context)).unwrap();
    {
        let ledger = shopify.ledger();
        assert!(ledger.cancellations.is_empty(), "not cancelled");
        assert_eq!(
            ledger.orders[order].fulfillment_orders[0].status, "ON_HOLD",
            "not released while an item is under review"
        );
    }

    let mut decided = under_review;
    decided.outcome = Some("no_action".into());
    let (action, mut context) = update_of(vec![decided]);
    context.others = vec![passed];
    rt().block_on(target.send(&action, &context)).unwrap();
    let ledger = shopify.ledger();
    assert!(
        ledger.cancellations.is_empty(),
        "the passed item still ships"
    );
    assert_eq!(ledger.current_quantities.get(dropped), Some(&0));
    assert_eq!(ledger.current_quantities.get(kept), None, "untouched");
    assert_eq!(ledger.orders[order].fulfillment_orders[0].status, "OPEN");
    assert_eq!(ledger.invalid_documents, 0);
}

/// A replacement order longer than one page (51 lines, or 21 fulfillment orders) is refused
/// whole, naming the reason: never cancelled, edited or released on the part that was read.
#[test]
fn a_replacement_longer_than_a_page_is_refused_whole() {
    let increff = IncreffSim::start();
    increff.add_return("CP-R1", &[("IC-1", "TEE-1")]);
    let shopify = Simulator::start("Kōwhai");
    let order = "gid://shopify/Order/65";
    shopify.add_order(replacement(
        order,
        "R1",
        (0..51)
            .map(|k| sim_line(&format!("gid://shopify/LineItem/65{k:03}"), "TEE-L", 1))
            .collect(),
    ));
    let target = IncreffTarget::new(config(&increff), Duration::from_secs(5))
        .unwrap()
        .with_shop(shop(&shopify, Duration::from_secs(5)));
    let (action, context) = update_of(vec![item(
        1,
        Some(qc("found", Some("fail"), Some("USED_WORN"), &[])),
        "exchange",
    )]);
    match rt().block_on(target.send(&action, &context)) {
        Err(TargetError::Permanent(reason)) => {
            assert!(reason.contains("more than 50 line items"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(shopify.ledger().cancellations.is_empty());

    let shopify = Simulator::start("Kōwhai");
    let mut many = replacement(
        order,
        "R1",
        vec![sim_line("gid://shopify/LineItem/651", "TEE-L", 1)],
    );
    many.fulfillment_orders = (0..21)
        .map(|k| SimFulfillmentOrder::awaiting_return(&format!("fo-{k}")))
        .collect();
    shopify.add_order(many);
    let (exchange, context) = portal_exchange();
    match rt().block_on(shop(&shopify, Duration::from_secs(5)).send(&exchange, &context)) {
        Err(TargetError::Permanent(reason)) => {
            assert!(
                reason.contains("more than 20 fulfillment orders"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(!shopify
        .ledger()
        .operations
        .iter()
        .any(|o| o == "ReleaseHold"));
}

/// Return R1's item 1, found and passed, exchanged through the retailer's Shopify (a portal
/// return): the exchange action and its context.
fn portal_exchange() -> (ActionDue, ActionContext) {
    let exchange = ActionDue {
        key: IdempotencyKey::derive(RETAILER, "R1", &["R1-i1"], ActionKind::Exchange),
        retailer_id: RETAILER.into(),
        return_id: "R1".into(),
        item_ids: vec!["R1-i1".into()],
        kind: ActionKind::Exchange,
        amount: None,
        credit_note_expiry_days: None,
    };
    let (_, mut context) = update_of(vec![item(
        1,
        Some(qc("found", Some("pass"), None, &[])),
        "exchange",
    )]);
    context.source = "portal".into();
    context.target = ActionTarget::Shopify;
    (exchange, context)
}
