//! Going live from an empty data dir with the demo off: setup once (then never again), an
//! admin enrolling and looking after people (one-time PINs, roles, deactivation, lockouts,
//! a staff CSV file), and retailers created and edited by form. Every refusal is the hub's
//! own, whoever calls it: an operator or a supervisor gets `Forbidden` for each admin command.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use returnhub_core::auth::Role;
use returnhub_core::retailer::RetailerForm;
use returnhub_core::trigger::Trigger;
use returnhub_hub::{Hub, HubError, HubOptions, PersonInput, SetupInput};

const START: i64 = 1_795_461_900_000;

fn open(dir: &std::path::Path) -> (Hub, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(START));
    let clock = now.clone();
    let hub = Hub::open_with_clock(
        HubOptions::in_dir(dir).unwrap(),
        Box::new(move || clock.load(Ordering::SeqCst)),
    )
    .unwrap();
    (hub, now)
}

fn setup_input() -> SetupInput {
    SetupInput {
        hub_id: "wlg".into(),
        hub_name: "Wellington \"returns\" hub".into(),
        station: Some("bench-7".into()),
        admin_badge: "AD-9001".into(),
        admin_name: "Mere Tane".into(),
        pin: "482913".into(),
        pin_again: "482913".into(),
        central_url: None,
        central_insecure: false,
        device_token: None,
    }
}

fn count(hub: &Hub, sql: &str) -> i64 {
    hub.with_store(|s| s.reader().query_row(sql, [], |r| r.get(0)).unwrap())
}

/// A hub set up from scratch, with its admin signed in.
fn set_up_hub(dir: &std::path::Path) -> Hub {
    let (hub, _) = open(dir);
    hub.set_up(&setup_input()).unwrap();
    hub.sign_in("AD-9001", "482913").unwrap();
    hub
}

#[test]
fn an_empty_data_dir_is_set_up_once_and_then_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, _) = open(dir.path());
    let state = hub.setup_state().unwrap();
    assert!(state.needed);
    assert!(!hub.app_info().unwrap().demo);
    assert_eq!(
        count(&hub, "SELECT count(*) FROM retailers"),
        0,
        "no demo data"
    );

    // Bad input is named and nothing is written.
    for (bad, says) in [
        (
            SetupInput {
                pin_again: "482914".into(),
                ..setup_input()
            },
            "differ",
        ),
        (
            SetupInput {
                pin: "12".into(),
                pin_again: "12".into(),
                ..setup_input()
            },
            "6 to 12 digits",
        ),
        (
            SetupInput {
                hub_id: "no spaces please".into(),
                ..setup_input()
            },
            "not a hub id",
        ),
        (
            SetupInput {
                central_url: Some("ftp://x".into()),
                ..setup_input()
            },
            "must start with https://",
        ),
        (
            SetupInput {
                central_url: Some("http://192.168.1.20:8787".into()),
                ..setup_input()
            },
            "is not encrypted",
        ),
        (
            SetupInput {
                device_token: Some("abcdefghijklmnopqrstuvwxyz".into()),
                ..setup_input()
            },
            "URL beside it",
        ),
    ] {
        let e = hub.set_up(&bad).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    assert_eq!(count(&hub, "SELECT count(*) FROM events"), 0);
    assert!(!dir.path().join("hub.toml").exists());

    let admin = hub.set_up(&setup_input()).unwrap();
    assert!(!hub.setup_state().unwrap().needed);
    let info = hub.app_info().unwrap();
    assert_eq!(info.hub_id, "WLG");
    assert_eq!(info.hub_name, "Wellington \"returns\" hub");
    assert_eq!(info.station, "bench-7");

    // Setup again — by anyone, e.g. a raw IPC call — is refused in the core.
    let again = hub.set_up(&setup_input()).unwrap_err();
    assert!(matches!(again, HubError::NotAllowed(_)), "{again}");
    assert_eq!(count(&hub, "SELECT count(*) FROM users"), 1);

    let session = hub.sign_in("AD-9001", "482913").unwrap();
    assert_eq!(session.user_id, admin);
    assert_eq!(session.role, Role::Admin);
    assert!(!session.must_change_pin);
    drop(hub);

    // A restart reads the hub.toml setup wrote: the same hub, no setup screen.
    let (hub, _) = open(dir.path());
    assert!(!hub.setup_state().unwrap().needed);
    assert_eq!(hub.app_info().unwrap().hub_id, "WLG");
    assert!(matches!(
        hub.set_up(&setup_input()),
        Err(HubError::NotAllowed(_))
    ));
    hub.sign_in("AD-9001", "482913").unwrap();
    // The PIN never reaches the log or hub.toml.
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM events WHERE payload LIKE '%482913%'"
        ),
        0
    );
    let toml = std::fs::read_to_string(dir.path().join("hub.toml")).unwrap();
    assert!(!toml.contains("482913"), "{toml}");
}

#[test]
fn a_store_with_people_but_no_hub_toml_is_not_opened_as_anything() {
    let dir = tempfile::tempdir().unwrap();
    drop(set_up_hub(dir.path()));
    std::fs::remove_file(dir.path().join("hub.toml")).unwrap();
    let e = Hub::open(HubOptions::in_dir(dir.path()).unwrap())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("hub.toml is missing"), "{e}");
}

#[test]
fn admins_enrol_people_who_choose_their_own_pin() {
    let dir = tempfile::tempdir().unwrap();
    let hub = set_up_hub(dir.path());
    let issued = hub
        .enrol_person(&PersonInput {
            badge: "OP-5001".into(),
            name: "Hemi Walker".into(),
            role: Role::Operator,
        })
        .unwrap();
    assert_eq!(issued.one_time_pin.len(), 6);
    let dup = hub
        .enrol_person(&PersonInput {
            badge: "op-5001".into(),
            name: "Someone Else".into(),
            role: Role::Operator,
        })
        .unwrap_err();
    assert!(matches!(dup, HubError::Conflict(_)), "{dup}");
    assert!(dup.to_string().contains("Hemi Walker"), "{dup}");

    // Signed in with the one-time PIN, nothing but choosing a PIN is allowed.
    let session = hub.sign_in("OP-5001", &issued.one_time_pin).unwrap();
    assert!(session.must_change_pin);
    assert!(matches!(
        hub.scan("LZ482131160NZ"),
        Err(HubError::MustChangePin)
    ));
    assert!(hub
        .change_own_pin(&issued.one_time_pin, "753195", "753196")
        .is_err());
    assert!(hub
        .change_own_pin(
            &issued.one_time_pin,
            &issued.one_time_pin,
            &issued.one_time_pin
        )
        .is_err());
    assert!(matches!(
        hub.change_own_pin("000000", "753195", "753195"),
        Err(HubError::SignIn(_))
    ));
    hub.change_own_pin(&issued.one_time_pin, "753195", "753195")
        .unwrap();
    assert!(hub.scan("LZ482131160NZ").is_ok(), "allowed now");
    assert!(hub.sign_in("OP-5001", &issued.one_time_pin).is_err());
    let session = hub.sign_in("OP-5001", "753195").unwrap();
    assert!(!session.must_change_pin);

    // An operator (and a supervisor) may not use any admin command.
    let forbidden = |hub: &Hub| {
        let checks: Vec<Result<(), HubError>> = vec![
            hub.people().map(drop),
            hub.enrol_person(&PersonInput {
                badge: "X-1".into(),
                name: "X".into(),
                role: Role::Admin,
            })
            .map(drop),
            hub.set_role(&issued.user_id, Role::Admin).map(drop),
            hub.set_active(&issued.user_id, false).map(drop),
            hub.reset_pin(&issued.user_id).map(drop),
            hub.unlock_person(&issued.user_id).map(drop),
            hub.print_badge(&issued.user_id),
            hub.import_staff("badge,name,role\nX-2,X,admin\n").map(drop),
            hub.person_history(&issued.user_id).map(drop),
            hub.retailer_form(None).map(drop),
            hub.save_retailer(&RetailerForm::blank(), true).map(drop),
        ];
        for (n, c) in checks.into_iter().enumerate() {
            assert!(
                matches!(c, Err(HubError::Forbidden { .. })),
                "check {n}: {c:?}"
            );
        }
    };
    forbidden(&hub);
    hub.sign_in("AD-9001", "482913").unwrap();
    hub.set_role(&issued.user_id, Role::Supervisor).unwrap();
    hub.sign_in("OP-5001", "753195").unwrap();
    forbidden(&hub);
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM users WHERE badge = 'X-1' OR badge = 'X-2'"
        ),
        0
    );
}

#[test]
fn the_last_active_admin_can_be_neither_deactivated_nor_demoted() {
    let dir = tempfile::tempdir().unwrap();
    let hub = set_up_hub(dir.path());
    let me = hub.session().unwrap().unwrap().user_id;
    for refused in [
        hub.set_role(&me, Role::Supervisor).unwrap_err(),
        hub.set_active(&me, false).unwrap_err(),
    ] {
        assert!(matches!(refused, HubError::NotAllowed(_)), "{refused}");
        assert!(
            refused.to_string().contains("last active admin"),
            "{refused}"
        );
    }
    // With a second admin, the first may step down; the second then may not.
    let second = hub
        .enrol_person(&PersonInput {
            badge: "AD-9002".into(),
            name: "Ana Smith".into(),
            role: Role::Admin,
        })
        .unwrap();
    hub.set_role(&me, Role::Supervisor).unwrap();
    // The first is a supervisor now: admin commands are refused to them.
    assert!(matches!(hub.people(), Err(HubError::Forbidden { .. })));
    hub.sign_in("AD-9002", &second.one_time_pin).unwrap();
    hub.change_own_pin(&second.one_time_pin, "246813", "246813")
        .unwrap();
    assert!(matches!(
        hub.set_active(&second.user_id, false),
        Err(HubError::NotAllowed(_))
    ));
    // A deactivated person cannot sign in; their history stays.
    hub.set_active(&me, false).unwrap();
    assert!(matches!(
        hub.sign_in("AD-9001", "482913"),
        Err(HubError::SignIn(_))
    ));
    hub.sign_in("AD-9002", "246813").unwrap();
    let history = hub.person_history(&me).unwrap();
    let lines: Vec<&str> = history.iter().map(|h| h.what.as_str()).collect();
    assert!(
        lines[0].starts_with("Enrolled Mere Tane (admin"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("role admin → supervisor")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("deactivated")), "{lines:?}");
    assert!(
        history
            .iter()
            .any(|h| h.who == "Ana Smith" && h.station.as_deref() == Some("bench-7")),
        "who and where: {history:?}"
    );
    hub.set_active(&me, true).unwrap();
    hub.sign_in("AD-9001", "482913").unwrap();
}

#[test]
fn a_locked_out_badge_is_unlocked_and_a_reset_pin_is_one_time() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, now) = open(dir.path());
    hub.set_up(&setup_input()).unwrap();
    hub.sign_in("AD-9001", "482913").unwrap();
    let op = hub
        .enrol_person(&PersonInput {
            badge: "OP-5002".into(),
            name: "Leo Evans".into(),
            role: Role::Operator,
        })
        .unwrap();
    for _ in 0..5 {
        now.fetch_add(1_000, Ordering::SeqCst);
        assert!(hub.sign_in("OP-5002", "0000").is_err());
    }
    let locked = hub.sign_in("OP-5002", &op.one_time_pin).unwrap_err();
    assert!(
        locked.to_string().contains("too many wrong PINs"),
        "{locked}"
    );
    // A restart does not forget it (the refusals are in the store, not in memory).
    drop(hub);
    let clock = now.clone();
    let hub = Hub::open_with_clock(
        HubOptions::in_dir(dir.path()).unwrap(),
        Box::new(move || clock.load(Ordering::SeqCst)),
    )
    .unwrap();
    let still = hub.sign_in("OP-5002", &op.one_time_pin).unwrap_err();
    assert!(still.to_string().contains("too many wrong PINs"), "{still}");
    hub.sign_in("AD-9001", "482913").unwrap();
    let view = hub
        .people()
        .unwrap()
        .into_iter()
        .find(|p| p.id == op.user_id)
        .unwrap();
    assert!(view.locked_out && view.must_change_pin);
    let view = hub.unlock_person(&op.user_id).unwrap();
    assert!(!view.locked_out);
    let reset = hub.reset_pin(&op.user_id).unwrap();
    assert_ne!(reset.one_time_pin, op.one_time_pin);
    assert!(hub.sign_in("OP-5002", &op.one_time_pin).is_err());
    hub.sign_in("AD-9001", "482913").unwrap();
    let session = hub.sign_in("OP-5002", &reset.one_time_pin).unwrap();
    assert!(session.must_change_pin);
    hub.sign_in("AD-9001", "482913").unwrap();
    let lines: Vec<String> = hub
        .person_history(&op.user_id)
        .unwrap()
        .into_iter()
        .map(|h| h.what)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Lockout lifted at bench-7")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("PIN reset")), "{lines:?}");
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM events WHERE kind = 'user_unlocked'"
        ),
        1
    );
}

#[test]
fn a_staff_file_is_enrolled_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let hub = set_up_hub(dir.path());
    let bad = "Badge,Name,Role\n\
               OP-1,Aroha Ngata,operator\n\
               OP-2,,operator\n\
               OP-3,Noah Brown,boss\n\
               op-1,Twin Badge,supervisor\n\
               AD-9001,Clash With Admin,admin\n\
               \"OP-4,Broken quote,operator\n";
    let result = hub.import_staff(bad).unwrap();
    assert!(result.enrolled.is_empty());
    let errors: Vec<(u32, &str)> = result
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    for wanted in [(3, "name"), (4, "role"), (5, "badge"), (6, "badge")] {
        assert!(
            errors.contains(&wanted),
            "{wanted:?} in {:?}",
            result.errors
        );
    }
    assert!(
        result.errors.iter().any(|e| e.line >= 7),
        "{:?}",
        result.errors
    );
    assert_eq!(
        count(&hub, "SELECT count(*) FROM users"),
        1,
        "nothing half-applied"
    );

    let missing_column = hub.import_staff("badge,name\nOP-1,Aroha\n").unwrap();
    assert_eq!(missing_column.errors[0].field, "header");

    let good = "badge,name,role\nOP-1,Aroha Ngata,operator\n\nSV-1, Sam Walker ,Supervisor\n";
    let result = hub.import_staff(good).unwrap();
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    assert_eq!(result.enrolled.len(), 2);
    let people = hub.people().unwrap();
    let sam = people.iter().find(|p| p.badge == "SV-1").unwrap();
    assert_eq!(sam.name, "Sam Walker");
    assert_eq!(sam.role, Role::Supervisor);
    assert!(sam.must_change_pin);
    let sam_pin = &result
        .enrolled
        .iter()
        .find(|p| p.badge == "SV-1")
        .unwrap()
        .one_time_pin;
    assert!(hub.sign_in("SV-1", sam_pin).unwrap().must_change_pin);
}

#[test]
fn a_badge_label_is_queued_for_the_station_printer() {
    let dir = tempfile::tempdir().unwrap();
    let hub = set_up_hub(dir.path());
    let me = hub.session().unwrap().unwrap().user_id;
    hub.print_badge(&me).unwrap();
    let (template, badge): (String, String) = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT json_extract(payload, '$.template'), json_extract(payload, '$.fields.badge')
                 FROM outbox WHERE topic = 'label'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    });
    assert_eq!((template.as_str(), badge.as_str()), ("badge", "AD-9001"));
    let label = returnhub_hub::render_label(&hub.with_store(|s| s.label_jobs(&me).unwrap())[0].job)
        .unwrap();
    let (codes, _) = label.expected_codes();
    assert!(codes.iter().any(|(_, c)| c == "AD-9001"), "{codes:?}");
    let history = hub.person_history(&me).unwrap();
    assert!(history.iter().any(|h| h.what == "Badge label printed"));
}

#[test]
fn retailers_are_created_and_edited_by_form() {
    let dir = tempfile::tempdir().unwrap();
    let hub = set_up_hub(dir.path());
    let form = RetailerForm {
        id: "tui-outdoor".into(),
        name: "Tūī Outdoor".into(),
        currency: "NZD".into(),
        country: "New Zealand".into(),
        reasons: vec![returnhub_core::record::ReasonRecord {
            code: "FAULTY".into(),
            label: "Faulty".into(),
            requires_evidence: true,
            sub_reasons: vec![],
        }],
        ..RetailerForm::blank()
    };
    // A bad form names every field and saves nothing.
    let bad = hub
        .save_retailer(
            &RetailerForm {
                currency: "KIWI".into(),
                country: "Middle-earth".into(),
                ..form.clone()
            },
            true,
        )
        .unwrap();
    assert!(!bad.saved);
    let fields: Vec<&str> = bad.issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(fields, ["currency", "country"]);
    assert_eq!(count(&hub, "SELECT count(*) FROM retailers"), 0);

    let saved = hub.save_retailer(&form, true).unwrap();
    assert!(saved.saved, "{:?}", saved.issues);
    let again = hub.save_retailer(&form, true).unwrap();
    assert!(
        !again.saved && again.issues[0].field == "id",
        "{:?}",
        again.issues
    );

    let mut edit = hub.retailer_form(Some("tui-outdoor")).unwrap();
    assert_eq!(edit.country, "NZ");
    edit.trigger = Trigger::Manual;
    edit.country = "CAN".into();
    assert!(hub.save_retailer(&edit, false).unwrap().saved);
    let record = hub.with_store(|s| s.retailer_record("tui-outdoor").unwrap().unwrap());
    assert_eq!(record.country.as_deref(), Some("CA"));
    assert_eq!(record.policy.trigger, Trigger::Manual);
    let history = hub.retailer_history("tui-outdoor").unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history[0].what.starts_with("Created Tūī Outdoor"),
        "{history:?}"
    );
    assert!(
        history[1].what.contains("trigger processing → manual")
            && history[1].what.contains("country NZ → CA"),
        "{history:?}"
    );
    assert_eq!(history[1].who, "Mere Tane");
    // The new retailer is what the bench and the rules screen see.
    assert_eq!(hub.retailers().unwrap()[0].id, "tui-outdoor");
    assert!(matches!(
        hub.save_retailer(
            &RetailerForm {
                id: "nobody".into(),
                ..form
            },
            false
        ),
        Err(HubError::UnknownRetailer(_))
    ));
}
