//! A parcel sent on, in the real window: Wellington's station (the app, under Xvfb) finds a
//! return on F8 and hands it to Auckland with H — the central store (a real one on a loopback
//! socket) offers only the hubs that serve the retailer — and Auckland (a hub in this
//! process, as another machine's station would be) gets it by sync.

mod support;

use std::path::Path;
use std::sync::Arc;

use returnhub_central::{AppState, CentralStorage, SqliteStorage};
use returnhub_hub::{Hub, HubOptions, SetupInput};
use returnhub_protocol::wire::UploadRow;
use support::{now_ms, Driver};

const APP: &str = env!("CARGO_BIN_EXE_returnhub");
const ENTER: char = '\u{E007}';
const F8: char = '\u{E038}';

fn set_up(dir: &Path, id: &str, name: &str, url: &str, token: String) -> Hub {
    let hub = Hub::open(HubOptions::in_dir(dir).unwrap()).unwrap();
    hub.set_up(&SetupInput {
        hub_id: id.into(),
        hub_name: name.into(),
        station: Some("bench-1".into()),
        admin_badge: "AD-9001".into(),
        admin_name: format!("{id} admin"),
        pin: "482913".into(),
        pin_again: "482913".into(),
        central_url: Some(url.into()),
        central_insecure: false,
        device_token: Some(token),
    })
    .unwrap();
    assert!(hub.start_sync_if_configured().unwrap());
    hub.sign_in("AD-9001", "482913").unwrap();
    hub
}

fn summary(driver: &Driver) -> String {
    driver
        .execute("return document.getElementById('search-summary').textContent")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_supervisor_hands_a_return_to_another_hub_from_f8() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let central = Arc::new(SqliteStorage::open(&tmp.path().join("central")).unwrap());
    let url = returnhub_central::serve_in_background(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        AppState {
            storage: central.clone(),
            clock: Arc::new(now_ms),
            shop_secrets: None,
            shopify_client: Default::default(),
        },
    )
    .unwrap();
    let wlg_dir = tmp.path().join("wlg");
    let wlg_token = central.create_device("WLG", "bench-1", now_ms()).unwrap();
    let akl_token = central.create_device("AKL", "bench-1", now_ms()).unwrap();
    let wlg = set_up(&wlg_dir, "WLG", "Wellington returns hub", &url, wlg_token);
    let akl = set_up(
        &tmp.path().join("akl"),
        "AKL",
        "Auckland returns hub",
        &url,
        akl_token,
    );
    let form = returnhub_core::retailer::RetailerForm {
        id: "kowhai".into(),
        name: "Kōwhai Apparel".into(),
        currency: "NZD".into(),
        country: "New Zealand".into(),
        ..returnhub_core::retailer::RetailerForm::blank()
    };
    assert!(wlg.save_retailer(&form, true).unwrap().saved);
    support::wait_until("the retailer at the central store", 30, || {
        central.retailer("kowhai").unwrap().is_some()
    });
    central
        .set_retailer_hubs("kowhai", &["WLG".into(), "AKL".into()])
        .unwrap();
    let key = central.create_api_key("Kōwhai Apparel", now_ms()).unwrap();
    let partner = central.authenticate_partner(&key).unwrap().unwrap();
    let uploaded = central
        .upload_returns(
            &partner,
            &[UploadRow {
                consignment_no: "KW-200".into(),
                order_number: "#2001".into(),
                sku: "SKU-9".into(),
                reason: "too_small".into(),
                return_action: "REFUND".into(),
                item_value: "59.00".into(),
                hub_id: "WLG".into(),
                ..UploadRow::default()
            }],
            now_ms(),
        )
        .unwrap();
    let return_id = uploaded.rows[0].return_id.clone().unwrap();
    support::wait_until("the return at Wellington, everything pushed", 30, || {
        wlg.with_store(|s| s.return_by_id(&return_id).unwrap().is_some())
            && wlg.sync_view().unwrap().queue_depth == 0
    });
    // The window is Wellington's station from here on.
    drop(wlg);

    let driver = Driver::launch(Path::new(APP), &wlg_dir);
    driver.sign_in("AD-9001", "482913");
    driver.keys(&F8.to_string(), 0);
    driver.wait_for(10, "the search screen", |d| {
        d.visible("search-screen").then_some(())
    });
    driver
        .execute("const box = document.getElementById('search-key'); box.value = ''; box.focus();");
    driver.keys(&format!("KW-200{ENTER}"), 60);
    driver.wait_for(10, "the return among the results", |d| {
        d.execute("return document.querySelector('#search-table tbody tr')?.dataset.returnId")
            .as_str()
            .filter(|id| *id == return_id)
            .map(|_| ())
    });

    // H: the central store offers Auckland (the only other hub serving Kōwhai).
    driver.keys("h", 0);
    driver.wait_for(20, "the hand-over box", |d| {
        d.visible("handover-dialog").then_some(())
    });
    let offered = driver.execute(
        "return [...document.querySelectorAll('#handover-hub option')].map(o => o.textContent)",
    );
    assert_eq!(offered, serde_json::json!(["AKL · Auckland returns hub"]));
    driver.keys(
        &format!("Posted to the wrong hub: the customer is in Auckland{ENTER}"),
        40,
    );
    let said = driver.wait_for(30, "the hand-over's answer", |d| {
        Some(summary(d)).filter(|t| t.contains("Handed over to hub AKL"))
    });
    assert!(said.contains(&return_id), "{said}");
    assert!(!driver.visible("handover-dialog"));
    let row = driver.wait_for(10, "the row read again", |d| {
        d.execute("return document.querySelector('#search-table tbody tr')?.textContent ?? null")
            .as_str()
            .filter(|t| t.contains("hub AKL's"))
            .map(str::to_owned)
    });
    assert!(
        row.contains("in transit · hub AKL's") || row.contains("expected · hub AKL's"),
        "{row}"
    );

    // Its timeline says so, with who and where.
    driver.keys(&ENTER.to_string(), 0);
    let line = driver.wait_for(10, "the hand-over in the timeline", |d| {
        d.execute(
            "return [...document.querySelectorAll('#timeline-list li')]
               .map(li => li.textContent).find(t => t.includes('Handed over')) ?? null",
        )
        .as_str()
        .map(str::to_owned)
    });
    assert!(
        line.contains("WLG admin @ bench-1")
            && line.contains(
                "Handed over from hub WLG to hub AKL: Posted to the wrong hub: the customer is in Auckland"
            ),
        "{line}"
    );

    // Auckland has it by sync, in transit to it.
    support::wait_until("the return at Auckland", 30, || {
        akl.with_store(|s| s.return_by_id(&return_id).unwrap())
            .is_some_and(|r| r.hub_id == "AKL")
    });
    if let Ok(dir) = std::env::var("RETURNHUB_SCREENSHOT_DIR") {
        std::fs::write(
            Path::new(&dir).join("hand-over.png"),
            driver.screenshot_png(),
        )
        .unwrap();
    }
}
