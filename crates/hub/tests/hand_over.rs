//! A parcel sent on: it reached Wellington, but its return is handed to Auckland. Three hubs
//! and a real central store on a loopback socket; every step goes through the `Hub` the
//! window drives. The central store decides (Christchurch does not serve the retailer, so it
//! is not offered and is refused); the sending hub's copy becomes read-only; the receiving
//! hub gets the return by sync and takes the parcel in as usual.

mod support;

use std::path::Path;

use returnhub_central::{CentralStorage, SqliteStorage};
use returnhub_core::auth::Role;
use returnhub_core::model::{ReturnStatus, ScanVerdict};
use returnhub_hub::{Hub, HubError, HubOptions, PersonInput, SetupInput};
use returnhub_protocol::wire::UploadRow;
use support::{now_ms, start_central, wait_for};

/// Hub `id` set up with its own central token, syncing, its admin signed in.
fn hub(dir: &Path, id: &str, name: &str, url: &str, central: &SqliteStorage) -> Hub {
    let token = central
        .create_device(id, &format!("{id}-bench-1"), now_ms())
        .unwrap();
    let hub = Hub::open(HubOptions::in_dir(&dir.join(id)).unwrap()).unwrap();
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

fn status_and_hub(hub: &Hub, return_id: &str) -> Option<(ReturnStatus, String)> {
    hub.with_store(|s| s.return_by_id(return_id).unwrap())
        .map(|r| (r.status, r.hub_id))
}

#[test]
fn a_received_return_is_handed_to_another_hub_read_only_here_and_taken_in_there() {
    use returnhub_core::retailer::RetailerForm;
    let tmp = tempfile::tempdir().unwrap();
    let (url, central) = start_central(&tmp.path().join("central"));
    let wlg = hub(tmp.path(), "WLG", "Wellington returns hub", &url, &central);
    let akl = hub(tmp.path(), "AKL", "Auckland returns hub", &url, &central);
    let chc = hub(
        tmp.path(),
        "CHC",
        "Christchurch returns hub",
        &url,
        &central,
    );
    let form = RetailerForm {
        id: "kowhai".into(),
        name: "Kōwhai Apparel".into(),
        currency: "NZD".into(),
        country: "New Zealand".into(),
        ..RetailerForm::blank()
    };
    assert!(wlg.save_retailer(&form, true).unwrap().saved);
    wait_for("the retailer at the central store", || {
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
                consignment_no: "KW-100".into(),
                order_number: "#1001".into(),
                sku: "SKU-1".into(),
                reason: "too_small".into(),
                return_action: "REFUND".into(),
                item_value: "49.95".into(),
                hub_id: "WLG".into(),
                ..UploadRow::default()
            }],
            now_ms(),
        )
        .unwrap();
    let return_id = uploaded.rows[0].return_id.clone().unwrap();
    wait_for("the return at Wellington", || {
        status_and_hub(&wlg, &return_id).is_some()
    });
    wait_for("the retailer at Auckland", || {
        akl.retailer_form(Some("kowhai")).is_ok()
    });

    // The parcel reaches Wellington.
    let scan = wlg.scan("KW-100").unwrap();
    assert_eq!(scan.verdict, ScanVerdict::Expected);

    // An operator may not hand a return over; the role is checked in the core.
    let operator = wlg
        .enrol_person(&PersonInput {
            badge: "OP-5001".into(),
            name: "Hemi Walker".into(),
            role: Role::Operator,
        })
        .unwrap();
    wlg.sign_in("OP-5001", &operator.one_time_pin).unwrap();
    wlg.change_own_pin(&operator.one_time_pin, "735194", "735194")
        .unwrap();
    let refused = wlg
        .hand_over_return(&return_id, "AKL", "sent on")
        .unwrap_err();
    assert!(matches!(refused, HubError::Forbidden { .. }), "{refused}");
    assert!(matches!(
        wlg.hand_over_targets(&return_id),
        Err(HubError::Forbidden { .. })
    ));
    wlg.sign_in("AD-9001", "482913").unwrap();

    // Only the hubs that serve the retailer are offered; another is refused by the central
    // store, and so is a hand-over without a reason.
    let targets = wlg.hand_over_targets(&return_id).unwrap();
    assert_eq!(
        targets
            .iter()
            .map(|t| (t.hub_id.as_str(), t.name.as_deref()))
            .collect::<Vec<_>>(),
        vec![("AKL", Some("Auckland returns hub"))]
    );
    let not_served = wlg
        .hand_over_return(&return_id, "CHC", "closer to the customer")
        .unwrap_err();
    assert!(matches!(not_served, HubError::Invalid(_)), "{not_served}");
    assert!(
        not_served
            .to_string()
            .contains("hub CHC does not take retailer kowhai's returns"),
        "{not_served}"
    );
    assert!(matches!(
        wlg.hand_over_return(&return_id, "AKL", "  "),
        Err(HubError::Invalid(_))
    ));
    assert_eq!(
        status_and_hub(&wlg, &return_id),
        Some((ReturnStatus::Received, "WLG".into())),
        "nothing changed by a refusal"
    );

    // Handed over: the parcel is in transit again, and the return is Auckland's.
    let done = wlg
        .hand_over_return(
            &return_id,
            "AKL",
            "Wrong hub: the customer posted it to Wellington",
        )
        .unwrap();
    assert!(
        done.message.starts_with("Handed over to hub AKL"),
        "{}",
        done.message
    );
    assert_eq!(done.state.status, ReturnStatus::InTransit);
    assert_eq!(done.state.blockers, vec!["This return belongs to hub AKL."]);
    assert_eq!(
        status_and_hub(&wlg, &return_id),
        Some((ReturnStatus::InTransit, "AKL".into()))
    );

    // Read-only at Wellington: a scan says where it belongs and changes nothing; a
    // supervisor's changes are refused.
    let again = wlg.scan("KW-100").unwrap();
    assert_eq!(again.verdict, ScanVerdict::OtherHub);
    assert!(
        again.message.contains("belongs to hub AKL"),
        "{}",
        again.message
    );
    for refused in [
        wlg.cancel_return(&return_id, "kept").map(|_| ()),
        wlg.close_return(&return_id, "done").map(|_| ()),
        wlg.reprint_labels(&return_id).map(|_| ()),
        wlg.hand_over_return(&return_id, "AKL", "again").map(|_| ()),
        wlg.process_return(&return_id).map(|_| ()),
        wlg.undo_last(&return_id).map(|_| ()),
    ] {
        let e = refused.unwrap_err();
        assert!(e.to_string().contains("hub AKL"), "{e}");
    }
    let found = wlg
        .search_returns(returnhub_hub::ReturnSearch {
            key: "KW-100".into(),
            retailer_id: None,
            status: None,
            from: None,
            to: None,
            operator: None,
            oldest_first: false,
            page: 0,
        })
        .unwrap();
    assert_eq!(found.hits[0].handed_to.as_deref(), Some("AKL"));
    let story = wlg.return_timeline(&return_id).unwrap();
    let handed = story
        .iter()
        .find(|e| e.what.starts_with("Handed over"))
        .expect("the hand-over in Wellington's timeline");
    assert_eq!(
        handed.what,
        "Handed over from hub WLG to hub AKL: Wrong hub: the customer posted it to Wellington"
    );
    assert_eq!(handed.who, "WLG admin");
    assert_eq!(handed.station.as_deref(), Some("bench-1"));

    // Auckland gets it by sync, with its order, and takes the parcel in as usual.
    wait_for("the return at Auckland", || {
        status_and_hub(&akl, &return_id) == Some((ReturnStatus::InTransit, "AKL".into()))
    });
    let there = akl.return_timeline(&return_id).unwrap();
    assert!(
        there.iter().any(|e| e.what
            == "Handed over from hub WLG to hub AKL: Wrong hub: the customer posted it to Wellington"),
        "{there:?}"
    );
    assert!(akl.with_store(|s| s.held_events(100).unwrap().is_empty()));
    let received = akl.scan("KW-100").unwrap();
    assert_eq!(received.verdict, ScanVerdict::Expected);
    let bench = received.bench.expect("Auckland's bench opens it");
    for item in &bench.items {
        akl.inspect_item(support::passed(&return_id, &item.item_id))
            .unwrap();
    }
    akl.process_return(&return_id).unwrap();
    wait_for("Auckland's processing at the central store", || {
        central
            .with_conn(|c| {
                c.query_row(
                    "SELECT hub_id || ' ' || status FROM returns WHERE id = ?1",
                    [&return_id],
                    |r| r.get::<_, String>(0),
                )
            })
            .unwrap()
            == "AKL processed"
    });
    // Nothing Auckland recorded was refused; Christchurch never heard of the return.
    assert_eq!(akl.sync_view().unwrap().refused, 0);
    assert!(status_and_hub(&chc, &return_id).is_none());
}
