//! Returns Prime as a lookup source and as a dispatch target, against the Returns Prime
//! simulator (`support/rp_sim.rs`) over real sockets: lookups across pages, clear errors for
//! malformed answers and unknown SKUs, the processing update's body per item, a wrong QC path,
//! the connection test, and many returns dispatched through the real `Dispatcher` over a real
//! store file while every kind of request meets faults: exactly one effect per item, none
//! lost, all confirmed.

use returnhub_simulators as support;

use std::sync::Arc;
use std::time::Duration;

use returnhub_connectors::dispatch::{
    DispatchOptions, DispatchReport, Dispatcher, Target, TargetError,
};
use returnhub_connectors::returns_prime::{
    expected_return_for_order, ExpectAt, RpError, RpRequest, DEFAULT_QC_PATH, SOURCE,
};
use returnhub_connectors::{
    ReturnsPrimeClient, ReturnsPrimeConfig, ReturnsPrimeTarget, SystemClock,
};
use returnhub_core::bench::{DecidedBy, InspectionRecord, ItemDecisionRecord, Presence};
use returnhub_core::decision::{QcFailPolicy, RetailerPolicy};
use returnhub_core::money::{Currency, Money};
use returnhub_core::partner::ActionTarget;
use returnhub_core::record::{OrderLineRecord, OrderRecord, RetailerRecord};
use returnhub_core::rules::{Grade, Outcome, QcStatus, RuleSet};
use returnhub_core::trigger::{ActionDue, ActionKind, IdempotencyKey, Trigger};
use returnhub_protocol::action::{ActionContext, ActionLine, ItemQc};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, OutboxState, Store};
use support::rp_sim::{Fault, RpLine, RpRequestSim, RpSim, FAULTS, TOKEN};
use support::rt;

const RETAILER: &str = "kowhai";
const NOW: i64 = 1_795_461_900_000;

fn config(sim: &RpSim) -> ReturnsPrimeConfig {
    ReturnsPrimeConfig {
        timeout: Duration::from_secs(5),
        read_retries: 0,
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(40),
        ..ReturnsPrimeConfig::new(&sim.base(), TOKEN)
    }
}

fn client_with(config: ReturnsPrimeConfig) -> ReturnsPrimeClient {
    ReturnsPrimeClient::new(config, Arc::new(SystemClock)).unwrap()
}

fn client(sim: &RpSim) -> ReturnsPrimeClient {
    client_with(config(sim))
}

/// Request `n`: id 9000+n, number RP-n, AWB RPAWBn on every line, `lines` line items with
/// ids 500000+10n+j and SKUs SKU-n-j.
fn request(n: u32, lines: u32) -> RpRequestSim {
    RpRequestSim {
        id: (9_000 + n).to_string(),
        request_number: format!("RP-{n}"),
        order_name: format!("#{}", 10_000 + n),
        status: "approved".into(),
        received: false,
        rejected: false,
        lines: (0..lines)
            .map(|j| RpLine {
                id: line_item_id(n, j),
                sku: format!("SKU-{n}-{j}"),
                quantity: 1,
                awbs: vec![awb(n)],
                refund_status: "pending".into(),
                qc: None,
            })
            .collect(),
    }
}

fn line_item_id(n: u32, j: u32) -> String {
    (500_000 + 10 * n + j).to_string()
}

fn awb(n: u32) -> String {
    format!("RPAWB{n:06}")
}

fn order(n: u32, lines: u32) -> OrderRecord {
    let nzd = |m| Money::new(m, Currency::NZD);
    OrderRecord {
        id: format!("gid://shopify/Order/{}", 5_000_000 + n),
        retailer_id: RETAILER.into(),
        order_number: format!("#{}", 10_000 + n),
        customer_name: "Ana".into(),
        email: format!("ana{n}@example.com"),
        created_at: "2026-11-01T00:00:00.000Z".into(),
        country: "NZ".into(),
        tags: vec![],
        subtotal: nzd(3_000 * i64::from(lines)),
        discount: nzd(0),
        total: nzd(3_000 * i64::from(lines)),
        lines: (0..lines)
            .map(|j| OrderLineRecord {
                id: format!("gid://shopify/LineItem/{}", 7_000_000 + 10 * n + j),
                sku: format!("SKU-{n}-{j}"),
                ean: None,
                title: "Tee".into(),
                image: None,
                quantity: 1,
                unit_price: nzd(3_000),
                discount: nzd(0),
                product_tags: vec![],
            })
            .collect(),
    }
}

#[test]
fn lookup_by_awb_follows_every_page_and_gives_the_return_to_expect() {
    let sim = RpSim::start();
    // 8 requests share one AWB (a consolidated return parcel) among 20: three pages of three.
    for n in 0..20 {
        let mut r = request(n, 1 + n % 3);
        if n % 2 == 0 && n < 16 {
            for line in &mut r.lines {
                line.awbs = vec!["SHARED-AWB".into()];
            }
        }
        sim.add_request(r);
    }
    // The AWB on the second line item only.
    let mut split = request(40, 2);
    split.lines[0].awbs = vec!["FIRST-LEG".into()];
    split.lines[1].awbs = vec!["SECOND-LEG".into()];
    sim.add_request(split);
    let client = client(&sim);
    rt().block_on(async {
        let found = client.find_by_awb("SHARED-AWB").await.unwrap();
        let mut numbers: Vec<_> = found.iter().map(|r| r.request_number.clone()).collect();
        numbers.sort();
        let mut expected: Vec<_> = (0..16).step_by(2).map(|n| format!("RP-{n}")).collect();
        expected.sort();
        assert_eq!(numbers, expected, "every page followed");
        let pages: Vec<_> = sim
            .ledger()
            .requests_seen
            .iter()
            .filter(|r| r.contains("awb=SHARED-AWB"))
            .cloned()
            .collect();
        assert_eq!(pages.len(), 3, "{pages:?}");
        assert!(pages[2].contains("page=3"), "{pages:?}");

        let second = client.find_by_awb("SECOND-LEG").await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].awbs(), vec!["FIRST-LEG", "SECOND-LEG"]);
        assert!(client.find_by_awb("NOBODY").await.unwrap().is_empty());

        let by_number = client
            .find_by_request_number("RP-7")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_number.id, "9007");
        assert!(client
            .find_by_request_number("RP-999")
            .await
            .unwrap()
            .is_none());

        let got = client.get("9007").await.unwrap();
        assert_eq!(
            got, by_number,
            "the list and the getter parse to the same request"
        );
        assert_eq!(got.line_items.len(), 2);
        assert_eq!(got.line_items[1].sku, "SKU-7-1");
        assert_eq!(got.line_items[1].id, line_item_id(7, 1));
        assert!(!got.received && !got.rejected);
        let missing = client.get("123456").await.unwrap_err();
        assert_eq!(missing, RpError::NotFound("request 123456".into()));
        assert_eq!(missing.to_string(), "Returns Prime has no request 123456");

        // What the hub expects for the parcel.
        let record = expected_return_for_order(
            &got,
            ExpectAt {
                return_id: "R7",
                retailer_id: RETAILER,
                hub_id: "AKL",
                created_at: "2026-11-05T00:00:00.000Z",
            },
            &order(7, 2),
        )
        .unwrap();
        assert_eq!(record.source, SOURCE);
        assert_eq!(record.external_id.as_deref(), Some("9007"));
        assert_eq!(record.order_id, "gid://shopify/Order/5000007");
        assert_eq!(record.connotes, vec![awb(7)]);
        assert_eq!(record.items.len(), 2);
        assert_eq!(record.items[1].id, "R7-i2");
        assert_eq!(record.items[1].external_id, Some(line_item_id(7, 1)));
        assert_eq!(
            record.items[1].order_line_id,
            "gid://shopify/LineItem/7000071"
        );
        assert_eq!(record.items[1].quantity, 1);
    });
}

#[test]
fn malformed_answers_and_unknown_skus_are_clear_errors() {
    let sim = RpSim::start();
    sim.add_request(request(1, 2));
    {
        let mut ledger = sim.ledger();
        ledger
            .raw
            .insert("77".into(), "<html>maintenance</html>".into());
        ledger.raw.insert(
            "78".into(),
            r#"{"status":true,"data":{"id":78,"request_number":"RP-78","line_items":[{"id":1,"original_product":{},"shop_price":{"return_quantity":1}}]}}"#.into(),
        );
        ledger.raw.insert(
            "79".into(),
            r#"{"status":true,"data":{"id":79,"request_number":"RP-79","line_items":[{"id":1,"original_product":{"sku":"A"},"shop_price":{"return_quantity":0}}]}}"#.into(),
        );
        ledger.raw.insert(
            "80".into(),
            r#"{"status":true,"data":{"id":80,"request_number":"RP-80","received":{"status":"maybe"},"line_items":[]}}"#.into(),
        );
        ledger
            .raw
            .insert("81".into(), r#"{"status":true,"data":[1,2]}"#.into());
    }
    let client = client(&sim);
    rt().block_on(async {
        let not_json = client.get("77").await.unwrap_err();
        assert!(matches!(not_json, RpError::Malformed(_)), "{not_json:?}");
        assert!(
            not_json.to_string().contains("request 77 is not JSON"),
            "{not_json}"
        );
        let no_sku = client.get("78").await.unwrap_err().to_string();
        assert_eq!(
            no_sku,
            "Returns Prime's answer is not as documented: request 78: line item 1 (1 has no original_product.sku)"
        );
        let no_quantity = client.get("79").await.unwrap_err().to_string();
        assert!(
            no_quantity.contains("no positive shop_price.return_quantity"),
            "{no_quantity}"
        );
        let bad_flag = client.get("80").await.unwrap_err().to_string();
        assert!(
            bad_flag.contains("received.status is not true or false"),
            "{bad_flag}"
        );
        let not_object = client.get("81").await.unwrap_err().to_string();
        assert!(not_object.contains("no request object"), "{not_object}");

        // An item the order does not have.
        let request = client.get("9001").await.unwrap();
        let mut short = order(1, 2);
        short.lines.remove(1);
        let unknown = expected_return_for_order(
            &request,
            ExpectAt {
                return_id: "R1",
                retailer_id: RETAILER,
                hub_id: "AKL",
                created_at: "2026-11-05T00:00:00.000Z",
            },
            &short,
        )
        .unwrap_err();
        assert_eq!(
            unknown.to_string(),
            format!(
                "Returns Prime request RP-1 returns SKU SKU-1-1 (line item {}), which is not on order gid://shopify/Order/5000001",
                line_item_id(1, 1)
            )
        );
    });
    // Parsing never panics, whatever the shape.
    for v in [
        serde_json::json!(null),
        serde_json::json!([]),
        serde_json::json!({ "id": {} }),
        serde_json::json!({ "id": 1, "request_number": 2, "line_items": [null] }),
        serde_json::json!({ "id": 1, "request_number": 2, "line_items": [{ "id": 3,
            "original_product": { "sku": "A" }, "shop_price": { "return_quantity": "2" }, "shipping": "x" }] }),
    ] {
        assert!(RpRequest::parse(&v).is_err(), "{v}");
    }
}

/// One return of `lines` items for the target tests, with each item's QC and outcome.
fn partner_action(
    n: u32,
    lines: Vec<(Option<ItemQc>, Option<&str>)>,
) -> (ActionDue, ActionContext) {
    let return_id = format!("R{n}");
    let item_ids: Vec<String> = (0..lines.len())
        .map(|j| format!("R{n}-i{}", j + 1))
        .collect();
    let refs: Vec<&str> = item_ids.iter().map(String::as_str).collect();
    let kind = ActionKind::PartnerUpdate;
    let action = ActionDue {
        key: IdempotencyKey::derive(RETAILER, &return_id, &refs, kind),
        retailer_id: RETAILER.into(),
        return_id,
        item_ids: item_ids.clone(),
        kind,
        amount: None,
        credit_note_expiry_days: None,
    };
    let context = ActionContext {
        order_id: format!("gid://shopify/Order/{}", 5_000_000 + n),
        lines: lines
            .into_iter()
            .enumerate()
            .map(|(j, (qc, outcome))| ActionLine {
                return_item_id: item_ids[j].clone(),
                order_line_id: format!("gid://shopify/LineItem/{}", 7_000_000 + 10 * n + j as u32),
                quantity: 1,
                disposition: None,
                sku: format!("SKU-{n}-{j}"),
                external_id: Some(line_item_id(n, j as u32)),
                qc,
                outcome: outcome.map(str::to_owned),
                chosen_option: None,
            })
            .collect(),
        others: vec![],
        retries: 0,
        source: SOURCE.into(),
        target: ActionTarget::ReturnsPrime,
        external_id: Some((9_000 + n).to_string()),
        connotes: vec![awb(n)],
    };
    (action, context)
}

fn qc(presence: &str, status: Option<&str>, reason: Option<&str>) -> Option<ItemQc> {
    Some(ItemQc {
        presence: presence.into(),
        qc: status.map(str::to_owned),
        qc_reason: reason.map(str::to_owned),
        grade: Some("A".into()),
        note: None,
        photos: vec!["b3f1".into()],
        inspected_at: "2026-11-05T01:00:00.000Z".into(),
    })
}

#[test]
fn the_processing_update_tells_each_item_its_verdict() {
    let sim = RpSim::start();
    sim.add_request(request(3, 5));
    let target = ReturnsPrimeTarget::new(client(&sim));
    assert_eq!(target.name(), "returns_prime");
    let (action, context) = partner_action(
        3,
        vec![
            (qc("found", Some("pass"), None), Some("refund")),
            (
                qc("found", Some("fail"), Some("STAIN_DAMAGE")),
                Some("no_action"),
            ),
            (qc("missing", None, None), Some("no_action")),
            (None, Some("exchange")),
            // QC failed, and a supervisor gave a credit note all the same.
            (
                qc("found", Some("fail"), Some("TAG_MISSING")),
                Some("credit_note"),
            ),
        ],
    );
    rt().block_on(async {
        assert_eq!(target.reconcile(&action, &context).await.unwrap(), None);
        let confirmation = target.send(&action, &context).await.unwrap();
        assert_eq!(confirmation.reference, "returns_prime:9003");
        let effects = sim.ledger().effects.clone();
        let told: Vec<_> = effects
            .iter()
            .map(|e| {
                (
                    e.line_item_id.as_str(),
                    e.sku.as_str(),
                    e.qc_status.as_str(),
                    e.qc_reason.as_deref(),
                )
            })
            .collect();
        let ids: Vec<String> = (0..5).map(|j| line_item_id(3, j)).collect();
        assert_eq!(
            told,
            vec![
                (ids[0].as_str(), "SKU-3-0", "PASS", None),
                (ids[1].as_str(), "SKU-3-1", "FAIL", Some("STAIN_DAMAGE")),
                (ids[2].as_str(), "SKU-3-2", "FAIL", Some("ITEM_MISSING")),
                (ids[3].as_str(), "SKU-3-3", "PASS", Some("NOT_INSPECTED")),
                (ids[4].as_str(), "SKU-3-4", "PASS", Some("TAG_MISSING")),
            ]
        );
        assert!(effects
            .iter()
            .all(|e| e.request_id == "9003" && e.image_urls.is_empty()));
        let seen = sim.ledger().requests_seen.clone();
        assert!(
            seen.contains(&format!("POST {}", DEFAULT_QC_PATH.replace("{id}", "9003"))),
            "{seen:?}"
        );
        // Returns Prime's record now shows it: reconciliation finds it.
        assert_eq!(
            target.reconcile(&action, &context).await.unwrap(),
            Some(confirmation)
        );
        assert!(sim.ledger().requests["9003"].received);

        // An item with no decision, or no Returns Prime id: nothing is sent.
        let (a, mut c) = partner_action(3, vec![(qc("found", Some("pass"), None), None)]);
        let e = target.send(&a, &c).await.unwrap_err();
        assert_eq!(
            e,
            TargetError::Permanent(
                "item R3-i1 of return R3 has no decision, so there is no verdict to send".into()
            )
        );
        c.lines[0].outcome = Some("refund".into());
        c.lines[0].external_id = None;
        let e = target.send(&a, &c).await.unwrap_err().to_string();
        assert!(e.contains("has no Returns Prime line item id"), "{e}");
        // Another kind of action is not for Returns Prime.
        let refund = ActionDue {
            kind: ActionKind::Refund,
            ..action.clone()
        };
        let e = target
            .send(&refund, &context)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is a refund for Shopify, not an update for Returns Prime"),
            "{e}"
        );
    });
    assert_eq!(
        sim.ledger().effects.len(),
        5,
        "the refused sends took no effect"
    );
}

#[test]
fn refusals_say_why_and_a_refused_repeat_of_an_update_that_landed_is_confirmed() {
    let sim = RpSim::start();
    sim.add_request(request(4, 2));
    sim.ledger().refuse_repeats = true;
    let target = ReturnsPrimeTarget::new(client(&sim));
    let lines = || {
        vec![
            (qc("found", Some("pass"), None), Some("refund")),
            (qc("found", Some("pass"), None), Some("exchange")),
        ]
    };
    let (action, context) = partner_action(4, lines());
    rt().block_on(async {
        // A SKU Returns Prime does not have on the line item: its own message, nothing applied.
        let mut wrong = context.clone();
        wrong.lines[1].sku = "SKU-OTHER".into();
        let e = target.send(&action, &wrong).await.unwrap_err();
        assert_eq!(
            e,
            TargetError::Permanent(format!(
                "Returns Prime refused the QC update of request 9004: HTTP 422: channelSkuCode of line item {} is not SKU-4-1",
                line_item_id(4, 1)
            ))
        );
        assert!(sim.ledger().effects.is_empty());
        // Sent, then again (a supervisor's retry): refused as a repeat, and confirmed because
        // Returns Prime's record shows exactly this update.
        target.send(&action, &context).await.unwrap();
        let again = target.send(&action, &context).await.unwrap();
        assert_eq!(again.reference, "returns_prime:9004");
        assert_eq!(sim.ledger().effects.len(), 2);
        // A repeat with another verdict is refused and stays refused.
        let (_, mut changed) = partner_action(4, lines());
        changed.lines[0].outcome = Some("no_action".into());
        let e = target.send(&action, &changed).await.unwrap_err().to_string();
        assert!(e.contains("already has a QC result"), "{e}");
        assert_eq!(sim.ledger().effects.len(), 2);
        // Throttled: certainly not applied; a 502: unknown.
        sim.force(&[Fault::Throttled]);
        assert!(matches!(
            target.send(&action, &changed).await,
            Err(TargetError::NotApplied(_))
        ));
        sim.force(&[Fault::ServerError]);
        assert!(matches!(
            target.send(&action, &changed).await,
            Err(TargetError::Unknown(_))
        ));
    });
}

#[test]
fn test_connection_accepts_the_token_and_names_a_refused_one() {
    let sim = RpSim::start();
    sim.add_request(request(1, 1));
    let good = ReturnsPrimeTarget::new(client(&sim));
    let bad = ReturnsPrimeTarget::new(client_with(ReturnsPrimeConfig {
        token: "rp_wrong_token".into(),
        ..config(&sim)
    }));
    let shown = format!("{bad:?} {good:?}");
    assert!(
        !shown.contains("rp_wrong_token") && !shown.contains(TOKEN),
        "{shown}"
    );
    rt().block_on(async {
        good.test_connection().await.unwrap();
        assert!(sim
            .ledger()
            .requests_seen
            .contains(&"GET /return-exchange/v2?page=1".to_owned()));
        assert_eq!(
            bad.test_connection().await.unwrap_err(),
            "Returns Prime refused the token (x-rp-token): copy it again from Returns Prime's API settings"
        );
        // Nothing listening: one sentence, not a panic.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let nowhere = ReturnsPrimeTarget::new(client_with(ReturnsPrimeConfig {
            base_url: format!("http://127.0.0.1:{port}"),
            ..config(&sim)
        }));
        let e = nowhere.test_connection().await.unwrap_err();
        assert!(e.starts_with("Returns Prime could not be reached"), "{e}");
    });
    assert!(ReturnsPrimeClient::new(
        ReturnsPrimeConfig::new("http://rp.example.com", TOKEN),
        Arc::new(SystemClock)
    )
    .unwrap_err()
    .to_string()
    .contains("not encrypted"));
}

// ---------------------------------------------------------------------------------------
// Through the real dispatcher and store.

fn input(event: DomainEvent) -> EventInput {
    EventInput {
        event,
        actor: "test".into(),
        station: Some("bench-t".into()),
    }
}

fn retailer() -> RetailerRecord {
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
            shopify: Default::default(),
            // Unbound: returns_prime goes to Returns Prime by default.
            partners: Default::default(),
        },
        rules: RuleSet { rules: vec![] },
        reasons: vec![],
        qc_reasons: vec![],
    }
}

/// How item `j` of return `n` was found and decided, and what Returns Prime must be told.
#[derive(Debug, Clone, Copy)]
enum Case {
    PassRefund,
    FailNoAction,
    MissingNoAction,
    UninspectedExchange,
}

fn case(n: u32, j: u32) -> Case {
    match (n + j) % 4 {
        0 => Case::PassRefund,
        1 => Case::FailNoAction,
        2 => Case::MissingNoAction,
        _ => Case::UninspectedExchange,
    }
}

fn told(case: Case) -> (&'static str, Option<&'static str>) {
    match case {
        Case::PassRefund => ("PASS", None),
        Case::FailNoAction => ("FAIL", Some("STAIN_DAMAGE")),
        Case::MissingNoAction => ("FAIL", Some("ITEM_MISSING")),
        Case::UninspectedExchange => ("PASS", Some("NOT_INSPECTED")),
    }
}

fn lines_of(n: u32) -> u32 {
    1 + n % 3
}

/// Per return: its order, the return found by the parcel's AWB at Returns Prime, the bench's
/// inspections and decisions, and the one PartnerUpdate action.
fn seed_store(store: &mut Store, client: &ReturnsPrimeClient, returns: u32) -> Vec<ActionDue> {
    store
        .write(NOW, |tx| {
            tx.append(input(DomainEvent::RetailerConfigured(retailer())))
        })
        .unwrap();
    let rt = rt();
    let mut actions = Vec::new();
    for n in 0..returns {
        let found = rt.block_on(client.find_by_awb(&awb(n))).unwrap();
        assert_eq!(found.len(), 1);
        let order = order(n, lines_of(n));
        let record = expected_return_for_order(
            &found[0],
            ExpectAt {
                return_id: &format!("R{n:04}"),
                retailer_id: RETAILER,
                hub_id: "AKL",
                created_at: "2026-11-05T00:00:00.000Z",
            },
            &order,
        )
        .unwrap();
        let return_id = record.id.clone();
        let item_ids: Vec<String> = record.items.iter().map(|i| i.id.clone()).collect();
        store
            .write(NOW, |tx| {
                tx.append(input(DomainEvent::OrderImported(order.clone())))?;
                tx.append(input(DomainEvent::ReturnExpected(record.clone())))?;
                let mut decisions = Vec::new();
                for (j, item_id) in item_ids.iter().enumerate() {
                    let c = case(n, j as u32);
                    let inspection = |presence, qc, reason: Option<&str>| InspectionRecord {
                        id: format!("insp-{item_id}"),
                        return_id: return_id.clone(),
                        item_id: item_id.clone(),
                        presence,
                        qc,
                        qc_reason: reason.map(str::to_owned),
                        grade: Some(Grade::B),
                        disposition: None,
                        note: None,
                        photos: vec![],
                    };
                    let (inspected, outcome, decided_by) = match c {
                        Case::PassRefund => (
                            Some(inspection(Presence::Found, Some(QcStatus::Pass), None)),
                            Outcome::Refund,
                            DecidedBy::Supervisor {
                                reason: "test".into(),
                                previous: None,
                            },
                        ),
                        Case::FailNoAction => (
                            Some(inspection(
                                Presence::Found,
                                Some(QcStatus::Fail),
                                Some("STAIN_DAMAGE"),
                            )),
                            Outcome::NoAction,
                            DecidedBy::Supervisor {
                                reason: "test".into(),
                                previous: None,
                            },
                        ),
                        Case::MissingNoAction => (
                            Some(inspection(Presence::Missing, None, None)),
                            Outcome::NoAction,
                            DecidedBy::NotReceived,
                        ),
                        Case::UninspectedExchange => (
                            None,
                            Outcome::Exchange,
                            DecidedBy::Supervisor {
                                reason: "test".into(),
                                previous: None,
                            },
                        ),
                    };
                    if let Some(inspected) = inspected {
                        tx.append(input(DomainEvent::ItemInspected(inspected)))?;
                    }
                    decisions.push(ItemDecisionRecord {
                        id: format!("dec-{item_id}"),
                        return_id: return_id.clone(),
                        item_id: item_id.clone(),
                        outcome,
                        amount: None,
                        decided_by,
                    });
                }
                tx.append(input(DomainEvent::ItemsDecided {
                    return_id: return_id.clone(),
                    decisions,
                }))?;
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
                tx.append(input(DomainEvent::ActionDue(action.clone())))?;
                actions.push(action);
                Ok(())
            })
            .unwrap();
    }
    actions
}

fn dispatcher(sim: &RpSim, seed: u64, qc_path: &str) -> Dispatcher<ReturnsPrimeTarget> {
    let client = client_with(ReturnsPrimeConfig {
        qc_path: qc_path.into(),
        timeout: Duration::from_millis(250),
        read_retries: 2,
        ..config(sim)
    });
    Dispatcher::new(
        ReturnsPrimeTarget::new(client),
        Arc::new(SystemClock),
        DispatchOptions {
            max_attempts: 60,
            batch: 50,
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
fn under_faults_on_every_request_each_item_is_told_exactly_once() {
    const RETURNS: u32 = 150;
    let seed: u64 = std::env::var("SCENARIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_00A9);
    println!("scenario seed: {seed} (SCENARIO_SEED={seed} repeats this run)");
    let sim = RpSim::start();
    for n in 0..RETURNS {
        sim.add_request(request(n, lines_of(n)));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let mut store = Store::open(&path).unwrap();
    let actions = seed_store(&mut store, &client(&sim), RETURNS);
    let items: usize = actions.iter().map(|a| a.item_ids.len()).sum();

    // Faults on a quarter of all requests from here on: the update, the reconciling reads.
    sim.inject(
        0.25,
        seed,
        Duration::from_millis(500),
        Duration::from_millis(30),
    );
    let rt = rt();
    let mut report = DispatchReport::default();
    // Phase 1: until about half are confirmed, then a "crash" leaving some rows `sent`.
    {
        let first = dispatcher(&sim, seed, DEFAULT_QC_PATH);
        while confirmed(&store) < u64::from(RETURNS) / 2 {
            report.add(&rt.block_on(first.run_once(&mut store)).unwrap());
        }
        let pending: Vec<_> = store
            .due_actions(None, i64::MAX / 4, 10)
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
    // Phase 2: a new dispatcher on a fresh connection to the same file.
    let mut store = Store::open(&path).unwrap();
    let second = dispatcher(&sim, seed.wrapping_add(1), DEFAULT_QC_PATH);
    report.add(
        &rt.block_on(second.run_until_idle(&mut store, || false))
            .unwrap(),
    );

    let injected = sim.injected();
    println!("faults injected: {injected:?}");
    println!("dispatcher: {report:?}");
    for fault in FAULTS {
        assert!(
            injected.get(&fault).copied().unwrap_or(0) > 0,
            "{fault:?} was never injected"
        );
    }
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
    let ledger = sim.ledger();
    let (mut lost, mut doubles) = (0, 0);
    for (n, action) in actions.iter().enumerate() {
        let n = n as u32;
        let row = store.action(&action.key).unwrap().unwrap();
        assert_eq!(row.reference, Some(format!("returns_prime:{}", 9_000 + n)));
        for j in 0..lines_of(n) {
            let id = line_item_id(n, j);
            let mine: Vec<_> = ledger
                .effects
                .iter()
                .filter(|e| e.line_item_id == id)
                .collect();
            match mine.len() {
                0 => lost += 1,
                1 => {}
                _ => doubles += 1,
            }
            if let Some(effect) = mine.first() {
                let (status, reason) = told(case(n, j));
                assert_eq!(effect.qc_status, status, "item {id}");
                assert_eq!(effect.qc_reason.as_deref(), reason, "item {id}");
                assert_eq!(effect.sku, format!("SKU-{n}-{j}"));
                assert_eq!(effect.request_id, (9_000 + n).to_string());
            }
        }
    }
    println!(
        "ledger: {} effects for {items} items; {doubles} double, {lost} lost",
        ledger.effects.len()
    );
    assert_eq!(lost, 0, "lost effects");
    assert_eq!(doubles, 0, "double effects");
    assert_eq!(ledger.effects.len(), items, "no effect nobody asked for");
    // The faults reached the paths that matter: lost answers reconciled, both ways.
    assert!(
        report.unknown > 0 && report.reconciled_found > 0 && report.reconciled_absent > 0,
        "{report:?}"
    );
}

#[test]
fn a_wrong_qc_path_fails_the_update_naming_the_setting() {
    let sim = RpSim::start();
    sim.add_request(request(0, 1));
    sim.add_request(request(1, 2));
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hub.db")).unwrap();
    let actions = seed_store(&mut store, &client(&sim), 2);
    let wrong = "/return-exchange/v2/{id}/quality-check";
    let dispatcher = dispatcher(&sim, 7, wrong);
    let report = rt()
        .block_on(dispatcher.run_until_idle(&mut store, || false))
        .unwrap();
    assert_eq!(report.failed, 2, "{report:?}");
    assert_eq!(
        store.action_counts().unwrap(),
        vec![(OutboxState::Failed, 2)]
    );
    for action in &actions {
        let row = store.action(&action.key).unwrap().unwrap();
        assert_eq!(
            row.last_error.as_deref(),
            Some(
                "the configured QC path /return-exchange/v2/{id}/quality-check was not found at \
                 Returns Prime (HTTP 404): correct the qc_path setting"
            )
        );
    }
    assert!(sim.ledger().effects.is_empty());
}
