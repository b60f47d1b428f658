//! Shopify as a dispatch target, on cases the random scenario reaches only by luck.

use returnhub_simulators as support;

use support::rt;

use std::sync::Arc;
use std::time::Duration;

use returnhub_connectors::dispatch::{Target, TargetError};
use returnhub_connectors::shopify::{refund_note, store_credit_note};
use returnhub_connectors::{
    ClientOptions, ShopCredentials, ShopifyClient, ShopifySettings, ShopifyTarget, SystemClock,
};
use returnhub_core::money::{Currency, Money};
use returnhub_core::trigger::{
    ActionDue, ActionKind, CreditNoteVia, ExchangeVia, IdempotencyKey, ShopifyPolicy,
};
use returnhub_protocol::action::{ActionContext, ActionLine};
use support::simulator::{Fault, SimLine, SimOrder, SimRefund, SimReturn, Simulator, TOKEN};

fn target(sim: &Simulator) -> ShopifyTarget {
    target_under(sim, ShopifyPolicy::default())
}

fn target_under(sim: &Simulator, policy: ShopifyPolicy) -> ShopifyTarget {
    let client = ShopifyClient::new(
        &ShopCredentials::new(&sim.base(), TOKEN).unwrap(),
        Arc::new(SystemClock),
        ClientOptions {
            timeout: Duration::from_secs(5),
            max_retries: 0,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    ShopifyTarget::new(
        client,
        ShopifySettings::for_policy(&policy).with_gift_card_secret(CODES_KEY),
    )
}

/// This device's key for gift card codes.
const CODES_KEY: &str = "target-test-device-key";

fn one_unit_order(refunds: Vec<SimRefund>) -> SimOrder {
    SimOrder {
        id: "gid://shopify/Order/1".into(),
        name: "#1".into(),
        email: "a@example.com".into(),
        customer: "A".into(),
        created_at: "2026-11-20T00:00:00Z".into(),
        updated_at: "2026-11-20T00:00:00Z".into(),
        currency: Currency::NZD,
        country: "NZ".into(),
        tags: vec![],
        discount_codes: vec![],
        lines: vec![SimLine {
            id: "gid://shopify/LineItem/1".into(),
            sku: "S".into(),
            title: "Tee".into(),
            barcode: None,
            image: None,
            product_tags: vec![],
            quantity: 1,
            unit_price: 4_500,
            discount: 0,
        }],
        payment: (
            "gid://shopify/OrderTransaction/1".into(),
            "shopify_payments".into(),
            4_500,
        ),
        refunds,
        fulfillment_orders: vec![],
    }
}

fn refund_action() -> (ActionDue, ActionContext) {
    let action = ActionDue {
        key: IdempotencyKey::derive("kowhai", "R1", &["R1-i1"], ActionKind::Refund),
        retailer_id: "kowhai".into(),
        return_id: "R1".into(),
        item_ids: vec!["R1-i1".into()],
        kind: ActionKind::Refund,
        amount: Some(Money::new(4_500, Currency::NZD)),
        credit_note_expiry_days: None,
    };
    let context = ActionContext {
        order_id: "gid://shopify/Order/1".into(),
        lines: vec![ActionLine {
            return_item_id: "R1-i1".into(),
            order_line_id: "gid://shopify/LineItem/1".into(),
            quantity: 1,
            disposition: Some("back_to_stock".into()),
            sku: "TEE-M".into(),
            external_id: None,
            qc: None,
            outcome: Some("refund".into()),
            chosen_option: Some("refund".into()),
        }],
        others: vec![],
        retries: 0,
        source: "portal".into(),
        target: returnhub_core::partner::ActionTarget::Shopify,
        external_id: None,
        connotes: vec!["LZ0001NZ".into()],
    };
    (action, context)
}

/// The same item as [`refund_action`], with another kind of action.
fn action_of(kind: ActionKind) -> (ActionDue, ActionContext) {
    let (mut action, context) = refund_action();
    action.key = IdempotencyKey::derive("kowhai", "R1", &["R1-i1"], kind);
    action.kind = kind;
    action.amount = (kind == ActionKind::CreditNote).then(|| Money::new(4_500, Currency::NZD));
    action.credit_note_expiry_days = (kind == ActionKind::CreditNote).then_some(30);
    (action, context)
}

fn customer_return() -> SimReturn {
    SimReturn {
        id: "gid://shopify/Return/1".into(),
        name: "#1-R1".into(),
        order_id: "gid://shopify/Order/1".into(),
        status: "OPEN".into(),
        lines: vec![(
            "gid://shopify/ReturnLineItem/1".into(),
            "gid://shopify/LineItem/1".into(),
            1,
            0,
        )],
        exchanges: vec![("gid://shopify/ExchangeLineItem/1".into(), 1, 0)],
        processed_by: 0,
    }
}

/// An earlier try's refund landed after the reconciliation that found nothing: the resend
/// finds nothing left to refund, and confirms that refund rather than failing the action.
#[test]
fn a_resend_that_finds_its_own_late_refund_confirms_it() {
    let sim = Simulator::start("Shop");
    let (action, context) = refund_action();
    sim.add_order(one_unit_order(vec![SimRefund {
        id: "gid://shopify/Refund/late".into(),
        note: Some(refund_note(&action.key)),
        lines: vec![("gid://shopify/LineItem/1".into(), 1, "RETURN".into(), None)],
        amount: 4_500,
        store_credit: None,
        paid_back: None,
    }]));
    let confirmation = rt().block_on(target(&sim).send(&action, &context)).unwrap();
    assert_eq!(confirmation.reference, "gid://shopify/Refund/late");
    assert_eq!(
        sim.ledger().orders["gid://shopify/Order/1"].refunds.len(),
        1
    );
}

/// Someone else's refund used the order up: that is a real refusal, shown to the supervisor.
#[test]
fn a_refund_the_order_cannot_carry_fails_with_the_reason() {
    let sim = Simulator::start("Shop");
    let (action, context) = refund_action();
    sim.add_order(one_unit_order(vec![SimRefund {
        id: "gid://shopify/Refund/other".into(),
        note: Some("refunded by hand in the Shopify admin".into()),
        lines: vec![(
            "gid://shopify/LineItem/1".into(),
            1,
            "NO_RESTOCK".into(),
            None,
        )],
        amount: 4_500,
        store_credit: None,
        paid_back: None,
    }]));
    let error = rt()
        .block_on(target(&sim).send(&action, &context))
        .unwrap_err();
    match error {
        TargetError::Permanent(reason) => assert!(
            reason.contains("more than Shopify's suggested refund"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        sim.ledger().orders["gid://shopify/Order/1"].refunds.len(),
        1,
        "nothing sent"
    );
}

/// A target whose sends never answer, and whose records show the effect once it has been
/// asked twice: the dispatcher must find it, not give up on it.
struct SlowToShow {
    sends: std::cell::Cell<u32>,
    reconciles: std::cell::Cell<u32>,
}

impl Target for SlowToShow {
    fn name(&self) -> &str {
        "slow"
    }
    async fn send(
        &self,
        _: &ActionDue,
        _: &ActionContext,
    ) -> Result<returnhub_connectors::Confirmation, TargetError> {
        self.sends.set(self.sends.get() + 1);
        Err(TargetError::Unknown("timed out".into()))
    }
    async fn reconcile(
        &self,
        _: &ActionDue,
        _: &ActionContext,
    ) -> Result<Option<returnhub_connectors::Confirmation>, TargetError> {
        self.reconciles.set(self.reconciles.get() + 1);
        Ok((self.reconciles.get() >= 2).then(|| returnhub_connectors::Confirmation::new("found")))
    }
}

/// Out of attempts with the outcome unknown: the action stays unknown and is reconciled,
/// never marked failed while its effect may exist.
#[test]
fn an_unknown_outcome_is_never_given_up_as_failed() {
    use returnhub_connectors::dispatch::{DispatchOptions, Dispatcher};
    use returnhub_core::decision::{QcFailPolicy, RetailerPolicy, ReturnOption};
    use returnhub_core::record::{
        OrderLineRecord, OrderRecord, RetailerRecord, ReturnItemRecord, ReturnRecord,
    };
    use returnhub_protocol::event::DomainEvent;
    use returnhub_store::{EventInput, OutboxState, Store};

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.db")).unwrap();
    let nzd = |m| Money::new(m, Currency::NZD);
    let (action, _) = refund_action();
    let events = vec![
        DomainEvent::RetailerConfigured(RetailerRecord {
            id: "kowhai".into(),
            name: "Kōwhai".into(),
            currency: Currency::NZD,
            country: None,
            policy: RetailerPolicy {
                trigger: returnhub_core::trigger::Trigger::Processing,
                customers_choose: true,
                exchange_enabled: false,
                rules_override_customer_choice: false,
                default_outcome: returnhub_core::rules::Outcome::Refund,
                qc_fail: QcFailPolicy::HoldForReview,
                credit_note_expiry_days: None,
                currency: None,
                shopify: Default::default(),
                partners: Default::default(),
            },
            rules: returnhub_core::rules::RuleSet { rules: vec![] },
            reasons: vec![],
            qc_reasons: vec![],
        }),
        DomainEvent::OrderImported(OrderRecord {
            id: "gid://shopify/Order/1".into(),
            retailer_id: "kowhai".into(),
            order_number: "#1".into(),
            customer_name: "A".into(),
            email: "a@example.com".into(),
            created_at: "2026-11-20T00:00:00.000Z".into(),
            country: "NZ".into(),
            tags: vec![],
            subtotal: nzd(4_500),
            discount: nzd(0),
            total: nzd(4_500),
            lines: vec![OrderLineRecord {
                id: "gid://shopify/LineItem/1".into(),
                sku: "S".into(),
                ean: None,
                title: "Tee".into(),
                image: None,
                quantity: 1,
                unit_price: nzd(4_500),
                discount: nzd(0),
                product_tags: vec![],
            }],
        }),
        DomainEvent::ReturnExpected(ReturnRecord {
            external_id: None,
            id: "R1".into(),
            retailer_id: "kowhai".into(),
            hub_id: "AKL".into(),
            order_id: "gid://shopify/Order/1".into(),
            source: "portal".into(),
            status: returnhub_core::model::ReturnStatus::Expected,
            created_at: "2026-11-21T00:00:00.000Z".into(),
            connotes: vec![],
            items: vec![ReturnItemRecord {
                external_id: None,
                id: "R1-i1".into(),
                order_line_id: "gid://shopify/LineItem/1".into(),
                quantity: 1,
                reason_code: "FIT".into(),
                sub_reason_code: None,
                comment: None,
                chosen_option: Some(ReturnOption::Refund),
            }],
        }),
        DomainEvent::ActionDue(action.clone()),
    ];
    store
        .write(1_795_000_000_000, |tx| {
            for event in events {
                tx.append(EventInput {
                    event,
                    actor: "test".into(),
                    station: None,
                })?;
            }
            Ok(())
        })
        .unwrap();
    let target = SlowToShow {
        sends: Default::default(),
        reconciles: Default::default(),
    };
    let dispatcher = Dispatcher::new(
        target,
        Arc::new(SystemClock),
        DispatchOptions {
            max_attempts: 1,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            ..DispatchOptions::default()
        },
    );
    rt().block_on(dispatcher.run_until_idle(&mut store, || false))
        .unwrap();
    let row = store.action(&action.key).unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Confirmed, "{row:?}");
    assert_eq!(row.reference.as_deref(), Some("found"));
    assert_eq!(
        dispatcher.target().sends.get(),
        2,
        "sent, reconciled (absent), sent again"
    );
}

fn return_process_target(sim: &Simulator) -> ShopifyTarget {
    target_under(
        sim,
        ShopifyPolicy {
            exchange: ExchangeVia::ReturnProcess,
            ..ShopifyPolicy::default()
        },
    )
}

/// Sends with the effect's answer lost (its first request, a read, served), reconciles (which
/// must find the effect) and sends again (which must answer the same effect): what the
/// dispatcher does, and what a dispatcher that skipped reconciliation would do.
fn lost_found_and_resent(
    sim: &Simulator,
    target: &ShopifyTarget,
    action: &ActionDue,
    context: &ActionContext,
) -> returnhub_connectors::Confirmation {
    let rt = rt();
    sim.force_sequence(&[None, Some(Fault::DropAfterCommit)]);
    let lost = rt.block_on(target.send(action, context)).unwrap_err();
    assert!(matches!(lost, TargetError::Unknown(_)), "{lost:?}");
    let found = rt
        .block_on(target.reconcile(action, context))
        .unwrap()
        .expect("the effect is found");
    let again = rt.block_on(target.send(action, context)).unwrap();
    assert_eq!(again.reference, found.reference, "the same effect");
    found
}

/// A credit note to store credit: one refund whose money goes to the customer's store credit
/// (none to the card), with the rule's expiry; its answer lost, it is found by its note.
#[test]
fn a_store_credit_note_is_one_refund_to_store_credit_found_again_when_its_answer_is_lost() {
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    let (action, context) = action_of(ActionKind::CreditNote);
    let target = target_under(
        &sim,
        ShopifyPolicy {
            credit_note: CreditNoteVia::StoreCredit,
            ..ShopifyPolicy::default()
        },
    );
    let found = lost_found_and_resent(&sim, &target, &action, &context);
    let ledger = sim.ledger();
    let refunds = &ledger.orders["gid://shopify/Order/1"].refunds;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].id, found.reference);
    assert_eq!(
        refunds[0].note.as_deref(),
        Some(store_credit_note(&action.key).as_str())
    );
    assert_eq!(refunds[0].amount, 4_500);
    let (credit, expires_at) = refunds[0].store_credit.clone().expect("to store credit");
    assert_eq!(
        credit, 4_500,
        "all of it to store credit, nothing to the card"
    );
    let expires_at = expires_at.expect("the rule's expiry");
    assert!(
        expires_at.ends_with('Z') && expires_at.len() >= 20,
        "{expires_at}"
    );
    assert!(ledger.gift_cards.is_empty());
}

/// An exchange through the customer's Shopify return: the returned item and the exchange
/// item processed once; the answer lost, reconciliation reads the return's quantities; a
/// resend finds nothing left and sends nothing.
#[test]
fn an_exchange_processes_the_shopify_return_once_even_when_the_answer_is_lost() {
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    sim.add_return(customer_return());
    let (action, context) = action_of(ActionKind::Exchange);
    let found = lost_found_and_resent(&sim, &return_process_target(&sim), &action, &context);
    assert_eq!(found.reference, "gid://shopify/Return/1");
    let ledger = sim.ledger();
    let r = &ledger.returns[0];
    assert_eq!(r.processed_by, 1, "processed once: {r:?}");
    assert_eq!(r.lines[0].3, 1);
    assert_eq!(r.exchanges[0].2, 1);
    assert_eq!(
        ledger
            .operations
            .iter()
            .filter(|o| *o == "ReturnProcess")
            .count(),
        1,
        "the resend sent nothing"
    );
}

/// The first try's returnProcess lands while a second try is on its way: Shopify refuses the
/// second, and the refusal is recognised as "already done", not failed.
#[test]
fn a_refused_return_process_whose_earlier_try_landed_is_confirmed() {
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    sim.add_return(customer_return());
    // Try 1's returnProcess drops at once and lands 300 ms later; try 2 reads the return
    // (still unprocessed) and its returnProcess is held 800 ms, so it arrives after.
    sim.inject(
        0.0,
        1,
        Duration::from_millis(300),
        Duration::from_millis(800),
    );
    sim.force_sequence(&[None, Some(Fault::LateCommit), None, Some(Fault::Slow)]);
    let (action, context) = action_of(ActionKind::Exchange);
    let target = return_process_target(&sim);
    let rt = rt();
    let first = rt.block_on(target.send(&action, &context)).unwrap_err();
    assert!(matches!(first, TargetError::Unknown(_)), "{first:?}");
    let second = rt.block_on(target.send(&action, &context)).unwrap();
    assert_eq!(second.reference, "gid://shopify/Return/1");
    assert_eq!(sim.ledger().returns[0].processed_by, 1);
}

/// With exchanges through Shopify returns, an order without one is a clear failure for the
/// supervisor, and nothing else is done in its place.
#[test]
fn an_exchange_without_a_shopify_return_fails_with_the_reason() {
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    let (action, context) = action_of(ActionKind::Exchange);
    let target = return_process_target(&sim);
    match rt().block_on(target.send(&action, &context)).unwrap_err() {
        TargetError::Permanent(reason) => {
            assert!(reason.contains("has no Shopify return"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!sim.ledger().operations.iter().any(|o| o == "ReturnProcess"));
}

/// No Action with a tag: the order is tagged once however often it is sent, and the tag is
/// what reconciliation looks for. Without the setting nothing is sent.
#[test]
fn a_no_action_item_tags_its_order_once() {
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    let (action, context) = action_of(ActionKind::TagOrder);
    let tagging = target_under(
        &sim,
        ShopifyPolicy {
            no_action_tag: Some("returned-no-action".into()),
            ..ShopifyPolicy::default()
        },
    );
    let rt = rt();
    assert_eq!(
        rt.block_on(tagging.reconcile(&action, &context)).unwrap(),
        None,
        "not tagged yet"
    );
    sim.force(&[Fault::DropAfterCommit]);
    let lost = rt.block_on(tagging.send(&action, &context)).unwrap_err();
    assert!(matches!(lost, TargetError::Unknown(_)), "{lost:?}");
    assert!(rt
        .block_on(tagging.reconcile(&action, &context))
        .unwrap()
        .is_some());
    rt.block_on(tagging.send(&action, &context)).unwrap();
    assert_eq!(
        sim.ledger().orders["gid://shopify/Order/1"].tags,
        vec!["returned-no-action".to_owned()]
    );
    match rt
        .block_on(target(&sim).send(&action, &context))
        .unwrap_err()
    {
        TargetError::Permanent(reason) => assert!(reason.contains("no longer tags"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// A refused refund is retried by a supervisor under a key of the retry's own: Shopify keeps
/// a key's first result, so the action's own key would only be refused again.
#[test]
fn a_retried_refusal_is_sent_under_a_key_of_its_own() {
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    let (action, mut context) = refund_action();
    let target = target(&sim);
    let rt = rt();
    sim.ledger().refuse_refunds = Some("Order is archived".into());
    let refused = rt.block_on(target.send(&action, &context)).unwrap_err();
    assert!(matches!(refused, TargetError::Permanent(_)), "{refused:?}");
    sim.ledger().refuse_refunds = None;
    let again = rt.block_on(target.send(&action, &context)).unwrap_err();
    assert!(
        matches!(&again, TargetError::Permanent(r) if r.contains("archived")),
        "the same key is answered with the same refusal: {again:?}"
    );
    context.retries = 1;
    let done = rt.block_on(target.send(&action, &context)).unwrap();
    let ledger = sim.ledger();
    let refunds = &ledger.orders["gid://shopify/Order/1"].refunds;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].id, done.reference);
    assert_eq!(
        refunds[0].note.as_deref(),
        Some(refund_note(&action.key).as_str()),
        "found by the action's own key"
    );
}

/// A customer in Australia paid a New Zealand shop's order in AUD (Shopify's presentment
/// currency, at the order's rate of 0.92): the refund names AUD and is made in AUD amounts;
/// without the currency Shopify refuses it. A part of an amount is its share of the AUD one.
#[test]
fn a_refund_of_an_order_paid_in_another_currency_is_made_in_that_currency() {
    /// The customer paid order 1 in AUD, at 0.92 to the shop's NZD.
    fn paid_in_aud(sim: &Simulator) {
        sim.ledger().presentment.insert(
            "gid://shopify/Order/1".into(),
            support::simulator::Presentment {
                currency: Currency::AUD,
                per_million: 920_000,
            },
        );
    }
    let sim = Simulator::start("Shop");
    let mut order = one_unit_order(vec![]);
    order.lines[0].quantity = 2;
    order.payment.2 = 9_000;
    sim.add_order(order);
    paid_in_aud(&sim);
    let (mut action, mut context) = refund_action();
    context.lines[0].quantity = 2;
    action.amount = Some(Money::new(9_000, Currency::NZD));
    rt().block_on(target(&sim).send(&action, &context)).unwrap();
    {
        let ledger = sim.ledger();
        let refunds = &ledger.orders["gid://shopify/Order/1"].refunds;
        assert_eq!(refunds.len(), 1);
        assert_eq!(
            refunds[0].paid_back,
            Some((8_280, Currency::AUD)),
            "NZ$90.00 is A$82.80"
        );
        assert_eq!(refunds[0].amount, 9_000);
        assert_eq!(ledger.invalid_documents, 0);
    }
    // A part of a line: its share of the AUD amount (NZ$33.33 is A$30.66), rounded half up.
    let sim = Simulator::start("Shop");
    let mut order = one_unit_order(vec![]);
    order.lines[0].unit_price = 3_333;
    order.payment.2 = 3_333;
    sim.add_order(order);
    paid_in_aud(&sim);
    let (mut action, context) = refund_action();
    action.amount = Some(Money::new(3_000, Currency::NZD));
    rt().block_on(target(&sim).send(&action, &context)).unwrap();
    let ledger = sim.ledger();
    let refund = &ledger.orders["gid://shopify/Order/1"].refunds[0];
    // 3_000 × 3_066 / 3_333 = 2_759.7 → 2_760 (A$27.60).
    assert_eq!(refund.paid_back, Some((2_760, Currency::AUD)));
}

/// A credit note as a gift card is issued to the order's customer and emailed to them once
/// when the retailer has Shopify notify customers; not emailed when it does not; and an order
/// placed without an account still gets its card (issued to nobody, its code on the action).
#[test]
fn a_gift_card_credit_note_reaches_the_orders_customer_as_the_retailer_chooses() {
    for (notify, guest) in [(true, false), (false, false), (true, true)] {
        let sim = Simulator::start("Shop");
        let mut order = one_unit_order(vec![]);
        if guest {
            order.customer = String::new();
        }
        sim.add_order(order);
        let (action, context) = action_of(ActionKind::CreditNote);
        let policy = ShopifyPolicy {
            credit_note: CreditNoteVia::GiftCard,
            notify_customer: notify,
            ..ShopifyPolicy::default()
        };
        let confirmation = rt()
            .block_on(target_under(&sim, policy).send(&action, &context))
            .unwrap();
        let ledger = sim.ledger();
        assert_eq!(ledger.gift_cards.len(), 1);
        let card = &ledger.gift_cards[0];
        assert_eq!(confirmation.reference, card.id);
        assert_eq!(
            card.code,
            returnhub_connectors::shopify::gift_card_code(CODES_KEY.as_bytes(), &action.key)
        );
        let expected_customer = (!guest).then(|| "gid://shopify/Customer/1".to_string());
        assert_eq!(
            card.customer_id, expected_customer,
            "notify {notify}, guest {guest}"
        );
        assert_eq!(card.notified, u32::from(notify && !guest));
        assert_eq!(ledger.invalid_documents, 0);
    }
    // A shop connected before customers were asked for (no customer scope): the card is
    // still issued, to nobody, rather than the credit note failing.
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    sim.grant_scopes(&["write_orders", "write_gift_cards"]);
    let (action, context) = action_of(ActionKind::CreditNote);
    rt().block_on(target(&sim).send(&action, &context)).unwrap();
    {
        let ledger = sim.ledger();
        assert_eq!(ledger.gift_cards.len(), 1);
        assert_eq!(ledger.gift_cards[0].customer_id, None);
        assert_eq!(ledger.gift_cards[0].notified, 0);
    }
    // One that may read customers but not assign cards to them: the same.
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    sim.grant_scopes(&["write_orders", "write_gift_cards", "read_customers"]);
    rt().block_on(target(&sim).send(&action, &context)).unwrap();
    let ledger = sim.ledger();
    assert_eq!(ledger.gift_cards.len(), 1);
    assert_eq!(ledger.gift_cards[0].customer_id, None);
    assert_eq!(ledger.gift_cards[0].notified, 0);
}

/// A card an earlier build issued (its code the key's own digits) is found again by
/// reconciliation after the upgrade, never issued a second time under the keyed code.
#[test]
fn a_gift_card_an_earlier_build_issued_is_found_and_not_issued_again() {
    use returnhub_connectors::shopify::legacy_gift_card_code;
    use support::simulator::SimGiftCard;
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    let (action, context) = action_of(ActionKind::CreditNote);
    sim.ledger().gift_cards.push(SimGiftCard {
        id: "gid://shopify/GiftCard/7".into(),
        code: legacy_gift_card_code(&action.key),
        amount: 4_500,
        currency: "NZD".into(),
        expires_on: None,
        note: Some(format!("Returnhub credit note {}", action.key)),
        customer_id: None,
        notified: 0,
    });
    let found = rt()
        .block_on(target(&sim).reconcile(&action, &context))
        .unwrap();
    assert_eq!(
        found.map(|c| c.reference).as_deref(),
        Some("gid://shopify/GiftCard/7")
    );
    assert_eq!(sim.ledger().gift_cards.len(), 1);
}

/// A Shopify return longer than a page (26 return lines) is refused whole with the reason,
/// never processed on the 25 lines that were read.
#[test]
fn a_shopify_return_longer_than_a_page_is_refused_whole() {
    let sim = Simulator::start("Shop");
    sim.add_order(one_unit_order(vec![]));
    let mut long = customer_return();
    long.lines = (0..26)
        .map(|k| {
            (
                format!("gid://shopify/ReturnLineItem/{k}"),
                "gid://shopify/LineItem/1".to_string(),
                1,
                0,
            )
        })
        .collect();
    sim.add_return(long);
    let (action, context) = action_of(ActionKind::Exchange);
    match rt().block_on(return_process_target(&sim).send(&action, &context)) {
        Err(TargetError::Permanent(reason)) => {
            assert!(reason.contains("more than 25 lines"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let ledger = sim.ledger();
    assert!(!ledger.operations.iter().any(|o| o == "ReturnProcess"));
    assert_eq!(ledger.invalid_documents, 0);
}
