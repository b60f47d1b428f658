//! Shopify end to end, in the real window against the Shopify simulator (a real socket):
//! an admin connects Kōwhai Apparel to its shop on the shops screen (F5) — the token is
//! checked with Shopify, kept as a secret, and the last 30 days of orders are imported; an
//! operator processes a return of an imported order at the bench; its refund reaches the shop
//! once. A shop that refuses a refund leaves the action failed with the reason on the shops
//! screen, and a supervisor's Retry (after the cause is fixed) sends it once. Then the admin
//! switches Kōwhai's credit notes to store credit and has No Action orders tagged, on the same
//! screen: the next credit note is a refund to store credit and a sale item's order is tagged.

mod support;

use returnhub_simulators as shopify;

use std::path::Path;
use std::time::Duration;

use returnhub_core::decision::ReturnOption;
use returnhub_core::model::ReturnStatus;
use returnhub_core::money::Currency;
use returnhub_core::record::{ReturnItemRecord, ReturnRecord};
use returnhub_core::trigger::{CreditNoteVia, ShopifyPolicy};
use returnhub_hub::{Hub, HubOptions};
use returnhub_protocol::event::DomainEvent;
use returnhub_store::{EventInput, Store};
use shopify::simulator::{SimOrder, Simulator, TOKEN};
use support::{now_ms, one, shopify_time, wait_until, Driver};

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
const ENTER: char = '\u{E007}';
const F5: char = '\u{E035}';

fn sim_order(n: u32, created: i64) -> SimOrder {
    SimOrder::one_line(
        77_000 + n,
        "K",
        &shopify_time(created),
        Currency::NZD,
        8_900,
    )
}

fn sign_out(driver: &Driver) {
    driver.click(&driver.find("#sign-out").unwrap());
}

/// The shops screen's row of a retailer, as text.
fn shop_row(driver: &Driver, retailer: &str) -> String {
    driver
        .execute(&format!(
            "const r = document.querySelector('#shops-table tr[data-retailer=\"{retailer}\"]'); return r ? r.innerText : ''"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A return of imported order `n`, expected at this hub (as a returns portal would send it).
fn expect_return(dir: &Path, n: u32, connote: &str, option: ReturnOption) {
    let mut store = Store::open(&dir.join("returnhub.db")).unwrap();
    store
        .write(now_ms(), |tx| {
            tx.append(EventInput {
                event: DomainEvent::ReturnExpected(ReturnRecord {
                    external_id: None,
                    id: format!("RET-SIM-{n}"),
                    retailer_id: "kowhai".into(),
                    hub_id: "AKL".into(),
                    order_id: format!("gid://shopify/Order/{}", 77_000 + n),
                    source: "portal".into(),
                    status: ReturnStatus::Expected,
                    created_at: returnhub_core::time::rfc3339(now_ms()),
                    connotes: vec![connote.into()],
                    items: vec![ReturnItemRecord {
                        external_id: None,
                        id: format!("RET-SIM-{n}-i1"),
                        order_line_id: format!("gid://shopify/LineItem/{}", 77_000 + n),
                        quantity: 1,
                        reason_code: "CHANGED_MIND".into(),
                        sub_reason_code: None,
                        comment: None,
                        chosen_option: Some(option),
                    }],
                }),
                actor: "test:portal".into(),
                station: None,
            })
        })
        .unwrap();
}

/// A valid S10 connote for `serial` (8 digits), so the bench does not call it a misread.
fn connote(serial: &str) -> String {
    let check = returnhub_devices::checkdigit::s10(serial).unwrap();
    format!("LZ{serial}{check}NZ")
}

/// Scans the parcel, passes its item and processes it: scan, P, Enter.
fn process(driver: &Driver, connote: &str) {
    driver.type_into(
        &driver.find("#scan-input").unwrap(),
        &format!("{connote}{ENTER}"),
    );
    driver.wait_for(10, "the return on the bench", |d| {
        (d.execute("return document.getElementById('verdict').dataset.verdict")
            .as_str()
            == Some("expected"))
        .then_some(())
    });
    driver.keys("p", 0);
    driver.wait_for(10, "the item passed", |d| {
        let state = d.execute("const li = document.querySelector('#ret-items li'); return li ? li.dataset.inspection : ''");
        (state.as_str() == Some("found:pass")).then_some(())
    });
    driver.keys(&ENTER.to_string(), 0);
    driver.wait_for(10, "processed", |d| {
        (d.execute("return document.getElementById('verdict').dataset.verdict")
            .as_str()
            == Some("done"))
        .then_some(())
    });
}

#[test]
fn a_connected_shop_imports_orders_and_a_processed_return_refunds_once() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let sim = Simulator::start("Kōwhai Apparel (simulated)");
    let now = now_ms();
    for n in 0..6 {
        let mut order = sim_order(n, now - i64::from(n) * 86_400_000);
        if n == 4 {
            // Kōwhai's rules give sale items No Action.
            order.lines[0].product_tags = vec!["Sale Item".into()];
        }
        sim.add_order(order);
    }
    // Older than 30 days: not imported.
    sim.add_order(sim_order(99, now - 45 * 86_400_000));

    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    drop(Hub::open(HubOptions::demo(dir)).unwrap());
    let driver = Driver::launch(Path::new(APP), dir);

    // An admin connects the shop. A wrong token is refused first, and nothing is kept.
    driver.sign_in("AD-3001", "3333");
    driver.keys(&F5.to_string(), 0);
    driver.wait_for(10, "the shops screen", |d| {
        let screen = d.find("#shops-screen")?;
        (d.attribute(&screen, "hidden").is_none() && !shop_row(d, "kowhai").is_empty())
            .then_some(())
    });
    assert!(shop_row(&driver, "kowhai").contains("not connected"));
    driver.execute("document.getElementById('shop-retailer').value = 'kowhai'");
    driver.type_into(&driver.find("#shop-domain").unwrap(), &sim.base());
    driver.type_into(
        &driver.find("#shop-token").unwrap(),
        "shpat_wrong_token_0000000000000000",
    );
    driver.click(&driver.find("#shop-connect").unwrap());
    driver.wait_for(20, "the refusal", |d| {
        let t = d.text_of("#shops-status")?;
        t.contains("did not accept").then_some(())
    });
    let kept: i64 = one(dir, "SELECT count(*) FROM shop_connections");
    assert_eq!(kept, 0);
    driver.execute("document.getElementById('shop-token').value = ''");
    driver.type_into(&driver.find("#shop-token").unwrap(), TOKEN);
    driver.click(&driver.find("#shop-connect").unwrap());
    driver.wait_for(20, "connected", |d| {
        let t = d.text_of("#shops-status")?;
        t.contains("Connected to Kōwhai Apparel (simulated)")
            .then_some(())
    });
    let token_field = driver.execute("return document.getElementById('shop-token').value");
    assert_eq!(
        token_field.as_str(),
        Some(""),
        "the token does not stay on screen"
    );
    driver.wait_for(30, "the import to finish", |d| {
        shop_row(d, "kowhai").contains("up to date").then_some(())
    });
    let imported: i64 = one(
        dir,
        "SELECT count(*) FROM orders WHERE id LIKE 'gid://shopify/Order/%'",
    );
    assert_eq!(imported, 6, "the last 30 days, not the 45-day-old order");
    assert!(shop_row(&driver, "kowhai").contains("Kōwhai Apparel (simulated)"));
    let logs = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(!logs.contains(TOKEN), "the token never reaches the log");
    sign_out(&driver);

    // An operator processes a return of an imported order: its refund reaches the shop.
    let first = connote("77000001");
    expect_return(dir, 1, &first, ReturnOption::Refund);
    driver.sign_in("OP-1001", "1111");
    process(&driver, &first);
    wait_until("the refund at the shop", 30, || {
        !sim.ledger().orders["gid://shopify/Order/77001"]
            .refunds
            .is_empty()
    });
    wait_until("the action confirmed", 10, || {
        one::<i64>(
            dir,
            "SELECT count(*) FROM outbox WHERE topic = 'action' AND state = 'confirmed'",
        ) == 1
    });
    {
        let ledger = sim.ledger();
        let refunds = &ledger.orders["gid://shopify/Order/77001"].refunds;
        assert_eq!(refunds.len(), 1);
        assert_eq!(refunds[0].amount, 8_900, "NZD 89.00 in minor units");
        assert!(refunds[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .starts_with("Returnhub refund rh1-"));
    }
    sign_out(&driver);

    // The shop refuses the next refund: the action fails with the reason, visible to the
    // supervisor; once the cause is fixed, Retry sends it (after checking it is not there).
    sim.ledger().refuse_refunds = Some("Order is archived".into());
    let second = connote("77000002");
    expect_return(dir, 2, &second, ReturnOption::Refund);
    driver.sign_in("OP-1001", "1111");
    process(&driver, &second);
    wait_until("the action failed", 30, || {
        one::<i64>(
            dir,
            "SELECT count(*) FROM outbox WHERE topic = 'action' AND state = 'failed'",
        ) == 1
    });
    sign_out(&driver);
    driver.sign_in("SV-2001", "2222");
    driver.keys(&F5.to_string(), 0);
    driver.wait_for(10, "the failed action on the shops screen", |d| {
        let t = d.text_of("#troubled-table")?;
        (t.contains("Order is archived") && d.find("#troubled-table button.retry").is_some())
            .then_some(())
    });
    assert!(shop_row(&driver, "kowhai").contains("1 failed"));
    assert!(sim.ledger().orders["gid://shopify/Order/77002"]
        .refunds
        .is_empty());
    sim.ledger().refuse_refunds = None;
    driver.click(&driver.find("#troubled-table button.retry").unwrap());
    wait_until("the retried refund at the shop", 30, || {
        sim.ledger().orders["gid://shopify/Order/77002"]
            .refunds
            .len()
            == 1
    });
    driver.wait_for(15, "the screen to show it confirmed", |d| {
        shop_row(d, "kowhai").contains("2 confirmed").then_some(())
    });
    let trail: i64 = one(
        dir,
        "SELECT count(*) FROM events WHERE kind = 'action_retried'",
    );
    assert_eq!(trail, 1, "the retry is in the audit trail");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        sim.ledger().orders["gid://shopify/Order/77002"]
            .refunds
            .len(),
        1,
        "once"
    );
    assert_eq!(
        sim.ledger().orders["gid://shopify/Order/77001"]
            .refunds
            .len(),
        1,
        "once"
    );

    sign_out(&driver);

    // The admin sets how Kōwhai's actions go to Shopify. A tag with a comma is refused with
    // the reason, and nothing changes.
    driver.sign_in("AD-3001", "3333");
    driver.keys(&F5.to_string(), 0);
    driver.wait_for(10, "the Shopify settings form", |d| {
        let form = d.find("#shopify-policy-form")?;
        (d.attribute(&form, "hidden").is_none()
            && d.execute("return document.getElementById('policy-credit-note').value")
                .as_str()
                == Some("gift_card"))
        .then_some(())
    });
    let kowhai_policy = || {
        Store::open(&dir.join("returnhub.db"))
            .unwrap()
            .retailer_record("kowhai")
            .unwrap()
            .unwrap()
            .policy
            .shopify
    };
    driver.execute(
        "document.getElementById('policy-retailer').value = 'kowhai';
         document.getElementById('policy-retailer').dispatchEvent(new Event('change'));
         document.getElementById('policy-credit-note').value = 'store_credit';
         document.getElementById('policy-no-action-tag').value = 'returned,kept';",
    );
    driver.click(&driver.find("#policy-save").unwrap());
    driver.wait_for(10, "the refusal", |d| {
        let t = d.text_of("#shops-status")?;
        t.contains("No Action tag").then_some(())
    });
    assert_eq!(kowhai_policy(), ShopifyPolicy::default(), "nothing saved");
    driver.execute("document.getElementById('policy-no-action-tag').value = 'returned-no-action';");
    driver.click(&driver.find("#policy-save").unwrap());
    driver.wait_for(10, "saved", |d| {
        let t = d.text_of("#shops-status")?;
        t.contains("Settings saved").then_some(())
    });
    let saved = kowhai_policy();
    assert_eq!(saved.credit_note, CreditNoteVia::StoreCredit);
    assert_eq!(saved.no_action_tag.as_deref(), Some("returned-no-action"));
    if let Ok(path) = std::env::var("RETURNHUB_SCREENSHOT_SHOPS") {
        std::fs::write(path, driver.screenshot_png()).unwrap();
    }
    sign_out(&driver);

    // A credit note now goes to the customer's store credit; a sale item's order is tagged.
    let third = connote("77000003");
    expect_return(dir, 3, &third, ReturnOption::CreditNote);
    let fourth = connote("77000004");
    expect_return(dir, 4, &fourth, ReturnOption::Refund);
    driver.sign_in("OP-1001", "1111");
    process(&driver, &third);
    process(&driver, &fourth);
    wait_until("the store credit and the tag at the shop", 30, || {
        let ledger = sim.ledger();
        !ledger.orders["gid://shopify/Order/77003"]
            .refunds
            .is_empty()
            && !ledger.orders["gid://shopify/Order/77004"].tags.is_empty()
    });
    wait_until("both actions confirmed", 10, || {
        one::<i64>(
            dir,
            "SELECT count(*) FROM outbox WHERE topic = 'action' AND state = 'confirmed'",
        ) == 4
    });
    let ledger = sim.ledger();
    let credit = &ledger.orders["gid://shopify/Order/77003"].refunds;
    assert_eq!(credit.len(), 1);
    assert_eq!(
        credit[0].store_credit.as_ref().map(|c| c.0),
        Some(8_900),
        "all of it to store credit: {credit:?}"
    );
    assert!(ledger.gift_cards.is_empty(), "no gift card any more");
    assert_eq!(
        ledger.orders["gid://shopify/Order/77004"].tags,
        vec!["returned-no-action".to_owned()]
    );
    assert!(ledger.orders["gid://shopify/Order/77004"]
        .refunds
        .is_empty());
}
