//! Device tokens an operator of the central store can take back: `device-revoke` stops a
//! token at once (push, pull and the device endpoint all refuse it), `device-rotate` prints a
//! new token for the same device (the old one is refused, the new one keeps the device's
//! binding), `device-list` shows both. No token may push as the central store's own device.
//! The database file is the service user's alone (0600).

mod support;

use std::time::Duration;

use returnhub_protocol::hlc::HlcClock;
use returnhub_protocol::wire::PushRequest;
use returnhub_protocol::wire::RemoteEvent;
use returnhub_store::Store;
use returnhub_sync::{HttpTransport, SyncError, Syncer, Transport};
use support::*;

fn token_id(token: &str) -> String {
    token.split('_').nth(1).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_revoked_and_rotated_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let data = tmp.path().join("central");
    let central = Central::start(&data, clock.clone()).await;
    let syncer = |name: &str, token: &str| {
        let store = Store::open(&tmp.path().join(format!("{name}.sqlite3"))).unwrap();
        let t = HttpTransport::new(&central.url(), token, Duration::from_secs(10)).unwrap();
        Syncer::new(store, t, clock.as_fn())
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("central.sqlite3"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "every hub's data: the service's user only"
        );
    }
    let stolen_token = create_device(&central.storage, "h1", clock.now());
    let kept_token = create_device(&central.storage, "h1", clock.now());
    let mut stolen = syncer("stolen", &stolen_token);
    let mut kept = syncer("kept", &kept_token);
    append(&mut stolen.store, clock.now(), scan(1));
    append(&mut kept.store, clock.now(), scan(1));
    stolen.sync_once().await.unwrap();
    kept.sync_once().await.unwrap();

    // Revoked: refused everywhere, at once.
    let out = cli(
        &data,
        &["device-revoke", "--device", &token_id(&stolen_token)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    append(&mut stolen.store, clock.now(), scan(1));
    assert!(matches!(
        stolen.sync_once().await,
        Err(SyncError::Refused { status: 401, .. })
    ));
    assert!(matches!(
        stolen.transport.device_info().await,
        Err(SyncError::Refused { status: 401, .. })
    ));
    let again = cli(
        &data,
        &["device-revoke", "--device", &token_id(&stolen_token)],
    );
    assert!(!again.status.success(), "revoked once");

    // Rotated: the old token is refused; the new one carries on for the same device.
    let out = cli(
        &data,
        &["device-rotate", "--device", &token_id(&kept_token)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(new_token.starts_with(&format!("rhd_{}_", token_id(&kept_token))));
    append(&mut kept.store, clock.now(), scan(2));
    assert!(matches!(
        kept.sync_once().await,
        Err(SyncError::Refused { status: 401, .. })
    ));
    kept.transport =
        HttpTransport::new(&central.url(), &new_token, Duration::from_secs(10)).unwrap();
    kept.sync_once().await.unwrap();
    assert_eq!(kept.store.sync_queue_depth().unwrap(), 0);
    let rotate_revoked = cli(
        &data,
        &["device-rotate", "--device", &token_id(&stolen_token)],
    );
    assert!(!rotate_revoked.status.success());

    let listed = String::from_utf8(cli(&data, &["device-list"]).stdout).unwrap();
    let line = |token: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(&token_id(token)))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line(&stolen_token).contains("revoked"), "{listed}");
    assert!(line(&kept_token).ends_with("active"), "{listed}");
    assert!(!listed.contains(&new_token), "never a secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_pushes_as_the_central_store_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let token = create_device(&central.storage, "h1", clock.now());
    let transport = HttpTransport::new(&central.url(), &token, Duration::from_secs(10)).unwrap();
    let mut impostor = HlcClock::new("central");
    let event = scan(1).remove(0);
    let forged = RemoteEvent::new(
        &event,
        uuid::Uuid::now_v7().to_string(),
        "central",
        &impostor.tick(clock.now() as u64),
        "system:central",
        None,
        returnhub_core::time::rfc3339(clock.now()),
    )
    .unwrap();
    match transport
        .push(&PushRequest {
            events: vec![forged],
        })
        .await
    {
        Err(SyncError::Refused {
            status: 403,
            message,
        }) => {
            assert!(message.contains("central store's own"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}
