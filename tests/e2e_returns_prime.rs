//! A parcel matched to its Returns Prime request in the real window: an admin connects Kōwhai
//! to Returns Prime on F5 (the simulator, a real socket); an operator scans an AWB no return
//! has, the orphan panel offers "Find at Returns Prime", the request is found by that AWB with
//! its order, and "Attach to this request" opens the return on the bench — received, from
//! Returns Prime, under the request's ids.

mod support;

// The connector tests' simulators (test code only): Returns Prime's is used here.
use returnhub_simulators as sims;

use std::path::Path;

use sims::rp_sim::{RpLine, RpRequestSim, RpSim, TOKEN};
use support::{one, Driver};

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
const ENTER: char = '\u{E007}';
const F5: char = '\u{E035}';
const AWB: &str = "RPAWB0000001";

#[test]
fn an_unknown_parcel_is_found_at_returns_prime_and_attached_to_its_request() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let driver = Driver::launch(Path::new(APP), dir);

    // A Kōwhai order of the demo data with no return yet, and its request at Returns Prime.
    let (order_number, sku): (String, String) = {
        let number: String = one(
            dir,
            "SELECT o.order_number FROM orders o WHERE o.retailer_id = 'kowhai'
               AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.order_id = o.id)
             ORDER BY o.order_number LIMIT 1",
        );
        let sku: String = one(
            dir,
            &format!(
                "SELECT l.sku FROM order_lines l JOIN orders o ON o.id = l.order_id
                 WHERE o.order_number = '{number}' AND o.retailer_id = 'kowhai'
                 ORDER BY l.sku LIMIT 1"
            ),
        );
        (number, sku)
    };
    let sim = RpSim::start();
    sim.add_request(RpRequestSim {
        id: "880001".into(),
        request_number: "RP-7001".into(),
        order_name: order_number.clone(),
        status: "approved".into(),
        received: false,
        rejected: false,
        lines: vec![RpLine {
            id: "990001".into(),
            sku: sku.clone(),
            quantity: 1,
            awbs: vec![AWB.into()],
            refund_status: "pending".into(),
            qc: None,
        }],
    });

    // An admin connects Kōwhai to Returns Prime on F5 (tested before the token is kept).
    driver.sign_in("AD-3001", "3333");
    driver.keys(&F5.to_string(), 0);
    driver.wait_for(10, "the partner form", |d| {
        let form = d.find("#partner-form")?;
        (d.attribute(&form, "hidden").is_none()
            && d.execute("return document.getElementById('partner-retailer').options.length")
                .as_u64()
                .unwrap_or(0)
                > 0)
        .then_some(())
    });
    driver.execute("document.getElementById('partner-retailer').value = 'kowhai'");
    driver.execute("document.getElementById('partner-target').value = 'returns_prime'");
    driver.type_into(&driver.find("#partner-url").unwrap(), &sim.base());
    driver.type_into(&driver.find("#partner-secret").unwrap(), TOKEN);
    driver.click(&driver.find("#partner-connect").unwrap());
    driver.wait_for(20, "connected", |d| {
        d.text_of("#partners-status")?
            .contains("Connected to Returns Prime")
            .then_some(())
    });
    driver.click(&driver.find("#sign-out").unwrap());

    // An operator scans an AWB no return has: the orphan panel, with Returns Prime offered.
    driver.sign_in("OP-1001", "1111");
    driver.type_into(
        &driver.find("#scan-input").unwrap(),
        &format!("{AWB}{ENTER}"),
    );
    driver.wait_for(15, "the Returns Prime button", |d| {
        let rp = d.find("#orphan-rp")?;
        d.attribute(&rp, "hidden").is_none().then_some(())
    });
    driver.click(&driver.find("#orphan-rp-find").unwrap());
    let found = driver.wait_for(20, "the request found by its AWB", |d| {
        let text = d.text_of("#orphan-rp-results")?;
        text.contains("RP-7001").then_some(text)
    });
    assert!(found.contains(&order_number), "its order is named: {found}");
    assert!(found.contains(&sku), "{found}");
    if let Some(png) = std::env::var_os("RETURNHUB_SCREENSHOT_RETURNS_PRIME") {
        std::fs::write(png, driver.screenshot_png()).unwrap();
    }
    driver.execute("document.querySelector('#orphan-rp-results button[data-request-id]').click()");
    driver.wait_for(15, "the return on the bench", |d| {
        (d.execute("return document.getElementById('verdict').dataset.verdict")
            .as_str()
            == Some("expected"))
        .then_some(())
    });

    let (source, external, status): (String, String, String) = {
        support::store(dir)
            .query_row(
                &format!(
                    "SELECT r.source, r.external_id, r.status FROM returns r
                 JOIN connotes c ON c.return_id = r.id WHERE c.connote = '{AWB}'"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    };
    assert_eq!(source, "returns_prime");
    assert_eq!(external, "880001");
    assert_eq!(status, "received");
    let item_ids: String = one(
        dir,
        &format!(
            "SELECT group_concat(i.external_id) FROM return_items i
             JOIN connotes c ON c.return_id = i.return_id WHERE c.connote = '{AWB}'"
        ),
    );
    assert_eq!(item_ids, "990001");
    driver.click(&driver.find("#sign-out").unwrap());
}
