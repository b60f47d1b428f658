//! What the hub's tests share.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use returnhub_central::{AppState, SqliteStorage};

use returnhub_core::bench::Presence;
use returnhub_core::rules::{Grade, QcStatus};
use returnhub_hub::InspectRequest;

/// An item found and passed, grade A, with nothing else recorded.
pub fn passed(return_id: &str, item_id: &str) -> InspectRequest {
    InspectRequest {
        return_id: return_id.into(),
        item_id: item_id.into(),
        presence: Presence::Found,
        qc: Some(QcStatus::Pass),
        qc_reason: None,
        grade: Some(Grade::A),
        disposition: None,
        note: None,
        photos: vec![],
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A central store serving on a loopback port for as long as the test runs.
pub fn start_central(dir: &Path) -> (String, Arc<SqliteStorage>) {
    let storage = Arc::new(SqliteStorage::open(dir).unwrap());
    let state = AppState {
        storage: storage.clone(),
        clock: Arc::new(now_ms),
        shop_secrets: None,
        shopify_client: Default::default(),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = returnhub_central::serve_in_background(listener, state).unwrap();
    (url, storage)
}

/// Waits (up to 30 s) until `done`, polling.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
