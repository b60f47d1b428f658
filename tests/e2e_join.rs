//! Another station of a hub that is set up already, in the real window: a real central store
//! on a loopback socket, the hub's first station set up (through the hub, as its window
//! would), and a second machine's empty data dir. Its setup screen's "another station of a
//! hub" takes the central store's URL and this station's own token; the hub's name and people
//! come from the central store, and the first station's admin signs in there. A token no
//! station has set up a hub for is refused with the reason, and nothing is written.

mod support;

use std::path::Path;
use std::sync::Arc;

use returnhub_central::{AppState, CentralStorage, SqliteStorage};
use returnhub_hub::{Hub, HubOptions, SetupInput};
use support::{now_ms, Driver};

const APP: &str = env!("CARGO_BIN_EXE_returnhub");

fn type_in(driver: &Driver, id: &str, text: &str) {
    let element = driver.find(&format!("#{id}")).unwrap();
    driver.execute(&format!("document.getElementById('{id}').value = ''"));
    driver.type_into(&element, text);
}

#[test]
fn a_second_station_joins_its_hub_from_the_setup_screen() {
    let _one = support::ONE_WINDOW
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&tmp.path().join("central")).unwrap());
    let url = returnhub_central::serve_in_background(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        AppState {
            storage: storage.clone(),
            clock: Arc::new(now_ms),
            shop_secrets: None,
            shopify_client: Default::default(),
        },
    )
    .unwrap();
    let first_token = storage.create_device("WLG", "bench-1", now_ms()).unwrap();
    let second_token = storage.create_device("WLG", "bench-2", now_ms()).unwrap();
    let lonely_token = storage.create_device("CHC", "chc-1", now_ms()).unwrap();

    // The hub's first station, set up and synced.
    let first_dir = tmp.path().join("bench-1");
    let first = Hub::open(HubOptions::in_dir(&first_dir).unwrap()).unwrap();
    first
        .set_up(&SetupInput {
            hub_id: "WLG".into(),
            hub_name: "Wellington returns hub".into(),
            station: None,
            admin_badge: "AD-9001".into(),
            admin_name: "Mere Tane".into(),
            pin: "482913".into(),
            pin_again: "482913".into(),
            central_url: Some(url.clone()),
            central_insecure: false,
            device_token: Some(first_token),
        })
        .unwrap();
    assert!(first.start_sync_if_configured().unwrap());
    first.sign_in("AD-9001", "482913").unwrap();
    support::wait_until("the first station synced", 30, || {
        let v = first.sync_view().unwrap();
        v.online && v.queue_depth == 0
    });

    let second_dir = tmp.path().join("bench-2");
    let driver = Driver::launch_with(Path::new(APP), &second_dir, false);
    driver.wait_for(30, "the setup screen", |d| d.visible("setup").then_some(()));
    driver.click(&driver.find("#setup-mode-join").unwrap());
    driver.wait_for(10, "the join form", |d| {
        (!d.visible("setup-new-fields") && d.visible("setup-join-help")).then_some(())
    });

    // A token for a hub no station has set up: refused, nothing written.
    type_in(&driver, "setup-central-url", &url);
    type_in(&driver, "setup-token", &lonely_token);
    type_in(&driver, "setup-station", "bench-2");
    driver.click(&driver.find("#setup-submit").unwrap());
    driver.wait_for(30, "the refusal", |d| {
        d.text_of("#setup-error")?
            .contains("no station of hub CHC has been set up yet")
            .then_some(())
    });
    assert!(!second_dir.join("hub.toml").exists());

    // Its own token: it joins, the hub's people arrive, sign-in follows.
    type_in(&driver, "setup-token", &second_token);
    driver.click(&driver.find("#setup-submit").unwrap());
    driver.wait_for(60, "sign-in after the hub's people arrived", |d| {
        (d.visible("sign-in") && !d.visible("setup")).then_some(())
    });
    assert!(driver
        .text_of("#sign-in-error")
        .unwrap_or_default()
        .contains("part of Wellington returns hub"));
    let who = driver.sign_in("AD-9001", "482913");
    assert_eq!(who, "Mere Tane (admin)");
    assert_eq!(
        driver.text_of("#hub-name").as_deref(),
        Some("Wellington returns hub")
    );
    let toml = std::fs::read_to_string(second_dir.join("hub.toml")).unwrap();
    assert!(
        toml.contains("id = \"WLG\"") && toml.contains("station = \"bench-2\""),
        "{toml}"
    );
    assert!(
        !toml.contains(&second_token),
        "the token is a secret: {toml}"
    );
}
