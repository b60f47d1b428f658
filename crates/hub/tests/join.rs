//! Several stations of one hub, against a real central store on a loopback socket: the first
//! station is set up (its token checked: for this hub, and the hub not set up yet); every
//! other station *joins* with its own token — the hub's id and name come from the central
//! store, its people by pull, so the first admin signs in there too — and a person enrolled at
//! either station can sign in at the other. A station that cannot reach the central store, or
//! whose token is for a hub nobody set up, writes nothing.

mod support;

use std::path::Path;

use returnhub_central::CentralStorage;
use returnhub_core::auth::Role;
use returnhub_hub::{Hub, HubError, HubOptions, JoinInput, PersonInput, SetupInput};
use support::{now_ms, start_central, wait_for};

fn station(dir: &Path) -> Hub {
    Hub::open(HubOptions::in_dir(dir).unwrap()).unwrap()
}

fn setup(hub_id: &str, url: &str, token: &str) -> SetupInput {
    SetupInput {
        hub_id: hub_id.into(),
        hub_name: "Wellington returns hub".into(),
        station: Some("bench-1".into()),
        admin_badge: "AD-9001".into(),
        admin_name: "Mere Tane".into(),
        pin: "482913".into(),
        pin_again: "482913".into(),
        central_url: Some(url.into()),
        central_insecure: false,
        device_token: Some(token.into()),
    }
}

fn join(url: &str, token: &str) -> JoinInput {
    JoinInput {
        central_url: url.into(),
        central_insecure: false,
        device_token: token.into(),
        station: Some("bench-2".into()),
    }
}

#[test]
fn a_second_station_joins_its_hub_and_gets_its_people() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, central) = start_central(&tmp.path().join("central"));
    let first_token = central.create_device("WLG", "bench-1", now_ms()).unwrap();
    let second_token = central.create_device("WLG", "bench-2", now_ms()).unwrap();
    let other_hub_token = central.create_device("CHC", "chc-1", now_ms()).unwrap();
    let (dir1, dir2) = (tmp.path().join("bench-1"), tmp.path().join("bench-2"));
    let first = station(&dir1);
    let second = station(&dir2);

    // Joining a hub no station has set up yet: refused, nothing written.
    let early = second.join_hub(&join(&url, &second_token)).unwrap_err();
    assert!(matches!(early, HubError::NotAllowed(_)), "{early}");
    assert!(
        early
            .to_string()
            .contains("set this one up as the hub's first"),
        "{early}"
    );
    assert!(!dir2.join("hub.toml").exists());

    // Setting a hub up with a token made for another hub: refused.
    let wrong = first
        .set_up(&setup("WLG", &url, &other_hub_token))
        .unwrap_err();
    assert!(
        wrong.to_string().contains("token is for hub CHC"),
        "{wrong}"
    );
    assert!(!dir1.join("hub.toml").exists());

    first.set_up(&setup("wlg", &url, &first_token)).unwrap();
    assert!(first.start_sync_if_configured().unwrap());
    first.sign_in("AD-9001", "482913").unwrap();
    wait_for("the first station's setup at the central store", || {
        let v = first.sync_view().unwrap();
        v.online && v.queue_depth == 0
    });

    // The second station may not set the hub up again (a second "first admin")…
    let again = second
        .set_up(&setup("WLG", &url, &second_token))
        .unwrap_err();
    assert!(matches!(again, HubError::NotAllowed(_)), "{again}");
    assert!(again.to_string().contains("Join"), "{again}");
    // …and a central store that does not answer is a network error that writes nothing.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let offline = second
        .join_hub(&join(&format!("http://127.0.0.1:{port}"), &second_token))
        .unwrap_err();
    assert!(matches!(offline, HubError::Network(_)), "{offline}");
    assert!(
        !offline.to_string().contains(&second_token),
        "never the token"
    );
    assert!(!dir2.join("hub.toml").exists());
    let unknown = second
        .join_hub(&join(&url, "rhd_nobody_0123456789abcdef"))
        .unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("does not know that device token"),
        "{unknown}"
    );

    // It joins: the hub's id and name from the central store, its people by pull.
    assert_eq!(second.join_hub(&join(&url, &second_token)).unwrap(), "WLG");
    let options = second.options();
    assert_eq!(
        (
            options.hub_id.as_str(),
            options.hub_name.as_str(),
            options.station.as_str()
        ),
        ("WLG", "Wellington returns hub", "bench-2")
    );
    wait_for("the hub's people at the second station", || {
        !second.setup_state().unwrap().needed
    });
    let session = second.sign_in("AD-9001", "482913").unwrap();
    assert_eq!(session.role, Role::Admin);
    assert!(matches!(
        second.join_hub(&join(&url, &second_token)),
        Err(HubError::NotAllowed(_))
    ));

    // A person enrolled at the second station signs in at the first.
    let issued = second
        .enrol_person(&PersonInput {
            badge: "OP-5001".into(),
            name: "Hemi Walker".into(),
            role: Role::Operator,
        })
        .unwrap();
    // (Polling the store, not sign-in: five refused sign-ins would lock the badge out.)
    wait_for("the new person at the first station", || {
        first.with_store(|s| s.users().unwrap().iter().any(|u| u.badge == "OP-5001"))
    });
    assert!(
        first
            .sign_in("OP-5001", &issued.one_time_pin)
            .unwrap()
            .must_change_pin
    );

    // Five wrong PINs at the first station lock the badge out at the second one too…
    for _ in 0..5 {
        assert!(first.sign_in("OP-5001", "000000").is_err());
    }
    wait_for("the refusals at the second station", || {
        second.with_store(|s| s.sign_in_failures("OP-5001", 0).unwrap().len()) == 5
    });
    let locked = second.sign_in("OP-5001", &issued.one_time_pin).unwrap_err();
    assert!(
        locked.to_string().contains("too many wrong PINs"),
        "{locked}"
    );
    // …until an admin at the second station lifts it, for both.
    second.sign_in("AD-9001", "482913").unwrap();
    second.unlock_person(&issued.user_id).unwrap();
    wait_for("the lifted lockout at the first station", || {
        first.with_store(|s| s.sign_in_failures("OP-5001", 0).unwrap().is_empty())
    });
    assert!(first.sign_in("OP-5001", &issued.one_time_pin).is_ok());

    // Restarted, the joined station is that hub, syncing with its stored token.
    drop(second);
    let second = station(&dir2);
    assert_eq!(second.options().hub_id, "WLG");
    assert!(second.start_sync_if_configured().unwrap());
    assert!(!second.setup_state().unwrap().needed);
}

/// An admin of one hub changes a retailer the central store does not list that hub for: the
/// change is refused there and shown at the station; once the central store lists the hub,
/// "Send refused events again" (F3) takes it, and the station's list clears.
#[test]
fn a_refused_change_is_taken_when_sent_again_after_the_fix() {
    use returnhub_core::retailer::RetailerForm;
    let tmp = tempfile::tempdir().unwrap();
    let (url, central) = start_central(&tmp.path().join("central"));
    let wlg_token = central.create_device("WLG", "bench-1", now_ms()).unwrap();
    let chc_token = central.create_device("CHC", "chc-1", now_ms()).unwrap();
    let (wlg, chc) = (
        station(&tmp.path().join("wlg")),
        station(&tmp.path().join("chc")),
    );
    wlg.set_up(&setup("WLG", &url, &wlg_token)).unwrap();
    chc.set_up(&setup("CHC", &url, &chc_token)).unwrap();
    for hub in [&wlg, &chc] {
        assert!(hub.start_sync_if_configured().unwrap());
        hub.sign_in("AD-9001", "482913").unwrap();
    }
    let form = RetailerForm {
        id: "kowhai".into(),
        name: "Kōwhai Apparel".into(),
        currency: "NZD".into(),
        country: "New Zealand".into(),
        ..RetailerForm::blank()
    };
    assert!(wlg.save_retailer(&form, true).unwrap().saved);
    wait_for("the retailer at the other hub", || {
        chc.retailer_form(Some("kowhai")).is_ok()
    });

    let renamed = RetailerForm {
        name: "Kōwhai Apparel (South)".into(),
        ..chc.retailer_form(Some("kowhai")).unwrap()
    };
    assert!(chc.save_retailer(&renamed, false).unwrap().saved);
    wait_for("the central store's refusal at the station", || {
        chc.sync_view().unwrap().refused == 1
    });
    let held = chc.held_events().unwrap();
    assert!(
        held[0]
            .reason
            .contains("hub CHC does not serve retailer kowhai"),
        "{held:?}"
    );
    let name_at_central = || {
        central
            .with_conn(|c| {
                c.query_row("SELECT name FROM retailers WHERE id = 'kowhai'", [], |r| {
                    r.get::<_, String>(0)
                })
            })
            .unwrap()
    };
    assert_eq!(name_at_central(), "Kōwhai Apparel");

    central
        .set_retailer_hubs("kowhai", &["WLG".into(), "CHC".into()])
        .unwrap();
    chc.resend_refused().unwrap();
    wait_for("the change taken after the fix", || {
        chc.sync_view().unwrap().refused == 0
    });
    assert_eq!(name_at_central(), "Kōwhai Apparel (South)");
    wait_for("the other hub to see the new name", || {
        wlg.retailer_form(Some("kowhai"))
            .is_ok_and(|f| f.name == "Kōwhai Apparel (South)")
    });
}
