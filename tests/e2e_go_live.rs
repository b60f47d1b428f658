//! Going live, in the real window with the demo off and an empty data dir, as a new hub does:
//! the setup screen names the hub and enrols the first admin; the admin enrols a second
//! person (who gets a one-time PIN), creates a retailer by form (a bad country is named inline
//! first), writes a rule with the form-based editor, and connects the retailer's shop (the
//! Shopify simulator, a real socket), whose orders are imported. The new person signs in,
//! chooses their own PIN, takes an unknown parcel in at the orphan intake (its order found by
//! number), inspects and processes it; the refund the rule gives reaches the shop once. A
//! restart then shows sign-in, not setup.
//!
//! With RETURNHUB_SCREENSHOT_DIR set, the setup screen, the people screen, the retailer form and
//! the rule editor are saved there as PNGs (the README's screenshots).

mod support;

use returnhub_simulators as shopify;

use std::path::Path;
use std::time::Duration;

use returnhub_core::money::Currency;
use shopify::simulator::{SimOrder, Simulator, TOKEN};
use support::{now_ms, one, shopify_time, wait_until, Driver};

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
const ENTER: char = '\u{E007}';
const F2: char = '\u{E032}';
const F5: char = '\u{E035}';
const F6: char = '\u{E036}';
const F7: char = '\u{E037}';

fn sim_order(n: u32, created: i64) -> SimOrder {
    SimOrder::one_line(
        55_000 + n,
        "T",
        &shopify_time(created),
        Currency::NZD,
        12_900,
    )
}

/// Sets an input's or select's value the way a person's edit would end: with its events.
fn set_value(driver: &Driver, id: &str, value: &str) {
    let value = serde_json::to_string(value).unwrap();
    driver.execute(&format!(
        "const e = document.getElementById('{id}'); e.value = {value};
         e.dispatchEvent(new Event('input', {{bubbles: true}}));
         e.dispatchEvent(new Event('change', {{bubbles: true}}));"
    ));
}

fn type_in(driver: &Driver, id: &str, text: &str) {
    let element = driver
        .find(&format!("#{id}"))
        .unwrap_or_else(|| panic!("no #{id}"));
    driver.type_into(&element, text);
}

fn click(driver: &Driver, id: &str) {
    let element = driver
        .find(&format!("#{id}"))
        .unwrap_or_else(|| panic!("no #{id}"));
    driver.click(&element);
}

fn screenshot(driver: &Driver, name: &str) {
    if let Some(dir) = std::env::var_os("RETURNHUB_SCREENSHOT_DIR") {
        std::fs::write(Path::new(&dir).join(name), driver.screenshot_png()).unwrap();
    }
}

/// A valid S10 connote for `serial` (8 digits), so the bench does not call it a misread.
fn connote(serial: &str) -> String {
    let check = returnhub_devices::checkdigit::s10(serial).unwrap();
    format!("LZ{serial}{check}NZ")
}

fn verdict(driver: &Driver, wanted: &str) -> String {
    driver.wait_for(15, &format!("the verdict {wanted}"), |d| {
        let got = d.execute("return document.getElementById('verdict').dataset.verdict");
        (got.as_str() == Some(wanted)).then(|| d.text_of("#verdict").unwrap_or_default())
    })
}

#[test]
fn a_fresh_install_goes_from_setup_to_a_refund_at_the_shop() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let sim = Simulator::start("Tūī Outdoor (simulated)");
    let now = now_ms();
    for n in 0..3 {
        sim.add_order(sim_order(n, now - i64::from(n + 1) * 86_400_000));
    }
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let driver = Driver::launch_with(Path::new(APP), dir, false);

    // First start: the setup screen, not sign-in, and no demo data.
    driver.wait_for(30, "the setup screen", |d| d.visible("setup").then_some(()));
    assert!(!driver.visible("sign-in"));
    type_in(&driver, "setup-hub-id", "WLG");
    type_in(&driver, "setup-hub-name", "Wellington returns hub");
    type_in(&driver, "setup-badge", "AD-9001");
    type_in(&driver, "setup-name", "Mere Tane");
    type_in(&driver, "setup-pin", "482913");
    type_in(&driver, "setup-pin-again", "482919");
    click(&driver, "setup-submit");
    driver.wait_for(10, "the PIN mismatch", |d| {
        d.text_of("#setup-error")?.contains("differ").then_some(())
    });
    set_value(&driver, "setup-pin-again", "482913");
    assert_eq!(
        driver.text_of("#setup-error").as_deref(),
        Some(""),
        "typing clears it"
    );
    driver
        .execute("document.activeElement.blur(); document.getElementById('setup').scrollTop = 0;");
    screenshot(&driver, "setup.png");
    click(&driver, "setup-submit");
    let who = driver.wait_for(20, "the first admin signed in", |d| {
        Some(d.text_of("#user-name")?).filter(|t| !t.is_empty())
    });
    assert_eq!(who, "Mere Tane (admin)");
    assert!(!driver.visible("setup"));
    assert_eq!(one::<i64>(dir, "SELECT count(*) FROM retailers"), 0);
    let toml = std::fs::read_to_string(dir.join("hub.toml")).unwrap();
    assert!(toml.contains("id = \"WLG\""), "{toml}");
    // The setup command over IPC, now that someone is enrolled: refused by the core.
    let again = driver.execute(
        "return window.__TAURI_INTERNALS__.invoke('set_up', {input: {hub_id: 'EVIL',
           hub_name: 'x', station: null, admin_badge: 'EV-1', admin_name: 'Eve', pin: '1234',
           pin_again: '1234', central_url: null, device_token: null}})
         .then(() => 'allowed', e => e.code)",
    );
    assert_eq!(again.as_str(), Some("forbidden"));

    // People (F6): a second person, with a one-time PIN shown once.
    driver.keys(&F6.to_string(), 0);
    driver.wait_for(10, "the people screen", |d| {
        (d.visible("people-screen") && d.text_of("#people-table")?.contains("AD-9001"))
            .then_some(())
    });
    type_in(&driver, "person-badge", "OP-5001");
    type_in(&driver, "person-name", "Hemi Walker");
    set_value(&driver, "person-role", "operator");
    click(&driver, "person-enrol");
    let one_time_pin = driver.wait_for(10, "the one-time PIN", |d| {
        let pin = d.text_of(".one-time-pin[data-badge='OP-5001']")?;
        (pin.trim().len() == 6).then(|| pin.trim().to_owned())
    });
    driver.wait_for(10, "the new person listed", |d| {
        d.text_of("#people-table")?
            .contains("Hemi Walker")
            .then_some(())
    });
    screenshot(&driver, "people.png");

    // Retailers (F7): a new retailer by form; a country nobody has heard of is named inline.
    driver.keys(&F7.to_string(), 0);
    driver.wait_for(10, "the retailers screen", |d| {
        d.visible("retailers-screen").then_some(())
    });
    click(&driver, "retailer-new");
    driver.wait_for(10, "a blank retailer form", |d| {
        d.find("#retailer-id").map(|_| ())
    });
    set_value(&driver, "retailer-id", "tui");
    set_value(&driver, "retailer-name", "Tūī Outdoor");
    set_value(&driver, "retailer-currency", "NZD");
    set_value(&driver, "retailer-country", "Middle-earth");
    set_value(&driver, "retailer-trigger", "processing");
    set_value(&driver, "retailer-default-outcome", "credit_note");
    click(&driver, "reason-add");
    driver.wait_for(10, "a reason row", |d| d.find("#reason-0-code").map(|_| ()));
    set_value(&driver, "reason-0-code", "too_heavy");
    set_value(&driver, "reason-0-label", "Too heavy");
    click(&driver, "retailer-save");
    driver.wait_for(10, "the country named inline", |d| {
        let marked = d
            .execute(
                "return document.getElementById('retailer-country').classList.contains('invalid')",
            )
            .as_bool()?;
        let said = d.text_of("#retailer-country-error")?;
        (marked && said.contains("'Middle-earth'")).then_some(())
    });
    assert_eq!(
        one::<i64>(dir, "SELECT count(*) FROM retailers"),
        0,
        "nothing saved"
    );
    set_value(&driver, "retailer-country", "New Zealand");
    click(&driver, "retailer-save");
    driver.wait_for(10, "saved", |d| {
        d.text_of("#retailer-status")?
            .contains("Saved")
            .then_some(())
    });
    driver.execute(
        "window.scrollTo(0, 0); document.getElementById('retailers-screen').scrollTop = 0;",
    );
    screenshot(&driver, "retailer_form.png");
    assert_eq!(
        one::<String>(dir, "SELECT country FROM retailers WHERE id = 'tui'"),
        "NZ"
    );
    assert_eq!(
        one::<String>(
            dir,
            "SELECT code FROM return_reasons WHERE retailer_id = 'tui'"
        ),
        "TOO_HEAVY"
    );

    // Rules (F2): a rule by form — orders from New Zealand are refunded — saved.
    driver.keys(&F2.to_string(), 0);
    driver.wait_for(10, "the rules screen", |d| {
        (d.visible("rules-screen")
            && d.execute("return [...document.getElementById('rules-retailer').options].some(o => o.value === 'tui')")
                .as_bool()?)
        .then_some(())
    });
    set_value(&driver, "rules-retailer", "tui");
    click(&driver, "rules-view-form");
    driver.wait_for(10, "the form editor", |d| {
        d.visible("rules-form").then_some(())
    });
    click(&driver, "rule-add");
    driver.wait_for(10, "a new rule", |d| d.find("#rule-0-name").map(|_| ()));
    set_value(&driver, "rule-0-name", "New Zealand orders are refunded");
    set_value(&driver, "rule-0-c-field", "order_country");
    set_value(&driver, "rule-0-c-op", "eq");
    set_value(&driver, "rule-0-c-value", "New Zealand");
    set_value(&driver, "rule-0-outcome", "refund");
    let shown = driver.execute("return document.getElementById('rule-0-c-value').value");
    assert_eq!(
        shown.as_str(),
        Some("New Zealand"),
        "the form shows what the rule holds"
    );
    screenshot(&driver, "rule_editor.png");
    click(&driver, "rules-save");
    driver.wait_for(15, "the rules saved", |d| {
        let status = d.text_of("#rules-status")?;
        assert!(!status.contains("Not saved"), "{status}");
        status
            .contains("Saved as the retailer's rules")
            .then_some(())
    });
    let rules: String = one(dir, "SELECT rules_json FROM retailers WHERE id = 'tui'");
    let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
    let predicate = &rules["rules"][0]["condition"]["predicate"];
    assert_eq!(predicate["field"], "order_country", "{rules}");
    assert_eq!(predicate["value"]["text"], "New Zealand", "{rules}");

    // Shops (F5): the retailer's shop connected; its orders imported.
    driver.keys(&F5.to_string(), 0);
    driver.wait_for(10, "the shops screen", |d| {
        (d.visible("shops-screen")
            && d.execute("return [...document.getElementById('shop-retailer').options].some(o => o.value === 'tui')")
                .as_bool()?)
        .then_some(())
    });
    set_value(&driver, "shop-retailer", "tui");
    type_in(&driver, "shop-domain", &sim.base());
    type_in(&driver, "shop-token", TOKEN);
    click(&driver, "shop-connect");
    driver.wait_for(20, "connected", |d| {
        d.text_of("#shops-status")?
            .contains("Connected to Tūī Outdoor (simulated)")
            .then_some(())
    });
    wait_until("the orders imported", 30, || {
        one::<i64>(dir, "SELECT count(*) FROM orders WHERE retailer_id = 'tui'") == 3
    });
    click(&driver, "sign-out");

    // The new person signs in with the one-time PIN and must choose their own first.
    driver.sign_in("OP-5001", &one_time_pin);
    driver.wait_for(10, "the PIN change", |d| {
        d.visible("pin-change").then_some(())
    });
    // Signing out from the PIN form (Ctrl+Shift+L) leaves sign-in alone on screen.
    driver.chord(&['\u{E009}', '\u{E008}', 'L']);
    driver.wait_for(10, "sign-in without the PIN form", |d| {
        (d.visible("sign-in") && !d.visible("pin-change")).then_some(())
    });
    driver.sign_in("OP-5001", &one_time_pin);
    driver.wait_for(10, "the PIN change again", |d| {
        d.visible("pin-change").then_some(())
    });
    type_in(&driver, "pin-current", &one_time_pin);
    type_in(&driver, "pin-new", "753195");
    type_in(&driver, "pin-new-again", "753195");
    click(&driver, "pin-change-submit");
    driver.wait_for(10, "the bench", |d| {
        (!d.visible("pin-change") && d.visible("bench-screen")).then_some(())
    });

    // An unknown parcel: its order found by number, the parcel attached, inspected, processed.
    let parcel = connote("55000017");
    type_in(&driver, "scan-input", &format!("{parcel}{ENTER}"));
    verdict(&driver, "unknown");
    driver.wait_for(10, "the orphan search focused", |d| {
        (d.execute("return document.activeElement.id").as_str() == Some("orphan-query"))
            .then_some(())
    });
    driver.keys(&format!("T55001{ENTER}"), 150);
    driver.wait_for(10, "the matching order", |d| {
        d.find("#orphan-results button")
    });
    driver.keys("1", 0);
    let attached = verdict(&driver, "expected");
    assert!(attached.contains("attached"), "{attached}");
    driver.keys("p", 0);
    driver.wait_for(10, "the item passed", |d| {
        let state = d.execute(
            "const li = document.querySelector('#ret-items li'); return li ? li.dataset.inspection : ''",
        );
        (state.as_str() == Some("found:pass")).then_some(())
    });
    driver.keys(&ENTER.to_string(), 0);
    verdict(&driver, "done");

    // The rule's refund reaches the shop, once, and is confirmed.
    wait_until("the refund at the shop", 30, || {
        !sim.ledger().orders["gid://shopify/Order/55001"]
            .refunds
            .is_empty()
    });
    wait_until("the action confirmed", 15, || {
        one::<i64>(
            dir,
            "SELECT count(*) FROM outbox WHERE topic = 'action' AND state = 'confirmed'",
        ) == 1
    });
    let explained: String = one(
        dir,
        "SELECT payload FROM events WHERE kind = 'items_decided' ORDER BY seq DESC LIMIT 1",
    );
    assert!(
        explained.contains("New Zealand orders are refunded"),
        "the rule decided it: {explained}"
    );
    std::thread::sleep(Duration::from_secs(2));
    {
        let ledger = sim.ledger();
        let refunds = &ledger.orders["gid://shopify/Order/55001"].refunds;
        assert_eq!(refunds.len(), 1, "once");
        assert_eq!(refunds[0].amount, 12_900, "NZD 129.00 in minor units");
        assert!(
            ledger.gift_cards.is_empty(),
            "a refund, not the default credit note"
        );
    }
    drop(driver);

    // A restart: sign-in, not setup.
    let driver = Driver::launch_with(Path::new(APP), dir, false);
    driver.wait_for(30, "the sign-in screen", |d| {
        d.visible("sign-in").then_some(())
    });
    assert!(!driver.visible("setup"));
    let who = driver.sign_in("OP-5001", "753195");
    assert_eq!(who, "Hemi Walker (operator)");
    let logs = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        !logs.contains(TOKEN),
        "the shop's token never reaches the log"
    );
}
