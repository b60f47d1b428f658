//! Loop Returns as a dispatch target, driven by the real [`Dispatcher`] over a real hub store
//! file against the Loop simulator (`support/loop_sim.rs`) on a real socket: what reaches Loop
//! (removed items, grades, dispositions, exactly one effective `process`), that an action
//! stays unknown until Loop closes the return, failures that name their reason, faults on
//! every kind of request, Loop's signed webhooks, and the connection test.

use returnhub_simulators as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use returnhub_connectors::dispatch::{DispatchOptions, Dispatcher, Target, TargetError};
use returnhub_connectors::loop_returns::{
    sign_webhook, verify_webhook, LoopConfig, LoopTarget, LoopTopic, LoopWebhookError,
};
use returnhub_connectors::SystemClock;
use returnhub_core::bench::{Disposition, InspectionRecord, Presence};
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy, ReturnOption};
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::{Currency, Money};
use returnhub_core::record::{
    OrderLineRecord, OrderRecord, RetailerRecord, ReturnItemRecord, ReturnRecord,
};
use returnhub_core::rules::{Grade, Outcome, QcStatus, RuleSet};
use returnhub_core::trigger::{ActionDue, ActionKind, IdempotencyKey, Trigger};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{ActionRow, EventInput, OutboxState, Store};
use serde_json::json;
use support::loop_sim::{HookSink, LoopFault, LoopSim, SimState, API_KEY, WEBHOOK_SECRET};
use support::rt;

const RETAILER: &str = "kowhai";
const NOW: i64 = 1_795_461_900_000;

/// One returned item: its Loop line id and SKU, and what the bench recorded.
#[derive(Clone)]
struct Item {
    line: String,
    sku: String,
    presence: Presence,
    qc: Option<QcStatus>,
    qc_reason: Option<&'static str>,
    grade: Option<Grade>,
    disposition: Option<Disposition>,
    photos: Vec<String>,
}

fn found(line: &str, sku: &str, grade: Grade, disposition: Disposition) -> Item {
    Item {
        line: line.into(),
        sku: sku.into(),
        presence: Presence::Found,
        qc: Some(QcStatus::Pass),
        qc_reason: None,
        grade: Some(grade),
        disposition: Some(disposition),
        photos: vec![],
    }
}

fn missing(line: &str, sku: &str) -> Item {
    Item {
        line: line.into(),
        sku: sku.into(),
        presence: Presence::Missing,
        qc: Some(QcStatus::Fail),
        qc_reason: Some("MISSING"),
        grade: None,
        disposition: None,
        photos: vec![],
    }
}

fn input(event: DomainEvent) -> EventInput {
    EventInput {
        event,
        actor: "test".into(),
        station: Some("bench-t".into()),
    }
}

/// A store file with the retailer (default partner routes: source "loop" goes to Loop).
fn new_store(dir: &tempfile::TempDir) -> Store {
    let mut store = Store::open(&dir.path().join("hub.db")).unwrap();
    store
        .write(NOW, |tx| {
            tx.append(input(DomainEvent::RetailerConfigured(RetailerRecord {
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
                    shopify: Default::default(),
                    partners: Default::default(),
                },
                rules: RuleSet { rules: vec![] },
                reasons: vec![],
                qc_reasons: vec![],
            })))
        })
        .unwrap();
    store
}

/// A Loop return `loop_id` in the store (order, return from source "loop" with Loop's ids,
/// inspections) and its PartnerUpdate due; the same return open at the simulator.
fn seed(store: &mut Store, sim: &LoopSim, n: u32, loop_id: &str, items: &[Item]) -> ActionDue {
    let nzd = |m| Money::new(m, Currency::NZD);
    let return_id = format!("R{n:05}");
    let order_id = format!("gid://shopify/Order/{}", 5_000_000 + n);
    let item_id = |i: usize| format!("{return_id}-i{}", i + 1);
    let order_line = |i: usize| format!("gid://shopify/LineItem/{}", 7_000_000 + n * 10 + i as u32);
    let item_ids: Vec<String> = (0..items.len()).map(item_id).collect();
    let refs: Vec<&str> = item_ids.iter().map(String::as_str).collect();
    let kind = ActionKind::PartnerUpdate;
    let action = ActionDue {
        key: IdempotencyKey::derive(RETAILER, &return_id, &refs, kind),
        retailer_id: RETAILER.into(),
        return_id: return_id.clone(),
        item_ids: item_ids.clone(),
        kind,
        amount: None,
        credit_note_expiry_days: None,
    };
    store
        .write(NOW, |tx| {
            tx.append(input(DomainEvent::OrderImported(OrderRecord {
                id: order_id.clone(),
                retailer_id: RETAILER.into(),
                order_number: format!("#{}", 10_000 + n),
                customer_name: "Ana".into(),
                email: format!("ana{n}@example.com"),
                created_at: "2026-11-01T00:00:00.000Z".into(),
                country: "NZ".into(),
                tags: vec![],
                subtotal: nzd(4_000 * items.len() as i64),
                discount: nzd(0),
                total: nzd(4_000 * items.len() as i64),
                lines: items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| OrderLineRecord {
                        id: order_line(i),
                        sku: item.sku.clone(),
                        ean: None,
                        title: "Tee".into(),
                        image: None,
                        quantity: 1,
                        unit_price: nzd(4_000),
                        discount: nzd(0),
                        product_tags: vec![],
                    })
                    .collect(),
            })))?;
            tx.append(input(DomainEvent::ReturnExpected(ReturnRecord {
                external_id: Some(loop_id.into()),
                id: return_id.clone(),
                retailer_id: RETAILER.into(),
                hub_id: "AKL".into(),
                order_id: order_id.clone(),
                source: "loop".into(),
                status: ReturnStatus::Expected,
                created_at: "2026-11-02T00:00:00.000Z".into(),
                connotes: vec![format!("LZ{n:08}0NZ")],
                items: items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| ReturnItemRecord {
                        external_id: Some(item.line.clone()),
                        id: item_id(i),
                        order_line_id: order_line(i),
                        quantity: 1,
                        reason_code: "TOO_SMALL".into(),
                        sub_reason_code: None,
                        comment: None,
                        chosen_option: Some(ReturnOption::Refund),
                    })
                    .collect(),
            })))?;
            for (i, item) in items.iter().enumerate() {
                tx.append(input(DomainEvent::ItemInspected(InspectionRecord {
                    id: format!("insp-{n}-{i}"),
                    return_id: return_id.clone(),
                    item_id: item_id(i),
                    presence: item.presence,
                    qc: item.qc,
                    qc_reason: item.qc_reason.map(str::to_owned),
                    grade: item.grade,
                    disposition: item.disposition,
                    note: Some(format!("bench note {i}")),
                    photos: item.photos.clone(),
                })))?;
            }
            tx.append(input(DomainEvent::ActionDue(action.clone())))
        })
        .unwrap();
    let lines: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i.line.as_str(), i.sku.as_str()))
        .collect();
    sim.add_return(loop_id, &lines);
    action
}

fn target(sim: &LoopSim, timeout: Duration) -> LoopTarget {
    LoopTarget::with_timeout(
        &LoopConfig {
            base_url: sim.base(),
            api_key: API_KEY.into(),
        },
        timeout,
    )
    .unwrap()
}

fn dispatcher(sim: &LoopSim, timeout: Duration, seed: u64) -> Dispatcher<LoopTarget> {
    Dispatcher::new(
        target(sim, timeout),
        Arc::new(SystemClock),
        DispatchOptions {
            max_attempts: 60,
            batch: 100,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(40),
            jitter_seed: seed,
            actor: "system:dispatcher".into(),
            retailers: Some(vec![RETAILER.into()]),
        },
    )
}

fn row(store: &Store, action: &ActionDue) -> ActionRow {
    store.action(&action.key).unwrap().unwrap()
}

/// Runs passes until `done` holds of the row; panics (with the row) after `limit` passes.
fn run_until(
    dispatcher: &Dispatcher<LoopTarget>,
    store: &mut Store,
    action: &ActionDue,
    limit: u32,
    done: impl Fn(&ActionRow) -> bool,
) -> ActionRow {
    let rt = rt();
    for _ in 0..limit {
        rt.block_on(dispatcher.run_once(store)).unwrap();
        let r = row(store, action);
        if done(&r) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("not reached: {:?}", row(store, action));
}

/// The full flow: the missing item removed, the grades and dispositions as mapped, one
/// effective `process`; the action unknown ("queued") until Loop closes the return, then
/// confirmed with Loop's return id by reconciliation.
#[test]
fn a_processed_return_reaches_loop_as_mapped_and_is_confirmed_only_when_loop_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(&dir);
    let sim = LoopSim::start();
    let sink = HookSink::start();
    sim.webhook_to(&sink.url(), WEBHOOK_SECRET);
    let wrong = Item {
        qc: Some(QcStatus::Fail),
        qc_reason: Some("WRONG_ITEM"),
        photos: vec!["sha256-aa11".into(), "sha256-bb22".into()],
        ..found("3003", "TEE-L", Grade::C, Disposition::Destroy)
    };
    let items = [
        found("3001", "TEE-S", Grade::A, Disposition::BackToStock),
        missing("3002", "TEE-M"),
        wrong,
        found("3004", "TEE-XL", Grade::B, Disposition::Refurbish),
        found("3005", "TEE-XS", Grade::D, Disposition::ReturnToVendor),
    ];
    let action = seed(&mut store, &sim, 1, "LR-1001", &items);
    let dispatcher = dispatcher(&sim, Duration::from_secs(5), 1);

    let queued = run_until(&dispatcher, &mut store, &action, 5, |r| {
        r.state != OutboxState::Pending
    });
    assert_eq!(queued.state, OutboxState::Unknown, "{queued:?}");
    assert!(
        queued
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("queued at Loop"),
        "{queued:?}"
    );
    let at_loop = sim.get("LR-1001");
    assert!(
        matches!(at_loop.state, SimState::Processing(_)),
        "{:?}",
        at_loop.state
    );
    assert_eq!(at_loop.processed, 1);
    assert_eq!(
        at_loop.removed.iter().collect::<Vec<_>>(),
        vec!["3002"],
        "only the missing item is removed"
    );
    let category = |line: &str| {
        at_loop.grades[line]["condition_category"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(category("3001"), "grade_a");
    assert_eq!(category("3002"), "missing");
    assert_eq!(category("3003"), "incorrect_item");
    assert_eq!(category("3004"), "grade_b");
    assert_eq!(category("3005"), "grade_d");
    assert_eq!(
        at_loop.grades["3003"]["images"],
        json!(["sha256-aa11", "sha256-bb22"])
    );
    assert_eq!(at_loop.grades["3001"]["line_item_id"], json!(3001));
    assert!(at_loop.grades["3003"]["note"]
        .as_str()
        .unwrap()
        .contains("WRONG_ITEM"));
    assert!(at_loop.grades["3001"]["inspected_at"]
        .as_str()
        .unwrap()
        .starts_with("20"));
    let outcomes: Vec<(&str, &str)> = at_loop
        .assessments
        .iter()
        .map(|(l, o)| (l.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("3001", "back_to_stock"),
            ("3002", "missing"),
            ("3003", "recycle"),
            ("3004", "resale_hold"),
            ("3005", "resale_hold"),
        ]
    );

    // Reconciled while Loop works: still unknown, saying so; never sent again.
    let waiting = run_until(&dispatcher, &mut store, &action, 50, |r| {
        r.last_error
            .as_deref()
            .is_some_and(|e| e.contains("still processing at Loop since"))
    });
    assert_eq!(waiting.state, OutboxState::Unknown);
    assert_eq!(sim.get("LR-1001").process_requests, 1);

    // Loop closes it: the webhook is signed and names the return; the action is confirmed.
    assert!(sim.complete("LR-1001"));
    let hooks = sink.hooks();
    assert_eq!(hooks.len(), 1);
    let hook = verify_webhook(WEBHOOK_SECRET, &hooks[0].body, hooks[0].signature()).unwrap();
    assert_eq!(hook.topic, LoopTopic::Closed);
    assert_eq!(hook.return_id, "LR-1001");
    let done = run_until(&dispatcher, &mut store, &action, 50, |r| {
        r.state == OutboxState::Confirmed
    });
    assert_eq!(done.reference.as_deref(), Some("LR-1001"));
    let at_loop = sim.get("LR-1001");
    assert_eq!(at_loop.state, SimState::Closed);
    assert_eq!(at_loop.processed, 1);
    assert_eq!(at_loop.process_requests, 1, "process was asked once");
}

/// The answer to `process` lost in every way the simulator can lose it (and refused before
/// the effect): the return is processed exactly once and the action confirmed once Loop closes
/// it. The send's requests are: details, remove, grade, assess, process.
#[test]
fn a_lost_or_refused_process_answer_never_processes_the_return_twice() {
    for fault in LoopFault::ALL {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        let sim = LoopSim::start();
        sim.inject(
            0.0,
            0,
            Duration::from_millis(400),
            Duration::from_millis(30),
        );
        let items = [
            found("11", "A-1", Grade::A, Disposition::BackToStock),
            missing("12", "A-2"),
        ];
        let action = seed(&mut store, &sim, 2, "LR-2", &items);
        sim.force_sequence(&[None, None, None, None, Some(fault)]);
        let dispatcher = dispatcher(&sim, Duration::from_millis(200), 2);
        run_until(&dispatcher, &mut store, &action, 400, |_| {
            matches!(sim.get("LR-2").state, SimState::Processing(_))
        });
        assert!(sim.complete("LR-2"), "{fault:?}");
        let done = run_until(&dispatcher, &mut store, &action, 400, |r| {
            matches!(r.state, OutboxState::Confirmed | OutboxState::Failed)
        });
        assert_eq!(done.state, OutboxState::Confirmed, "{fault:?}: {done:?}");
        let at_loop = sim.get("LR-2");
        assert_eq!(at_loop.processed, 1, "{fault:?}");
        assert_eq!(at_loop.removed.len(), 1, "{fault:?}");
        assert_eq!(sim.injected().get(&fault), Some(&1), "{fault:?}");
    }
}

/// `process` refused because the return was queued meanwhile (an earlier try landing late,
/// or the merchant pressing Process at Loop): not a failure — the action waits for Loop like
/// any queued one, and is confirmed when Loop closes the return.
#[test]
fn a_process_refused_because_the_return_was_queued_meanwhile_waits_for_loop() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(&dir);
    let sim = LoopSim::start();
    let items = [found("21", "Q-1", Grade::A, Disposition::BackToStock)];
    let action = seed(&mut store, &sim, 3, "LR-3", &items);
    sim.queue_before_next_process("LR-3");
    let dispatcher = dispatcher(&sim, Duration::from_secs(5), 3);
    let waiting = run_until(&dispatcher, &mut store, &action, 5, |r| {
        r.state != OutboxState::Pending
    });
    assert_eq!(waiting.state, OutboxState::Unknown, "{waiting:?}");
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("still processing at Loop"),
        "{waiting:?}"
    );
    assert!(sim.complete("LR-3"));
    let done = run_until(&dispatcher, &mut store, &action, 50, |r| {
        r.state != OutboxState::Unknown
    });
    assert_eq!(done.state, OutboxState::Confirmed, "{done:?}");
    let at_loop = sim.get("LR-3");
    assert_eq!((at_loop.processed, at_loop.process_requests), (1, 1));
}

/// Many returns, faults on a seeded share of every request (reads, removals, grades,
/// assessments, process), a "crash" that leaves rows `sent`, and Loop closing returns a little
/// after they are queued: every return is processed exactly once, every action confirmed,
/// none lost or failed.
#[test]
fn faults_on_every_request_process_each_return_exactly_once() {
    const RETURNS: u32 = 40;
    let fault_seed: u64 = std::env::var("LOOP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x100F_5EED);
    println!("seed {fault_seed} (LOOP_SEED={fault_seed} repeats this run)");
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(&dir);
    let sim = LoopSim::start();
    let sink = HookSink::start();
    sim.webhook_to(&sink.url(), WEBHOOK_SECRET);
    sim.close_after(Some(Duration::from_millis(30)));
    let mut actions = Vec::new();
    for n in 0..RETURNS {
        let line = |k: u32| (900_000 + n * 3 + k).to_string();
        let items = [
            found(&line(0), "SKU-A", Grade::A, Disposition::BackToStock),
            missing(&line(1), "SKU-B"),
            found(&line(2), "SKU-C", Grade::C, Disposition::Donate),
        ];
        actions.push(seed(&mut store, &sim, 100 + n, &format!("LR-{n}"), &items));
    }
    // A crash before the first pass: some rows marked sent, never sent.
    for action in actions.iter().step_by(7) {
        store.mark_action_sent(&action.key, NOW).unwrap();
    }
    sim.inject(
        0.25,
        fault_seed,
        Duration::from_millis(300),
        Duration::from_millis(20),
    );
    let dispatcher = dispatcher(&sim, Duration::from_millis(150), fault_seed);
    let started = Instant::now();
    let report = rt()
        .block_on(dispatcher.run_until_idle(&mut store, || {
            // A guard against a hang only; the assertions below are about outcomes.
            started.elapsed() > Duration::from_secs(300)
        }))
        .unwrap();
    println!("faults injected: {:?}", sim.injected());
    println!("dispatcher: {report:?}");
    assert!(sim.injected().values().sum::<u64>() > 0);
    for (n, action) in actions.iter().enumerate() {
        let r = row(&store, action);
        assert_eq!(r.state, OutboxState::Confirmed, "{r:?}");
        let loop_id = format!("LR-{n}");
        assert_eq!(r.reference.as_deref(), Some(loop_id.as_str()));
        let at_loop = sim.get(&loop_id);
        assert_eq!(at_loop.state, SimState::Closed, "{loop_id}");
        assert_eq!(at_loop.processed, 1, "{loop_id}: one effective process");
        assert_eq!(at_loop.removed.len(), 1, "{loop_id}");
        assert_eq!(at_loop.grades.len(), 3, "{loop_id}");
        assert_eq!(at_loop.assessments.len(), 3, "{loop_id}");
    }
    assert_eq!(report.failed, 0);
}

/// A return flagged at Loop: the action fails with a sentence naming the flag, and nothing is
/// processed. Both ways: flagged before the update (seen in its details), and flagged by
/// Loop when processing is asked (`UNPROCESSABLE_FLAGGED_RETURN`).
#[test]
fn a_flagged_return_fails_naming_the_flag() {
    for at_process in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        let sim = LoopSim::start();
        let items = [found("41", "F-1", Grade::B, Disposition::ResaleHold)];
        let action = seed(&mut store, &sim, 4, "LR-4", &items);
        if at_process {
            sim.flag_on_process("LR-4");
        } else {
            sim.flag("LR-4");
        }
        let dispatcher = dispatcher(&sim, Duration::from_secs(5), 4);
        let failed = run_until(&dispatcher, &mut store, &action, 5, |r| {
            r.state == OutboxState::Failed
        });
        let reason = failed.last_error.unwrap_or_default();
        assert!(reason.contains("flagged at Loop"), "{reason}");
        assert!(reason.contains("LR-4"), "{reason}");
        assert_eq!(sim.get("LR-4").processed, 0);
        assert_eq!(sim.get("LR-4").process_requests, u32::from(at_process));
    }
}

/// Loop queues the return and then cannot process it: the `return.processing.failed`
/// webhook carries Loop's reason, and the action fails with it.
#[test]
fn a_processing_failure_at_loop_fails_the_action_with_loops_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(&dir);
    let sim = LoopSim::start();
    let sink = HookSink::start();
    sim.webhook_to(&sink.url(), WEBHOOK_SECRET);
    let items = [found("51", "P-1", Grade::A, Disposition::BackToStock)];
    let action = seed(&mut store, &sim, 5, "LR-5", &items);
    let dispatcher = dispatcher(&sim, Duration::from_secs(5), 5);
    run_until(&dispatcher, &mut store, &action, 5, |r| {
        r.state == OutboxState::Unknown
    });
    let reason = "exchange variant TEE-M-BLUE is out of stock";
    assert!(sim.fail("LR-5", reason));
    let hooks = sink.hooks();
    let hook = verify_webhook(WEBHOOK_SECRET, &hooks[0].body, hooks[0].signature()).unwrap();
    assert_eq!(
        hook.topic,
        LoopTopic::ProcessingFailed {
            reason: reason.into()
        }
    );
    assert_eq!(hook.return_id, "LR-5");
    let failed = run_until(&dispatcher, &mut store, &action, 50, |r| {
        r.state != OutboxState::Unknown
    });
    assert_eq!(failed.state, OutboxState::Failed, "{failed:?}");
    let error = failed.last_error.unwrap_or_default();
    assert!(error.contains(reason), "{error}");
    assert!(error.contains("could not process return LR-5"), "{error}");
    assert_eq!(sim.get("LR-5").processed, 1);
}

/// Loop never closes the return: the action stays unknown, listed among the troubled ones
/// with a reason saying it is still processing, reconciled again and again, never confirmed
/// and never sent again.
#[test]
fn a_return_loop_never_closes_stays_unknown_saying_it_is_still_processing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(&dir);
    let sim = LoopSim::start();
    let items = [found("61", "N-1", Grade::A, Disposition::BackToStock)];
    let action = seed(&mut store, &sim, 6, "LR-6", &items);
    let dispatcher = dispatcher(&sim, Duration::from_secs(5), 6);
    let rt = rt();
    let mut reconciles = 0;
    for _ in 0..200 {
        let pass = rt.block_on(dispatcher.run_once(&mut store)).unwrap();
        assert_eq!(pass.confirmed, 0);
        assert_eq!(pass.failed, 0);
        reconciles += pass.unknown.saturating_sub(pass.sent);
        if reconciles >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(reconciles >= 5, "reconciled {reconciles} times");
    let r = row(&store, &action);
    assert_eq!(r.state, OutboxState::Unknown);
    let reason = r.last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("still processing at Loop since 20"),
        "{reason}"
    );
    assert!(store
        .troubled_actions(10)
        .unwrap()
        .iter()
        .any(|t| t.action.key == action.key));
    assert_eq!(sim.get("LR-6").process_requests, 1);
}

/// What the target refuses before sending anything: another kind of action, and a return
/// without its Loop id.
#[test]
fn an_action_loop_cannot_carry_fails_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(&dir);
    let sim = LoopSim::start();
    let items = [found("71", "X-1", Grade::A, Disposition::BackToStock)];
    let action = seed(&mut store, &sim, 7, "LR-7", &items);
    let mut context = store.action_context(&action).unwrap();
    assert_eq!(context.target, returnhub_core::partner::ActionTarget::Loop);
    assert_eq!(context.external_id.as_deref(), Some("LR-7"));
    let target = target(&sim, Duration::from_secs(5));
    let rt = rt();

    let mut refund = action.clone();
    refund.kind = ActionKind::Refund;
    match rt.block_on(target.send(&refund, &context)) {
        Err(TargetError::Permanent(m)) => assert!(m.contains("not an update for Loop"), "{m}"),
        other => panic!("{other:?}"),
    }
    context.external_id = None;
    match rt.block_on(target.send(&action, &context)) {
        Err(TargetError::Permanent(m)) => {
            assert!(m.contains("return R00007 has no Loop return id"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    context.external_id = Some("LR-7".into());
    context.lines[0].external_id = None;
    match rt.block_on(target.send(&action, &context)) {
        Err(TargetError::Permanent(m)) => assert!(m.contains("no Loop line item id"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(sim.ledger().requests.is_empty(), "nothing reached Loop");
}

/// `X-Loop-Signature` is checked before the body is read: a valid one is accepted, a tampered
/// body, a missing header, a wrong secret, garbage and an empty secret refused.
#[test]
fn webhook_signatures_are_checked_before_the_body_is_read() {
    let body = br#"{"topic":"return","trigger":"return.closed","id":"LR-9","state":"closed"}"#;
    let signature = sign_webhook(WEBHOOK_SECRET, body);
    let hook = verify_webhook(WEBHOOK_SECRET, body, Some(&signature)).unwrap();
    assert_eq!(hook.topic, LoopTopic::Closed);
    assert_eq!(hook.return_id, "LR-9");

    let tampered = br#"{"topic":"return","trigger":"return.closed","id":"LR-8","state":"closed"}"#;
    assert_eq!(
        verify_webhook(WEBHOOK_SECRET, tampered, Some(&signature)),
        Err(LoopWebhookError::BadSignature)
    );
    assert_eq!(
        verify_webhook(WEBHOOK_SECRET, body, None),
        Err(LoopWebhookError::MissingSignature)
    );
    assert_eq!(
        verify_webhook(b"another-secret", body, Some(&signature)),
        Err(LoopWebhookError::BadSignature)
    );
    assert_eq!(
        verify_webhook(WEBHOOK_SECRET, body, Some("not base64 at all!")),
        Err(LoopWebhookError::BadSignature)
    );
    assert_eq!(
        verify_webhook(b"", body, Some(&signature)),
        Err(LoopWebhookError::NoSecret)
    );
    // Signed but not JSON, signed without an id: refused after the signature passed.
    let junk = b"not json";
    assert!(matches!(
        verify_webhook(
            WEBHOOK_SECRET,
            junk,
            Some(&sign_webhook(WEBHOOK_SECRET, junk))
        ),
        Err(LoopWebhookError::NotJson(_))
    ));
    let no_id = br#"{"trigger":"return.closed"}"#;
    assert_eq!(
        verify_webhook(
            WEBHOOK_SECRET,
            no_id,
            Some(&sign_webhook(WEBHOOK_SECRET, no_id))
        ),
        Err(LoopWebhookError::NoReturnId)
    );
    // Loop's numeric ids, and other triggers named.
    let other = br#"{"trigger":"label.updated","return_id":12345}"#;
    let hook = verify_webhook(
        WEBHOOK_SECRET,
        other,
        Some(&sign_webhook(WEBHOOK_SECRET, other)),
    )
    .unwrap();
    assert_eq!(hook.topic, LoopTopic::Other("label.updated".into()));
    assert_eq!(hook.return_id, "12345");
    for e in [
        LoopWebhookError::MissingSignature,
        LoopWebhookError::BadSignature,
        LoopWebhookError::NoReturnId,
    ] {
        assert!(e.to_string().starts_with("Loop webhook refused: "));
    }
}

/// The connection test: a good key passes, a bad key is named as refused, an address nobody
/// answers says Loop could not be reached; the key never shows in `Debug`.
#[test]
fn the_connection_test_names_a_refused_key() {
    let sim = LoopSim::start();
    let rt = rt();
    let good = target(&sim, Duration::from_secs(5));
    assert_eq!(rt.block_on(good.test_connection()), Ok(()));
    let bad_config = LoopConfig {
        base_url: sim.base(),
        api_key: "loop_wrong_key_1234".into(),
    };
    let bad = LoopTarget::new(&bad_config).unwrap();
    let error = rt.block_on(bad.test_connection()).unwrap_err();
    assert!(error.contains("Loop refused the API key"), "{error}");
    assert!(!error.contains("loop_wrong_key_1234"), "{error}");
    assert_eq!(sim.ledger().unauthorized, 1);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}/api/v1", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = LoopTarget::new(&LoopConfig {
        base_url: nobody,
        api_key: API_KEY.into(),
    })
    .unwrap();
    let error = rt.block_on(unreachable.test_connection()).unwrap_err();
    assert!(error.starts_with("Loop could not be reached"), "{error}");

    let shown = format!("{bad_config:?} {bad:?}");
    assert!(!shown.contains("loop_wrong_key_1234"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(LoopTarget::new(&LoopConfig {
        base_url: sim.base(),
        api_key: "  ".into(),
    })
    .is_err());
}
