//! Sign-in and roles, enforced in the hub (not the UI): who may do what, what the audit trail
//! keeps (never a PIN), lockout after wrong PINs, and the station locking when idle.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use returnhub_core::auth::Role;
use returnhub_hub::{Hub, HubError, HubOptions};

const START: i64 = 1_795_461_900_000;

fn hub_with_clock(dir: &std::path::Path) -> (Hub, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(START));
    let clock = now.clone();
    let hub = Hub::open_with_clock(
        HubOptions::demo(dir),
        Box::new(move || clock.load(Ordering::SeqCst)),
    )
    .unwrap();
    (hub, now)
}

fn count(hub: &Hub, sql: &str) -> i64 {
    hub.with_store(|s| s.reader().query_row(sql, [], |r| r.get(0)).unwrap())
}

#[test]
fn commands_check_the_role_in_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, _) = hub_with_clock(dir.path());
    assert!(matches!(
        hub.scan("LZ482131160NZ"),
        Err(HubError::NotSignedIn)
    ));
    assert!(matches!(
        hub.retailer_rules("kowhai"),
        Err(HubError::NotSignedIn)
    ));

    let operator = hub.sign_in("OP-1001", "1111").unwrap();
    assert_eq!(operator.role, Role::Operator);
    assert!(hub.scan("LZ482131160NZ").is_ok());
    let refused = hub.save_rules("kowhai", r#"{"rules": []}"#).unwrap_err();
    assert!(
        matches!(
            refused,
            HubError::Forbidden {
                needed: Role::Admin,
                have: Role::Operator
            }
        ),
        "{refused}"
    );
    assert_eq!(
        refused.to_string(),
        "this needs an admin (you are signed in as an operator)"
    );
    assert!(matches!(
        hub.dry_run_rules("kowhai", "{}"),
        Err(HubError::Forbidden { .. })
    ));

    // A supervisor may scan (roles nest) but not configure.
    hub.sign_in("SV-2001", "2222").unwrap();
    assert!(hub.scan("LZ482131235NZ").is_ok());
    assert!(matches!(
        hub.check_rules("kowhai", "{}"),
        Err(HubError::Forbidden { .. })
    ));

    // The admin may do both.
    hub.sign_in("AD-3001", "3333").unwrap();
    assert!(hub.retailer_rules("kowhai").is_ok());
    assert!(hub.scan("LZ482131522NZ").is_ok());

    // Switching users signed the previous one out, in the log.
    assert_eq!(
        count(&hub, "SELECT count(*) FROM events WHERE kind = 'signed_in'"),
        3
    );
    assert_eq!(
        count(&hub, "SELECT count(*) FROM events WHERE kind = 'signed_out' AND json_extract(payload, '$.reason') = 'manual'"),
        2
    );
    hub.sign_out().unwrap();
    assert!(hub.session().unwrap().is_none());
    assert!(matches!(
        hub.scan("LZ482131160NZ"),
        Err(HubError::NotSignedIn)
    ));
}

#[test]
fn a_wrong_pin_is_refused_recorded_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, now) = hub_with_clock(dir.path());
    let wrong = hub.sign_in("OP-1001", "9876").unwrap_err();
    let unknown = hub.sign_in("NOBODY", "9876").unwrap_err();
    // The same words for both, so badges cannot be probed.
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM events WHERE kind = 'sign_in_refused'"
        ),
        2
    );
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM events WHERE payload LIKE '%9876%'"
        ),
        0,
        "no PIN in the log"
    );
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM users WHERE pin_hash NOT LIKE '$argon2id$%'"
        ),
        0
    );

    // Five wrong PINs lock the badge for a minute, even with the right PIN.
    for _ in 0..4 {
        assert!(hub.sign_in("OP-1001", "0000").is_err());
    }
    let locked = hub.sign_in("OP-1001", "1111").unwrap_err();
    assert!(
        locked.to_string().contains("too many wrong PINs"),
        "{locked}"
    );
    assert!(
        hub.sign_in("OP-1002", "1212").is_ok(),
        "other badges are not locked"
    );
    now.fetch_add(61_000, Ordering::SeqCst);
    assert!(hub.sign_in("OP-1001", "1111").is_ok());
}

#[test]
fn an_idle_station_locks_and_says_so_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, now) = hub_with_clock(dir.path());
    hub.sign_in("OP-1001", "1111").unwrap();
    // Activity keeps the session alive.
    now.fetch_add(9 * 60_000, Ordering::SeqCst);
    hub.scan("LZ482131160NZ").unwrap();
    now.fetch_add(9 * 60_000, Ordering::SeqCst);
    assert!(hub.session().unwrap().is_some());
    // Ten idle minutes (the default) lock it.
    now.fetch_add(60_000, Ordering::SeqCst);
    assert!(hub.session().unwrap().is_none());
    assert!(matches!(
        hub.scan("LZ482131160NZ"),
        Err(HubError::NotSignedIn)
    ));
    assert_eq!(
        count(&hub, "SELECT count(*) FROM events WHERE kind = 'signed_out' AND json_extract(payload, '$.reason') = 'inactivity'"),
        1
    );
}
