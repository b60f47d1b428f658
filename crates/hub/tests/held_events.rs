//! Events pulled from a station on a newer Returnhub that this one cannot read: the header's
//! sync line counts them for everyone, and supervisors see each one (F3) with why it waits.

use std::path::Path;

use returnhub_core::time::rfc3339;
use returnhub_hub::{ErrorCode, ErrorView, Hub, HubOptions};
use returnhub_protocol::event::DomainEvent;
use returnhub_protocol::hlc::HlcClock;
use returnhub_protocol::wire::{RemoteEvent, SyncCursor};
use returnhub_store::Store;

const NOW: i64 = 1_795_461_900_000;

fn pulled(kind: &str, version: u32) -> RemoteEvent {
    let mut clock = HlcClock::new("newer-station");
    let note = DomainEvent::ReturnNoted {
        return_id: "r-1".into(),
        note: "kept for the pallet".into(),
    };
    let mut ev = RemoteEvent::new(
        &note,
        uuid::Uuid::now_v7().to_string(),
        "newer-station",
        &clock.tick(NOW as u64),
        "u-sv",
        Some("bench-9"),
        rfc3339(NOW),
    )
    .unwrap();
    ev.kind = kind.into();
    ev.version = version;
    ev
}

fn pull_into(dir: &Path, events: &[RemoteEvent]) {
    // The sync worker's own connection to the same file, as in the app.
    let mut store = Store::open(&HubOptions::demo(dir).store_path()).unwrap();
    store
        .apply_remote_batch(NOW, events, SyncCursor::default())
        .unwrap();
}

#[test]
fn held_events_are_counted_for_everyone_and_listed_for_supervisors() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open_with_clock(HubOptions::demo(dir.path()), Box::new(|| NOW)).unwrap();
    let future = pulled("pallet_sealed", 1);
    let newer = pulled("return_noted", 2);
    let mut malformed = pulled("return_noted", 1);
    malformed.payload = r#"{"type":"return_noted"}"#.into();
    pull_into(
        dir.path(),
        &[future.clone(), newer.clone(), malformed.clone()],
    );

    hub.sign_in("OP-1001", "1111").unwrap();
    let view = hub.sync_view().unwrap();
    assert_eq!((view.needs_update, view.malformed), (2, 1));
    let refused = ErrorView::from(hub.held_events().unwrap_err());
    assert_eq!(refused.code, ErrorCode::Forbidden, "{}", refused.message);
    hub.sign_out().unwrap();

    hub.sign_in("SV-2001", "2222").unwrap();
    let held = hub.held_events().unwrap();
    assert_eq!(held.len(), 3);
    let row = |id: &str| held.iter().find(|h| h.event_id == id).unwrap();
    assert_eq!(row(&future.id).state, "needs_update");
    assert!(
        row(&future.id).reason.contains("pallet_sealed"),
        "{}",
        row(&future.id).reason
    );
    assert_eq!(row(&newer.id).state, "needs_update");
    assert_eq!(row(&newer.id).version, 2);
    assert!(
        row(&newer.id).reason.contains("version 2"),
        "{}",
        row(&newer.id).reason
    );
    assert_eq!(row(&malformed.id).state, "malformed");
    assert_eq!(row(&future.id).device_id, "newer-station");
    assert_eq!(row(&future.id).station.as_deref(), Some("bench-9"));
}
