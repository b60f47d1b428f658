//! Retailers made without code: by a hub admin's form (a `RetailerConfigured` event pushed
//! like any other) or by the central CLI (`retailer-create`, `retailer-save`: the same check,
//! the same event, written by the central store). Either reaches the central store and every
//! hub by sync; the CLI refuses what the form refuses and names each field.

mod support;

use std::time::Duration;

use returnhub_central::storage::CentralStorage;
use returnhub_core::retailer::{build_record, RetailerForm};
use returnhub_core::trigger::Trigger;
use returnhub_store::Store;
use returnhub_sync::{HttpTransport, Syncer};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retailers_from_a_hub_and_from_the_cli_reach_every_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let data = tmp.path().join("central");
    // The CLI works on the store before the server opens it (as an installer would).
    std::fs::create_dir_all(&data).unwrap();
    let bad = cli(
        &data,
        &[
            "retailer-create",
            "--id",
            "Bad Id",
            "--name",
            "Maple",
            "--currency",
            "CADX",
            "--country",
            "Atlantis",
        ],
    );
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    for field in ["id:", "currency:", "country: 'Atlantis'"] {
        assert!(said.contains(field), "{field} in {said}");
    }
    let typo = cli(&data, &["retailer-create", "--idd", "x"]);
    assert!(!typo.status.success());
    let said = String::from_utf8_lossy(&typo.stderr);
    assert!(said.contains("unexpected argument '--idd'"), "{said}");
    assert!(said.contains("--id"), "a suggestion: {said}");
    let twice = cli(
        &data,
        &["retailer-list", "--data-dir", "a", "--data-dir", "b"],
    );
    assert!(!twice.status.success());
    let said = String::from_utf8_lossy(&twice.stderr);
    assert!(said.contains("cannot be used multiple times"), "{said}");
    let help = cli(&data, &["--help"]);
    let said = String::from_utf8_lossy(&help.stdout);
    for command in [
        "add-device",
        "retailer-create",
        "held-events",
        "device-revoke",
    ] {
        assert!(said.contains(command), "{command} in {said}");
    }

    let made = cli(
        &data,
        &[
            "retailer-create",
            "--id",
            "maple",
            "--name",
            "Maple & Pine",
            "--currency",
            "cad",
            "--country",
            "Canada",
            "--trigger",
            "manual",
            "--hub",
            "AKL",
        ],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // The hubs whose admins may change it: set at creation, then changed.
    let hubs = |args: &[&str]| {
        let out = cli(
            &data,
            &[&["retailer-hubs", "--retailer", "maple"], args].concat(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(hubs(&[]), "AKL\n");
    assert_eq!(hubs(&["--hub", "WLG", "--hub", "AKL"]), "AKL\nWLG\n");
    let unknown = cli(
        &data,
        &["retailer-hubs", "--retailer", "nope", "--hub", "AKL"],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("there is no retailer nope"));
    let twice = cli(
        &data,
        &[
            "retailer-create",
            "--id",
            "maple",
            "--name",
            "Maple",
            "--currency",
            "CAD",
            "--country",
            "CA",
        ],
    );
    assert!(!twice.status.success());

    // retailer-save edits it from a whole form, keeping what the form does not carry.
    let mut form = RetailerForm {
        id: "maple".into(),
        name: "Maple & Pine".into(),
        currency: "CAD".into(),
        country: "CAN".into(),
        trigger: Trigger::Manual,
        exchange_enabled: true,
        ..RetailerForm::blank()
    };
    let form_path = tmp.path().join("maple.json");
    std::fs::write(&form_path, serde_json::to_string(&form).unwrap()).unwrap();
    let saved = cli(
        &data,
        &["retailer-save", "--file", form_path.to_str().unwrap()],
    );
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    form.name = "Kōwhai Apparel".into();
    form.id = "kowhai".into();

    let listed = cli(&data, &["retailer-list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert_eq!(listed.trim(), "maple\tMaple & Pine\tCAD\tCA\tmanual");

    let central = Central::start(&data, clock.clone()).await;
    let device = |name: &str, hub: &str| {
        let token = create_device(&central.storage, hub, clock.now());
        let store = Store::open(&tmp.path().join(format!("{name}.sqlite3"))).unwrap();
        let t = HttpTransport::new(&central.url(), &token, Duration::from_secs(10)).unwrap();
        Syncer::new(store, t, clock.as_fn())
    };
    let mut akl = device("akl", "AKL");
    let mut syd = device("syd", "SYD");

    // A hub admin's form: the record the hub's retailer screen records.
    let kowhai = build_record(&form, None, &central.storage.retailers().unwrap()).unwrap();
    configure(&mut akl.store, clock.now(), &[kowhai]);
    akl.sync_once().await.unwrap();
    syd.sync_once().await.unwrap();
    akl.sync_once().await.unwrap();

    for hub in [&akl.store, &syd.store] {
        let maple = hub
            .retailer_record("maple")
            .unwrap()
            .expect("maple reached the hub");
        assert_eq!(maple.country.as_deref(), Some("CA"));
        assert!(
            maple.policy.exchange_enabled,
            "the saved form, not the first"
        );
        let kowhai = hub
            .retailer_record("kowhai")
            .unwrap()
            .expect("kowhai reached the hub");
        assert_eq!(kowhai.name, "Kōwhai Apparel");
    }
    let at_central: Vec<String> = central
        .storage
        .retailers()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(at_central, ["kowhai", "maple"]);
}

/// A retailer named as people write it ("Kōwhai Apparel") authenticates to the Upload API:
/// its key made with the name typed decomposed at the CLI, the header sent as UTF-8 bytes or
/// in the RFC 8187 form; another spelling is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retailer_name_outside_ascii_authenticates_however_it_is_composed() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let token = create_device(&central.storage, "AKL", clock.now());
    let store = Store::open(&tmp.path().join("akl.sqlite3")).unwrap();
    let t = HttpTransport::new(&central.url(), &token, Duration::from_secs(10)).unwrap();
    let mut akl = Syncer::new(store, t, clock.as_fn());
    let composed = "K\u{14D}whai Apparel";
    configure(
        &mut akl.store,
        clock.now(),
        &[retailer("kowhai", composed, Trigger::Processing)],
    );
    akl.sync_once().await.unwrap();
    let decomposed = "Ko\u{304}whai Apparel";
    let partner = Partner {
        client: plain_client(),
        base: central.url(),
        key: central
            .storage
            .create_api_key(decomposed, clock.now())
            .unwrap(),
        retailer: composed.into(),
    };
    let rows = vec![upload_row("C-NAME-1", "#1", "SKU-1", "AKL", "REFUND")];
    for header in [
        composed.to_string(),
        decomposed.to_string(),
        "UTF-8''K%C5%8Dwhai%20Apparel".to_string(),
    ] {
        let (status, body) = partner
            .post_raw(
                returnhub_protocol::wire::UPLOAD_PATH,
                &rows,
                &partner.key,
                &header,
            )
            .await;
        // Row results, not an error: authenticated, and the retailer found by its name.
        assert!(
            (status == 200 || status == 422) && body["rows"].is_array(),
            "{header}: {status} {body}"
        );
    }
    let (status, _) = partner
        .post_raw(
            returnhub_protocol::wire::UPLOAD_PATH,
            &rows,
            &partner.key,
            "Kowhai Apparel",
        )
        .await;
    assert_eq!(status, 403, "another name is another retailer");
}
