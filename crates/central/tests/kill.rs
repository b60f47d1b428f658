//! A real hub process killed with SIGKILL at random points while it appends and pushes, then
//! restarted on the same store file; the central store is restarted under it too. At the
//! end every event the hub ever committed is at the central store exactly once.
//!
//! The child is this test binary re-run with `RETURNHUB_KILL_CHILD` set (the `child_hub`
//! test does nothing otherwise). The seed (printed; `RETURNHUB_SIM_SEED` replays it) picks
//! after how many pushes each kill and each server restart comes; where exactly the kill
//! lands inside the process is up to the scheduler, which is the point.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use returnhub_protocol::event::DomainEvent;
use returnhub_store::Store;
use returnhub_sync::{unix_now_ms, HttpTransport, SplitMix64, Syncer};
use support::*;

#[test]
fn child_hub() {
    let Ok(path) = std::env::var("RETURNHUB_KILL_CHILD") else {
        return;
    };
    let url = std::env::var("RETURNHUB_CENTRAL_URL").unwrap();
    let token = std::env::var("RETURNHUB_TOKEN").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Store::open(std::path::Path::new(&path)).unwrap();
    let transport = HttpTransport::new(&url, &token, Duration::from_secs(5)).unwrap();
    let mut syncer = Syncer::new(store, transport, Arc::new(unix_now_ms));
    syncer.push_batch = 7;
    let mut n = 0u64;
    loop {
        let events = (0..25)
            .map(|i| DomainEvent::ConnoteScanned {
                raw: format!("K{n}-{i}"),
                connote: format!("K{n}-{i}"),
                return_id: None,
                station: "bench-1".into(),
            })
            .collect();
        append(&mut syncer.store, unix_now_ms(), events);
        n += 1;
        loop {
            match runtime.block_on(syncer.push_one_batch()) {
                Ok(0) => break,
                Ok(_) => println!("pushed"),
                Err(_) => {
                    println!("failed");
                    std::thread::sleep(Duration::from_millis(5));
                    break;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_mid_push_and_restarted_loses_and_doubles_nothing() {
    let seed = std::env::var("RETURNHUB_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(unix_now_ms() as u64);
    println!("kill run seed {seed} (replay: RETURNHUB_SIM_SEED={seed})");
    let mut rng = SplitMix64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimClock::new();
    // The child hub stamps with the wall clock; the central store must be on it too, or it
    // refuses the child's events as stamped from a clock far ahead of its own.
    clock.advance(unix_now_ms() - clock.now());
    let mut central = Central::start(&tmp.path().join("central"), clock.clone()).await;
    let token = create_device(&central.storage, "h1", clock.now());
    let path = tmp.path().join("hub.sqlite3");
    let (mut kills, mut restarts) = (0, 0);
    for _ in 0..10 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_hub", "--nocapture", "--test-threads=1"])
            .env("RETURNHUB_KILL_CHILD", &path)
            .env("RETURNHUB_CENTRAL_URL", central.url())
            .env("RETURNHUB_TOKEN", &token)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let wait_for = 1 + rng.below(15);
        let restart_after = (rng.below(2) == 0).then(|| rng.below(wait_for));
        let stdout = child.stdout.take().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "pushed" && tx.send(()).is_err() {
                    break;
                }
            }
        });
        let mut seen = 0;
        while seen < wait_for {
            if rx.recv().await.is_none() {
                break;
            }
            if restart_after == Some(seen) {
                central.restart().await;
                restarts += 1;
            }
            seen += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    println!("faults injected: {kills} hub processes killed with SIGKILL mid-push, {restarts} server restarts mid-push");

    // Restart the hub one last time and let it finish.
    let store = Store::open(&path).unwrap();
    assert!(store.integrity_ok().unwrap());
    let transport = HttpTransport::new(&central.url(), &token, Duration::from_secs(5)).unwrap();
    let mut syncer = Syncer::new(store, transport, clock.as_fn());
    syncer.sync_once().await.unwrap();
    let n = assert_all_pushed_exactly_once(&syncer.store, &central.storage);
    assert_central_ids_unique(&central.storage);
    assert!(n >= 25, "the children appended nothing");
    println!("{n} events, each at the central store exactly once");
    central.stop().await;
}
