//! Exactly once, under faults: 1,000 actions (refunds, credit notes, exchanges, order tags)
//! queued in a real hub store are dispatched to the Shopify simulator over real sockets while it injects
//! faults at random (seeded): THROTTLED, 502s, connections dropped before and after the
//! effect, answers held past the client's timeout after the effect, slow answers, effects
//! that land after the client gave up (and after a reconciliation found nothing). Part way
//! through the dispatcher "crashes" (some rows are left `sent`, as a crash between marking and
//! sending leaves them) and a new one starts on a fresh connection to the same file.
//!
//! The ledger must end with exactly one effect per action and nothing else: 0 double refunds,
//! 0 lost. `SCENARIO_SEED` picks another seed; the run prints the faults it injected.
//!
//! The shop behaves as shops do: some orders were paid in Australian dollars (refunds go back
//! in AUD, exchanges of such orders go through as any other), one order has 250 lines, and
//! some replacement orders are also held by a fraud filter (left in place).
//!
//! It runs twice, once per way a retailer can have Shopify carry its actions: credit notes as
//! gift cards and exchanges by releasing a held replacement order, then credit notes as store
//! credit and exchanges by processing the customer's Shopify return.

use returnhub_simulators as support;

use std::sync::Arc;
use std::time::Duration;

use returnhub_connectors::dispatch::{DispatchOptions, DispatchReport, Dispatcher};
use returnhub_connectors::shopify::{gift_card_code, refund_note, store_credit_note};
use returnhub_connectors::{
    ClientOptions, ShopCredentials, ShopifyClient, ShopifySettings, ShopifyTarget, SystemClock,
};
use returnhub_core::bench::{Disposition, InspectionRecord, Presence};
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy, ReturnOption};
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::record::{
    OrderLineRecord, OrderRecord, RetailerRecord, ReturnItemRecord, ReturnRecord,
};
use returnhub_core::rules::{Grade, Outcome, QcStatus, RuleSet};
use returnhub_core::trigger::{
    ActionDue, ActionKind, CreditNoteVia, ExchangeVia, IdempotencyKey, ShopifyPolicy, Trigger,
};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, OutboxState, Store};
use support::simulator::{
    Fault, Presentment, SimFulfillmentOrder, SimLine, SimOrder, SimReturn, Simulator, TOKEN,
};

const ACTIONS: u32 = 1_000;
/// The dispatching device's key for gift card codes.
const CODES_KEY: &str = "scenario-device-key-for-gift-card-codes";
const RETAILER: &str = "kowhai";
const NOW: i64 = 1_795_461_900_000;
const NO_ACTION_TAG: &str = "returnhub-no-action";

fn input(event: DomainEvent) -> EventInput {
    EventInput {
        event,
        actor: "test".into(),
        station: Some("bench-t".into()),
    }
}

fn kind_of(n: u32) -> ActionKind {
    match n % 20 {
        0..=10 => ActionKind::Refund,
        11..=15 => ActionKind::CreditNote,
        16..=18 => ActionKind::Exchange,
        _ => ActionKind::TagOrder,
    }
}

fn order_gid(n: u32) -> String {
    format!("gid://shopify/Order/{}", 5_000_000 + n)
}

fn line_gid(n: u32) -> String {
    format!("gid://shopify/LineItem/{}", 7_000_000 + n)
}

/// Unit prices vary so amounts are not all alike.
fn price(n: u32) -> i64 {
    2_000 + i64::from(n % 37) * 150
}

/// Some refunded and exchanged orders were paid in Australian dollars (Shopify's presentment
/// currency) at the order's rate: their refunds must be made in AUD, and their exchanges go
/// through as any other.
fn paid_in_aud(n: u32) -> Option<Presentment> {
    let kind = kind_of(n);
    (matches!(kind, ActionKind::Refund | ActionKind::Exchange) && n % 7 == 3).then_some(
        Presentment {
            currency: Currency::AUD,
            per_million: 920_000,
        },
    )
}

/// One refunded order is long: 250 lines (Shopify's largest page), the returned one last, so
/// the refund's line is found only on the second page of line items.
const LONG_ORDER: u32 = 40;
const LONG_LINES: u32 = 250;

/// The lines of order `n` other than the returned one (`(id, price)`), which it has before it.
fn other_lines(n: u32) -> Vec<(String, i64)> {
    if n != LONG_ORDER {
        return Vec::new();
    }
    (1..LONG_LINES)
        .map(|j| {
            (
                format!("gid://shopify/LineItem/{}", 8_000_000 + n * 1_000 + j),
                1_000 + i64::from(j),
            )
        })
        .collect()
}

/// What order `n` cost: the returned line's units and every other line once.
fn order_total(n: u32) -> i64 {
    price(n) * i64::from(units(n)) + other_lines(n).iter().map(|(_, p)| p).sum::<i64>()
}

/// Some replacement orders are also held by a fraud check, which an exchange must leave.
fn fraud_held(n: u32) -> bool {
    n.is_multiple_of(3)
}

/// Units bought: one in every third order (so a refund that landed late leaves nothing to
/// suggest), else two. One unit is returned.
fn units(n: u32) -> u32 {
    if n.is_multiple_of(3) {
        1
    } else {
        2
    }
}

fn retailer(shopify: &ShopifyPolicy) -> RetailerRecord {
    RetailerRecord {
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
            credit_note_expiry_days: Some(365),
            currency: Some(Currency::NZD),
            shopify: shopify.clone(),
            partners: Default::default(),
        },
        rules: RuleSet { rules: vec![] },
        reasons: vec![],
        qc_reasons: vec![],
    }
}

/// The store: a retailer, and per action an order, a return of one item, its inspection and
/// the ActionDue. Returns the actions.
fn seed_store(store: &mut Store, shopify: &ShopifyPolicy) -> Vec<ActionDue> {
    let nzd = |m| Money::new(m, Currency::NZD);
    store
        .write(NOW, |tx| {
            tx.append(input(DomainEvent::RetailerConfigured(retailer(shopify))))
        })
        .unwrap();
    let mut actions = Vec::new();
    for chunk in (0..ACTIONS).collect::<Vec<_>>().chunks(100) {
        store
            .write(NOW, |tx| {
                for &n in chunk {
                    let return_id = format!("R{n:05}");
                    let item_id = format!("R{n:05}-i1");
                    tx.append(input(DomainEvent::OrderImported(OrderRecord {
                        id: order_gid(n),
                        retailer_id: RETAILER.into(),
                        order_number: format!("#{}", 10_000 + n),
                        customer_name: "Ana".into(),
                        email: format!("ana{n}@example.com"),
                        created_at: "2026-11-01T00:00:00.000Z".into(),
                        country: "NZ".into(),
                        tags: vec![],
                        subtotal: nzd(order_total(n)),
                        discount: nzd(0),
                        total: nzd(order_total(n)),
                        lines: other_lines(n)
                            .into_iter()
                            .map(|(id, price)| OrderLineRecord {
                                sku: format!("SKU-{id}"),
                                id,
                                ean: None,
                                title: "Sock".into(),
                                image: None,
                                quantity: 1,
                                unit_price: nzd(price),
                                discount: nzd(0),
                                product_tags: vec![],
                            })
                            .chain([OrderLineRecord {
                                id: line_gid(n),
                                sku: format!("SKU-{n}"),
                                ean: None,
                                title: "Tee".into(),
                                image: None,
                                quantity: units(n),
                                unit_price: nzd(price(n)),
                                discount: nzd(0),
                                product_tags: vec![],
                            }])
                            .collect(),
                    })))?;
                    tx.append(input(DomainEvent::ReturnExpected(ReturnRecord {
                        external_id: None,
                        id: return_id.clone(),
                        retailer_id: RETAILER.into(),
                        hub_id: "AKL".into(),
                        order_id: order_gid(n),
                        source: "portal".into(),
                        status: ReturnStatus::Expected,
                        created_at: "2026-11-02T00:00:00.000Z".into(),
                        connotes: vec![format!("LZ{n:08}0NZ")],
                        items: vec![ReturnItemRecord {
                            external_id: None,
                            id: item_id.clone(),
                            order_line_id: line_gid(n),
                            quantity: 1,
                            reason_code: "TOO_SMALL".into(),
                            sub_reason_code: None,
                            comment: None,
                            chosen_option: Some(ReturnOption::Refund),
                        }],
                    })))?;
                    // Every other item goes back to stock: its refund restocks at a location.
                    tx.append(input(DomainEvent::ItemInspected(InspectionRecord {
                        id: format!("insp-{n}"),
                        return_id: return_id.clone(),
                        item_id: item_id.clone(),
                        presence: Presence::Found,
                        qc: Some(QcStatus::Pass),
                        qc_reason: None,
                        grade: Some(Grade::A),
                        disposition: Some(if n.is_multiple_of(2) {
                            Disposition::BackToStock
                        } else {
                            Disposition::ResaleHold
                        }),
                        note: None,
                        photos: vec![],
                    })))?;
                    let kind = kind_of(n);
                    let action = ActionDue {
                        key: IdempotencyKey::derive(RETAILER, &return_id, &[&item_id], kind),
                        retailer_id: RETAILER.into(),
                        return_id,
                        item_ids: vec![item_id],
                        kind,
                        amount: matches!(kind, ActionKind::Refund | ActionKind::CreditNote)
                            .then(|| nzd(price(n))),
                        credit_note_expiry_days: (kind == ActionKind::CreditNote).then_some(365),
                    };
                    tx.append(input(DomainEvent::ActionDue(action.clone())))?;
                    actions.push(action);
                }
                Ok(())
            })
            .unwrap();
    }
    actions
}

fn shopify_return_gid(n: u32) -> String {
    format!("gid://shopify/Return/{}", 9_000_000 + n)
}

/// The shop: the same orders (paid), and for each exchange either a replacement order held
/// until the return passes, tagged with the return, or the customer's Shopify return with
/// its exchange item.
fn seed_shop(sim: &Simulator, shopify: &ShopifyPolicy) {
    for n in 0..ACTIONS {
        sim.add_order(SimOrder {
            id: order_gid(n),
            name: format!("#{}", 10_000 + n),
            email: format!("ana{n}@example.com"),
            customer: "Ana".into(),
            created_at: "2026-11-01T00:00:00Z".into(),
            updated_at: "2026-11-01T00:00:00Z".into(),
            currency: Currency::NZD,
            country: "NZ".into(),
            tags: vec![],
            discount_codes: vec![],
            lines: other_lines(n)
                .into_iter()
                .map(|(id, price)| SimLine {
                    sku: format!("SKU-{id}"),
                    id,
                    title: "Sock".into(),
                    barcode: None,
                    image: None,
                    product_tags: vec![],
                    quantity: 1,
                    unit_price: price,
                    discount: 0,
                })
                .chain([SimLine {
                    id: line_gid(n),
                    sku: format!("SKU-{n}"),
                    title: "Tee".into(),
                    barcode: None,
                    image: None,
                    product_tags: vec![],
                    quantity: units(n),
                    unit_price: price(n),
                    discount: 0,
                }])
                .collect(),
            payment: (
                format!("gid://shopify/OrderTransaction/{}", 3_000_000 + n),
                "shopify_payments".into(),
                order_total(n),
            ),
            refunds: vec![],
            fulfillment_orders: vec![],
        });
        if kind_of(n) == ActionKind::Exchange && shopify.exchange == ExchangeVia::ReturnProcess {
            sim.add_return(SimReturn {
                id: shopify_return_gid(n),
                name: format!("#{}-R1", 10_000 + n),
                order_id: order_gid(n),
                status: "OPEN".into(),
                lines: vec![(
                    format!("gid://shopify/ReturnLineItem/{}", 9_100_000 + n),
                    line_gid(n),
                    1,
                    0,
                )],
                exchanges: vec![(
                    format!("gid://shopify/ExchangeLineItem/{}", 9_200_000 + n),
                    1,
                    0,
                )],
                processed_by: 0,
            });
        } else if kind_of(n) == ActionKind::Exchange {
            sim.add_order(SimOrder {
                id: format!("gid://shopify/Order/{}", 6_000_000 + n),
                name: format!("#X{n}"),
                email: format!("ana{n}@example.com"),
                customer: "Ana".into(),
                created_at: "2026-11-03T00:00:00Z".into(),
                updated_at: "2026-11-03T00:00:00Z".into(),
                currency: Currency::NZD,
                country: "NZ".into(),
                tags: vec![format!("returnhub-exchange-R{n:05}")],
                discount_codes: vec![],
                lines: vec![],
                payment: (
                    format!("gid://shopify/OrderTransaction/{}", 4_000_000 + n),
                    "manual".into(),
                    0,
                ),
                refunds: vec![],
                fulfillment_orders: vec![{
                    let fo = SimFulfillmentOrder::awaiting_return(&format!(
                        "gid://shopify/FulfillmentOrder/{}",
                        8_000_000 + n
                    ));
                    if fraud_held(n) {
                        fo.held(&format!("fraud-{n}"), "HIGH_RISK_OF_FRAUD", "Fraud Filter")
                    } else {
                        fo
                    }
                }],
            });
        }
        if let Some(presentment) = paid_in_aud(n) {
            sim.ledger().presentment.insert(order_gid(n), presentment);
        }
    }
}

fn dispatcher(sim: &Simulator, seed: u64, shopify: &ShopifyPolicy) -> Dispatcher<ShopifyTarget> {
    let credentials = ShopCredentials::new(&sim.base(), TOKEN).unwrap();
    let client = ShopifyClient::new(
        &credentials,
        Arc::new(SystemClock),
        ClientOptions {
            timeout: Duration::from_millis(250),
            max_retries: 2,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(40),
            max_throttled: 50,
            jitter_seed: seed,
        },
    )
    .unwrap();
    Dispatcher::new(
        ShopifyTarget::new(
            client,
            ShopifySettings::for_policy(shopify).with_gift_card_secret(CODES_KEY),
        ),
        Arc::new(SystemClock),
        DispatchOptions {
            max_attempts: 60,
            batch: 100,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(50),
            jitter_seed: seed ^ 0xD15,
            actor: "system:dispatcher".into(),
            retailers: Some(vec![RETAILER.into()]),
        },
    )
}

fn confirmed(store: &Store) -> u64 {
    store
        .action_counts()
        .unwrap()
        .into_iter()
        .find(|(s, _)| *s == OutboxState::Confirmed)
        .map_or(0, |(_, n)| n)
}

#[test]
fn a_thousand_actions_under_random_faults_take_effect_exactly_once() {
    scenario(ShopifyPolicy {
        no_action_tag: Some(NO_ACTION_TAG.into()),
        ..ShopifyPolicy::default()
    });
}

#[test]
fn the_same_with_store_credit_and_exchanges_through_shopify_returns() {
    scenario(ShopifyPolicy {
        exchange: ExchangeVia::ReturnProcess,
        credit_note: CreditNoteVia::StoreCredit,
        no_action_tag: Some(NO_ACTION_TAG.into()),
        ..ShopifyPolicy::default()
    });
}

fn scenario(shopify: ShopifyPolicy) {
    println!("policy: {shopify:?}");
    let seed: u64 = std::env::var("SCENARIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0006);
    println!("scenario seed: {seed} (SCENARIO_SEED={seed} repeats this run)");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let mut store = Store::open(&path).unwrap();
    let actions = seed_store(&mut store, &shopify);
    assert_eq!(actions.len() as u32, ACTIONS);
    assert_eq!(kind_of(LONG_ORDER), ActionKind::Refund);
    assert!((0..ACTIONS).any(|n| kind_of(n) == ActionKind::Exchange && paid_in_aud(n).is_some()));

    let sim = Simulator::start("Kōwhai Apparel");
    seed_shop(&sim, &shopify);
    // A generous bucket (the pacing has its own test) and faults on 15% of requests.
    sim.set_bucket(1_000.0, 20_000.0);
    sim.inject(
        0.15,
        seed,
        Duration::from_millis(500),
        Duration::from_millis(40),
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut report = DispatchReport::default();
    // Phase 1: until about half are confirmed, then a "crash": a few rows are left `sent`
    // (marked, never sent), the dispatcher and its connection dropped.
    {
        let first = dispatcher(&sim, seed, &shopify);
        while confirmed(&store) < u64::from(ACTIONS) / 2 {
            let pass = rt.block_on(first.run_once(&mut store)).unwrap();
            report.add(&pass);
        }
        let pending: Vec<_> = store
            .due_actions(None, i64::MAX / 4, 20)
            .unwrap()
            .into_iter()
            .filter(|r| r.state == OutboxState::Pending)
            .collect();
        for row in &pending {
            store.mark_action_sent(&row.action.key, NOW).unwrap();
        }
        println!(
            "crash after {} confirmed; {} rows left `sent`",
            confirmed(&store),
            pending.len()
        );
    }
    drop(store);

    // Phase 2: a new dispatcher on a fresh connection reconciles and finishes.
    let mut store = Store::open(&path).unwrap();
    let second = dispatcher(&sim, seed.wrapping_add(1), &shopify);
    let pass = rt
        .block_on(second.run_until_idle(&mut store, || false))
        .unwrap();
    report.add(&pass);

    let injected = sim.injected();
    println!("faults injected: {injected:?}");
    println!("dispatcher: {report:?}");
    {
        let ledger = sim.ledger();
        println!(
            "simulator: {} requests, {} THROTTLED by the bucket, {} invalid documents",
            ledger.operations.len(),
            ledger.throttled_by_bucket,
            ledger.invalid_documents
        );
    }
    for fault in Fault::ALL {
        assert!(
            injected.get(&fault).copied().unwrap_or(0) > 0,
            "{fault:?} was never injected"
        );
    }

    // Every action confirmed, each with the reference of its one effect.
    for row in store.troubled_actions(20).unwrap() {
        println!(
            "not confirmed: {} {:?}: {:?}",
            row.action.return_id, row.state, row.last_error
        );
    }
    let counts = store.action_counts().unwrap();
    assert_eq!(
        counts,
        vec![(OutboxState::Confirmed, u64::from(ACTIONS))],
        "{counts:?}"
    );
    let ledger = sim.ledger();
    assert_eq!(ledger.invalid_documents, 0);
    let mut doubles = 0;
    let mut lost = 0;
    for action in &actions {
        let row = store.action(&action.key).unwrap().unwrap();
        let reference = row.reference.clone().unwrap();
        let n: u32 = action.return_id[1..].parse().unwrap();
        match action.kind {
            ActionKind::Refund => {
                let note = refund_note(&action.key);
                let refunds: Vec<_> = ledger.orders[&order_gid(n)].refunds.iter().collect();
                let mine: Vec<_> = refunds
                    .iter()
                    .filter(|r| r.note.as_deref() == Some(note.as_str()))
                    .collect();
                match mine.len() {
                    0 => lost += 1,
                    1 => {}
                    _ => doubles += 1,
                }
                assert_eq!(refunds.len(), 1, "order {n}: nothing but this refund");
                let refund = refunds[0];
                assert_eq!(refund.id, reference);
                // The confirmation says what the customer got back in their own currency
                // (whether it came from the refund's answer or from reconciliation).
                let paid = store.actions_paid(&action.return_id).unwrap();
                match paid_in_aud(n) {
                    Some(aud) => assert_eq!(
                        paid,
                        vec![(
                            action.key.as_str().to_owned(),
                            Money::new(aud.of(price(n), Currency::NZD), Currency::AUD)
                        )],
                        "order {n}"
                    ),
                    None => assert!(paid.is_empty(), "order {n}: {paid:?}"),
                }
                match paid_in_aud(n) {
                    Some(aud) => {
                        // Made in the currency paid: the whole suggestion's AUD amount (the
                        // shop's ledger converts it back, within a cent).
                        assert_eq!(
                            refund.paid_back,
                            Some((aud.of(price(n), Currency::NZD), Currency::AUD)),
                            "order {n}: refunded in AUD"
                        );
                        assert!((refund.amount - price(n)).abs() <= 1, "order {n}");
                    }
                    None => assert_eq!(refund.amount, price(n), "the decision's amount, exactly"),
                }
                assert_eq!(
                    refund.store_credit, None,
                    "a refund goes back to the payment"
                );
                // Only the returned line, also on the 250-line order where it comes last.
                assert_eq!(refund.lines.len(), 1, "order {n}");
                let (line, quantity, restock, location) = &refund.lines[0];
                assert_eq!(*line, line_gid(n), "order {n}");
                assert_eq!(*quantity, 1);
                if n.is_multiple_of(2) {
                    assert_eq!(restock, "RETURN");
                    assert_eq!(location.as_deref(), Some(support::simulator::LOCATION));
                } else {
                    assert_eq!(restock, "NO_RESTOCK");
                }
            }
            ActionKind::CreditNote if shopify.credit_note == CreditNoteVia::StoreCredit => {
                let note = store_credit_note(&action.key);
                let refunds = &ledger.orders[&order_gid(n)].refunds;
                match refunds
                    .iter()
                    .filter(|r| r.note.as_deref() == Some(note.as_str()))
                    .count()
                {
                    0 => lost += 1,
                    1 => {}
                    _ => doubles += 1,
                }
                assert_eq!(refunds.len(), 1, "order {n}: nothing but this credit");
                assert_eq!(refunds[0].id, reference);
                assert_eq!(refunds[0].amount, price(n));
                let (credit, expires_at) = refunds[0].store_credit.clone().unwrap();
                assert_eq!(credit, price(n), "all of it to store credit");
                assert!(expires_at.is_some(), "credit notes expire per the rule");
            }
            ActionKind::CreditNote => {
                let code = gift_card_code(CODES_KEY.as_bytes(), &action.key);
                let cards: Vec<_> = ledger
                    .gift_cards
                    .iter()
                    .filter(|g| g.code == code)
                    .collect();
                match cards.len() {
                    0 => lost += 1,
                    1 => {}
                    _ => doubles += 1,
                }
                assert_eq!(cards[0].id, reference);
                assert_eq!(cards[0].amount, price(n));
                assert_eq!(cards[0].currency, "NZD");
                assert!(
                    cards[0].expires_on.is_some(),
                    "credit notes expire per the rule"
                );
                assert!(ledger.orders[&order_gid(n)].refunds.is_empty());
            }
            ActionKind::Exchange if shopify.exchange == ExchangeVia::ReturnProcess => {
                assert_eq!(reference, shopify_return_gid(n));
                let shop_return = ledger.returns.iter().find(|r| r.id == reference).unwrap();
                match shop_return.processed_by {
                    0 => lost += 1,
                    1 => {}
                    _ => doubles += 1,
                }
                assert_eq!(shop_return.lines[0].3, 1, "the returned item processed");
                assert_eq!(shop_return.exchanges[0].2, 1, "the exchange item processed");
                assert!(ledger.orders[&order_gid(n)].refunds.is_empty());
            }
            ActionKind::Exchange => {
                let replacement = format!("gid://shopify/Order/{}", 6_000_000 + n);
                assert_eq!(reference, replacement);
                let holds: Vec<&str> = ledger.orders[&replacement]
                    .fulfillment_orders
                    .iter()
                    .flat_map(|fo| fo.holds.iter().map(|h| h.reason.as_str()))
                    .collect();
                if holds.contains(&"AWAITING_RETURN_ITEMS") {
                    lost += 1;
                }
                // Another's hold is never released with ours.
                assert_eq!(
                    holds.contains(&"HIGH_RISK_OF_FRAUD"),
                    fraud_held(n),
                    "replacement {replacement}: {holds:?}"
                );
                assert!(ledger.orders[&order_gid(n)].refunds.is_empty());
            }
            ActionKind::TagOrder => {
                let order = &ledger.orders[&order_gid(n)];
                assert_eq!(reference, order.id);
                match order.tags.iter().filter(|t| *t == NO_ACTION_TAG).count() {
                    0 => lost += 1,
                    1 => {}
                    _ => doubles += 1,
                }
                assert!(order.refunds.is_empty());
            }
            ActionKind::PartnerUpdate => {
                panic!("every return here is the shop's own: no partner update")
            }
        }
    }
    let refunds_total: usize = ledger.orders.values().map(|o| o.refunds.len()).sum();
    let refund_actions = actions
        .iter()
        .filter(|a| a.kind == ActionKind::Refund)
        .count();
    let credit_actions = actions
        .iter()
        .filter(|a| a.kind == ActionKind::CreditNote)
        .count();
    let (refunds_expected, cards_expected) = match shopify.credit_note {
        CreditNoteVia::GiftCard => (refund_actions, credit_actions),
        CreditNoteVia::StoreCredit => (refund_actions + credit_actions, 0),
    };
    let processed: u32 = ledger.returns.iter().map(|r| r.processed_by).sum();
    println!(
        "ledger: {refunds_total} refunds for {refund_actions} refund actions, {} gift cards for {credit_actions} credit notes, {processed} Shopify returns processed; {doubles} double, {lost} lost",
        ledger.gift_cards.len()
    );
    assert_eq!(doubles, 0, "double effects");
    assert_eq!(lost, 0, "lost effects");
    assert_eq!(
        refunds_total, refunds_expected,
        "no refund nobody asked for"
    );
    assert_eq!(
        ledger.gift_cards.len(),
        cards_expected,
        "no gift card nobody asked for"
    );
    assert_eq!(
        processed as usize,
        ledger.returns.len(),
        "no Shopify return processed twice or left"
    );
}
