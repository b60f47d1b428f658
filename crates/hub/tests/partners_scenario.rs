//! Every partner at once, through the real hub, under faults: one retailer (Kōwhai) is
//! connected to Loop, Increff, Returns Prime and its Shopify shop (each a simulator on a real
//! socket), with two tracking webhook URLs (one refuses its first requests). About ten returns
//! per source are expected; the operator scans, inspects (passed, failed QC, missing) and
//! processes every one while the hub's own dispatch and webhook threads work, and every
//! simulator injects faults (seeded; `SCENARIO_SEED` picks another run).
//!
//! At the end: every action confirmed, under the name of the partner that carried it; exactly
//! one effect per action at each simulator (Loop: one effective `process` per return;
//! Increff and Returns Prime: one per item told; Shopify: one refund or gift card per action),
//! 0 lost, 0 doubled; every tracking batch delivered once to each URL (RC one event per item,
//! RP one per item not found missing).

use returnhub_simulators::increff_sim;
use returnhub_simulators::loop_sim;
use returnhub_simulators::receiver;
use returnhub_simulators::rp_sim;
use returnhub_simulators::simulator;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use increff_sim::IncreffSim;
use loop_sim::{LoopFault, LoopSim, SimState};
use receiver::{Answer, Receiver};
use returnhub_connectors::shopify::refund_note;
use returnhub_connectors::tracking_out::RetrySchedule;
use returnhub_core::bench::Presence;
use returnhub_core::decision::ReturnOption;
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::partner::ActionTarget;
use returnhub_core::record::{OrderLineRecord, OrderRecord, ReturnItemRecord, ReturnRecord};
use returnhub_core::rules::{Grade, QcStatus};
use returnhub_core::trigger::{ActionDue, ActionKind};
use returnhub_hub::{
    DispatchSchedule, Hub, HubOptions, InspectRequest, PartnerConnectionInput, TrackingWebhookInput,
};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, OutboxState, Store};
use rp_sim::{RpLine, RpRequestSim, RpSim};
use simulator::{Fault, SimLine, SimOrder, Simulator};

const RETAILER: &str = "kowhai";
const RETURNS_PER_SOURCE: u32 = 10;
/// Faults on this share of every simulator's requests (after a few forced ones).
const FAULT_RATE: f64 = 0.1;
const NOW: i64 = 1_795_461_900_000; // 2026-11-23T19:25:00Z

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Src {
    Loop,
    Increff,
    ReturnsPrime,
    Shopify,
}

impl Src {
    const ALL: [Src; 4] = [Src::Loop, Src::Increff, Src::ReturnsPrime, Src::Shopify];

    fn target(self) -> &'static str {
        match self {
            Src::Loop => "loop",
            Src::Increff => "increff",
            Src::ReturnsPrime => "returns_prime",
            Src::Shopify => "shopify",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Src::Loop => "LP",
            Src::Increff => "IC",
            Src::ReturnsPrime => "RP",
            Src::Shopify => "SH",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Pass,
    Fail,
    Missing,
}

#[derive(Debug, Clone)]
struct Item {
    id: String,
    order_line_id: String,
    /// The item's id at the partner (Loop line item, Increff item code, RP line item).
    external_id: Option<String>,
    sku: String,
    price: i64,
    check: Check,
    choice: ReturnOption,
}

#[derive(Debug, Clone)]
struct Planned {
    src: Src,
    source: &'static str,
    return_id: String,
    order_id: String,
    connote: String,
    /// The return's id at the partner.
    external_id: Option<String>,
    items: Vec<Item>,
}

impl Planned {
    /// Items a partner update tells (a failed QC is held for review at Kōwhai: not told).
    fn told(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.check != Check::Fail)
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An S10 connote (`LZ` + 8 digits + check digit + `NZ`), as the scanner verifies it.
fn connote(serial: u32) -> String {
    let digits: Vec<u32> = format!("{serial:08}")
        .chars()
        .map(|c| c.to_digit(10).unwrap())
        .collect();
    let sum: u32 = digits
        .iter()
        .zip([8, 6, 4, 2, 3, 5, 9, 7])
        .map(|(d, w)| d * w)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c,
    };
    format!("LZ{serial:08}{check}NZ")
}

/// The returns of this run: `RETURNS_PER_SOURCE` per source, 1 to 3 items each, the first
/// item always passed (so every return makes an action), the others passed, failed or
/// missing as the seed says.
fn plan(seed: u64) -> Vec<Planned> {
    let mut rng = seed;
    let mut out = Vec::new();
    for src in Src::ALL {
        for n in 0..RETURNS_PER_SOURCE {
            let k = src as u32 * 100 + n;
            let tag = src.tag();
            let count = 1 + (splitmix(&mut rng) % 3) as usize;
            let return_id = format!("RET-{tag}-{n}");
            let order_id = match src {
                Src::Shopify => format!("gid://shopify/Order/{}", 5_100_000 + k),
                _ => format!("ORDER-{tag}-{n}"),
            };
            let items = (0..count)
                .map(|j| {
                    let draw = splitmix(&mut rng) % 10;
                    let check = match (j, draw) {
                        (0, _) | (_, 0..=5) => Check::Pass,
                        (_, 6..=7) => Check::Fail,
                        _ => Check::Missing,
                    };
                    let choice = if src == Src::Shopify && splitmix(&mut rng).is_multiple_of(3) {
                        ReturnOption::CreditNote
                    } else {
                        ReturnOption::Refund
                    };
                    let external_id = match src {
                        Src::Loop => Some(format!("{}", 50_000 + k * 10 + j as u32)),
                        Src::Increff => Some(format!("IC-{n}-{j}")),
                        Src::ReturnsPrime => Some(format!("{}", 800_000 + k * 10 + j as u32)),
                        Src::Shopify => None,
                    };
                    let order_line_id = match src {
                        Src::Shopify => {
                            format!("gid://shopify/LineItem/{}", 7_100_000 + k * 10 + j as u32)
                        }
                        _ => format!("{order_id}-l{j}"),
                    };
                    Item {
                        id: format!("{return_id}-i{j}"),
                        order_line_id,
                        external_id,
                        sku: format!("KW-{tag}-{n}-{j}"),
                        price: 2_500 + (splitmix(&mut rng) % 40) as i64 * 100,
                        check,
                        choice,
                    }
                })
                .collect();
            let source = match src {
                Src::Loop => "loop",
                Src::Increff if n % 3 == 0 => "clickpost",
                Src::Increff => "increff",
                Src::ReturnsPrime => "returns_prime",
                Src::Shopify => "portal",
            };
            let external_id = match src {
                Src::Loop => Some(format!("{}", 9_000 + k)),
                Src::Increff => Some(format!("CP-{n}")),
                Src::ReturnsPrime => Some(format!("{}", 70_000 + k)),
                Src::Shopify => None,
            };
            out.push(Planned {
                src,
                source,
                return_id,
                order_id,
                connote: connote(73_000_000 + k),
                external_id,
                items,
            });
        }
    }
    out
}

/// Orders and expected returns, written through a second connection to the hub's store (as
/// an import or a partner's feed would).
fn seed_store(dir: &std::path::Path, planned: &[Planned], created_at: &str) {
    let nzd = |m| Money::new(m, Currency::NZD);
    let mut store = Store::open(&dir.join("returnhub.db")).unwrap();
    let input = |event| EventInput {
        event,
        actor: "test:partners-scenario".into(),
        station: None,
    };
    store
        .write(NOW, |tx| {
            for p in planned {
                let total: i64 = p.items.iter().map(|i| i.price).sum();
                tx.append(input(DomainEvent::OrderImported(OrderRecord {
                    id: p.order_id.clone(),
                    retailer_id: RETAILER.into(),
                    order_number: format!("#{}", p.return_id),
                    customer_name: "Mere".into(),
                    email: "mere@example.com".into(),
                    created_at: created_at.into(),
                    country: "NZ".into(),
                    tags: vec![],
                    subtotal: nzd(total),
                    discount: nzd(0),
                    total: nzd(total),
                    lines: p
                        .items
                        .iter()
                        .map(|i| OrderLineRecord {
                            id: i.order_line_id.clone(),
                            sku: i.sku.clone(),
                            ean: None,
                            title: "Merino crew".into(),
                            image: None,
                            quantity: 1,
                            unit_price: nzd(i.price),
                            discount: nzd(0),
                            product_tags: vec![],
                        })
                        .collect(),
                })))?;
                tx.append(input(DomainEvent::ReturnExpected(ReturnRecord {
                    external_id: p.external_id.clone(),
                    id: p.return_id.clone(),
                    retailer_id: RETAILER.into(),
                    hub_id: "AKL".into(),
                    order_id: p.order_id.clone(),
                    source: p.source.into(),
                    status: ReturnStatus::Expected,
                    created_at: "2026-11-20T00:00:00.000Z".into(),
                    connotes: vec![p.connote.clone()],
                    items: p
                        .items
                        .iter()
                        .map(|i| ReturnItemRecord {
                            external_id: i.external_id.clone(),
                            id: i.id.clone(),
                            order_line_id: i.order_line_id.clone(),
                            quantity: 1,
                            reason_code: "CHANGED_MIND".into(),
                            sub_reason_code: None,
                            comment: None,
                            chosen_option: Some(i.choice),
                        })
                        .collect(),
                })))?;
            }
            Ok(())
        })
        .unwrap();
}

/// Each partner's own record of its returns, and the shop's orders.
fn seed_simulators(
    planned: &[Planned],
    lp: &LoopSim,
    increff: &IncreffSim,
    rp: &RpSim,
    shop: &Simulator,
    created_at: &str,
) {
    for p in planned {
        let ext = p.external_id.clone().unwrap_or_default();
        let pairs: Vec<(String, String)> = p
            .items
            .iter()
            .map(|i| (i.external_id.clone().unwrap_or_default(), i.sku.clone()))
            .collect();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        match p.src {
            Src::Loop => lp.add_return(&ext, &pairs),
            Src::Increff => increff.add_return(&ext, &pairs),
            Src::ReturnsPrime => rp.add_request(RpRequestSim {
                id: ext.clone(),
                request_number: format!("RP-{}", p.return_id),
                order_name: format!("#{}", p.return_id),
                status: "approved".into(),
                received: false,
                rejected: false,
                lines: p
                    .items
                    .iter()
                    .map(|i| RpLine {
                        id: i.external_id.clone().unwrap(),
                        sku: i.sku.clone(),
                        quantity: 1,
                        awbs: vec![p.connote.clone()],
                        refund_status: "pending".into(),
                        qc: None,
                    })
                    .collect(),
            }),
            Src::Shopify => {}
        }
        // Every return's order is in the retailer's shop, the partners' too (they sold it
        // there): only the Shopify returns may touch it.
        let total: i64 = p.items.iter().map(|i| i.price).sum();
        shop.add_order(SimOrder {
            id: p.order_id.clone(),
            name: format!("#{}", p.return_id),
            email: "mere@example.com".into(),
            customer: "Mere".into(),
            created_at: created_at.into(),
            updated_at: created_at.into(),
            currency: Currency::NZD,
            country: "NZ".into(),
            tags: vec![],
            discount_codes: vec![],
            lines: p
                .items
                .iter()
                .map(|i| SimLine {
                    id: i.order_line_id.clone(),
                    sku: i.sku.clone(),
                    title: "Merino crew".into(),
                    barcode: None,
                    image: None,
                    product_tags: vec![],
                    quantity: 1,
                    unit_price: i.price,
                    discount: 0,
                })
                .collect(),
            payment: (
                p.order_id.replace("Order/", "OrderTransaction/9"),
                "shopify_payments".into(),
                total,
            ),
            refunds: vec![],
            fulfillment_orders: vec![],
        });
    }
}

fn partner(
    target: ActionTarget,
    base: String,
    secret: &str,
    username: Option<&str>,
    domain: Option<&str>,
) -> PartnerConnectionInput {
    PartnerConnectionInput {
        target,
        base_url: base,
        username: username.map(str::to_owned),
        domain: domain.map(str::to_owned),
        qc_path: None,
        photo_url_base: None,
        secret: secret.into(),
        insecure: false,
    }
}

fn hook(url: &str) -> TrackingWebhookInput {
    TrackingWebhookInput {
        url: url.into(),
        username: None,
        password: None,
        clear_password: false,
        insecure: false,
    }
}

/// Scans the parcel, inspects every item as planned, processes the return.
fn work_the_bench(hub: &Hub, p: &Planned, fail_reason: &str) -> u32 {
    let scan = hub.scan(&p.connote).unwrap();
    let ret = scan
        .ret
        .unwrap_or_else(|| panic!("{} is not found by its connote", p.return_id));
    assert_eq!(ret.id, p.return_id);
    for item in &ret.items {
        let planned = p.items.iter().find(|i| i.id == item.id).unwrap();
        let (presence, qc, grade, qc_reason) = match planned.check {
            Check::Pass => (Presence::Found, Some(QcStatus::Pass), Some(Grade::B), None),
            Check::Fail => (
                Presence::Found,
                Some(QcStatus::Fail),
                None,
                Some(fail_reason.to_owned()),
            ),
            Check::Missing => (Presence::Missing, None, None, None),
        };
        hub.inspect_item(InspectRequest {
            return_id: ret.id.clone(),
            item_id: item.id.clone(),
            presence,
            qc,
            qc_reason,
            grade,
            disposition: None,
            note: None,
            photos: vec![],
        })
        .unwrap();
    }
    hub.process_return(&ret.id).unwrap().actions_queued
}

/// My returns' actions: (key, state, the action).
fn actions_of(hub: &Hub, planned: &[Planned]) -> Vec<(String, OutboxState, ActionDue)> {
    hub.with_store(|s| {
        planned
            .iter()
            .flat_map(|p| s.actions_of(&p.return_id).unwrap())
            .map(|(key, state, payload)| {
                (
                    key,
                    OutboxState::parse(&state).unwrap(),
                    serde_json::from_str::<ActionDue>(&payload).unwrap(),
                )
            })
            .collect()
    })
}

/// My returns' tracking delivery rows: (URL, delivered).
fn deliveries(hub: &Hub, planned: &[Planned]) -> Vec<(String, bool)> {
    hub.with_store(|s| {
        planned
            .iter()
            .flat_map(|p| s.deliveries_of(&p.return_id).unwrap())
            .map(|row| (row.url, row.delivered))
            .collect()
    })
}

fn sum<K>(m: &BTreeMap<K, u64>) -> u64 {
    m.values().sum()
}

#[test]
fn every_partner_gets_exactly_one_effect_per_action_and_every_url_every_event_once() {
    let started = Instant::now();
    let seed: u64 = std::env::var("SCENARIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0F4B);
    println!("scenario seed: {seed} (SCENARIO_SEED={seed} repeats this run)");
    let planned = plan(seed);

    // The hub on the system clock (the dispatcher's backoff is written with it), the
    // dispatcher's and the webhook's retries quick enough for a test (`[dispatch]`,
    // `[webhooks]`).
    let dir = tempfile::tempdir().unwrap();
    let mut options = HubOptions::demo(dir.path());
    options.dispatch_schedule = DispatchSchedule {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(1_000),
        max_attempts: 8,
    };
    options.webhook_schedule = RetrySchedule {
        base: Duration::from_millis(200),
        max: Duration::from_millis(1_000),
        budget: 3,
    };
    let hub = Arc::new(Hub::open(options).unwrap());

    let lp = LoopSim::start();
    let increff = IncreffSim::start();
    let rp = RpSim::start();
    let shop = Simulator::start("Kōwhai Apparel (simulated)");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let created_at = returnhub_core::time::rfc3339(now_ms - 2 * 86_400_000);
    seed_simulators(&planned, &lp, &increff, &rp, &shop, &created_at);
    seed_store(dir.path(), &planned, &created_at);
    // Loop closes a queued return shortly after (its processing is asynchronous).
    lp.close_after(Some(Duration::from_millis(300)));

    // Two URLs; the second refuses its first five requests (past the retry budget of 3).
    let steady = Receiver::start(true);
    let flaky = Receiver::start(true);
    flaky.script(&[
        Answer::Status(503),
        Answer::Drop,
        Answer::Status(500),
        Answer::Status(503),
        Answer::Status(502),
    ]);

    // The admin connects everything, faults off (each connection is tested first).
    hub.sign_in("AD-3001", "3333").unwrap();
    hub.connect_partner(
        RETAILER,
        partner(ActionTarget::Loop, lp.base(), loop_sim::API_KEY, None, None),
    )
    .unwrap();
    hub.connect_partner(
        RETAILER,
        partner(
            ActionTarget::Increff,
            increff.base(),
            increff_sim::PASSWORD,
            Some(increff_sim::USERNAME),
            Some(increff_sim::DOMAIN),
        ),
    )
    .unwrap();
    hub.connect_partner(
        RETAILER,
        partner(
            ActionTarget::ReturnsPrime,
            rp.base(),
            rp_sim::TOKEN,
            None,
            None,
        ),
    )
    .unwrap();
    hub.connect_shop(RETAILER, &shop.base(), simulator::TOKEN)
        .unwrap();
    hub.save_tracking_webhooks(RETAILER, vec![hook(&steady.url()), hook(&flaky.url())])
        .unwrap();
    assert_eq!(hub.partner_connections().unwrap().len(), 3);
    // Increff's connection test posts an empty update, which Increff refuses for its body.
    let increff_refused_at_connect = increff.ledger().refused.len();
    hub.sign_out().unwrap();

    // Faults from now on: a few forced first (so every simulator sees some whatever the
    // seed), then a seeded share. Answers held 1.5 s (past the dispatcher's first backoff, so
    // a late effect can land after a reconciliation found nothing).
    let hold = Duration::from_millis(1_500);
    let slow = Duration::from_millis(60);
    lp.force_sequence(&[
        Some(LoopFault::DropAfterCommit),
        None,
        Some(LoopFault::Throttled),
        Some(LoopFault::LateCommit),
    ]);
    lp.inject(FAULT_RATE, seed ^ 0x100F, hold, slow);
    increff.force(&[Fault::DropAfterCommit, Fault::Throttled, Fault::LateCommit]);
    increff.inject(FAULT_RATE, seed ^ 0x1C, hold, slow);
    rp.force(&[
        Fault::DropAfterCommit,
        Fault::ServerError,
        Fault::TimeoutAfterCommit,
    ]);
    rp.inject(FAULT_RATE, seed ^ 0x12, hold, slow);
    shop.force(&[Fault::DropAfterCommit, Fault::Throttled, Fault::LateCommit]);
    shop.inject(FAULT_RATE, seed ^ 0x5409, hold, slow);

    // The hub's threads run while the bench works.
    Hub::start_shop_workers(hub.clone());
    Hub::start_webhook_worker(hub.clone());

    // The operator: every parcel, in an order the seed shuffles.
    hub.sign_in("OP-1001", "1111").unwrap();
    let mut order: Vec<usize> = (0..planned.len()).collect();
    let mut rng = seed ^ 0xBE4C;
    for i in (1..order.len()).rev() {
        order.swap(i, (splitmix(&mut rng) % (i as u64 + 1)) as usize);
    }
    // A standard QC reason that needs no photo, for the failed items.
    let fail_reason = hub
        .with_store(|s| s.standard_qc_reasons().unwrap())
        .into_iter()
        .find(|r| !r.requires_photo)
        .expect("a standard QC reason without a photo")
        .code;
    let mut queued = 0;
    for &i in &order {
        queued += work_the_bench(&hub, &planned[i], &fail_reason);
    }
    let bench_done = started.elapsed();

    // What must come out of it.
    let partner_returns = planned.iter().filter(|p| p.src != Src::Shopify).count();
    let shopify_actions = planned
        .iter()
        .filter(|p| p.src == Src::Shopify)
        .flat_map(|p| &p.items)
        .filter(|i| i.check == Check::Pass)
        .count();
    assert_eq!(
        queued as usize,
        partner_returns + shopify_actions,
        "one update per partner return, one action per passed Shopify item"
    );
    let items: u64 = planned.iter().map(|p| p.items.len() as u64).sum();
    let found: u64 = planned
        .iter()
        .flat_map(|p| &p.items)
        .filter(|i| i.check != Check::Missing)
        .count() as u64;
    let per_url = items + found;
    let batches = planned.len() as u64 * 2;

    // Bounded wait (a deadline, no timing assertion): every action settled, every delivery
    // row delivered.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut settled_by: BTreeMap<Src, Duration> = BTreeMap::new();
    loop {
        let actions = actions_of(&hub, &planned);
        for src in Src::ALL {
            let done = actions
                .iter()
                .filter(|(_, _, a)| {
                    planned
                        .iter()
                        .any(|p| p.return_id == a.return_id && p.src == src)
                })
                .all(|(_, s, _)| matches!(s, OutboxState::Confirmed | OutboxState::Failed));
            if done {
                settled_by.entry(src).or_insert_with(|| started.elapsed());
            }
        }
        let settled = actions
            .iter()
            .all(|(_, s, _)| matches!(s, OutboxState::Confirmed | OutboxState::Failed));
        let rows = deliveries(&hub, &planned);
        let delivered = rows.iter().filter(|(_, d)| *d).count();
        let rows = rows.len();
        if settled && rows == delivered {
            break;
        }
        if Instant::now() > deadline {
            for (key, state, action) in actions
                .iter()
                .filter(|(_, s, _)| *s != OutboxState::Confirmed)
            {
                let row = hub.with_store(|s| {
                    s.action(&returnhub_core::trigger::IdempotencyKey::parse(key).unwrap())
                        .unwrap()
                        .unwrap()
                });
                println!(
                    "not settled: {} {key} {state:?} attempts {} next {:?}: {:?}",
                    action.return_id, row.attempts, row.next_attempt_at, row.last_error
                );
            }
            panic!(
                "timed out: actions settled {settled}, deliveries {delivered} of {rows} after {:?}",
                started.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let settled_at = started.elapsed();

    // Every action confirmed (none refused: nothing here is meant to be), under the name of
    // the partner that carried it.
    let actions = actions_of(&hub, &planned);
    let failed: Vec<String> = hub.with_store(|s| {
        let mut stmt = s
            .reader()
            .prepare(
                "SELECT json_extract(payload, '$.return_id') || ': ' || json_extract(payload, '$.reason')
                 FROM events WHERE kind = 'action_failed'",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    });
    assert!(failed.is_empty(), "failed actions: {failed:#?}");
    assert!(actions.iter().all(|(_, s, _)| *s == OutboxState::Confirmed));
    let confirmations: BTreeMap<String, (String, usize)> = hub.with_store(|s| {
        let mut stmt = s
            .reader()
            .prepare(
                "SELECT json_extract(payload, '$.key'), json_extract(payload, '$.target')
                 FROM events WHERE kind = 'action_confirmed'",
            )
            .unwrap();
        let mut out: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for row in stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
        {
            let (key, target) = row.unwrap();
            let e = out.entry(key).or_insert((target.clone(), 0));
            assert_eq!(e.0, target);
            e.1 += 1;
        }
        out
    });
    let by_return: BTreeMap<&str, &Planned> =
        planned.iter().map(|p| (p.return_id.as_str(), p)).collect();
    let mut actions_by_src: BTreeMap<Src, u64> = BTreeMap::new();
    for (key, _, action) in &actions {
        let p = by_return[action.return_id.as_str()];
        *actions_by_src.entry(p.src).or_default() += 1;
        let (target, n) = confirmations
            .get(key)
            .unwrap_or_else(|| panic!("no ActionConfirmed for {key}"));
        assert_eq!(*n, 1, "{key} confirmed {n} times");
        assert_eq!(target, p.src.target(), "{} ({})", p.return_id, p.source);
        match p.src {
            Src::Shopify => {
                assert!(matches!(
                    action.kind,
                    ActionKind::Refund | ActionKind::CreditNote
                ))
            }
            _ => {
                assert_eq!(action.kind, ActionKind::PartnerUpdate);
                let told: BTreeSet<&str> = p.told().map(|i| i.id.as_str()).collect();
                let sent: BTreeSet<&str> = action.item_ids.iter().map(String::as_str).collect();
                assert_eq!(sent, told, "{}: the items told", p.return_id);
            }
        }
    }

    // Exactly one effect per action at each simulator.
    let mut effects: BTreeMap<Src, u64> = BTreeMap::new();
    let (mut lost, mut doubled) = (0u64, 0u64);
    let mut tally = |n: u64, src: Src| {
        *effects.entry(src).or_default() += n;
        match n {
            0 => lost += 1,
            1 => {}
            _ => doubled += 1,
        }
    };
    // Loop: one effective `process` per return, closed; the missing lines removed, every
    // told line graded, the failed (held) ones not told.
    for p in planned.iter().filter(|p| p.src == Src::Loop) {
        let r = lp.get(p.external_id.as_deref().unwrap());
        tally(u64::from(r.processed), Src::Loop);
        assert_eq!(r.state, SimState::Closed, "{}", p.return_id);
        let ext = |c: Check| -> BTreeSet<String> {
            p.items
                .iter()
                .filter(|i| i.check == c)
                .map(|i| i.external_id.clone().unwrap())
                .collect()
        };
        assert_eq!(r.removed, ext(Check::Missing), "{}: removed", p.return_id);
        // Graded: the passed lines as the bench graded them, the missing ones `missing`.
        let graded: BTreeMap<String, String> = r
            .grades
            .iter()
            .map(|(line, g)| {
                (
                    line.clone(),
                    g["condition_category"].as_str().unwrap().into(),
                )
            })
            .collect();
        let want: BTreeMap<String, String> = ext(Check::Pass)
            .into_iter()
            .map(|l| (l, "grade_b".to_owned()))
            .chain(
                ext(Check::Missing)
                    .into_iter()
                    .map(|l| (l, "missing".into())),
            )
            .collect();
        assert_eq!(graded, want, "{}: graded", p.return_id);
    }
    // Increff: one effect per item told (none for a held one), PASS or FAIL as found.
    {
        let ledger = increff.ledger();
        for p in planned.iter().filter(|p| p.src == Src::Increff) {
            let code = p.external_id.as_deref().unwrap();
            for i in &p.items {
                let item = ledger.item(code, i.external_id.as_deref().unwrap());
                if i.check == Check::Fail {
                    assert_eq!(item.effects, 0, "{}: held, not told", i.id);
                    continue;
                }
                tally(u64::from(item.effects), Src::Increff);
                let status = &item.current().unwrap().status;
                let want = if i.check == Check::Pass {
                    "PASS"
                } else {
                    "FAIL"
                };
                assert_eq!(status, want, "{}", i.id);
            }
        }
        assert_eq!(
            ledger.refused.len(),
            increff_refused_at_connect,
            "no update refused: {:?}",
            ledger.refused
        );
    }
    // Returns Prime: one QC effect per item told.
    for p in planned.iter().filter(|p| p.src == Src::ReturnsPrime) {
        for i in &p.items {
            let told = rp.effects_on(i.external_id.as_deref().unwrap());
            if i.check == Check::Fail {
                assert!(told.is_empty(), "{}: held, not told", i.id);
                continue;
            }
            tally(told.len() as u64, Src::ReturnsPrime);
            let want = if i.check == Check::Pass {
                "PASS"
            } else {
                "FAIL"
            };
            assert!(told.iter().all(|e| e.qc_status == want), "{}", i.id);
        }
    }
    // Shopify: one refund (by its note) or one gift card (by its code) per action, and
    // nothing else on these orders.
    {
        let ledger = shop.ledger();
        let mut refund_actions = 0;
        for (_, _, action) in &actions {
            let p = by_return[action.return_id.as_str()];
            if p.src != Src::Shopify {
                continue;
            }
            let order = &ledger.orders[&p.order_id];
            let n = match action.kind {
                ActionKind::Refund => {
                    refund_actions += 1;
                    let note = refund_note(&action.key);
                    order
                        .refunds
                        .iter()
                        .filter(|r| r.note.as_deref() == Some(note.as_str()))
                        .count()
                }
                _ => {
                    // Its code is made with this hub's own key: the card is known by the
                    // action's key in its note.
                    ledger
                        .gift_cards
                        .iter()
                        .filter(|g| {
                            g.note
                                .as_deref()
                                .is_some_and(|n| n.contains(action.key.as_str()))
                        })
                        .count()
                }
            };
            tally(n as u64, Src::Shopify);
        }
        let refunds: usize = planned
            .iter()
            .filter(|p| p.src == Src::Shopify)
            .map(|p| ledger.orders[&p.order_id].refunds.len())
            .sum();
        assert_eq!(refunds, refund_actions, "no refund nobody asked for");
        // Loop, Increff and Returns Prime carry their own returns' money: nothing of theirs
        // is refunded or edited at the shop.
        for p in planned.iter().filter(|p| p.src != Src::Shopify) {
            let order = &ledger.orders[&p.order_id];
            assert!(order.refunds.is_empty(), "{} ({:?})", p.return_id, p.src);
            assert!(
                !ledger.cancellations.contains_key(&p.order_id),
                "{} ({:?})",
                p.return_id,
                p.src
            );
        }
        assert_eq!(
            ledger.gift_cards.len() as u64,
            actions_by_src[&Src::Shopify] - refund_actions as u64,
            "no gift card nobody asked for"
        );
        assert_eq!(ledger.invalid_documents, 0);
    }
    assert_eq!(doubled, 0, "doubled effects");
    assert_eq!(lost, 0, "lost effects");
    let rp_expected: u64 = planned
        .iter()
        .filter(|p| p.src == Src::ReturnsPrime)
        .map(|p| p.told().count() as u64)
        .sum();
    assert_eq!(
        rp.ledger().effects.len() as u64,
        rp_expected,
        "Returns Prime: nothing but these effects"
    );

    // Tracking: every batch delivered, once per URL (RC one event per item, RP one per item
    // not found missing), and nothing posted after its 200.
    let rows = deliveries(&hub, &planned);
    for url in [steady.url(), flaky.url()] {
        let mine: Vec<_> = rows.iter().filter(|(u, _)| *u == url).collect();
        assert_eq!(
            mine.len() as u64,
            batches,
            "RC and RP of every return to {url}"
        );
        assert!(mine.iter().all(|(_, d)| *d));
    }
    assert_eq!(rows.len() as u64, 2 * batches, "no other rows");
    let all_rows: i64 = hub.with_store(|s| {
        s.reader()
            .query_row("SELECT count(*) FROM webhook_deliveries", [], |r| r.get(0))
            .unwrap()
    });
    assert_eq!(all_rows as u64, 2 * batches, "no rows for other returns");
    std::thread::sleep(Duration::from_millis(500)); // anything posted twice would show now
    for r in [&steady, &flaky] {
        assert_eq!(r.accepted.load(Ordering::Relaxed), per_url, "{}", r.url());
        assert_eq!(r.received().len() as u64, batches, "one POST per batch");
    }
    let views = {
        hub.sign_out().unwrap();
        hub.sign_in("SV-2001", "2222").unwrap();
        hub.tracking_webhooks().unwrap()
    };
    assert!(
        views.iter().all(|v| v.alerted == 0 && v.pending == 0),
        "{views:?}"
    );

    let faults = [
        sum(&lp.injected()),
        sum(&increff.injected()),
        sum(&rp.injected()),
        sum(&shop.injected()),
    ];
    println!("faults: loop {:?}", lp.injected());
    println!("faults: increff {:?}", increff.injected());
    println!("faults: returns_prime {:?}", rp.injected());
    println!("faults: shopify {:?}", shop.injected());
    for (src, n) in Src::ALL.iter().zip(faults) {
        assert!(n > 0, "{} injected no fault", src.target());
    }
    let summary: Vec<String> = Src::ALL
        .iter()
        .zip(faults)
        .map(|(src, f)| {
            format!(
                "{}: {} actions, {} effects, {f} faults, settled {:.1?}",
                src.target(),
                actions_by_src.get(src).copied().unwrap_or(0),
                effects.get(src).copied().unwrap_or(0),
                settled_by[src]
            )
        })
        .collect();
    println!(
        "summary (seed {seed}): {}; webhooks: {per_url} events to each of 2 URLs ({batches} batches each); 0 lost, 0 doubled; bench done {:.1?}, settled {:.1?}",
        summary.join("; "),
        bench_done,
        settled_at
    );
}
