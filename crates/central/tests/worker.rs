//! The hub's background sync worker against a real central store: it pushes what the bench
//! appends without the bench waiting, reports online / queue depth / last success, and
//! reports offline with the last error when the central store goes away.

mod support;

use std::time::{Duration, Instant};

use returnhub_store::Store;
use returnhub_sync::{SyncConfig, SyncStatus, SyncWorker};
use support::*;

/// Waits (bounded) until the worker's status satisfies `ok`.
fn wait_for(worker: &SyncWorker, what: &str, ok: impl Fn(&SyncStatus) -> bool) -> SyncStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = worker.status();
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "worker never got {what}: {s:?}");
        worker.sync_now();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_syncs_in_the_background_and_reports_its_status() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    let mut central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let token = create_device(&central.storage, "h1", clock.now());
    let path = tmp.path().join("hub.sqlite3");
    let mut bench = Store::open(&path).unwrap();
    append(&mut bench, clock.now(), scan(30));

    let mut config = SyncConfig::new(central.url(), token);
    config.push_batch = 7;
    config.min_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(100);
    config.interval = Duration::from_millis(50);
    config.request_timeout = Duration::from_secs(2);
    let worker = tokio::task::spawn_blocking(move || SyncWorker::start(&path, config))
        .await
        .unwrap()
        .unwrap();
    let s = tokio::task::spawn_blocking({
        let status = move |w: &SyncWorker| {
            wait_for(w, "in sync", |s| {
                s.online && s.queue_depth == 0 && s.pushed_total == 30
            })
        };
        move || {
            let s = status(&worker);
            (worker, s)
        }
    })
    .await
    .unwrap();
    let (worker, status) = s;
    assert!(status.last_success_at.is_some() && status.last_error.is_none());
    assert_eq!(bench.sync_queue_depth().unwrap(), 0);

    // The central store goes away: the bench goes on, the worker says offline.
    central.stop().await;
    append(&mut bench, clock.now(), scan(5));
    let (worker, status) = tokio::task::spawn_blocking(move || {
        let s = wait_for(&worker, "offline", |s| {
            !s.online && s.last_error.is_some() && s.queue_depth == 5
        });
        (worker, s)
    })
    .await
    .unwrap();
    assert!(status.failures >= 1);
    assert!(status.last_error.unwrap().contains("unreachable"));
    tokio::task::spawn_blocking(move || worker.stop())
        .await
        .unwrap();
}
