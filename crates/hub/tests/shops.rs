//! Connecting shops and working failed actions, on a real store, without a shop to talk to:
//! who may do what, that a shop that does not answer leaves nothing behind, and that a
//! supervisor's retry sends a failed action back through reconciliation (recorded as an
//! event in the return's audit trail). The dispatch itself against a Shopify simulator is in
//! `crates/connectors/tests/` and the window test `tests/e2e_shops.rs`.

mod support;

use std::path::Path;
use std::sync::Arc;

use returnhub_core::trigger::IdempotencyKey;
use returnhub_hub::{ErrorCode, ErrorView, Hub, HubOptions};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, OutboxState, Store};

const NOW: i64 = 1_795_461_900_000; // 2026-11-23T19:25:00Z
const TOKEN: &str = "shpat_0123456789abcdef0123456789abcdef";

fn demo_hub(dir: &Path, badge: &str, pin: &str) -> Arc<Hub> {
    let hub = Hub::open_with_clock(HubOptions::demo(dir), Box::new(|| NOW)).unwrap();
    hub.sign_in(badge, pin).unwrap();
    Arc::new(hub)
}

fn code(e: returnhub_hub::HubError) -> (ErrorCode, String) {
    let view = ErrorView::from(e);
    (view.code, view.message)
}

/// Passes every item of `ret` (grade A) and processes it: the actions it queued.
fn pass_and_process(hub: &Hub, ret: &returnhub_core::model::ReturnView) -> u32 {
    for item in &ret.items {
        hub.inspect_item(support::passed(&ret.id, &item.id))
            .unwrap();
    }
    hub.process_return(&ret.id).unwrap().actions_queued
}

/// Processes kowhai returns until one queues an action; returns that action's key.
fn process_until_an_action_is_queued(hub: &Hub) -> IdempotencyKey {
    let connotes: Vec<String> = hub.with_store(|s| {
        let mut stmt = s
            .reader()
            .prepare(
                "SELECT c.connote FROM connotes c JOIN returns r ON r.id = c.return_id
                 WHERE r.retailer_id = 'kowhai' AND r.hub_id = 'AKL' AND r.status = 'expected'
                 ORDER BY c.connote",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    });
    for connote in connotes {
        let ret = hub.scan(&connote).unwrap().ret.unwrap();
        if pass_and_process(hub, &ret) > 0 {
            let key: String = hub.with_store(|s| {
                s.reader()
                    .query_row(
                        "SELECT dedupe_key FROM outbox WHERE topic = 'action'
                         AND json_extract(payload, '$.return_id') = ?1 LIMIT 1",
                        [&ret.id],
                        |r| r.get(0),
                    )
                    .unwrap()
            });
            return IdempotencyKey::parse(&key).unwrap();
        }
    }
    panic!("no demo return of kowhai queues an action");
}

#[test]
fn only_admins_connect_shops_and_supervisors_see_them() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), "OP-1001", "1111");
    let (c, _) = code(hub.shops_view().unwrap_err());
    assert_eq!(c, ErrorCode::Forbidden);
    let (c, _) = code(hub.connect_shop("kowhai", "kowhai", TOKEN).unwrap_err());
    assert_eq!(c, ErrorCode::Forbidden);

    hub.sign_in("SV-2001", "2222").unwrap();
    let view = hub.shops_view().unwrap();
    assert!(view.retailers.iter().any(|r| r.retailer_id == "kowhai"));
    assert!(view.retailers.iter().all(|r| r.connection.is_none()));
    let (c, _) = code(hub.connect_shop("kowhai", "kowhai", TOKEN).unwrap_err());
    assert_eq!(c, ErrorCode::Forbidden, "supervisors do not connect shops");
    let (c, _) = code(hub.start_import("kowhai").unwrap_err());
    assert_eq!(c, ErrorCode::Forbidden);
}

#[test]
fn a_shop_that_does_not_answer_or_a_bad_domain_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), "AD-3001", "3333");
    let (c, m) = code(
        hub.connect_shop("kowhai", "not a shop!", TOKEN)
            .unwrap_err(),
    );
    assert_eq!(c, ErrorCode::Invalid);
    assert!(m.contains("not a shop domain"), "{m}");
    let (c, m) = code(
        hub.connect_shop("kowhai", "http://shop.example.com", TOKEN)
            .unwrap_err(),
    );
    assert_eq!(c, ErrorCode::Invalid);
    assert!(m.contains("https"), "{m}");
    let (c, m) = code(hub.connect_shop("nobody", "kowhai", TOKEN).unwrap_err());
    assert_eq!(c, ErrorCode::Invalid);
    assert!(m.contains("nobody"), "{m}");

    // Nothing listens on port 9 here: the check fails and nothing is kept.
    let (c, m) = code(
        hub.connect_shop("kowhai", "http://127.0.0.1:9", TOKEN)
            .unwrap_err(),
    );
    assert_eq!(c, ErrorCode::Network, "another machine answered no");
    assert!(m.contains("did not accept"), "{m}");
    assert!(
        !m.contains(TOKEN),
        "the token never appears in a message: {m}"
    );
    let view = hub.shops_view().unwrap();
    assert!(view.retailers.iter().all(|r| r.connection.is_none()));
    let kept = std::fs::read_dir(dir.path().join("secrets"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(kept, 0, "no credentials are kept when the check fails");
    let (c, m) = code(hub.start_import("kowhai").unwrap_err());
    assert_eq!(c, ErrorCode::NotFound);
    assert!(m.contains("not connected"), "{m}");
}

#[test]
fn a_supervisor_retries_a_failed_action_through_reconciliation() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), "OP-1001", "1111");
    let key = process_until_an_action_is_queued(&hub);
    let return_id = hub
        .with_store(|s| s.action(&key).unwrap().unwrap())
        .action
        .return_id;

    hub.sign_in("SV-2001", "2222").unwrap();
    let (c, m) = code(hub.retry_action(key.as_str()).unwrap_err());
    assert_eq!(c, ErrorCode::Conflict, "a pending action is not retried");
    assert!(m.contains("pending"), "{m}");
    let (c, _) = code(hub.retry_action("rh1-not-a-key").unwrap_err());
    assert_eq!(c, ErrorCode::Invalid);

    // The dispatcher (its own connection to the same file) gives up on it.
    let mut other = Store::open(&HubOptions::demo(dir.path()).store_path()).unwrap();
    other
        .write(NOW, |tx| {
            tx.append(EventInput {
                event: DomainEvent::ActionFailed {
                    key: key.clone(),
                    return_id: return_id.clone(),
                    target: "shopify".into(),
                    reason: "refundCreate: the order is archived".into(),
                },
                actor: "system:dispatcher".into(),
                station: None,
            })
        })
        .unwrap();
    let view = hub.shops_view().unwrap();
    let failed = view
        .troubled
        .iter()
        .find(|a| a.key == key.as_str())
        .expect("the failed action is listed for the supervisor");
    assert_eq!(failed.state, "failed");
    assert_eq!(
        failed.last_error.as_deref(),
        Some("refundCreate: the order is archived")
    );
    let kowhai = view
        .retailers
        .iter()
        .find(|r| r.retailer_id == "kowhai")
        .unwrap();
    assert_eq!(kowhai.actions.failed, 1);

    hub.retry_action(key.as_str()).unwrap();
    let row = hub.with_store(|s| s.action(&key).unwrap().unwrap());
    assert_eq!(
        row.state,
        OutboxState::Unknown,
        "reconciled before any resend"
    );
    assert_eq!(row.attempts, 0);
    assert_eq!(row.next_attempt_at, None, "due at once");
    let (c, _) = code(hub.retry_action(key.as_str()).unwrap_err());
    assert_eq!(c, ErrorCode::Conflict, "retrying twice is refused");
    let trail = hub.audit_trail(&return_id).unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.what.contains("failed at shopify") && e.who == "system:dispatcher"),
        "{trail:?}"
    );
    assert!(
        trail
            .iter()
            .any(|e| e.what.contains("retried") && e.who == "Sam Walker"),
        "{trail:?}"
    );
}

/// How a retailer's actions go to Shopify is the admin's to set, checked in the core: a
/// supervisor is refused, settings with problems are refused with every problem and change
/// nothing, and saved settings are the retailer's configuration (one event, which syncs).
#[test]
fn admins_set_how_a_retailers_actions_go_to_shopify() {
    use returnhub_core::trigger::{CreditNoteVia, ExchangeVia, ShopifyPolicy};
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), "SV-2001", "2222");
    let kowhai = |hub: &Hub| {
        hub.shops_view()
            .unwrap()
            .retailers
            .into_iter()
            .find(|r| r.retailer_id == "kowhai")
            .unwrap()
            .shopify
    };
    assert_eq!(kowhai(&hub), ShopifyPolicy::default());
    let wanted = ShopifyPolicy {
        exchange: ExchangeVia::ReturnProcess,
        credit_note: CreditNoteVia::StoreCredit,
        no_action_tag: Some("returned-kept".into()),
        notify_customer: false,
        ..ShopifyPolicy::default()
    };
    let (c, _) = code(
        hub.save_shopify_policy("kowhai", wanted.clone())
            .unwrap_err(),
    );
    assert_eq!(
        c,
        ErrorCode::Forbidden,
        "supervisors do not change settings"
    );

    hub.sign_in("AD-3001", "3333").unwrap();
    let bad = ShopifyPolicy {
        exchange_tag_prefix: " ".into(),
        no_action_tag: Some("a,b".into()),
        ..ShopifyPolicy::default()
    };
    let (c, m) = code(hub.save_shopify_policy("kowhai", bad).unwrap_err());
    assert_eq!(c, ErrorCode::Invalid);
    assert!(
        m.contains("exchange tag prefix") && m.contains("No Action tag"),
        "every problem: {m}"
    );
    assert_eq!(kowhai(&hub), ShopifyPolicy::default(), "nothing saved");
    let (c, _) = code(
        hub.save_shopify_policy("nobody", wanted.clone())
            .unwrap_err(),
    );
    assert_eq!(c, ErrorCode::Invalid, "an unknown retailer");

    let before = hub.with_store(|s| s.retailer_record("kowhai").unwrap().unwrap());
    let view = hub.save_shopify_policy("kowhai", wanted.clone()).unwrap();
    let saved = view
        .retailers
        .iter()
        .find(|r| r.retailer_id == "kowhai")
        .unwrap();
    assert_eq!(saved.shopify, wanted);
    let after = hub.with_store(|s| s.retailer_record("kowhai").unwrap().unwrap());
    assert_eq!(after.policy.shopify, wanted);
    assert_eq!(
        after.rules, before.rules,
        "the rest of the configuration kept"
    );
    assert_eq!(after.policy.trigger, before.policy.trigger);

    // Reopened from the file: the settings are the retailer's, not the process's.
    drop(hub);
    let hub = demo_hub(dir.path(), "AD-3001", "3333");
    assert_eq!(kowhai(&hub), wanted);
}

/// A credit note issued as a Shopify gift card shows its code on the return's panel to a
/// supervisor (to pass on to a customer who calls), and to no operator: a code is money.
#[test]
fn supervisors_see_a_credit_notes_gift_card_code_and_operators_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), "OP-1001", "1111");
    let connotes: Vec<String> = hub.with_store(|s| {
        let mut stmt = s
            .reader()
            .prepare(
                "SELECT c.connote FROM connotes c JOIN returns r ON r.id = c.return_id
                 WHERE r.hub_id = 'AKL' AND r.status = 'expected' ORDER BY c.connote",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    });
    let mut credited = None;
    for connote in connotes {
        let ret = hub.scan(&connote).unwrap().ret.unwrap();
        pass_and_process(&hub, &ret);
        let state = hub.bench_state(&ret.id).unwrap();
        if state.actions.iter().any(|a| a.kind == "credit_note") {
            credited = Some((ret.id.clone(), state));
            break;
        }
    }
    let (return_id, as_operator) = credited.expect("a demo return decided as a credit note");
    let note = as_operator
        .actions
        .iter()
        .find(|a| a.kind == "credit_note")
        .unwrap();
    assert!(note.amount.is_some());
    assert_eq!(note.gift_card_code, None, "operators are not shown codes");
    hub.sign_out().unwrap();
    hub.sign_in("SV-2001", "2222").unwrap();
    let key: String = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT dedupe_key FROM outbox WHERE topic = 'action'
                 AND json_extract(payload, '$.return_id') = ?1
                 AND json_extract(payload, '$.kind') = 'credit_note'",
                [&return_id],
                |r| r.get(0),
            )
            .unwrap()
    });
    let as_supervisor = hub.bench_state(&return_id).unwrap();
    let code = as_supervisor
        .actions
        .iter()
        .find(|a| a.kind == "credit_note")
        .and_then(|a| a.gift_card_code.clone());
    // Made with this hub's own key (in its keyring): the key it is read from, not the
    // action's key alone, gives it; the same code every time.
    let secret = returnhub_secrets::SecretVault::new(
        "returnhub",
        &dir.path().join("secrets"),
        returnhub_secrets::Backend::KeyringOrFile,
    )
    .load("gift-card-codes")
    .unwrap();
    let key = IdempotencyKey::parse(&key).unwrap();
    assert_eq!(
        code,
        Some(returnhub_connectors::shopify::gift_card_code(
            secret.as_bytes(),
            &key
        ))
    );
    assert_ne!(
        code,
        Some(returnhub_connectors::shopify::legacy_gift_card_code(&key))
    );
}

/// An admin connects a shop with a Dev Dashboard app's client ID and secret: the check asks
/// Shopify for a token and finds the scopes the retailer's settings need; a shop that did not
/// grant one is refused with the scope named, and nothing is kept; the secret never shows.
#[test]
fn an_admin_connects_a_shop_with_an_apps_client_credentials() {
    use returnhub_simulators::simulator::{Simulator, CLIENT_ID, CLIENT_SECRET};
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path(), "AD-3001", "3333");
    let shop = Simulator::start("Kōwhai Apparel");
    shop.ledger().granted_scopes = vec!["write_orders".into(), "write_gift_cards".into()];
    let (_, m) = code(
        hub.connect_shop_app("kowhai", &shop.base(), CLIENT_ID, CLIENT_SECRET)
            .unwrap_err(),
    );
    assert!(m.contains("write_customers"), "{m}");
    assert!(
        m.contains("write_merchant_managed_fulfillment_orders"),
        "{m}"
    );
    assert!(!m.contains(CLIENT_SECRET), "{m}");
    assert!(hub
        .shops_view()
        .unwrap()
        .retailers
        .iter()
        .all(|r| r.connection.is_none()));
    shop.ledger().granted_scopes = returnhub_simulators::simulator::ALL_SCOPES
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    let view = hub
        .connect_shop_app("kowhai", &shop.base(), CLIENT_ID, CLIENT_SECRET)
        .unwrap();
    let kowhai = view
        .retailers
        .iter()
        .find(|r| r.retailer_id == "kowhai")
        .unwrap();
    assert_eq!(
        kowhai.connection.as_ref().map(|c| c.shop_name.as_str()),
        Some("Kōwhai Apparel")
    );
    // An operator cannot.
    hub.sign_out().unwrap();
    hub.sign_in("OP-1001", "1111").unwrap();
    let (c, _) = code(
        hub.connect_shop_app("kowhai", &shop.base(), CLIENT_ID, CLIENT_SECRET)
            .unwrap_err(),
    );
    assert_eq!(c, ErrorCode::Forbidden);
}
